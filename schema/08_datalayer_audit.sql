-- Written by the repositories for queries marked "-- @audit", in the same
-- transaction as the write (repo.AuditTable): who (actor from the context,
-- NULL when none), what (method, tables, key values) and when.

CREATE TABLE datalayer_audit (
    id         bigint      GENERATED ALWAYS AS IDENTITY,
    at         timestamptz NOT NULL DEFAULT now(),
    actor      text        NULL,
    method     text        NOT NULL,
    tables     text[]      NOT NULL,
    keys       jsonb       NOT NULL DEFAULT '{}',
    CONSTRAINT datalayer_audit_pkey PRIMARY KEY (id)
);

CREATE INDEX datalayer_audit_at_idx ON datalayer_audit (at);
CREATE INDEX datalayer_audit_actor_idx ON datalayer_audit (actor, at) WHERE actor IS NOT NULL;
