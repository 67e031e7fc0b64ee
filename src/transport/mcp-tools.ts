import { ERRORS, type RpcErrorObject } from '../errors.js';
import type { MethodDef } from '../methods/define.js';
import { plain } from '../methods/openrpc.js';

// docs/design.md §9: every method is an MCP tool, named with `.` replaced by `_`, with the same
// input schema. This file is the mapping only (no MCP SDK here): the /mcp route and the parity
// test both read it.

/** An MCP tool definition (the fields of MCP's `Tool` that Decapod fills). */
export interface McpTool {
  name: string;
  title: string;
  description: string;
  inputSchema: { type: 'object'; properties?: Record<string, unknown>; required?: string[]; [k: string]: unknown };
  annotations: { readOnlyHint: boolean; openWorldHint: false };
}

/** What a tools/call answers (MCP's `CallToolResult`). */
export interface McpToolResult {
  content: { type: 'text'; text: string }[];
  structuredContent: Record<string, unknown>;
  isError?: true;
  [k: string]: unknown;
}

export const toolName = (method: string): string => method.replace(/\./g, '_');

/** Queries that still change something (they take no transaction, but are not read-only). */
const NOT_READ_ONLY = new Set(['server.shutdown']);

/** What an agent needs beyond the summary: the lease, receipts and retries, the errors, an example. */
function describe(m: MethodDef): string {
  const lines = [m.summary];
  const props = m.params.properties as Record<string, unknown>;
  if ('lease' in props) {
    const required = (m.params.required ?? []).includes('lease');
    lines.push(`${required ? 'Needs' : 'Takes an optional'} \`lease\`: the secret string lease_grant returns (not the lease_id).`);
  }
  if (m.audited) {
    lines.push('Writes audit events and returns a `receipt`; an `idempotency_key` (a UUID) makes a retry return the first result instead of acting twice.');
  }
  if (m.errors.length > 0) {
    lines.push(`Errors (an isError result whose structuredContent is the JSON-RPC error {code, message, data}; data.code names it): ${m.errors.map((e) => `${e} ${ERRORS[e].code}`).join(', ')}.`);
  }
  const example = m.examples.find((ex) => Object.keys(ex.params).length > 0);
  if (example) lines.push(`Example (${example.name}): ${JSON.stringify(example.params)}`);
  return lines.join('\n');
}

/** The MCP tool for one method: its params schema as the input schema, unchanged. */
export function toolOf(m: MethodDef): McpTool {
  const readOnly = m.kind === 'query' && !NOT_READ_ONLY.has(m.name);
  return {
    name: toolName(m.name),
    title: m.name,
    description: describe(m),
    inputSchema: plain(m.params) as McpTool['inputSchema'],
    // Hints only (MCP: clients must not rely on them). Nothing Decapod does reaches outside the
    // project; destructive and idempotent keep MCP's defaults rather than guess per method.
    annotations: { readOnlyHint: readOnly, openWorldHint: false },
  };
}

/** Every method's tool, in table order, and the reverse lookup a tools/call needs. */
export function buildTools(methods: Iterable<MethodDef>): { tools: McpTool[]; methodOf: ReadonlyMap<string, string> } {
  const tools: McpTool[] = [];
  const methodOf = new Map<string, string>();
  for (const m of methods) {
    const tool = toolOf(m);
    // `a.b_c` and `a_b.c` would both be `a_b_c`: refuse rather than shadow one with the other.
    if (methodOf.has(tool.name)) throw new Error(`methods ${methodOf.get(tool.name)} and ${m.name} map to the same MCP tool ${tool.name}`);
    methodOf.set(tool.name, m.name);
    tools.push(tool);
  }
  return { tools, methodOf };
}

/** A method's result as a tool result: structuredContent, and the same JSON as text. */
export function resultOf(result: unknown): McpToolResult {
  const structured = (result ?? {}) as Record<string, unknown>;
  return { content: [{ type: 'text', text: JSON.stringify(structured) }], structuredContent: structured };
}

/** An RPC error as a tool result: the same error object in structuredContent and as text. */
export function errorOf(error: RpcErrorObject): McpToolResult {
  const structured = { ...error } as unknown as Record<string, unknown>;
  return { content: [{ type: 'text', text: JSON.stringify(structured) }], structuredContent: structured, isError: true };
}

/** Told to agents once, at initialize: how the tools fit together. */
export const INSTRUCTIONS = [
  'Decapod coordinates several coding agents on one repository: leases (presence), claims over paths and tasks (with fences), tasks, proofs (gates Decapod runs) and an audit log.',
  'Start with lease_grant {agent: "<your name>"} and pass the `lease` secret it returns to the other tools; any call with it renews it (lease_renew keeps it alive while idle).',
  'Before editing files, claim_acquire {lease, paths}; CONFLICT (1003) names who holds them (data.conflicts): wait (wait_ms) or pick other work. Or task_claim {lease} takes the best ready task with its paths.',
  'Finish a task with proof_run {lease, task, gate, fence} for each gate of its plan, then task_complete {lease, task, fence}; PROOF_REQUIRED (1006) lists what is missing in data.blocked_by.',
  'Errors come as isError results carrying the JSON-RPC error object {code, message, data}; -32602 names the bad field in data.field and nothing was changed.',
].join('\n');
