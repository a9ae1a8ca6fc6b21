package codegen

import "testing"

// TestPackageNames: an import path whose last element is not the package
// name (failsafe-go is package failsafe, like pgvector-go is pgvector) is
// resolved from the package itself; conventional ones are not looked up.
func TestPackageNames(t *testing.T) {
	got, err := packageNames(".", map[string]bool{
		"github.com/failsafe-go/failsafe-go": true,
		"github.com/jackc/pgx/v5":            true,
		"github.com/jackc/pgx/v5/pgtype":     true,
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"github.com/failsafe-go/failsafe-go": "failsafe",
		"github.com/jackc/pgx/v5":            "pgx",
		"github.com/jackc/pgx/v5/pgtype":     "pgtype",
	}
	for p, n := range want {
		if got[p] != n {
			t.Errorf("package name of %s = %q, want %q", p, got[p], n)
		}
	}
}
