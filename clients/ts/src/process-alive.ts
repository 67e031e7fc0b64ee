import { readFileSync } from 'node:fs';

/**
 * True while the process runs. A zombie (exited, not yet reaped) counts as gone: an orphaned
 * server is reaped by init, which can take a while.
 */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return true; // no /proc (not Linux): kill(0) said it exists
  }
}

/** Waits (bounded) until the process is gone; true if it went. */
export async function waitForExit(pid: number, boundMs = 10_000): Promise<boolean> {
  const deadline = Date.now() + boundMs;
  while (isProcessAlive(pid)) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 25));
  }
  return true;
}
