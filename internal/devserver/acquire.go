package devserver

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// ErrUnavailable is wrapped (through *UnavailableError) when AcquirePostgres
// or AcquireRedis found no way to provide a server.
var ErrUnavailable = errors.New("devserver: no server available")

// Source says where an acquired server came from.
type Source string

const (
	SourceURL       Source = "url"       // the caller's URL, nothing started
	SourceContainer Source = "container" // started by the ContainerRuntime
	SourceLocal     Source = "local"     // started from local binaries
)

// ContainerRuntime starts servers in containers. Package dockerserver
// implements it with testcontainers-go; it lives there so that importers of
// devserver do not inherit the Docker client's dependencies.
type ContainerRuntime interface {
	// Probe reports, within its own short deadline, whether the runtime answers.
	Probe(ctx context.Context) error
	// StartPostgres returns a superuser DSN and a function that removes the container.
	StartPostgres(ctx context.Context) (dsn string, stop func(context.Context) error, err error)
	// StartRedis returns a redis:// URL and a function that removes the container.
	StartRedis(ctx context.Context) (url string, stop func(context.Context) error, err error)
}

// AcquireConfig configures AcquirePostgres and AcquireRedis. The zero value
// means: no URL, no containers, local binaries with default settings.
type AcquireConfig struct {
	// URL, when set, is returned as is and nothing is started.
	URL string
	// URLName names where URL comes from (e.g. "TEST_DATABASE_URL"); the
	// error for a missing server suggests setting it. Empty means no hint.
	URLName string
	// Containers, when non-nil, is tried before local binaries if its Probe
	// succeeds.
	Containers ContainerRuntime
	// Postgres configures the local fallback of AcquirePostgres.
	Postgres PostgresConfig
	// Redis configures the local fallback of AcquireRedis.
	Redis RedisConfig
}

// Server is an acquired server.
type Server struct {
	// URL is a superuser postgres:// DSN or a redis:// URL.
	URL string
	// Source says which path provided the server.
	Source Source
	// Skipped holds why earlier paths were not used (e.g. the probe error of
	// an absent Docker), for diagnostics.
	Skipped []error
	// Local is the local server when Source is SourceLocal and the server is
	// PostgreSQL or Redis respectively; nil otherwise.
	LocalPostgres *Postgres
	LocalRedis    *Redis

	stop func(context.Context) error
}

// Stop stops a server this package started; for SourceURL it does nothing.
func (s *Server) Stop(ctx context.Context) error {
	if s == nil || s.stop == nil {
		return nil
	}
	return s.stop(ctx)
}

// UnavailableError lists why each path failed and says how to fix it.
type UnavailableError struct {
	Kind   string  // "PostgreSQL" or "Redis"
	Causes []error // one per path tried
	Hint   string  // what to install or set
}

func (e *UnavailableError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "devserver: no %s server available", e.Kind)
	for _, c := range e.Causes {
		b.WriteString("\n  - ")
		b.WriteString(c.Error())
	}
	b.WriteString("\nto fix: ")
	b.WriteString(e.Hint)
	return b.String()
}

// Unwrap exposes ErrUnavailable and every cause to errors.Is and errors.As.
func (e *UnavailableError) Unwrap() []error { return append([]error{ErrUnavailable}, e.Causes...) }

// AcquirePostgres returns a PostgreSQL server: cfg.URL if set, else a
// container if cfg.Containers answers its probe, else local binaries.
func AcquirePostgres(ctx context.Context, cfg AcquireConfig) (*Server, error) {
	return acquire(ctx, cfg, "PostgreSQL", PostgresInstallHint,
		func(ctx context.Context) (string, func(context.Context) error, error) {
			return cfg.Containers.StartPostgres(ctx)
		},
		func(ctx context.Context, s *Server) error {
			pg, err := StartPostgres(ctx, cfg.Postgres)
			if err != nil {
				return err
			}
			s.URL, s.LocalPostgres, s.stop = pg.DSN(), pg, pg.Stop
			return nil
		})
}

// AcquireRedis returns a Redis server: cfg.URL if set, else a container if
// cfg.Containers answers its probe, else a local redis-server.
func AcquireRedis(ctx context.Context, cfg AcquireConfig) (*Server, error) {
	return acquire(ctx, cfg, "Redis", RedisInstallHint,
		func(ctx context.Context) (string, func(context.Context) error, error) {
			return cfg.Containers.StartRedis(ctx)
		},
		func(ctx context.Context, s *Server) error {
			r, err := StartRedis(ctx, cfg.Redis)
			if err != nil {
				return err
			}
			s.URL, s.LocalRedis, s.stop = r.URL(), r, r.Stop
			return nil
		})
}

func acquire(ctx context.Context, cfg AcquireConfig, kind, installHint string,
	container func(context.Context) (string, func(context.Context) error, error),
	local func(context.Context, *Server) error,
) (*Server, error) {
	if cfg.URL != "" {
		return &Server{URL: cfg.URL, Source: SourceURL}, nil
	}
	s := &Server{}
	if cfg.Containers == nil {
		s.Skipped = append(s.Skipped, errors.New("containers: not configured"))
	} else if err := cfg.Containers.Probe(ctx); err != nil {
		s.Skipped = append(s.Skipped, fmt.Errorf("containers: %w", err))
	} else if url, stop, err := container(ctx); err != nil {
		s.Skipped = append(s.Skipped, fmt.Errorf("containers: start %s: %w", kind, err))
	} else {
		s.URL, s.Source, s.stop = url, SourceContainer, stop
		return s, nil
	}
	if err := local(ctx, s); err != nil {
		hint := installHint
		if cfg.Containers != nil {
			hint += ", or start Docker"
		}
		if cfg.URLName != "" {
			hint += ", or set " + cfg.URLName + " to the URL of a running server"
		}
		causes := append(s.Skipped, fmt.Errorf("local binaries: %w", err))
		return nil, &UnavailableError{Kind: kind, Causes: causes, Hint: hint}
	}
	s.Source = SourceLocal
	return s, nil
}
