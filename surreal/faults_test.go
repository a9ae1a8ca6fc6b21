package surreal_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentical/datalayer/internal/testinfra/surrealpeer"
	"github.com/agentical/datalayer/surreal"
	"github.com/agentical/datalayer/surreal/schema"
)

// Regression (issue 11, item 10): after the server is killed and back, calls
// succeed again within about the outage's length; dial errors during the
// outage must not hold the breaker open for its full 10 s delay.
func TestKilledServerRecoversFast(t *testing.T) {
	p := surrealpeer.Private(t, surrealpeer.Config{DataDir: t.TempDir()})
	tg := surrealpeer.Target{URL: p.URL(), Username: p.Username(), Password: p.Password(), Namespace: "n", Database: "d"}
	cfg := configFor(tg) // default resilience policies
	cfg.DialTimeout = time.Second
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := surreal.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	exec(t, s, "DEFINE TABLE person SCHEMALESS")
	for i := range 10 {
		if _, err := surreal.Create[person](ctx, s, surreal.Record("person", i), person{Name: "p"}); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	var lastErr time.Time
	var lastText string
	var ok, failed atomic.Int64
	var wg sync.WaitGroup
	for g := range 6 {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				id := surreal.Record("person", (g+i)%10)
				var err error
				if i%3 == 0 {
					_, err = surreal.Merge[person](ctx, s, id, map[string]any{"age": i})
				} else {
					_, err = surreal.Select[person](ctx, s, id)
				}
				switch {
				case ctx.Err() != nil:
				case err != nil:
					failed.Add(1)
					mu.Lock()
					lastErr, lastText = time.Now(), err.Error()
					mu.Unlock()
				default:
					ok.Add(1)
				}
				time.Sleep(2 * time.Millisecond)
			}
		})
	}
	time.Sleep(300 * time.Millisecond)
	down := time.Now()
	if err := p.Kill(context.Background()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	if err := p.Restart(context.Background()); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	time.Sleep(4 * time.Second) // long enough to see a breaker stuck open
	cancel()
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	downFor := back.Sub(down)
	t.Logf("server down %v; %d ok, %d failed; last error %v after the kill: %s",
		downFor.Round(time.Millisecond), ok.Load(), failed.Load(), lastErr.Sub(down).Round(time.Millisecond), lastText)
	if failed.Load() == 0 {
		t.Fatal("no call failed while the server was down: the test did not test anything")
	}
	if late := lastErr.Sub(back); late > max(downFor, time.Second) {
		t.Errorf("errors went on %v after the server was back (down %v); last: %s", late.Round(time.Millisecond), downFor.Round(time.Millisecond), lastText)
	}
}

