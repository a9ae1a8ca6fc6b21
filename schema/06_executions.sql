-- Executions (runs of an agent, workflow or playbook) and their append-only
-- event stream. Subjects are SET NULL on delete so run history survives.

CREATE TYPE execution_subject AS ENUM ('agent', 'workflow', 'playbook');
CREATE TYPE execution_status AS ENUM ('pending', 'running', 'succeeded', 'failed', 'cancelled', 'timed_out');
CREATE TYPE execution_event_kind AS ENUM ('log', 'state_change', 'tool_call', 'tool_result', 'metric', 'error');

CREATE TABLE executions (
    id           uuid              NOT NULL DEFAULT gen_random_uuid(),
    subject_kind execution_subject NOT NULL,
    agent_id     uuid              NULL,
    workflow_id  uuid              NULL,
    playbook_id  uuid              NULL,
    triggered_by uuid              NULL,
    status       execution_status  NOT NULL DEFAULT 'pending',
    input        jsonb             NOT NULL DEFAULT '{}',
    output       jsonb             NULL,
    error        text              NULL,
    started_at   timestamptz       NULL,
    finished_at  timestamptz       NULL,
    version      integer           NOT NULL DEFAULT 1,
    created_at   timestamptz       NOT NULL DEFAULT now(),
    CONSTRAINT executions_pkey PRIMARY KEY (id),
    CONSTRAINT executions_agent_fkey FOREIGN KEY (agent_id) REFERENCES agents (id) ON DELETE SET NULL,
    CONSTRAINT executions_workflow_fkey FOREIGN KEY (workflow_id) REFERENCES workflows (id) ON DELETE SET NULL,
    CONSTRAINT executions_playbook_fkey FOREIGN KEY (playbook_id) REFERENCES playbooks (id) ON DELETE SET NULL,
    CONSTRAINT executions_triggered_by_fkey FOREIGN KEY (triggered_by) REFERENCES users (id) ON DELETE SET NULL,
    CONSTRAINT executions_one_subject CHECK (num_nonnulls(agent_id, workflow_id, playbook_id) <= 1),
    CONSTRAINT executions_finished_after_start CHECK (finished_at IS NULL OR started_at IS NULL OR finished_at >= started_at),
    CONSTRAINT executions_error_only_on_failure CHECK (error IS NULL OR status IN ('failed', 'timed_out', 'cancelled'))
);

CREATE INDEX executions_agent_created_idx ON executions (agent_id, created_at DESC) WHERE agent_id IS NOT NULL;
CREATE INDEX executions_workflow_created_idx ON executions (workflow_id, created_at DESC) WHERE workflow_id IS NOT NULL;
CREATE INDEX executions_active_idx ON executions (created_at) WHERE status IN ('pending', 'running');

CREATE TABLE execution_events (
    id           bigint               GENERATED ALWAYS AS IDENTITY,
    execution_id uuid                 NOT NULL,
    seq          integer              NOT NULL,
    kind         execution_event_kind NOT NULL,
    payload      jsonb                NOT NULL DEFAULT '{}',
    created_at   timestamptz          NOT NULL DEFAULT now(),
    CONSTRAINT execution_events_pkey PRIMARY KEY (id),
    CONSTRAINT execution_events_seq_key UNIQUE (execution_id, seq),
    CONSTRAINT execution_events_execution_fkey FOREIGN KEY (execution_id) REFERENCES executions (id) ON DELETE CASCADE,
    CONSTRAINT execution_events_seq_nonneg CHECK (seq >= 0)
);
