// Baseline (b): baseline (a) plus one better-sqlite3 UPSERT transaction per call, in WAL mode with
// the `synchronous` mode given (`--sync full|normal`, the same as the Decapod run it is compared
// with). The floor for a durable mutation over HTTP.
// Usage: node baseline-b.mjs --db FILE --sync full|normal. Prints {"port": N}; exits on SIGTERM.
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import Fastify from 'fastify';
import { JSONRPCServer } from 'json-rpc-2.0';

const { values } = parseArgs({ options: { db: { type: 'string' }, sync: { type: 'string', default: 'full' } } });
if (!values.db || !['full', 'normal'].includes(values.sync)) throw new Error('usage: baseline-b.mjs --db FILE --sync full|normal');

const db = new Database(values.db);
db.pragma('journal_mode = WAL');
db.pragma(`synchronous = ${values.sync.toUpperCase()}`);
db.exec('CREATE TABLE IF NOT EXISTS kv (k TEXT PRIMARY KEY, v INTEGER NOT NULL, at INTEGER NOT NULL) STRICT');
const upsert = db.prepare('INSERT INTO kv (k, v, at) VALUES (?, 1, ?) ON CONFLICT (k) DO UPDATE SET v = v + 1, at = excluded.at');
const mutate = db.transaction((key) => upsert.run(key, Date.now()));

const rpc = new JSONRPCServer();
rpc.addMethod('mutate', ({ key }) => {
  const { changes } = mutate.immediate(String(key));
  return { ok: changes === 1 };
});

const app = Fastify({ logger: false });
app.post('/rpc', async (req, reply) => {
  const answer = await rpc.receive(req.body);
  return answer === null ? reply.code(204).send() : reply.send(answer);
});
await app.listen({ host: '127.0.0.1', port: 0 });
process.stdout.write(`${JSON.stringify({ port: app.server.address().port })}\n`);
process.on('SIGTERM', () => app.close().then(() => (db.close(), process.exit(0))));
