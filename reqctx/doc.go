// Package reqctx carries per-request data through a context.Context: the
// request ID, and the request's accounting (database queries and time, cache
// hits and misses) that the postgres tracer and the repo runtime add to as
// they serve the request. Package httpmw puts both in every request's
// context; code outside HTTP may use it directly.
package reqctx
