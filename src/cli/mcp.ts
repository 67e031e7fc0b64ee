import { Agent, request } from 'node:http';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { CATALOG } from '../generated/catalog.js';
import { ensureServer, LaunchError } from '../launcher/launcher.js';
import { decide, STOPPING_WAIT_MS, withIdempotencyKey, type Failure } from '../launcher/retry.js';
import { waitForExit } from '../util/process-alive.js';

// `decapod mcp` (docs/design.md §9): a stdio MCP server for agents configured with a command. It
// relays each MCP message to the project's server at POST /mcp, which answers it from the method
// table; nothing MCP-specific is decided here beyond the relay. The server is stateless, so when
// the idle server has exited and a new one is spawned, the relay simply carries on with it.
// Loaded only by the `mcp` command: the MCP SDK never touches the CLI's light path (scripts/build.mjs).

type ServerInfo = Awaited<ReturnType<typeof ensureServer>>;
interface Answer {
  status: number;
  body: unknown;
}
type Message = Record<string, unknown> & { jsonrpc: '2.0'; id?: string | number; method?: string; params?: Record<string, unknown> };

/** tool name → method name, from the catalog the CLI already carries */
const METHOD_OF = new Map(Object.keys(CATALOG).map((m) => [m.replace(/\./g, '_'), m]));

class Unreachable extends Error {
  constructor(
    message: string,
    readonly code: string,
    readonly undelivered: boolean,
  ) {
    super(message);
  }
}

export async function runMcp(root: string, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const relay = new Relay(root, env);
  const transport = new StdioServerTransport();
  const inflight = new Set<Promise<void>>();
  transport.onmessage = (message) => {
    const p = relay.handle(message as Message).then(
      async (answers) => {
        for (const a of answers) await transport.send(a as JSONRPCMessage);
      },
      (err: unknown) => void process.stderr.write(`decapod mcp: ${(err as Error)?.stack ?? String(err)}\n`),
    );
    inflight.add(p);
    void p.finally(() => inflight.delete(p));
  };
  transport.onerror = (err) => void process.stderr.write(`decapod mcp: ${err.message}\n`);
  process.stdout.on('error', () => process.exit(0)); // the host went away (EPIPE)
  await transport.start();
  // The host ends the session by closing our stdin: answer what is in flight, then exit.
  await new Promise<void>((resolve) => process.stdin.once('end', resolve).once('close', resolve));
  while (inflight.size > 0) await Promise.allSettled([...inflight]);
  relay.close();
  return 0;
}

class Relay {
  readonly #agent = new Agent({ keepAlive: true, timeout: 5_000 });
  #server: Promise<ServerInfo> | undefined;
  /** the protocol version initialize agreed on, sent on every later request (MCP Streamable HTTP) */
  #protocolVersion: string | undefined;

  constructor(
    readonly root: string,
    readonly env: NodeJS.ProcessEnv,
  ) {}

  close(): void {
    this.#agent.destroy();
  }

  /** The answers to send back for one message from the host (none for a notification). */
  async handle(message: Message): Promise<unknown[]> {
    if (typeof message.method !== 'string') return []; // a response: we never ask the host anything
    const isRequest = message.id !== undefined;
    const outgoing = this.#prepare(message);
    let answers: unknown[];
    try {
      answers = await this.#forward(outgoing);
    } catch (err) {
      if (!isRequest) return [];
      return [{ jsonrpc: '2.0', id: message.id, error: bridgeError(err, this.root) }];
    }
    return answers.map((a) => this.#rewrite(message, a));
  }

  /** A tools/call acts with DECAPOD_LEASE when it names no lease, and carries an idempotency key. */
  #prepare(message: Message): Message {
    const method = toolMethod(message);
    if (!method) return message;
    let args = { ...((message.params!.arguments as Record<string, unknown> | undefined) ?? {}) };
    if (this.env.DECAPOD_LEASE && args.lease === undefined && CATALOG[method]!.lease !== 'none') args.lease = this.env.DECAPOD_LEASE;
    args = withIdempotencyKey(method, args);
    return { ...message, params: { ...message.params, arguments: args } };
  }

