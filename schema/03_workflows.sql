-- Workflows: ordered steps, each optionally run by an agent or a tool, with
-- explicit step-to-step dependencies forming a DAG.

CREATE TYPE workflow_status AS ENUM ('draft', 'active', 'archived');

CREATE TABLE workflows (
    id          uuid            NOT NULL DEFAULT gen_random_uuid(),
    owner_id    uuid            NOT NULL,
    name        text            NOT NULL,
    description text            NOT NULL DEFAULT '',
    status      workflow_status NOT NULL DEFAULT 'draft',
    definition  jsonb           NOT NULL DEFAULT '{}',
    version     integer         NOT NULL DEFAULT 1,
    created_at  timestamptz     NOT NULL DEFAULT now(),
    updated_at  timestamptz     NOT NULL DEFAULT now(),
    CONSTRAINT workflows_pkey PRIMARY KEY (id),
    CONSTRAINT workflows_owner_name_key UNIQUE (owner_id, name),
    CONSTRAINT workflows_owner_fkey FOREIGN KEY (owner_id) REFERENCES users (id) ON DELETE RESTRICT,
    CONSTRAINT workflows_version_positive CHECK (version > 0)
);

CREATE TABLE workflow_steps (
    id          uuid        NOT NULL DEFAULT gen_random_uuid(),
    workflow_id uuid        NOT NULL,
    position    integer     NOT NULL,
    name        text        NOT NULL,
    agent_id    uuid        NULL,
    tool_id     uuid        NULL,
    config      jsonb       NOT NULL DEFAULT '{}',
    timeout_ms  integer     NOT NULL DEFAULT 60000,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT workflow_steps_pkey PRIMARY KEY (id),
    CONSTRAINT workflow_steps_position_key UNIQUE (workflow_id, position),
    CONSTRAINT workflow_steps_workflow_fkey FOREIGN KEY (workflow_id) REFERENCES workflows (id) ON DELETE CASCADE,
    -- Retiring an agent or tool leaves the step in place, unassigned.
    CONSTRAINT workflow_steps_agent_fkey FOREIGN KEY (agent_id) REFERENCES agents (id) ON DELETE SET NULL,
    CONSTRAINT workflow_steps_tool_fkey FOREIGN KEY (tool_id) REFERENCES tools (id) ON DELETE SET NULL,
    CONSTRAINT workflow_steps_position_nonneg CHECK (position >= 0),
    CONSTRAINT workflow_steps_timeout_range CHECK (timeout_ms BETWEEN 1 AND 86400000)
);

CREATE INDEX workflow_steps_agent_idx ON workflow_steps (agent_id) WHERE agent_id IS NOT NULL;

CREATE TABLE workflow_step_dependencies (
    step_id            uuid NOT NULL,
    depends_on_step_id uuid NOT NULL,
    CONSTRAINT workflow_step_dependencies_pkey PRIMARY KEY (step_id, depends_on_step_id),
    CONSTRAINT workflow_step_dependencies_step_fkey FOREIGN KEY (step_id) REFERENCES workflow_steps (id) ON DELETE CASCADE,
    CONSTRAINT workflow_step_dependencies_dep_fkey FOREIGN KEY (depends_on_step_id) REFERENCES workflow_steps (id) ON DELETE CASCADE,
    CONSTRAINT workflow_step_dependencies_no_self CHECK (step_id <> depends_on_step_id)
);

CREATE INDEX workflow_step_dependencies_dep_idx ON workflow_step_dependencies (depends_on_step_id);
