/**
 * The `--apply` journal: `<state dir>/poll-journal.jsonl`, one appended line per step of each
 * message, written *before* the step it announces wherever a crash could otherwise leave the
 * mailbox and the calendar server disagreeing. The next run reads the last line per message:
 *
 *  - `claiming`  a claim is about to be stored (IMAP); nothing was POSTed.
 *  - `claimed`   the claim is ours (IMAP, read back); nothing was POSTed.
 *  - `posting`   the reply is about to be POSTed: the server may have it. The next run POSTs it
 *                again (one of the two cases where a duplicate is possible: a SIGKILL, power loss
 *                or a second Ctrl-C during the POST).
 *  - `injected`  the server accepted it: the next run deletes it without POSTing again.
 *  - `released`  the POST failed; the claim was taken off; the next run tries again.
 *  - `deleted`   done.
 *
 * Each line is one O_APPEND write, so runs cannot interleave inside a line; a torn last line
 * (a crash mid-write) is skipped. The file is compacted (finished histories dropped) once large.
 */
import { appendFileSync, closeSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { CannotRunError } from '../report/exit.js';

export const JOURNAL_FILE = 'poll-journal.jsonl';
const COMPACT_AT = 2 * 1024 * 1024;

export type JournalState = 'claiming' | 'claimed' | 'posting' | 'injected' | 'deleted' | 'released';

export interface JournalEntry {
  at: string;
  mailbox: string;
  id: string;
  state: JournalState;
  run: string;
  pid: number;
  host: string;
  messageId?: string | null;
}

/** States after which the server may hold the reply: never POST again without cause. */
export function mayHaveReachedServer(state: JournalState | undefined): boolean {
  return state === 'posting' || state === 'injected';
}

export class Journal {
  private readonly path: string;
  private readonly last = new Map<string, JournalEntry>();

  constructor(
    dir: string,
    private readonly mailbox: string,
    readonly run: string,
  ) {
    this.path = join(dir, JOURNAL_FILE);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    let text = '';
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new CannotRunError(`cannot read ${this.path}: ${(e as Error).message}`);
    }
    for (const line of text.split('\n')) {
      if (!line.trim()) continue;
      try {
        const e = JSON.parse(line) as JournalEntry;
        if (e.mailbox === mailbox && typeof e.id === 'string') this.last.set(e.id, e);
      } catch {
        // a torn line from a crash: skip it
      }
    }
    if (text.length > COMPACT_AT) this.compact(text);
  }

  get file(): string {
    return this.path;
  }

  state(id: string): JournalEntry | undefined {
    return this.last.get(id);
  }

  /** Every message of this mailbox whose last line is not `deleted` (what a run may have left). */
  open(): JournalEntry[] {
    return [...this.last.values()].filter((e) => e.state !== 'deleted');
  }

  record(id: string, state: JournalState, messageId?: string | null): void {
    const entry: JournalEntry = { at: new Date().toISOString(), mailbox: this.mailbox, id, state, run: this.run, pid: process.pid, host: hostname(), messageId: messageId ?? null };
    // One O_APPEND write per line: concurrent runs cannot interleave inside a line.
    appendFileSync(this.path, `${JSON.stringify(entry)}\n`, { mode: 0o600 });
    this.last.set(id, entry);
  }

  /** Drop finished histories (deleted/released) once the file is large; skipped while another run compacts. */
  private compact(text: string): void {
    const lock = `${this.path}.compact-lock`;
    let fd: number;
    try {
      fd = openSync(lock, 'wx', 0o600);
    } catch {
      return;
    }
    try {
      const lastAll = new Map<string, string>();
      for (const line of text.split('\n')) {
        try {
          const e = JSON.parse(line) as JournalEntry;
          lastAll.set(`${e.mailbox}\u0000${e.id}`, line);
        } catch {
          // skip
        }
      }
      const keep = [...lastAll.values()].filter((l) => {
        const s = (JSON.parse(l) as JournalEntry).state;
        return s !== 'deleted' && s !== 'released';
      });
      // Lines appended since we read the file are kept as they are.
      const now = readFileSync(this.path, 'utf8');
      const tail = now.slice(text.length);
      const tmp = `${this.path}.${process.pid}.tmp`;
      writeFileSync(tmp, keep.map((l) => `${l}\n`).join('') + tail, { mode: 0o600 });
      renameSync(tmp, this.path);
    } catch {
      // compaction is an optimisation only
    } finally {
      closeSync(fd);
      rmSync(lock, { force: true });
    }
  }
}