  /** What the host sees: the server's answer, under the host's id, with tools/list told of DECAPOD_LEASE. */
  #rewrite(message: Message, answer: unknown): unknown {
    const a = answer as { id?: unknown; result?: Record<string, unknown> };
    if (message.method === 'initialize' && typeof a.result?.protocolVersion === 'string') this.#protocolVersion = a.result.protocolVersion;
    if (message.method === 'tools/list' && this.env.DECAPOD_LEASE && Array.isArray(a.result?.tools)) {
      for (const tool of a.result.tools as { description?: string; inputSchema?: { required?: string[]; properties?: Record<string, { description?: string }> } }[]) {
        const schema = tool.inputSchema;
        if (!schema?.required?.includes('lease')) continue;
        // The lease is filled in here when the caller leaves it out: it is no longer required.
        schema.required = schema.required.filter((r) => r !== 'lease');
        if (schema.required.length === 0) delete schema.required;
        const lease = schema.properties?.lease;
        if (lease) lease.description = `${lease.description ? `${lease.description}; ` : ''}default: the lease this MCP server was started with (DECAPOD_LEASE)`;
      }
    }
    return a.id === null && message.id !== undefined ? { ...a, id: message.id } : a;
  }

  /** Sends one message under the one retry policy (clients/ts/src/retry-policy.ts). */
  async #forward(message: Message): Promise<unknown[]> {
    const method = toolMethod(message) ?? `mcp:${message.method}`;
    const args = (toolMethod(message) ? message.params!.arguments : {}) as Record<string, unknown>;
    const attempts = { reconnected: false, busy: 0 };
    let server = this.#current();
    for (;;) {
      const info = await server;
      let failure: Failure;
      let last: unknown;
      try {
        const answer = await this.#post(info, message);
        if (answer.status === 401) {
          // server.json named a server since replaced: the message never ran.
          failure = { kind: 'unauthorized' };
          last = new Unreachable(`${info.url} refused the token (HTTP 401)`, 'EUNAUTHORIZED', true);
        } else {
          const parsed = answers(answer);
          const refused = parsed.ok ? toolRefusal(parsed.messages) : undefined;
          if (!refused) return parsed.messages;
          failure = refused;
          last = parsed.messages;
        }
      } catch (err) {
        if (!(err instanceof Unreachable)) throw err;
        failure = { kind: 'transport', undelivered: err.undelivered };
        last = err;
      }
      const next = decide(method, args, failure, attempts);
      if (next.action === 'fail') {
        if (Array.isArray(last)) return last;
        throw last;
      }
      if (next.action === 'pause') {
        attempts.busy++;
        await new Promise((r) => setTimeout(r, next.ms));
        continue;
      }
      attempts.reconnected = true;
      if (next.waitForExit) await waitForExit(info.pid, STOPPING_WAIT_MS);
      server = this.#replace(server);
    }
  }

  #current(): Promise<ServerInfo> {
    return (this.#server ??= ensureServer(this.root, { env: this.env }).catch((err: unknown) => {
      this.#server = undefined;
      throw err;
    }));
  }

  /** Many messages failing on one server share one trip to the launcher. */
  #replace(failed: Promise<ServerInfo>): Promise<ServerInfo> {
    if (this.#server === failed) this.#server = undefined;
    return this.#current();
  }

  #post(info: ServerInfo, message: unknown): Promise<Answer> {
    const payload = JSON.stringify(message);
    return new Promise((resolve, reject) => {
      const req = request(`${info.url}/mcp`, {
        method: 'POST',
        agent: this.#agent,
        headers: {
          authorization: `Bearer ${info.token}`,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(payload),
          accept: 'application/json, text/event-stream',
          ...(this.#protocolVersion ? { 'mcp-protocol-version': this.#protocolVersion } : {}),
        },
      });
      req.on('error', (err: NodeJS.ErrnoException) => reject(new Unreachable(err.message, err.code ?? 'EUNKNOWN', err.code === 'ECONNREFUSED')));
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (err: NodeJS.ErrnoException) => reject(new Unreachable(err.message, err.code ?? 'EUNKNOWN', false)));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body: unknown = text;
          try {
            body = text === '' ? null : JSON.parse(text);
          } catch {
            // not JSON: reported below as an unexpected answer
          }
          resolve({ status: res.statusCode ?? 0, body });
        });
      });
      req.end(payload);
    });
  }
}

/** The method a tools/call names, when it names one of ours. */
function toolMethod(message: Message): string | undefined {
  if (message.method !== 'tools/call' || typeof message.params?.name !== 'string') return undefined;
  return METHOD_OF.get(message.params.name);
}

/** The JSON-RPC messages in an answer, or why there are none to pass on. */
function answers(a: Answer): { ok: true; messages: unknown[] } | { ok: false; messages: unknown[] } {
  if (a.status === 202) return { ok: true, messages: [] };
  const isMessage = (m: unknown) => typeof m === 'object' && m !== null && (m as { jsonrpc?: unknown }).jsonrpc === '2.0';
  const list = Array.isArray(a.body) ? a.body : [a.body];
  if (a.status === 200 && list.every(isMessage)) return { ok: true, messages: list };
  // A refusal the transport answered in JSON-RPC terms (400, 406, …): passed on as it is.
  if (isMessage(a.body)) return { ok: false, messages: [a.body] };
  const error = (a.body as { error?: { message?: string } } | null)?.error;
  throw new Unreachable(`unexpected answer from the server: HTTP ${a.status}${error?.message ? ` (${error.message})` : ''}`, 'EBADANSWER', false);
}

/** A tool error the policy may retry (BUSY, SHUTTING_DOWN): nothing ran. */
function toolRefusal(messages: unknown[]): Failure | undefined {
  const [m] = messages as { result?: { isError?: boolean; structuredContent?: { code?: unknown; data?: Record<string, unknown> } } }[];
  const err = m?.result?.isError ? m.result.structuredContent : undefined;
  if (messages.length !== 1 || typeof err?.code !== 'number') return undefined;
  return { kind: 'rpc', code: err.code, ...(err.data ? { data: err.data } : {}) };
}

/** The JSON-RPC error for a message that could not reach any server. */
function bridgeError(err: unknown, root: string): { code: number; message: string; data: Record<string, unknown> } {
  if (err instanceof LaunchError) {
    if (err.code === 'VERSION_MISMATCH') return { code: -32002, message: err.message, data: { code: 'VERSION_MISMATCH', ...err.data } };
    return { code: -32000, message: `decapod mcp: ${err.message}`, data: { code: err.code, ...err.data } };
  }
  if (err instanceof Unreachable) return { code: -32000, message: `decapod mcp: the server for ${root} did not answer: ${err.message}`, data: { code: err.code } };
  process.stderr.write(`decapod mcp: ${(err as Error)?.stack ?? String(err)}\n`);
  return { code: -32603, message: 'decapod mcp: internal error', data: { code: 'INTERNAL_ERROR' } };
}
