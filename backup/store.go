package backup

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"filippo.io/age"
	"github.com/klauspost/compress/zstd"
	"gocloud.dev/blob"
	_ "gocloud.dev/blob/fileblob" // file:// URLs
	_ "gocloud.dev/blob/gcsblob"  // gs:// URLs
	_ "gocloud.dev/blob/s3blob"   // s3:// URLs
	"gocloud.dev/gcerrors"

	"github.com/agentical/datalayer/internal/redact"
)

// openBucket opens the configured storage URL.
func openBucket(ctx context.Context, rawURL string) (*blob.Bucket, error) {
	if u, err := url.Parse(rawURL); err == nil && u.Scheme == "file" && u.Path != "" {
		if err := os.MkdirAll(filepath.FromSlash(u.Path), 0o750); err != nil {
			return nil, fmt.Errorf("%w: BACKUP_URL %s: %v", ErrConfig, rawURL, err)
		}
	}
	b, err := blob.OpenBucket(ctx, rawURL)
	if err != nil {
		return nil, fmt.Errorf("%w: BACKUP_URL %s: %v", ErrConfig, redact.DSN(rawURL), redact.Error(err, rawURL))
	}
	return b, nil
}

// codec turns plain bytes into stored bytes and back.
type codec struct {
	compression string
	level       zstd.EncoderLevel
	recipients  []age.Recipient
	identities  []age.Identity
	encryption  string
}

func newCodec(cfg Config) (*codec, error) {
	c := &codec{compression: cfg.Compression, level: zstd.EncoderLevel(cfg.CompressionLevel), encryption: "none"}
	switch {
	case cfg.PassphraseFile != "":
		pass, err := readPassphrase(cfg.PassphraseFile)
		if err != nil {
			return nil, err
		}
		r, err := age.NewScryptRecipient(pass)
		if err != nil {
			return nil, fmt.Errorf("%w: BACKUP_PASSPHRASE_FILE: %v", ErrConfig, err)
		}
		if cfg.PassphraseWorkFactor > 0 {
			r.SetWorkFactor(cfg.PassphraseWorkFactor)
		}
		id, err := age.NewScryptIdentity(pass)
		if err != nil {
			return nil, fmt.Errorf("%w: BACKUP_PASSPHRASE_FILE: %v", ErrConfig, err)
		}
		c.recipients, c.identities, c.encryption = []age.Recipient{r}, []age.Identity{id}, "age-scrypt"
	case len(cfg.AgeRecipients) > 0:
		for i, s := range cfg.AgeRecipients {
			r, err := age.ParseX25519Recipient(strings.TrimSpace(s))
			if err != nil {
				return nil, fmt.Errorf("%w: BACKUP_AGE_RECIPIENTS item %d: %v", ErrConfig, i+1, err)
			}
			c.recipients = append(c.recipients, r)
		}
		c.encryption = "age-x25519"
	}
	if cfg.AgeIdentityFile != "" {
		f, err := os.Open(cfg.AgeIdentityFile)
		if err != nil {
			return nil, fmt.Errorf("%w: BACKUP_AGE_IDENTITY_FILE: %v", ErrConfig, err)
		}
		ids, err := age.ParseIdentities(f)
		f.Close()
		if err != nil {
			// age's parse errors never quote the key material.
			return nil, fmt.Errorf("%w: BACKUP_AGE_IDENTITY_FILE %s: %v", ErrConfig, cfg.AgeIdentityFile, err)
		}
		c.identities = append(c.identities, ids...)
	}
	return c, nil
}

func readPassphrase(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%w: BACKUP_PASSPHRASE_FILE: %v", ErrConfig, err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	line = strings.TrimRight(line, "\r")
	if line == "" {
		return "", fmt.Errorf("%w: BACKUP_PASSPHRASE_FILE %s: first line is empty", ErrConfig, path)
	}
	return line, nil
}

// suffix is the key suffix of artifacts written with this codec.
func (c *codec) suffix() string {
	s := ""
	if c.compression == CompressionZstd {
		s += ".zst"
	}
	if len(c.recipients) > 0 {
		s += ".age"
	}
	return s
}

// hashCounter hashes and counts what passes through.
type hashCounter struct {
	h hash.Hash
	n int64
}

func newHashCounter() *hashCounter { return &hashCounter{h: sha256.New()} }

func (hc *hashCounter) Write(p []byte) (int, error) {
	hc.h.Write(p)
	hc.n += int64(len(p))
	return len(p), nil
}

func (hc *hashCounter) sum() string { return hex.EncodeToString(hc.h.Sum(nil)) }

// progressWriter reports plain bytes to Config.Progress.
type progressWriter struct {
	fn       func(ProgressEvent)
	ev       ProgressEvent
	reported int64
}

