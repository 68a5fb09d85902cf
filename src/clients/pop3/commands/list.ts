/** LIST (RFC 1939 §5): message numbers and sizes, for all messages or one. */
import type { Pop3Connection } from '../connection.js';
import { bodyLines } from '../response.js';
import { expectOk, msgNumber, numberedLine } from './util.js';

export interface ListEntry {
  n: number;
  size: number;
}

export async function list(conn: Pop3Connection): Promise<ListEntry[]> {
  const res = expectOk(await conn.command({ line: 'LIST', multiline: true }), 'LIST');
  return bodyLines(res.body ?? Buffer.alloc(0)).map((line) => {
    const [n, size] = numberedLine(line, 'LIST');
    return { n, size: Number(size) };
  });
}

export async function listOne(conn: Pop3Connection, n: number): Promise<ListEntry> {
  const cmd = `LIST ${msgNumber(n, 'LIST')}`;
  const res = expectOk(await conn.command({ line: cmd }), cmd);
  const [num, size] = numberedLine(res.status.text, 'LIST');
  return { n: num, size: Number(size) };
}
