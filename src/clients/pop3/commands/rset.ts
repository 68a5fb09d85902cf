/**
 * RSET (RFC 1939 §5): unmarks every message marked deleted in this session.
 *
 * It matters for read-only sessions too: many servers (Dovecot among them) record every message
 * retrieved with RETR or TOP as `\Seen` when the session ends with QUIT. Dovecot documents RSET as
 * the way to undo that (`pop3_enable_last`/RSET semantics: RSET also resets the "seen" state of the
 * session), and Python's poplib shows the same: RSET before QUIT, or no QUIT at all, leaves the
 * mailbox as it was.
 */
import type { Pop3Connection } from '../connection.js';
import { expectOk } from './util.js';

export async function rset(conn: Pop3Connection): Promise<void> {
  expectOk(await conn.command({ line: 'RSET', exclusive: true }), 'RSET');
}
