/**
 * AUTH PLAIN (RFC 5034, SASL PLAIN RFC 4616). Sent as `AUTH PLAIN`, then the credentials after
 * the server's `+ ` continuation, which servers without the RFC 5034 initial response accept too.
 */
import type { Pop3Connection } from '../connection.js';
import { authFailure } from './user-pass.js';

export async function authPlain(conn: Pop3Connection, user: string, password: string, authzid = ''): Promise<void> {
  const start = await conn.command({ line: 'AUTH PLAIN', exclusive: true });
  if (start.status.kind !== 'continue') throw authFailure(start, 'AUTH PLAIN', password);
  const credentials = Buffer.from(`${authzid}\0${user}\0${password}`, 'utf8').toString('base64');
  let res = await conn.command({ line: credentials, display: '<credentials redacted>', exclusive: true });
  if (res.status.kind === 'continue') {
    // PLAIN has a single step; cancel any further challenge (RFC 5034 §4).
    res = await conn.command({ line: '*', exclusive: true });
  }
  if (!res.status.ok) throw authFailure(res, 'AUTH PLAIN', password);
  conn.state = 'transaction';
  conn.authMethod = 'AUTH PLAIN';
}
