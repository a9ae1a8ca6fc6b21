package surreal

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/gorilla/websocket"
	"github.com/surrealdb/surrealdb.go/pkg/models"
	"github.com/surrealdb/surrealdb.go/surrealcbor"
)

// conn is one WebSocket RPC connection. The SDK's own WebSocket connection
// (v1.3.0) never reports an abruptly broken socket as closed and can panic
// after repeated reads of a failed socket, so the store runs its own
// transport with the SDK's codec and types: any read or write failure closes
// the conn, fails its pending calls with errConnLost and lets the pool
// replace it.
type conn struct {
	ws    *websocket.Conn
	codec *surrealcbor.Codec

	wmu     sync.Mutex // serialises writes
	mu      sync.Mutex
	pending map[string]chan reply
	live    map[string]func(notification)
	// orphans holds notifications that arrived before their live query's
	// handler was registered (the reply to `live` and the first notification
	// can be read back to back); onLive replays them.
	orphans map[string][]notification
	norphan int
	next    atomic.Uint64
	probing atomic.Bool

	done chan struct{}
	err  error // set before done is closed
	once sync.Once
}

type rpcRequest struct {
	ID     string       `json:"id" cbor:"id"`
	Method string       `json:"method" cbor:"method"`
	Params []any        `json:"params" cbor:"params"`
	Txn    *models.UUID `json:"txn,omitempty" cbor:"txn,omitempty"`
}

type rpcError struct {
	Code    int             `cbor:"code"`
	Message string          `cbor:"message"`
	Kind    string          `cbor:"kind"`
	Details cbor.RawMessage `cbor:"details"`
}

type envelope struct {
	ID     any             `cbor:"id"`
	Error  *rpcError       `cbor:"error"`
	Result cbor.RawMessage `cbor:"result"`
}

type reply struct {
	result cbor.RawMessage
	err    *rpcError
}

// notification is one live-query message.
type notification struct {
	ID     models.UUID     `cbor:"id"`
	Action string          `cbor:"action"`
	Record cbor.RawMessage `cbor:"record"`
	Result cbor.RawMessage `cbor:"result"`
}

var defaultDialer = &websocket.Dialer{
	Proxy:            http.ProxyFromEnvironment,
	HandshakeTimeout: 10 * time.Second,
	Subprotocols:     []string{"cbor"},
}

func dial(ctx context.Context, dialer *websocket.Dialer, endpoint string, codec *surrealcbor.Codec) (*conn, error) {
	ws, resp, err := dialer.DialContext(ctx, endpoint, nil)
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	if err != nil {
		return nil, err
	}
	c := &conn{
		ws:      ws,
		codec:   codec,
		pending: map[string]chan reply{},
		live:    map[string]func(notification){},
		orphans: map[string][]notification{},
		done:    make(chan struct{}),
	}
	go c.readLoop()
	return c, nil
}

// closed reports whether the connection is unusable.
func (c *conn) closed() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

func (c *conn) close() { c.fail(errConnLost) }

func (c *conn) fail(err error) {
	c.once.Do(func() {
		c.err = err
		close(c.done)
		_ = c.ws.Close()
		c.mu.Lock()
		for id, ch := range c.pending {
			delete(c.pending, id)
			close(ch)
		}
		c.mu.Unlock()
	})
}

func (c *conn) readLoop() {
	for {
		_, data, err := c.ws.ReadMessage()
		if err != nil {
			c.fail(fmt.Errorf("%w: %v", errConnLost, err))
			return
		}
		var env envelope
		if err := cbor.Unmarshal(data, &env); err != nil {
			continue // not ours to answer; a malformed frame has no caller
		}
		if env.ID != nil {
			id := fmt.Sprint(env.ID)
			c.mu.Lock()
			ch := c.pending[id]
			delete(c.pending, id)
			c.mu.Unlock()
			if ch != nil {
				ch <- reply{result: env.Result, err: env.Error}
			}
			continue
		}
		var n notification
		if err := cbor.Unmarshal(env.Result, &n); err != nil {
			continue
		}
		id := n.ID.String()
		c.mu.Lock()
		h := c.live[id]
		if h == nil {
			// Bounded: notifications of killed queries must not pile up.
			if c.norphan >= maxOrphans {
				clear(c.orphans)
				c.norphan = 0
			}
			c.orphans[id] = append(c.orphans[id], n)
			c.norphan++
		}
		c.mu.Unlock()
		if h != nil {
			h(n) // must not block: handlers queue
		}
	}
}

