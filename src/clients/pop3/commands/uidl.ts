/** UIDL (RFC 1939 §7): message numbers and unique ids, for all messages or one. */
import type { Pop3Connection } from '../connection.js';
import { bodyLines } from '../response.js';
import { expectOk, msgNumber, numberedLine } from './util.js';

export interface UidlEntry {
  n: number;
  uid: string;
}

export async function uidl(conn: Pop3Connection): Promise<UidlEntry[]> {
  const res = expectOk(await conn.command({ line: 'UIDL', multiline: true }), 'UIDL');
  return bodyLines(res.body ?? Buffer.alloc(0)).map((line) => {
    const [n, uid] = numberedLine(line, 'UIDL');
    return { n, uid };
  });
}

export async function uidlOne(conn: Pop3Connection, n: number): Promise<UidlEntry> {
  const cmd = `UIDL ${msgNumber(n, 'UIDL')}`;
  const res = expectOk(await conn.command({ line: cmd }), cmd);
  const [num, uid] = numberedLine(res.status.text, 'UIDL');
  return { n: num, uid };
}
