// clients/sh: decapod-rpc (curl) and the git pre-commit hook, in real temp git repositories
// against the built CLI.
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { binPath, REPO, runDecapod, serveProcesses, tempRoot, useBuiltCli } from '../helpers/process.js';

useBuiltCli();

const SH = join(REPO, 'clients', 'sh');
const RPC = join(SH, 'decapod-rpc');

type Run = SpawnSyncReturns<string>;

/** A clean environment: none of ours DECAPOD_* / GIT_*, no global git config, the built CLI. */
function env(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('DECAPOD_') && !k.startsWith('GIT_')) e[k] = v;
  Object.assign(e, { DECAPOD_BIN: binPath(), DECAPOD_IDLE_TIMEOUT: '30s', GIT_CONFIG_GLOBAL: '/dev/null', GIT_CONFIG_NOSYSTEM: '1' }, extra);
  for (const k of Object.keys(e)) if (e[k] === undefined) delete e[k];
  return e;
}

function run(cmd: string, args: string[], cwd: string, extra: Record<string, string | undefined> = {}, input?: string): Run {
  return spawnSync(cmd, args, { cwd, env: env(extra), encoding: 'utf8', input, timeout: 60_000 });
}

const show = (r: Run) => `exit ${r.status}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;

function rpc(root: string, method: string, params?: unknown, extra: Record<string, string | undefined> = {}): Run {
  return run(RPC, params === undefined ? [method] : [method, typeof params === 'string' ? params : JSON.stringify(params)], root, extra);
}

function rpcOk(root: string, method: string, params?: unknown, extra: Record<string, string | undefined> = {}): any {
  const r = rpc(root, method, params, extra);
  if (r.status !== 0) throw new Error(`decapod-rpc ${method} failed: ${show(r)}`);
  return JSON.parse(r.stdout);
}

function git(root: string, args: string[], extra: Record<string, string | undefined> = {}): Run {
  return run('git', args, root, extra);
}

/** A temp root that is a git repository with the hook installed as the README says (symlink). */
function repoWithHook(): string {
  const root = tempRoot();
  for (const args of [['init', '-q', '.'], ['config', 'user.email', 'agent@example.com'], ['config', 'user.name', 'agent']]) {
    const r = git(root, args);
    if (r.status !== 0) throw new Error(show(r));
  }
  symlinkSync(join(SH, 'pre-commit'), join(root, '.git', 'hooks', 'pre-commit'));
  mkdirSync(join(root, 'src'));
  writeFileSync(join(root, 'src', 'a.txt'), 'a\n');
  writeFileSync(join(root, 'notes.txt'), 'notes\n');
  return root;
}

const subjects = (root: string) => git(root, ['log', '--format=%s']).stdout.split('\n').filter(Boolean);

describe('decapod-rpc', () => {
  test('prints the result; an RPC error exits 1 with the error object on stderr; usage exits 2', () => {
    const root = tempRoot();
    const grant = rpc(root, 'lease.grant', { agent: 'alice', ttl_ms: 60_000 });
    expect(grant.status, show(grant)).toBe(0);
    expect(grant.stdout.trim().split('\n')).toHaveLength(1); // one line of JSON
    const alice = JSON.parse(grant.stdout);
    expect(alice.lease).toMatch(/^dcl_/);
    expect(alice.receipt.seq).toBe(1);
    rpcOk(root, 'claim.acquire', { lease: alice.lease, paths: ['src'] });
    const bob = rpcOk(root, 'lease.grant', { agent: 'bob' });

    const refused = rpc(root, 'claim.acquire', { lease: bob.lease, paths: ['src/x.ts'] });
    expect(refused.status, show(refused)).toBe(1);
    expect(refused.stdout).toBe('');
    const err = JSON.parse(refused.stderr);
    expect(err.code).toBe(1003);
    expect(err.data.code).toBe('CONFLICT');
    expect(err.data.conflicts[0].agent).toBe('alice');

    const fromStdin = run(RPC, ['claim.check', '-'], root, {}, JSON.stringify({ paths: ['src/y.ts', 'docs'], lease: bob.lease }));
    expect(fromStdin.status, show(fromStdin)).toBe(0);
    const free = Object.fromEntries(JSON.parse(fromStdin.stdout).paths.map((p: any) => [p.path, p.free]));
    expect(free).toEqual({ 'src/y.ts': false, docs: true });

    const invalid = rpc(root, 'lease.grant', { agent: 5 });
    expect(invalid.status).toBe(1);
    expect(JSON.parse(invalid.stderr).data).toEqual({ code: 'INVALID_PARAMS', field: 'agent' });

    for (const args of [[], ['lease.list', '[1]'], ['lease.list', '{}', 'extra'], ['bad method', '{}']]) {
      const usage = run(RPC, args, root);
      expect(usage.status, `${args.join(' ')}: ${show(usage)}`).toBe(2);
    }
    expect(run(RPC, ['--help'], root).stdout).toContain('usage: decapod-rpc METHOD');
  });

  test('ignores proxy settings, and finds a new server when DECAPOD_URL is stale', async () => {
    const root = tempRoot();
    const proxies = Object.fromEntries(['HTTP_PROXY', 'http_proxy', 'HTTPS_PROXY', 'https_proxy', 'ALL_PROXY', 'all_proxy'].map((k) => [k, 'http://127.0.0.1:9']));
    const lease = rpcOk(root, 'lease.grant', { agent: 'proxied', ttl_ms: 120_000 }, proxies);
    const envOut = await runDecapod(['env'], { root });
    const url = /^DECAPOD_URL=(.*)$/m.exec(envOut.stdout)![1]!;
    const token = /^DECAPOD_TOKEN=(.*)$/m.exec(envOut.stdout)![1]!.replace(/^'|'$/g, '');
    // With DECAPOD_URL/TOKEN it does not need the CLI at all.
    const direct = rpcOk(root, 'server.status', undefined, { ...proxies, DECAPOD_URL: url, DECAPOD_TOKEN: token, DECAPOD_BIN: '/nonexistent' });
    expect(direct.root).toBe(root);
    const stop = await runDecapod(['stop'], { root });
    expect(stop.code, stop.stderr).toBe(0);
    // The advertised server is gone: it asks `decapod env` again (which starts one) and retries.
    const after = rpcOk(root, 'lease.list', undefined, { ...proxies, DECAPOD_URL: url, DECAPOD_TOKEN: token });
    expect(after.leases.map((l: any) => l.lease_id)).toContain(lease.lease_id);
    expect(serveProcesses(root)).toHaveLength(1);
  });

  test('DECAPOD_NO_SPAWN=1 with no server: exit 3, nothing started', () => {
    const root = tempRoot();
    const r = rpc(root, 'lease.list', undefined, { DECAPOD_NO_SPAWN: '1' });
    expect(r.status, show(r)).toBe(3);
    expect(r.stderr).toContain('DECAPOD_NO_SPAWN=1');
    expect(serveProcesses(root)).toEqual([]);
  });
});

describe('pre-commit hook', () => {
  test('a commit touching a path another agent holds is refused, naming the holder; a free one passes', () => {
    const root = repoWithHook();
    const alice = rpcOk(root, 'lease.grant', { agent: 'alice', ttl_ms: 120_000 });
    rpcOk(root, 'claim.acquire', { lease: alice.lease, paths: ['src'] });
    const bob = rpcOk(root, 'lease.grant', { agent: 'bob', ttl_ms: 120_000 });

    expect(git(root, ['add', 'src/a.txt']).status).toBe(0);
    for (const who of [{ DECAPOD_LEASE: bob.lease }, {}]) {
      const refused = git(root, ['commit', '-qm', 'touch src'], who);
      expect(refused.status, show(refused)).toBe(1);
      expect(refused.stderr).toContain('commit refused: staged paths are claimed by another agent');
      expect(refused.stderr).toMatch(/^ {2}src\/a\.txt: held by alice \(exclusive, claim C1, \d+s left\)$/m);
    }
    expect(subjects(root)).toEqual([]);
    expect(git(root, ['diff', '--cached', '--name-only']).stdout.trim()).toBe('src/a.txt'); // still staged

    // The holder itself commits.
    const own = git(root, ['commit', '-qm', 'alice edits src'], { DECAPOD_LEASE: alice.lease });
    expect(own.status, show(own)).toBe(0);
    // A path nobody holds.
    git(root, ['add', 'notes.txt']);
    const free = git(root, ['commit', '-qm', 'bob edits notes'], { DECAPOD_LEASE: bob.lease });
    expect(free.status, show(free)).toBe(0);
    expect(free.stderr).toBe('');
    // Odd names are sent as proper JSON; names no claim can hold (a tab, a backslash) are let through, noted.
    for (const name of ['odd name é.txt', 'tab\there.txt', 'back\\slash.txt']) writeFileSync(join(root, name), 'x\n');
    git(root, ['add', '-A', '.', ':!src']);
    const odd = git(root, ['commit', '-qm', 'odd names'], { DECAPOD_LEASE: bob.lease });
    expect(odd.status, show(odd)).toBe(0);
    expect(odd.stderr.match(/not checked \(no claim can name it\)/g)).toHaveLength(2);
    writeFileSync(join(root, 'src', 'odd name é.txt'), 'x\n');
    git(root, ['add', 'src/odd name é.txt']);
    const oddHeld = git(root, ['commit', '-qm', 'odd held'], { DECAPOD_LEASE: bob.lease });
    expect(oddHeld.status, show(oddHeld)).toBe(1);
    expect(oddHeld.stderr).toContain('src/odd name é.txt: held by alice');
    git(root, ['reset', '-q', 'src/odd name é.txt']);
    // Moving a held file away touches it too.
    expect(git(root, ['mv', 'src/a.txt', 'moved.txt']).status).toBe(0);
    const moved = git(root, ['commit', '-qm', 'bob moves it'], { DECAPOD_LEASE: bob.lease });
    expect(moved.status, show(moved)).toBe(1);
    expect(moved.stderr).toContain('src/a.txt: held by alice');
    expect(subjects(root)).toEqual(['odd names', 'bob edits notes', 'alice edits src']);
  });

  test('a fence that is no longer current refuses the commit; the current one passes', () => {
    const root = repoWithHook();
    const alice = rpcOk(root, 'lease.grant', { agent: 'alice', ttl_ms: 120_000 });
    const { claim } = rpcOk(root, 'claim.acquire', { lease: alice.lease, paths: ['src'] });
    const as = (fence: string | undefined) => ({ DECAPOD_LEASE: alice.lease, DECAPOD_CLAIM: claim.id, DECAPOD_FENCE: fence });
    git(root, ['add', 'src/a.txt']);
    const stale = git(root, ['commit', '-qm', 'stale'], as(String(claim.fence + 1)));
    expect(stale.status, show(stale)).toBe(1);
    expect(stale.stderr).toContain(`fence ${claim.fence + 1} of claim ${claim.id} is no longer current`);
    const half = git(root, ['commit', '-qm', 'half'], as(undefined));
    expect(half.status, show(half)).toBe(1);
    expect(half.stderr).toContain('DECAPOD_CLAIM and DECAPOD_FENCE (a number) must be set together');
    const current = git(root, ['commit', '-qm', 'current'], as(String(claim.fence)));
    expect(current.status, show(current)).toBe(0);
    // Once the claim is released, its fence is no longer current either.
    rpcOk(root, 'claim.release', { lease: alice.lease, claim: claim.id, fence: claim.fence });
    const released = git(root, ['commit', '-q', '--allow-empty', '-m', 'after release'], as(String(claim.fence)));
    expect(released.status, show(released)).toBe(1);
    expect(subjects(root)).toEqual(['current']);
    // A lease that is gone is named as such.
    rpcOk(root, 'lease.revoke', { lease: alice.lease });
    git(root, ['add', 'notes.txt']);
    const gone = git(root, ['commit', '-qm', 'revoked'], { DECAPOD_LEASE: alice.lease });
    expect(gone.status, show(gone)).toBe(1);
    expect(gone.stderr).toContain('LEASE_INVALID');
  });

  test('no server: it starts one (claims outlive servers); with DECAPOD_NO_SPAWN=1 it passes with a warning, unless strict', async () => {
    const root = repoWithHook();
    const alice = rpcOk(root, 'lease.grant', { agent: 'alice', ttl_ms: 120_000 });
    rpcOk(root, 'claim.acquire', { lease: alice.lease, paths: ['src'] });
    const stop = await runDecapod(['stop'], { root });
    expect(stop.code, stop.stderr).toBe(0);
    expect(serveProcesses(root)).toEqual([]);
    git(root, ['add', 'src/a.txt']);

    const strict = git(root, ['commit', '-qm', 'strict'], { DECAPOD_NO_SPAWN: '1', DECAPOD_HOOK_STRICT: '1' });
    expect(strict.status, show(strict)).toBe(1);
    expect(strict.stderr).toContain('commit refused (DECAPOD_HOOK_STRICT=1)');
    const lenient = git(root, ['commit', '-qm', 'unchecked'], { DECAPOD_NO_SPAWN: '1' });
    expect(lenient.status, show(lenient)).toBe(0);
    expect(lenient.stderr).toContain('warning: no Decapod server could be reached');
    expect(lenient.stderr).toContain('commit NOT checked against claims');
    expect(serveProcesses(root)).toEqual([]);

    // By default it starts a server, which still knows alice's claim.
    writeFileSync(join(root, 'src', 'a.txt'), 'changed\n');
    git(root, ['add', 'src/a.txt']);
    const checked = git(root, ['commit', '-qm', 'checked']);
    expect(checked.status, show(checked)).toBe(1);
    expect(checked.stderr).toContain('src/a.txt: held by alice');
    expect(serveProcesses(root)).toHaveLength(1);
    expect(subjects(root)).toEqual(['unchecked']);
  });
});
