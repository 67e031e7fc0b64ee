import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix, resolve } from 'node:path';
import fc from 'fast-check';
import { afterAll, expect, onTestFinished, test } from 'vitest';
import { startTestServer } from '../helpers/test-server.js';
import { readServerJson, startForegroundServe, tempRoot as processRoot, useBuiltCli } from '../helpers/process.js';
import { auditHead, check, ok, preview, RunLog, runs, send, settle } from './support.js';

// Issue 7, path params under attack (docs/design.md §4: paths are relative to the root; anything escaping
// it is rejected). A claim is text: what it names is decided by normalising the text, never by
// decoding it or asking the file system. "Escape" therefore means either
//  - an accepted pattern that, read as a path relative to the root, leaves it (absolute, `..`,
//    a drive, a backslash reading, a `..` hidden in a glob alternative), or
//  - the server reading a file outside the root on a claim's behalf: the content digests of proofs
//    walk the files a task's paths cover, and a symlink in the root can point anywhere.
// Also here: a glob the overlap check must not spend unbounded time on (ReDoS).

const log = new RunLog('fuzz-paths.test.ts');
afterAll(() => log.write());

const SEGMENTS = [
  '..', '.', '', '...', '%2e%2e', '%2E%2E', '%252e%252e', '.%2e', '%2e.', '\uFF0E\uFF0E', '\u2024\u2024', '\u2025', '\uFE52\uFE52',
  '..\u0000', '\u0000', '..\\..', '\\', 'C:', 'c:', '~', '~root', ' ..', '.. ', '..\u200b', '\u202e..', '..\u00a0', '\u0085', '\u2028',
  'e\u0301', '%00', '\ud800', 'a', 'src', 'etc', 'passwd', 'link-etc', '.git', '.decapod', 'config.json', '**', '*', '?', '{..,a}',
  '{a,..}', '{a,{..,b}}', '@(..)', '+(..|a)', '!(a)', '[.][.]', '[.].', '!x', '$HOME', '`id`', '"..', "'..'",
];

const pathArb = fc
  .record({
    prefix: fc.constantFrom('', '', '', '/', './', '../', '~/', 'C:/', '\\\\server\\share\\', '//', '\u0000'),
    segments: fc.array(fc.constantFrom(...SEGMENTS), { minLength: 1, maxLength: 6 }),
    sep: fc.constantFrom('/', '/', '/', '\\', '//', '/./'),
    suffix: fc.constantFrom('', '', '/', '/.', '/..'),
  })
  .map(({ prefix, segments, sep, suffix }) => `${prefix}${segments.join(sep)}${suffix}`);

/** Why a normalised pattern would leave the root when read as a path relative to it, or null. */
function escapes(root: string, pattern: string): string | null {
  if (pattern.startsWith('/')) return 'absolute';
  if (/^[A-Za-z]:/.test(pattern)) return 'a Windows drive';
  if (pattern.includes('\\')) return 'a backslash (a separator on Windows)';
  if (/[\u0000-\u001f\u007f-\u009f]/.test(pattern)) return 'a control character';
  const segments = pattern.split('/');
  if (segments.includes('..')) return 'a .. segment';
  if (segments.some((seg) => seg.split(/[{},()|]/).includes('..'))) return 'a .. inside a glob alternative';
  const norm = posix.normalize(pattern);
  if (norm === '..' || norm.startsWith('../')) return 'normalises above the root';
  const full = resolve(root, pattern);
  if (full !== root && !full.startsWith(`${root}/`)) return 'resolves outside the root';
  return null;
}

