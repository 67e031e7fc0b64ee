#!/usr/bin/env node
// A TCP proxy between PostgreSQL clients and a PostgreSQL server, for the team-mode benchmark
// (scripts/bench/postgres.mjs). It does two things:
//
//  - counts round trips: it reads the frontend protocol (client → server): every Sync ('S', the
//    end of one extended-protocol query: node-postgres sends Parse/Bind/Describe/Execute/Sync in one
//    write, then waits for ReadyForQuery) and every simple Query ('Q': BEGIN, COMMIT, or several
//    statements in one). A round trip is a flight: what a connection sends between two answers of
//    the server. A flight holding one or more Sync or Query messages is one round trip, so queries
//    pipelined without waiting count once. It keeps the statement text of each (from Parse or
//    Query) and which connection sent it, so a caller can see what a call cost.
//  - adds latency: every byte from the client reaches the server `delayMs` later (in order), so
//    each round trip takes `delayMs` longer, as on a network with that round-trip time. Node's
//    timers have millisecond resolution and fire late rather than early: the added time is a little
//    more than asked; the benchmark measures it and reports what it got.
//
// As a module: startPgProxy({ targetHost, targetPort, delayMs, record }) → { port, mark(), since(mark),
// roundTrips, connections, startups, close() }. As a process: node pg-proxy.mjs --target HOST:PORT [--delay-ms N] prints
// {"port": N} once listening and exits on SIGTERM (the benchmark runs latency proxies as their own
// processes, so autocannon in the runner cannot delay them).
import { createConnection, createServer } from 'node:net';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const SSL_REQUEST = 80877103;
const GSS_REQUEST = 80877104;
const CANCEL_REQUEST = 80877102;

/** Parses the frontend stream of one connection; calls onQuery({ sql }) per Sync or Query. */
function frontendParser(onRoundTrip, onStartup) {
  let buf = Buffer.alloc(0);
  let startup = true; // untyped messages until the StartupMessage
  let pending = []; // statement texts since the last Sync
  return (chunk) => {
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    for (;;) {
      if (startup) {
        if (buf.length < 8) return;
        const len = buf.readInt32BE(0);
        if (buf.length < len) return;
        const code = buf.readInt32BE(4);
        buf = buf.subarray(len);
        if (code !== SSL_REQUEST && code !== GSS_REQUEST && code !== CANCEL_REQUEST) {
          startup = false;
          onStartup();
        }
        continue;
      }
      if (buf.length < 5) return;
      const type = String.fromCharCode(buf[0]);
      const len = buf.readInt32BE(1);
      if (buf.length < len + 1) return;
      const body = buf.subarray(5, len + 1);
      buf = buf.subarray(len + 1);
      if (type === 'P') {
        // Parse: statement name, then the query text, each NUL-terminated
        const nameEnd = body.indexOf(0);
        const textEnd = body.indexOf(0, nameEnd + 1);
        pending.push(body.subarray(nameEnd + 1, textEnd).toString('utf8'));
      } else if (type === 'S') {
        onRoundTrip({ sql: pending.length > 0 ? pending.join('; ') : '(bind of a prepared statement)' });
        pending = [];
      } else if (type === 'Q') {
        onRoundTrip({ sql: body.subarray(0, body.indexOf(0)).toString('utf8') });
      }
    }
  };
}

/** Writes to `sock` `delayMs` after each chunk arrived, in arrival order. */
function delayedWriter(sock, delayMs) {
  if (!(delayMs > 0)) return (chunk) => sock.write(chunk);
  const queue = [];
  let timer;
  const flush = () => {
    timer = undefined;
    const now = performance.now();
    while (queue.length > 0 && queue[0].due <= now) sock.write(queue.shift().chunk);
    if (queue.length > 0) timer = setTimeout(flush, Math.max(1, Math.ceil(queue[0].due - now)));
  };
  return (chunk) => {
    queue.push({ due: performance.now() + delayMs, chunk });
    if (timer === undefined) timer = setTimeout(flush, Math.max(1, Math.ceil(delayMs)));
  };
}

export function startPgProxy({ targetHost = '127.0.0.1', targetPort, delayMs = 0, record = true }) {
  const log = []; // one per round trip, when recording: { conn, sql, at, messages }
  let roundTrips = 0;
  let messages = 0;
  const sockets = new Set();
  let connections = 0;
  let startups = 0;
  const server = createServer((client) => {
    const conn = ++connections;
    const upstream = createConnection({ host: targetHost, port: targetPort });
    sockets.add(client).add(upstream);
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    // The flight under way on this connection (undefined once the server has answered).
    let flight;
    const parse = frontendParser(
      ({ sql }) => {
        messages++;
        if (flight) {
          flight.messages++;
          flight.sql += `; ${sql}`;
          return;
        }
        roundTrips++;
        flight = { conn, sql, at: performance.now(), messages: 1 };
        if (record) log.push(flight);
      },
      () => startups++,
    );
    const toServer = delayedWriter(upstream, delayMs);
    client.on('data', (chunk) => {
      parse(chunk);
      toServer(chunk);
    });
    upstream.on('data', (chunk) => {
      flight = undefined;
      client.write(chunk);
    });
    const end = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    for (const s of [client, upstream]) {
      s.on('error', end);
      s.on('close', end);
    }
  });
  return new Promise((resolve, reject) => {
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      resolve({
        port: server.address().port,
        /** a position in the log of round trips */
        mark: () => log.length,
        /** the round trips since a mark: [{ conn, sql, messages }] (messages: Sync and Query messages of the flight) */
        since: (mark) => log.slice(mark).map(({ conn, sql, messages: m }) => ({ conn, sql, messages: m })),
        get roundTrips() {
          return roundTrips;
        },
        /** Sync and Query messages: more than round trips when queries are pipelined */
        get messages() {
          return messages;
        },
        /** connections opened, and StartupMessages seen (a new database session each) */
        get connections() {
          return connections;
        },
        get startups() {
          return startups;
        },
        close: () =>
          new Promise((r) => {
            for (const s of sockets) s.destroy();
            server.close(() => r());
          }),
      });
    });
  });
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { values } = parseArgs({ options: { target: { type: 'string' }, 'delay-ms': { type: 'string', default: '0' } } });
  const m = /^(.+):(\d+)$/.exec(values.target ?? '');
  if (!m) throw new Error('usage: pg-proxy.mjs --target HOST:PORT [--delay-ms N]');
  const proxy = await startPgProxy({ targetHost: m[1], targetPort: Number(m[2]), delayMs: Number(values['delay-ms']), record: false });
  process.stdout.write(`${JSON.stringify({ port: proxy.port })}\n`);
  for (const s of ['SIGTERM', 'SIGINT']) process.on(s, () => proxy.close().then(() => process.exit(0)));
}
