import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { describe, expect, onTestFinished, test } from 'vitest';
import { METHODS } from '../../src/methods/table.js';
import { binPath, callDecapod, callOk, cliEnv, isAlive, readServerJson, tempRoot, useBuiltCli, waitFor } from '../helpers/process.js';

// docs/design.md §9: `decapod mcp`, the stdio MCP server an agent's host runs as a command, driven
// by the official MCP TypeScript SDK's client exactly as Claude Code or Codex would spawn it.

useBuiltCli();

type ToolResult = { isError?: boolean; structuredContent?: any; content: { type: string; text?: string }[] };

async function mcp(root: string, env: Record<string, string> = {}): Promise<Client> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [binPath(), 'mcp', '--root', root],
    env: cliEnv(env) as Record<string, string>,
    stderr: 'pipe',
  });
  const client = new Client({ name: 'decapod-stdio-test', version: '0.0.0' });
  await client.connect(transport);
  onTestFinished(() => client.close());
  return client;
}

const call = async (c: Client, name: string, args: Record<string, unknown>) => (await c.callTool({ name, arguments: args })) as ToolResult;

describe('decapod mcp (stdio)', () => {
  test('spawns the root server, lists every tool, calls them; CONFLICT is a tool error with the CLI’s error object', async () => {
    const root = tempRoot();
    const c = await mcp(root);
    expect(c.getServerVersion()?.name).toBe('decapod');
    const { tools } = await c.listTools();
    expect(tools.map((t) => t.name)).toEqual([...METHODS.keys()].map((m) => m.replace(/\./g, '_')));
    expect(tools.find((t) => t.name === 'claim_acquire')!.inputSchema).toEqual(JSON.parse(JSON.stringify(METHODS.get('claim.acquire')!.params)));

    const alice = (await call(c, 'lease_grant', { agent: 'alice', ttl_ms: 600_000 })).structuredContent;
    expect(alice).toMatchObject({ agent: 'alice', lease: expect.any(String), receipt: { op: 'lease.grant' } });
    const task = await call(c, 'task_create', { lease: alice.lease, title: 'Fix the parser', paths: ['src/parser'] });
    expect(task.structuredContent.task).toMatchObject({ id: 'T1', status: 'open' });
    const claimed = await call(c, 'task_claim', { lease: alice.lease, task: 'T1' });
    expect(claimed.structuredContent.claim).toMatchObject({ agent: 'alice', paths: ['src/parser'] });
    // The server the relay spawned is the root's one: the CLI sees the same state.
    expect((await callOk(root, 'task.get', { task: 'T1' })).task.holder).toMatchObject({ agent: 'alice' });

    const bob = (await callOk(root, 'lease.grant', { agent: 'bob', ttl_ms: 600_000 })).lease;
    const r = await call(c, 'claim_acquire', { lease: bob, paths: ['src/parser/lexer.ts'] });
    expect(r.isError).toBe(true);
    expect(JSON.parse(r.content[0]!.text!)).toEqual(r.structuredContent);
    const viaCli = await callDecapod(root, 'claim.acquire', { lease: bob, paths: ['src/parser/lexer.ts'] });
    expect(viaCli.code).toBe(1);
    const cliError = JSON.parse(viaCli.stderr);
    // Equal but for the time left, which the real clock moved on between the two calls.
    const timeless = (e: any) => ({ ...e, data: { ...e.data, conflicts: e.data.conflicts.map(({ ttl_remaining_ms: _t, ...rest }: any) => rest) } });
    expect(timeless(r.structuredContent)).toEqual(timeless(cliError));
    expect(r.structuredContent).toMatchObject({ code: 1003, data: { code: 'CONFLICT', conflicts: [{ agent: 'alice', claim_id: claimed.structuredContent.claim.id }] } });

    const bad = await call(c, 'claim_acquire', { lease: bob, paths: 'src' });
    expect(bad.isError).toBe(true);
    expect(bad.structuredContent).toMatchObject({ code: -32602, data: { code: 'INVALID_PARAMS', field: 'paths' } });
  });

  test('DECAPOD_LEASE fills `lease` when a tool call names none, and tools/list no longer requires it', async () => {
    const root = tempRoot();
    const grant = await callOk(root, 'lease.grant', { agent: 'carol', ttl_ms: 600_000 });
    const c = await mcp(root, { DECAPOD_LEASE: grant.lease });
    const { tools } = await c.listTools();
    const acquire = tools.find((t) => t.name === 'claim_acquire')!;
    expect(acquire.inputSchema.required).toEqual(['paths']);
    expect((acquire.inputSchema.properties!.lease as { description: string }).description).toContain('DECAPOD_LEASE');
    expect(tools.find((t) => t.name === 'lease_grant')!.inputSchema).toEqual(JSON.parse(JSON.stringify(METHODS.get('lease.grant')!.params)));

    const r = await call(c, 'claim_acquire', { paths: ['docs'] });
    expect(r.isError).toBeUndefined();
    expect(r.structuredContent.claim).toMatchObject({ agent: 'carol', lease_id: grant.lease_id, paths: ['docs'] });
    // A lease given in the call wins over the environment's.
    const dave = (await callOk(root, 'lease.grant', { agent: 'dave' })).lease;
    const own = await call(c, 'claim_acquire', { lease: dave, paths: ['src'] });
    expect(own.structuredContent.claim.agent).toBe('dave');
  });

  test('when the idle server has exited, the next call spawns a new one and carries on', async () => {
    const root = tempRoot();
    const c = await mcp(root, { DECAPOD_IDLE_TIMEOUT: '1s' });
    const first = (await call(c, 'server_status', {})).structuredContent;
    const lease = (await call(c, 'lease_grant', { agent: 'erin', ttl_ms: 3_600_000 })).structuredContent.lease;
    await waitFor(() => !isAlive(first.pid), { timeoutMs: 20_000, what: `the idle server pid ${first.pid} to exit` });

    const again = (await call(c, 'server_status', {})).structuredContent;
    expect(again.instance_id).not.toBe(first.instance_id);
    expect(readServerJson(root)?.instance_id).toBe(again.instance_id);
    // State lives in the store, not the server: the lease granted before is still good.
    const claim = await call(c, 'claim_acquire', { lease, paths: ['src'] });
    expect(claim.structuredContent.claim).toMatchObject({ agent: 'erin' });
  });

  test('a server that cannot be reached is a JSON-RPC error naming why, not a hang', async () => {
    const root = tempRoot();
    // initialize is relayed too: with DECAPOD_NO_SPAWN=1 and no server, it is refused at once.
    await expect(mcp(root, { DECAPOD_NO_SPAWN: '1' })).rejects.toThrow(/no decapod server is running/);
  });
});
