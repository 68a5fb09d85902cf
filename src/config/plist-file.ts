/**
 * Reading one plist file from disk, XML or binary (`bplist00`), with a one-line error that names
 * the file (and the line where known) for every way it can fail.
 */
import { readFileSync, statSync } from 'node:fs';
import { CannotRunError } from '../report/exit.js';
import { parseXmlPlist, PlistSyntaxError, type PlistDict, type PlistValue } from './plist-xml.js';

/** caldavd.plist files are a few kilobytes; anything this large is not one. */
export const MAX_PLIST_BYTES = 8 * 1024 * 1024;

export interface PlistFile {
  path: string;
  format: 'xml' | 'binary';
  value: PlistDict;
  /** Dotted key path to line (XML only). */
  lines: Map<string, number>;
  duplicates: { path: string; line: number; firstLine: number }[];
  /** File mode bits, for the secrets check. */
  mode: number;
}

/** Why a file could not be read; `problem` has no file name in it. */
export class PlistReadError extends CannotRunError {
  constructor(
    readonly path: string,
    readonly problem: string,
    readonly line?: number,
  ) {
    super(`${path}${line ? `:${line}` : ''}: ${problem}`);
    this.name = 'PlistReadError';
  }
}

/** A file-system error in the words an admin needs (no errno names, no stack). */
export function describeFsError(e: NodeJS.ErrnoException): string {
  switch (e.code) {
    case 'ENOENT':
      return 'no such file';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied (run as a user who can read it, or copy it somewhere readable)';
    case 'EISDIR':
      return 'is a directory, not a plist file';
    case 'ELOOP':
      return 'too many levels of symbolic links';
    default:
      return e.message.replace(/^[A-Z]+: /, '');
  }
}

export function readPlistFile(path: string): PlistFile {
  let mode = 0;
  let buf: Buffer;
  try {
    const st = statSync(path);
    if (st.isDirectory()) throw new PlistReadError(path, 'is a directory, not a plist file');
    if (st.size > MAX_PLIST_BYTES) {
      throw new PlistReadError(
        path,
        `is ${(st.size / 1e6).toFixed(1)} MB; a caldavd.plist is a few kilobytes, so this is not one (limit ${MAX_PLIST_BYTES / 1024 / 1024} MiB)`,
      );
    }
    mode = st.mode;
    buf = readFileSync(path);
  } catch (e) {
    if (e instanceof PlistReadError) throw e;
    throw new PlistReadError(path, describeFsError(e as NodeJS.ErrnoException));
  }
  if (buf.length === 0) throw new PlistReadError(path, 'is empty');
  if (buf.subarray(0, 6).toString('latin1') === 'bplist') return readBinary(path, buf, mode);
  if (buf.includes(0)) throw new PlistReadError(path, 'is a binary file but not a binary plist (no bplist00 header)');
  let parsed;
  try {
    parsed = parseXmlPlist(buf.toString('utf8'));
  } catch (e) {
    if (e instanceof PlistSyntaxError) throw new PlistReadError(path, `not a valid XML plist: ${e.message}`, e.line);
    throw e;
  }
  if (!isDict(parsed.value)) throw new PlistReadError(path, 'the top level of the plist is not a <dict>');
  return { path, format: 'xml', value: parsed.value, lines: parsed.lines, duplicates: parsed.duplicates, mode };
}

async function loadBinaryParser(): Promise<(b: Uint8Array) => unknown> {
  const mod = await import('plist');
  return mod.parseBinary as (b: Uint8Array) => unknown;
}
// Binary plists are rare; the parser is tiny but loaded only when needed.
let binaryParser: ((b: Uint8Array) => unknown) | null = null;
export async function preloadBinaryParser(): Promise<void> {
  binaryParser ??= await loadBinaryParser();
}

function readBinary(path: string, buf: Buffer, mode: number): PlistFile {
  if (buf.subarray(0, 8).toString('latin1') !== 'bplist00') {
    throw new PlistReadError(path, `binary plist version "${buf.subarray(0, 8).toString('latin1')}" is not supported (only bplist00)`);
  }
  if (buf.length < 40) throw new PlistReadError(path, 'binary plist is truncated (shorter than its 32-byte trailer)');
  if (!binaryParser) throw new Error('binary plist parser not loaded: call preloadBinaryParser() first');
  // The trailer's counts must fit in the file, or the parser would walk off the end.
  const objects = Number(buf.readBigUInt64BE(buf.length - 24));
  const tableOffset = Number(buf.readBigUInt64BE(buf.length - 8));
  const offsetSize = buf[buf.length - 26]!;
  if (objects <= 0 || offsetSize === 0 || tableOffset + objects * offsetSize > buf.length - 32) {
    throw new PlistReadError(path, 'binary plist is corrupt (its trailer points outside the file)');
  }
  let value: unknown;
  try {
    value = binaryParser(new Uint8Array(buf.buffer, buf.byteOffset, buf.length));
  } catch (e) {
    throw new PlistReadError(path, `binary plist is corrupt (${(e as Error).message})`);
  }
  if (!isDict(value as PlistValue)) throw new PlistReadError(path, 'the top level of the plist is not a dictionary');
  return { path, format: 'binary', value: value as PlistDict, lines: new Map(), duplicates: [], mode };
}

export function isDict(v: PlistValue | undefined): v is PlistDict {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date) && !(v instanceof Uint8Array);
}
