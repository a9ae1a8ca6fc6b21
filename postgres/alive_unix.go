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
	// Control, not Read: Read would wait for the descriptor's read lock,
	// which pgconn's background reader can hold on an idle connection for as
	// long as nothing arrives. The peek itself never blocks.
	err = raw.Control(func(fd uintptr) {
		_, _, rerr := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case errors.Is(rerr, syscall.EAGAIN) || errors.Is(rerr, syscall.EWOULDBLOCK) || errors.Is(rerr, syscall.EINTR):
			idle = true
		default:
			// Bytes waiting (a FATAL message), end-of-file, or a socket error.
			idle = false
		}
	})
	if err != nil {
		return false
	}
	return idle
}
