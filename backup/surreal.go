package backup

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/agentical/datalayer/internal/redact"
)

// surrealHTTP returns the HTTP base URL of the configured SurrealDB
// endpoint: ws→http, wss→https, a trailing /rpc removed.
func (m *Manager) surrealHTTP(path string) (string, error) {
	u, err := url.Parse(m.cfg.SurrealURL)
	if err != nil {
		return "", fmt.Errorf("%w: SURREALDB_URL %s does not parse", ErrConfig, redact.DSN(m.cfg.SurrealURL))
	}
	switch u.Scheme {
	case "ws":
		u.Scheme = "http"
	case "wss":
		u.Scheme = "https"
	case "http", "https":
	default:
		return "", fmt.Errorf("%w: SURREALDB_URL scheme %q: want ws, wss, http or https", ErrConfig, u.Scheme)
	}
	u.User = nil
	u.Path = strings.TrimSuffix(strings.TrimSuffix(u.Path, "/"), "/rpc") + path
	return u.String(), nil
}

// surrealDo sends one request to the SurrealDB HTTP API as the configured
// user, on namespace ns and database db.
func (m *Manager) surrealDo(ctx context.Context, method, path, db string, body io.Reader) (*http.Response, error) {
	contentType := "text/plain" // /import takes SurrealQL
	if path == "/export" {
		contentType = "application/json" // export options
	}
	u, err := m.surrealHTTP(path)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, fmt.Errorf("backup: surrealdb %s: %w", path, err)
	}
	req.SetBasicAuth(m.cfg.SurrealUser, m.cfg.SurrealPassword)
	req.Header.Set("Surreal-NS", m.cfg.SurrealNamespace)
	req.Header.Set("Surreal-DB", db)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Content-Type", contentType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("backup: surrealdb %s: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		return nil, fmt.Errorf("backup: surrealdb %s %s/%s: HTTP %d: %s", path, m.cfg.SurrealNamespace, db, resp.StatusCode, strings.TrimSpace(string(b)))
	}
	return resp, nil
}

func (m *Manager) surrealVersion(ctx context.Context) string {
	u, err := m.surrealHTTP("/version")
	if err != nil {
		return "unknown"
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "unknown"
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	return strings.TrimSpace(string(b))
}

// exportSurreal streams the SurrealDB export of the configured database
// into an artifact.
func (m *Manager) exportSurreal(ctx context.Context, man *Manifest) error {
	if m.cfg.SurrealNamespace == "" || m.cfg.SurrealDatabase == "" {
		return fmt.Errorf("%w: SURREALDB_NAMESPACE and SURREALDB_DATABASE are required to back up SurrealDB", ErrConfig)
	}
	resp, err := m.surrealDo(ctx, http.MethodPost, "/export", m.cfg.SurrealDatabase, bytes.NewReader([]byte("{}")))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	a, err := m.put(ctx, "surrealdb.surql", StoreSurreal, backupsPrefix+man.ID+"/surrealdb.surql"+m.codec.suffix(), resp.Body, -1)
	if err != nil {
		return err
	}
	man.Artifacts = append(man.Artifacts, a)
	man.Stores = append(man.Stores, StoreSurreal)
	v := m.surrealVersion(ctx)
	man.Tools["surrealdb"] = v
	man.Surreal = &SurrealInfo{Namespace: m.cfg.SurrealNamespace, Database: m.cfg.SurrealDatabase, Version: v}
	return nil
}

// importSurreal applies the export in file to database db.
func (m *Manager) importSurreal(ctx context.Context, file, db string) error {
	f, err := os.Open(file)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	defer f.Close()
	resp, err := m.surrealDo(ctx, http.MethodPost, "/import", db, f)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// exportSurrealTo writes the export of database db into w.
func (m *Manager) exportSurrealTo(ctx context.Context, db string, w io.Writer) error {
	resp, err := m.surrealDo(ctx, http.MethodPost, "/export", db, bytes.NewReader([]byte("{}")))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(w, resp.Body); err != nil {
		return fmt.Errorf("backup: surrealdb export %s: %w", db, err)
	}
	return nil
}

// removeSurrealDB removes database db of the configured namespace.
func (m *Manager) removeSurrealDB(ctx context.Context, db string) error {
	stmt := "REMOVE DATABASE IF EXISTS " + surrealIdent(db) + ";"
	resp, err := m.surrealDo(ctx, http.MethodPost, "/import", db, strings.NewReader(stmt))
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

func surrealIdent(s string) string {
	return "`" + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), "`", "\\`") + "`"
}
