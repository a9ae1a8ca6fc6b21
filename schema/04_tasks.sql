-- Tasks: units of work assigned to agents, optionally nested under a parent.

CREATE TYPE task_status AS ENUM ('pending', 'queued', 'running', 'blocked', 'completed', 'failed', 'cancelled');

CREATE TABLE tasks (
    id                uuid        NOT NULL DEFAULT gen_random_uuid(),
    title             text        NOT NULL,
    description       text        NOT NULL DEFAULT '',
    status            task_status NOT NULL DEFAULT 'pending',
    priority          smallint    NOT NULL DEFAULT 2,
    assignee_agent_id uuid        NULL,
    parent_task_id    uuid        NULL,
    workflow_id       uuid        NULL,
    created_by        uuid        NULL,
    metadata          jsonb       NOT NULL DEFAULT '{}',
    due_at            timestamptz NULL,
    started_at        timestamptz NULL,
    completed_at      timestamptz NULL,
    version           integer     NOT NULL DEFAULT 1,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT tasks_pkey PRIMARY KEY (id),
    -- Deleting an agent unassigns its tasks; deleting a parent deletes subtasks.
    CONSTRAINT tasks_assignee_fkey FOREIGN KEY (assignee_agent_id) REFERENCES agents (id) ON DELETE SET NULL,
    CONSTRAINT tasks_parent_fkey FOREIGN KEY (parent_task_id) REFERENCES tasks (id) ON DELETE CASCADE,
    CONSTRAINT tasks_workflow_fkey FOREIGN KEY (workflow_id) REFERENCES workflows (id) ON DELETE SET NULL,
    CONSTRAINT tasks_created_by_fkey FOREIGN KEY (created_by) REFERENCES users (id) ON DELETE SET NULL,
    CONSTRAINT tasks_priority_range CHECK (priority BETWEEN 0 AND 4),
    CONSTRAINT tasks_not_own_parent CHECK (parent_task_id IS NULL OR parent_task_id <> id),
    CONSTRAINT tasks_completed_after_start CHECK (completed_at IS NULL OR started_at IS NULL OR completed_at >= started_at),
    CONSTRAINT tasks_version_positive CHECK (version > 0)
);

CREATE INDEX tasks_assignee_status_idx ON tasks (assignee_agent_id, status);
CREATE INDEX tasks_parent_idx ON tasks (parent_task_id) WHERE parent_task_id IS NOT NULL;
-- Open work ordered by due date: the scheduler's hot path.
CREATE INDEX tasks_open_due_idx ON tasks (due_at) WHERE status IN ('pending', 'queued', 'running', 'blocked');
CREATE INDEX tasks_metadata_gin ON tasks USING gin (metadata jsonb_path_ops);
