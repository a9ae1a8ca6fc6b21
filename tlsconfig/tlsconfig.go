package tlsconfig

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// Files names the PEM files of a client TLS configuration. The zero value
// means "no TLS settings". Certificate verification is never turned off.
type Files struct {
	// CAFile holds the CA certificates that sign the server's certificate.
	// Empty means the system's trust store.
	CAFile string
	// CertFile and KeyFile hold the client certificate (with its chain) and
	// its private key, for servers that require client certificates. Both or
	// neither.
	CertFile, KeyFile string
	// ServerName is the name (or IP address) the server's certificate must
	// carry. Empty means the host the client dials.
	ServerName string
}

// Enabled reports whether any field is set.
func (f Files) Enabled() bool {
	return f.CAFile != "" || f.CertFile != "" || f.KeyFile != "" || f.ServerName != ""
}

// ErrConfig is matched by every error of Client.
var ErrConfig = errors.New("tlsconfig: bad TLS configuration")

// Client returns a TLS 1.2+ client configuration that verifies the server
// against CAFile (or the system pool) under ServerName, or defaultServerName
// when ServerName is empty. The CA file is read now; the client certificate
// is read now (to fail early) and again on every handshake.
func (f Files) Client(defaultServerName string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: f.ServerName}
	if cfg.ServerName == "" {
		cfg.ServerName = defaultServerName
	}
	if f.CAFile != "" {
		pem, err := os.ReadFile(f.CAFile)
		if err != nil {
			return nil, fmt.Errorf("%w: CA file: %w", ErrConfig, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%w: CA file %s holds no PEM certificate", ErrConfig, f.CAFile)
		}
		cfg.RootCAs = pool
	}
	switch {
	case f.CertFile == "" && f.KeyFile == "":
	case f.CertFile == "" || f.KeyFile == "":
		return nil, fmt.Errorf("%w: a client certificate needs both a certificate file and a key file", ErrConfig)
	default:
		if _, err := f.loadPair(); err != nil {
			return nil, err
		}
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return f.loadPair()
		}
	}
	return cfg, nil
}

func (f Files) loadPair() (*tls.Certificate, error) {
	c, err := tls.LoadX509KeyPair(f.CertFile, f.KeyFile)
	if err != nil {
		// LoadX509KeyPair's errors name files and PEM block types, never key bytes.
		return nil, fmt.Errorf("%w: client certificate %s / key %s: %w", ErrConfig, f.CertFile, f.KeyFile, err)
	}
	return &c, nil
}
