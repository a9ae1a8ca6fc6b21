package cache_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentical/datalayer/internal/devserver"
)

// TODO(testinfra): replace redisAddr/privateRedis with testinfra.Redis and
// testinfra.PrivateRedis once the harness exports them.

var prefixSeq atomic.Int64

type redisTarget struct {
	Addr, Username, Password string
	DB                       int
	Prefix                   string
}

func sharedRedis(t testing.TB) redisTarget {
	t.Helper()
	return redisTarget{Addr: "127.0.0.1:6379", Prefix: fmt.Sprintf("t%d_%d", time.Now().UnixNano(), prefixSeq.Add(1))}
}

func privateRedis(t testing.TB) *devserver.Redis {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	r, err := devserver.StartRedis(ctx, devserver.RedisConfig{})
	if err != nil {
		t.Fatalf("start private redis: %v", err)
	}
	t.Cleanup(func() { _ = r.Stop(context.Background()) })
	return r
}
