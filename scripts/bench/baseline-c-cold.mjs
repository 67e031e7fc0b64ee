// Baseline (c): the floor for a cold start. Bundled by the runner with esbuild (like Decapod's CLI),
// it opens SQLite (WAL, the schema of one table), takes a proper-lockfile lock, listens on
// 127.0.0.1:0, prints {"port": N}, answers one request and exits.
// Usage: node baseline-c.bundle.mjs --root DIR --sync full|normal
import { mkdirSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import lockfile from 'proper-lockfile';

const { values } = parseArgs({ options: { root: { type: 'string' }, sync: { type: 'string', default: 'full' } } });
const dir = join(values.root, '.baseline');
mkdirSync(dir, { recursive: true });
const db = new Database(join(dir, 'c.db'));
db.pragma('journal_mode = WAL');
db.pragma(`synchronous = ${values.sync === 'normal' ? 'NORMAL' : 'FULL'}`);
db.exec('CREATE TABLE IF NOT EXISTS kv (k TEXT PRIMARY KEY, v INTEGER NOT NULL) STRICT');
const release = await lockfile.lock(dir, { lockfilePath: join(dir, 'c.lock'), realpath: false, stale: 5000, retries: 0 });
const server = createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ jsonrpc: '2.0', id: 1, result: { ok: true } }), async () => {
      server.close();
      db.close();
      await release();
      process.exit(0);
    });
  });
});
server.listen(0, '127.0.0.1', () => process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`));
