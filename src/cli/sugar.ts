import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { callMethod } from '../launcher/rpc-call.js';
import { livePath } from '../workspace/artifacts.js';
import { parseDuration } from '../util/duration.js';
import { UsageError } from './usage.js';

// docs/design.md §2 CLI sugar: the common path without JSON. Each command acts with DECAPOD_LEASE.

export interface SugarValues {
  agent?: string;
  ttl?: string;
  export?: boolean;
  shared?: boolean;
  wait?: string;
  reason?: string;
  fence?: string;
  priority?: string;
  label?: string[];
  path?: string[];
  depends?: string[];
  description?: string;
  ready?: boolean;
  status?: string;
  limit?: string;
  json?: boolean;
  summary?: string;
  follow?: boolean;
}

/** Which options each sugar command accepts (besides --root and --help). */
export const SUGAR_OPTIONS: Record<string, (keyof SugarValues)[]> = {
  'lease grant': ['agent', 'ttl', 'export'],
  claim: ['shared', 'wait', 'ttl', 'reason'],
  release: ['fence'],
  check: [],
  'task add': ['priority', 'label', 'path', 'depends', 'description'],
  'task list': ['ready', 'status', 'label', 'agent', 'limit', 'json'],
  'task show': [],
  'task claim': ['ttl'],
  'task done': ['summary'],
  'proof run': ['follow'],
  'audit verify': [],
  'audit replay': [],
  'audit checkpoint': [],
};

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

export async function runSugar(command: string, root: string, v: SugarValues, args: string[]): Promise<number> {
  const rpc = (method: string, params: Record<string, unknown>) => callMethod(root, method, params) as Promise<any>;
  switch (command) {
    case 'lease grant': {
      if (args.length) throw new UsageError(`unexpected argument ${JSON.stringify(args[0])}`);
      if (!v.agent) throw new UsageError('lease grant needs --agent NAME');
      const ttl = duration(v.ttl, '--ttl');
      const granted = await rpc('lease.grant', { agent: v.agent, ...(ttl !== undefined ? { ttl_ms: ttl } : {}) });
      if (v.export) process.stdout.write(`DECAPOD_LEASE=${granted.lease}\n`);
      else print(granted);
      return 0;
    }
    case 'claim': {
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
    }
    case 'release': {
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
    }
    case 'check': {
      needArgs(args, 'one or more PATHs');
      const result = await rpc('claim.check', { paths: args, ...optionalLease() });
      print(result);
      return result.paths.every((p: { free: boolean }) => p.free) ? 0 : 1;
    }
    case 'task add': {
      needArgs(args, 'a TITLE', 1);
      const priority = integer(v.priority, '--priority');
      print(
        await rpc('task.create', {
          ...optionalLease(),
          title: args[0],
          ...(v.description ? { description: v.description } : {}),
          ...(priority !== undefined ? { priority } : {}),
          ...(v.label ? { labels: v.label } : {}),
          ...(v.path ? { paths: v.path } : {}),
          ...(v.depends ? { depends_on: v.depends } : {}),
        }),
      );
      return 0;
    }
    case 'task list': {
      if (args.length) throw new UsageError(`unexpected argument ${JSON.stringify(args[0])}`);
      const limit = integer(v.limit, '--limit');
      const { tasks } = await rpc('task.list', {
        ...(v.ready ? { ready: true } : {}),
        ...(v.status ? { status: v.status } : {}),
        ...(v.label ? { label: v.label[0] } : {}),
        ...(v.agent ? { agent: v.agent } : {}),
        ...(limit !== undefined ? { limit } : {}),
      });
      if (v.json) print(tasks);
      else {
        for (const t of tasks) {
          const holder = t.holder ? `${t.holder.agent}#${t.holder.fence}` : '-';
          process.stdout.write(`${t.id.padEnd(6)} ${t.status.padEnd(9)} p${t.priority}  ${holder.padEnd(14)} ${t.title}\n`);
        }
      }
      return 0;
    }
    case 'task show':
      needArgs(args, 'a TASK id', 1);
      print(await rpc('task.get', { task: args[0] }));
      return 0;
    case 'task claim': {
      if (args.length > 1) throw new UsageError(`unexpected argument ${JSON.stringify(args[1])}`);
      const ttl = duration(v.ttl, '--ttl');
      print(await rpc('task.claim', { lease: lease(), ...(args[0] ? { task: args[0] } : {}), ...(ttl !== undefined ? { ttl_ms: ttl } : {}) }));
      return 0;
    }
    case 'task done': {
      needArgs(args, 'a TASK id', 1);
      const fence = await holderFence(rpc, args[0]!);
      print(await rpc('task.complete', { lease: lease(), task: args[0], fence, ...(v.summary ? { summary: v.summary } : {}) }));
      return 0;
    }
    case 'proof run': {
      needArgs(args, 'TASK GATE', 2);
      if (args.length < 2) throw new UsageError('expected TASK GATE');
      const [task, gate] = args as [string, string];
      const fence = await holderFence(rpc, task);
      const result = await withProgress(
        `${gate} for ${task}`,
        v.follow ? { live: livePath(root, task, gate, fence), final: (r: any) => r.output_path as string } : undefined,
        () => rpc('proof.run', { lease: lease(), task, gate, fence }),
      );
      print(result);
      return result.proof.passed ? 0 : 1;
    }
    case 'audit verify':
    case 'audit replay': {
      if (args.length) throw new UsageError(`unexpected argument ${JSON.stringify(args[0])}`);
      const result = await rpc(command === 'audit verify' ? 'audit.verify' : 'audit.replay', {});
      print(result);
      return result.ok ? 0 : 1;
    }
    case 'audit checkpoint':
      if (args.length) throw new UsageError(`unexpected argument ${JSON.stringify(args[0])}`);
      print(await rpc('audit.checkpoint', {}));
      return 0;
    default:
      throw new UsageError(`unknown command ${JSON.stringify(command)}`);
  }
}