// Regression (issue 11, item 10): a plain Merge (no transaction) that hits
// "Transaction conflict ... retry the transaction" is retried by the store.
func TestPlainMergeRetriesWriteConflict(t *testing.T) {
	s := openStore(t, surrealpeer.ForTest(t))
	ctx := context.Background()
	exec(t, s, "DEFINE TABLE counter SCHEMALESS")
	id := surreal.Record("counter", 1)
	if _, err := surreal.Create[map[string]any](ctx, s, id, map[string]any{}); err != nil {
		t.Fatal(err)
	}
	const writers, rounds = 8, 40
	var wg sync.WaitGroup
	errs := make(chan error, writers*rounds)
	for g := range writers {
		wg.Go(func() {
			for i := range rounds {
				if _, err := surreal.Merge[map[string]any](ctx, s, id, map[string]any{fmt.Sprint("f", g): i}); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("merge: %v", err)
	}
	got, err := surreal.Select[map[string]any](ctx, s, id)
	if err != nil {
		t.Fatal(err)
	}
	for g := range writers {
		if v := fmt.Sprint(got[fmt.Sprint("f", g)]); v != fmt.Sprint(rounds-1) {
			t.Errorf("f%d = %v, want %d", g, v, rounds-1)
		}
	}
}

// Regression (issue 11, item 10): schema violations arrive typed, not as
// kind "Internal" matched by message text.
func TestSchemaViolationsAreTyped(t *testing.T) {
	s := openStore(t, surrealpeer.ForTest(t))
	ctx := context.Background()
	exec(t, s, `DEFINE TABLE person SCHEMAFULL;
		DEFINE FIELD name ON person TYPE string ASSERT string::len($value) > 1;
		DEFINE FIELD age ON person TYPE int;
		DEFINE INDEX person_name ON person FIELDS name UNIQUE`)
	check := func(label string, err error, sentinel error, reason surreal.Reason, field, index string) {
		t.Helper()
		var se *surreal.Error
		if !errors.As(err, &se) {
			t.Fatalf("%s: %v is not a *surreal.Error", label, err)
		}
		if !errors.Is(err, sentinel) || se.Reason != reason || se.Field != field || se.Index != index {
			t.Errorf("%s: got reason %v field %q index %q (is %v: %v), want %v %q %q; err: %v",
				label, se.Reason, se.Field, se.Index, sentinel, errors.Is(err, sentinel), reason, field, index, err)
		}
	}
	_, err := surreal.Create[person](ctx, s, surreal.Record("person", 1), person{Name: "A", Age: 1})
	check("assertion", err, surreal.ErrInvalid, surreal.ReasonAssertion, "name", "")
	_, err = surreal.Create[person](ctx, s, surreal.Record("person", 1), map[string]any{"name": "Abc", "age": "old"})
	check("type", err, surreal.ErrInvalid, surreal.ReasonFieldType, "age", "")
	if !surreal.IsInvalid(err) || surreal.IsConflict(err) {
		t.Errorf("type error: IsInvalid %v IsConflict %v", surreal.IsInvalid(err), surreal.IsConflict(err))
	}
	if _, err := surreal.Create[person](ctx, s, surreal.Record("person", 1), person{Name: "Abc", Age: 1}); err != nil {
		t.Fatal(err)
	}
	_, err = surreal.Create[person](ctx, s, surreal.Record("person", 2), person{Name: "Abc", Age: 2})
	check("unique", err, surreal.ErrConflict, surreal.ReasonUniqueIndex, "", "person_name")
	_, err = surreal.Create[person](ctx, s, surreal.Record("person", 1), person{Name: "Xyz", Age: 2})
	check("exists", err, surreal.ErrConflict, surreal.ReasonAlreadyExists, "", "")
	// The same classification for statements of a query.
	_, err = surreal.Query[any](ctx, s, "CREATE person:3 CONTENT {name: 'Abc', age: 3}", nil)
	check("query unique", err, surreal.ErrConflict, surreal.ReasonUniqueIndex, "", "person_name")
}

// Regression (issue 11, item 10): an empty table name is a typed error, not
// an encoder failure.
func TestEmptyTableNameIsInvalidArgument(t *testing.T) {
	s := openStore(t, surrealpeer.ForTest(t))
	ctx := context.Background()
	for label, call := range map[string]func() error{
		"create": func() error { _, err := surreal.Create[person](ctx, s, surreal.Record("", 1), person{}); return err },
		"select": func() error { _, err := surreal.Select[person](ctx, s, surreal.Record("", 1)); return err },
		"merge": func() error {
			_, err := surreal.Merge[person](ctx, s, surreal.Record("", 1), map[string]any{})
			return err
		},
		"delete": func() error { _, err := surreal.Delete[person](ctx, s, surreal.Record("", 1)); return err },
		"relate edge": func() error {
			_, err := surreal.Relate[map[string]any](ctx, s, surreal.Record("a", 1), "", surreal.Record("b", 1), nil)
			return err
		},
		"live": func() error { _, err := surreal.Live[person](ctx, s, ""); return err },
	} {
		if err := call(); !errors.Is(err, surreal.ErrInvalidArgument) || !strings.Contains(err.Error(), "empty") {
			t.Errorf("%s with an empty table: %v, want ErrInvalidArgument naming the empty name", label, err)
		}
	}
}

// Regression (issue 11, item 10): the checked RELATE refuses a missing
// record and leaves no dangling edge; the typed accessors use it.
func TestRelateCheckedRefusesMissingRecord(t *testing.T) {
	s := openStore(t, surrealpeer.ForTest(t))
	ctx := context.Background()
	exec(t, s, "DEFINE TABLE person SCHEMALESS; DEFINE TABLE knows SCHEMALESS")
	a, b, ghost := surreal.Record("person", "a"), surreal.Record("person", "b"), surreal.Record("person", "ghost")
	exec(t, s, "CREATE person:a; CREATE person:b")
	if _, err := surreal.RelateChecked[map[string]any](ctx, s, a, "knows", ghost, nil); !errors.Is(err, surreal.ErrNotFound) {
		t.Errorf("relate to a missing record: %v, want ErrNotFound", err)
	}
	if _, err := surreal.RelateChecked[map[string]any](ctx, s, ghost, "knows", b, nil); !errors.Is(err, surreal.ErrNotFound) {
		t.Errorf("relate from a missing record: %v, want ErrNotFound", err)
	}
	edge, err := surreal.RelateChecked[map[string]any](ctx, s, a, "knows", b, map[string]any{"w": 1})
	if err != nil || fmt.Sprint(edge["w"]) != "1" {
		t.Fatalf("relate existing records: %v, %v", edge, err)
	}
	n, err := surreal.Query[int](ctx, s, "RETURN count(SELECT * FROM knows)", nil)
	if err != nil || n != 1 {
		t.Errorf("edges: %v, %v; want exactly the one between existing records", n, err)
	}
	if _, err := surreal.RelateChecked[map[string]any](ctx, s, a, "knows`; DELETE person; --", b, nil); !errors.Is(err, surreal.ErrInvalidArgument) {
		t.Errorf("edge name with SurrealQL in it: %v, want ErrInvalidArgument", err)
	}
	// Typed accessors (on a database of their own).
	s = openStore(t, surrealpeer.ForTest(t))
	if _, err := schema.Apply(ctx, s); err != nil {
		t.Fatal(err)
	}
	agent, err := schema.CreateAgent(ctx, s, "ag", "worker")
	if err != nil {
		t.Fatal(err)
	}
	if err := schema.Know(ctx, s, *agent.ID, surreal.Record("concept", "nope"), 0.5); !errors.Is(err, surreal.ErrNotFound) {
		t.Errorf("schema.Know with a missing concept: %v, want ErrNotFound", err)
	}
}

// Regression (issue 11, item 10): a malformed URL's error must not quote
// the password.
func TestMalformedURLHidesPassword(t *testing.T) {
	_, err := surreal.Open(context.Background(), surreal.Config{URL: "ws://root:S3cretPW@[::1", Namespace: "n", Database: "d"})
	if err == nil {
		t.Fatal("malformed URL accepted")
	}
	if strings.Contains(err.Error(), "S3cretPW") || strings.Contains(fmt.Sprintf("%+v %#v", err, err), "S3cretPW") {
		t.Fatalf("error quotes the password: %v", err)
	}
	if !strings.Contains(err.Error(), "bad URL") {
		t.Errorf("error does not say what is wrong: %v", err)
	}
}
