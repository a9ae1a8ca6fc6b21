package cache_test

import (
	"bytes"
	"math/big"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/agentical/datalayer/cache"
	"github.com/jackc/pgx/v5/pgtype"
)

type codecRow struct {
	ID       int64
	UUID     pgtype.UUID
	Name     pgtype.Text
	NullName pgtype.Text
	Amount   pgtype.Numeric
	NaN      pgtype.Numeric
	At       pgtype.Timestamptz
	Inf      pgtype.Timestamptz
	Plain    time.Time
	Date     pgtype.Date
	Meta     []byte // jsonb
	Tags     []string
	Score    pgtype.Float8
	Count    pgtype.Int4
	OK       pgtype.Bool
	Interval pgtype.Interval
	Nilable  *string
	Empty    []byte
}

func sampleRow() codecRow {
	at := time.Date(2026, 11, 25, 18, 33, 42, 123456789, time.UTC)
	return codecRow{
		ID:       42,
		UUID:     pgtype.UUID{Bytes: [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, Valid: true},
		Name:     pgtype.Text{String: "agent ü", Valid: true},
		Amount:   pgtype.Numeric{Int: big.NewInt(-1234567890123), Exp: -4, Valid: true},
		NaN:      pgtype.Numeric{NaN: true, Valid: true},
		At:       pgtype.Timestamptz{Time: at, Valid: true},
		Inf:      pgtype.Timestamptz{InfinityModifier: pgtype.Infinity, Valid: true},
		Plain:    at.Add(time.Nanosecond),
		Date:     pgtype.Date{Time: time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC), Valid: true},
		Meta:     []byte(`{"a":[1,2,{"b":null}]}`),
		Tags:     []string{"x", "y"},
		Score:    pgtype.Float8{Float64: 0.1, Valid: true},
		Count:    pgtype.Int4{Int32: -7, Valid: true},
		OK:       pgtype.Bool{Bool: true, Valid: true},
		Interval: pgtype.Interval{Microseconds: 1500, Days: 3, Months: 1, Valid: true},
	}
}

func equalRows(t *testing.T, got, want codecRow) {
	t.Helper()
	if !got.At.Time.Equal(want.At.Time) || !got.Plain.Equal(want.Plain) || !got.Date.Time.Equal(want.Date.Time) {
		t.Fatalf("times differ: got %v / %v / %v want %v / %v / %v", got.At.Time, got.Plain, got.Date.Time, want.At.Time, want.Plain, want.Date.Time)
	}
	if got.Plain.Nanosecond() != want.Plain.Nanosecond() {
		t.Fatalf("nanoseconds lost: %d vs %d", got.Plain.Nanosecond(), want.Plain.Nanosecond())
	}
	if got.Amount.Int.Cmp(want.Amount.Int) != 0 || got.Amount.Exp != want.Amount.Exp || !got.Amount.Valid {
		t.Fatalf("numeric differs: %+v vs %+v", got.Amount, want.Amount)
	}
	// Compare the rest with times and big ints normalized away.
	got.At.Time, want.At.Time = time.Time{}, time.Time{}
	got.Plain, want.Plain = time.Time{}, time.Time{}
	got.Date.Time, want.Date.Time = time.Time{}, time.Time{}
	got.Amount.Int, want.Amount.Int = nil, nil
	if want.Empty == nil && len(got.Empty) == 0 {
		got.Empty = nil
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("round trip differs:\n got %+v\nwant %+v", got, want)
	}
}

func TestCodecRoundTripPgtype(t *testing.T) {
	c := cache.NewCodec(0)
	want := sampleRow()
	data, err := c.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	var got codecRow
	if err := c.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	equalRows(t, got, want)

	// Decoded byte slices must not alias the input (it may be a zero-copy
	// view of the client-side cache).
	for i := range data {
		data[i] = 0xff
	}
	if string(got.Meta) != string(want.Meta) {
		t.Fatalf("decoded jsonb aliases the encoded buffer: %q", got.Meta)
	}
}

func TestCodecCompression(t *testing.T) {
	c := cache.NewCodec(256)
	rows := make([]codecRow, 50)
	for i := range rows {
		rows[i] = sampleRow()
		rows[i].ID = int64(i)
		rows[i].Meta = []byte(strings.Repeat(`{"k":"repetitive"}`, 10))
	}
	big, err := c.Marshal(rows)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := cache.NewCodec(-1).Marshal(rows)
	if err != nil {
		t.Fatal(err)
	}
	if big[0] == raw[0] {
		t.Fatalf("large value not flagged as compressed (header %#x)", big[0])
	}
	if len(big) >= len(raw) {
		t.Fatalf("compressed %d bytes >= raw %d", len(big), len(raw))
	}
	t.Logf("50 rows: raw %d bytes, s2 %d bytes", len(raw), len(big))
	var got []codecRow
	if err := c.Unmarshal(big, &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 50 {
		t.Fatalf("%d rows", len(got))
	}
	for i := range got {
		equalRows(t, got[i], rows[i])
	}
	// Small values stay uncompressed; both decoders read either form.
	small, _ := c.Marshal(int64(7))
	if small[0] != raw[0] {
		t.Fatalf("small value compressed")
	}
	var n int64
	if err := cache.NewCodec(-1).Unmarshal(small, &n); err != nil || n != 7 {
		t.Fatalf("n=%d err=%v", n, err)
	}
	if err := c.Unmarshal([]byte{0x7f, 1, 2}, &n); err == nil {
		t.Fatal("unknown header accepted")
	}
	if !bytes.Equal(big[:1], []byte{big[0]}) {
		t.Fatal("unreachable")
	}
}

func TestKeysStable(t *testing.T) {
	type params struct {
		AgentID int64
		Status  string
		Limit   int32
	}
	a := cache.NewKey("ListTasks", cache.Deps{Tables: []string{"tasks"}}, params{1, "open", 10})
	b := cache.NewKey("ListTasks", cache.Deps{Tables: []string{"tasks"}}, params{1, "open", 10})
	c := cache.NewKey("ListTasks", cache.Deps{Tables: []string{"tasks"}}, params{1, "open", 11})
	if a.Args != b.Args || a.Args == c.Args {
		t.Fatalf("args hash not stable/distinct: %s %s %s", a.Args, b.Args, c.Args)
	}
	// Integer width and pgtype wrappers do not change a row's identity.
	if cache.Row("agents", "id", int32(5)) != cache.Row("agents", "id", int64(5)) ||
		cache.Row("agents", "id", pgtype.Int8{Int64: 5, Valid: true}) != cache.Row("agents", "id", 5) {
		t.Fatal("row refs differ by integer type")
	}
	u := [16]byte{9}
	if cache.Row("agents", "id", u) != cache.Row("agents", "id", pgtype.UUID{Bytes: u, Valid: true}) {
		t.Fatal("uuid row refs differ")
	}
	// Type tags keep "1" and 1 apart.
	if cache.NewKey("q", cache.Deps{}, "1").Args == cache.NewKey("q", cache.Deps{}, 1).Args {
		t.Fatal(`"1" and 1 hash alike`)
	}
	if cache.NewKey("q", cache.Deps{}, "a", "bc").Args == cache.NewKey("q", cache.Deps{}, "ab", "c").Args {
		t.Fatal("argument boundaries ignored")
	}
}
