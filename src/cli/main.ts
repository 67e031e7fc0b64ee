import nodeModule from 'node:module';
import { readFileSync } from 'node:fs';
import { CATALOG } from '../generated/catalog.js';
import { findHealthy, EXIT_ALREADY_SERVING, LaunchError, ensureServer } from '../launcher/launcher.js';
import { projectRoot, RootNotFoundError } from '../launcher/project-root.js';
import { callMethod, RpcError } from '../launcher/rpc-call.js';
import { TransportError } from '../launcher/http-json.js';
import { parseDuration } from '../util/duration.js';
import { waitForExit } from '../util/process-alive.js';
import { bashCompletion, zshCompletion } from './completion.js';
import { parseCommandLine } from './parse.js';
import { isSugar, runSugar } from './sugar.js';
import { UsageError, usageErrorText } from './usage.js';

const out = (value: unknown) => process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
const DEFAULT_IDLE_TIMEOUT = '120s';

async function main(argv: string[]): Promise<number> {
  // The command table (commands.ts) decides what parses; help texts come from it too.
  const parsed = parseCommandLine(argv);
  if (parsed.help !== undefined) {
    process.stdout.write(parsed.help);
    return parsed.code;
  }
  const { command, values, args: rest } = parsed;
  if (command === 'completion') return completion(rest);
  const root = rootOf(values.root as string | undefined);

  if (isSugar(command)) return runSugar(command, root, values, rest);
  switch (command) {
    case 'serve':
      return serve(root, values);
    case 'call':
      return call(root, rest);
    case 'status': {
      noExtra(rest);
      const info = await findHealthy(root);
      if (!info) {
        out({ running: false, root });
        return 3;
      }
      out({ running: true, url: info.url, ...((await callMethod(root, 'server.status', {}, { spawn: false })) as object) });
      return 0;
    }
    case 'stop': {
      noExtra(rest);
      const info = await findHealthy(root);
      if (!info) {
        out({ stopped: false, root, reason: 'no server is running' });
        return 0;
      }
      await callMethod(root, 'server.shutdown', {}, { spawn: false });
      const gone = await waitForExit(info.pid);
      out({ stopped: gone, root, pid: info.pid });
      if (!gone) return 1;
      return 0;
    }
    case 'env': {
      noExtra(rest);
      const info = await ensureServer(root);
      process.stdout.write(`DECAPOD_URL=${shellQuote(info.url)}\nDECAPOD_TOKEN=${shellQuote(info.token)}\n`);
      return 0;
    }
    case 'migrate':
      noExtra(rest);
      return migrate(root, values);
    case 'mcp': {
      noExtra(rest);
      // esbuild leaves this import to dist/mcp.js (scripts/build.mjs): the MCP SDK loads only here.
      const { runMcp } = await import('./mcp.js');
      return runMcp(root);
    }
    default:
      throw new UsageError(`unknown command ${JSON.stringify(command)}`);
  }
}

/**
 * Node ≥ 22.1 keeps the compiled code of the server's bundle (fastify, ajv, pino) in a cache
 * folder (NODE_COMPILE_CACHE, else the system temp folder), so a spawned server skips compiling
 * it again: measured in BENCHMARKS.md. Older Node has no such cache; nothing happens there.
 */
function enableCompileCache(): void {
  (nodeModule as { enableCompileCache?: () => unknown }).enableCompileCache?.();
}

