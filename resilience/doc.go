// Package resilience wraps database (and other dependency) calls in
// failsafe-go policies and classifies their errors.
//
// # Policy chain
//
// One Policies value per database owns one circuit breaker. Executors built
// from it nest, outermost first:
//
//	circuit breaker (shared) → retry (per Kind) → timeout (per attempt) → fn
//
// The breaker sits OUTSIDE the retry, so one call that is retried three
// times is one breaker execution, and it counts only ClassInfrastructure
// failures (SQLSTATE classes 08, 53, 57, 58, dial and network errors, policy
// timeouts, Redis LOADING/BUSY/...). pgx.ErrNoRows, constraint violations and
// the caller's own cancellation are successes for the breaker. While open,
// calls fail at once with an error matching ErrOpen (errors.Is), without
// calling fn; after Config.BreakerMinDelay (growing by half per failed trial up to
// Config.BreakerDelay) a trial call goes through (half-open)
// and BreakerSuccesses successes close it again.
//
// # Retry rules (Retryable)
//
//   - Read: infrastructure failures, policy timeouts, 40001/40P01, and
//     anything pgconn.SafeToRetry marks as not sent.
//   - Write (one autocommit statement) and Tx (a whole BEGIN…COMMIT
//     function): only when nothing was sent (pgconn.SafeToRetry, a failed
//     connect) or on 40001/40P01, which roll the transaction back. A write
//     that timed out or lost its connection after sending may have run and
//     is never retried.
//   - TxStatement (a statement inside an open transaction): never retried;
//     the enclosing Tx is.
//   - Never: 23xxx (unique, foreign key, check), other server errors,
//     pgx.ErrNoRows, the caller's context ending.
//
// Errors from fn come back unchanged (errors.As finds *pgconn.PgError); a
// timed-out attempt returns an error matching ErrTimeout and
// context.DeadlineExceeded.
//
// # Use from generated code
//
//	pol, err := resilience.New(cfg)                  // once per pool
//	getAgent, err := pol.Executor(resilience.Read, "", resilience.Profile{Timeout: 2 * time.Second})
//	...
//	a, err := resilience.Get(ctx, getAgent, func(ctx context.Context) (Agent, error) {
//		return q.GetAgent(ctx, id) // use the ctx given: it carries the timeout
//	})
//
// Profile names (`-- @policy NAME`) select Config.Profiles entries; the
// override Profile carries `-- @timeout` and `-- @retry attempts=N`.
// Policies.State and Config.OnStateChange make the breaker observable.
package resilience
