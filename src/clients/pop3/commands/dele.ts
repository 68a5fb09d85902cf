/**
 * DELE (RFC 1939 §5): marks a message deleted; the server removes it only at a successful QUIT.
 * Only the explicit `--apply` path may call this; dry runs and probes never do.
 */
import type { Pop3Connection } from '../connection.js';
import { expectOk, msgNumber } from './util.js';

export async function dele(conn: Pop3Connection, n: number): Promise<void> {
  const cmd = `DELE ${msgNumber(n, 'DELE')}`;
  expectOk(await conn.command({ line: cmd }), cmd);
}
