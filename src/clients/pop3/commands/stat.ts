/** STAT (RFC 1939 §5): message count and total size of the maildrop. */
import type { Pop3Connection } from '../connection.js';
import { Pop3Error } from '../errors.js';
import { expectOk } from './util.js';

export interface StatResult {
  count: number;
  size: number;
}

export async function stat(conn: Pop3Connection): Promise<StatResult> {
  const res = expectOk(await conn.command({ line: 'STAT' }), 'STAT');
  const m = /^(\d+)\s+(\d+)/.exec(res.status.text);
  if (!m) throw new Pop3Error('protocol', `unexpected STAT answer: ${res.status.raw}`, { command: 'STAT' });
  return { count: Number(m[1]), size: Number(m[2]) };
}