func (p *progressWriter) Write(b []byte) (int, error) {
	p.ev.Bytes += int64(len(b))
	if p.fn != nil && p.ev.Bytes-p.reported >= 1<<20 {
		p.reported = p.ev.Bytes
		p.fn(p.ev)
	}
	return len(b), nil
}

func (p *progressWriter) done() {
	if p.fn != nil {
		p.ev.Done = true
		p.fn(p.ev)
	}
}

// put stores src under key through compression and encryption, returning
// the artifact's sizes and checksums. A failed put leaves no object: the
// blob write is aborted by cancelling its context.
func (m *Manager) put(ctx context.Context, name, store, key string, src io.Reader, total int64) (Artifact, error) {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	bw, err := m.bucket.NewWriter(wctx, key, &blob.WriterOptions{ContentType: "application/octet-stream", BufferSize: 8 << 20})
	if err != nil {
		return Artifact{}, fmt.Errorf("backup: write %s: %w", key, err)
	}
	stored := newHashCounter()
	var top io.Writer = io.MultiWriter(bw, stored)
	var closers []io.Closer
	if len(m.codec.recipients) > 0 {
		aw, err := age.Encrypt(top, m.codec.recipients...)
		if err != nil {
			cancel()
			_ = bw.Close()
			return Artifact{}, fmt.Errorf("backup: encrypt %s: %w", key, err)
		}
		top = aw
		closers = append(closers, aw)
	}
	if m.codec.compression == CompressionZstd {
		zw, err := zstd.NewWriter(top, zstd.WithEncoderLevel(m.codec.level), zstd.WithEncoderConcurrency(2))
		if err != nil {
			cancel()
			_ = bw.Close()
			return Artifact{}, fmt.Errorf("backup: compress %s: %w", key, err)
		}
		top = zw
		closers = append(closers, zw)
	}
	raw := newHashCounter()
	pw := &progressWriter{fn: m.cfg.Progress, ev: ProgressEvent{Op: "upload", Artifact: name, Total: total}}
	_, err = io.Copy(top, io.TeeReader(src, io.MultiWriter(raw, pw)))
	for i := len(closers) - 1; i >= 0; i-- {
		// Close every layer even after an error: the zstd encoder's
		// goroutines end only on Close.
		if cerr := closers[i].Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		cancel() // abort the upload: no partial object
		_ = bw.Close()
		return Artifact{}, fmt.Errorf("backup: write %s: %w", key, err)
	}
	if err := bw.Close(); err != nil {
		return Artifact{}, fmt.Errorf("backup: write %s: %w", key, err)
	}
	pw.done()
	return Artifact{Name: name, Store: store, Key: key, Size: stored.n, SHA256: stored.sum(), RawSize: raw.n, RawSHA256: raw.sum()}, nil
}

