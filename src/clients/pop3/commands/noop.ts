/** NOOP (RFC 1939 §5). */
import type { Pop3Connection } from '../connection.js';
import { expectOk } from './util.js';

export async function noop(conn: Pop3Connection): Promise<void> {
  expectOk(await conn.command({ line: 'NOOP' }), 'NOOP');
}