async function serve(root: string, values: { 'idle-timeout'?: string; durability?: string; foreground?: boolean }): Promise<number> {
  const idleText = values['idle-timeout'] ?? process.env.DECAPOD_IDLE_TIMEOUT ?? DEFAULT_IDLE_TIMEOUT;
  let idleTimeoutMs: number;
  try {
    idleTimeoutMs = parseDuration(idleText, values['idle-timeout'] ? '--idle-timeout' : 'DECAPOD_IDLE_TIMEOUT');
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const durability = values.durability ?? 'full';
  if (durability !== 'full' && durability !== 'normal') {
    throw new UsageError(`--durability: expected full or normal, got ${JSON.stringify(durability)}`);
  }
  const checkpointEvery = checkpointEveryFromEnv();
  enableCompileCache();
  // esbuild rewrites this import to dist/server/serve.js (scripts/build.mjs): the server's bundle.
  const { startServer, AlreadyServingError } = await import('../lifecycle/serve.js');
  let server;
  try {
    server = await startServer({ root, idleTimeoutMs, durability, foreground: values.foreground, ...(checkpointEvery !== undefined ? { checkpointEvery } : {}) });
  } catch (err) {
    if (err instanceof AlreadyServingError) {
      process.stderr.write(`decapod serve: ${err.message}; not serving\n`);
      return EXIT_ALREADY_SERVING;
    }
    throw err;
  }
  // `ps | grep decapod` finds it. On Linux the title overwrites the original argv, so it is cut to
  // that length (a spawned server's argv, `node …/dist/cli.js serve --root ROOT`, is longer).
  process.title = `decapod-server ${root}`;
  const { token: _token, ...shown } = server.info;
  process.stdout.write(`${JSON.stringify(shown)}\n`);
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => void server.stop(signal));
  const reason = await server.stopped;
  // Exit now rather than when the last handle closes: a stopped server must never linger.
  process.exit(reason === 'lock-compromised' ? 1 : 0);
}

/**
 * `decapod migrate --to postgres://…` (docs/design.md §7): copies this root's SQLite history into
 * PostgreSQL, verified before it reports success. Exit 0 copied; 1 refused or failed (nothing was
 * kept); 2 usage (no --to, not a postgres:// URL, a remote database without TLS, a bad --project).
 */
