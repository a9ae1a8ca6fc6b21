package surrealpeer_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/agentical/datalayer/internal/testinfra/surrealpeer"
)

// /export and /import behave like a real server's: Basic auth as root,
// Surreal-NS/Surreal-DB headers, SurrealQL text both ways.
func TestExportImport(t *testing.T) {
	tg := surrealpeer.ForTest(t)
	if tg.Peer == nil {
		t.Skip("external server: HTTP endpoints of the peer not under test")
	}
	base := "http://" + tg.Peer.Addr()
	do := func(path, db, pass, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, base+path, strings.NewReader(body))
		req.SetBasicAuth(tg.Username, pass)
		req.Header.Set("Surreal-NS", tg.Namespace)
		req.Header.Set("Surreal-DB", db)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := do("/import", "a", tg.Password, "DEFINE TABLE item SCHEMAFULL; DEFINE FIELD n ON item TYPE int; CREATE item:1 SET n = 7;"); code != 200 {
		t.Fatalf("import: %d", code)
	}
	code, dump := do("/export", "a", tg.Password, "")
	if code != 200 || !strings.Contains(dump, "DEFINE FIELD n ON item TYPE int") || !strings.Contains(dump, "id: item:1") {
		t.Fatalf("export: %d\n%s", code, dump)
	}
	// The export imports into another database and exports the same.
	if code, body := do("/import", "b", tg.Password, dump); code != 200 {
		t.Fatalf("re-import: %d %s", code, body)
	}
	if code, again := do("/export", "b", tg.Password, "{}"); code != 200 || again != dump {
		t.Fatalf("re-export differs (%d):\n%s\n---\n%s", code, again, dump)
	}
	if code, _ := do("/export", "a", "wrong", ""); code != 401 {
		t.Fatalf("export with a wrong password: %d, want 401", code)
	}
	if code, body := do("/import", "c", tg.Password, "CREATE item:1 SET n = ;"); code != 400 || !strings.Contains(body, "Parse error") {
		t.Fatalf("bad SurrealQL: %d %s", code, body)
	}
}
