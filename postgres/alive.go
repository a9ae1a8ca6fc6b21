package postgres

import (
	"context"
	"crypto/tls"
	"net"

	"github.com/jackc/pgx/v5"
)

// prepareConn is the pool's PrepareConn hook: it drops a pooled connection
// the server has already closed (a restart, a failover, an idle timeout on
// the server or a proxy) before anything is sent on it, so the pool dials a
// fresh one instead of failing the caller's statement. The check is one
// non-blocking peek at the socket, no round trip.
func prepareConn(_ context.Context, c *pgx.Conn) (bool, error) {
	return connAlive(c), nil
}

// connAlive reports whether an idle connection still looks usable: not
// closed by pgx, and its socket has neither reached end-of-file nor holds
// unread bytes (an idle PostgreSQL connection has nothing to read; a server
// that shuts down sends a FATAL 57P01 message and then closes).
func connAlive(c *pgx.Conn) bool {
	pc := c.PgConn()
	if pc == nil || pc.IsClosed() {
		return false
	}
	return socketIdle(rawConn(pc.Conn()))
}

// rawConn unwraps TLS to reach the TCP or unix socket.
func rawConn(c net.Conn) net.Conn {
	for {
		switch t := c.(type) {
		case *tls.Conn:
			c = t.NetConn()
		case interface{ NetConn() net.Conn }:
			c = t.NetConn()
		default:
			return c
		}
	}
}