test('unicode and encoding tricks in every path param: refused naming the item, or normalised to text inside the root', async () => {
  const s = await startTestServer();
  const lease = (await ok(s, 'lease.grant', { agent: 'paths', ttl_ms: 86_400_000 })).lease;
  await ok(s, 'task.create', { title: 'target' });
  const uses = [
    { method: 'claim.check', params: (p: string) => ({ paths: ['ok/file.ts', p] }), out: (r: any) => r.paths.map((x: any) => x.path) },
    { method: 'claim.acquire', params: (p: string) => ({ lease, paths: [p] }), out: (r: any) => r.claim.paths },
    { method: 'task.create', params: (p: string) => ({ title: 't', paths: [p] }), out: (r: any) => r.task.paths },
    { method: 'task.update', params: (p: string) => ({ lease, task: 'T1', paths: ['ok', p] }), out: (r: any) => r.task.paths },
    { method: 'claim.list', params: (p: string) => ({ path: p }), out: () => [] as string[] },
  ];
  let head = await auditHead(s);
  const accepted: Record<string, number> = {};
  await log.cases(
    'path tricks',
    fc.tuple(fc.nat({ max: uses.length - 1 }), pathArb),
    runs(320),
    async ([u, p]) => {
      const use = uses[u]!;
      const r = await send(s, `/rpc/${use.method}`, { body: JSON.stringify(use.params(p)) });
      check(r.status < 500, `${use.method}: HTTP ${r.status} ${r.text.slice(0, 160)}`);
      if (r.status === 200) {
        accepted[use.method] = (accepted[use.method] ?? 0) + 1;
        for (const pattern of use.out(r.json) as string[]) {
          const why = escapes(s.root, pattern);
          check(why === null, `${use.method} accepted ${JSON.stringify(p)} as ${JSON.stringify(pattern)}: ${why}`);
        }
      } else {
        const e = r.json?.error;
        check(e?.code === -32602, `${use.method}: refused with ${e?.code} ${e?.data?.code}, not -32602`);
        check(/^(paths(\.[01])?|path)$/.test(String(e.data?.field)), `${use.method}: -32602 named ${JSON.stringify(e.data?.field)}, not the path item`);
      }
      head = await settle(s, head, r.status !== 200);
    },
    ([u, p]) => `${uses[u]!.method} ${preview(p)}`,
  );
  console.info(`[security] path tricks accepted (as text inside the root): ${JSON.stringify(accepted)}`);
  expect(log.report(['path tricks'])).toBe('');
});

test('encodings and look-alikes are text, never `..`: each is its own name inside the root', async () => {
  const s = await startTestServer();
  const lease = (await ok(s, 'lease.grant', { agent: 'lookalikes' })).lease;
  for (const name of ['%2e%2e', '%252e%252e', '\uFF0E\uFF0E', '\u2024\u2024', '\u2025', '\uFE52\uFE52', '.. ', ' ..', '..\u200b', '...']) {
    await log.one('look-alike names', name, async () => {
      const { claim } = await ok(s, 'claim.acquire', { lease, paths: [`${name}/etc/passwd`] });
      expect(claim.paths).toEqual([`${name}/etc/passwd`]);
      expect(escapes(s.root, claim.paths[0])).toBeNull();
    });
  }
  expect(log.report(['look-alike names'])).toBe('');
});

// ---------------------------------------------------------------------------------------------
// Symlinks in the root pointing outside it
// ---------------------------------------------------------------------------------------------

