// Baseline (e): one process per operation, the architecture of tools that run a fresh CLI process
// for every call: start Node, open the store (WAL, the given synchronous mode), run one UPSERT
// transaction, exit. Usage: node baseline-e-process-per-op.mjs --db FILE --sync full|normal
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';

const { values } = parseArgs({ options: { db: { type: 'string' }, sync: { type: 'string', default: 'full' } } });
const db = new Database(values.db);
db.pragma('journal_mode = WAL');
db.pragma(`synchronous = ${values.sync === 'normal' ? 'NORMAL' : 'FULL'}`);
db.pragma('busy_timeout = 5000');
db.exec('CREATE TABLE IF NOT EXISTS kv (k TEXT PRIMARY KEY, v INTEGER NOT NULL, at INTEGER NOT NULL) STRICT');
db.transaction(() =>
  db.prepare('INSERT INTO kv (k, v, at) VALUES (?, 1, ?) ON CONFLICT (k) DO UPDATE SET v = v + 1, at = excluded.at').run('e', Date.now()),
).immediate();
db.close();
