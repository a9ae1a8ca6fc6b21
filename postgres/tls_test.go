package postgres_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/agentical/datalayer/internal/testinfra/testtls"
	"github.com/agentical/datalayer/postgres"
	"github.com/agentical/datalayer/tlsconfig"
)

// TLS from configuration (issue 11, item 8): a server with a certificate
// from a private CA, verified by the pool, with a client certificate.
func TestTLSWithPrivateCA(t *testing.T) {
	pki := testtls.New(t, "postgres", "postgres")
	srv := privateServer(t, map[string]string{
		"ssl": "on", "ssl_cert_file": pki.ServerCert, "ssl_key_file": pki.ServerKey, "ssl_ca_file": pki.CAFile,
	})
	ctx := context.Background()
	files := tlsconfig.Files{CAFile: pki.CAFile, CertFile: pki.ClientCert, KeyFile: pki.ClientKey}
	pool := openPool(t, postgres.Config{URL: srv.DSN(), TLS: files}) // the DSN says sslmode=disable: TLS wins
	var ssl bool
	var dn, version string
	err := pool.QueryRow(ctx, "SELECT ssl, coalesce(client_dn, ''), version FROM pg_stat_ssl WHERE pid = pg_backend_pid()").Scan(&ssl, &dn, &version)
	if err != nil {
		t.Fatal(err)
	}
	if !ssl || dn != "/CN=postgres" {
		t.Fatalf("ssl=%v client_dn=%q: want TLS with the client certificate", ssl, dn)
	}
	t.Logf("TLS %s, client %s", version, dn)

	for name, bad := range map[string]tlsconfig.Files{
		"unrelated CA":       {CAFile: pki.OtherCAFile},
		"wrong server name":  {CAFile: pki.CAFile, ServerName: "db.example.com"},
		"system CAs only":    {ServerName: "localhost"},
		"missing key file":   {CAFile: pki.CAFile, CertFile: pki.ClientCert},
		"unreadable CA file": {CAFile: pki.Dir + "/nope.crt"},
	} {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		p, err := postgres.NewPool(ctx, postgres.Config{URL: srv.DSN(), TLS: bad})
		cancel()
		if err == nil {
			p.Close()
			t.Errorf("%s: connected, want a refusal", name)
			continue
		}
		if !strings.Contains(err.Error(), "postgres:") {
			t.Errorf("%s: error without package prefix: %v", name, err)
		}
	}
}

// A rotated client certificate (new files, same paths) is used by the next
// connection without rebuilding the pool.
func TestTLSClientCertificateRotation(t *testing.T) {
	pki := testtls.New(t, "first-client", "postgres")
	srv := privateServer(t, map[string]string{
		"ssl": "on", "ssl_cert_file": pki.ServerCert, "ssl_key_file": pki.ServerKey, "ssl_ca_file": pki.CAFile,
	})
	ctx := context.Background()
	pool := openPool(t, postgres.Config{URL: srv.DSN(), MaxConns: 1,
		TLS: tlsconfig.Files{CAFile: pki.CAFile, CertFile: pki.ClientCert, KeyFile: pki.ClientKey}})
	dn := func() string {
		t.Helper()
		var s string
		if err := pool.QueryRow(ctx, "SELECT coalesce(client_dn, '') FROM pg_stat_ssl WHERE pid = pg_backend_pid()").Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	if got := dn(); got != "/CN=first-client" {
		t.Fatalf("client_dn %q", got)
	}
	pki.WriteClient(t, "second-client", pki.ClientCert, pki.ClientKey)
	pool.Reset() // close the pooled connection: the next one handshakes again
	if got := dn(); got != "/CN=second-client" {
		t.Fatalf("after rotating the certificate files, client_dn %q", got)
	}
}
