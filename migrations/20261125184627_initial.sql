-- Create enum type "step_failure_action"
CREATE TYPE "step_failure_action" AS ENUM ('abort', 'continue', 'retry');
-- Create enum type "user_role"
CREATE TYPE "user_role" AS ENUM ('admin', 'member', 'viewer');
-- Create enum type "agent_status"
CREATE TYPE "agent_status" AS ENUM ('draft', 'active', 'paused', 'retired');
-- Create enum type "workflow_status"
CREATE TYPE "workflow_status" AS ENUM ('draft', 'active', 'archived');
-- Create enum type "task_status"
CREATE TYPE "task_status" AS ENUM ('pending', 'queued', 'running', 'blocked', 'completed', 'failed', 'cancelled');
-- Create enum type "playbook_status"
CREATE TYPE "playbook_status" AS ENUM ('draft', 'published', 'deprecated');
-- Create enum type "execution_status"
CREATE TYPE "execution_status" AS ENUM ('pending', 'running', 'succeeded', 'failed', 'cancelled', 'timed_out');
-- Create "users" table
CREATE TABLE "users" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "email" text NOT NULL, "display_name" text NOT NULL, "role" "user_role" NOT NULL DEFAULT 'member', "is_active" boolean NOT NULL DEFAULT true, "created_at" timestamptz NOT NULL DEFAULT now(), "updated_at" timestamptz NOT NULL DEFAULT now(), PRIMARY KEY ("id"), CONSTRAINT "users_email_key" UNIQUE ("email"), CONSTRAINT "users_display_name_not_blank" CHECK (length(btrim(display_name)) > 0), CONSTRAINT "users_email_lower" CHECK (email = lower(email)));
-- Create enum type "agent_kind"
CREATE TYPE "agent_kind" AS ENUM ('assistant', 'worker', 'supervisor', 'router');
-- Create enum type "execution_event_kind"
CREATE TYPE "execution_event_kind" AS ENUM ('log', 'state_change', 'tool_call', 'tool_result', 'metric', 'error');
-- Create enum type "execution_subject"
CREATE TYPE "execution_subject" AS ENUM ('agent', 'workflow', 'playbook');
-- Create "agents" table
CREATE TABLE "agents" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "owner_id" uuid NOT NULL, "name" text NOT NULL, "kind" "agent_kind" NOT NULL, "status" "agent_status" NOT NULL DEFAULT 'draft', "description" text NOT NULL DEFAULT '', "config" jsonb NOT NULL DEFAULT '{}', "version" integer NOT NULL DEFAULT 1, "created_at" timestamptz NOT NULL DEFAULT now(), "updated_at" timestamptz NOT NULL DEFAULT now(), PRIMARY KEY ("id"), CONSTRAINT "agents_owner_name_key" UNIQUE ("owner_id", "name"), CONSTRAINT "agents_owner_fkey" FOREIGN KEY ("owner_id") REFERENCES "users" ("id") ON UPDATE NO ACTION ON DELETE RESTRICT, CONSTRAINT "agents_config_is_object" CHECK (jsonb_typeof(config) = 'object'::text), CONSTRAINT "agents_name_not_blank" CHECK (length(btrim(name)) > 0), CONSTRAINT "agents_version_positive" CHECK (version > 0));
-- Create index "agents_active_idx" to table: "agents"
CREATE INDEX "agents_active_idx" ON "agents" ("owner_id", "created_at") WHERE (status = 'active'::agent_status);
-- Create index "agents_config_gin" to table: "agents"
CREATE INDEX "agents_config_gin" ON "agents" USING gin ("config" jsonb_path_ops);
-- Create "tools" table
CREATE TABLE "tools" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "name" text NOT NULL, "category" text NOT NULL DEFAULT 'general', "description" text NOT NULL DEFAULT '', "input_schema" jsonb NOT NULL DEFAULT '{}', "is_enabled" boolean NOT NULL DEFAULT true, "created_at" timestamptz NOT NULL DEFAULT now(), "updated_at" timestamptz NOT NULL DEFAULT now(), PRIMARY KEY ("id"), CONSTRAINT "tools_name_key" UNIQUE ("name"), CONSTRAINT "tools_input_schema_is_object" CHECK (jsonb_typeof(input_schema) = 'object'::text));
-- Create "agent_tools" table
CREATE TABLE "agent_tools" ("agent_id" uuid NOT NULL, "tool_id" uuid NOT NULL, "config" jsonb NOT NULL DEFAULT '{}', "is_enabled" boolean NOT NULL DEFAULT true, "assigned_at" timestamptz NOT NULL DEFAULT now(), PRIMARY KEY ("agent_id", "tool_id"), CONSTRAINT "agent_tools_agent_fkey" FOREIGN KEY ("agent_id") REFERENCES "agents" ("id") ON UPDATE NO ACTION ON DELETE CASCADE, CONSTRAINT "agent_tools_tool_fkey" FOREIGN KEY ("tool_id") REFERENCES "tools" ("id") ON UPDATE NO ACTION ON DELETE RESTRICT, CONSTRAINT "agent_tools_config_is_object" CHECK (jsonb_typeof(config) = 'object'::text));
-- Create index "agent_tools_tool_idx" to table: "agent_tools"
CREATE INDEX "agent_tools_tool_idx" ON "agent_tools" ("tool_id");
-- Create "api_keys" table
CREATE TABLE "api_keys" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "user_id" uuid NOT NULL, "name" text NOT NULL, "prefix" text NOT NULL, "key_hash" bytea NOT NULL, "scopes" text[] NOT NULL DEFAULT '{}', "expires_at" timestamptz NULL, "last_used_at" timestamptz NULL, "revoked_at" timestamptz NULL, "created_at" timestamptz NOT NULL DEFAULT now(), PRIMARY KEY ("id"), CONSTRAINT "api_keys_prefix_key" UNIQUE ("prefix"), CONSTRAINT "api_keys_user_fkey" FOREIGN KEY ("user_id") REFERENCES "users" ("id") ON UPDATE NO ACTION ON DELETE CASCADE, CONSTRAINT "api_keys_hash_is_sha256" CHECK (octet_length(key_hash) = 32), CONSTRAINT "api_keys_prefix_format" CHECK (prefix ~ '^[A-Za-z0-9]{8,16}$'::text));
-- Create index "api_keys_user_live_idx" to table: "api_keys"
CREATE INDEX "api_keys_user_live_idx" ON "api_keys" ("user_id") WHERE (revoked_at IS NULL);
-- Create "audit_log" table
CREATE TABLE "audit_log" ("id" bigint NOT NULL GENERATED ALWAYS AS IDENTITY, "actor_user_id" uuid NULL, "action" text NOT NULL, "entity_type" text NOT NULL, "entity_id" uuid NULL, "details" jsonb NOT NULL DEFAULT '{}', "created_at" timestamptz NOT NULL DEFAULT now(), PRIMARY KEY ("id"), CONSTRAINT "audit_log_actor_fkey" FOREIGN KEY ("actor_user_id") REFERENCES "users" ("id") ON UPDATE NO ACTION ON DELETE SET NULL, CONSTRAINT "audit_log_action_format" CHECK (action ~ '^[a-z_]+\.[a-z_]+$'::text));
-- Create index "audit_log_actor_idx" to table: "audit_log"
CREATE INDEX "audit_log_actor_idx" ON "audit_log" ("actor_user_id", "created_at" DESC) WHERE (actor_user_id IS NOT NULL);
-- Create index "audit_log_entity_idx" to table: "audit_log"
CREATE INDEX "audit_log_entity_idx" ON "audit_log" ("entity_type", "entity_id", "created_at" DESC);
-- Create "playbooks" table
CREATE TABLE "playbooks" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "owner_id" uuid NOT NULL, "name" text NOT NULL, "description" text NOT NULL DEFAULT '', "status" "playbook_status" NOT NULL DEFAULT 'draft', "trigger" jsonb NOT NULL DEFAULT '{}', "tags" text[] NOT NULL DEFAULT '{}', "version" integer NOT NULL DEFAULT 1, "created_at" timestamptz NOT NULL DEFAULT now(), "updated_at" timestamptz NOT NULL DEFAULT now(), PRIMARY KEY ("id"), CONSTRAINT "playbooks_owner_name_key" UNIQUE ("owner_id", "name"), CONSTRAINT "playbooks_owner_fkey" FOREIGN KEY ("owner_id") REFERENCES "users" ("id") ON UPDATE NO ACTION ON DELETE RESTRICT, CONSTRAINT "playbooks_version_positive" CHECK (version > 0));
-- Create index "playbooks_tags_gin" to table: "playbooks"
CREATE INDEX "playbooks_tags_gin" ON "playbooks" USING gin ("tags");
-- Create "workflows" table
CREATE TABLE "workflows" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "owner_id" uuid NOT NULL, "name" text NOT NULL, "description" text NOT NULL DEFAULT '', "status" "workflow_status" NOT NULL DEFAULT 'draft', "definition" jsonb NOT NULL DEFAULT '{}', "version" integer NOT NULL DEFAULT 1, "created_at" timestamptz NOT NULL DEFAULT now(), "updated_at" timestamptz NOT NULL DEFAULT now(), PRIMARY KEY ("id"), CONSTRAINT "workflows_owner_name_key" UNIQUE ("owner_id", "name"), CONSTRAINT "workflows_owner_fkey" FOREIGN KEY ("owner_id") REFERENCES "users" ("id") ON UPDATE NO ACTION ON DELETE RESTRICT, CONSTRAINT "workflows_version_positive" CHECK (version > 0));
-- Create "executions" table
CREATE TABLE "executions" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "subject_kind" "execution_subject" NOT NULL, "agent_id" uuid NULL, "workflow_id" uuid NULL, "playbook_id" uuid NULL, "triggered_by" uuid NULL, "status" "execution_status" NOT NULL DEFAULT 'pending', "input" jsonb NOT NULL DEFAULT '{}', "output" jsonb NULL, "error" text NULL, "started_at" timestamptz NULL, "finished_at" timestamptz NULL, "version" integer NOT NULL DEFAULT 1, "created_at" timestamptz NOT NULL DEFAULT now(), PRIMARY KEY ("id"), CONSTRAINT "executions_agent_fkey" FOREIGN KEY ("agent_id") REFERENCES "agents" ("id") ON UPDATE NO ACTION ON DELETE SET NULL, CONSTRAINT "executions_playbook_fkey" FOREIGN KEY ("playbook_id") REFERENCES "playbooks" ("id") ON UPDATE NO ACTION ON DELETE SET NULL, CONSTRAINT "executions_triggered_by_fkey" FOREIGN KEY ("triggered_by") REFERENCES "users" ("id") ON UPDATE NO ACTION ON DELETE SET NULL, CONSTRAINT "executions_workflow_fkey" FOREIGN KEY ("workflow_id") REFERENCES "workflows" ("id") ON UPDATE NO ACTION ON DELETE SET NULL, CONSTRAINT "executions_error_only_on_failure" CHECK ((error IS NULL) OR (status = ANY (ARRAY['failed'::execution_status, 'timed_out'::execution_status, 'cancelled'::execution_status]))), CONSTRAINT "executions_finished_after_start" CHECK ((finished_at IS NULL) OR (started_at IS NULL) OR (finished_at >= started_at)), CONSTRAINT "executions_one_subject" CHECK (num_nonnulls(agent_id, workflow_id, playbook_id) <= 1));
-- Create index "executions_active_idx" to table: "executions"
CREATE INDEX "executions_active_idx" ON "executions" ("created_at") WHERE (status = ANY (ARRAY['pending'::execution_status, 'running'::execution_status]));
-- Create index "executions_agent_created_idx" to table: "executions"
CREATE INDEX "executions_agent_created_idx" ON "executions" ("agent_id", "created_at" DESC) WHERE (agent_id IS NOT NULL);
-- Create index "executions_workflow_created_idx" to table: "executions"
CREATE INDEX "executions_workflow_created_idx" ON "executions" ("workflow_id", "created_at" DESC) WHERE (workflow_id IS NOT NULL);
-- Create "execution_events" table
CREATE TABLE "execution_events" ("id" bigint NOT NULL GENERATED ALWAYS AS IDENTITY, "execution_id" uuid NOT NULL, "seq" integer NOT NULL, "kind" "execution_event_kind" NOT NULL, "payload" jsonb NOT NULL DEFAULT '{}', "created_at" timestamptz NOT NULL DEFAULT now(), PRIMARY KEY ("id"), CONSTRAINT "execution_events_seq_key" UNIQUE ("execution_id", "seq"), CONSTRAINT "execution_events_execution_fkey" FOREIGN KEY ("execution_id") REFERENCES "executions" ("id") ON UPDATE NO ACTION ON DELETE CASCADE, CONSTRAINT "execution_events_seq_nonneg" CHECK (seq >= 0));
-- Create "playbook_steps" table
CREATE TABLE "playbook_steps" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "playbook_id" uuid NOT NULL, "position" integer NOT NULL, "action" text NOT NULL, "tool_id" uuid NULL, "parameters" jsonb NOT NULL DEFAULT '{}', "on_failure" "step_failure_action" NOT NULL DEFAULT 'abort', "max_retries" smallint NOT NULL DEFAULT 0, PRIMARY KEY ("id"), CONSTRAINT "playbook_steps_position_key" UNIQUE ("playbook_id", "position"), CONSTRAINT "playbook_steps_playbook_fkey" FOREIGN KEY ("playbook_id") REFERENCES "playbooks" ("id") ON UPDATE NO ACTION ON DELETE CASCADE, CONSTRAINT "playbook_steps_tool_fkey" FOREIGN KEY ("tool_id") REFERENCES "tools" ("id") ON UPDATE NO ACTION ON DELETE SET NULL, CONSTRAINT "playbook_steps_position_nonneg" CHECK ("position" >= 0), CONSTRAINT "playbook_steps_retries_range" CHECK ((max_retries >= 0) AND (max_retries <= 10)));
-- Create "tasks" table
CREATE TABLE "tasks" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "title" text NOT NULL, "description" text NOT NULL DEFAULT '', "status" "task_status" NOT NULL DEFAULT 'pending', "priority" smallint NOT NULL DEFAULT 2, "assignee_agent_id" uuid NULL, "parent_task_id" uuid NULL, "workflow_id" uuid NULL, "created_by" uuid NULL, "metadata" jsonb NOT NULL DEFAULT '{}', "due_at" timestamptz NULL, "started_at" timestamptz NULL, "completed_at" timestamptz NULL, "version" integer NOT NULL DEFAULT 1, "created_at" timestamptz NOT NULL DEFAULT now(), "updated_at" timestamptz NOT NULL DEFAULT now(), PRIMARY KEY ("id"), CONSTRAINT "tasks_assignee_fkey" FOREIGN KEY ("assignee_agent_id") REFERENCES "agents" ("id") ON UPDATE NO ACTION ON DELETE SET NULL, CONSTRAINT "tasks_created_by_fkey" FOREIGN KEY ("created_by") REFERENCES "users" ("id") ON UPDATE NO ACTION ON DELETE SET NULL, CONSTRAINT "tasks_parent_fkey" FOREIGN KEY ("parent_task_id") REFERENCES "tasks" ("id") ON UPDATE NO ACTION ON DELETE CASCADE, CONSTRAINT "tasks_workflow_fkey" FOREIGN KEY ("workflow_id") REFERENCES "workflows" ("id") ON UPDATE NO ACTION ON DELETE SET NULL, CONSTRAINT "tasks_completed_after_start" CHECK ((completed_at IS NULL) OR (started_at IS NULL) OR (completed_at >= started_at)), CONSTRAINT "tasks_not_own_parent" CHECK ((parent_task_id IS NULL) OR (parent_task_id <> id)), CONSTRAINT "tasks_priority_range" CHECK ((priority >= 0) AND (priority <= 4)), CONSTRAINT "tasks_version_positive" CHECK (version > 0));
-- Create index "tasks_assignee_status_idx" to table: "tasks"
CREATE INDEX "tasks_assignee_status_idx" ON "tasks" ("assignee_agent_id", "status");
-- Create index "tasks_metadata_gin" to table: "tasks"
CREATE INDEX "tasks_metadata_gin" ON "tasks" USING gin ("metadata" jsonb_path_ops);
-- Create index "tasks_open_due_idx" to table: "tasks"
CREATE INDEX "tasks_open_due_idx" ON "tasks" ("due_at") WHERE (status = ANY (ARRAY['pending'::task_status, 'queued'::task_status, 'running'::task_status, 'blocked'::task_status]));
-- Create index "tasks_parent_idx" to table: "tasks"
CREATE INDEX "tasks_parent_idx" ON "tasks" ("parent_task_id") WHERE (parent_task_id IS NOT NULL);
-- Create "workflow_steps" table
CREATE TABLE "workflow_steps" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "workflow_id" uuid NOT NULL, "position" integer NOT NULL, "name" text NOT NULL, "agent_id" uuid NULL, "tool_id" uuid NULL, "config" jsonb NOT NULL DEFAULT '{}', "timeout_ms" integer NOT NULL DEFAULT 60000, "created_at" timestamptz NOT NULL DEFAULT now(), PRIMARY KEY ("id"), CONSTRAINT "workflow_steps_position_key" UNIQUE ("workflow_id", "position"), CONSTRAINT "workflow_steps_agent_fkey" FOREIGN KEY ("agent_id") REFERENCES "agents" ("id") ON UPDATE NO ACTION ON DELETE SET NULL, CONSTRAINT "workflow_steps_tool_fkey" FOREIGN KEY ("tool_id") REFERENCES "tools" ("id") ON UPDATE NO ACTION ON DELETE SET NULL, CONSTRAINT "workflow_steps_workflow_fkey" FOREIGN KEY ("workflow_id") REFERENCES "workflows" ("id") ON UPDATE NO ACTION ON DELETE CASCADE, CONSTRAINT "workflow_steps_position_nonneg" CHECK ("position" >= 0), CONSTRAINT "workflow_steps_timeout_range" CHECK ((timeout_ms >= 1) AND (timeout_ms <= 86400000)));
-- Create index "workflow_steps_agent_idx" to table: "workflow_steps"
CREATE INDEX "workflow_steps_agent_idx" ON "workflow_steps" ("agent_id") WHERE (agent_id IS NOT NULL);
-- Create "workflow_step_dependencies" table
CREATE TABLE "workflow_step_dependencies" ("step_id" uuid NOT NULL, "depends_on_step_id" uuid NOT NULL, PRIMARY KEY ("step_id", "depends_on_step_id"), CONSTRAINT "workflow_step_dependencies_dep_fkey" FOREIGN KEY ("depends_on_step_id") REFERENCES "workflow_steps" ("id") ON UPDATE NO ACTION ON DELETE CASCADE, CONSTRAINT "workflow_step_dependencies_step_fkey" FOREIGN KEY ("step_id") REFERENCES "workflow_steps" ("id") ON UPDATE NO ACTION ON DELETE CASCADE, CONSTRAINT "workflow_step_dependencies_no_self" CHECK (step_id <> depends_on_step_id));
-- Create index "workflow_step_dependencies_dep_idx" to table: "workflow_step_dependencies"
CREATE INDEX "workflow_step_dependencies_dep_idx" ON "workflow_step_dependencies" ("depends_on_step_id");
