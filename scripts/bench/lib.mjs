// Helpers for the benchmark runner: processes it owns (and always stops), temp folders it always
// removes, HTTP on 127.0.0.1 with keep-alive, autocannon, /proc readings and statistics.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';

// ---------------------------------------------------------------------------------------------
// Everything started here is stopped here
// ---------------------------------------------------------------------------------------------

const children = new Set();
const foreignPids = new Set();
const tempDirs = new Set();

export function tempDir(prefix) {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.add(dir);
  return dir;
}

export function removeTempDir(dir) {
  rmSync(dir, { recursive: true, force: true });
  tempDirs.delete(dir);
}

/** A process started by someone else on our behalf (a server the launcher spawned detached). */
export function adoptPid(pid) {
  foreignPids.add(pid);
}

export function forgetPid(pid) {
  foreignPids.delete(pid);
}

export function alive(pid) {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    // A zombie is gone for our purposes.
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0] !== 'Z';
  } catch {
    return false;
  }
}

export async function waitGone(pid, timeoutMs = 5_000) {
  const deadline = Date.now() + timeoutMs;
  while (alive(pid)) {
    if (Date.now() > deadline) return false;
    await sleep(10);
  }
  return true;
}

/** SIGTERM, then SIGKILL if it lingers. */
export async function stopPid(pid, timeoutMs = 5_000) {
  if (!alive(pid)) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  if (!(await waitGone(pid, timeoutMs))) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
    await waitGone(pid, 2_000);
  }
}

/** Synchronous last resort, for exit paths. */
export function cleanupNow() {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  for (const pid of foreignPids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  children.clear();
  foreignPids.clear();
  tempDirs.clear();
}

/**
 * Bounds a benchmark run in time whatever happens: after `ms` stop everything and exit 1; on
 * SIGINT/SIGTERM stop everything and exit 130; on any exit kill what is left.
 */
export function boundRun(name, ms) {
  const watchdog = setTimeout(() => {
    process.stderr.write(`${name}: still running after ${ms / 1000} s; stopping everything\n`);
    cleanupNow();
    process.exit(1);
  }, ms);
  watchdog.unref();
  for (const sig of ['SIGINT', 'SIGTERM']) {
    process.on(sig, () => {
      cleanupNow();
      process.exit(130);
    });
  }
  process.on('exit', cleanupNow);
}

export async function cleanup() {
  await Promise.all([...children].map((c) => stopChild(c)));
  await Promise.all([...foreignPids].map((pid) => stopPid(pid)));
  cleanupNow();
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Starts a long-running process that prints one JSON line once it is ready; resolves with the child
 * and that line. Bounded: fails (and kills it) after `timeoutMs`.
 */
export function startProcess(cmd, args, { env, cwd, timeoutMs = 20_000 } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    child.once('exit', () => children.delete(child));
    let out = '';
    let err = '';
    const fail = (why) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new Error(`${cmd} ${args.join(' ')}: ${why}\n${err.slice(-2000)}`));
    };
    const timer = setTimeout(() => fail(`not ready within ${timeoutMs} ms`), timeoutMs);
    child.stderr.on('data', (d) => (err += d));
    child.on('error', (e) => fail(e.message));
    child.on('exit', (code) => fail(`exited with ${code} before it was ready`));
    child.stdout.on('data', (d) => {
      out += d;
      const nl = out.indexOf('\n');
      if (nl < 0) return;
      clearTimeout(timer);
      child.removeAllListeners('exit');
      child.stdout.removeAllListeners('data');
      child.stdout.resume();
      child.once('exit', () => children.delete(child));
      try {
        resolve({ child, info: JSON.parse(out.slice(0, nl)) });
      } catch {
        child.kill('SIGKILL');
        reject(new Error(`${cmd}: first line is not JSON: ${out.slice(0, 200)}`));
      }
    });
  });
}

export async function stopChild(child, timeoutMs = 5_000) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  await exited;
  clearTimeout(timer);
  children.delete(child);
}

/** Runs a command to completion; resolves with wall time (ms), exit code and output. Bounded. */
export function runTimed(cmd, args, { env, cwd, timeoutMs = 30_000 } = {}) {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const child = spawn(cmd, args, { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      children.delete(child);
      reject(e);
    });
    child.on('close', (code, signal) => {
      const ms = Number(process.hrtime.bigint() - start) / 1e6;
      clearTimeout(timer);
      children.delete(child);
      resolve({ ms, code, signal, stdout, stderr });
    });
  });
}

export function runSync(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 30_000, ...opts });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

// ---------------------------------------------------------------------------------------------
// HTTP
// ---------------------------------------------------------------------------------------------

export const keepAlive = new Agent({ keepAlive: true, maxSockets: 64 });

/** POST a JSON body; resolves with the parsed answer. */
export function postJson(url, body, { token, agent = keepAlive, timeoutMs = 30_000 } = {}) {
  return new Promise((resolve, reject) => {
    const payload = JSON.stringify(body);
    const req = request(
      url,
      {
        method: 'POST',
        agent,
        timeout: timeoutMs,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(payload),
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
      },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          try {
            resolve(text === '' ? null : JSON.parse(text));
          } catch {
            reject(new Error(`HTTP ${res.statusCode}: ${text.slice(0, 200)}`));
          }
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer from ${url} within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(payload);
  });
}

let rpcId = 0;
/** One JSON-RPC call; throws on an error answer. */
export async function rpc(url, token, method, params = {}) {
  const answer = await postJson(`${url}/rpc`, { jsonrpc: '2.0', id: ++rpcId, method, params }, { token });
  if (!answer || answer.error) throw new Error(`${method}: ${JSON.stringify(answer?.error ?? answer)}`);
  return answer.result;
}

/** A JSON-RPC batch; returns the answers in request order. */
export async function rpcBatch(url, token, calls) {
  const first = rpcId + 1;
  const body = calls.map(([method, params]) => ({ jsonrpc: '2.0', id: ++rpcId, method, params }));
  const answers = await postJson(`${url}/rpc`, body, { token });
  return answers.sort((a, b) => a.id - b.id).map((a, i) => {
    if (a.id !== first + i || a.error) throw new Error(`batch item ${i}: ${JSON.stringify(a.error ?? a)}`);
    return a.result;
  });
}

/**
 * autocannon against POST /rpc. `requests` as autocannon takes them. Resolves with calls per second
 * (completed requests / measured duration), latency percentiles and the error count.
 */
export async function cannon({ url, connections, duration, requests, headers = {}, body }) {
  const host = new URL(url).host;
  const result = await autocannon({
    url: `${url}/rpc`,
    method: 'POST',
    connections,
    duration,
    sampleInt: 100,
    headers: { host, 'content-type': 'application/json', ...headers },
    ...(body !== undefined ? { body } : {}),
    ...(requests ? { requests } : {}),
  });
  const completed = result.requests.total;
  return {
    perSecond: completed / result.duration,
    completed,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors + result.timeouts + result.non2xx,
  };
}

// ---------------------------------------------------------------------------------------------
// Readings and statistics
// ---------------------------------------------------------------------------------------------

/** VmRSS of a process, in MB (MiB). */
export function rssMb(pid) {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) / 1024;
}

export function median(values) {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

export function summary(values) {
  return { median: median(values), min: Math.min(...values), max: Math.max(...values), values };
}

export function percentile(values, p) {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

export function readJsonFile(file) {
  return existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : undefined;
}
