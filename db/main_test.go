package db_test

import (
	"testing"

	"github.com/agentical/datalayer/internal/testinfra"
)

// Every test gets its own database cloned from a template built from
// schema/*.sql; the harness starts (and at the end stops) the server.
func TestMain(m *testing.M) { testinfra.Main(m) }
