package surrealpeer_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/gorilla/websocket"
	surrealdb "github.com/surrealdb/surrealdb.go"
	"github.com/surrealdb/surrealdb.go/pkg/connection"
	"github.com/surrealdb/surrealdb.go/pkg/models"

	"github.com/agentical/datalayer/internal/testinfra/surrealpeer"
)

type person struct {
	ID   *models.RecordID `json:"id,omitempty"`
	Name string           `json:"name"`
	Age  float64          `json:"age"`
}

func connect(t *testing.T, tg surrealpeer.Target, signin bool) *surrealdb.DB {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	db, err := surrealdb.FromEndpointURLString(ctx, tg.URL)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { _ = db.Close(context.Background()) })
	if signin {
		if _, err := db.SignIn(ctx, surrealdb.Auth{Username: tg.Username, Password: tg.Password}); err != nil {
			t.Fatalf("signin: %v", err)
		}
	}
	if err := db.Use(ctx, tg.Namespace, tg.Database); err != nil {
		t.Fatalf("use: %v", err)
	}
	return db
}

func TestHTTPEndpoints(t *testing.T) {
	tg := surrealpeer.ForTest(t)
	if tg.Peer == nil {
		t.Skip("external server: HTTP endpoints of the peer not under test")
	}
	base := "http://" + tg.Peer.Addr()
	resp, err := http.Get(base + "/health")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/health = %d", resp.StatusCode)
	}
	resp, err = http.Get(base + "/version")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.HasPrefix(string(body), "surrealdb-3.") {
		t.Fatalf("/version = %q", body)
	}
}

func TestCRUDQueryThroughClient(t *testing.T) {
	tg := surrealpeer.ForTest(t)
	db := connect(t, tg, true)
	ctx := context.Background()

	created, err := surrealdb.Create[person](ctx, db, models.NewRecordID("person", "ada"), person{Name: "Ada", Age: 36.5})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if created.Name != "Ada" || created.ID == nil || created.ID.ID != "ada" {
		t.Fatalf("create returned %+v", created)
	}
	got, err := surrealdb.Select[person](ctx, db, models.NewRecordID("person", "ada"))
	if err != nil {
		t.Fatalf("select: %v", err)
	}
	if got.Name != "Ada" || got.Age != 36.5 {
		t.Fatalf("select returned %+v", got)
	}
	res, err := surrealdb.Query[[]person](ctx, db, "SELECT * FROM person WHERE age > $min", map[string]any{"min": 30})
	if err != nil {
		t.Fatalf("query: %v", err)
	}
	if len(*res) != 1 || len((*res)[0].Result) != 1 || (*res)[0].Result[0].Name != "Ada" {
		t.Fatalf("query returned %+v", res)
	}
	// A float that happens to be whole must stay a float through the peer.
	if _, err := surrealdb.Query[any](ctx, db, "DEFINE TABLE f SCHEMAFULL; DEFINE FIELD x ON f TYPE float; CREATE f:1 SET x = $x", map[string]any{"x": 2.0}); err != nil {
		t.Fatalf("float field: %v", err)
	}
}

