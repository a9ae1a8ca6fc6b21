package tlsconfig_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/url"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/agentical/datalayer/cache"
	"github.com/agentical/datalayer/config"
	"github.com/agentical/datalayer/internal/devserver"
	"github.com/agentical/datalayer/internal/testinfra"
	"github.com/agentical/datalayer/internal/testinfra/surrealpeer"
	"github.com/agentical/datalayer/internal/testinfra/testtls"
	"github.com/agentical/datalayer/postgres"
	"github.com/agentical/datalayer/surreal"
)

func TestMain(m *testing.M) { testinfra.Main(m) }

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func load(t testing.TB, vars map[string]string) config.Config {
	t.Helper()
	vars["DATABASE_URL"] = firstNonEmpty(vars["DATABASE_URL"], "postgres://u@127.0.0.1:1/db")
	c, err := config.FromMap(vars)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// PostgreSQL with ssl=on and a certificate from the test's CA, configured
// through DB_TLS_* variables.
func TestPostgresTLSFromEnvironment(t *testing.T) {
	pki := testtls.New(t, "postgres", "postgres")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv, err := devserver.StartPostgres(ctx, devserver.PostgresConfig{MaxConnections: 20, Settings: map[string]string{
		"ssl": "on", "ssl_cert_file": pki.ServerCert, "ssl_key_file": pki.ServerKey, "ssl_ca_file": pki.CAFile,
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Stop(context.Background()) })
	c := load(t, map[string]string{
		"DATABASE_URL": srv.DSN(), "DB_TLS_CA_FILE": pki.CAFile,
		"DB_TLS_CERT_FILE": pki.ClientCert, "DB_TLS_KEY_FILE": pki.ClientKey, "DB_TLS_SERVER_NAME": "localhost",
	})
	pool, err := postgres.NewPool(ctx, c.DB())
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var ssl bool
	var dn string
	if err := pool.QueryRow(ctx, "SELECT ssl, coalesce(client_dn, '') FROM pg_stat_ssl WHERE pid = pg_backend_pid()").Scan(&ssl, &dn); err != nil {
		t.Fatal(err)
	}
	if !ssl || dn != "/CN=postgres" {
		t.Fatalf("ssl=%v client_dn=%q", ssl, dn)
	}
}

// rediss:// with a private CA (REDIS_TLS_CA_FILE) and a client certificate
// against redis-server --tls-port, which requires client certificates.
func TestRedisTLSWithPrivateCA(t *testing.T) {
	pki := testtls.New(t, "redis-client", "")
	port := freePort(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv, err := devserver.StartRedis(ctx, devserver.RedisConfig{Args: []string{
		"--tls-port", strconv.Itoa(port), "--tls-cert-file", pki.ServerCert, "--tls-key-file", pki.ServerKey,
		"--tls-ca-cert-file", pki.CAFile, "--tls-auth-clients", "yes",
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Stop(context.Background()) })
	url := "rediss://127.0.0.1:" + strconv.Itoa(port) + "/0"

	ping := func(vars map[string]string) error {
		vars["REDIS_URL"] = url
		c := load(t, vars)
		cc, err := c.Cache("v1")
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		client, err := cache.NewClient(ctx, cc)
		if err != nil {
			return err
		}
		defer client.Close()
		return client.Do(ctx, client.B().Set().Key("tls-test").Value("ok").Build()).Error()
	}
	if err := ping(map[string]string{"REDIS_TLS_CA_FILE": pki.CAFile, "REDIS_TLS_CERT_FILE": pki.ClientCert, "REDIS_TLS_KEY_FILE": pki.ClientKey}); err != nil {
		t.Fatalf("TLS with the private CA and a client certificate: %v", err)
	}
	if err := ping(map[string]string{"REDIS_TLS_CERT_FILE": pki.ClientCert, "REDIS_TLS_KEY_FILE": pki.ClientKey}); err == nil {
		t.Error("connected although the server's CA is not trusted (system CAs only)")
	}
	if err := ping(map[string]string{"REDIS_TLS_CA_FILE": pki.OtherCAFile, "REDIS_TLS_CERT_FILE": pki.ClientCert, "REDIS_TLS_KEY_FILE": pki.ClientKey}); err == nil {
		t.Error("connected while trusting an unrelated CA")
	}
	if err := ping(map[string]string{"REDIS_TLS_CA_FILE": pki.CAFile}); err == nil {
		t.Error("connected without the client certificate the server requires")
	}
}

// SurrealDB behind a TLS terminator that requires client certificates:
// wss:// with SURREALDB_TLS_* (the test peer itself speaks plain ws).
func TestSurrealTLSWithPrivateCA(t *testing.T) {
	pki := testtls.New(t, "surreal-client", "")
	tg := surrealpeer.ForTest(t)
	backend, err := url.Parse(tg.URL)
	if err != nil {
		t.Fatal(err)
	}
	front := tlsTerminator(t, pki, backend.Host)
	ctx := context.Background()
	open := func(vars map[string]string) error {
		vars["SURREALDB_URL"] = "wss://" + front
		vars["SURREALDB_USERNAME"], vars["SURREALDB_PASSWORD"] = tg.Username, tg.Password
		vars["SURREALDB_NAMESPACE"], vars["SURREALDB_DATABASE"] = tg.Namespace, tg.Database
		sc := load(t, vars).SurrealStore()
		sc.DialTimeout = 3 * time.Second
		s, err := surreal.Open(ctx, sc)
		if err != nil {
			return err
		}
		defer s.Close(ctx)
		return s.Health(ctx)
	}
	if err := open(map[string]string{"SURREALDB_TLS_CA_FILE": pki.CAFile, "SURREALDB_TLS_CERT_FILE": pki.ClientCert, "SURREALDB_TLS_KEY_FILE": pki.ClientKey}); err != nil {
		t.Fatalf("wss with the private CA: %v", err)
	}
	if err := open(map[string]string{"SURREALDB_TLS_CA_FILE": pki.OtherCAFile, "SURREALDB_TLS_CERT_FILE": pki.ClientCert, "SURREALDB_TLS_KEY_FILE": pki.ClientKey}); err == nil {
		t.Error("connected while trusting an unrelated CA")
	}
	if err := open(map[string]string{"SURREALDB_TLS_CA_FILE": pki.CAFile}); err == nil {
		t.Error("connected without the client certificate the terminator requires")
	}
}

// tlsTerminator accepts TLS (server certificate from pki, client
// certificates required) and forwards plaintext to backend.
func tlsTerminator(t testing.TB, pki *testtls.PKI, backend string) string {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(pki.ServerCert, pki.ServerKey)
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(pki.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{cert}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert,
		MinVersion: tls.VersionTLS12,
	})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { l.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				b, err := net.Dial("tcp", backend)
				if err != nil {
					return
				}
				defer b.Close()
				done := make(chan struct{}, 2)
				go func() { _, _ = io.Copy(b, c); done <- struct{}{} }()
				go func() { _, _ = io.Copy(c, b); done <- struct{}{} }()
				<-done
			})
		}
	})
	return l.Addr().String()
}
