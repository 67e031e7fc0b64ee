// docs/design.md §4: gates are named checks that count as proof, defined by people in
// `.decapod/config.json`, never by agents over RPC. This module only validates their definition.

import { DecapodError } from '../errors.js';
import { normalizeClaimPaths } from './claim-paths.js';

export type Attest = 'server' | 'any';

export interface Gate {
  name: string;
  command: string;
  timeout_ms: number;
  /** `server`: only proofs Decapod ran itself count; `any`: agents may also record results */
  attest: Attest;
  /** bytes of output kept; the rest is counted and the proof flagged truncated */
  output_cap_bytes: number;
  description: string;
  /**
   * Globs of files the gate reads beyond the task's paths (lockfiles, configs, fixtures; ignored
   * files too): a proof's content digest covers the task's paths plus these (README "Proofs").
   */
  inputs: string[];
}

export const GATE_DEFAULTS = { timeout_ms: 600_000, attest: 'server' as Attest, output_cap_bytes: 1024 * 1024 };
const GATE_KEYS = ['command', 'timeout_ms', 'attest', 'output_cap_bytes', 'description', 'inputs'];
const NAME = /^[A-Za-z0-9_.-]{1,64}$/;

export class ConfigError extends Error {
  constructor(readonly key: string, message: string) {
    super(`${key}: ${message}`);
  }
}

/** The keys of .decapod/config.json: the gates, and the project id naming a shared claim space (§7). */
const TOP_KEYS = ['gates', 'project'];

/** A project id as written by people: 1–200 characters, none of them control or space characters. */
export function projectIdOf(v: unknown, key: string): string {
  if (typeof v !== 'string' || !/^[^\s\p{Cc}]{1,200}$/u.test(v)) throw new ConfigError(key, 'must be a string of 1 to 200 characters without spaces or control characters');
  return v;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function integer(v: unknown, key: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new ConfigError(key, `must be a whole number from ${min} to ${max}, got ${JSON.stringify(v)}`);
  }
  return v;
}

/** Parses and validates the config file's text, naming the first bad key. Never coerces. */
export function parseGateConfig(text: string): Map<string, Gate> {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ConfigError('(file)', `is not valid JSON (${(err as Error).message})`);
  }
  if (!isObject(raw)) throw new ConfigError('(file)', 'must be a JSON object');
  for (const key of Object.keys(raw)) {
    // docs/design.md §7: the file is committed, so it never holds a database URL (credentials).
    if (key === 'database_url') throw new ConfigError(key, 'does not belong in the committed .decapod/config.json: set DECAPOD_DATABASE_URL or database_url in ~/.config/decapod/config.json');
    if (!TOP_KEYS.includes(key)) throw new ConfigError(key, `is not a known key (expected ${TOP_KEYS.map((k) => `"${k}"`).join(' or ')})`);
  }
  if (raw.project !== undefined) projectIdOf(raw.project, 'project');
  const gates = raw.gates ?? {};
  if (!isObject(gates)) throw new ConfigError('gates', 'must be an object of gate name to definition');
  const out = new Map<string, Gate>();
  for (const [name, def] of Object.entries(gates)) {
    const at = `gates.${name}`;
    if (!NAME.test(name)) throw new ConfigError(at, 'a gate name is 1–64 letters, digits, ".", "_" or "-"');
    if (!isObject(def)) throw new ConfigError(at, 'must be an object with a "command"');
    for (const key of Object.keys(def)) if (!GATE_KEYS.includes(key)) throw new ConfigError(`${at}.${key}`, `is not a known key (expected ${GATE_KEYS.join(', ')})`);
    if (typeof def.command !== 'string' || def.command.trim() === '') throw new ConfigError(`${at}.command`, 'is required: the shell command to run in the root');
    if (def.attest !== undefined && def.attest !== 'server' && def.attest !== 'any') {
      throw new ConfigError(`${at}.attest`, `must be "server" or "any", got ${JSON.stringify(def.attest)}`);
    }
    if (def.description !== undefined && typeof def.description !== 'string') throw new ConfigError(`${at}.description`, 'must be a string');
    out.set(name, {
      name,
      command: def.command,
      timeout_ms: def.timeout_ms === undefined ? GATE_DEFAULTS.timeout_ms : integer(def.timeout_ms, `${at}.timeout_ms`, 100, 86_400_000),
      attest: (def.attest as Attest | undefined) ?? GATE_DEFAULTS.attest,
      output_cap_bytes:
        def.output_cap_bytes === undefined ? GATE_DEFAULTS.output_cap_bytes : integer(def.output_cap_bytes, `${at}.output_cap_bytes`, 1, 64 * 1024 * 1024),
      description: (def.description as string | undefined) ?? '',
      inputs: def.inputs === undefined ? [] : inputGlobs(def.inputs, `${at}.inputs`),
    });
  }
  return out;
}

/** Gate inputs are globs relative to the root, normalised exactly as claim paths are. */
function inputGlobs(v: unknown, key: string): string[] {
  if (!Array.isArray(v)) throw new ConfigError(key, 'must be a list of globs relative to the root');
  if (v.length === 0) return [];
  try {
    return normalizeClaimPaths(v as string[], key);
  } catch (err) {
    if (!(err instanceof DecapodError)) throw err;
    const field = String((err.data as { field?: string } | undefined)?.field ?? key);
    throw new ConfigError(field, err.message.replace(/^invalid params: \S+ /, ''));
  }
}
