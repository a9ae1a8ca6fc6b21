// Package devserver starts throwaway PostgreSQL and Redis servers from local
// binaries on free loopback ports in temporary directories, for tests, the demo
// and the migrate CLI.
//
// StartPostgres runs postgres tuned for speed over durability (fsync,
// synchronous_commit and full_page_writes off) on a cluster in /dev/shm when
// that is a roomy tmpfs. The first start on a machine runs initdb and keeps a
// copy of the fresh cluster; later starts copy it (about 0.2 s instead of
// 1.4 s on a busy 2-core machine). When the process runs
// as root, PostgreSQL's own refusal to run as root is met by running it as the
// "postgres" OS user on a directory chowned to that user. StartRedis runs
// redis-server without persistence; its Stop and Start simulate an outage on a
// stable address.
//
// AcquirePostgres and AcquireRedis pick a server in a fixed order: a URL the
// caller passes in (the package never reads the environment), then a
// container runtime if one is configured and answers a bounded probe (see
// package dockerserver), then local binaries. When nothing works the error
// wraps ErrUnavailable and says what to install.
//
// Every DSN that reaches an error message is passed through RedactURL first.
package devserver
