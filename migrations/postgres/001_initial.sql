-- PostgreSQL 001: the whole schema of SQLite's 001–006 (docs/design.md §7, docs/architecture.md).
-- One database holds many projects: every table has a project_id, and every key starts with it.
-- Text is compared in the "C" collation (bytes of UTF-8), so ordering and the claim-prefix ranges
-- match SQLite's. Times are bigint milliseconds since the epoch (the database's clock).

-- One row per project: the head of its audit chain, the last event's time and the counters. Every
-- write transaction locks it first (SELECT … FOR UPDATE), which orders the chain and makes claims,
-- fences and ids race-free across servers.
CREATE TABLE project_head (
  project_id text COLLATE "C" PRIMARY KEY,
  event_seq  bigint NOT NULL DEFAULT 0,
  event_hash text   NOT NULL DEFAULT repeat('0', 64),
  event_at   bigint NOT NULL DEFAULT 0,
  fence      bigint NOT NULL DEFAULT 0,
  task_seq   bigint NOT NULL DEFAULT 0,
  proof_seq  bigint NOT NULL DEFAULT 0
);

CREATE TABLE meta (
  project_id text COLLATE "C" NOT NULL,
  key        text COLLATE "C" NOT NULL,
  value      text NOT NULL,
  PRIMARY KEY (project_id, key)
);

CREATE TABLE events (
  project_id  text COLLATE "C" NOT NULL,
  seq         bigint NOT NULL,
  at          bigint NOT NULL,
  type        text COLLATE "C" NOT NULL,
  agent       text COLLATE "C",
  subject     text COLLATE "C",
  data        text,
  data_digest text NOT NULL,
  prev_hash   text NOT NULL,
  hash        text NOT NULL,
  PRIMARY KEY (project_id, seq)
);
CREATE INDEX events_subject ON events (project_id, subject);
CREATE INDEX events_agent ON events (project_id, agent);

-- Append-only, as in SQLite: only erasing a payload (data = NULL) is allowed.
CREATE FUNCTION events_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN RAISE EXCEPTION 'events are append-only'; END IF;
  IF NEW.data IS NOT NULL OR NEW.seq IS DISTINCT FROM OLD.seq OR NEW.at IS DISTINCT FROM OLD.at
     OR NEW.type IS DISTINCT FROM OLD.type OR NEW.agent IS DISTINCT FROM OLD.agent
     OR NEW.subject IS DISTINCT FROM OLD.subject OR NEW.data_digest IS DISTINCT FROM OLD.data_digest
     OR NEW.prev_hash IS DISTINCT FROM OLD.prev_hash OR NEW.hash IS DISTINCT FROM OLD.hash
     OR NEW.project_id IS DISTINCT FROM OLD.project_id THEN
    RAISE EXCEPTION 'events are append-only; only data may be erased';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events FOR EACH ROW EXECUTE FUNCTION events_guard();

CREATE TABLE leases (
  project_id  text COLLATE "C" NOT NULL,
  lease_id    text COLLATE "C" NOT NULL,
  secret_hash text COLLATE "C" NOT NULL,
  agent       text COLLATE "C" NOT NULL,
  state       text NOT NULL CHECK (state IN ('active', 'revoked', 'expired')),
  ttl_ms      bigint NOT NULL,
  pid         integer,
  host        text,
  meta        text,
  granted_at  bigint NOT NULL,
  renewed_at  bigint NOT NULL,
  expires_at  bigint NOT NULL,
  ended_at    bigint,
  PRIMARY KEY (project_id, lease_id),
  UNIQUE (project_id, secret_hash)
);
CREATE INDEX leases_active_expiry ON leases (project_id, expires_at) WHERE state = 'active';

CREATE TABLE idempotency (
  project_id  text COLLATE "C" NOT NULL,
  key_hash    text COLLATE "C" NOT NULL,
  method      text NOT NULL,
  params_hash text NOT NULL,
  response    text NOT NULL,
  created_at  bigint NOT NULL,
  PRIMARY KEY (project_id, key_hash)
);
CREATE INDEX idempotency_created ON idempotency (project_id, created_at);

