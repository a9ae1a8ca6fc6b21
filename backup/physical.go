package backup

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"

	"github.com/agentical/datalayer/internal/redact"
)

var (
	walStartRe = regexp.MustCompile(`write-ahead log start point: ([0-9A-F]+/[0-9A-F]+) on timeline (\d+)`)
	walEndRe   = regexp.MustCompile(`write-ahead log end point: ([0-9A-F]+/[0-9A-F]+)`)
	// walNameRe matches WAL segment and timeline history file names.
	walNameRe = regexp.MustCompile(`^([0-9A-F]{24}|[0-9A-F]{8}\.history|[0-9A-F]{24}\.partial|[0-9A-F]{24}\.[0-9A-F]{8}\.backup)$`)
)

// createBase streams `pg_basebackup -Ft -X fetch` of the cluster into an
// artifact: the base of point-in-time recovery.
func (m *Manager) createBase(ctx context.Context) (*Manifest, error) {
	if m.cfg.PostgresURL == "" {
		return nil, fmt.Errorf("%w: a base backup needs DATABASE_URL", ErrConfig)
	}
	man := m.newManifest(KindBase)
	err := m.baseBackup(ctx, man)
	if err == nil && man.MigrationVersion == "" {
		man.MigrationVersion, err = m.codeMigrationVersion()
	}
	return m.finish(ctx, man, err)
}

func (m *Manager) baseBackup(ctx context.Context, man *Manifest) error {
	conn, err := m.connect(ctx, m.cfg.PostgresURL)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	info := &PostgresInfo{}
	if err := conn.QueryRow(ctx, "SELECT current_setting('server_version'), current_database()").Scan(&info.ServerVersion, &info.Database); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if man.MigrationVersion, err = appliedMigration(ctx, conn); err != nil {
		return err
	}
	rows, err := conn.Query(ctx, `SELECT name, setting FROM pg_settings WHERE name IN
		('max_connections', 'max_worker_processes', 'max_wal_senders', 'max_prepared_transactions', 'max_locks_per_transaction')`)
	if err != nil {
		return fmt.Errorf("backup: read settings: %w", err)
	}
	info.Settings = map[string]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return fmt.Errorf("backup: read settings: %w", err)
		}
		info.Settings[k] = v
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("backup: read settings: %w", err)
	}
	connStr, env := toolConn(m.cfg.PostgresURL)
	cmd := exec.CommandContext(ctx, m.pgTool("pg_basebackup"), "--dbname="+connStr, "--pgdata=-", "--format=tar",
		"--wal-method=fetch", "--checkpoint=fast", "--manifest-checksums=CRC32C", "--verbose", "--label=datalayer "+man.ID)
	cmd.Env = env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return fmt.Errorf("backup: pg_basebackup: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("backup: pg_basebackup: %w", err)
	}
	a, putErr := m.put(ctx, "base.tar", StorePostgres, backupsPrefix+man.ID+"/base.tar"+m.codec.suffix(), out, -1)
	if putErr != nil {
		_ = cmd.Process.Kill()
	}
	waitErr := cmd.Wait()
	if waitErr != nil {
		if putErr == nil {
			_ = m.bucket.Delete(context.WithoutCancel(ctx), a.Key)
		}
		return fmt.Errorf("backup: pg_basebackup: %v: %s", waitErr, redact.Text(strings.TrimSpace(stderr.String()), m.cfg.PostgresURL))
	}
	if putErr != nil {
		return putErr
	}
	man.Artifacts = append(man.Artifacts, a)
	log := stderr.String()
	if s := walStartRe.FindStringSubmatch(log); s != nil {
		info.StartLSN = s[1]
		info.Timeline, _ = strconv.Atoi(s[2])
	}
	if s := walEndRe.FindStringSubmatch(log); s != nil {
		info.StopLSN = s[1]
	}
	if info.StartLSN == "" || info.StopLSN == "" {
		return fmt.Errorf("backup: pg_basebackup did not report its WAL range: %s", strings.TrimSpace(log))
	}
	if info.StartSegment, err = segmentName(ctx, conn, info.Timeline, info.StartLSN); err != nil {
		return err
	}
	if info.StopSegment, err = segmentName(ctx, conn, info.Timeline, info.StopLSN); err != nil {
		return err
	}
	man.Postgres = info
	man.Stores = []string{StorePostgres}
	man.Tools["pg_basebackup"] = m.toolVersion("pg_basebackup")
	man.Tools["postgres"] = info.ServerVersion
	return nil
}

