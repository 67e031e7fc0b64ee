-- PostgreSQL 002: requests waiting for paths (claim.acquire with wait_ms), one line per project
-- in arrival order across every server (docs/design.md §5, §7), as SQLite's 007. Tickets are
-- taken under the project's head lock, so their order is the order of arrival. The head row
-- counts the waiters, so a transaction of a project with none reads no waiter rows.

CREATE TABLE waiters (
  project_id text COLLATE "C" NOT NULL,
  ticket     bigserial,
  lease_id   text COLLATE "C" NOT NULL,
  agent      text COLLATE "C" NOT NULL,
  paths      text[] COLLATE "C" NOT NULL,
  mode       text NOT NULL CHECK (mode IN ('exclusive', 'shared')),
  task_id    text COLLATE "C",
  since      bigint NOT NULL,
  until      bigint NOT NULL,
  PRIMARY KEY (project_id, ticket)
);

ALTER TABLE project_head ADD COLUMN waiters integer NOT NULL DEFAULT 0;
