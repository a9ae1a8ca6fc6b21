package db_test

import (
	"context"
	"encoding/json"
	"math"
	"testing"

	"github.com/agentical/datalayer/postgres"

	"github.com/google/uuid"

	"github.com/agentical/datalayer/db"
)

func TestAuditLog(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	q := e.Q
	actor := mkUser(t, e, "actor@example.com")
	entity, otherEntity := uuid.New(), uuid.New()

	var want []int64
	for i := range 5 {
		r := must[db.InsertAuditLogRow](t)(q.InsertAuditLog(ctx, db.InsertAuditLogParams{
			ActorUserID: &actor.ID, Action: "agent.update", EntityType: "agent", EntityID: &entity,
			Details: json.RawMessage(`{"i":` + string(rune('0'+i)) + `}`),
		}))
		if r.ID <= 0 || r.CreatedAt.IsZero() {
			t.Fatalf("InsertAuditLog returned %+v", r)
		}
		if len(want) > 0 && r.ID <= want[0] {
			t.Fatalf("ids not increasing: %d after %d", r.ID, want[0])
		}
		want = append([]int64{r.ID}, want...) // newest first
	}
	must[db.InsertAuditLogRow](t)(q.InsertAuditLog(ctx, db.InsertAuditLogParams{Action: "agent.update", EntityType: "agent", EntityID: &otherEntity, Details: json.RawMessage(`{}`)}))
	must[db.InsertAuditLogRow](t)(q.InsertAuditLog(ctx, db.InsertAuditLogParams{Action: "task.update", EntityType: "task", EntityID: &entity, Details: json.RawMessage(`{}`)}))

	_, err := q.InsertAuditLog(ctx, db.InsertAuditLogParams{Action: "Agent Update", EntityType: "agent", Details: json.RawMessage(`{}`)})
	wantConstraint(t, err, postgres.ErrCheck, "audit_log_action_format")

	p := db.ListAuditLogForEntityParams{EntityType: "agent", EntityID: &entity, BeforeID: math.MaxInt64, PageSize: 2}
	var got []int64
	var sizes []int
	var first db.AuditLog
	for range 10 {
		page := must[[]db.AuditLog](t)(q.ListAuditLogForEntity(ctx, p))
		sizes = append(sizes, len(page))
		if len(page) == 0 {
			break
		}
		if first.ID == 0 {
			first = page[0]
		}
		for _, r := range page {
			got = append(got, r.ID)
		}
		p.BeforeID = page[len(page)-1].ID
	}
	eq(t, "page sizes", sizes, []int{2, 2, 1, 0})
	eq(t, "ids newest first", got, want)
	eq(t, "action", first.Action, "agent.update")
	eq(t, "entity", *first.EntityID, entity)
	eq(t, "actor", *first.ActorUserID, actor.ID)
	jsonEq(t, "details", first.Details, `{"i":4}`)

	// The actor's deletion keeps the trail, anonymised.
	n, err := q.DeleteUser(ctx, actor.ID)
	affected(t, "DeleteUser(actor)", n, err, 1)
	p.BeforeID = math.MaxInt64
	page := must[[]db.AuditLog](t)(q.ListAuditLogForEntity(ctx, p))
	eq(t, "rows kept", len(page), 2)
	eq(t, "actor after delete", page[0].ActorUserID, (*uuid.UUID)(nil))
}
