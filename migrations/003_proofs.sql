-- 003: proofs. A gate's recorded result for a task under a claim; `hash` covers the whole record.

CREATE TABLE proofs (
  id            TEXT PRIMARY KEY,
  seq           INTEGER NOT NULL UNIQUE,      -- ids are P<seq>; the latest per (task, gate) counts
  task_id       TEXT NOT NULL REFERENCES tasks(id),
  gate          TEXT NOT NULL,
  claim_id      TEXT NOT NULL REFERENCES claims(id),
  fence         INTEGER NOT NULL,
  passed        INTEGER NOT NULL CHECK (passed IN (0, 1)),
  exit_code     INTEGER,
  timed_out     INTEGER NOT NULL CHECK (timed_out IN (0, 1)),
  duration_ms   INTEGER NOT NULL,
  command       TEXT,                         -- what the server ran; NULL for agent-attested proofs
  output_sha256 TEXT NOT NULL,
  output_bytes  INTEGER NOT NULL,
  truncated     INTEGER NOT NULL CHECK (truncated IN (0, 1)),
  digest        TEXT NOT NULL,                -- content digest of the task's paths when it ran
  attested_by   TEXT NOT NULL CHECK (attested_by IN ('server', 'agent')),
  agent         TEXT NOT NULL,
  created_at    INTEGER NOT NULL,
  hash          TEXT NOT NULL
) STRICT;

CREATE INDEX proofs_task_gate ON proofs(task_id, gate, seq);