// lsnAdd returns lsn+delta in the X/Y text form.
func lsnAdd(lsn string, delta int64) (string, error) {
	hi, lo, ok := strings.Cut(lsn, "/")
	h, err1 := strconv.ParseUint(hi, 16, 32)
	l, err2 := strconv.ParseUint(lo, 16, 32)
	if !ok || err1 != nil || err2 != nil {
		return "", fmt.Errorf("backup: bad LSN %q", lsn)
	}
	pos := uint64(int64(h<<32|l) + delta)
	return fmt.Sprintf("%X/%X", pos>>32, pos&0xffffffff), nil
}

// segmentName returns the WAL file name holding lsn on timeline tli.
func segmentName(ctx context.Context, q querier, tli int, lsn string) (string, error) {
	var segSize int64
	if err := q.QueryRow(ctx, "SELECT setting::bigint * CASE unit WHEN 'B' THEN 1 WHEN 'kB' THEN 1024 WHEN 'MB' THEN 1048576 ELSE 1 END FROM pg_settings WHERE name = 'wal_segment_size'").Scan(&segSize); err != nil {
		return "", fmt.Errorf("backup: wal_segment_size: %w", err)
	}
	hi, lo, ok := strings.Cut(lsn, "/")
	h, err1 := strconv.ParseUint(hi, 16, 32)
	l, err2 := strconv.ParseUint(lo, 16, 32)
	if !ok || err1 != nil || err2 != nil || segSize <= 0 {
		return "", fmt.Errorf("backup: bad LSN %q", lsn)
	}
	pos := h<<32 | l
	seg := pos / uint64(segSize)
	perID := uint64(0x100000000) / uint64(segSize)
	return fmt.Sprintf("%08X%08X%08X", tli, seg/perID, seg%perID), nil
}

// walArtifactKey is where PushWAL stores a WAL file's artifact record.
func walRecordKey(name string) string { return walPrefix + name + ".json" }

// PushWAL archives the WAL file at path (archive_command: `datalayer
// backup wal-push %p`). It is idempotent: a file already archived with the
// same content succeeds, one with different content fails with
// ErrWALConflict (PostgreSQL then keeps the segment and retries).
func (m *Manager) PushWAL(ctx context.Context, path string) error {
	name := filepath.Base(path)
	if !walNameRe.MatchString(name) {
		return fmt.Errorf("backup: wal-push: %q is not a WAL file name", name)
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("backup: wal-push: %w", err)
	}
	defer f.Close()
	if prev, err := m.walRecord(ctx, name); err == nil {
		sum := newHashCounter()
		if _, err := io.Copy(sum, f); err != nil {
			return fmt.Errorf("backup: wal-push: %w", err)
		}
		if sum.sum() == prev.RawSHA256 && sum.n == prev.RawSize {
			return nil
		}
		return fmt.Errorf("%w: %s", ErrWALConflict, name)
	} else if !errors.Is(err, ErrNotFound) {
		return err
	}
	fi, _ := f.Stat()
	a, err := m.put(ctx, name, StorePostgres, walPrefix+name+m.codec.suffix(), f, fi.Size())
	if err != nil {
		return err
	}
	b, _ := json.Marshal(a)
	// The record is written last: a segment without one is not archived.
	if err := m.bucket.WriteAll(ctx, walRecordKey(name), b, &blob.WriterOptions{ContentType: "application/json"}); err != nil {
		return fmt.Errorf("backup: wal-push %s: %w", name, err)
	}
	return nil
}

func (m *Manager) walRecord(ctx context.Context, name string) (Artifact, error) {
	b, err := m.bucket.ReadAll(ctx, walRecordKey(name))
	if gcerrors.Code(err) == gcerrors.NotFound {
		return Artifact{}, fmt.Errorf("%w: WAL %s", ErrNotFound, name)
	}
	if err != nil {
		return Artifact{}, fmt.Errorf("backup: read WAL record %s: %w", name, err)
	}
	var a Artifact
	if err := json.Unmarshal(b, &a); err != nil {
		return Artifact{}, fmt.Errorf("%w: WAL record %s: %v", ErrCorrupt, name, err)
	}
	return a, nil
}

// FetchWAL writes archived WAL file name to path, checked against its
// checksums (restore_command: `datalayer backup wal-fetch %f %p`).
func (m *Manager) FetchWAL(ctx context.Context, name, path string) error {
	a, err := m.walRecord(ctx, name)
	if err != nil {
		return err
	}
	tmp, err := m.getFile(ctx, a, filepath.Dir(path))
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("backup: wal-fetch: %w", err)
	}
	return nil
}

// archivedWAL lists the archived WAL records, sorted by name.
func (m *Manager) archivedWAL(ctx context.Context) ([]string, error) {
	objs, err := m.listKeys(ctx, walPrefix)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, o := range objs {
		if n, ok := strings.CutSuffix(strings.TrimPrefix(o.Key, walPrefix), ".json"); ok {
			names = append(names, n)
		}
	}
	return names, nil
}

