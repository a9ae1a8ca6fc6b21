package surreal

import (
	"errors"
	"fmt"
	"net"
	"strings"
)

// Sentinel errors. Errors returned by the store match them with errors.Is.
var (
	// ErrNotFound: the record (or table) does not exist.
	ErrNotFound = errors.New("surreal: not found")
	// ErrConflict: the record already exists, a unique index was violated,
	// or a transaction conflicted with another and was rolled back.
	ErrConflict = errors.New("surreal: conflict")
	// ErrAuth: signin failed or the session may not perform the operation.
	ErrAuth = errors.New("surreal: authentication failed")
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("surreal: store closed")
	// ErrTxDone: the transaction was already committed or cancelled.
	ErrTxDone = errors.New("surreal: transaction already finished")
)

// errConnLost marks a broken WebSocket. It wraps net.ErrClosed so that
// resilience classifies it as an infrastructure failure.
var errConnLost = fmt.Errorf("surreal: connection lost: %w", net.ErrClosed)

// Error is a failure reported by the SurrealDB server, for an RPC call or for
// one statement of a query.
type Error struct {
	Op      string // RPC method, or "query" for a statement
	Code    int    // JSON-RPC error code; 0 for a statement error
	Kind    string // server error kind (SurrealDB 3: NotFound, AlreadyExists, NotAllowed, ...)
	Message string
	Details any // server-provided details, if any
}

func (e *Error) Error() string {
	if e.Kind != "" {
		return fmt.Sprintf("surreal: %s: %s (%s)", e.Op, e.Message, e.Kind)
	}
	return fmt.Sprintf("surreal: %s: %s", e.Op, e.Message)
}

// Is matches ErrNotFound, ErrConflict and ErrAuth.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.Kind == "NotFound" || strings.Contains(e.Message, "does not exist")
	case ErrConflict:
		return e.Kind == "AlreadyExists" || e.Kind == "Conflict" ||
			strings.Contains(e.Message, "already exists") ||
			strings.Contains(e.Message, "already contains") ||
			strings.Contains(strings.ToLower(e.Message), "conflict")
	case ErrAuth:
		return e.Code == -32002 || e.Kind == "NotAllowed" ||
			strings.Contains(e.Message, "problem with authentication") ||
			strings.Contains(e.Message, "permissions")
	}
	return false
}

// IsNotFound reports whether err means the record or table does not exist.
func IsNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

// IsConflict reports whether err is a duplicate, unique-index or transaction
// conflict.
func IsConflict(err error) bool { return errors.Is(err, ErrConflict) }

// IsAuth reports whether err is an authentication or permission failure.
func IsAuth(err error) bool { return errors.Is(err, ErrAuth) }
