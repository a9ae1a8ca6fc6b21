-- Append-only audit trail. Actors are SET NULL on delete: the record stays.

CREATE TABLE audit_log (
    id            bigint      GENERATED ALWAYS AS IDENTITY,
    actor_user_id uuid        NULL,
    action        text        NOT NULL,
    entity_type   text        NOT NULL,
    entity_id     uuid        NULL,
    details       jsonb       NOT NULL DEFAULT '{}',
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT audit_log_pkey PRIMARY KEY (id),
    CONSTRAINT audit_log_actor_fkey FOREIGN KEY (actor_user_id) REFERENCES users (id) ON DELETE SET NULL,
    CONSTRAINT audit_log_action_format CHECK (action ~ '^[a-z_]+\.[a-z_]+$')
);

CREATE INDEX audit_log_entity_idx ON audit_log (entity_type, entity_id, created_at DESC);
CREATE INDEX audit_log_actor_idx ON audit_log (actor_user_id, created_at DESC) WHERE actor_user_id IS NOT NULL;
