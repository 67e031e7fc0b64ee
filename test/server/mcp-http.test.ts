import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { onTestFinished, describe, expect, test } from 'vitest';
import { METHODS } from '../../src/methods/table.js';
import { rawRequest } from '../helpers/raw-http.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';

// docs/design.md §9: POST /mcp on the running server, through the official MCP TypeScript SDK's
// client, dispatching through the same method table (and the same dispatcher) as /rpc.

async function mcpClient(s: TestServer, headers: Record<string, string> = { authorization: `Bearer ${s.token}` }): Promise<Client> {
  const client = new Client({ name: 'decapod-test', version: '0.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${s.url}/mcp`), { requestInit: { headers } }));
  onTestFinished(() => client.close());
  return client;
}

type ToolResult = { isError?: boolean; structuredContent?: any; content: { type: string; text?: string }[] };
const call = async (c: Client, name: string, args: Record<string, unknown>) => (await c.callTool({ name, arguments: args })) as ToolResult;

/** The text content is the same JSON as the structured content. */
function textIsStructured(r: ToolResult): void {
  expect(r.content).toHaveLength(1);
  expect(r.content[0]!.type).toBe('text');
  expect(JSON.parse(r.content[0]!.text!)).toEqual(r.structuredContent);
}

const mcpHeaders = (s: TestServer, extra: Record<string, string> = {}) => ({
  authorization: `Bearer ${s.token}`,
  'content-type': 'application/json',
  accept: 'application/json, text/event-stream',
  host: `127.0.0.1:${new URL(s.url).port}`,
  ...extra,
});
const listBody = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} });

