package repo_test

import (
	"testing"

	"github.com/agentical/datalayer/internal/testinfra"
)

// Every test gets its own database cloned from the schema template and its
// own Redis key prefix (or a private Redis server); the harness starts the
// servers once per test binary and stops them at the end.
func TestMain(m *testing.M) { testinfra.Main(m) }