async function migrate(root: string, values: { to?: string; project?: string; json?: boolean }): Promise<number> {
  if (values.to === undefined) throw new UsageError('migrate needs --to postgres://user@host:port/database', { command: 'migrate' });
  const { migrateToPostgres, MigrateError, PROGRESS_EVERY } = await import('../lifecycle/serve.js');
  const say = (line: string) => process.stderr.write(`decapod migrate: ${line}\n`);
  let report;
  try {
    report = await migrateToPostgres({
      root,
      to: values.to,
      ...(values.project !== undefined ? { projectId: values.project } : {}),
      onStart: (s) => say(`copying project ${s.project}: ${s.events} events of ${s.database} into ${s.to}`),
      onProgress: (copied, total) => {
        if (copied < total || total >= PROGRESS_EVERY) say(`${copied} of ${total} events copied`);
      },
    });
  } catch (err) {
    if (!(err instanceof MigrateError)) throw err;
    if (err.kind === 'usage') throw new UsageError(err.message, { command: 'migrate' });
    say(err.message);
    return 1;
  }
  const r = report;
  const same = (a: unknown, b: unknown) => (a === b ? 'equal' : 'DIFFERENT');
  const project = r.project === r.defaultProject ? '' : `\n  export DECAPOD_PROJECT=${shellQuote(r.project)}   # or "project" in .decapod/config.json: this root's default is ${r.defaultProject ?? 'none'}`;
  const next = `next: serve this root from PostgreSQL (the SQLite file ${r.database} is left as it was):\n  export DECAPOD_DATABASE_URL=${shellQuote(r.to)}   # or "database_url" in ~/.config/decapod/config.json${project}`;
  if (values.json) {
    out({ ...r, next });
    return 0;
  }
  const c = r.copied;
  const lines = [
    `migrated project ${r.project} from ${r.database} to ${r.to}`,
    `  copied        ${c.events} events, ${c.leases} leases, ${c.tasks} tasks, ${c.claims} claims, ${c.proofs} proofs, ${c.idempotency} idempotency records, meta ${c.meta.join(', ') || '(none)'}`,
    `  audit head    sqlite seq ${r.source.head.seq} ${r.source.head.hash}`,
    `                postgresql seq ${r.target.head.seq} ${r.target.head.hash}  ${same(`${r.source.head.seq}:${r.source.head.hash}`, `${r.target.head.seq}:${r.target.head.hash}`)}`,
    `  state digest  sqlite ${r.source.digest}`,
    `                postgresql ${r.target.digest}  ${same(r.source.digest, r.target.digest)}`,
    `  counters      fence ${r.target.counters.fence}, task ${r.target.counters.task}, proof ${r.target.counters.proof}`,
    next,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}

/** DECAPOD_CHECKPOINT_EVERY: events between automatic audit checkpoints (0: none); unset: the default. */
function checkpointEveryFromEnv(): number | undefined {
  const text = process.env.DECAPOD_CHECKPOINT_EVERY;
  if (text === undefined || text === '') return undefined;
  if (!/^\d{1,9}$/.test(text)) {
    throw new UsageError(`DECAPOD_CHECKPOINT_EVERY: expected a whole number of events from 0 (off) to 999999999, got ${JSON.stringify(text)}`);
  }
  return Number(text);
}

async function call(root: string, args: string[]): Promise<number> {
  const [method, arg, ...extra] = args;
  if (!method) throw new UsageError('call needs a METHOD');
  noExtra(extra);
  let params: unknown = {};
  if (arg !== undefined) {
    const text = arg === '-' ? readFileSync(0, 'utf8') : arg;
    try {
      params = JSON.parse(text);
    } catch {
      throw new UsageError(`params must be JSON, got ${JSON.stringify(text.slice(0, 80))}`);
    }
    if (typeof params !== 'object' || params === null || Array.isArray(params)) throw new UsageError('params must be a JSON object');
  }
  const p = params as Record<string, unknown>;
  // DECAPOD_LEASE: the lease this shell acts with, for methods that take one.
  if (process.env.DECAPOD_LEASE && p.lease === undefined && (CATALOG[method]?.lease ?? 'none') !== 'none') {
    p.lease = process.env.DECAPOD_LEASE;
  }
  out(await callMethod(root, method, p));
  return 0;
}

/** `decapod completion bash|zsh`: the script, generated from the command table. */
function completion(args: string[]): number {
  const [shell, ...extra] = args;
  if (shell !== 'bash' && shell !== 'zsh') throw new UsageError(`completion needs a shell: bash or zsh${shell === undefined ? '' : `, got ${JSON.stringify(shell)}`}`, { command: 'completion' });
  noExtra(extra);
  process.stdout.write(shell === 'bash' ? bashCompletion() : zshCompletion());
  return 0;
}

/** A --root that is not a folder is the caller's mistake (exit 2, one line), never a stack trace. */
function rootOf(explicit: string | undefined): string {
  try {
    return projectRoot(process.cwd(), explicit);
  } catch (err) {
    if (err instanceof RootNotFoundError) throw new UsageError(`--root ${err.message}`, false);
    throw err;
  }
}

function noExtra(args: string[]): void {
  if (args.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(args[0])}`);
}

function shellQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    const code = (err as { code?: unknown } | null)?.code;
    if (err instanceof RpcError) {
      // docs/design.md §2: an RPC error is printed as the JSON-RPC error object on stderr, exit 1.
      process.stderr.write(`${JSON.stringify(err.toJSON(), null, 2)}\n`);
      process.exitCode = 1;
    } else if (err instanceof UsageError || (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS'))) {
      process.stderr.write(usageErrorText(err as Error));
      process.exitCode = 2;
    } else if (err instanceof LaunchError || err instanceof TransportError) {
      process.stderr.write(`decapod: ${err.message}\n`);
      process.exitCode = 1;
    } else {
      process.stderr.write(`decapod: ${(err as Error)?.stack ?? String(err)}\n`);
      process.exitCode = 1;
    }
  },
);
