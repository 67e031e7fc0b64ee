import { callMethod, RpcError } from '../launcher/rpc-call.js';
import { livePath } from '../workspace/artifacts.js';
import { parseDuration } from '../util/duration.js';
import { verdictText, withProgress, type ProofShape } from './proof-verdict.js';
import { UsageError } from './usage.js';

// docs/design.md §2 CLI sugar: the common path without JSON. Each command acts with DECAPOD_LEASE.
// Which options each takes, and its help, is the command table's (commands.ts).

export interface SugarValues {
  agent?: string;
  ttl?: string;
  export?: boolean;
  shared?: boolean;
  wait?: string;
  reason?: string;
  fence?: string;
  priority?: string;
  label?: string[] | string;
  path?: string[] | string;
  depends?: string[];
  gate?: string[];
  acceptance?: string[];
  description?: string;
  title?: string;
  task?: string;
  ready?: boolean;
  status?: string;
  limit?: string;
  json?: boolean;
  summary?: string;
  follow?: boolean;
}

type Rpc = (method: string, params: Record<string, unknown>) => Promise<any>;
type Handler = (rpc: Rpc, v: SugarValues, args: string[], root: string) => Promise<number>;

const print = (value: unknown) => process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);

function lease(): string {
  const secret = process.env.DECAPOD_LEASE;
  if (!secret) throw new UsageError('this command acts with a lease: export DECAPOD_LEASE="$(decapod lease grant --agent NAME --export | cut -d= -f2)", or see --help');
  return secret;
}

const optionalLease = () => (process.env.DECAPOD_LEASE ? { lease: process.env.DECAPOD_LEASE } : {});

function integer(text: string | undefined, flag: string): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text)) throw new UsageError(`${flag}: expected a whole number, got ${JSON.stringify(text)}`);
  return Number(text);
}

