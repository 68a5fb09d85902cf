/** Small helpers shared by the verb modules. */
import { Pop3Error, type Pop3ErrorKind } from '../errors.js';
import type { Pop3Response } from '../response.js';

/** Throws a Pop3Error for a `-ERR` (or an unexpected `+ `) answer; returns the answer otherwise. */
export function expectOk(response: Pop3Response, command: string, kind: Pop3ErrorKind = 'protocol'): Pop3Response {
  const status = response.status;
  if (status.ok) return response;
  const shown = status.kind === 'continue' ? 'an unexpected continuation' : status.raw;
  throw new Pop3Error(kind, `POP3 server rejected ${command}: ${shown}`, {
    command,
    ...(status.kind === 'err' ? { serverText: status.text } : {}),
    ...(status.code !== undefined ? { responseCode: status.code } : {}),
  });
}

/** Checks a message number (POP3 numbers start at 1). */
export function msgNumber(n: number, command: string): number {
  if (!Number.isInteger(n) || n < 1) throw new Pop3Error('protocol', `${command}: message number must be a positive integer, got ${n}`, { command });
  return n;
}

/** Parses `<n> <rest>` lines (LIST, UIDL); rejects anything else as a protocol error. */
export function numberedLine(line: string, command: string): [number, string] {
  const m = /^\s*(\d+)\s+(\S+)/.exec(line);
  if (!m) throw new Pop3Error('protocol', `unexpected ${command} line: ${JSON.stringify(line.slice(0, 200))}`, { command });
  return [Number(m[1]), m[2] ?? ''];
}
