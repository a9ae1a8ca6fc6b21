package repo_test

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// tcpProxy forwards a local port to a real server so a test can take the
// server away: Stop closes the port and every connection (the server is
// unreachable: connections refused), Pause stops moving bytes in both
// directions without closing anything (a partition or a hung server; the
// bytes are delivered after Resume, as TCP would).
type tcpProxy struct {
	target string
	addr   string
	paused atomic.Bool
	dials  atomic.Int64 // connections accepted

	mu     sync.Mutex
	ln     net.Listener
	conns  map[net.Conn]struct{}
	resume chan struct{} // closed when not paused
}

func newProxy(t testing.TB, target string) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{target: target, addr: ln.Addr().String(), conns: map[net.Conn]struct{}{}, resume: make(chan struct{})}
	close(p.resume)
	p.serve(ln)
	t.Cleanup(func() { p.Resume(); p.Stop() })
	return p
}

func (p *tcpProxy) Addr() string { return p.addr }

func (p *tcpProxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.dials.Add(1)
			go p.handle(c)
		}
	}()
}

func (p *tcpProxy) handle(c net.Conn) {
	up, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	if p.ln == nil { // stopped meanwhile
		p.mu.Unlock()
		c.Close()
		up.Close()
		return
	}
	p.conns[c], p.conns[up] = struct{}{}, struct{}{}
	p.mu.Unlock()
	go p.pipe(up, c)
	go p.pipe(c, up)
}

func (p *tcpProxy) pipe(dst, src net.Conn) {
	defer func() {
		dst.Close()
		src.Close()
		p.mu.Lock()
		delete(p.conns, dst)
		delete(p.conns, src)
		p.mu.Unlock()
	}()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			wait := p.resume
			p.mu.Unlock()
			<-wait // paused: hold the bytes
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// Stop closes the listening port and every open connection.
func (p *tcpProxy) Stop() {
	p.mu.Lock()
	ln := p.ln
	p.ln = nil
	conns := p.conns
	p.conns = map[net.Conn]struct{}{}
	p.mu.Unlock()
	if ln != nil {
		ln.Close()
	}
	for c := range conns {
		c.Close()
	}
}

// Start listens on the same port again.
func (p *tcpProxy) Start(t testing.TB) {
	t.Helper()
	var err error
	for range 100 {
		var ln net.Listener
		if ln, err = net.Listen("tcp", p.addr); err == nil {
			p.serve(ln)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("proxy: listen on %s again: %v", p.addr, err)
}

// Pause holds all traffic until Resume.
func (p *tcpProxy) Pause() {
	p.mu.Lock()
	if !p.paused.Swap(true) {
		p.resume = make(chan struct{})
	}
	p.mu.Unlock()
}

// Resume delivers held traffic and lets new traffic through.
func (p *tcpProxy) Resume() {
	p.mu.Lock()
	if p.paused.Swap(false) {
		close(p.resume)
	}
	p.mu.Unlock()
}
