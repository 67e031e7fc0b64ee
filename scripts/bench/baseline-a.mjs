// Baseline (a): fastify + json-rpc-2.0 on 127.0.0.1, every method returning a constant.
// The floor for a warm read: the same HTTP server and JSON-RPC library Decapod uses, no work.
// Prints {"port": N} once listening; exits on SIGTERM.
import Fastify from 'fastify';
import { JSONRPCServer } from 'json-rpc-2.0';

const rpc = new JSONRPCServer();
// The same shape and size as Decapod's server.status result, so both answers cost the same to send.
const constant = {
  version: '0.1.0',
  protocol: 1,
  pid: process.pid,
  root: '/tmp/decapod-bench-root-XXXXXX',
  instance_id: '00000000-0000-4000-8000-000000000000',
  started_at: new Date().toISOString(),
  uptime_ms: 1000,
  idle_timeout_ms: 600000,
  schema_version: 3,
  storage: { engine: 'sqlite', journal_mode: 'wal', synchronous: 'full' },
  counts: { events: 0, leases_active: 0, leases_revoked: 0, leases_expired: 0, claims_active: 0, tasks_open: 0, tasks_done: 0, tasks_cancelled: 0 },
};
// The same shape and size as Decapod's task.get of the held task the warm task.get reads
// (scenarios.mjs, BENCH_TASK and createHeldTask).
const task = {
  task: {
    id: 'T1',
    title: 'Fix the parser: a trailing comma in an argument list',
    description: 'The parser rejects `f(a, b,)`. Accept a trailing comma wherever a list may end, and say so in the grammar.',
    status: 'open',
    priority: 1,
    labels: ['bug', 'parser'],
    depends_on: [],
    paths: ['src/parser', 'test/parser'],
    gates: [],
    acceptance: ['`f(a, b,)` parses as `f(a, b)`', 'the grammar in docs/ says where a trailing comma may appear'],
    parent: null,
    created_at: new Date().toISOString(),
    updated_at: new Date().toISOString(),
    completed_at: null,
    verified: null,
    holder: { agent: 'task-holder-0', lease_id: 'lease_XXXXXXXXXXXX', claim_id: 'C1', fence: 1 },
  },
};
rpc.addMethod('server.status', () => constant);
rpc.addMethod('task.get', () => task);
rpc.addMethod('ping', () => constant);

const app = Fastify({ logger: false });
app.post('/rpc', async (req, reply) => {
  const answer = await rpc.receive(req.body);
  return answer === null ? reply.code(204).send() : reply.send(answer);
});
await app.listen({ host: '127.0.0.1', port: 0 });
process.stdout.write(`${JSON.stringify({ port: app.server.address().port })}\n`);
for (const s of ['SIGTERM', 'SIGINT']) process.on(s, () => app.close().then(() => process.exit(0)));