for (const git of [false, true]) {
  test(`symlinks out of the root (/etc, a folder, a file; ${git ? 'git worktree' : 'plain folder'}): claims stay text; proof digests never read through them`, async () => {
    const s = await startTestServer();
    if (git) execFileSync('git', ['init', '-q', s.root]);
    const outside = mkdtempSync(join(tmpdir(), 'decapod-outside-'));
    onTestFinished(() => rmSync(outside, { recursive: true, force: true }));
    writeFileSync(join(outside, 'secret.txt'), 'outside, version 1\n');
    mkdirSync(join(outside, 'dir'));
    writeFileSync(join(outside, 'dir', 'f.txt'), 'outside, version 1\n');
    symlinkSync('/etc', join(s.root, 'link-etc'));
    symlinkSync(join(outside, 'dir'), join(s.root, 'link-dir'));
    symlinkSync(join(outside, 'secret.txt'), join(s.root, 'link-file'));
    mkdirSync(join(s.root, 'src'));
    writeFileSync(join(s.root, 'src', 'main.ts'), 'export {}\n');
    mkdirSync(join(s.root, '.decapod'), { recursive: true });
    writeFileSync(join(s.root, '.decapod', 'config.json'), JSON.stringify({ gates: { review: { command: 'true', attest: 'any' } } }));
    const lease = (await ok(s, 'lease.grant', { agent: 'linker', ttl_ms: 86_400_000 })).lease;
    const mode = git ? 'git' : 'plain';

    // Claiming through a link is claiming text inside the root; climbing out of it is refused.
    await log.one(`symlinks (${mode})`, `${mode}: claim link-etc/passwd`, async () => {
      const { claim } = await ok(s, 'claim.acquire', { lease, paths: ['link-etc/passwd', 'link-dir'] });
      expect(claim.paths).toEqual(['link-dir', 'link-etc/passwd']);
      const up = await send(s, '/rpc/claim.check', { body: JSON.stringify({ paths: ['link-etc/../../etc/passwd'] }) });
      expect(up.json.error).toMatchObject({ code: -32602, data: { field: 'paths.0' } });
      await ok(s, 'claim.release', { lease, claim: claim.id, fence: claim.fence });
    });

    // Proofs: the digest of a task's paths must not change when only content outside the root does.
    const targets: [string, string[] | undefined][] = [
      ['a symlink to a file outside', ['link-file']],
      ['a symlink to a folder outside', ['link-dir']],
      ['a symlink to /etc', ['link-etc']],
      ['the whole worktree (no paths)', undefined],
    ];
    for (const [label, paths] of targets) {
      await log.one(`symlinks (${mode})`, `${mode}: digest of ${label}`, async () => {
        const { task } = await ok(s, 'task.create', { title: label, gates: ['review'], ...(paths ? { paths } : {}) });
        const { claim } = await ok(s, 'task.claim', { lease, task: task.id });
        const record = async () => {
          const r = await send(s, '/rpc/proof.record', { body: JSON.stringify({ lease, task: task.id, gate: 'review', fence: claim.fence, passed: true }) });
          check(r.status === 200, `proof.record on a task covering ${label}: HTTP ${r.status} ${r.text.slice(0, 160)}`);
          return r.json.proof.digest as string;
        };
        const before = await record();
        writeFileSync(join(outside, 'secret.txt'), `outside, changed ${Date.now()}\n`);
        writeFileSync(join(outside, 'dir', 'f.txt'), `outside, changed ${Date.now()}\n`);
        const after = await record();
        check(after === before, `the digest of ${label} changed when only files outside the root changed: the server read outside the root`);
        await ok(s, 'task.cancel', { lease, task: task.id, reason: 'done with it' });
      });
    }
    expect(log.report([`symlinks (${mode})`])).toBe('');
  });
}

// ---------------------------------------------------------------------------------------------
// A glob the overlap check must not spend unbounded time on
// ---------------------------------------------------------------------------------------------

useBuiltCli();

test('pathological globs (ReDoS): a claim check against a long held name answers within the bound (separate server process)', async () => {
  // In a child process: if the check backtracks for minutes, it blocks that process, not this one.
  const root = processRoot();
  await startForegroundServe(root);
  const info = readServerJson(root)!;
  const call = async (method: string, params: unknown) => {
    const res = await fetch(`${info.url}/rpc/${method}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${info.token}`, 'content-type': 'application/json' },
      body: JSON.stringify(params),
      signal: AbortSignal.timeout(5_000),
    });
    return { status: res.status, json: (await res.json()) as any };
  };
  const a = (await call('lease.grant', { agent: 'long-name' })).json.lease;
  const b = (await call('lease.grant', { agent: 'globber' })).json.lease;
  expect((await call('claim.acquire', { lease: a, paths: ['a'.repeat(200)] })).status).toBe(200);
  const glob = `${'*a'.repeat(12)}*c`; // cannot match a name without a `c`: "free", or refused as too many stars
  for (const [method, params] of [
    ['claim.check', { paths: [glob] }],
    ['claim.list', { path: glob }],
    ['claim.acquire', { lease: b, paths: [glob] }],
  ] as const) {
    await log.one('pathological globs', `${method} ${glob}`, async () => {
      const started = Date.now();
      let status: number | string;
      try {
        status = (await call(method, params)).status;
      } catch (err) {
        status = (err as Error).name;
      }
      // Either answered, or refused as bad input (too many stars): never stuck.
      check(status === 200 || status === 400, `${method} with ${glob} against a held ${'a'.repeat(8)}… (200 chars): ${status === 'TimeoutError' ? 'no answer within 5 s (the event loop is stuck in the glob regex)' : `answered ${status}`} after ${Date.now() - started} ms`);
    });
    if (log.violations.some((v) => v.category === 'pathological globs')) break; // the server is stuck now
  }
  expect(log.report(['pathological globs'])).toBe('');
}, 30_000);

