package config

import "errors"

var errBadProfile = errors.New("must be development or production")

// Error is one problem with one environment variable. Reason never
// contains a password: URLs appear redacted, SURREALDB_PASSWORD never.
type Error struct {
	Var    string // the variable's name, e.g. "DB_POOL_SIZE"
	Reason string // what is wrong, e.g. `must be between 1 and 1000, got "0"`
}

func (e *Error) Error() string { return "config: " + e.Var + ": " + e.Reason }

// Errors lists every *Error inside err, in the order they were found.
// Load and FromMap return all problems at once joined with errors.Join;
// errors.As finds only the first.
func Errors(err error) []*Error {
	var out []*Error
	var walk func(error)
	walk = func(err error) {
		switch e := err.(type) {
		case nil:
		case *Error:
			out = append(out, e)
		case interface{ Unwrap() []error }:
			for _, inner := range e.Unwrap() {
				walk(inner)
			}
		case interface{ Unwrap() error }:
			walk(e.Unwrap())
		}
	}
	walk(err)
	return out
}
