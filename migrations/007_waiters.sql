-- 007: requests waiting for paths (claim.acquire with wait_ms), one line in arrival order
-- (docs/design.md §5, §7). A request takes no paths an earlier live waiter wants. Ephemeral:
-- not audited, not replayed; a waiter ends with its wait (`until`) or its lease.

CREATE TABLE waiters (
  ticket   INTEGER PRIMARY KEY AUTOINCREMENT,
  lease_id TEXT NOT NULL,
  agent    TEXT NOT NULL,
  paths    TEXT NOT NULL, -- JSON array of claim patterns
  mode     TEXT NOT NULL CHECK (mode IN ('exclusive', 'shared')),
  task_id  TEXT,
  since    INTEGER NOT NULL,
  until    INTEGER NOT NULL
);
