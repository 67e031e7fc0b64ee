-- 006: the host of the server that recorded a lease's pid (docs/design.md §7). A pid names a
-- process only on the machine it runs on: once several machines share one database, a lease is
-- revoked for a dead process only by a server on its own host. Leases recorded earlier were
-- recorded on this machine (NULL: judged as this host's).

ALTER TABLE leases ADD COLUMN host TEXT;