// get streams artifact a's plain bytes into dst and checks sizes and
// checksums of both the stored and the plain bytes. On any error dst may
// hold a prefix of the data: callers write to a scratch file and discard
// it. Errors wrap ErrCorrupt or ErrDecrypt.
func (m *Manager) get(ctx context.Context, a Artifact, dst io.Writer) error {
	br, err := m.bucket.NewReader(ctx, a.Key, nil)
	if err != nil {
		if gcerrors.Code(err) == gcerrors.NotFound {
			return fmt.Errorf("%w: artifact %s: object %s is missing", ErrCorrupt, a.Name, a.Key)
		}
		return fmt.Errorf("backup: read %s: %w", a.Key, err)
	}
	defer br.Close()
	stored := newHashCounter()
	in := io.TeeReader(bufio.NewReaderSize(br, 1<<20), stored)
	var plain io.Reader = in
	var stage string
	var decodeErr error
	if strings.HasSuffix(a.Key, ".age") {
		if len(m.codec.identities) == 0 {
			return fmt.Errorf("%w: artifact %s is encrypted but no BACKUP_PASSPHRASE_FILE or BACKUP_AGE_IDENTITY_FILE is configured", ErrDecrypt, a.Name)
		}
		r, err := age.Decrypt(in, m.codec.identities...)
		if err != nil {
			stage, decodeErr = "decrypt", err
		} else {
			plain = r
		}
	}
	var zr *zstd.Decoder
	if decodeErr == nil && (strings.HasSuffix(a.Key, ".zst") || strings.HasSuffix(a.Key, ".zst.age")) {
		zr, err = zstd.NewReader(plain, zstd.WithDecoderConcurrency(2), zstd.WithDecoderMaxMemory(1<<31))
		if err != nil {
			stage, decodeErr = "decompress", err
		} else {
			defer zr.Close()
			plain = zr
		}
	}
	raw := newHashCounter()
	pw := &progressWriter{fn: m.cfg.Progress, ev: ProgressEvent{Op: "download", Artifact: a.Name, Total: a.RawSize}}
	if decodeErr == nil {
		_, decodeErr = io.Copy(io.MultiWriter(dst, raw, pw), plain)
		stage = "decode"
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	// Read what is left so the stored checksum tells corruption apart from
	// a wrong key.
	if _, err := io.Copy(io.Discard, in); err != nil && decodeErr == nil {
		decodeErr, stage = err, "read"
	}
	storedOK := stored.n == a.Size && stored.sum() == a.SHA256
	if !storedOK {
		return fmt.Errorf("%w: artifact %s (%s): stored bytes %d, SHA-256 %s; manifest says %d, %s", ErrCorrupt, a.Name, a.Key, stored.n, short(stored.sum()), a.Size, short(a.SHA256))
	}
	if decodeErr != nil {
		var noMatch *age.NoIdentityMatchError
		if errors.As(decodeErr, &noMatch) {
			return fmt.Errorf("%w: artifact %s: no configured identity or passphrase matches (wrong key?)", ErrDecrypt, a.Name)
		}
		if stage == "decrypt" || strings.Contains(decodeErr.Error(), "chacha20poly1305") || strings.Contains(decodeErr.Error(), "age:") {
			return fmt.Errorf("%w: artifact %s: %v", ErrDecrypt, a.Name, decodeErr)
		}
		return fmt.Errorf("%w: artifact %s: %s: %v", ErrCorrupt, a.Name, stage, decodeErr)
	}
	if raw.n != a.RawSize || raw.sum() != a.RawSHA256 {
		return fmt.Errorf("%w: artifact %s: plain bytes %d, SHA-256 %s; manifest says %d, %s", ErrCorrupt, a.Name, raw.n, short(raw.sum()), a.RawSize, short(a.RawSHA256))
	}
	pw.done()
	return nil
}

// getFile downloads artifact a into a new file in dir and returns its path;
// nothing is left behind on error.
func (m *Manager) getFile(ctx context.Context, a Artifact, dir string) (string, error) {
	f, err := os.CreateTemp(dir, "artifact-*")
	if err != nil {
		return "", fmt.Errorf("backup: %w", err)
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	err = m.get(ctx, a, bw)
	if err == nil {
		err = bw.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}

func short(s string) string {
	if len(s) > 12 {
		return s[:12] + "…"
	}
	return s
}

const (
	backupsPrefix = "backups/"
	walPrefix     = "wal/"
	manifestName  = "manifest.json"
)

func manifestKey(id string) string { return backupsPrefix + id + "/" + manifestName }

func (m *Manager) writeManifest(ctx context.Context, man *Manifest) error {
	b, err := json.MarshalIndent(man, "", "  ")
	if err != nil {
		return fmt.Errorf("backup: encode manifest: %w", err)
	}
	if err := m.bucket.WriteAll(ctx, manifestKey(man.ID), append(b, '\n'), &blob.WriterOptions{ContentType: "application/json"}); err != nil {
		return fmt.Errorf("backup: write manifest %s: %w", man.ID, err)
	}
	return nil
}

func (m *Manager) readManifest(ctx context.Context, id string) (*Manifest, error) {
	b, err := m.bucket.ReadAll(ctx, manifestKey(id))
	if gcerrors.Code(err) == gcerrors.NotFound {
		return nil, fmt.Errorf("%w: backup %q", ErrNotFound, id)
	}
	if err != nil {
		return nil, fmt.Errorf("backup: read manifest %s: %w", id, err)
	}
	var man Manifest
	if err := json.NewDecoder(bytes.NewReader(b)).Decode(&man); err != nil {
		return nil, fmt.Errorf("%w: manifest of %s: %v", ErrCorrupt, id, err)
	}
	if man.FormatVersion > ManifestVersion {
		return nil, fmt.Errorf("backup: manifest of %s has format %d; this code reads up to %d", id, man.FormatVersion, ManifestVersion)
	}
	return &man, nil
}

// listKeys returns the keys under prefix, sorted.
func (m *Manager) listKeys(ctx context.Context, prefix string) ([]*blob.ListObject, error) {
	var out []*blob.ListObject
	it := m.bucket.List(&blob.ListOptions{Prefix: prefix})
	for {
		obj, err := it.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("backup: list %s: %w", prefix, err)
		}
		out = append(out, obj)
	}
	slices.SortFunc(out, func(a, b *blob.ListObject) int { return strings.Compare(a.Key, b.Key) })
	return out, nil
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
