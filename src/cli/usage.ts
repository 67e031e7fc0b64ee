export const USAGE = `decapod — a control plane for many coding agents on one repository

Usage:
  decapod call METHOD [JSON | -]   call a method; prints the result as JSON (exit 1 on an RPC error)
  decapod serve [--idle-timeout 120s] [--durability full|normal] [--foreground]
                                   serve this root in this process (exit 3 if already served)
  decapod status                   show the running server (exit 3 if none runs)
  decapod stop                     stop the running server gracefully
  decapod env                      print DECAPOD_URL=… and DECAPOD_TOKEN=… for eval, starting a server
  decapod help

Agents (these act with DECAPOD_LEASE):
  decapod lease grant --agent NAME [--ttl 10m] [--export]   grant a lease; --export prints DECAPOD_LEASE=…
  decapod claim PATH… [--shared] [--wait 30s] [--ttl 5m] [--reason TEXT]
  decapod release CLAIM [--fence N]                         (the fence defaults to the claim's current one)
  decapod check PATH…                                       exit 1 when another holder holds any of them
  decapod task add TITLE [--priority 0-4] [--label L]… [--path P]… [--depends T]… [--description D]
  decapod task list [--ready] [--status open|done|cancelled] [--label L] [--agent A] [--limit N] [--json]
  decapod task show TASK
  decapod task claim [TASK] [--ttl 10m]                     without TASK: the best ready one
  decapod task done TASK [--summary TEXT]                   complete it (needs passing, fresh proofs)
  decapod proof run TASK GATE [--follow]                    Decapod runs the gate; exit 0 if it passed
  decapod audit verify | audit replay                       exit 1 if the log or its replay does not hold
  decapod audit checkpoint                                  record the log's head on the git ref refs/decapod/audit

Options:
  --root DIR   project root (default: the enclosing git repository's main worktree, else the cwd)

Environment:
  DECAPOD_IDLE_TIMEOUT  idle exit for spawned servers (500ms, 30s, 2m; default 120s)
  DECAPOD_NO_SPAWN=1    fail instead of starting a server
  DECAPOD_LEASE         the lease secret \`call\` acts with when params name none
  DECAPOD_BIN           the decapod executable clients spawn
  DECAPOD_CHECKPOINT_EVERY  events between a server's automatic audit checkpoints (default 1000; 0: off)

Exit codes: 0 ok, 1 error, 2 usage, 3 not running / already served.
`;

export class UsageError extends Error {
  /** `hint`: point at `decapod help` after the message (not when help cannot fix it, e.g. a missing --root folder) */
  constructor(
    message: string,
    readonly hint = true,
  ) {
    super(message);
  }
}
