package events

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// TaskStatusChanged says a task moved from one status to another. Publish
// it with PublishTaskStatusChanged after the change COMMITTED.
type TaskStatusChanged struct {
	TaskID uuid.UUID `json:"task_id"`
	// From is the status before the change ("" when unknown, e.g. a new task).
	From string `json:"from"`
	To   string `json:"to"`
	// Version is the task's row version after the change (0 if unknown), so
	// a client can tell whether the row it holds is older.
	Version int32 `json:"version,omitempty"`
	// At is when the change happened (set to now if zero).
	At time.Time `json:"at"`
}

// TaskStatusPrefix starts the topic name of every task's status stream.
const TaskStatusPrefix = "task.status."

// TaskStatusTopic is the topic of one task's status changes.
func TaskStatusTopic(id uuid.UUID) Topic[TaskStatusChanged] {
	return Topic[TaskStatusChanged]{Name: TaskStatusPrefix + id.String()}
}

// AllTaskStatus is the pattern over every task's status topic: pass it to
// SubscribePattern (or SSEHandler with SSEConfig.Pattern).
var AllTaskStatus = Topic[TaskStatusChanged]{Name: TaskStatusPrefix + "*"}

// PublishTaskStatusChanged publishes ev on TaskStatusTopic(ev.TaskID). Call
// it after the write that changed the status committed (after InTx
// returned, never inside the transaction), e.g.
//
//	n, err := repo.TransitionTaskStatus(ctx, db.TransitionTaskStatusParams{ID: id, Status: to, Version: v})
//	if err == nil && n == 1 {
//		ev := events.TaskStatusChanged{TaskID: id, From: string(from), To: string(to), Version: v + 1}
//		if err := events.PublishTaskStatusChanged(ctx, bus, ev); err != nil {
//			log.Warn("task event not published", "err", err) // the write stands
//		}
//	}
//
// The error matches ErrUnavailable when Redis is down; the database write
// is not affected, so log it and go on.
func PublishTaskStatusChanged(ctx context.Context, b *Bus, ev TaskStatusChanged) error {
	if ev.TaskID == uuid.Nil {
		return fmt.Errorf("%w: TaskStatusChanged without TaskID", ErrInvalid)
	}
	if ev.To == "" {
		return fmt.Errorf("%w: TaskStatusChanged for task %s without To status", ErrInvalid, ev.TaskID)
	}
	if ev.At.IsZero() {
		ev.At = time.Now().UTC()
	}
	return Publish(ctx, b, TaskStatusTopic(ev.TaskID), ev)
}
