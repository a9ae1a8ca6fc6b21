// Package surrealpeer runs a test-only SurrealDB server: a small Node
// WebSocket server (peer/server.js) that speaks SurrealDB's CBOR RPC protocol
// at /rpc over the real SurrealDB 3 engine embedded in the npm package
// @surrealdb/node. No SurrealDB server binary can be installed on the
// machines this project builds on; the embedded engine gives tests the real
// query language, storage, transactions and live queries.
//
// Start installs the peer's npm dependencies once into a cache directory
// (npm ci from the committed package-lock.json), starts `node server.js` on
// a free loopback port and waits for GET /health. Peer.Kill, Restart, Pause
// and Resume simulate crashes and hangs. For tests, ForTest hands out a
// fresh namespace on one peer shared by the test binary (or on the server of
// TEST_SURREALDB_URL / SURREALDB_URL when set), and Private starts a peer of
// the test's own.
//
// Requirements: node >= 18 (tested on 20) and npm on PATH, and the npm registry reachable
// the first time (the install is cached per version of the peer's files).
//
// # Limits of the peer
//
// The peer is not a SurrealDB server and must not be used to test security:
//
//   - Authentication is emulated. The embedded engine checks passwords on
//     signin (root, namespace and database users, record access) but does not
//     itself refuse anonymous sessions, so the peer refuses data methods
//     (query, select, create, live, begin, ...) on a session that has not
//     signed in, signed up or authenticated. Permissions and roles
//     (PERMISSIONS clauses, VIEWER/EDITOR roles) are not enforced.
//   - Each WebSocket connection gets its own engine session (v3 attach with a
//     random UUID); requests without a session are run in it. Sessions the
//     client attaches itself are routed the same way.
//   - Replies to writes are delayed by about a millisecond so that live
//     notifications caused by a write reach the client before the reply.
//   - KILLED notifications (which the engine emits without a session) are
//     dropped.
//   - An error reply is recognised as a one-field map {error: ...} returned by
//     the engine; a query can therefore never return such a map as a result
//     through the peer.
//   - Only the cbor subprotocol is served; there is no HTTP /sql, /key or
//     /signin endpoint, only GET /health, GET /version, and GET|POST /export
//     and POST /import as on a real server (SurrealQL text; root user by
//     HTTP Basic auth only; Surreal-NS/Surreal-DB headers; one transfer at
//     a time).
//   - Storage is in memory unless Config.DataDir is set (surrealkv), so data
//     survives a restart only with DataDir.
package surrealpeer
