/**
 * RETR (RFC 1939 §5), streamed: the dot-unstuffed message goes to `onChunk` as it arrives and is
 * never held whole in memory. Chunks keep the message's CRLF line ends.
 */
import type { Pop3Connection } from '../connection.js';
import { expectOk, msgNumber } from './util.js';

export interface RetrResult {
  n: number;
  /** Octets handed to onChunk. */
  size: number;
  /** Octet count the server announced in `+OK <n> octets`, if it did. */
  announcedSize?: number;
}

export async function retr(conn: Pop3Connection, n: number, onChunk: (chunk: Buffer) => void): Promise<RetrResult> {
  const cmd = `RETR ${msgNumber(n, 'RETR')}`;
  const res = expectOk(await conn.command({ line: cmd, multiline: true, onChunk }), cmd);
  const result: RetrResult = { n, size: res.bodyBytes };
  const m = /^(\d+)(?:\s+octets)?\b/i.exec(res.status.text);
  if (m) result.announcedSize = Number(m[1]);
  return result;
}
