// Package httpmw is standard net/http middleware for services on the data
// layer: request IDs, per-request database and cache accounting (a
// Server-Timing header and one access-log line), transactional handlers that
// commit before the first byte is sent, and an error-to-status mapping that
// answers 503 with Retry-After when the database is unavailable.
//
// Everything is http.Handler in, http.Handler out, so it works with
// http.ServeMux and any router:
//
//	mw := httpmw.New(httpmw.Config{Logger: logger})
//	mux.Handle("POST /tasks", httpmw.Transactional(repository, httpmw.TxConfig{DB: pool}, createTask))
//	http.ListenAndServe(addr, mw(mux))
package httpmw