// createIncremental closes the current WAL segment, waits until it is
// archived, and records the WAL archived since the parent backup.
func (m *Manager) createIncremental(ctx context.Context) (*Manifest, error) {
	all, err := m.List(ctx)
	if err != nil {
		return nil, err
	}
	var parent *Manifest
	for _, b := range all {
		if b.Kind == KindBase || (b.Kind == KindIncremental && parent != nil) {
			parent = b
		}
	}
	if parent == nil {
		return nil, fmt.Errorf("%w: an incremental backup needs a base backup first (backup create --kind base)", ErrNoBase)
	}
	man := m.newManifest(KindIncremental)
	man.Parent = parent.ID
	conn, err := m.connect(ctx, m.cfg.PostgresURL)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var tli int
	var lsn string
	info := &PostgresInfo{}
	if err := conn.QueryRow(ctx, "SELECT timeline_id FROM pg_control_checkpoint()").Scan(&tli); err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	if err := conn.QueryRow(ctx, "SELECT pg_switch_wal()::text, current_setting('server_version'), current_database()").Scan(&lsn, &info.ServerVersion, &info.Database); err != nil {
		return nil, fmt.Errorf("backup: pg_switch_wal: %w", err)
	}
	// pg_switch_wal returns the end of the completed segment plus one, or,
	// when nothing was written since the last switch, the start of the
	// current segment: one byte back is in the last complete segment.
	before, err := lsnAdd(lsn, -1)
	if err != nil {
		return nil, err
	}
	last, err := segmentName(ctx, conn, tli, before)
	if err != nil {
		return nil, err
	}
	if err := waitArchived(ctx, conn, last); err != nil {
		return nil, err
	}
	from := parent.Postgres.StopSegment
	names, err := m.archivedWAL(ctx)
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		seg := n[:min(24, len(n))]
		if strings.HasSuffix(n, ".history") || seg < from || seg > last || (parent.Kind == KindIncremental && seg == from) {
			continue
		}
		a, err := m.walRecord(ctx, n)
		if err != nil {
			return nil, err
		}
		man.Artifacts = append(man.Artifacts, a)
	}
	info.StartSegment, info.StopSegment, info.StopLSN, info.Timeline = from, last, lsn, tli
	man.Postgres = info
	man.Stores = []string{StorePostgres}
	man.Tools["postgres"] = info.ServerVersion
	man.MigrationVersion = parent.MigrationVersion
	return m.finish(ctx, man, nil)
}

