/**
 * The test attendee account of the round trip (`send-test --reply-from`): a mailbox the admin
 * controls at an outside provider, read over IMAP and sent from over its own submission server.
 *
 *   --reply-from   imaps://USER@HOST[:993]        IMAP with TLS from the first byte
 *                  imap://USER@HOST[:143]         IMAP, STARTTLS required
 *   --reply-submit submission://USER@HOST[:587]   SMTP submission, STARTTLS and AUTH required
 *                  (default: submission://USER@<the --reply-from host>:587)
 *
 * USER may itself hold an "@" (`imaps://alice@example.org@imap.example.org`); the last "@" ends it.
 * The password is never given on the command line: `IMIP_REPLY_PASSWORD`, or `--reply-password-file`
 * (its first line). A URL with a password in it (`user:secret@host`) is refused.
 */
import { readFileSync } from 'node:fs';
import { CannotRunError } from '../report/exit.js';

export interface AccountEndpoint {
  /** The URL as given, without any password. */
  url: string;
  host: string;
  port: number;
  username: string;
  /** `implicit`: TLS from the first byte; `starttls`: STARTTLS required. */
  tls: 'implicit' | 'starttls';
}

export interface AttendeeAccount {
  imap: AccountEndpoint;
  submission: AccountEndpoint;
  password: string;
  /** Where the password came from, for the output (never the password). */
  passwordFrom: string;
}

export const REPLY_PASSWORD_ENV = 'IMIP_REPLY_PASSWORD';

const SCHEMES: Record<string, { flag: string; port: number; tls: AccountEndpoint['tls'] }> = {
  imaps: { flag: '--reply-from', port: 993, tls: 'implicit' },
  imap: { flag: '--reply-from', port: 143, tls: 'starttls' },
  submission: { flag: '--reply-submit', port: 587, tls: 'starttls' },
};

function passwordInUrl(flag: string): CannotRunError {
  return new CannotRunError(`${flag}: the URL holds a password; passwords never go on the command line: set ${REPLY_PASSWORD_ENV} or use --reply-password-file`);
}

/** Parse one account URL; `allowed` are the schemes this flag takes. */
export function parseAccountUrl(flag: string, value: string, allowed: readonly string[]): AccountEndpoint {
  const text = value.trim();
  // A password (USER:PASSWORD@) is refused before anything else, so no message below, which
  // quotes the value, can repeat it: whatever the rest of the URL looks like.
  const rest = text.replace(/^[a-z][a-z0-9+.-]*:\/+/i, '');
  const at = rest.lastIndexOf('@');
  if (at > 0 && rest.slice(0, at).includes(':')) throw passwordInUrl(flag);
  const m = /^([a-z][a-z0-9+.-]*):\/\/(.+)@([^@/:]+|\[[0-9a-f:.]+\])(?::(\d+))?\/?$/i.exec(text);
  const example = allowed.includes('submission') ? 'submission://attendee@example.org@smtp.example.org:587' : 'imaps://attendee@example.org@imap.example.org';
  if (!m) throw new CannotRunError(`${flag}: ${JSON.stringify(value)} is not SCHEME://USER@HOST[:PORT]; give one such as ${example}`);
  const scheme = m[1]!.toLowerCase();
  const spec = SCHEMES[scheme];
  if (!spec || !allowed.includes(scheme)) {
    throw new CannotRunError(`${flag}: the scheme "${scheme}" is not one of ${allowed.map((s) => `${s}://`).join(', ')}`);
  }
  let username = m[2]!;
  if (/:/.test(username)) throw passwordInUrl(flag);
  try {
    username = decodeURIComponent(username);
  } catch {
    throw new CannotRunError(`${flag}: the user name ${JSON.stringify(username)} is not valid percent-encoding`);
  }
  const port = m[4] === undefined ? spec.port : Number(m[4]);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new CannotRunError(`${flag}: port ${m[4]} is not from 1 to 65535`);
  const host = m[3]!.replace(/^\[|\]$/g, '');
  return { url: `${scheme}://${username}@${m[3]}${m[4] === undefined ? '' : `:${port}`}`, host, port, username, tls: spec.tls };
}

/** The account from the flags and the environment; exit 2 (CannotRunError) on anything unusable. */
export function attendeeAccount(flags: { replyFrom: string; replySubmit?: string; replyPasswordFile?: string }, env: NodeJS.ProcessEnv = process.env): AttendeeAccount {
  const imap = parseAccountUrl('--reply-from', flags.replyFrom, ['imaps', 'imap']);
  const submission =
    flags.replySubmit !== undefined
      ? parseAccountUrl('--reply-submit', flags.replySubmit, ['submission'])
      : { url: `submission://${imap.username}@${imap.host}:587`, host: imap.host, port: 587, username: imap.username, tls: 'starttls' as const };
  let password: string;
  let passwordFrom: string;
  if (flags.replyPasswordFile !== undefined) {
    let text: string;
    try {
      text = readFileSync(flags.replyPasswordFile, 'utf8');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new CannotRunError(`--reply-password-file ${flags.replyPasswordFile}: ${code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (e as Error).message}`);
    }
    password = text.split(/\r?\n/)[0] ?? '';
    passwordFrom = flags.replyPasswordFile;
    if (!password) throw new CannotRunError(`--reply-password-file ${flags.replyPasswordFile}: the first line is empty`);
  } else if (env[REPLY_PASSWORD_ENV]) {
    password = env[REPLY_PASSWORD_ENV]!;
    passwordFrom = `$${REPLY_PASSWORD_ENV}`;
  } else {
    throw new CannotRunError(`--reply-from needs the attendee account's password: set ${REPLY_PASSWORD_ENV}, or give --reply-password-file FILE (never on the command line)`);
  }
  return { imap, submission, password, passwordFrom };
}
