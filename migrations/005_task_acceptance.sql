-- 005: a task's acceptance criteria (docs/design.md §8: tasks gain an `acceptance: [string]` field),
-- in the order they were written. Every task created before this migration had none.

ALTER TABLE tasks ADD COLUMN acceptance TEXT NOT NULL DEFAULT '[]';  -- JSON array of strings
