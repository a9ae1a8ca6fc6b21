package cache_test

import "math/big"

type bigIntT = big.Int

func newBig(v int64) *big.Int { return big.NewInt(v) }