function duration(text: string | undefined, flag: string): number | undefined {
  if (text === undefined) return undefined;
  try {
    return parseDuration(text, flag);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

function needArgs(args: string[], what: string, max = Infinity): void {
  if (args.length === 0) throw new UsageError(`expected ${what}`);
  if (args.length > max) throw new UsageError(`unexpected argument ${JSON.stringify(args[max])}`);
}

function noArgs(args: string[]): void {
  if (args.length) throw new UsageError(`unexpected argument ${JSON.stringify(args[0])}`);
}

/** `4m 10s`, `45s`, `2h 5m`: time left, for people. */
export function timeLeft(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
}

/** One line per row, or the rows as JSON with --json. */
function rows<T>(v: SugarValues, items: T[], line: (item: T) => string): number {
  if (v.json) print(items);
  else for (const item of items) process.stdout.write(`${line(item)}\n`);
  return 0;
}

/** task add / task update: the task's fields from the options. */
function taskFields(v: SugarValues): Record<string, unknown> {
  const priority = integer(v.priority, '--priority');
  return {
    ...(v.title !== undefined ? { title: v.title } : {}),
    ...(v.description !== undefined ? { description: v.description } : {}),
    ...(priority !== undefined ? { priority } : {}),
    ...(v.label ? { labels: v.label } : {}),
    ...(v.path ? { paths: v.path } : {}),
    ...(v.depends ? { depends_on: v.depends } : {}),
    ...(v.gate ? { gates: v.gate } : {}),
    ...(v.acceptance ? { acceptance: v.acceptance } : {}),
  };
}

/** The fence of the task's current claim (the server still checks it is this lease's). */
async function holderFence(rpc: Rpc, task: string): Promise<number> {
  const { task: t } = await rpc('task.get', { task });
  if (!t.holder) throw new UsageError(`task ${task} is not claimed: run decapod task claim ${task} first`);
  return t.holder.fence as number;
}

const HANDLERS: Record<string, Handler> = {
  'lease grant': async (rpc, v, args) => {
    noArgs(args);
    if (!v.agent) throw new UsageError('lease grant needs --agent NAME');
    const ttl = duration(v.ttl, '--ttl');
    const granted = await rpc('lease.grant', { agent: v.agent, ...(ttl !== undefined ? { ttl_ms: ttl } : {}) });
    if (v.export) process.stdout.write(`DECAPOD_LEASE=${granted.lease}\n`);
    else print(granted);
    return 0;
  },
  'lease list': async (rpc, v, args) => {
    noArgs(args);
    const { leases } = await rpc('lease.list', {});
    return rows(v, leases, (l: any) => {
      const left = l.state === 'active' ? `${timeLeft(l.ttl_remaining_ms)} left` : '-';
      return `${l.lease_id.padEnd(12)} ${l.agent.padEnd(14)} ${l.state.padEnd(8)} ${left.padEnd(10)} ${l.claims.length ? l.claims.join(' ') : '-'}`;
    });
  },
  'lease revoke': async (rpc, _v, args) => {
    if (args.length > 1) throw new UsageError(`unexpected argument ${JSON.stringify(args[1])}`);
    const secret = args[0] ?? process.env.DECAPOD_LEASE;
    if (!secret) throw new UsageError('lease revoke needs a LEASE secret, or DECAPOD_LEASE set');
    print(await rpc('lease.revoke', { lease: secret }));
    return 0;
  },
  claim: async (rpc, v, args) => {
    needArgs(args, 'one or more PATHs');
    const wait = duration(v.wait, '--wait');
    const ttl = duration(v.ttl, '--ttl');
    print(
      await rpc('claim.acquire', {
        lease: lease(),
        paths: args,
        mode: v.shared ? 'shared' : 'exclusive',
        ...(wait !== undefined ? { wait_ms: wait } : {}),
        ...(ttl !== undefined ? { ttl_ms: ttl } : {}),
        ...(v.reason ? { reason: v.reason } : {}),
      }),
    );
    return 0;
  },
  'claim list': async (rpc, v, args) => {
    noArgs(args);
    const { claims } = await rpc('claim.list', { ...(v.agent ? { agent: v.agent } : {}), ...(v.task ? { task: v.task } : {}), ...(v.path ? { path: v.path } : {}) });
    return rows(v, claims, (c: any) => {
      const holder = `${c.agent}#${c.fence}`;
      return `${c.id.padEnd(6)} ${holder.padEnd(14)} ${c.mode.padEnd(9)} ${`${timeLeft(c.ttl_remaining_ms)} left`.padEnd(12)} ${c.paths.join(' ') || '-'}${c.task ? ` (task ${c.task})` : ''}`;
    });
  },
  release: async (rpc, v, args) => {
    needArgs(args, 'a CLAIM id', 1);
    const secret = lease();
    // The fence defaults to the claim's current one, looked up among the live claims.
    let fence = integer(v.fence, '--fence');
    if (fence === undefined) {
      const { claims } = await rpc('claim.list', {});
      fence = claims.find((c: { id: string }) => c.id === args[0])?.fence ?? 1;
    }
    print(await rpc('claim.release', { lease: secret, claim: args[0], fence }));
    return 0;
  },
  // What a pre-commit hook asks: 0 all free, 1 held by another (who holds what on stderr), 2 when
  // it cannot say (bad input, no server): a hook must tell "held" from "could not check".
  check: async (rpc, _v, args) => {
    needArgs(args, 'one or more PATHs');
    let result;
    try {
      result = await rpc('claim.check', { paths: args, ...optionalLease() });
    } catch (err) {
      if (err instanceof UsageError) throw err;
      process.stderr.write(err instanceof RpcError ? `${JSON.stringify(err.toJSON(), null, 2)}\n` : `decapod: ${(err as Error).message}\n`);
      process.stderr.write('decapod: check could not tell whether these paths are free (exit 2)\n');
      return 2;
    }
    print(result);
    const held = (result.paths as { path: string; free: boolean; holders: { agent: string; mode: string; claim_id: string; ttl_remaining_ms: number }[] }[]).filter((p) => !p.free);
    for (const p of held) {
      const who = p.holders.map((h) => `${h.agent} (${h.mode}, claim ${h.claim_id}, ${timeLeft(h.ttl_remaining_ms)} left)`).join(', ');
      process.stderr.write(`decapod: ${p.path} is held by ${who}\n`);
    }
    return held.length ? 1 : 0;
  },
  'task add': async (rpc, v, args) => {
    needArgs(args, 'a TITLE', 1);
    print(await rpc('task.create', { ...optionalLease(), title: args[0], ...taskFields(v) }));
    return 0;
  },
  'task update': async (rpc, v, args) => {
    needArgs(args, 'a TASK id', 1);
    print(await rpc('task.update', { lease: lease(), task: args[0], ...taskFields(v) }));
    return 0;
  },
  'task list': async (rpc, v, args) => {
    noArgs(args);
    const limit = integer(v.limit, '--limit');
    const { tasks } = await rpc('task.list', {
      ...(v.ready ? { ready: true } : {}),
      ...(v.status ? { status: v.status } : {}),
      ...(v.label ? { label: v.label } : {}),
      ...(v.agent ? { agent: v.agent } : {}),
      ...(limit !== undefined ? { limit } : {}),
    });
    return rows(v, tasks, (t: any) => {
      const holder = t.holder ? `${t.holder.agent}#${t.holder.fence}` : '-';
      return `${t.id.padEnd(6)} ${t.status.padEnd(9)} p${t.priority}  ${holder.padEnd(14)} ${t.title}`;
    });
  },
  'task show': async (rpc, _v, args) => {
    needArgs(args, 'a TASK id', 1);
    print(await rpc('task.get', { task: args[0] }));
    return 0;
  },
  'task claim': async (rpc, v, args) => {
    if (args.length > 1) throw new UsageError(`unexpected argument ${JSON.stringify(args[1])}`);
    const ttl = duration(v.ttl, '--ttl');
    print(await rpc('task.claim', { lease: lease(), ...(args[0] ? { task: args[0] } : {}), ...(ttl !== undefined ? { ttl_ms: ttl } : {}) }));
    return 0;
  },
  'task done': async (rpc, v, args) => {
    needArgs(args, 'a TASK id', 1);
    const secret = lease();
    const fence = await holderFence(rpc, args[0]!);
    print(await rpc('task.complete', { lease: secret, task: args[0], fence, ...(v.summary ? { summary: v.summary } : {}) }));
    return 0;
  },
  'task cancel': (rpc, v, args) => setStatus(rpc, 'task.cancel', v, args),
  'task reopen': (rpc, v, args) => setStatus(rpc, 'task.reopen', v, args),
  'proof run': async (rpc, v, args, root) => {
    needArgs(args, 'TASK GATE', 2);
    if (args.length < 2) throw new UsageError('expected TASK GATE');
    const [task, gate] = args as [string, string];
    const secret = lease();
    const fence = await holderFence(rpc, task);
    const result = await withProgress(
      `${gate} for ${task}`,
      v.follow ? { live: livePath(root, task, gate, fence), final: (r: any) => r.output_path as string } : undefined,
      () => rpc('proof.run', { lease: secret, task, gate, fence }),
    );
    print(result);
    const proof = result.proof as ProofShape;
    // A failed gate's output tail, unless --follow has just shown all of it.
    const got = !proof.passed && !v.follow ? await rpc('proof.get', { proof: proof.id }).catch(() => undefined) : undefined;
    process.stderr.write(verdictText(proof, got?.output_tail, got?.output_path ?? result.output_path));
    return proof.passed && proof.counts ? 0 : 1;
  },
  'proof list': async (rpc, v, args) => {
    needArgs(args, 'a TASK id', 1);
    const { proofs } = await rpc('proof.list', { task: args[0] });
    return rows(v, proofs, (p: any) => {
      const how = p.timed_out ? 'timed out' : p.exit_code === null ? '-' : `exit ${p.exit_code}`;
      return `${p.id.padEnd(6)} ${p.gate.padEnd(12)} ${(p.passed ? 'passed' : 'FAILED').padEnd(7)} ${how.padEnd(9)} ${(p.counts ? 'counts' : 'no-count').padEnd(9)} ${p.attested_by.padEnd(7)} ${p.created_at}`;
    });
  },
  'gate list': async (rpc, v, args) => {
    noArgs(args);
    const { gates } = await rpc('gate.list', {});
    return rows(v, gates, (g: any) => `${g.name.padEnd(12)} ${`attest:${g.attest}`.padEnd(14)} ${`${g.timeout_ms / 1000}s`.padEnd(8)} ${g.command}`);
  },
  'audit verify': (rpc, _v, args) => audit(rpc, 'audit.verify', args),
  'audit replay': (rpc, _v, args) => audit(rpc, 'audit.replay', args),
  'audit checkpoint': async (rpc, _v, args) => {
    noArgs(args);
    print(await rpc('audit.checkpoint', {}));
    return 0;
  },
};

async function setStatus(rpc: Rpc, method: 'task.cancel' | 'task.reopen', v: SugarValues, args: string[]): Promise<number> {
  needArgs(args, 'a TASK id', 1);
  if (!v.reason) throw new UsageError(`${method === 'task.cancel' ? 'task cancel' : 'task reopen'} needs --reason TEXT`);
  print(await rpc(method, { lease: lease(), task: args[0], reason: v.reason }));
  return 0;
}

async function audit(rpc: Rpc, method: 'audit.verify' | 'audit.replay', args: string[]): Promise<number> {
  noArgs(args);
  const result = await rpc(method, {});
  print(result);
  return result.ok ? 0 : 1;
}

export const isSugar = (command: string): boolean => command in HANDLERS;

export async function runSugar(command: string, root: string, v: SugarValues, args: string[]): Promise<number> {
  const handler = HANDLERS[command];
  if (!handler) throw new UsageError(`unknown command ${JSON.stringify(command)}`);
  try {
    return await handler((method, params) => callMethod(root, method, params) as Promise<any>, v, args, root);
  } catch (err) {
    // A usage mistake points at this command's help.
    if (err instanceof UsageError && err.hint && err.command === undefined) err.command = command;
    throw err;
  }
}
