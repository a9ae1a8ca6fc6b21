package schema_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/surrealdb/surrealdb.go/pkg/models"

	"github.com/agentical/datalayer/internal/testinfra/surrealpeer"
	"github.com/agentical/datalayer/surreal"
	"github.com/agentical/datalayer/surreal/schema"
)

func openApplied(t *testing.T) *surreal.Store {
	t.Helper()
	tg := surrealpeer.ForTest(t)
	ctx := context.Background()
	s, err := surreal.Open(ctx, surreal.Config{URL: tg.URL, Namespace: tg.Namespace, Database: tg.Database, Username: tg.Username, Password: tg.Password})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	if _, err := schema.Apply(ctx, s); err != nil {
		t.Fatalf("apply: %v", err)
	}
	return s
}

func TestApplyTwiceIsNoOp(t *testing.T) {
	tg := surrealpeer.ForTest(t)
	ctx := context.Background()
	s, err := surreal.Open(ctx, surreal.Config{URL: tg.URL, Namespace: tg.Namespace, Database: tg.Database, Username: tg.Username, Password: tg.Password})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	files, err := schema.Files()
	if err != nil || len(files) == 0 {
		t.Fatalf("files: %v, %v", files, err)
	}
	first, err := schema.Apply(ctx, s)
	if err != nil {
		t.Fatalf("first apply: %v", err)
	}
	if len(first) != len(files) {
		t.Fatalf("first apply applied %v, want %d files", first, len(files))
	}
	before, err := schema.Applied(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	second, err := schema.Apply(ctx, s)
	if err != nil {
		t.Fatalf("second apply: %v", err)
	}
	if len(second) != 0 {
		t.Fatalf("second apply applied %v, want none", second)
	}
	after, err := schema.Applied(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(files) || !slices.Equal(after, before) {
		t.Fatalf("versions changed: before %+v after %+v", before, after)
	}
	if after[0].Checksum != files[0].Checksum || after[0].AppliedAt.IsZero() {
		t.Fatalf("recorded version %+v", after[0])
	}
}

func TestSchemafullAssertions(t *testing.T) {
	s := openApplied(t)
	ctx := context.Background()
	if _, err := schema.CreateAgent(ctx, s, "", ""); err == nil {
		t.Fatal("agent with empty name accepted")
	}
	if _, err := schema.CreateAgent(ctx, s, "ana", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := schema.CreateAgent(ctx, s, "ana", ""); !errors.Is(err, surreal.ErrConflict) {
		t.Fatalf("duplicate agent name: %v, want ErrConflict", err)
	}
	if _, err := surreal.Query[any](ctx, s, "CREATE workflow SET name = 'w', status = 'bogus'", nil); err == nil {
		t.Fatal("workflow with bad status accepted")
	}
	if _, err := surreal.Query[any](ctx, s, "CREATE agent SET name = 'x', undeclared = 1", nil); err == nil {
		t.Fatal("undeclared field accepted by SCHEMAFULL table")
	}
}

func TestAgentMemoriesByRecency(t *testing.T) {
	s := openApplied(t)
	ctx := context.Background()
	a, err := schema.CreateAgent(ctx, s, "mnemo", "researcher")
	if err != nil {
		t.Fatal(err)
	}
	other, err := schema.CreateAgent(ctx, s, "other", "")
	if err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, c := range []string{"first", "second", "third"} {
		if _, err := schema.Remember(ctx, s, *a.ID, schema.Memory{Content: c, Importance: 0.5, CreatedAt: base.Add(time.Duration(i) * time.Hour)}); err != nil {
			t.Fatalf("remember: %v", err)
		}
	}
	if _, err := schema.Remember(ctx, s, *other.ID, schema.Memory{Content: "not mine", Importance: 0.1}); err != nil {
		t.Fatal(err)
	}
	if _, err := schema.Remember(ctx, s, *a.ID, schema.Memory{Content: "bad", Importance: 2}); err == nil {
		t.Fatal("importance 2 accepted")
	}
	ms, err := schema.Memories(ctx, s, *a.ID, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 || ms[0].Content != "third" || ms[1].Content != "second" {
		t.Fatalf("memories = %+v", ms)
	}
	if !ms[0].CreatedAt.Equal(base.Add(2 * time.Hour)) {
		t.Fatalf("created_at = %v", ms[0].CreatedAt)
	}
	all, err := schema.Memories(ctx, s, *a.ID, 0)
	if err != nil || len(all) != 3 {
		t.Fatalf("all memories: %d, %v (the failed Remember must leave nothing)", len(all), err)
	}
}

func names[T any](xs []T, name func(T) string) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = name(x)
	}
	return out
}

func TestConceptsWithinTwoHops(t *testing.T) {
	s := openApplied(t)
	ctx := context.Background()
	a, err := schema.CreateAgent(ctx, s, "learner", "")
	if err != nil {
		t.Fatal(err)
	}
	c := map[string]models.RecordID{}
	for _, n := range []string{"go", "channels", "csp", "hoare", "rust"} {
		cc, err := schema.CreateConcept(ctx, s, n)
		if err != nil {
			t.Fatal(err)
		}
		c[n] = *cc.ID
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(schema.Know(ctx, s, *a.ID, c["go"], 0.9))
	must(schema.RelateConcepts(ctx, s, c["go"], c["channels"]))
	must(schema.RelateConcepts(ctx, s, c["channels"], c["csp"])) // third hop
	must(schema.RelateConcepts(ctx, s, c["csp"], c["hoare"]))
	got, err := schema.ConceptsWithinTwoHops(ctx, s, *a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if n := names(got, func(c schema.Concept) string { return c.Name }); !slices.Equal(n, []string{"channels", "go"}) {
		t.Fatalf("within two hops = %v", n)
	}
}

func TestTransitiveWorkflowDependencies(t *testing.T) {
	s := openApplied(t)
	ctx := context.Background()
	w := map[string]models.RecordID{}
	for _, n := range []string{"deploy", "build", "test", "fetch", "unrelated"} {
		wf, err := schema.CreateWorkflow(ctx, s, n)
		if err != nil {
			t.Fatal(err)
		}
		if wf.Status != "pending" {
			t.Fatalf("default status = %q", wf.Status)
		}
		w[n] = *wf.ID
	}
	for _, e := range [][2]string{{"deploy", "build"}, {"deploy", "test"}, {"build", "fetch"}, {"test", "build"}} {
		if err := schema.DependOn(ctx, s, w[e[0]], w[e[1]]); err != nil {
			t.Fatalf("%s -> %s: %v", e[0], e[1], err)
		}
	}
	deps, err := schema.TransitiveDependencies(ctx, s, w["deploy"])
	if err != nil {
		t.Fatal(err)
	}
	if n := names(deps, func(w schema.Workflow) string { return w.Name }); !slices.Equal(n, []string{"build", "fetch", "test"}) {
		t.Fatalf("transitive deps of deploy = %v", n)
	}
	if err := schema.DependOn(ctx, s, w["fetch"], w["deploy"]); !errors.Is(err, schema.ErrCycle) {
		t.Fatalf("cycle: err = %v, want ErrCycle", err)
	}
	if err := schema.DependOn(ctx, s, w["fetch"], w["fetch"]); !errors.Is(err, schema.ErrCycle) {
		t.Fatalf("self dependency: err = %v, want ErrCycle", err)
	}
}
