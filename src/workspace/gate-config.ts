import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, parseGateConfig, type Gate } from '../domain/gates.js';

export interface GateSnapshot {
  gates: Map<string, Gate>;
  /** the file's current problem, while the last good config keeps serving */
  error: string | null;
  file: string;
}

/**
 * `.decapod/config.json`, re-read whenever its size or mtime changes (checked on use: no watcher
 * to leak). A bad file is reported, naming the key, and the last good config keeps serving.
 */
export class GateConfig {
  readonly file: string;
  #stamp = '';
  #good = new Map<string, Gate>();
  #error: string | null = null;

  constructor(root: string, private readonly onProblem: (message: string) => void = () => {}) {
    this.file = join(root, '.decapod', 'config.json');
  }

  current(): GateSnapshot {
    let stamp: string;
    try {
      const st = statSync(this.file);
      stamp = `${st.size}:${st.mtimeMs}:${st.ino}`;
    } catch {
      stamp = 'missing';
    }
    if (stamp !== this.#stamp) {
      this.#stamp = stamp;
      this.#reload(stamp === 'missing');
    }
    return { gates: this.#good, error: this.#error, file: this.file };
  }

  #reload(missing: boolean): void {
    if (missing) {
      this.#good = new Map();
      this.#error = null;
      return;
    }
    try {
      this.#good = parseGateConfig(readFileSync(this.file, 'utf8'));
      this.#error = null;
    } catch (err) {
      this.#error = err instanceof ConfigError ? `${this.file}: ${err.message}` : `${this.file}: ${(err as Error).message}`;
      this.onProblem(this.#error);
    }
  }
}
