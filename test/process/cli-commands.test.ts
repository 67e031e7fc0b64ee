// The complete CLI (issue 12): one command table behind the parser, help, group listings, README
// and shell completion; the lease, claim, task and proof commands, through real processes.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { COMMANDS, GROUPS, groupCommands } from '../../src/cli/commands.js';
import { REPO, binPath, describeRun, json, runDecapod, runPaths, serveProcesses, tempRoot, useBuiltCli } from '../helpers/process.js';

useBuiltCli();

function expectNothingStarted(root: string): void {
  expect(serveProcesses(root)).toEqual([]);
  expect(existsSync(runPaths(root).decapodDir)).toBe(false);
}

describe('help and usage come from the command table', () => {
  test('`decapod help` lists every command, and so does the README', async () => {
    const help = await runDecapod(['help']);
    expect(help.code, describeRun(help)).toBe(0);
    const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
    const readmeTable = readme.slice(readme.indexOf('| command | what it does |'));
    for (const c of COMMANDS) {
      expect(help.stdout, c.name).toMatch(new RegExp(`^  decapod ${c.name}\\b`, 'm'));
      expect(readmeTable, `README's command list lacks decapod ${c.name}`).toMatch(new RegExp(`\`decapod ${c.name}\\b`));
    }
  });

  test('no arguments: usage on stdout, exit 2; --help: exit 0', async () => {
    const root = tempRoot();
    const none = await runDecapod([], { root });
    expect(none.code, describeRun(none)).toBe(2);
    expect(none.stdout).toContain('Usage: decapod COMMAND');
    const asked = await runDecapod(['--help'], { root });
    expect(asked.code).toBe(0);
    expect(asked.stdout).toBe(none.stdout);
    expectNothingStarted(root);
  });

  test.each(Object.keys(GROUPS).map((g) => [g, g]))('`decapod %s` and `decapod help %s` list the group, one line each', async (group) => {
    const root = tempRoot();
    const bare = await runDecapod([group], { root });
    expect(bare.code, describeRun(bare)).toBe(2);
    const help = await runDecapod(['help', group], { root });
    expect(help.code, describeRun(help)).toBe(0);
    expect(help.stdout).toBe(bare.stdout);
    const lines = bare.stdout.split('\n').filter((l) => l.startsWith('  decapod '));
    expect(lines.map((l) => l.trim().split(/\s{2,}/)[0])).toEqual(groupCommands(group).map((c) => `decapod ${c.name}${c.name === 'lease grant' ? ' --agent NAME' : ''}${c.args ? ` ${c.args}` : ''}`));
    expectNothingStarted(root);
  });

  test("`decapod help COMMAND` and COMMAND --help show the command's options", async () => {
    const help = await runDecapod(['help', 'task', 'add']);
    expect(help.code, describeRun(help)).toBe(0);
    expect(help.stdout).toMatch(/^Usage: decapod task add TITLE \[OPTIONS\]\n/);
    for (const flag of ['--gate GATE…', '--depends TASK…', '--acceptance TEXT…', '--priority N', '--root DIR']) expect(help.stdout).toContain(flag);
    expect(help.stdout).toContain('(calls task.create)');
    const dashed = await runDecapod(['task', 'add', '--help']);
    expect(dashed.code).toBe(0);
    expect(dashed.stdout).toBe(help.stdout);
    const bad = await runDecapod(['help', 'frobnicate']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe('decapod: unknown command "frobnicate" (see decapod help)\n');
  });

  test.each([
    [['task', 'add', 'x', '--x'], 'decapod: unknown option --x for task add (see decapod help task add)\n'],
    [['task', 'list', '--shared'], 'decapod: unknown option --shared for task list (see decapod help task list)\n'],
    [['--frob', 'status'], 'decapod: unknown option --frob for status (see decapod help status)\n'],
    [['-x'], 'decapod: unknown option -x (see decapod help)\n'],
    [['lease', 'grant', '--agent'], 'decapod: --agent needs a value (--agent NAME) (see decapod help lease grant)\n'],
    [['task', 'list', '--json=yes'], 'decapod: --json takes no value for task list (see decapod help task list)\n'],
    [['claim', 'x', '--ttl', '1m', '--ttl', '2m'], 'decapod: --ttl is given more than once (see decapod help claim)\n'],
    [['task', 'frob'], 'decapod: unknown command "task frob" (see decapod help task)\n'],
    [['lease', 'grant'], 'decapod: lease grant needs --agent NAME (see decapod help lease grant)\n'],
    [['completion', 'fish'], 'decapod: completion needs a shell: bash or zsh, got "fish" (see decapod help completion)\n'],
  ])('%j: one line of our own on stderr, exit 2, nothing started', async (args, message) => {
    const root = tempRoot();
    const r = await runDecapod(args, { root });
    expect(r.code, describeRun(r)).toBe(2);
    expect(r.stderr).toBe(message);
    expect(r.stdout).toBe('');
    expectNothingStarted(root);
  });
});

describe('leases, claims, tasks without decapod call', () => {
  test('task add --gate/--depends/--acceptance; claim list and its filters; lease list; lease revoke', async () => {
    const root = tempRoot();
    mkdirSync(join(root, '.decapod'));
    writeFileSync(join(root, '.decapod', 'config.json'), JSON.stringify({ gates: { test: { command: 'true' }, lint: { command: 'true' } } }));
    const run = (args: string[], lease?: string) => runDecapod(args, { root, env: { DECAPOD_LEASE: lease } });
    const alice = json(await run(['lease', 'grant', '--agent', 'alice'])).lease as string;
    const bob = json(await run(['lease', 'grant', '--agent', 'bob'])).lease as string;

    expect(json(await run(['task', 'add', 'Parser'])).task.id).toBe('T1');
    const added = await run(['task', 'add', 'Commas', '--path', 'src/parser', '--depends', 'T1', '--gate', 'test', '--gate', 'lint', '--acceptance', 'a, b parses', '--acceptance', 'the error names the line']);
    expect(added.code, describeRun(added)).toBe(0);
    expect(json(added).task).toMatchObject({ id: 'T2', depends_on: ['T1'], gates: ['lint', 'test'], acceptance: ['a, b parses', 'the error names the line'], paths: ['src/parser'] });
    const unknownGate = await run(['task', 'add', 'x', '--gate', 'nope']);
    expect(unknownGate.code).toBe(1);
    expect(JSON.parse(unknownGate.stderr)).toMatchObject({ code: -32602, data: { field: 'gates.0' } });
    const updated = json(await run(['task', 'update', 'T2', '--acceptance', 'only this'], bob)).task;
    expect(updated.acceptance).toEqual(['only this']);

    const c1 = json(await run(['claim', 'docs', '--shared'], alice)).claim;
    const c2 = json(await run(['claim', 'src/lexer.ts'], bob)).claim;
    const lines = (await run(['claim', 'list'])).stdout.trim().split('\n');
    expect(lines).toEqual([
      expect.stringMatching(new RegExp(`^${c1.id} +alice#${c1.fence} +shared +\\d+s left +docs$`)),
      expect.stringMatching(new RegExp(`^${c2.id} +bob#${c2.fence} +exclusive +\\d+s left +src/lexer.ts$`)),
    ]);
    expect(json(await run(['claim', 'list', '--agent', 'bob', '--json'])).map((c: { id: string }) => c.id)).toEqual([c2.id]);
    expect(json(await run(['claim', 'list', '--path', 'src', '--json'])).map((c: { id: string }) => c.id)).toEqual([c2.id]);
    expect(json(await run(['claim', 'list', '--task', 'T2', '--json']))).toEqual([]);

    const leases = (await run(['lease', 'list'])).stdout.trim().split('\n');
    expect(leases).toEqual([expect.stringMatching(new RegExp(`alice +active +(\\d+m )?\\d+s left +${c1.id}$`)), expect.stringMatching(/bob +active .* left/)]);

    // lease revoke: the current lease (DECAPOD_LEASE), or the one given.
    expect(json(await run(['lease', 'revoke'], bob))).toMatchObject({ released: [c2.id] });
    expect(json(await run(['lease', 'revoke', alice]))).toMatchObject({ released: [c1.id] });
    expect(json(await run(['lease', 'list', '--json'])).map((l: { state: string }) => l.state)).toEqual(['revoked', 'revoked']);
    expect((await run(['claim', 'list'])).stdout).toBe('');
    const none = await run(['lease', 'revoke']);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('lease revoke needs a LEASE secret, or DECAPOD_LEASE set');
    const again = await run(['lease', 'revoke', alice]);
    expect(again.code).toBe(1);
    expect(JSON.parse(again.stderr).data.code).toBe('LEASE_INVALID');
  });

  test('check: 0 when free, 1 when another holds a path (naming who), 2 when it cannot tell', async () => {
    const root = tempRoot();
    const run = (args: string[], env: Record<string, string> = {}) => runDecapod(args, { root, env });
    const alice = json(await run(['lease', 'grant', '--agent', 'alice'])).lease as string;
    const claim = json(await run(['claim', 'src/parser'], { DECAPOD_LEASE: alice })).claim;

    const free = await run(['check', 'docs/a.md', 'README.md']);
    expect(free.code, describeRun(free)).toBe(0);
    expect(free.stderr).toBe('');
    const held = await run(['check', 'docs/a.md', 'src/parser/lex.ts']);
    expect(held.code, describeRun(held)).toBe(1);
    expect(json(held).paths.map((p: { free: boolean }) => p.free)).toEqual([true, false]);
    expect(held.stderr).toMatch(new RegExp(`^decapod: src/parser/lex.ts is held by alice \\(exclusive, claim ${claim.id}, (\\d+m )?\\d+s left\\)\\n$`));
    expect((await run(['check', 'src/parser/lex.ts'], { DECAPOD_LEASE: alice })).code).toBe(0);

    // Bad input is not "held": exit 2, with the error.
    const outside = await run(['check', '../elsewhere']);
    expect(outside.code, describeRun(outside)).toBe(2);
    expect(outside.stderr).toContain('"code": -32602');
    expect(outside.stderr).toContain('check could not tell whether these paths are free (exit 2)');
    // No server possible: exit 2, and none started.
    const other = tempRoot();
    const noServer = await runDecapod(['check', 'src'], { root: other, env: { DECAPOD_NO_SPAWN: '1' } });
    expect(noServer.code, describeRun(noServer)).toBe(2);
    expect(noServer.stderr).toContain('DECAPOD_NO_SPAWN');
    expect(serveProcesses(other)).toEqual([]);
    expect((await run(['check'])).code).toBe(2);
  });

  test('proof run prints the verdict: exit code and output tail when it fails, counts:false and the files when it does not count', async () => {
    const root = tempRoot();
    mkdirSync(join(root, '.decapod'));
    mkdirSync(join(root, 'src'));
    writeFileSync(join(root, 'src', 'a.txt'), 'a\n');
    const gates = {
      ok: { command: 'echo all good' },
      fails: { command: 'for i in $(seq 1 30); do echo "line $i"; done; echo "boom: 2 tests failed" >&2; exit 3' },
      writes: { command: 'echo more >> src/a.txt' },
    };
    writeFileSync(join(root, '.decapod', 'config.json'), JSON.stringify({ gates }));
    const env = { DECAPOD_LEASE: json(await runDecapod(['lease', 'grant', '--agent', 'dana'], { root })).lease as string };
    const run = (args: string[]) => runDecapod(args, { root, env });
    expect((await run(['task', 'add', 'A', '--path', 'src', '--gate', 'ok', '--gate', 'fails', '--gate', 'writes'])).code).toBe(0);
    const fence = json(await run(['task', 'claim', 'T1'])).claim.fence;

    const failed = await run(['proof', 'run', 'T1', 'fails']);
    expect(failed.code, describeRun(failed)).toBe(1);
    const proof = json(failed).proof;
    expect(proof).toMatchObject({ passed: false, exit_code: 3, counts: true, fence });
    const err = failed.stderr.split('\n');
    expect(err[0]).toMatch(new RegExp(`^  fails for T1: FAILED \\(exit 3\\) in \\d+\\.\\ds; proof ${proof.id}$`));
    expect(err[1]).toMatch(/^ {2}the last 20 lines of its output; all \d+ bytes: .*\.decapod\/artifacts\//);
    expect(err.slice(2, 22)).toEqual([...Array.from({ length: 19 }, (_, i) => `  | line ${i + 12}`), '  | boom: 2 tests failed']);

    const ok = await run(['proof', 'run', 'T1', 'ok']);
    expect(ok.code, describeRun(ok)).toBe(0);
    expect(ok.stderr).toMatch(/^ {2}ok for T1: passed \(exit 0\) in \d+\.\ds; proof P\d+\n$/);

    const writes = await run(['proof', 'run', 'T1', 'writes']);
    expect(writes.code, describeRun(writes)).toBe(1);
    expect(json(writes).proof).toMatchObject({ passed: true, counts: false, changed_during_run: ['src/a.txt'] });
    expect(writes.stderr).toContain('it does not count (counts: false): covered files were written while the gate ran: src/a.txt\n');

    const listed = (await run(['proof', 'list', 'T1'])).stdout.trim().split('\n');
    expect(listed).toEqual([
      expect.stringMatching(/^P\d+ +fails +FAILED +exit 3 +counts +server /),
      expect.stringMatching(/^P\d+ +ok +passed +exit 0 +counts +server /),
      expect.stringMatching(/^P\d+ +writes +passed +exit 0 +no-count +server /),
    ]);
    expect((await run(['gate', 'list'])).stdout).toMatch(/^fails +attest:server/m);
    // The plan is not proven: task done is refused, and cancel needs a reason.
    expect(JSON.parse((await run(['task', 'done', 'T1'])).stderr).data.code).toBe('PROOF_REQUIRED');
    expect((await run(['task', 'cancel', 'T1'])).code).toBe(2);
    expect(json(await run(['task', 'cancel', 'T1', '--reason', 'gave up'])).task.status).toBe('cancelled');
    expect(json(await run(['task', 'reopen', 'T1', '--reason', 'back'])).task.status).toBe('open');
  });
});

describe('shell completion, generated from the same table', () => {
  const script = () => {
    const r = spawnSync(process.execPath, [binPath(), 'completion', 'bash'], { encoding: 'utf8', timeout: 10_000 });
    expect(r.status, r.stderr).toBe(0);
    return r.stdout;
  };

  /** COMPREPLY after sourcing the script and calling _decapod with these words (the last one at the cursor). */
  function complete(bash: string, words: string[], cwd = REPO): string[] {
    const r = spawnSync('bash', ['--norc', '--noprofile', '-c', `source /dev/stdin <<'DECAPOD'\n${bash}\nDECAPOD\nCOMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 )); _decapod; printf '%s\\n' "\${COMPREPLY[@]}"`, 'bash', ...words], {
      encoding: 'utf8',
      cwd,
      timeout: 10_000,
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    return r.stdout.split('\n').filter(Boolean);
  }

  test("bash offers the commands, a group's commands, options, option values and paths", () => {
    const bash = script();
    const top = [...new Set(COMMANDS.map((c) => c.name.split(' ')[0]))];
    expect(complete(bash, ['decapod', ''])).toEqual(top);
    expect(complete(bash, ['decapod', 'ta'])).toEqual(['task']);
    expect(complete(bash, ['decapod', 'task', ''])).toEqual(['add', 'list', 'show', 'update', 'claim', 'done', 'cancel', 'reopen']);
    expect(complete(bash, ['decapod', '--root', '/tmp', 'lease', ''])).toEqual(['grant', 'list', 'revoke']);
    expect(complete(bash, ['decapod', 'help', 'proof', ''])).toEqual(['run', 'list']);
    expect(complete(bash, ['decapod', 'task', 'add', 'T', '--a'])).toEqual(['--acceptance']);
    expect(complete(bash, ['decapod', 'task', 'list', '--status', ''])).toEqual(['open', 'done', 'cancelled']);
    expect(complete(bash, ['decapod', 'completion', ''])).toEqual(['bash', 'zsh']);
    expect(complete(bash, ['decapod', 'task', 'show', 'T1', ''])).toEqual([]);
    // `claim` is a group and a command: its subcommand, and paths.
    const dir = tempRoot();
    mkdirSync(join(dir, 'lib'));
    writeFileSync(join(dir, 'lister.ts'), '');
    expect(complete(bash, ['decapod', 'claim', 'li'], dir).sort()).toEqual(['lib', 'list', 'lister.ts']);
    expect(complete(bash, ['decapod', 'check', 'l'], dir).sort()).toEqual(['lib', 'lister.ts']);
    expect(complete(bash, ['decapod', 'claim', '--shared', 'lib', '--w'], dir)).toEqual(['--wait']);
  });

  const zshScript = () => {
    const r = spawnSync(process.execPath, [binPath(), 'completion', 'zsh'], { encoding: 'utf8', timeout: 10_000 });
    expect(r.status, r.stderr).toBe(0);
    return r.stdout;
  };

  test('the zsh script describes every command and group', () => {
    const zsh = zshScript();
    expect(zsh).toMatch(/^#compdef decapod\n/);
    const entry = (word: string, text: string) => `'${word}:${text.replace(/'/g, `'\\''`)}'`;
    for (const c of COMMANDS.filter((c) => !(c.name in GROUPS))) expect(zsh, c.name).toContain(entry(c.name.split(' ').at(-1)!, c.summary));
    for (const [group, text] of Object.entries(GROUPS)) expect(zsh, group).toContain(entry(group, text));
  });

  test.skipIf(spawnSync('sh', ['-c', 'command -v zsh']).status !== 0)('the zsh script parses (zsh -n)', () => {
    const zsh = spawnSync('zsh', ['-n'], { input: zshScript(), encoding: 'utf8' });
    expect(zsh.status, zsh.stderr).toBe(0);
  });
});
