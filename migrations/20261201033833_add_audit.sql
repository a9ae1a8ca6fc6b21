-- Create "datalayer_audit" table
CREATE TABLE "datalayer_audit" ("id" bigint NOT NULL GENERATED ALWAYS AS IDENTITY, "at" timestamptz NOT NULL DEFAULT now(), "actor" text NULL, "method" text NOT NULL, "tables" text[] NOT NULL, "keys" jsonb NOT NULL DEFAULT '{}', PRIMARY KEY ("id"));
-- Create index "datalayer_audit_actor_idx" to table: "datalayer_audit"
CREATE INDEX "datalayer_audit_actor_idx" ON "datalayer_audit" ("actor", "at") WHERE (actor IS NOT NULL);
-- Create index "datalayer_audit_at_idx" to table: "datalayer_audit"
CREATE INDEX "datalayer_audit_at_idx" ON "datalayer_audit" ("at");
