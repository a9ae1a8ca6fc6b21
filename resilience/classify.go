package resilience

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/failsafe-go/failsafe-go/timeout"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/redis/rueidis"
)

// Class is what an error means for retries and for the circuit breaker.
type Class uint8

const (
	// ClassNone is no failure: nil, pgx.ErrNoRows, rueidis.Nil. Never retried,
	// counted as a success by the breaker.
	ClassNone Class = iota
	// ClassPermanent is an answer from a healthy server that a retry would not
	// change: constraint violations (23xxx), syntax and permission errors, a
	// Redis WRONGTYPE. Never retried; a success for the breaker.
	ClassPermanent
	// ClassConflict is a serialization failure (40001) or deadlock (40P01):
	// the transaction was rolled back and may be retried as a whole.
	ClassConflict
	// ClassInfrastructure is an unreachable, overloaded or failing server:
	// SQLSTATE classes 08, 53, 57, 58, dial and network errors, a policy
	// timeout, Redis LOADING/BUSY/CLUSTERDOWN/... The only class the circuit
	// breaker counts.
	ClassInfrastructure
	// ClassCanceled is the caller's own context ending. Never retried, not
	// counted by the breaker.
	ClassCanceled
)

func (c Class) String() string {
	switch c {
	case ClassNone:
		return "none"
	case ClassPermanent:
		return "permanent"
	case ClassConflict:
		return "conflict"
	case ClassInfrastructure:
		return "infrastructure"
	case ClassCanceled:
		return "canceled"
	}
	return "unknown"
}

// redisInfraPrefixes are Redis error replies that mean the server, not the
// command, is the problem.
var redisInfraPrefixes = []string{"LOADING", "BUSY", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN", "READONLY", "NOREPLICAS", "OOM", "NOAUTH", "MISCONF"}

// Classify sorts err (PostgreSQL through pgx/pgconn, Redis through rueidis,
// or the network) into a Class.
func Classify(err error) Class {
	if err == nil || errors.Is(err, pgx.ErrNoRows) || rueidis.IsRedisNil(err) {
		return ClassNone
	}
	// A policy timeout means the server did not answer in time: infrastructure.
	if errors.Is(err, timeout.ErrExceeded) || errors.Is(err, ErrTimeout) {
		return ClassInfrastructure
	}
	if errors.Is(err, ErrOpen) {
		return ClassInfrastructure
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return classifySQLState(pgErr.Code)
	}
	if re, ok := rueidis.IsRedisErr(err); ok {
		msg := re.Error()
		for _, p := range redisInfraPrefixes {
			if strings.HasPrefix(msg, p) {
				return ClassInfrastructure
			}
		}
		return ClassPermanent
	}
	// The caller's context ending is checked before network timeouts: pgconn
	// wraps both in the same timeout error.
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return ClassCanceled
	}
	var connectErr *pgconn.ConnectError
	if errors.As(err, &connectErr) {
		return ClassInfrastructure
	}
	if errors.Is(err, rueidis.ErrClosing) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) {
		return ClassInfrastructure
	}
	var netErr net.Error
	if errors.As(err, &netErr) {
		return ClassInfrastructure
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) {
		return ClassInfrastructure
	}
	if pgconn.Timeout(err) {
		return ClassInfrastructure
	}
	return ClassPermanent
}

func classifySQLState(code string) Class {
	if code == "40001" || code == "40P01" {
		return ClassConflict
	}
	if code == "57014" { // query_canceled: statement_timeout or a cancel request
		return ClassInfrastructure
	}
	if len(code) >= 2 {
		switch code[:2] {
		case "08", "53", "57", "58":
			return ClassInfrastructure
		}
	}
	return ClassPermanent
}

// IsInfrastructure reports whether err means the server is unreachable,
// overloaded or failing (the errors the circuit breaker counts).
func IsInfrastructure(err error) bool { return Classify(err) == ClassInfrastructure }

// IsConflict reports whether err is a serialization failure or deadlock that
// rolled the transaction back (retry the whole transaction).
func IsConflict(err error) bool { return Classify(err) == ClassConflict }

// NothingSent reports whether err is guaranteed to have happened before the
// statement reached the server: pgconn.SafeToRetry, or a failed connect.
func NothingSent(err error) bool {
	if err == nil {
		return false
	}
	if pgconn.SafeToRetry(err) {
		return true
	}
	var connectErr *pgconn.ConnectError
	return errors.As(err, &connectErr)
}

// Retryable reports whether an operation of kind k that failed with err may be
// run again. Reads retry transient failures; writes and whole transactions
// only retry when nothing was sent or the server rolled back a conflict; a
// statement inside an open transaction never retries. A unique violation, a
// caller cancellation and a write that timed out after sending are never
// retryable.
func Retryable(k Kind, err error) bool {
	class := Classify(err)
	switch class {
	case ClassNone, ClassCanceled:
		return false
	}
	if k == TxStatement {
		return false
	}
	if NothingSent(err) {
		return true
	}
	if class == ClassPermanent {
		return false
	}
	switch k {
	case Read:
		return class == ClassInfrastructure || class == ClassConflict
	case Write, Tx:
		return class == ClassConflict
	default:
		return false
	}
}