CREATE TABLE tasks (
  project_id   text COLLATE "C" NOT NULL,
  id           text COLLATE "C" NOT NULL,
  seq          bigint NOT NULL,
  title        text NOT NULL,
  description  text NOT NULL,
  status       text NOT NULL CHECK (status IN ('open', 'done', 'cancelled')),
  priority     integer NOT NULL CHECK (priority BETWEEN 0 AND 4),
  labels       text[] COLLATE "C" NOT NULL,
  depends_on   text[] COLLATE "C" NOT NULL,
  paths        text[] COLLATE "C" NOT NULL,
  gates        text[] COLLATE "C" NOT NULL,
  acceptance   text[] NOT NULL,
  parent       text COLLATE "C",
  created_by   text,
  created_at   bigint NOT NULL,
  updated_at   bigint NOT NULL,
  completed_at bigint,
  verified     boolean,
  PRIMARY KEY (project_id, id),
  UNIQUE (project_id, seq)
);
CREATE INDEX tasks_ready_order ON tasks (project_id, status, priority, seq);
CREATE INDEX tasks_labels ON tasks USING gin (labels);

CREATE TABLE task_deps (
  project_id text COLLATE "C" NOT NULL,
  task_id    text COLLATE "C" NOT NULL,
  depends_on text COLLATE "C" NOT NULL,
  PRIMARY KEY (project_id, task_id, depends_on)
);
CREATE INDEX task_deps_target ON task_deps (project_id, depends_on);

CREATE TABLE claims (
  project_id  text COLLATE "C" NOT NULL,
  id          text COLLATE "C" NOT NULL,
  lease_id    text COLLATE "C" NOT NULL,
  agent       text COLLATE "C" NOT NULL,
  task_id     text COLLATE "C",
  mode        text NOT NULL CHECK (mode IN ('exclusive', 'shared')),
  fence       bigint NOT NULL,
  state       text NOT NULL CHECK (state IN ('active', 'released', 'expired')),
  paths       text[] COLLATE "C" NOT NULL,
  ttl_ms      bigint,
  reason      text,
  acquired_at bigint NOT NULL,
  renewed_at  bigint NOT NULL,
  expires_at  bigint,
  ended_at    bigint,
  end_reason  text,
  PRIMARY KEY (project_id, id),
  UNIQUE (project_id, fence)
);
CREATE INDEX claims_active_lease ON claims (project_id, lease_id) WHERE state = 'active';
CREATE INDEX claims_active_task ON claims (project_id, task_id) WHERE state = 'active';
CREATE INDEX claims_active_expiry ON claims (project_id, expires_at) WHERE state = 'active' AND expires_at IS NOT NULL;

CREATE TABLE claim_paths (
  project_id text COLLATE "C" NOT NULL,
  claim_id   text COLLATE "C" NOT NULL,
  pattern    text COLLATE "C" NOT NULL,
  prefix     text COLLATE "C" NOT NULL,
  PRIMARY KEY (project_id, claim_id, pattern)
);
CREATE INDEX claim_paths_prefix ON claim_paths (project_id, prefix);

CREATE TABLE proofs (
  project_id         text COLLATE "C" NOT NULL,
  id                 text COLLATE "C" NOT NULL,
  seq                bigint NOT NULL,
  task_id            text COLLATE "C" NOT NULL,
  gate               text COLLATE "C" NOT NULL,
  claim_id           text COLLATE "C" NOT NULL,
  fence              bigint NOT NULL,
  passed             boolean NOT NULL,
  exit_code          integer,
  timed_out          boolean NOT NULL,
  duration_ms        bigint NOT NULL,
  command            text,
  output_sha256      text NOT NULL,
  output_bytes       bigint NOT NULL,
  truncated          boolean NOT NULL,
  digest             text NOT NULL,
  counts             boolean NOT NULL,
  changed_during_run text[] NOT NULL,
  attested_by        text NOT NULL CHECK (attested_by IN ('server', 'agent')),
  agent              text NOT NULL,
  created_at         bigint NOT NULL,
  hash               text NOT NULL,
  PRIMARY KEY (project_id, id),
  UNIQUE (project_id, seq)
);
CREATE INDEX proofs_task_gate ON proofs (project_id, task_id, gate, seq);
