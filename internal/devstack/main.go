// Command devstack runs a command against throwaway PostgreSQL and Redis
// servers obtained the way `make demo` gets them: DATABASE_URL / REDIS_URL
// when set (used as they are), else Docker when it answers a short probe,
// else local postgres and redis-server binaries (package
// internal/devserver). `make serve` uses it to run cmd/agentsvc:
//
//	devstack [-docker=false] -- agentsvc
//
// The command inherits the environment plus DATABASE_URL, REDIS_URL and
// AUTO_MIGRATE=true (unless AUTO_MIGRATE is set), so a fresh server gets
// the schema at start-up. SIGINT and SIGTERM are passed on to the command;
// when it exits the servers devstack started are stopped (their data is
// gone) and devstack exits with the command's status.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/agentical/datalayer/internal/devserver"
	"github.com/agentical/datalayer/internal/devserver/dockerserver"
)

func main() {
	code, err := run(os.Args[1:], os.Environ(), os.Stdout, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "devstack:", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// run starts the servers, runs the command and stops the servers. It
// returns the command's exit code.
func run(args, environ []string, stdout, stderr io.Writer) (code int, err error) {
	fs := flag.NewFlagSet("devstack", flag.ContinueOnError)
	fs.SetOutput(stderr)
	docker := fs.Bool("docker", true, "try Docker before local binaries when DATABASE_URL / REDIS_URL are unset")
	if err := fs.Parse(args); err != nil {
		return 2, err
	}
	command := fs.Args()
	if len(command) == 0 {
		return 2, errors.New("usage: devstack [-docker=false] -- command [args...]")
	}
	vars := map[string]string{}
	for _, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		vars[k] = v
	}

	// Signals during start-up cancel it; afterwards they go to the command.
	startSigs := make(chan os.Signal, 2)
	signal.Notify(startSigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(startSigs)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-startSigs:
			cancel()
		case <-ctx.Done():
		}
	}()

	var containers devserver.ContainerRuntime
	if *docker {
		containers = dockerserver.New(dockerserver.Config{})
	}
	var stops []func(context.Context) error
	defer func() {
		sctx, scancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer scancel()
		for i := len(stops) - 1; i >= 0; i-- {
			if serr := stops[i](sctx); serr != nil {
				err = errors.Join(err, serr)
			}
		}
	}()
	pg, err := devserver.AcquirePostgres(ctx, devserver.AcquireConfig{URL: vars["DATABASE_URL"], URLName: "DATABASE_URL", Containers: containers})
	if err != nil {
		return startFailed(ctx, err)
	}
	stops = append(stops, pg.Stop)
	fmt.Fprintf(stdout, "devstack: postgres  %-9s %s\n", pg.Source, devserver.RedactURL(pg.URL))
	rd, err := devserver.AcquireRedis(ctx, devserver.AcquireConfig{URL: vars["REDIS_URL"], URLName: "REDIS_URL", Containers: containers})
	if err != nil {
		return startFailed(ctx, err)
	}
	stops = append(stops, rd.Stop)
	fmt.Fprintf(stdout, "devstack: redis     %-9s %s\n", rd.Source, devserver.RedactURL(rd.URL))

	if ctx.Err() != nil {
		return startFailed(ctx, nil)
	}

	env := append([]string{}, environ...)
	env = append(env, "DATABASE_URL="+pg.URL, "REDIS_URL="+rd.URL)
	if vars["AUTO_MIGRATE"] == "" {
		env = append(env, "AUTO_MIGRATE=true")
	}
	cmd := exec.Command(command[0], command[1:]...)
	cmd.Env, cmd.Stdin, cmd.Stdout, cmd.Stderr = env, os.Stdin, stdout, stderr
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	signal.Stop(startSigs)
	cancel() // signals now go to the command
	if err := cmd.Start(); err != nil {
		return 1, err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	for {
		select {
		case s := <-sigs:
			_ = cmd.Process.Signal(s)
		case err := <-done:
			var exit *exec.ExitError
			if errors.As(err, &exit) {
				return max(exit.ExitCode(), 1), nil // -1: killed by a signal
			}
			if err != nil {
				return 1, err
			}
			return 0, nil
		}
	}
}

// startFailed reports a server that did not start: an interrupt, or why.
func startFailed(ctx context.Context, err error) (int, error) {
	if ctx.Err() != nil {
		return 130, errors.New("interrupted while the servers started")
	}
	return 1, err
}
