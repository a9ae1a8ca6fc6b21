package debugpage_test

import (
	"testing"

	"github.com/agentical/datalayer/internal/testinfra"
)

// Tests run against the harness's real PostgreSQL and Redis.
func TestMain(m *testing.M) { testinfra.Main(m) }
