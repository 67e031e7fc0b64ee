// docs/design.md §7: which store a server uses and which claim space. SQLite unless a database URL
// is configured (environment or the user's private config, never the committed config); the
// project id from the committed config, DECAPOD_PROJECT or the repository's root commit; TLS
// required for a database on another host unless explicitly waived.
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { ConfigError, parseGateConfig } from '../../src/domain/gates.js';
import { chooseStore, projectIdFor } from '../../src/workspace/store-config.js';
import { tempRoot } from '../helpers/test-server.js';

const git = (cwd: string, ...args: string[]) => execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', ...args], { cwd, encoding: 'utf8' }).trim();

test('SQLite unless a database URL is set; the URL from the environment, else the user config', () => {
  const root = tempRoot();
  const home = tempRoot('decapod-home-');
  const env = { XDG_CONFIG_HOME: home, DECAPOD_PROJECT: 'team-a' };
  expect(chooseStore(root, env)).toEqual({ engine: 'sqlite' });
  mkdirSync(join(home, 'decapod'));
  writeFileSync(join(home, 'decapod', 'config.json'), JSON.stringify({ database_url: 'postgres://me@localhost:5433/decapod' }));
  expect(chooseStore(root, env)).toEqual({ engine: 'postgresql', url: 'postgres://me@localhost:5433/decapod', projectId: 'team-a', host: 'localhost' });
  expect(chooseStore(root, { ...env, DECAPOD_DATABASE_URL: 'postgres://127.0.0.1/x' })).toMatchObject({ url: 'postgres://127.0.0.1/x' });
  expect(() => chooseStore(root, { ...env, DECAPOD_DATABASE_URL: 'mysql://h/x' })).toThrow(/must be a postgres:\/\/ URL/);
  expect(() => chooseStore(root, { ...env, DECAPOD_DATABASE_URL: 'not a url' })).toThrow(/is not a URL/);
});

test('a database on another host needs TLS unless DECAPOD_DATABASE_TLS=off', () => {
  const root = tempRoot();
  const env = { DECAPOD_PROJECT: 'p', XDG_CONFIG_HOME: tempRoot() };
  expect(() => chooseStore(root, { ...env, DECAPOD_DATABASE_URL: 'postgres://db.example.com/x' })).toThrow(/sslmode=require/);
  expect(chooseStore(root, { ...env, DECAPOD_DATABASE_URL: 'postgres://db.example.com/x?sslmode=verify-full' })).toMatchObject({ host: 'db.example.com' });
  expect(chooseStore(root, { ...env, DECAPOD_DATABASE_URL: 'postgres://db.example.com/x', DECAPOD_DATABASE_TLS: 'off' })).toMatchObject({ engine: 'postgresql' });
});

test('the project id: the committed "project", else DECAPOD_PROJECT, else the root commit shared by every clone', () => {
  const root = tempRoot();
  expect(() => projectIdFor(root, {})).toThrow(/needs a project id/);
  git(root, 'init', '-q');
  git(root, 'commit', '-q', '--allow-empty', '-m', 'first');
  const first = git(root, 'rev-parse', 'HEAD');
  git(root, 'commit', '-q', '--allow-empty', '-m', 'second');
  expect(projectIdFor(root, {})).toBe(`git:${first}`);
  const clone = join(tempRoot(), 'clone');
  execFileSync('git', ['clone', '-q', root, clone]);
  expect(projectIdFor(clone, {})).toBe(`git:${first}`);
  expect(projectIdFor(root, { DECAPOD_PROJECT: 'from-env' })).toBe('from-env');
  mkdirSync(join(root, '.decapod'));
  writeFileSync(join(root, '.decapod', 'config.json'), JSON.stringify({ project: 'committed', gates: {} }));
  expect(projectIdFor(root, { DECAPOD_PROJECT: 'from-env' })).toBe('committed');
  expect(() => projectIdFor(tempRoot(), { DECAPOD_PROJECT: 'has space' })).toThrow(/DECAPOD_PROJECT/);
});

test('the committed config may name the project, never a database URL', () => {
  expect(parseGateConfig(JSON.stringify({ project: 'p1', gates: {} })).size).toBe(0);
  expect(() => parseGateConfig(JSON.stringify({ database_url: 'postgres://u:secret@h/db' }))).toThrow(ConfigError);
  expect(() => parseGateConfig(JSON.stringify({ database_url: 'postgres://u:secret@h/db' }))).toThrow(/DECAPOD_DATABASE_URL/);
  expect(() => parseGateConfig(JSON.stringify({ project: '' }))).toThrow(/project/);
  expect(() => parseGateConfig(JSON.stringify({ colour: 'red' }))).toThrow(/"gates" or "project"/);
});
