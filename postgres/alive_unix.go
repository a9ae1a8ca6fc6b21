//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package postgres

import (
	"errors"
	"net"
	"syscall"
)

// socketIdle peeks at c without blocking: true when there is nothing to read
// (EAGAIN), false on end-of-file, pending bytes or a socket error. Sockets it
// cannot inspect count as idle.
func socketIdle(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return true
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return true
	}
	idle := true
	var buf [1]byte
	err = raw.Read(func(fd uintptr) bool {
		n, _, rerr := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case errors.Is(rerr, syscall.EAGAIN) || errors.Is(rerr, syscall.EWOULDBLOCK):
			idle = true
		case errors.Is(rerr, syscall.EINTR):
			idle = true
		default:
			// n > 0: unexpected bytes (a FATAL message); n == 0: EOF; or an error.
			_ = n
			idle = false
		}
		return true // never wait for readiness
	})
	if err != nil {
		return false
	}
	return idle
}
