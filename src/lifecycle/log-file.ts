import { closeSync, openSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';

/**
 * The server log's destination (`.decapod/run/server.log`), for pino. A line is written at once
 * with one write(2) per try, so a crash loses none that was logged. A line the file system refuses
 * (full disk, quota, I/O error) is dropped and counted, never kept to retry: pino's own file
 * destination retried on the main thread, so a full disk stopped every call, /healthz and idle exit.
 * The first line that can be written again is preceded by one saying how many were dropped.
 */
export interface LogFile {
  /** what pino calls with each line (ending in a newline); never throws */
  write(line: string): boolean;
  /** lines dropped since the last one that was written */
  readonly dropped: number;
  close(): void;
}

export function openLogFile(path: string): LogFile {
  const fd = openSync(path, 'a', 0o600);
  let closed = false;
  let dropped = 0;
  let firstDrop: { at: number; code: string } | undefined;
  // A line cut short by a write that ran out of room: the next one starts on a line of its own.
  let torn = false;

  /** Writes all of `text` or reports how it failed; a partial write counts as failed. */
  const put = (text: string): { ok: true } | { ok: false; code: string; partial: boolean } => {
    const buf = Buffer.from(text, 'utf8');
    let done = 0;
    try {
      while (done < buf.length) {
        const n = writeSync(fd, buf, done, buf.length - done);
        if (n <= 0) return { ok: false, code: 'EIO', partial: done > 0 };
        done += n;
      }
      return { ok: true };
    } catch (err) {
      return { ok: false, code: String((err as NodeJS.ErrnoException).code ?? 'EIO'), partial: done > 0 };
    }
  };

  const noticeOf = (count: number, since: { at: number; code: string }) =>
    `${JSON.stringify({
      level: 40,
      time: Date.now(),
      pid: process.pid,
      hostname: hostname(),
      dropped: count,
      since: new Date(since.at).toISOString(),
      cause: since.code,
      msg: `${count} log line${count === 1 ? '' : 's'} dropped: the log could not be written (${since.code})`,
    })}\n`;

  return {
    write(line) {
      if (closed) return true;
      const failed = (r: { code: string; partial: boolean }) => {
        if (r.partial) torn = true;
        dropped++;
        firstDrop ??= { at: Date.now(), code: r.code };
        return true; // never ask pino to wait for a drain: there is nothing to wait for
      };
      if (torn || dropped > 0) {
        const r = put(`${torn ? '\n' : ''}${dropped > 0 && firstDrop ? noticeOf(dropped, firstDrop) : ''}`);
        if (!r.ok) return failed(r);
        torn = false;
        dropped = 0;
        firstDrop = undefined;
      }
      const r = put(line);
      return r.ok ? true : failed(r);
    },
    get dropped() {
      return dropped;
    },
    close() {
      if (closed) return;
      closed = true;
      try {
        closeSync(fd);
      } catch {
        // already closed
      }
    },
  };
}
