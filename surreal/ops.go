package surreal

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/fxamacker/cbor/v2"
	"github.com/surrealdb/surrealdb.go/pkg/models"
)

// Select reads the record id into T. A missing record is ErrNotFound.
func Select[T any](ctx context.Context, q Querier, id models.RecordID) (T, error) {
	if err := checkRecord("select", "id", id); err != nil {
		var zero T
		return zero, err
	}
	if s, ok := q.(*Store); ok && s.cfg.Cache != nil {
		var zero, v T
		raw, err := s.cachedSelect(ctx, &id)
		if err != nil {
			return zero, err
		}
		if err := s.codec.Unmarshal(raw, &v); err != nil {
			return zero, fmt.Errorf("surreal: select %s: decode: %w", id, err)
		}
		return v, nil
	}
	return recordCall[T](ctx, q, false, "select", &id)
}

// Create creates the record id with data (a struct or map) and returns it.
// An existing record is ErrConflict.
func Create[T any](ctx context.Context, q Querier, id models.RecordID, data any) (T, error) {
	return recordCall[T](ctx, q, true, "create", &id, data)
}

// Update replaces the content of the existing record id with data. A missing
// record is ErrNotFound.
func Update[T any](ctx context.Context, q Querier, id models.RecordID, data any) (T, error) {
	return recordCall[T](ctx, q, true, "update", &id, data)
}

// Upsert replaces or creates the record id with data.
func Upsert[T any](ctx context.Context, q Querier, id models.RecordID, data any) (T, error) {
	return recordCall[T](ctx, q, true, "upsert", &id, data)
}

// Merge merges patch (a struct or map of fields) into the existing record
// id. A missing record is ErrNotFound.
func Merge[T any](ctx context.Context, q Querier, id models.RecordID, patch any) (T, error) {
	return recordCall[T](ctx, q, true, "merge", &id, patch)
}

// Delete deletes the record id and returns what it held. A missing record
// is ErrNotFound.
func Delete[T any](ctx context.Context, q Querier, id models.RecordID) (T, error) {
	if err := checkRecord("delete", "id", id); err != nil {
		var zero T
		return zero, err
	}
	// The delete RPC returns nothing in SurrealDB 3, so ask for the record.
	res, err := Query[[]T](ctx, q, "DELETE $id RETURN BEFORE", map[string]any{"id": &id})
	if !wasUnsent(err) {
		wrote(ctx, q, id)
	}
	return onlyOne(res, err, "delete", id)
}

// Relate creates the edge from -> edge -> to (an edge table) with data
// (nil for none) and returns it.
func Relate[T any](ctx context.Context, q Querier, from models.RecordID, edge string, to models.RecordID, data any) (T, error) {
	var zero T
	if err := checkRelate(from, edge, to); err != nil {
		return zero, err
	}
	if data == nil {
		data = map[string]any{}
	}
	raw, err := q.rpc(ctx, true, "relate", &from, models.Table(edge), &to, data)
	if err != nil {
		return zero, err
	}
	if raw == nil {
		return zero, fmt.Errorf("surreal: relate %s->%s->%s: %w", from, edge, to, ErrNotFound)
	}
	// relate on a single pair answers with a one-element array.
	var list []T
	if err := q.cbor().Unmarshal(raw, &list); err == nil {
		if len(list) == 0 {
			return zero, fmt.Errorf("surreal: relate: %w", ErrNotFound)
		}
		return list[0], nil
	}
	var v T
	if err := q.cbor().Unmarshal(raw, &v); err != nil {
		return zero, fmt.Errorf("surreal: relate: decode: %w", err)
	}
	return v, nil
}

func recordCall[T any](ctx context.Context, q Querier, write bool, method string, id *models.RecordID, rest ...any) (T, error) {
	var zero T
	if err := checkRecord(method, "id", *id); err != nil {
		return zero, err
	}
	raw, err := q.rpc(ctx, write, method, append([]any{id}, rest...)...)
	if write && !wasUnsent(err) {
		wrote(ctx, q, *id)
	}
	if err != nil {
		return zero, err
	}
	if raw == nil {
		return zero, fmt.Errorf("surreal: %s %s: %w", method, id, ErrNotFound)
	}
	var v T
	if err := q.cbor().Unmarshal(raw, &v); err != nil {
		return zero, fmt.Errorf("surreal: %s %s: decode: %w", method, id, err)
	}
	return v, nil
}

