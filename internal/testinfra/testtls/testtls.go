// Package testtls makes a throwaway certificate authority for TLS tests: a
// CA, a server certificate for 127.0.0.1/::1/localhost and a client
// certificate, written as PEM files.
package testtls

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// PKI is a CA with one server and one client certificate on disk.
type PKI struct {
	Dir                   string
	CAFile                string
	ServerCert, ServerKey string
	ClientCert, ClientKey string
	OtherCAFile           string // a second, unrelated CA: trusting it must fail

	caKey  *ecdsa.PrivateKey
	caCert *x509.Certificate
}

// New writes a fresh PKI into a new directory. clientCN is the client
// certificate's common name (PostgreSQL's cert auth maps it to a role).
// When this process is root, the directory and server files are handed to
// OS user serverUser (if it exists), so a server running as that user can
// read them; PostgreSQL also insists that its key is not group readable.
func New(t testing.TB, clientCN, serverUser string) *PKI {
	t.Helper()
	dir, err := os.MkdirTemp("", "testtls-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p := &PKI{
		Dir: dir, CAFile: filepath.Join(dir, "ca.crt"), OtherCAFile: filepath.Join(dir, "other-ca.crt"),
		ServerCert: filepath.Join(dir, "server.crt"), ServerKey: filepath.Join(dir, "server.key"),
		ClientCert: filepath.Join(dir, "client.crt"), ClientKey: filepath.Join(dir, "client.key"),
	}
	caKey, caCert, caDER := newCA(t, "datalayer test CA")
	p.caKey, p.caCert = caKey, caCert
	write(t, p.CAFile, "CERTIFICATE", caDER, 0o644)
	_, _, otherDER := newCA(t, "unrelated CA")
	write(t, p.OtherCAFile, "CERTIFICATE", otherDER, 0o644)

	leaf := func(cn string, usage x509.ExtKeyUsage, server bool) ([]byte, []byte) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		tmpl := &x509.Certificate{
			SerialNumber: serial(t),
			Subject:      pkix.Name{CommonName: cn},
			NotBefore:    time.Now().Add(-time.Hour),
			NotAfter:     time.Now().Add(24 * time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{usage},
		}
		if server {
			tmpl.DNSNames = []string{"localhost"}
			tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kder, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		return der, kder
	}
	der, kder := leaf("localhost", x509.ExtKeyUsageServerAuth, true)
	write(t, p.ServerCert, "CERTIFICATE", der, 0o644)
	write(t, p.ServerKey, "PRIVATE KEY", kder, 0o600)
	p.WriteClient(t, clientCN, p.ClientCert, p.ClientKey)

	if os.Geteuid() == 0 && serverUser != "" {
		if u, err := user.Lookup(serverUser); err == nil {
			uid, _ := strconv.Atoi(u.Uid)
			gid, _ := strconv.Atoi(u.Gid)
			for _, f := range []string{p.ServerCert, p.ServerKey, p.CAFile} {
				if err := os.Chown(f, uid, gid); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	return p
}

// WriteClient issues a new client certificate with common name cn from the
// PKI's CA and writes it and its key to certFile and keyFile (replacing them:
// a certificate rotation).
func (p *PKI) WriteClient(t testing.TB, cn, certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(t),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.caCert, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	write(t, certFile, "CERTIFICATE", der, 0o644)
	write(t, keyFile, "PRIVATE KEY", kder, 0o600)
}

func newCA(t testing.TB, cn string) (*ecdsa.PrivateKey, *x509.Certificate, []byte) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(t),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return key, cert, der
}

func serial(t testing.TB) *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func write(t testing.TB, path, typ string, der []byte, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), mode); err != nil {
		t.Fatal(err)
	}
}
