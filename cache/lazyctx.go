package cache

import (
	"context"
	"sync"
	"time"
)

// lazyTimeout bounds Redis calls like context.WithTimeout, but only builds
// the timer when a call actually waits on the network (asks for Done): hits
// of the in-process tier never do, and skip the cost.
type lazyTimeout struct {
	context.Context // parent
	deadline        time.Time

	mu     sync.Mutex
	inner  context.Context
	cancel context.CancelFunc
}

func newLazyTimeout(parent context.Context, d time.Duration) *lazyTimeout {
	return &lazyTimeout{Context: parent, deadline: time.Now().Add(d)}
}

func (l *lazyTimeout) get() context.Context {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.inner == nil {
		l.inner, l.cancel = context.WithDeadline(l.Context, l.deadline)
	}
	return l.inner
}

func (l *lazyTimeout) Deadline() (time.Time, bool) {
	if pd, ok := l.Context.Deadline(); ok && pd.Before(l.deadline) {
		return pd, true
	}
	return l.deadline, true
}

func (l *lazyTimeout) Done() <-chan struct{} { return l.get().Done() }

func (l *lazyTimeout) Err() error {
	l.mu.Lock()
	inner := l.inner
	l.mu.Unlock()
	if inner != nil {
		return inner.Err()
	}
	if err := l.Context.Err(); err != nil {
		return err
	}
	if !time.Now().Before(l.deadline) {
		return context.DeadlineExceeded
	}
	return nil
}

func (l *lazyTimeout) release() {
	l.mu.Lock()
	if l.cancel != nil {
		l.cancel()
	}
	l.mu.Unlock()
}
