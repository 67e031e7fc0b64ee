// Decapod's server on PostgreSQL with nothing running by itself: for counting the round trips a
// call makes (scripts/bench/postgres.mjs). It is the built server of a package (dist/server/serve.js,
// the bundle `decapod serve` loads), started with startServer as `decapod serve` starts it, except
// that the once-a-second sweep (expiry, orphaned leases: one write transaction each time) and the
// automatic audit checkpoints are off, so every round trip the proxy sees belongs to the call
// being counted.
// Usage: node pg-decapod-quiet.mjs --pkg DIR --root DIR --url postgres://… --project ID
// Prints {"url", "token", "pid"} once serving; stops on SIGTERM.
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { pkg: { type: 'string' }, root: { type: 'string' }, url: { type: 'string' }, project: { type: 'string' } } });
if (!values.pkg || !values.root || !values.url || !values.project) throw new Error('usage: pg-decapod-quiet.mjs --pkg DIR --root DIR --url URL --project ID');
const { startServer } = await import(pathToFileURL(join(values.pkg, 'dist', 'server', 'serve.js')).href);
const server = await startServer({
  root: values.root,
  idleTimeoutMs: 600_000,
  database: { url: values.url, projectId: values.project },
  sweepEveryMs: 2 ** 31 - 1, // the longest a timer may wait: never, for this run
  checkpointEvery: 0,
});
process.stdout.write(`${JSON.stringify({ url: server.info.url, token: server.info.token, pid: process.pid })}\n`);
for (const s of ['SIGTERM', 'SIGINT']) process.on(s, () => void server.stop(s));
await server.stopped;
process.exit(0);
