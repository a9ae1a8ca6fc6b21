package events_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/agentical/datalayer/cache"
	"github.com/agentical/datalayer/events"
	"github.com/google/uuid"
)

// A service shares the cache's client, publishes after a committed status
// change and streams all task status changes to browsers.
func Example() {
	ctx := context.Background()
	c, err := cache.New(ctx, cache.Config{Addrs: []string{"localhost:6379"}})
	if err != nil {
		return
	}
	defer c.Close()
	bus, err := events.New(c.Client(), events.Config{Prefix: "myapp:ev"})
	if err != nil {
		return
	}
	defer bus.Close()

	// After the transition committed:
	id := uuid.New()
	err = events.PublishTaskStatusChanged(ctx, bus, events.TaskStatusChanged{TaskID: id, From: "queued", To: "running", Version: 3})
	if errors.Is(err, events.ErrUnavailable) {
		slog.Warn("task event not published; the write stands", "err", err)
	}

	// One task's changes in this process:
	sub, err := events.Subscribe(ctx, bus, events.TaskStatusTopic(id))
	if err == nil {
		go func() {
			for ev := range sub.C() {
				if ev.Gap {
					slog.Info("events were lost before this one: re-read the task")
				}
				slog.Info("task status", "task", ev.Value.TaskID, "to", ev.Value.To)
			}
		}()
	}

	// Every task's changes as server-sent events:
	http.Handle("/events/tasks", events.SSEHandler(bus, events.AllTaskStatus,
		events.SSEConfig[events.TaskStatusChanged]{Pattern: true, Event: "task.status"}))
}
