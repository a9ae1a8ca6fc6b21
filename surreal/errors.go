package surreal

import (
	"errors"
	"fmt"
	"net"
	"regexp"
	"strings"
)

// Sentinel errors. Errors returned by the store match them with errors.Is.
var (
	// ErrNotFound: the record (or table) does not exist.
	ErrNotFound = errors.New("surreal: not found")
	// ErrConflict: the record already exists, a unique index was violated,
	// or a transaction conflicted with another and was rolled back.
	ErrConflict = errors.New("surreal: conflict")
	// ErrInvalid: the data broke the schema: a field's ASSERT failed or a
	// value could not be coerced to the field's type.
	ErrInvalid = errors.New("surreal: invalid data")
	// ErrInvalidArgument: a call's arguments are unusable before anything
	// is sent, e.g. an empty table name.
	ErrInvalidArgument = errors.New("surreal: invalid argument")
	// ErrAuth: signin failed or the session may not perform the operation.
	ErrAuth = errors.New("surreal: authentication failed")
	// ErrBusy: Config.MaxInFlight requests were outstanding for the whole
	// Config.AcquireTimeout; nothing was sent.
	ErrBusy = errors.New("surreal: too many requests in flight")
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("surreal: store closed")
	// ErrTxDone: the transaction was already committed or cancelled.
	ErrTxDone = errors.New("surreal: transaction already finished")
)

// errConnLost marks a broken WebSocket. It wraps net.ErrClosed so that
// resilience classifies it as an infrastructure failure.
var errConnLost = fmt.Errorf("surreal: connection lost: %w", net.ErrClosed)

// Reason is what a server error means, decided once when the error is
// received: SurrealDB 3 reports most failures (unique index, field assertion,
// wrong type, write conflict) with kind "Internal", so the store reads the
// message once and callers branch on Reason or the sentinels instead.
type Reason uint8

const (
	// ReasonOther is any error not listed below.
	ReasonOther Reason = iota
	// ReasonNotFound: the record or table does not exist (ErrNotFound).
	ReasonNotFound
	// ReasonAlreadyExists: a record with this id exists (ErrConflict).
	ReasonAlreadyExists
	// ReasonUniqueIndex: a UNIQUE index already holds the value; Index and
	// Record name the index and the record holding it (ErrConflict).
	ReasonUniqueIndex
	// ReasonTxConflict: the transaction conflicted with another and was
	// rolled back; running it again may succeed (ErrConflict).
	ReasonTxConflict
	// ReasonAssertion: a field's ASSERT failed; Field names it (ErrInvalid).
	ReasonAssertion
	// ReasonFieldType: a value could not be coerced to its field's type;
	// Field names it (ErrInvalid).
	ReasonFieldType
	// ReasonAuth: signin failed or the session lacks permission (ErrAuth).
	ReasonAuth
	// ReasonThrown: a THROW statement.
	ReasonThrown
)

func (r Reason) String() string {
	switch r {
	case ReasonNotFound:
		return "not found"
	case ReasonAlreadyExists:
		return "already exists"
	case ReasonUniqueIndex:
		return "unique index"
	case ReasonTxConflict:
		return "transaction conflict"
	case ReasonAssertion:
		return "field assertion"
	case ReasonFieldType:
		return "field type"
	case ReasonAuth:
		return "auth"
	case ReasonThrown:
		return "thrown"
	}
	return "other"
}

// Error is a failure reported by the SurrealDB server, for an RPC call or for
// one statement of a query.
type Error struct {
	Op      string // RPC method, or "query" for a statement
	Code    int    // JSON-RPC error code; 0 for a statement error
	Kind    string // server error kind (SurrealDB 3: NotFound, AlreadyExists, NotAllowed, ...)
	Message string
	Details any // server-provided details, if any

	// Reason classifies the error (see the Reason constants); errors.Is with
	// ErrNotFound, ErrConflict, ErrInvalid and ErrAuth follows it.
	Reason Reason
	// Field is the field of a failed assertion or coercion, Index the unique
	// index violated, Record the record involved, when the server names them.
	Field, Index, Record string
}

