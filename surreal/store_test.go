package surreal_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/surrealdb/surrealdb.go/pkg/models"

	"github.com/agentical/datalayer/internal/testinfra/surrealpeer"
	"github.com/agentical/datalayer/resilience"
	"github.com/agentical/datalayer/surreal"
)

type person struct {
	ID   *models.RecordID `json:"id,omitempty"`
	Name string           `json:"name"`
	Age  int              `json:"age"`
}

func configFor(tg surrealpeer.Target) surreal.Config {
	return surreal.Config{URL: tg.URL, Namespace: tg.Namespace, Database: tg.Database, Username: tg.Username, Password: tg.Password}
}

func openStore(t testing.TB, tg surrealpeer.Target) *surreal.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := surreal.Open(ctx, configFor(tg))
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	return s
}

func exec(t testing.TB, q surreal.Querier, sql string) {
	t.Helper()
	if _, err := surreal.QueryRaw(context.Background(), q, sql, nil); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func TestCRUDAndTypedErrors(t *testing.T) {
	s := openStore(t, surrealpeer.ForTest(t))
	ctx := context.Background()
	exec(t, s, "DEFINE TABLE person SCHEMALESS")
	id := surreal.Record("person", "ada")

	if _, err := surreal.Select[person](ctx, s, id); !errors.Is(err, surreal.ErrNotFound) {
		t.Fatalf("select missing: err = %v, want ErrNotFound", err)
	}
	p, err := surreal.Create[person](ctx, s, id, person{Name: "Ada", Age: 36})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if p.Name != "Ada" || p.ID == nil || p.ID.ID != "ada" {
		t.Fatalf("create returned %+v", p)
	}
	if _, err := surreal.Create[person](ctx, s, id, person{Name: "Dup"}); !errors.Is(err, surreal.ErrConflict) {
		t.Fatalf("duplicate create: err = %v, want ErrConflict", err)
	}
	got, err := surreal.Select[person](ctx, s, id)
	if err != nil || got.Name != "Ada" || got.Age != 36 {
		t.Fatalf("select: %+v, %v", got, err)
	}
	up, err := surreal.Update[person](ctx, s, id, person{Name: "Ada L.", Age: 37})
	if err != nil || up.Name != "Ada L." || up.Age != 37 {
		t.Fatalf("update: %+v, %v", up, err)
	}
	m, err := surreal.Merge[person](ctx, s, id, map[string]any{"age": 38})
	if err != nil || m.Name != "Ada L." || m.Age != 38 {
		t.Fatalf("merge: %+v, %v", m, err)
	}
	if _, err := surreal.Update[person](ctx, s, surreal.Record("person", "nobody"), person{Name: "X"}); !errors.Is(err, surreal.ErrNotFound) {
		t.Fatalf("update missing: err = %v, want ErrNotFound", err)
	}
	if _, err := surreal.Merge[person](ctx, s, surreal.Record("person", "nobody"), map[string]any{"age": 1}); !errors.Is(err, surreal.ErrNotFound) {
		t.Fatalf("merge missing: err = %v, want ErrNotFound", err)
	}
	list, err := surreal.Query[[]person](ctx, s, "SELECT * FROM person WHERE age > $min", map[string]any{"min": 30})
	if err != nil || len(list) != 1 || list[0].Age != 38 {
		t.Fatalf("query: %+v, %v", list, err)
	}
	del, err := surreal.Delete[person](ctx, s, id)
	if err != nil || del.Name != "Ada L." {
		t.Fatalf("delete: %+v, %v", del, err)
	}
	if _, err := surreal.Delete[person](ctx, s, id); !errors.Is(err, surreal.ErrNotFound) {
		t.Fatalf("delete missing: err = %v, want ErrNotFound", err)
	}
	if _, err := surreal.Query[any](ctx, s, "SELECT FROM WHERE ;;", nil); err == nil {
		t.Fatal("bad query succeeded")
	}
	if err := s.Health(ctx); err != nil {
		t.Fatalf("health: %v", err)
	}
}

func TestUniqueIndexIsConflict(t *testing.T) {
	s := openStore(t, surrealpeer.ForTest(t))
	ctx := context.Background()
	exec(t, s, "DEFINE TABLE person SCHEMALESS; DEFINE INDEX person_name ON person FIELDS name UNIQUE")
	if _, err := surreal.Create[person](ctx, s, surreal.Record("person", 1), person{Name: "Same"}); err != nil {
		t.Fatal(err)
	}
	_, err := surreal.Create[person](ctx, s, surreal.Record("person", 2), person{Name: "Same"})
	if !errors.Is(err, surreal.ErrConflict) {
		t.Fatalf("unique violation: err = %v, want ErrConflict", err)
	}
}

func TestWrongPasswordIsAuthError(t *testing.T) {
	tg := surrealpeer.ForTest(t)
	cfg := configFor(tg)
	cfg.Password += "-wrong"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := surreal.Open(ctx, cfg)
	if err == nil {
		_ = s.Close(ctx)
		t.Fatal("open with a wrong password succeeded")
	}
	if !errors.Is(err, surreal.ErrAuth) || !surreal.IsAuth(err) {
		t.Fatalf("err = %v, want ErrAuth", err)
	}
	if errors.Is(err, surreal.ErrNotFound) {
		t.Fatalf("auth error also matches ErrNotFound: %v", err)
	}
}

func TestUserLevelsAndToken(t *testing.T) {
	tg := surrealpeer.ForTest(t)
	root := openStore(t, tg)
	ctx := context.Background()
	exec(t, root, "DEFINE USER app ON DATABASE PASSWORD 'app-pw' ROLES EDITOR; DEFINE TABLE person SCHEMALESS")

	cfg := configFor(tg)
	cfg.Username, cfg.Password, cfg.AuthLevel = "app", "app-pw", surreal.AuthDatabase
	dbUser, err := surreal.Open(ctx, cfg)
	if err != nil {
		t.Fatalf("open as database user: %v", err)
	}
	defer dbUser.Close(ctx)
	if _, err := surreal.Create[person](ctx, dbUser, surreal.Record("person", "u"), person{Name: "U"}); err != nil {
		t.Fatalf("create as database user: %v", err)
	}

	exec(t, root, "DEFINE USER nsop ON NAMESPACE PASSWORD 'ns-pw' ROLES EDITOR")
	nsCfg := configFor(tg)
	nsCfg.Username, nsCfg.Password, nsCfg.AuthLevel = "nsop", "ns-pw", surreal.AuthNamespace
	nsUser, err := surreal.Open(ctx, nsCfg)
	if err != nil {
		t.Fatalf("open as namespace user: %v", err)
	}
	defer nsUser.Close(ctx)
	if got, err := surreal.Select[person](ctx, nsUser, surreal.Record("person", "u")); err != nil || got.Name != "U" {
		t.Fatalf("select as namespace user: %+v, %v", got, err)
	}
	nsCfg.AuthLevel = surreal.AuthDatabase // nsop is not a database user
	if _, err := surreal.Open(ctx, nsCfg); !errors.Is(err, surreal.ErrAuth) {
		t.Fatalf("namespace user signing in as database user: %v, want ErrAuth", err)
	}

	token, err := root.SignIn(ctx, surreal.AuthDatabase, "app", "app-pw")
	if err != nil || token == "" {
		t.Fatalf("signin for token: %q, %v", token, err)
	}
	if _, err := root.SignIn(ctx, surreal.AuthDatabase, "app", "nope"); !errors.Is(err, surreal.ErrAuth) {
		t.Fatalf("signin wrong password: %v, want ErrAuth", err)
	}
	tcfg := configFor(tg)
	tcfg.Username, tcfg.Password, tcfg.Token = "", "", token
	byToken, err := surreal.Open(ctx, tcfg)
	if err != nil {
		t.Fatalf("open with token: %v", err)
	}
	defer byToken.Close(ctx)
	got, err := surreal.Select[person](ctx, byToken, surreal.Record("person", "u"))
	if err != nil || got.Name != "U" {
		t.Fatalf("select with token: %+v, %v", got, err)
	}
	bad := configFor(tg)
	bad.Token = "not-a-token"
	if _, err := surreal.Open(ctx, bad); !errors.Is(err, surreal.ErrAuth) {
		t.Fatalf("open with a bad token: %v, want ErrAuth", err)
	}
}

func TestGraphTraversal(t *testing.T) {
	s := openStore(t, surrealpeer.ForTest(t))
	ctx := context.Background()
	exec(t, s, "DEFINE TABLE person SCHEMALESS; DEFINE TABLE knows TYPE RELATION")
	for _, n := range []string{"a", "b", "c"} {
		if _, err := surreal.Create[person](ctx, s, surreal.Record("person", n), person{Name: n}); err != nil {
			t.Fatal(err)
		}
	}
	type edge struct {
		ID    *models.RecordID `json:"id"`
		In    models.RecordID  `json:"in"`
		Out   models.RecordID  `json:"out"`
		Since int              `json:"since"`
	}
	e, err := surreal.Relate[edge](ctx, s, surreal.Record("person", "a"), "knows", surreal.Record("person", "b"), map[string]any{"since": 2020})
	if err != nil {
		t.Fatalf("relate: %v", err)
	}
	if e.In.ID != "a" || e.Out.ID != "b" || e.Since != 2020 {
		t.Fatalf("relate returned %+v", e)
	}
	if _, err := surreal.Relate[edge](ctx, s, surreal.Record("person", "b"), "knows", surreal.Record("person", "c"), nil); err != nil {
		t.Fatal(err)
	}
	names, err := surreal.Query[[]string](ctx, s, "SELECT VALUE name FROM person:a->knows->person->knows->person", nil)
	if err != nil || len(names) != 1 || names[0] != "c" {
		t.Fatalf("two hops: %v, %v", names, err)
	}
}

func TestTransactionCommitAndRollback(t *testing.T) {
	s := openStore(t, surrealpeer.ForTest(t))
	ctx := context.Background()
	exec(t, s, "DEFINE TABLE person SCHEMALESS")

	tx, err := s.Begin(ctx)
	if err != nil {
		t.Fatalf("begin: %v", err)
	}
	if _, err := surreal.Create[person](ctx, tx, surreal.Record("person", "rolled"), person{Name: "R"}); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatalf("rollback: %v", err)
	}
	if err := tx.Commit(ctx); !errors.Is(err, surreal.ErrTxDone) {
		t.Fatalf("commit after rollback: %v", err)
	}
	if _, err := surreal.Select[person](ctx, s, surreal.Record("person", "rolled")); !errors.Is(err, surreal.ErrNotFound) {
		t.Fatalf("rolled-back record: err = %v, want ErrNotFound", err)
	}

	err = s.InTx(ctx, func(ctx context.Context, tx *surreal.Tx) error {
		for i := range 3 {
			if _, err := surreal.Create[person](ctx, tx, surreal.Record("person", i), person{Name: fmt.Sprint(i)}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("InTx: %v", err)
	}
	n, err := surreal.Query[int](ctx, s, "RETURN count(SELECT * FROM person)", nil)
	if err != nil || n != 3 {
		t.Fatalf("after commit: %v, %v", n, err)
	}

	boom := errors.New("boom")
	err = s.InTx(ctx, func(ctx context.Context, tx *surreal.Tx) error {
		if _, err := surreal.Create[person](ctx, tx, surreal.Record("person", "x"), person{Name: "x"}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("InTx error = %v", err)
	}
	if _, err := surreal.Select[person](ctx, s, surreal.Record("person", "x")); !errors.Is(err, surreal.ErrNotFound) {
		t.Fatalf("record of failed InTx: err = %v, want ErrNotFound", err)
	}
}

func nextEvent[T any](t *testing.T, sub *surreal.Subscription[T]) surreal.Event[T] {
	t.Helper()
	select {
	case ev, ok := <-sub.Events():
		if !ok {
			t.Fatal("events channel closed")
		}
		if ev.Err != nil {
			t.Fatalf("event error: %v", ev.Err)
		}
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no live event within 10s")
	}
	panic("unreachable")
}

func TestLiveQuery(t *testing.T) {
	s := openStore(t, surrealpeer.ForTest(t))
	ctx := context.Background()
	exec(t, s, "DEFINE TABLE person SCHEMALESS")
	sub, err := surreal.Live[person](ctx, s, "person")
	if err != nil {
		t.Fatalf("live: %v", err)
	}
	// Each write's event is awaited before the next write: the writes may
	// travel on different pooled connections, and the order in which the
	// server delivers notifications of two writes from two connections is
	// not the order of their replies.
	expect := func(a surreal.Action) {
		t.Helper()
		ev := nextEvent(t, sub)
		if ev.Action != a || ev.ID.ID != "l" || ev.Value.Name != "L" {
			t.Fatalf("event %+v, want %s of person:l", ev, a)
		}
	}
	if _, err := surreal.Create[person](ctx, s, surreal.Record("person", "l"), person{Name: "L"}); err != nil {
		t.Fatal(err)
	}
	expect(surreal.ActionCreate)
	if _, err := surreal.Merge[person](ctx, s, surreal.Record("person", "l"), map[string]any{"age": 5}); err != nil {
		t.Fatal(err)
	}
	expect(surreal.ActionUpdate)
	if _, err := surreal.Delete[person](ctx, s, surreal.Record("person", "l")); err != nil {
		t.Fatal(err)
	}
	expect(surreal.ActionDelete)
	if err := sub.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := <-sub.Events(); ok {
		t.Fatal("events channel open after Close")
	}
}

func TestReconnectAfterPeerRestart(t *testing.T) {
	p := surrealpeer.Private(t, surrealpeer.Config{DataDir: t.TempDir()})
	tg := surrealpeer.Target{URL: p.URL(), Username: p.Username(), Password: p.Password(), Namespace: "n", Database: "d"}
	cfg := configFor(tg)
	cfg.PoolSize = 2
	// The readers below open the breaker while the server is down; a short
	// delay lets it probe again soon after the restart.
	cfg.Resilience.BreakerDelay = 300 * time.Millisecond
	ctx := context.Background()
	s, err := surreal.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	exec(t, s, "DEFINE TABLE person SCHEMALESS")
	if _, err := surreal.Create[person](ctx, s, surreal.Record("person", "before"), person{Name: "B"}); err != nil {
		t.Fatal(err)
	}
	sub, err := surreal.Live[person](ctx, s, "person")
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close(ctx)

	if err := p.Kill(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Health(ctx); err == nil {
		t.Fatal("health succeeded while the peer was down")
	}
	// Readers keep calling while the server is down; none may hang or panic,
	// and all get through once it is back.
	var wg sync.WaitGroup
	readerErrs := make(chan error, 10)
	for range 10 {
		wg.Go(func() {
			deadline := time.Now().Add(20 * time.Second)
			for {
				got, err := surreal.Select[person](ctx, s, surreal.Record("person", "before"))
				if err == nil && got.Name == "B" {
					return
				}
				if time.Now().After(deadline) {
					readerErrs <- fmt.Errorf("reader never recovered: %v", err)
					return
				}
				time.Sleep(50 * time.Millisecond)
			}
		})
	}
	time.Sleep(300 * time.Millisecond)
	if err := p.Restart(ctx); err != nil {
		t.Fatalf("restart: %v", err)
	}
	wg.Wait()
	close(readerErrs)
	for err := range readerErrs {
		t.Error(err)
	}
	// Reads retry infrastructure failures and reconnect underneath.
	got, err := surreal.Select[person](ctx, s, surreal.Record("person", "before"))
	if err != nil || got.Name != "B" {
		t.Fatalf("select after restart: %+v, %v", got, err)
	}
	for range 4 { // every pooled connection reconnects
		if err := s.Health(ctx); err != nil {
			t.Fatalf("health after restart: %v", err)
		}
	}
	if ev := nextEvent(t, sub); ev.Action != surreal.ActionResumed {
		t.Fatalf("first event after restart = %+v, want RESUMED", ev)
	}
	if _, err := surreal.Create[person](ctx, s, surreal.Record("person", "after"), person{Name: "A"}); err != nil {
		t.Fatalf("create after restart: %v", err)
	}
	if ev := nextEvent(t, sub); ev.Action != surreal.ActionCreate || ev.Value.Name != "A" {
		t.Fatalf("event after restart = %+v", ev)
	}
}

func TestPoolUnderConcurrency(t *testing.T) {
	s := openStore(t, surrealpeer.ForTest(t))
	ctx := context.Background()
	exec(t, s, "DEFINE TABLE person SCHEMALESS")
	const workers, each = 50, 10
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				id := surreal.Record("person", fmt.Sprintf("w%d_%d", w, i))
				if _, err := surreal.Create[person](ctx, s, id, person{Name: "c", Age: w}); err != nil {
					errs <- err
					return
				}
				got, err := surreal.Select[person](ctx, s, id)
				if err != nil || got.Age != w {
					errs <- fmt.Errorf("select %v: %+v, %v", id, got, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	n, err := surreal.Query[int](ctx, s, "RETURN count(SELECT * FROM person)", nil)
	if err != nil || n != workers*each {
		t.Fatalf("count = %v, %v; want %d", n, err, workers*each)
	}
}

func TestConcurrentTransactionsConflictAndRetry(t *testing.T) {
	s := openStore(t, surrealpeer.ForTest(t))
	ctx := context.Background()
	exec(t, s, "CREATE counter:1 SET n = 0")

	// Two interleaved transactions writing one record: the second commit
	// conflicts and is a typed ErrConflict.
	t1, err := s.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t2, err := s.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := surreal.Query[any](ctx, t1, "UPDATE counter:1 SET n += 1", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := surreal.Query[any](ctx, t2, "UPDATE counter:1 SET n += 100", nil); err != nil {
		t.Fatal(err)
	}
	if err := t1.Commit(ctx); err != nil {
		t.Fatalf("first commit: %v", err)
	}
	if err := t2.Commit(ctx); !errors.Is(err, surreal.ErrConflict) {
		t.Fatalf("second commit: err = %v, want ErrConflict", err)
	}

	// InTx reruns conflicting transactions: no increment is lost.
	const workers, each = 4, 5
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range each {
				err := s.InTx(ctx, func(ctx context.Context, tx *surreal.Tx) error {
					_, err := surreal.Query[any](ctx, tx, "UPDATE counter:1 SET n += 1", nil)
					return err
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	n, err := surreal.Query[int](ctx, s, "RETURN counter:1.n", nil)
	if err != nil || n != 1+workers*each {
		t.Fatalf("counter = %d, %v; want %d", n, err, 1+workers*each)
	}
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestHungConnectionIsReplaced(t *testing.T) {
	p := surrealpeer.Private(t, surrealpeer.Config{})
	tg := surrealpeer.Target{URL: p.URL(), Username: p.Username(), Password: p.Password(), Namespace: "n", Database: "d"}
	var logs syncBuffer
	cfg := configFor(tg)
	cfg.PoolSize = 1
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	cfg.Resilience = resilience.Config{Timeout: 500 * time.Millisecond, RetryAttempts: 1, BreakerThreshold: 100}
	ctx := context.Background()
	s, err := surreal.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	if err := s.Health(ctx); err != nil {
		t.Fatal(err)
	}

	if err := p.Pause(); err != nil {
		t.Fatal(err)
	}
	err = s.Health(ctx)
	if !errors.Is(err, resilience.ErrTimeout) {
		t.Fatalf("health on a hung server: %v, want resilience.ErrTimeout", err)
	}
	time.Sleep(4 * time.Second) // the ping probe gives up after 3s and drops the socket
	if err := p.Resume(); err != nil {
		t.Fatal(err)
	}
	// The resumed peer first works through its backlog: allow a few tries.
	deadline := time.Now().Add(10 * time.Second)
	for err := s.Health(ctx); err != nil; err = s.Health(ctx) {
		if time.Now().After(deadline) {
			t.Fatalf("health after resume: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), "reconnecting") {
		t.Fatalf("the hung connection was not replaced; logs:\n%s", logs.String())
	}
}