describe('MCP over Streamable HTTP (POST /mcp)', () => {
  test('initialize names the server; tools/list has one tool per method, its params schema as inputSchema', async () => {
    const s = await startTestServer();
    const c = await mcpClient(s);
    expect(c.getServerVersion()?.name).toBe('decapod');
    expect(c.getInstructions()).toContain('lease_grant');
    const { tools } = await c.listTools();
    expect(tools.map((t) => t.name)).toEqual([...METHODS.keys()].map((m) => m.replace(/\./g, '_')));
    const acquire = tools.find((t) => t.name === 'claim_acquire')!;
    expect(acquire.inputSchema).toEqual(JSON.parse(JSON.stringify(METHODS.get('claim.acquire')!.params)));
    expect(acquire.description).toContain('CONFLICT 1003');
    expect(acquire.annotations).toEqual({ readOnlyHint: false, openWorldHint: false });
    expect(tools.find((t) => t.name === 'claim_list')!.annotations?.readOnlyHint).toBe(true);
    expect(tools.find((t) => t.name === 'server_shutdown')!.annotations?.readOnlyHint).toBe(false);
  });

  test('a tool call is the method call: result as structuredContent and text, receipts in the same audit log', async () => {
    const s = await startTestServer();
    const c = await mcpClient(s);
    const grant = await call(c, 'lease_grant', { agent: 'alice', ttl_ms: 60_000 });
    expect(grant.isError).toBeUndefined();
    textIsStructured(grant);
    expect(grant.structuredContent).toMatchObject({ agent: 'alice', ttl_ms: 60_000, lease: expect.any(String), receipt: { op: 'lease.grant' } });
    const lease = grant.structuredContent.lease as string;

    const created = await call(c, 'task_create', { lease, title: 'Fix the parser', paths: ['src/parser'] });
    expect(created.structuredContent.task).toMatchObject({ id: 'T1', title: 'Fix the parser', paths: ['src/parser'], status: 'open' });
    const claimed = await call(c, 'claim_acquire', { lease, paths: ['src/parser/lexer.ts'] });
    expect(claimed.structuredContent.claim).toMatchObject({ agent: 'alice', paths: ['src/parser/lexer.ts'], mode: 'exclusive', state: 'active' });

    // The same state as /rpc sees it; each receipt is the audit event it names.
    expect((await s.call('task.get', { task: 'T1' })).task).toEqual(created.structuredContent.task);
    const { events } = await s.call('audit.list', {});
    for (const r of [grant, created, claimed]) {
      const { seq, hash } = r.structuredContent.receipt;
      expect(events.find((e: { seq: number }) => e.seq === seq)?.hash).toBe(hash);
    }
    const listed = await call(c, 'claim_list', {});
    expect(listed.structuredContent).toEqual(await s.call('claim.list', {}));
  });

  test('CONFLICT is a tool error carrying the same error object as /rpc; nothing is written', async () => {
    const s = await startTestServer();
    const c = await mcpClient(s);
    const alice = (await s.call('lease.grant', { agent: 'alice' })).lease;
    const bob = (await s.call('lease.grant', { agent: 'bob' })).lease;
    await s.call('claim.acquire', { lease: alice, paths: ['src'] });
    const viaRpc = (await s.rpc('claim.acquire', { lease: bob, paths: ['src/a.ts'] })).error;
    expect(viaRpc.data.code).toBe('CONFLICT');
    const before = (await s.call('audit.verify', {})).count;

    const r = await call(c, 'claim_acquire', { lease: bob, paths: ['src/a.ts'] });
    expect(r.isError).toBe(true);
    expect(r.structuredContent).toEqual(viaRpc);
    expect(r.structuredContent).toMatchObject({ code: 1003, data: { code: 'CONFLICT', conflicts: [{ agent: 'alice', resource: 'src/a.ts' }] } });
    textIsStructured(r);
    expect((await s.call('audit.verify', {})).count).toBe(before);
  });

  test('bad params are a tool error, -32602 naming the field, before any handler runs', async () => {
    const s = await startTestServer();
    const c = await mcpClient(s);
    const lease = (await s.call('lease.grant', { agent: 'alice' })).lease;
    const before = (await s.call('audit.verify', {})).count;
    const r = await call(c, 'claim_acquire', { lease, paths: 'src' });
    expect(r.isError).toBe(true);
    expect(r.structuredContent).toEqual({ code: -32602, message: expect.stringContaining('paths'), data: { code: 'INVALID_PARAMS', field: 'paths' } });
    const missing = await call(c, 'task_create', { lease });
    expect(missing.structuredContent).toMatchObject({ code: -32602, data: { field: 'title' } });
    const extra = await call(c, 'lease_grant', { agent: 'x', color: 'red' });
    expect(extra.structuredContent).toMatchObject({ code: -32602, data: { field: 'color' } });
    expect((await s.call('audit.verify', {})).count).toBe(before);
    expect((await s.call('claim.list', {})).claims).toEqual([]);
  });

  test('an idempotency key makes a repeated tool call return the first result and write nothing', async () => {
    const s = await startTestServer();
    const c = await mcpClient(s);
    const lease = (await s.call('lease.grant', { agent: 'alice' })).lease;
    const args = { lease, title: 'Once', idempotency_key: '5f1c2e0a-8d3b-4c1e-9f6a-2b7d8e9c0a1b' };
    const first = await call(c, 'task_create', args);
    const count = (await s.call('audit.verify', {})).count;
    const again = await call(c, 'task_create', args);
    expect(again.structuredContent).toEqual(first.structuredContent);
    expect((await s.call('audit.verify', {})).count).toBe(count);
    expect((await s.call('task.list', {})).tasks).toHaveLength(1);
  });

  test('an unknown tool is a tool error naming it', async () => {
    const s = await startTestServer();
    const c = await mcpClient(s);
    const r = await call(c, 'claim_grab', {});
    expect(r.isError).toBe(true);
    expect(r.structuredContent).toMatchObject({ code: -32601, data: { code: 'METHOD_NOT_FOUND', tool: 'claim_grab' } });
  });

  test('the guards of /rpc hold for /mcp: 401 without the token, 403 for a foreign Host or Origin, 415 for other media', async () => {
    const s = await startTestServer();
    const port = new URL(s.url).port;
    const noToken = await rawRequest(s.url, { path: '/mcp', headers: { ...mcpHeaders(s), authorization: '' }, body: listBody });
    expect(noToken.status).toBe(401);
    const wrongToken = await rawRequest(s.url, { path: '/mcp', headers: mcpHeaders(s, { authorization: 'Bearer nope' }), body: listBody });
    expect(wrongToken.status).toBe(401);
    const host = await rawRequest(s.url, { path: '/mcp', headers: mcpHeaders(s, { host: `evil.example:${port}` }), body: listBody });
    expect(host.status).toBe(403);
    expect(host.json.error.data.code).toBe('FORBIDDEN');
    const origin = await rawRequest(s.url, { path: '/mcp', headers: mcpHeaders(s, { origin: 'https://evil.example' }), body: listBody });
    expect(origin.status).toBe(403);
    const media = await rawRequest(s.url, { path: '/mcp', headers: mcpHeaders(s, { 'content-type': 'text/plain' }), body: listBody });
    expect(media.status).toBe(415);
    // The same request with the guards satisfied is answered.
    const ok = await rawRequest(s.url, { path: '/mcp', headers: mcpHeaders(s), body: listBody });
    expect(ok.status).toBe(200);
    expect(ok.headers['content-type']).toMatch(/^application\/json/);
    expect(ok.json.result.tools).toHaveLength(METHODS.size);
    // A loopback page may call, as for /rpc.
    const loopback = await rawRequest(s.url, { path: '/mcp', headers: mcpHeaders(s, { origin: 'http://localhost:5173' }), body: listBody });
    expect(loopback.status).toBe(200);

    // And through the SDK: a client without the token cannot even initialize.
    await expect(mcpClient(s, {})).rejects.toThrow(/401|missing or wrong token/);
  });

  test('stateless: no session id, GET and DELETE answer 405, a non-JSON body is a parse error', async () => {
    const s = await startTestServer();
    const init = await rawRequest(s.url, {
      path: '/mcp',
      headers: mcpHeaders(s),
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '0' } } }),
    });
    expect(init.status).toBe(200);
    expect(init.headers['mcp-session-id']).toBeUndefined();
    expect(init.json.result.serverInfo.name).toBe('decapod');
    for (const method of ['GET', 'DELETE']) {
      const r = await rawRequest(s.url, { method, path: '/mcp', headers: { authorization: `Bearer ${s.token}`, accept: 'text/event-stream', host: `127.0.0.1:${new URL(s.url).port}` } });
      expect(r.status, method).toBe(405);
      expect(r.headers.allow).toBe('POST');
    }
    const bad = await rawRequest(s.url, { path: '/mcp', headers: mcpHeaders(s), body: '{"jsonrpc": "2.0", ' });
    expect(bad.status).toBe(400);
    expect(bad.json.error).toMatchObject({ code: -32700, data: { code: 'PARSE_ERROR' } });
    // A notification alone is accepted with no body.
    const note = await rawRequest(s.url, { path: '/mcp', headers: mcpHeaders(s), body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }) });
    expect(note.status).toBe(202);
    expect(note.text).toBe('');
  });
});
