-- 004: a proof vouches only for content the gate saw (docs/design.md §4). When a covered file is written
-- while the gate runs, the proof is still recorded, but it does not count, and says which files.
-- Every proof recorded before this migration counted.

ALTER TABLE proofs ADD COLUMN counts INTEGER NOT NULL DEFAULT 1 CHECK (counts IN (0, 1));
ALTER TABLE proofs ADD COLUMN changed_during_run TEXT NOT NULL DEFAULT '[]';  -- JSON array of paths
