import { closeSync, openSync, readSync, statSync } from 'node:fs';

// `decapod proof run`: progress while the gate runs, then the verdict on stderr (stdout stays the
// result as JSON): passed or failed, the exit code, whether it counts and why not, and the output's
// tail when it failed.

export interface ProofShape {
  id: string;
  task: string;
  gate: string;
  passed: boolean;
  exit_code: number | null;
  timed_out: boolean;
  duration_ms: number;
  output_bytes: number;
  truncated: boolean;
  counts: boolean;
  changed_during_run: string[];
}

const TAIL_LINES = 20;

/** The verdict, a few lines for a person: `  test for T1: failed (exit 1) in 0.0s; proof P2`. */
export function verdictText(p: ProofShape, tail: string | undefined, outputPath: string | undefined): string {
  const how = p.timed_out ? 'timed out' : p.exit_code === null ? 'no exit code' : `exit ${p.exit_code}`;
  const lines = [`  ${p.gate} for ${p.task}: ${p.passed ? 'passed' : 'FAILED'} (${how}) in ${(p.duration_ms / 1000).toFixed(1)}s; proof ${p.id}`];
  if (!p.counts) {
    const files = p.changed_during_run.length ? `: ${p.changed_during_run.join(', ')}` : '';
    lines.push(`  it does not count (counts: false): covered files were written while the gate ran${files}`);
    lines.push('  run it again once nothing writes them; task done needs a proof that counts');
  }
  if (tail !== undefined) {
    const shown = tail.replace(/\n$/, '').split('\n').slice(-TAIL_LINES);
    const whole = outputPath ? `; all ${p.output_bytes} bytes${p.truncated ? ' (capped)' : ''}: ${outputPath}` : '';
    lines.push(shown.length && shown.join('') !== '' ? `  the last ${shown.length} lines of its output${whole}:` : `  it printed nothing${whole}`);
    if (shown.join('') !== '') lines.push(...shown.map((l) => `  | ${l}`));
  }
  return `${lines.join('\n')}\n`;
}

/**
 * Shows a long call's progress on stderr: elapsed time, and with `follow` the gate's output as it
 * grows. stdout stays clean for the result.
 */
export async function withProgress<T>(what: string, follow: { live: string; final: (result: T) => string } | undefined, work: () => Promise<T>): Promise<T> {
  const started = Date.now();
  const tty = process.stderr.isTTY;
  let offset = 0;
  let lastLine = 0;
  const tick = () => {
    const secs = Math.round((Date.now() - started) / 1000);
    if (follow) offset = copyNew(follow.live, offset);
    if (tty && !follow) process.stderr.write(`\r  running ${what}… ${secs}s`);
    else if (!tty && secs - lastLine >= 10) {
      lastLine = secs;
      process.stderr.write(`  running ${what}… ${secs}s\n`);
    }
  };
  const timer = setInterval(tick, follow ? 200 : 1000);
  try {
    const result = await work();
    // The rest of the output, from where it settled (the live file has moved by now).
    if (follow) copyNew(follow.final(result), offset);
    return result;
  } finally {
    clearInterval(timer);
    if (tty && !follow) process.stderr.write('\r\x1b[K');
  }
}

/** Copies what was appended to `file` since `offset` to stderr; returns the new offset. */
function copyNew(file: string, offset: number): number {
  try {
    const size = statSync(file).size;
    if (size <= offset) return offset;
    const fd = openSync(file, 'r');
    const buf = Buffer.alloc(size - offset);
    readSync(fd, buf, 0, buf.length, offset);
    closeSync(fd);
    process.stderr.write(buf);
    return size;
  } catch {
    return offset; // not started yet, or already moved to its content address
  }
}
