/**
 * The tokens `imip send-test` has sent, so `poll` and `diagnose` can tell a reply to a test
 * invitation (`tokenStatus: known`) from one to a token nobody here issued.
 *
 * One JSON object per line in `<state dir>/sent-tokens.jsonl`, appended with a single
 * O_APPEND write: concurrent runs cannot interleave or truncate each other's records, and a
 * torn last line (a crash mid-write) is skipped on reading, never fatal.
 */
import { appendFileSync, mkdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { CannotRunError } from '../report/exit.js';

export interface SentToken {
  token: string;
  /** The organizer's calendar user address as sent (mailto:...). */
  organizer: string;
  /** mailto: of the attendee, lower-cased as the server stores it. */
  attendee: string;
  uid: string;
  sentAt: string;
  messageId?: string;
  plusAddress?: string;
}

export const TOKENS_FILE = 'sent-tokens.jsonl';

/** `--state-dir`, else `$XDG_STATE_HOME/imip`, else `~/.local/state/imip`. */
export function stateDir(flag?: string, env: NodeJS.ProcessEnv = process.env): string {
  if (flag) return flag;
  if (env.XDG_STATE_HOME) return join(env.XDG_STATE_HOME, 'imip');
  return join(homedir(), '.local', 'state', 'imip');
}

export function recordToken(dir: string, rec: SentToken): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const line = `${JSON.stringify(rec)}\n`;
    if (Buffer.byteLength(line) > 4000) throw new CannotRunError('token record too large to append atomically');
    appendFileSync(join(dir, TOKENS_FILE), line, { mode: 0o600 });
  } catch (e) {
    if (e instanceof CannotRunError) throw e;
    throw new CannotRunError(`cannot record the token in ${join(dir, TOKENS_FILE)}: ${(e as Error).message}`);
  }
}

/** Every well-formed record; a missing file is an empty store. */
export function readTokens(dir: string): SentToken[] {
  let text: string;
  try {
    text = readFileSync(join(dir, TOKENS_FILE), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new CannotRunError(`cannot read ${join(dir, TOKENS_FILE)}: ${(e as Error).message}`);
  }
  const out: SentToken[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      const r = JSON.parse(line) as Partial<SentToken>;
      if (typeof r.token === 'string' && typeof r.organizer === 'string' && typeof r.attendee === 'string' && typeof r.uid === 'string') {
        out.push(r as SentToken);
      }
    } catch {
      // A torn or foreign line: skip it.
    }
  }
  return out;
}

/**
 * A lookup as the server does it (2.x–4.x `MailGatewayTokensDatabase.lookupByToken`): exact string
 * match, and only when exactly one record has the token (several records: `null`, as the server
 * finds none).
 * This store holds only the tokens `send-test` sent, not the server's own, so a token it does
 * not hold is `undefined` ("cannot check"), never "unknown to the server".
 */
export function tokenLookup(records: SentToken[] | null): (token: string) => SentToken | null | undefined {
  if (records === null) return () => undefined;
  const by = new Map<string, SentToken[]>();
  for (const r of records) by.set(r.token, [...(by.get(r.token) ?? []), r]);
  return (token) => {
    const hits = by.get(token);
    if (!hits) return undefined;
    return hits.length === 1 ? hits[0]! : null;
  };
}