func onlyOne[T any](res []T, err error, op string, id models.RecordID) (T, error) {
	var zero T
	if err != nil {
		return zero, err
	}
	if len(res) == 0 {
		return zero, fmt.Errorf("surreal: %s %s: %w", op, id, ErrNotFound)
	}
	return res[0], nil
}

// Result is the outcome of one statement of a query.
type Result struct {
	Status string          `cbor:"status"`
	Time   string          `cbor:"time"`
	Raw    cbor.RawMessage `cbor:"result"`
	Kind   string          `cbor:"kind"`
}

// QueryRaw runs sql with vars and returns every statement's result. The
// first failed statement's error (an *Error) is returned with them.
func QueryRaw(ctx context.Context, q Querier, sql string, vars map[string]any) ([]Result, error) {
	if vars == nil {
		vars = map[string]any{}
	}
	raw, err := q.rpc(ctx, true, "query", sql, vars)
	if err != nil {
		return nil, err
	}
	var res []Result
	if err := cbor.Unmarshal(raw, &res); err != nil {
		return nil, fmt.Errorf("surreal: query: decode: %w", err)
	}
	for _, r := range res {
		if r.Status != "OK" {
			var msg string
			_ = q.cbor().Unmarshal(r.Raw, &msg)
			return res, newError("query", 0, r.Kind, msg, nil)
		}
	}
	return res, nil
}

// Query runs sql with vars and decodes the last statement's result into T
// (usually a slice of records). Any failed statement returns its *Error.
func Query[T any](ctx context.Context, q Querier, sql string, vars map[string]any) (T, error) {
	var zero T
	res, err := QueryRaw(ctx, q, sql, vars)
	if err != nil {
		return zero, err
	}
	if len(res) == 0 || isNone(res[len(res)-1].Raw) {
		return zero, nil
	}
	var v T
	if err := q.cbor().Unmarshal(res[len(res)-1].Raw, &v); err != nil {
		return zero, fmt.Errorf("surreal: query: decode: %w", err)
	}
	return v, nil
}

// RelateChecked is Relate that refuses to create a dangling edge: when from
// or to does not exist it creates nothing and returns an error matching
// ErrNotFound. The check and the RELATE run as one statement, so a record
// cannot vanish in between. edge must be a plain identifier.
func RelateChecked[T any](ctx context.Context, q Querier, from models.RecordID, edge string, to models.RecordID, data any) (T, error) {
	var zero T
	if err := checkRelate(from, edge, to); err != nil {
		return zero, err
	}
	if !identRE.MatchString(edge) {
		return zero, fmt.Errorf("surreal: relate: %w: edge table %q is not a plain identifier", ErrInvalidArgument, edge)
	}
	if data == nil {
		data = map[string]any{}
	}
	const missing = "datalayer: relate: missing record"
	sql := "IF record::exists($from) AND record::exists($to) { RETURN RELATE $from->`" + edge +
		"`->$to CONTENT $data } ELSE { THROW '" + missing + "' }"
	res, err := Query[[]T](ctx, q, sql, map[string]any{"from": &from, "to": &to, "data": data})
	if err != nil {
		if se := (*Error)(nil); errors.As(err, &se) && se.Reason == ReasonThrown && strings.Contains(se.Message, missing) {
			return zero, fmt.Errorf("surreal: relate %s->%s->%s: %w: from or to record does not exist", from, edge, to, ErrNotFound)
		}
		return zero, err
	}
	if len(res) == 0 {
		return zero, fmt.Errorf("surreal: relate %s->%s->%s: %w", from, edge, to, ErrNotFound)
	}
	return res[0], nil
}

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// checkRecord refuses a record id without a table or id before anything is
// sent (the encoder's own error would be untyped).
func checkRecord(op, arg string, id models.RecordID) error {
	if id.Table == "" {
		return fmt.Errorf("surreal: %s: %w: %s has an empty table name", op, ErrInvalidArgument, arg)
	}
	if id.ID == nil {
		return fmt.Errorf("surreal: %s: %w: %s has no id", op, ErrInvalidArgument, arg)
	}
	return nil
}

func checkRelate(from models.RecordID, edge string, to models.RecordID) error {
	if err := checkRecord("relate", "from", from); err != nil {
		return err
	}
	if err := checkRecord("relate", "to", to); err != nil {
		return err
	}
	if edge == "" {
		return fmt.Errorf("surreal: relate: %w: empty edge table name", ErrInvalidArgument)
	}
	return nil
}
