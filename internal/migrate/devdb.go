package migrate

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"

	amigrate "ariga.io/atlas/sql/migrate"
	"ariga.io/atlas/sql/postgres"
	"github.com/agentical/datalayer/internal/devserver"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// devServer is a PostgreSQL server on which throwaway databases are created.
type devServer struct {
	admin *sql.DB
	cfg   *pgx.ConnConfig
	stop  func(context.Context) error
}

// openDev connects to the configured dev server, starting one when needed.
func (m *Migrator) openDev(ctx context.Context) (*devServer, error) {
	dsn, stop := m.cfg.DevURL, func(context.Context) error { return nil }
	if dsn == "" {
		if m.cfg.StartDev == nil {
			return nil, ErrNoDevDatabase
		}
		var err error
		if dsn, stop, err = m.cfg.StartDev(ctx); err != nil {
			return nil, fmt.Errorf("migrate: start dev database: %w", err)
		}
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		_ = stop(ctx)
		return nil, fmt.Errorf("migrate: parse dev URL %s: %w", RedactURL(dsn), err)
	}
	admin := stdlib.OpenDB(*cfg)
	if err := admin.PingContext(ctx); err != nil {
		admin.Close()
		_ = stop(ctx)
		return nil, fmt.Errorf("migrate: connect dev database %s: %w", RedactURL(dsn), err)
	}
	return &devServer{admin: admin, cfg: cfg, stop: stop}, nil
}

func (s *devServer) Close(ctx context.Context) error {
	return errors.Join(s.admin.Close(), s.stop(ctx))
}

// devDB is one throwaway database, dropped by Close.
type devDB struct {
	db   *sql.DB
	drv  amigrate.Driver
	name string
	srv  *devServer
}

// create makes a fresh empty database from template0.
func (s *devServer) create(ctx context.Context) (*devDB, error) {
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "atlasdev_" + hex.EncodeToString(b[:])
	if _, err := s.admin.ExecContext(ctx, "CREATE DATABASE "+quoteIdent(name)+" TEMPLATE template0"); err != nil {
		return nil, fmt.Errorf("migrate: create dev database: %w", err)
	}
	d := &devDB{name: name, srv: s}
	cfg := s.cfg.Copy()
	cfg.Database = name
	d.db = stdlib.OpenDB(*cfg)
	drv, err := postgres.Open(d.db)
	if err != nil {
		d.Close(ctx)
		return nil, fmt.Errorf("migrate: open dev database: %w", err)
	}
	d.drv = drv
	return d, nil
}

// Close drops the database, ending sessions still connected to it.
func (d *devDB) Close(ctx context.Context) error {
	err := d.db.Close()
	if _, err2 := d.srv.admin.ExecContext(context.WithoutCancel(ctx), "DROP DATABASE IF EXISTS "+quoteIdent(d.name)+" WITH (FORCE)"); err2 != nil {
		err = errors.Join(err, fmt.Errorf("migrate: drop dev database: %w", err2))
	}
	return err
}

// execStmts runs the statements of f one by one on drv, naming the failing one.
func execStmts(ctx context.Context, drv amigrate.Driver, f amigrate.File) error {
	stmts, err := amigrate.FileStmtDecls(drv, f)
	if err != nil {
		return fmt.Errorf("migrate: scan %s: %w", f.Name(), err)
	}
	for _, s := range stmts {
		if _, err := drv.ExecContext(ctx, s.Text); err != nil {
			return fmt.Errorf("migrate: %s: executing %q: %w", f.Name(), s.Text, err)
		}
	}
	return nil
}

func quoteIdent(s string) string { return pgx.Identifier{s}.Sanitize() }

// RedactURL hides the password of a URL or keyword/value DSN.
func RedactURL(dsn string) string { return devserver.RedactURL(dsn) }
