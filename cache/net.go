package cache

import (
	"net"
	"time"
)

func netDialer() net.Dialer {
	return net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}
}
