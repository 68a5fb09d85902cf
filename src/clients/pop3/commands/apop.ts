/** APOP (RFC 1939 §7): MD5 of the greeting's `<...>` challenge followed by the password. */
import { createHash } from 'node:crypto';
import type { Pop3Connection } from '../connection.js';
import { Pop3Error } from '../errors.js';
import { authFailure } from './user-pass.js';

export { apopChallengeOf } from '../connection.js';

/** The APOP digest: lower-case hex MD5 of challenge + password. */
export function apopDigest(challenge: string, password: string): string {
  return createHash('md5').update(challenge + password, 'utf8').digest('hex');
}

export async function apop(conn: Pop3Connection, user: string, password: string): Promise<void> {
  const challenge = conn.apopChallenge;
  if (!challenge) throw new Pop3Error('auth', 'APOP is not possible: the greeting has no <...> challenge', { command: 'APOP' });
  const digest = apopDigest(challenge, password);
  const res = await conn.command({ line: `APOP ${user} ${digest}`, display: `APOP ${user} <digest>`, exclusive: true });
  if (!res.status.ok) throw authFailure(res, 'APOP', password);
  conn.state = 'transaction';
  conn.authMethod = 'APOP';
}