func TestTransaction(t *testing.T) {
	tg := surrealpeer.ForTest(t)
	db := connect(t, tg, true)
	ctx := context.Background()

	if _, err := surrealdb.Query[any](ctx, db, "DEFINE TABLE person SCHEMALESS", nil); err != nil {
		t.Fatal(err)
	}
	tx, err := db.Begin(ctx)
	if err != nil {
		t.Fatalf("begin: %v", err)
	}
	if _, err := surrealdb.Create[person](ctx, tx, models.NewRecordID("person", "tx1"), person{Name: "In tx"}); err != nil {
		t.Fatalf("create in tx: %v", err)
	}
	if err := tx.Cancel(ctx); err != nil {
		t.Fatalf("cancel: %v", err)
	}
	res, err := surrealdb.Query[[]person](ctx, db, "SELECT * FROM person:tx1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := len((*res)[0].Result); n != 0 {
		t.Fatalf("cancelled create visible: %d rows", n)
	}

	tx, err = db.Begin(ctx)
	if err != nil {
		t.Fatalf("begin: %v", err)
	}
	if _, err := surrealdb.Create[person](ctx, tx, models.NewRecordID("person", "tx2"), person{Name: "Committed"}); err != nil {
		t.Fatalf("create in tx: %v", err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatalf("commit: %v", err)
	}
	got, err := surrealdb.Select[person](ctx, db, models.NewRecordID("person", "tx2"))
	if err != nil || got == nil || got.Name != "Committed" {
		t.Fatalf("committed record: %+v, %v", got, err)
	}
}

func TestLiveQuery(t *testing.T) {
	tg := surrealpeer.ForTest(t)
	db := connect(t, tg, true)
	ctx := context.Background()
	if _, err := surrealdb.Query[any](ctx, db, "DEFINE TABLE person SCHEMALESS", nil); err != nil {
		t.Fatal(err)
	}
	id, err := surrealdb.Live(ctx, db, models.Table("person"), false)
	if err != nil {
		t.Fatalf("live: %v", err)
	}
	ch, err := db.LiveNotifications(id.String())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := surrealdb.Create[person](ctx, db, models.NewRecordID("person", "live1"), person{Name: "Live"}); err != nil {
		t.Fatal(err)
	}
	select {
	case n := <-ch:
		if n.Action != connection.CreateAction {
			t.Fatalf("action = %s", n.Action)
		}
		m, ok := n.Result.(map[string]any)
		if !ok || m["name"] != "Live" {
			t.Fatalf("notification result %#v", n.Result)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no live notification within 5s")
	}
	if err := surrealdb.Kill(ctx, db, id.String()); err != nil {
		t.Fatalf("kill: %v", err)
	}
}

func TestRefusedBeforeSignin(t *testing.T) {
	tg := surrealpeer.ForTest(t)
	db := connect(t, tg, false)
	ctx := context.Background()
	_, err := surrealdb.Query[any](ctx, db, "CREATE person:anon", nil)
	if err == nil {
		t.Fatal("query before signin succeeded")
	}
	_, err = db.SignIn(ctx, surrealdb.Auth{Username: tg.Username, Password: tg.Password + "x"})
	if err == nil {
		t.Fatal("signin with a wrong password succeeded")
	}
	if _, err := surrealdb.Query[any](ctx, db, "RETURN 1", nil); err == nil {
		t.Fatal("query after failed signin succeeded")
	}
}

func TestSessionsAreIsolated(t *testing.T) {
	tg := surrealpeer.ForTest(t)
	a := connect(t, tg, true)
	b := connect(t, tg, true)
	ctx := context.Background()
	if err := b.Use(ctx, tg.Namespace, "other"); err != nil {
		t.Fatal(err)
	}
	if _, err := surrealdb.Create[person](ctx, a, models.NewRecordID("person", "x"), person{Name: "A"}); err != nil {
		t.Fatal(err)
	}
	res, err := surrealdb.Query[[]person](ctx, b, "SELECT * FROM person", nil)
	if err == nil && len((*res)[0].Result) != 0 {
		t.Fatalf("connection b (db other) sees a's record: %+v", (*res)[0].Result)
	}
}

func TestRestartKeepsDataWithDataDir(t *testing.T) {
	p := surrealpeer.Private(t, surrealpeer.Config{DataDir: t.TempDir()})
	tg := surrealpeer.Target{URL: p.URL(), Username: p.Username(), Password: p.Password(), Namespace: "n", Database: "d"}
	db := connect(t, tg, true)
	ctx := context.Background()
	if _, err := surrealdb.Create[person](ctx, db, models.NewRecordID("person", "keep"), person{Name: "Kept"}); err != nil {
		t.Fatal(err)
	}
	if err := p.Restart(ctx); err != nil {
		t.Fatalf("restart: %v", err)
	}
	db2 := connect(t, tg, true)
	got, err := surrealdb.Select[person](ctx, db2, models.NewRecordID("person", "keep"))
	if err != nil || got == nil || got.Name != "Kept" {
		t.Fatalf("after restart: %+v, %v", got, err)
	}
}

// TestRawProtocol speaks the wire protocol directly: the subprotocol, the
// reply envelope, ping and the refusal of data methods before signin.
func TestRawProtocol(t *testing.T) {
	tg := surrealpeer.ForTest(t)
	dialer := websocket.Dialer{Subprotocols: []string{"cbor"}}
	ws, _, err := dialer.Dial(tg.URL+"/rpc", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	if ws.Subprotocol() != "cbor" {
		t.Fatalf("subprotocol = %q", ws.Subprotocol())
	}
	roundTrip := func(req map[string]any) map[string]any {
		t.Helper()
		b, err := cbor.Marshal(req)
		if err != nil {
			t.Fatal(err)
		}
		if err := ws.WriteMessage(websocket.BinaryMessage, b); err != nil {
			t.Fatal(err)
		}
		_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, data, err := ws.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		var reply map[string]any
		if err := cbor.Unmarshal(data, &reply); err != nil {
			t.Fatal(err)
		}
		return reply
	}
	if r := roundTrip(map[string]any{"id": "p1", "method": "ping", "params": []any{}}); r["id"] != "p1" || r["error"] != nil {
		t.Fatalf("ping reply %v", r)
	}
	r := roundTrip(map[string]any{"id": "q1", "method": "query", "params": []any{"RETURN 1", map[string]any{}}})
	errMap, ok := r["error"].(map[any]any)
	if r["id"] != "q1" || !ok || errMap["code"] == nil {
		t.Fatalf("query before signin: reply %v, want an error", r)
	}
	if r := roundTrip(map[string]any{"id": "s1", "method": "signin", "params": []any{map[string]any{"user": tg.Username, "pass": tg.Password}}}); r["error"] != nil {
		t.Fatalf("signin: %v", r)
	}
	r = roundTrip(map[string]any{"id": 7, "method": "query", "params": []any{"RETURN 40 + 2", map[string]any{}}})
	res, ok := r["result"].([]any)
	if r["id"] != uint64(7) || !ok || len(res) != 1 {
		t.Fatalf("query reply %v", r)
	}
	if first, _ := res[0].(map[any]any); first["result"] != uint64(42) {
		t.Fatalf("query result %v", res[0])
	}
}
