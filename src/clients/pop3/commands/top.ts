/** TOP (RFC 1939 §7): the header and the first `lines` body lines of a message (0: header only). */
import type { Pop3Connection } from '../connection.js';
import { Pop3Error } from '../errors.js';
import { expectOk, msgNumber } from './util.js';

export async function top(conn: Pop3Connection, n: number, lines: number): Promise<Buffer> {
  if (!Number.isInteger(lines) || lines < 0) throw new Pop3Error('protocol', `TOP: line count must be a non-negative integer, got ${lines}`, { command: 'TOP' });
  const cmd = `TOP ${msgNumber(n, 'TOP')} ${lines}`;
  const res = expectOk(await conn.command({ line: cmd, multiline: true }), cmd);
  return res.body ?? Buffer.alloc(0);
}
