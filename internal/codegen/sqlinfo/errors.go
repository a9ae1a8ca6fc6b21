package sqlinfo

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// ErrInvalid is matched (errors.Is) by every *Error this package returns, so
// callers can tell an input problem from an I/O problem of their own.
var ErrInvalid = errors.New("sqlinfo: invalid input")

// Error is one problem in a query or schema file. Error() renders it as
// "file:line: message", the form editors and CI annotate.
type Error struct {
	File string
	Line int // 1-based; 0 when the problem has no single line
	Msg  string
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

// Is reports ErrInvalid so errors.Is(err, ErrInvalid) holds for any Error.
func (e *Error) Is(target error) bool { return target == ErrInvalid }

// ErrorList is every problem found in one call; the package collects them all
// instead of stopping at the first. It renders one error per line, sorted by
// file and line.
type ErrorList []*Error

func (l ErrorList) Error() string {
	var b strings.Builder
	for i, e := range l {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// Unwrap exposes the individual errors to errors.Is and errors.As.
func (l ErrorList) Unwrap() []error {
	out := make([]error, len(l))
	for i, e := range l {
		out[i] = e
	}
	return out
}

// errs accumulates problems; err() returns nil when there are none.
type errs struct{ list ErrorList }

func (c *errs) add(file string, line int, format string, args ...any) {
	c.list = append(c.list, &Error{File: file, Line: line, Msg: fmt.Sprintf(format, args...)})
}

func (c *errs) merge(err error) {
	var l ErrorList
	var e *Error
	switch {
	case err == nil:
	case errors.As(err, &l):
		c.list = append(c.list, l...)
	case errors.As(err, &e):
		c.list = append(c.list, e)
	default:
		c.list = append(c.list, &Error{Msg: err.Error()})
	}
}

func (c *errs) err() error {
	if len(c.list) == 0 {
		return nil
	}
	sort.SliceStable(c.list, func(i, j int) bool {
		if c.list[i].File != c.list[j].File {
			return c.list[i].File < c.list[j].File
		}
		return c.list[i].Line < c.list[j].Line
	})
	return c.list
}
