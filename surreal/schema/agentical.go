package schema

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/surrealdb/surrealdb.go/pkg/models"

	"github.com/agentical/datalayer/surreal"
)

// Agent is a record of table agent.
type Agent struct {
	ID        *models.RecordID `json:"id,omitempty"`
	Name      string           `json:"name"`
	Kind      string           `json:"kind,omitempty"`
	CreatedAt time.Time        `json:"created_at,omitempty"`
}

// Memory is a record of table memory.
type Memory struct {
	ID         *models.RecordID `json:"id,omitempty"`
	Content    string           `json:"content"`
	Importance float64          `json:"importance"`
	Tags       []string         `json:"tags"`
	CreatedAt  time.Time        `json:"created_at,omitempty"`
}

// Concept is a record of table concept.
type Concept struct {
	ID          *models.RecordID `json:"id,omitempty"`
	Name        string           `json:"name"`
	Description *string          `json:"description,omitempty"`
}

// Workflow is a record of table workflow.
type Workflow struct {
	ID     *models.RecordID `json:"id,omitempty"`
	Name   string           `json:"name"`
	Status string           `json:"status,omitempty"`
}

// CreateAgent creates an agent with a generated id. A taken name is
// surreal.ErrConflict.
func CreateAgent(ctx context.Context, q surreal.Querier, name, kind string) (Agent, error) {
	vars := map[string]any{"name": name}
	sql := "CREATE ONLY agent SET name = $name"
	if kind != "" {
		vars["kind"] = kind
		sql += ", kind = $kind"
	}
	return surreal.Query[Agent](ctx, q, sql, vars)
}

// CreateConcept creates a concept with a generated id. A taken name is
// surreal.ErrConflict.
func CreateConcept(ctx context.Context, q surreal.Querier, name string) (Concept, error) {
	return surreal.Query[Concept](ctx, q, "CREATE ONLY concept SET name = $name", map[string]any{"name": name})
}

// CreateWorkflow creates a pending workflow with a generated id.
func CreateWorkflow(ctx context.Context, q surreal.Querier, name string) (Workflow, error) {
	return surreal.Query[Workflow](ctx, q, "CREATE ONLY workflow SET name = $name", map[string]any{"name": name})
}

// Remember stores a memory for agent (memory record plus agent -> remembers
// -> memory edge) in one transaction. A zero CreatedAt means now.
func Remember(ctx context.Context, s *surreal.Store, agent models.RecordID, m Memory) (Memory, error) {
	var out Memory
	err := s.InTx(ctx, func(ctx context.Context, tx *surreal.Tx) error {
		vars := map[string]any{"content": m.Content, "importance": m.Importance, "tags": nonNil(m.Tags)}
		sql := "CREATE ONLY memory SET content = $content, importance = $importance, tags = $tags"
		if !m.CreatedAt.IsZero() {
			vars["at"] = m.CreatedAt
			sql += ", created_at = $at"
		}
		created, err := surreal.Query[Memory](ctx, tx, sql, vars)
		if err != nil {
			return err
		}
		if _, err := surreal.Relate[map[string]any](ctx, tx, agent, "remembers", *created.ID, nil); err != nil {
			return err
		}
		out = created
		return nil
	})
	return out, err
}

// Memories returns agent's memories, newest first, at most limit (0 = 50).
func Memories(ctx context.Context, q surreal.Querier, agent models.RecordID, limit int) ([]Memory, error) {
	if limit <= 0 {
		limit = 50
	}
	return surreal.Query[[]Memory](ctx, q,
		"SELECT * FROM memory WHERE id IN $agent->remembers->memory ORDER BY created_at DESC LIMIT $limit",
		map[string]any{"agent": &agent, "limit": limit})
}

// Know records agent -> knows -> concept. A missing agent or concept is
// ErrNotFound (surreal.RelateChecked): no dangling edge is created.
func Know(ctx context.Context, q surreal.Querier, agent, concept models.RecordID, confidence float64) error {
	_, err := surreal.RelateChecked[map[string]any](ctx, q, agent, "knows", concept, map[string]any{"confidence": confidence})
	return err
}

// RelateConcepts records a -> relates_to -> b. A missing concept is
// surreal.ErrNotFound.
func RelateConcepts(ctx context.Context, q surreal.Querier, a, b models.RecordID) error {
	_, err := surreal.RelateChecked[map[string]any](ctx, q, a, "relates_to", b, nil)
	return err
}

// ConceptsWithinTwoHops returns the concepts agent knows directly and those
// related to them (agent->knows->concept[->relates_to->concept]), each once,
// ordered by name. (SurrealDB 3.0.2 ignores ORDER BY when selecting from an
// array of record ids, hence the WHERE id IN form over the table.)
func ConceptsWithinTwoHops(ctx context.Context, q surreal.Querier, agent models.RecordID) ([]Concept, error) {
	return surreal.Query[[]Concept](ctx, q, `
		LET $one = $agent->knows->concept;
		LET $two = $agent->knows->concept->relates_to->concept;
		SELECT * FROM concept WHERE id IN array::concat($one, $two) ORDER BY name`,
		map[string]any{"agent": &agent})
}

// ErrCycle is returned by DependOn when the dependency would close a cycle.
var ErrCycle = errors.New("schema: workflow dependency cycle")

// DependOn records workflow -> depends_on -> dep, refusing self-dependencies,
// cycles and missing workflows (surreal.ErrNotFound).
func DependOn(ctx context.Context, s *surreal.Store, workflow, dep models.RecordID) error {
	if workflow == dep {
		return fmt.Errorf("%w: %v depends on itself", ErrCycle, workflow)
	}
	return s.InTx(ctx, func(ctx context.Context, tx *surreal.Tx) error {
		deps, err := TransitiveDependencies(ctx, tx, dep)
		if err != nil {
			return err
		}
		for _, d := range deps {
			if d.ID != nil && *d.ID == workflow {
				return fmt.Errorf("%w: %v already depends on %v", ErrCycle, dep, workflow)
			}
		}
		_, err = surreal.RelateChecked[map[string]any](ctx, tx, workflow, "depends_on", dep, nil)
		return err
	})
}

// TransitiveDependencies returns every workflow that workflow depends on,
// directly or through others, each once, ordered by name.
func TransitiveDependencies(ctx context.Context, q surreal.Querier, workflow models.RecordID) ([]Workflow, error) {
	return surreal.Query[[]Workflow](ctx, q, `
		SELECT * FROM workflow WHERE id IN $wf.{..+collect}(->depends_on->workflow) AND id != $wf
		ORDER BY name`,
		map[string]any{"wf": &workflow})
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
