/**
 * QUIT (RFC 1939 §6): ends the session; in the TRANSACTION state the server then commits DELE
 * marks. Without any DELE nothing is removed. The socket is closed either way.
 */
import type { Pop3Connection } from '../connection.js';
import { expectOk } from './util.js';

export async function quit(conn: Pop3Connection): Promise<void> {
  if (conn.closed) return;
  try {
    expectOk(await conn.command({ line: 'QUIT', exclusive: true, endsSession: true }), 'QUIT');
  } finally {
    await conn.end();
  }
}
