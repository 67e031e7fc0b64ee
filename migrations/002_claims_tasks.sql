-- 002: tasks and claims. A claim hangs off a lease; its fence comes from one counter in `meta`
-- that only grows (across restarts, since it is stored).

CREATE TABLE tasks (
  id           TEXT PRIMARY KEY,
  seq          INTEGER NOT NULL UNIQUE,          -- creation order: ids are T<seq>
  title        TEXT NOT NULL,
  description  TEXT NOT NULL,
  status       TEXT NOT NULL CHECK (status IN ('open', 'done', 'cancelled')),
  priority     INTEGER NOT NULL CHECK (priority BETWEEN 0 AND 4),
  labels       TEXT NOT NULL,                    -- JSON array of strings
  depends_on   TEXT NOT NULL,                    -- JSON array of task ids
  paths        TEXT NOT NULL,                    -- JSON array of normalised patterns
  gates        TEXT NOT NULL,                    -- JSON array of gate names
  parent       TEXT REFERENCES tasks(id),
  created_by   TEXT,
  created_at   INTEGER NOT NULL,
  updated_at   INTEGER NOT NULL,
  completed_at INTEGER,
  verified     INTEGER
) STRICT;

CREATE INDEX tasks_ready_order ON tasks(status, priority, seq);

CREATE TABLE task_labels (
  task_id TEXT NOT NULL REFERENCES tasks(id),
  label   TEXT NOT NULL,
  PRIMARY KEY (task_id, label)
) STRICT, WITHOUT ROWID;

CREATE INDEX task_labels_label ON task_labels(label);

CREATE TABLE task_deps (
  task_id    TEXT NOT NULL REFERENCES tasks(id),
  depends_on TEXT NOT NULL REFERENCES tasks(id),
  PRIMARY KEY (task_id, depends_on)
) STRICT, WITHOUT ROWID;

CREATE INDEX task_deps_target ON task_deps(depends_on);

CREATE TABLE claims (
  id          TEXT PRIMARY KEY,
  lease_id    TEXT NOT NULL REFERENCES leases(lease_id),
  agent       TEXT NOT NULL,
  task_id     TEXT REFERENCES tasks(id),
  mode        TEXT NOT NULL CHECK (mode IN ('exclusive', 'shared')),
  fence       INTEGER NOT NULL UNIQUE,
  state       TEXT NOT NULL CHECK (state IN ('active', 'released', 'expired')),
  paths       TEXT NOT NULL,                     -- JSON array of normalised patterns
  ttl_ms      INTEGER,                           -- its own, shorter TTL; NULL: lives as long as its lease
  reason      TEXT,
  acquired_at INTEGER NOT NULL,
  renewed_at  INTEGER NOT NULL,
  expires_at  INTEGER,                           -- own deadline when ttl_ms is set
  ended_at    INTEGER,
  end_reason  TEXT
) STRICT;

CREATE INDEX claims_active_lease ON claims(lease_id) WHERE state = 'active';
CREATE INDEX claims_active_task ON claims(task_id) WHERE state = 'active';
CREATE INDEX claims_active_expiry ON claims(expires_at) WHERE state = 'active' AND expires_at IS NOT NULL;

-- One row per claimed pattern of an active claim, bucketed by its static prefix: two patterns can
-- only overlap when one prefix is a segment-prefix of the other, so a conflict check looks up the
-- ancestors of its own prefixes and the range under them instead of scanning every claim.
CREATE TABLE claim_paths (
  claim_id TEXT NOT NULL REFERENCES claims(id),
  pattern  TEXT NOT NULL,
  prefix   TEXT NOT NULL,
  PRIMARY KEY (claim_id, pattern)
) STRICT, WITHOUT ROWID;

CREATE INDEX claim_paths_prefix ON claim_paths(prefix);