func (e *Error) Error() string {
	if e.Kind != "" {
		return fmt.Sprintf("surreal: %s: %s (%s)", e.Op, e.Message, e.Kind)
	}
	return fmt.Sprintf("surreal: %s: %s", e.Op, e.Message)
}

// Is matches ErrNotFound, ErrConflict, ErrInvalid and ErrAuth by Reason.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.Reason == ReasonNotFound
	case ErrConflict:
		return e.Reason == ReasonAlreadyExists || e.Reason == ReasonUniqueIndex || e.Reason == ReasonTxConflict
	case ErrInvalid:
		return e.Reason == ReasonAssertion || e.Reason == ReasonFieldType
	case ErrAuth:
		return e.Reason == ReasonAuth
	}
	return false
}

// Retryable reports a transaction conflict the server rolled back: the
// whole operation may run again.
func (e *Error) Retryable() bool { return e.Reason == ReasonTxConflict }

var (
	reUniqueIndex = regexp.MustCompile("^Database index `([^`]*)` already contains .*, with record `([^`]*)`")
	reAssertion   = regexp.MustCompile("^Found .* for field `([^`]*)`, with record `([^`]*)`, but field must conform to")
	reFieldType   = regexp.MustCompile("^Couldn't coerce value for field `([^`]*)` of `([^`]*)`")
	reRecordExist = regexp.MustCompile("^Database record `([^`]*)` already exists")
)

// newError builds an *Error and decides its Reason from the server's kind
// and, where SurrealDB only says "Internal", the message.
func newError(op string, code int, kind, msg string, details any) *Error {
	e := &Error{Op: op, Code: code, Kind: kind, Message: msg, Details: details}
	lower := strings.ToLower(msg)
	switch {
	case kind == "NotFound" || strings.Contains(msg, "does not exist"):
		e.Reason = ReasonNotFound
	case kind == "AlreadyExists" || reRecordExist.MatchString(msg):
		e.Reason = ReasonAlreadyExists
		if m := reRecordExist.FindStringSubmatch(msg); m != nil {
			e.Record = m[1]
		}
	case reUniqueIndex.MatchString(msg):
		m := reUniqueIndex.FindStringSubmatch(msg)
		e.Reason, e.Index, e.Record = ReasonUniqueIndex, m[1], m[2]
	case strings.Contains(lower, "transaction conflict") || strings.Contains(lower, "retry the transaction") ||
		strings.Contains(lower, "can be retried"):
		e.Reason = ReasonTxConflict
	case reAssertion.MatchString(msg):
		m := reAssertion.FindStringSubmatch(msg)
		e.Reason, e.Field, e.Record = ReasonAssertion, m[1], m[2]
	case reFieldType.MatchString(msg):
		m := reFieldType.FindStringSubmatch(msg)
		e.Reason, e.Field, e.Record = ReasonFieldType, m[1], m[2]
	case code == -32002 || kind == "NotAllowed" || strings.Contains(msg, "problem with authentication") ||
		strings.Contains(msg, "permissions"):
		e.Reason = ReasonAuth
	case kind == "Thrown":
		e.Reason = ReasonThrown
	case kind == "Conflict" || strings.Contains(msg, "already exists"):
		e.Reason = ReasonAlreadyExists
	}
	return e
}

// IsNotFound reports whether err means the record or table does not exist.
func IsNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

// IsConflict reports whether err is a duplicate, unique-index or transaction
// conflict.
func IsConflict(err error) bool { return errors.Is(err, ErrConflict) }

// IsInvalid reports whether err is a failed field assertion or type coercion.
func IsInvalid(err error) bool { return errors.Is(err, ErrInvalid) }

// IsAuth reports whether err is an authentication or permission failure.
func IsAuth(err error) bool { return errors.Is(err, ErrAuth) }

// ReasonOf returns the Reason of the *Error in err's chain, or ReasonOther.
func ReasonOf(err error) Reason {
	var se *Error
	if errors.As(err, &se) {
		return se.Reason
	}
	return ReasonOther
}
