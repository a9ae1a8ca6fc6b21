// Package dockerserver is the container path of package devserver: it starts
// PostgreSQL and Redis with the testcontainers-go modules, after a probe of
// the Docker endpoint bounded by its own deadline, so that an absent or hung
// Docker costs at most that deadline. It is a separate package so that only
// its importers link the Docker client.
package dockerserver

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/testcontainers/testcontainers-go"
	tcpostgres "github.com/testcontainers/testcontainers-go/modules/postgres"
	tcredis "github.com/testcontainers/testcontainers-go/modules/redis"
	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/agentical/datalayer/internal/devserver"
)

// Config configures a Runtime. The zero value is ready to use.
type Config struct {
	// ProbeTimeout bounds Probe; zero means 4s. A Docker socket that accepts
	// connections but never answers would otherwise block for minutes.
	ProbeTimeout time.Duration
	// PostgresImage defaults to "postgres:16-alpine".
	PostgresImage string
	// RedisImage defaults to "redis:7-alpine".
	RedisImage string
	// SurrealImage defaults to "surrealdb/surrealdb:v3".
	SurrealImage string
}

// Runtime starts servers in Docker containers. It implements
// devserver.ContainerRuntime.
type Runtime struct {
	cfg Config
}

var _ devserver.ContainerRuntime = (*Runtime)(nil)

// New returns a Runtime with cfg's zero fields set to their defaults.
func New(cfg Config) *Runtime {
	if cfg.ProbeTimeout == 0 {
		cfg.ProbeTimeout = 4 * time.Second
	}
	if cfg.PostgresImage == "" {
		cfg.PostgresImage = "postgres:16-alpine"
	}
	if cfg.RedisImage == "" {
		cfg.RedisImage = "redis:7-alpine"
	}
	if cfg.SurrealImage == "" {
		cfg.SurrealImage = "surrealdb/surrealdb:v3"
	}
	return &Runtime{cfg: cfg}
}

// Probe reports whether a Docker endpoint answers within ProbeTimeout. The
// client runs in its own goroutine so that even a call that ignores its
// context cannot hold the caller longer than the deadline.
func (r *Runtime) Probe(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.ProbeTimeout)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		// NewDockerClientWithOpts itself calls Info on the endpoint it
		// selects (DOCKER_HOST, testcontainers properties, default socket).
		cli, err := testcontainers.NewDockerClientWithOpts(ctx)
		if err == nil {
			_ = cli.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("dockerserver: docker not reachable: %w", err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("dockerserver: docker did not answer within %s: %w", r.cfg.ProbeTimeout, ctx.Err())
	}
}

// StartPostgres runs a PostgreSQL container tuned like the local server
// (durability off, 200 connections) and returns its superuser DSN.
func (r *Runtime) StartPostgres(ctx context.Context) (string, func(context.Context) error, error) {
	ctr, err := tcpostgres.Run(ctx, r.cfg.PostgresImage,
		tcpostgres.WithDatabase("postgres"),
		tcpostgres.WithUsername("postgres"),
		tcpostgres.WithPassword("postgres"),
		testcontainers.WithCmd("postgres",
			"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
			"-c", "max_connections=200"),
		tcpostgres.BasicWaitStrategies(),
	)
	if err != nil {
		return "", nil, errors.Join(fmt.Errorf("dockerserver: postgres: %w", err), testcontainers.TerminateContainer(ctr))
	}
	dsn, err := ctr.ConnectionString(ctx, "sslmode=disable")
	if err != nil {
		return "", nil, errors.Join(fmt.Errorf("dockerserver: postgres dsn: %w", err), testcontainers.TerminateContainer(ctr))
	}
	return dsn, terminate(ctr), nil
}

// StartRedis runs a Redis container without persistence and returns its URL.
func (r *Runtime) StartRedis(ctx context.Context) (string, func(context.Context) error, error) {
	ctr, err := tcredis.Run(ctx, r.cfg.RedisImage,
		testcontainers.WithCmd("redis-server", "--save", "", "--appendonly", "no"))
	if err != nil {
		return "", nil, errors.Join(fmt.Errorf("dockerserver: redis: %w", err), testcontainers.TerminateContainer(ctr))
	}
	url, err := ctr.ConnectionString(ctx)
	if err != nil {
		return "", nil, errors.Join(fmt.Errorf("dockerserver: redis url: %w", err), testcontainers.TerminateContainer(ctr))
	}
	return url, terminate(ctr), nil
}

// StartSurreal runs an in-memory SurrealDB server with a root user
// (user/pass) and returns its ws:// URL (clients append /rpc).
func (r *Runtime) StartSurreal(ctx context.Context, user, pass string) (string, func(context.Context) error, error) {
	ctr, err := testcontainers.GenericContainer(ctx, testcontainers.GenericContainerRequest{
		ContainerRequest: testcontainers.ContainerRequest{
			Image:        r.cfg.SurrealImage,
			Cmd:          []string{"start", "--user", user, "--pass", pass, "memory"},
			ExposedPorts: []string{"8000/tcp"},
			WaitingFor:   wait.ForHTTP("/health").WithPort("8000/tcp").WithStartupTimeout(time.Minute),
		},
		Started: true,
	})
	if err != nil {
		return "", nil, errors.Join(fmt.Errorf("dockerserver: surrealdb: %w", err), testcontainers.TerminateContainer(ctr))
	}
	url, err := ctr.PortEndpoint(ctx, "8000/tcp", "ws")
	if err == nil {
		return url, terminate(ctr), nil
	}
	return "", nil, errors.Join(fmt.Errorf("dockerserver: surrealdb address: %w", err), testcontainers.TerminateContainer(ctr))
}

func terminate(ctr testcontainers.Container) func(context.Context) error {
	return func(ctx context.Context) error {
		if err := ctr.Terminate(ctx); err != nil {
			return fmt.Errorf("dockerserver: terminate: %w", err)
		}
		return nil
	}
}
