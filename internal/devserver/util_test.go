package devserver_test

import (
	"os"
	"strconv"
	"syscall"
)

func itoa(n int) string { return strconv.Itoa(n) }

func fileUID(fi os.FileInfo) uint32 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Uid
	}
	return 0
}
