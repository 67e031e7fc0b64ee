import Database from 'better-sqlite3';
import { cpSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { loadMigrations, migrate } from '../../src/store/sqlite/migrate.js';
import { openSqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { migrationsDir, tempStore } from '../helpers/temp-store.js';
import { tempRoot } from '../helpers/test-server.js';

test('a new database gets every migration, recorded in order, with WAL, FULL sync and foreign keys', () => {
  const { store, file } = tempStore();
  const known = loadMigrations(migrationsDir()).length;
  expect(store.schemaVersion()).toBe(known);
  store.close();
  const db = new Database(file, { readonly: true });
  const rows = db.prepare('SELECT version, name FROM schema_migrations ORDER BY version').all() as { version: number; name: string }[];
  expect(rows.map((r) => r.version)).toEqual(Array.from({ length: known }, (_, i) => i + 1));
  expect(rows[0]!.name).toBe('001_initial.sql');
  expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
  db.close();
});

test('re-opening a database applies no migration twice', () => {
  const dir = tempRoot();
  const file = join(dir, 'd.db');
  const store = openSqliteStore(file, { migrationsDir: migrationsDir(), durability: 'full' });
  store.close();
  // Re-open through the store twice: applying migrations again is a no-op, not an error.
  const again = openSqliteStore(file, { migrationsDir: migrationsDir() });
  expect(again.schemaVersion()).toBe(loadMigrations(migrationsDir()).length);
  again.close();
});

test('a database newer than the code is refused with a clear message and left untouched', () => {
  const dir = tempRoot();
  const file = join(dir, 'd.db');
  openSqliteStore(file, { migrationsDir: migrationsDir() }).close();
  // A future decapod added migration N+1.
  const future = join(dir, 'future-migrations');
  mkdirSync(future);
  cpSync(migrationsDir(), future, { recursive: true });
  const next = loadMigrations(migrationsDir()).length + 1;
  writeFileSync(join(future, `${String(next).padStart(3, '0')}_future.sql`), 'CREATE TABLE future_thing (x INTEGER) STRICT;');
  openSqliteStore(file, { migrationsDir: future }).close();

  expect(() => openSqliteStore(file, { migrationsDir: migrationsDir() })).toThrow(
    new RegExp(`database schema version ${next} is newer than this decapod understands \\(${next - 1}\\)`),
  );
  const db = new Database(file, { readonly: true });
  expect(db.prepare('SELECT max(version) AS v FROM schema_migrations').get()).toEqual({ v: next });
  db.close();
});

test('a failing migration is rolled back whole and nothing is recorded', () => {
  const dir = tempRoot();
  const bad = join(dir, 'bad-migrations');
  mkdirSync(bad);
  cpSync(migrationsDir(), bad, { recursive: true });
  const next = loadMigrations(migrationsDir()).length + 1;
  writeFileSync(join(bad, `${String(next).padStart(3, '0')}_broken.sql`), 'CREATE TABLE half_done (x INTEGER); SELECT * FROM no_such_table;');
  const file = join(dir, 'd.db');
  expect(() => openSqliteStore(file, { migrationsDir: bad })).toThrow(/no such table/);
  const db = new Database(file, { readonly: true });
  expect(db.prepare('SELECT max(version) AS v FROM schema_migrations').get()).toEqual({ v: next - 1 });
  expect(db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name = 'half_done'").get()).toEqual({ n: 0 });
  db.close();
});

test('migration files must be numbered without gaps', () => {
  const dir = tempRoot();
  writeFileSync(join(dir, '001_a.sql'), 'SELECT 1;');
  writeFileSync(join(dir, '003_c.sql'), 'SELECT 1;');
  expect(() => loadMigrations(dir)).toThrow('migrations: expected version 2, found 003_c.sql');
});

test('durability: WAL with synchronous=FULL by default, NORMAL when asked, as the connection reports it', () => {
  const dir = tempRoot();
  const full = openSqliteStore(join(dir, 'full.db'), { migrationsDir: migrationsDir() });
  expect(full.storage()).toEqual({ engine: 'sqlite', journal_mode: 'wal', synchronous: 'full' });
  full.close();
  const normal = openSqliteStore(join(dir, 'normal.db'), { migrationsDir: migrationsDir(), durability: 'normal' });
  expect(normal.storage()).toEqual({ engine: 'sqlite', journal_mode: 'wal', synchronous: 'normal' });
  normal.close();
});

test('005: tasks made before acceptance criteria existed get none', async () => {
  const dir = tempRoot();
  const file = join(dir, 'd.db');
  const db = new Database(file);
  expect(migrate(db, loadMigrations(migrationsDir()).filter((m) => m.version <= 4))).toBe(4);
  db.prepare(`INSERT INTO tasks (id, seq, title, description, status, priority, labels, depends_on, paths, gates, parent,
    created_by, created_at, updated_at, completed_at, verified) VALUES ('T1', 1, 'old', '', 'open', 2, '[]', '[]', '[]', '[]',
    NULL, NULL, 0, 0, NULL, NULL)`).run();
  db.close();
  const store = openSqliteStore(file, { migrationsDir: migrationsDir() });
  expect(await store.snapshot((r) => r.tasks.byId('T1'))).toMatchObject({ title: 'old', acceptance: [] });
  await store.close();
});
