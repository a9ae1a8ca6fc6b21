// Package schema holds the Agentical SurrealDB schema (the *.surql files
// beside it: SCHEMAFULL tables for agents, memories, concepts and workflows
// and the edge tables remembers, knows, relates_to and depends_on), applies
// it idempotently with the applied versions recorded in SurrealDB's own
// schema_version table, and offers typed accessors for the records and
// graph traversals.
package schema