// call sends one RPC and waits for its reply. A nil result means NONE/null.
func (c *conn) call(ctx context.Context, txn *models.UUID, method string, params ...any) (cbor.RawMessage, error) {
	if c.closed() {
		return nil, unsentError{c.err}
	}
	if params == nil {
		params = []any{}
	}
	id := strconv.FormatUint(c.next.Add(1), 10)
	data, err := c.codec.Marshal(rpcRequest{ID: id, Method: method, Params: params, Txn: txn})
	if err != nil {
		return nil, fmt.Errorf("surreal: %s: encode: %w", method, err)
	}
	ch := make(chan reply, 1)
	c.mu.Lock()
	c.pending[id] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.pending, id)
		c.mu.Unlock()
	}()

	c.wmu.Lock()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.ws.SetWriteDeadline(dl)
	} else {
		_ = c.ws.SetWriteDeadline(time.Time{})
	}
	err = c.ws.WriteMessage(websocket.BinaryMessage, data)
	c.wmu.Unlock()
	if err != nil {
		c.fail(fmt.Errorf("%w: %v", errConnLost, err))
		return nil, c.err
	}

	select {
	case r, ok := <-ch:
		if !ok {
			return nil, c.err
		}
		if r.err != nil {
			return nil, c.serverError(method, r.err)
		}
		if isNone(r.result) {
			return nil, nil
		}
		return r.result, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// probe pings the server and closes the connection if it does not answer in
// time, so that a half-open socket is replaced instead of timing out every
// call routed to it.
func (c *conn) probe() {
	if c.closed() || !c.probing.CompareAndSwap(false, true) {
		return
	}
	defer c.probing.Store(false)
	ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
	defer cancel()
	_, err := c.call(ctx, nil, "ping")
	var se *Error
	if err != nil && !errors.As(err, &se) {
		c.fail(fmt.Errorf("%w: no answer to ping: %v", errConnLost, err))
	}
}

const probeTimeout = 3 * time.Second

func (c *conn) serverError(op string, e *rpcError) error {
	var d any
	if len(e.Details) > 0 {
		if c.codec.Unmarshal(e.Details, &d) != nil {
			d = nil
		}
	}
	return newError(op, e.Code, e.Kind, e.Message, d)
}

const maxOrphans = 1024

// onLive routes the live query's notifications to h, first replaying any
// that arrived before registration. h must not block.
func (c *conn) onLive(id string, h func(notification)) {
	c.mu.Lock()
	c.live[id] = h
	early := c.orphans[id]
	delete(c.orphans, id)
	c.norphan -= len(early)
	for _, n := range early {
		h(n) // under c.mu so that later notifications cannot overtake these
	}
	c.mu.Unlock()
}

func (c *conn) offLive(id string) {
	c.mu.Lock()
	delete(c.live, id)
	c.mu.Unlock()
}

// isNone reports whether raw is CBOR null, undefined or SurrealDB's NONE
// (tag 6).
func isNone(raw cbor.RawMessage) bool {
	switch {
	case len(raw) == 0:
		return true
	case len(raw) == 1:
		return raw[0] == 0xf6 || raw[0] == 0xf7
	case len(raw) == 2:
		return raw[0] == 0xc6 && (raw[1] == 0xf6 || raw[1] == 0xf7)
	}
	return false
}

// unsentError wraps the failure of a call that never wrote its request, so
// it may be repeated on another connection even when it is a write.
type unsentError struct{ err error }

func (e unsentError) Error() string { return e.err.Error() }
func (e unsentError) Unwrap() error { return e.err }

func wasUnsent(err error) bool {
	var u unsentError
	return errors.As(err, &u)
}