// waitArchived waits until the archiver has archived segment (or a later
// one), up to two minutes.
func waitArchived(ctx context.Context, q querier, segment string) error {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var last, failed string
		if err := q.QueryRow(ctx, "SELECT coalesce(last_archived_wal, ''), coalesce(last_failed_wal, '') FROM pg_stat_archiver").Scan(&last, &failed); err != nil {
			return fmt.Errorf("backup: pg_stat_archiver: %w", err)
		}
		if last >= segment {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("backup: WAL segment %s not archived after two minutes (last archived %q, last failed %q): check archive_command", segment, last, failed)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// PITROptions adjusts RestoreToTime.
type PITROptions struct {
	// DataDir is the new cluster's data directory; it must not exist or be
	// empty. Required.
	DataDir string
	// KeepArchiving leaves archive_mode as the base backup had it; by
	// default the restored cluster does not archive (it would write a new
	// timeline into the same store).
	KeepArchiving bool
}

// PITRResult says what RestoreToTime prepared.
type PITRResult struct {
	DataDir     string    `json:"data_dir"`
	BaseID      string    `json:"base_id"`
	Target      time.Time `json:"target"`
	WALSegments int       `json:"wal_segments"`
}

// RestoreToTime builds a new cluster in opts.DataDir from the newest base
// backup finished before target and the archived WAL after it, configured
// to recover up to target and then promote. A zero target means the end of
// the archived WAL (the newest base backup, all WAL after it). Start it with `postgres -D
// DataDir` (as the cluster's OS user); recovery runs at start-up and stops
// before the first transaction that committed after target.
func (m *Manager) RestoreToTime(ctx context.Context, target time.Time, opts PITROptions) (*PITRResult, error) {
	if opts.DataDir == "" {
		return nil, fmt.Errorf("%w: point-in-time restore needs a data directory (--pgdata)", ErrConfig)
	}
	all, err := m.List(ctx)
	if err != nil {
		return nil, err
	}
	var base *Manifest
	for _, b := range all {
		if b.Kind == KindBase && (target.IsZero() || !b.FinishedAt.After(target)) {
			base = b
		}
	}
	if base == nil {
		return nil, fmt.Errorf("%w: %s (the oldest recoverable time is the end of the oldest base backup)", ErrNoBase, target.UTC().Format(time.RFC3339Nano))
	}
	if entries, err := os.ReadDir(opts.DataDir); err == nil && len(entries) > 0 {
		return nil, fmt.Errorf("backup: data directory %s is not empty", opts.DataDir)
	}
	if err := os.MkdirAll(opts.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	if err := os.Chmod(opts.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	dir, cleanup, err := m.tempDir()
	if err != nil {
		return nil, err
	}
	defer cleanup()
	tarFile, err := m.getFile(ctx, base.Artifacts[0], dir)
	if err != nil {
		return nil, err
	}
	if err := extractTar(tarFile, opts.DataDir); err != nil {
		return nil, err
	}
	os.Remove(tarFile)
	walDir := filepath.Join(opts.DataDir, "datalayer_wal")
	if err := os.Mkdir(walDir, 0o700); err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	names, err := m.archivedWAL(ctx)
	if err != nil {
		return nil, err
	}
	res := &PITRResult{DataDir: opts.DataDir, BaseID: base.ID, Target: target}
	for _, n := range names {
		if !strings.HasSuffix(n, ".history") && n[:min(24, len(n))] < base.Postgres.StartSegment {
			continue
		}
		if strings.HasSuffix(n, ".backup") || strings.HasSuffix(n, ".partial") {
			continue
		}
		if err := m.FetchWAL(ctx, n, filepath.Join(walDir, n)); err != nil {
			return nil, err
		}
		res.WALSegments++
	}
	abs, _ := filepath.Abs(walDir)
	conf := fmt.Sprintf("\n# datalayer backup restore --to-time (base %s)\nrestore_command = 'cp \"%s/%%f\" \"%%p\"'\n",
		base.ID, strings.ReplaceAll(abs, "'", "''"))
	if !target.IsZero() {
		conf += fmt.Sprintf("recovery_target_time = '%s'\nrecovery_target_action = 'promote'\n", target.UTC().Format("2006-01-02 15:04:05.999999-07"))
	}
	for _, k := range slices.Sorted(maps.Keys(base.Postgres.Settings)) {
		conf += fmt.Sprintf("%s = '%s'\n", k, strings.ReplaceAll(base.Postgres.Settings[k], "'", "''"))
	}
	if !opts.KeepArchiving {
		conf += "archive_mode = 'off'\n"
	}
	af, err := os.OpenFile(filepath.Join(opts.DataDir, "postgresql.auto.conf"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	_, err = af.WriteString(conf)
	if cerr := af.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.WriteFile(filepath.Join(opts.DataDir, "recovery.signal"), nil, 0o600)
	}
	if err != nil {
		return nil, fmt.Errorf("backup: write recovery settings: %w", err)
	}
	return res, nil
}

// verifyBase extracts a base backup's tar into a scratch directory and
// runs pg_verifybackup on it: every file against the backup manifest
// pg_basebackup put into the tar, and the WAL needed to make it consistent.
func (m *Manager) verifyBase(ctx context.Context, tarFile string, rep *VerifyReport) error {
	dir, err := os.MkdirTemp(filepath.Dir(tarFile), "base-")
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	defer os.RemoveAll(dir)
	if err := extractTar(tarFile, dir); err != nil {
		return fmt.Errorf("%w: %v", ErrVerify, err)
	}
	out, err := exec.CommandContext(ctx, m.pgTool("pg_verifybackup"), "--quiet", dir).CombinedOutput()
	if err != nil {
		rep.Base = "failed"
		return fmt.Errorf("%w: pg_verifybackup: %v: %s", ErrVerify, err, strings.TrimSpace(string(out)))
	}
	rep.Base = "ok"
	return nil
}

// extractTar unpacks a pg_basebackup tar into dir.
func extractTar(file, dir string) error {
	f, err := os.Open(file)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%w: base backup tar: %v", ErrCorrupt, err)
		}
		name := filepath.Clean(h.Name)
		if name == "." {
			continue
		}
		if filepath.IsAbs(name) || strings.HasPrefix(name, "..") {
			return fmt.Errorf("%w: base backup tar: unsafe path %q", ErrCorrupt, h.Name)
		}
		p := filepath.Join(dir, name)
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o700); err != nil {
				return fmt.Errorf("backup: %w", err)
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
				return fmt.Errorf("backup: %w", err)
			}
			out, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, os.FileMode(h.Mode)&0o700|0o600)
			if err != nil {
				return fmt.Errorf("backup: %w", err)
			}
			_, err = io.Copy(out, tr)
			if cerr := out.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return fmt.Errorf("backup: extract %s: %w", name, err)
			}
		case tar.TypeSymlink:
			if err := os.Symlink(h.Linkname, p); err != nil {
				return fmt.Errorf("backup: %w", err)
			}
		}
	}
}