/** The fence of the task's current claim (the server still checks it is this lease's). */
async function holderFence(rpc: (m: string, p: Record<string, unknown>) => Promise<any>, task: string): Promise<number> {
  const { task: t } = await rpc('task.get', { task });
  if (!t.holder) throw new UsageError(`task ${task} is not claimed: run decapod task claim ${task} first`);
  return t.holder.fence as number;
}

/**
 * Shows a long call's progress on stderr: elapsed time, and with `follow` the gate's output as it
 * grows. stdout stays clean for the result.
 */
async function withProgress<T>(what: string, follow: { live: string; final: (result: T) => string } | undefined, work: () => Promise<T>): Promise<T> {
  const started = Date.now();
  const tty = process.stderr.isTTY;
  let offset = 0;
  let lastLine = 0;
  const tick = () => {
    const secs = Math.round((Date.now() - started) / 1000);
    if (follow) offset = copyNew(follow.live, offset);
    if (tty && !follow) process.stderr.write(`\r  running ${what}… ${secs}s`);
    else if (!tty && secs - lastLine >= 10) {
      lastLine = secs;
      process.stderr.write(`  running ${what}… ${secs}s\n`);
    }
  };
  const timer = setInterval(tick, follow ? 200 : 1000);
  try {
    const result = await work();
    // The rest of the output, from where it settled (the live file has moved by now).
    if (follow) copyNew(follow.final(result), offset);
    return result;
  } finally {
    clearInterval(timer);
    if (tty && !follow) process.stderr.write('\r\x1b[K');
    process.stderr.write(`  ${what} finished after ${((Date.now() - started) / 1000).toFixed(1)}s\n`);
  }
}

/** Copies what was appended to `file` since `offset` to stderr; returns the new offset. */
function copyNew(file: string, offset: number): number {
  try {
    const size = statSync(file).size;
    if (size <= offset) return offset;
    const fd = openSync(file, 'r');
    const buf = Buffer.alloc(size - offset);
    readSync(fd, buf, 0, buf.length, offset);
    closeSync(fd);
    process.stderr.write(buf);
    return size;
  } catch {
    return offset; // not started yet, or already moved to its content address
  }
}
