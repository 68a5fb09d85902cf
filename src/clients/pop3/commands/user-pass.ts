/** USER / PASS (RFC 1939 §7). The password only ever appears on the wire, never in errors. */
import type { Pop3Connection } from '../connection.js';
import { Pop3Error, scrub } from '../errors.js';
import type { Pop3Response } from '../response.js';

function authFailure(res: Pop3Response, command: string, password: string): Pop3Error {
  const text = scrub(res.status.text, password);
  const code = res.status.code;
  return new Pop3Error('auth', `POP3 login failed at ${command}: ${code ? `[${code}] ` : ''}${text || '(no text)'}`, {
    command,
    serverText: text,
    ...(code !== undefined ? { responseCode: code } : {}),
  });
}

export async function userPass(conn: Pop3Connection, user: string, password: string): Promise<void> {
  const u = await conn.command({ line: `USER ${user}`, display: `USER ${user}`, exclusive: true });
  if (!u.status.ok) throw authFailure(u, 'USER', password);
  const p = await conn.command({ line: `PASS ${password}`, display: 'PASS <redacted>', exclusive: true });
  if (!p.status.ok) throw authFailure(p, 'PASS', password);
  conn.state = 'transaction';
  conn.authMethod = 'USER';
}

export { authFailure };
