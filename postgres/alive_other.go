//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package postgres

import "net"

// socketIdle cannot peek on this platform; pgxpool's ping of connections idle
// for over a second remains the only check.
func socketIdle(net.Conn) bool { return true }
