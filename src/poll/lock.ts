/**
 * Who this poller is, and one run at a time per state directory and mailbox.
 *
 * - The poller id: a random id kept in `<state dir>/poller-id`, made on first use. Over IMAP a
 *   claim carries the keyword `$ImipClaimedBy-<id>` beside `$ImipClaimed`, so a claim left by a
 *   run of this state directory that was killed is recognisable as its own by the next run, and
 *   a claim stored by two pollers at once is seen by both (see src/poll/apply-imap.ts).
 * - The run lock: `<state dir>/poll-<mailbox>.lock` with pid, host and time; a lock whose
 *   process is gone on this host is taken over. Two runs of one state directory would share the
 *   poller id, so the second is refused.
 */
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { CannotRunError } from '../report/exit.js';

export const POLLER_ID_FILE = 'poller-id';

/** This state directory's poller id (10 lower-case hex digits), created on first use. */
export function pollerId(dir: string): string {
  const path = join(dir, POLLER_ID_FILE);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  try {
    const id = readFileSync(path, 'utf8').trim();
    if (/^[0-9a-f]{10}$/.test(id)) return id;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new CannotRunError(`cannot read ${path}: ${(e as Error).message}`);
  }
  const id = randomBytes(5).toString('hex');
  try {
    // wx: of two first runs at once, one writes; the other reads what it wrote.
    writeFileSync(path, `${id}\n`, { mode: 0o600, flag: 'wx' });
    return id;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new CannotRunError(`cannot create ${path}: ${(e as Error).message}`);
    const again = readFileSync(path, 'utf8').trim();
    if (/^[0-9a-f]{10}$/.test(again)) return again;
    writeFileSync(path, `${id}\n`, { mode: 0o600 });
    return id;
  }
}

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Take the run lock for this mailbox in this state directory; returns the release function. */
export function takeRunLock(dir: string, mailbox: string, protocol: string): () => void {
  const name = `poll-${Buffer.from(mailbox).toString('base64url').slice(0, 120)}.lock`;
  const path = join(dir, name);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o600);
      writeSync(fd, JSON.stringify({ pid: process.pid, host: hostname(), at: new Date().toISOString() }));
      closeSync(fd);
      return () => rmSync(path, { force: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new CannotRunError(`cannot create ${path}: ${(e as Error).message}`);
      let holder: { pid?: number; host?: string } = {};
      try {
        holder = JSON.parse(readFileSync(path, 'utf8')) as { pid?: number; host?: string };
      } catch {
        // empty or torn: a crash between create and write; stale once it is a few seconds old
        let age: number;
        try {
          age = Date.now() - statSync(path).mtimeMs;
        } catch {
          continue;
        }
        if (age < 5000) holder = { pid: -1, host: hostname() };
      }
      const gone = holder.pid === undefined || (holder.host === hostname() && holder.pid !== undefined && holder.pid > 0 && holder.pid !== process.pid && !processAlive(holder.pid));
      if (!gone) {
        throw new CannotRunError(
          `another "imip poll --apply" (pid ${holder.pid ?? '?'} on ${holder.host ?? '?'}) is processing this ${protocol} mailbox with the same state directory; ` +
            `two runs must not both inject a message. Wait for it to finish (or remove ${path} if that process is gone).`,
        );
      }
      rmSync(path, { force: true });
    }
  }
  throw new CannotRunError(`cannot take the lock ${path}`);
}
