package devserver

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// Shutdown modes for Postgres.Down.
const (
	// Fast is PostgreSQL's fast shutdown (SIGINT): sessions are terminated
	// with 57P01 and the server checkpoints, like `pg_ctl stop -m fast` or a
	// service restart.
	Fast = syscall.SIGINT
	// Immediate is PostgreSQL's immediate shutdown (SIGQUIT): no checkpoint,
	// crash recovery on the next start.
	Immediate = syscall.SIGQUIT
	// Kill is SIGKILL of the whole process group: a crash or OOM kill.
	Kill = syscall.SIGKILL
)

// Down stops the server with mode (Fast, Immediate or Kill) and keeps its data
// directory, so that Up can start it again on the same port: an outage for
// fault tests. Down on a stopped server is a no-op.
func (s *Postgres) Down(ctx context.Context, mode syscall.Signal) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return errors.New("devserver: postgres was stopped for good")
	}
	if s.p == nil || s.p.exited() {
		return nil
	}
	if mode == Kill {
		_ = syscall.Kill(-s.p.cmd.Process.Pid, syscall.SIGKILL)
	}
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	return s.p.stop(ctx, mode)
}

// Up starts a server stopped by Down again on the same port and data
// directory, returning once it accepts connections. Up on a running server is
// a no-op.
func (s *Postgres) Up(ctx context.Context) error {
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return errors.New("devserver: postgres was stopped for good")
	}
	if s.p != nil && !s.p.exited() {
		return nil
	}
	logFile, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("devserver: open log: %w", err)
	}
	defer logFile.Close()
	// A killed server's children may still hold the shared memory segment for
	// a moment: retry the start until ctx ends.
	for {
		cmd := exec.Command(filepath.Join(s.binDir, "postgres"), s.args...)
		cmd.Env = childEnv()
		cmd.Dir = s.dir
		cmd.Stdout, cmd.Stderr = logFile, logFile
		cmd.SysProcAttr = sysProcAttr(s.id, syscall.SIGQUIT)
		p, err := startProc(cmd)
		if err != nil {
			return fmt.Errorf("devserver: start postgres: %w", err)
		}
		err = waitPostgres(ctx, p, s.port)
		if err == nil {
			s.p = p
			return nil
		}
		stopCtx, stopCancel := context.WithTimeout(context.Background(), 10*time.Second)
		_ = p.stop(stopCtx, syscall.SIGQUIT)
		stopCancel()
		if ctx.Err() != nil || !p.exited() {
			return fmt.Errorf("devserver: postgres did not come back on port %d: %w\n%s", s.port, err, tail(s.logPath, 2048))
		}
		if err := sleepCtx(ctx, 50*time.Millisecond); err != nil {
			return fmt.Errorf("devserver: postgres did not come back on port %d: %w\n%s", s.port, err, tail(s.logPath, 2048))
		}
	}
}

// LogPath is the server's log file (kept until Stop).
func (s *Postgres) LogPath() string { return s.logPath }
