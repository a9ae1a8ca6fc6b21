-- Agents, the tools they may call, and per-agent tool configuration.

CREATE TYPE agent_kind AS ENUM ('assistant', 'worker', 'supervisor', 'router');
CREATE TYPE agent_status AS ENUM ('draft', 'active', 'paused', 'retired');

CREATE TABLE agents (
    id          uuid         NOT NULL DEFAULT gen_random_uuid(),
    owner_id    uuid         NOT NULL,
    name        text         NOT NULL,
    kind        agent_kind   NOT NULL,
    status      agent_status NOT NULL DEFAULT 'draft',
    description text         NOT NULL DEFAULT '',
    config      jsonb        NOT NULL DEFAULT '{}',
    -- Optimistic concurrency: every update must name the version it read.
    version     integer      NOT NULL DEFAULT 1,
    created_at  timestamptz  NOT NULL DEFAULT now(),
    updated_at  timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT agents_pkey PRIMARY KEY (id),
    CONSTRAINT agents_owner_name_key UNIQUE (owner_id, name),
    -- An owner cannot be deleted while they still own agents.
    CONSTRAINT agents_owner_fkey FOREIGN KEY (owner_id) REFERENCES users (id) ON DELETE RESTRICT,
    CONSTRAINT agents_config_is_object CHECK (jsonb_typeof(config) = 'object'),
    CONSTRAINT agents_version_positive CHECK (version > 0),
    CONSTRAINT agents_name_not_blank CHECK (length(btrim(name)) > 0)
);

CREATE INDEX agents_active_idx ON agents (owner_id, created_at) WHERE status = 'active';
CREATE INDEX agents_config_gin ON agents USING gin (config jsonb_path_ops);

CREATE TABLE tools (
    id           uuid        NOT NULL DEFAULT gen_random_uuid(),
    name         text        NOT NULL,
    category     text        NOT NULL DEFAULT 'general',
    description  text        NOT NULL DEFAULT '',
    input_schema jsonb       NOT NULL DEFAULT '{}',
    is_enabled   boolean     NOT NULL DEFAULT true,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT tools_pkey PRIMARY KEY (id),
    CONSTRAINT tools_name_key UNIQUE (name),
    CONSTRAINT tools_input_schema_is_object CHECK (jsonb_typeof(input_schema) = 'object')
);

CREATE TABLE agent_tools (
    agent_id    uuid        NOT NULL,
    tool_id     uuid        NOT NULL,
    config      jsonb       NOT NULL DEFAULT '{}',
    is_enabled  boolean     NOT NULL DEFAULT true,
    assigned_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT agent_tools_pkey PRIMARY KEY (agent_id, tool_id),
    -- Assignments belong to the agent; a tool in use cannot be deleted.
    CONSTRAINT agent_tools_agent_fkey FOREIGN KEY (agent_id) REFERENCES agents (id) ON DELETE CASCADE,
    CONSTRAINT agent_tools_tool_fkey FOREIGN KEY (tool_id) REFERENCES tools (id) ON DELETE RESTRICT,
    CONSTRAINT agent_tools_config_is_object CHECK (jsonb_typeof(config) = 'object')
);

CREATE INDEX agent_tools_tool_idx ON agent_tools (tool_id);
