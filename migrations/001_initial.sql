-- 001: the audit log, leases and idempotency records.
-- Times are integer milliseconds since the epoch (the server's clock); results render them as ISO-8601.

CREATE TABLE meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
) STRICT;

-- Append-only hash chain. `data` may later be erased (set to NULL) for privacy; the chain covers
-- `data_digest`, so an erased payload reads as redacted, not tampered (docs/design.md §4).
CREATE TABLE events (
  seq         INTEGER PRIMARY KEY,
  at          INTEGER NOT NULL,
  type        TEXT    NOT NULL,
  agent       TEXT,
  subject     TEXT,
  data        TEXT,
  data_digest TEXT    NOT NULL,
  prev_hash   TEXT    NOT NULL,
  hash        TEXT    NOT NULL
) STRICT;

CREATE INDEX events_subject ON events(subject);
CREATE INDEX events_agent ON events(agent);

CREATE TRIGGER events_no_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;

CREATE TRIGGER events_only_redact BEFORE UPDATE ON events
WHEN NEW.data IS NOT NULL
  OR NEW.seq IS NOT OLD.seq OR NEW.at IS NOT OLD.at OR NEW.type IS NOT OLD.type
  OR NEW.agent IS NOT OLD.agent OR NEW.subject IS NOT OLD.subject
  OR NEW.data_digest IS NOT OLD.data_digest OR NEW.prev_hash IS NOT OLD.prev_hash OR NEW.hash IS NOT OLD.hash
BEGIN SELECT RAISE(ABORT, 'events are append-only; only data may be erased'); END;

CREATE TABLE leases (
  lease_id    TEXT PRIMARY KEY,
  secret_hash TEXT NOT NULL UNIQUE,   -- sha256 of the secret; the secret itself is never stored
  agent       TEXT NOT NULL,
  state       TEXT NOT NULL CHECK (state IN ('active', 'revoked', 'expired')),
  ttl_ms      INTEGER NOT NULL,
  pid         INTEGER,
  meta        TEXT,
  granted_at  INTEGER NOT NULL,
  renewed_at  INTEGER NOT NULL,
  expires_at  INTEGER NOT NULL,
  ended_at    INTEGER
) STRICT;

CREATE INDEX leases_active_expiry ON leases(expires_at) WHERE state = 'active';

CREATE TABLE idempotency (
  key_hash    TEXT PRIMARY KEY,   -- sha256 of the caller's idempotency_key
  method      TEXT NOT NULL,
  params_hash TEXT NOT NULL,
  response    TEXT NOT NULL,
  created_at  INTEGER NOT NULL
) STRICT;

CREATE INDEX idempotency_created ON idempotency(created_at);
