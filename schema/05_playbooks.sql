-- Playbooks: reusable, published sequences of actions.

CREATE TYPE playbook_status AS ENUM ('draft', 'published', 'deprecated');
CREATE TYPE step_failure_action AS ENUM ('abort', 'continue', 'retry');

CREATE TABLE playbooks (
    id          uuid            NOT NULL DEFAULT gen_random_uuid(),
    owner_id    uuid            NOT NULL,
    name        text            NOT NULL,
    description text            NOT NULL DEFAULT '',
    status      playbook_status NOT NULL DEFAULT 'draft',
    trigger     jsonb           NOT NULL DEFAULT '{}',
    tags        text[]          NOT NULL DEFAULT '{}',
    version     integer         NOT NULL DEFAULT 1,
    created_at  timestamptz     NOT NULL DEFAULT now(),
    updated_at  timestamptz     NOT NULL DEFAULT now(),
    CONSTRAINT playbooks_pkey PRIMARY KEY (id),
    CONSTRAINT playbooks_owner_name_key UNIQUE (owner_id, name),
    CONSTRAINT playbooks_owner_fkey FOREIGN KEY (owner_id) REFERENCES users (id) ON DELETE RESTRICT,
    CONSTRAINT playbooks_version_positive CHECK (version > 0)
);

CREATE INDEX playbooks_tags_gin ON playbooks USING gin (tags);

CREATE TABLE playbook_steps (
    id          uuid                NOT NULL DEFAULT gen_random_uuid(),
    playbook_id uuid                NOT NULL,
    position    integer             NOT NULL,
    action      text                NOT NULL,
    tool_id     uuid                NULL,
    parameters  jsonb               NOT NULL DEFAULT '{}',
    on_failure  step_failure_action NOT NULL DEFAULT 'abort',
    max_retries smallint            NOT NULL DEFAULT 0,
    CONSTRAINT playbook_steps_pkey PRIMARY KEY (id),
    CONSTRAINT playbook_steps_position_key UNIQUE (playbook_id, position),
    CONSTRAINT playbook_steps_playbook_fkey FOREIGN KEY (playbook_id) REFERENCES playbooks (id) ON DELETE CASCADE,
    CONSTRAINT playbook_steps_tool_fkey FOREIGN KEY (tool_id) REFERENCES tools (id) ON DELETE SET NULL,
    CONSTRAINT playbook_steps_position_nonneg CHECK (position >= 0),
    CONSTRAINT playbook_steps_retries_range CHECK (max_retries BETWEEN 0 AND 10)
);
