/**
 * Reading one plist file from disk, with a one-line error that names the file, the line where
 * known and the kind of problem (never an excerpt of the file) for every way it can fail. A binary
 * plist (`bplist00`) is recognised but not read: the server cannot read one.
 */
import { closeSync, constants as fsConstants, fstatSync, openSync, readSync, statSync, type Stats } from 'node:fs';
import { CannotRunError } from '../report/exit.js';
import { parseXmlPlist, PlistSyntaxError, type PlistDict, type PlistValue } from './plist-xml.js';
import { decodeXmlBytes, XmlSyntaxError } from './xml-tokens.js';

/** caldavd.plist files are a few kilobytes; anything this large is not one. */
export const MAX_PLIST_BYTES = 8 * 1024 * 1024;

export interface PlistFile {
  path: string;
  format: 'xml' | 'binary';
  value: PlistDict;
  /** Dotted key path to line (XML only). A binary plist has an empty `value`: it is not read. */
  lines: { get(path: string): number | undefined };
  duplicates: { path: string; line: number; firstLine: number }[];
  /** Keys with no value (the server drops them). */
  keysWithoutValue: { path: string; line: number }[];
  /** File mode bits, for the secrets check. */
  mode: number;
}

/** The one line that tells why a file could not be read: `path[:line]: problem`. */
export function readProblem(path: string, problem: string, line?: number): string {
  return `${path}${line ? `:${line}` : ''}: ${problem}`;
}

/** Why a file could not be read; `problem` has no file name in it. */
export class PlistReadError extends CannotRunError {
  constructor(
    readonly path: string,
    readonly problem: string,
    readonly line?: number,
    /** A limit of imip's reader: the server reads the file, so no finding can be made from it. */
    readonly ownLimit = false,
  ) {
    super(readProblem(path, problem, line));
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

/** What a path is, when it is not a regular file. */
function notRegular(st: Stats): string | null {
  if (st.isFile()) return null;
  if (st.isDirectory()) return 'is a directory, not a plist file';
  if (st.isFIFO()) return 'is a named pipe (FIFO), not a plist file; it is not read';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'is a device, not a plist file; it is not read';
  if (st.isSocket()) return 'is a socket, not a plist file; it is not read';
  return 'is not a regular file; it is not read';
}

/**
 * Read the bytes of a config file: regular files only (a FIFO or /dev/zero would hang or grow
 * without end), at most {@link MAX_PLIST_BYTES}. The file is opened without blocking and checked
 * on the open descriptor, so it cannot be swapped for a pipe in between.
 */
function readBounded(path: string): { buf: Buffer; mode: number } {
  const pre = statSync(path);
  const why = notRegular(pre);
  if (why) throw new PlistReadError(path, why);
  const fd = openSync(path, fsConstants.O_RDONLY | (fsConstants.O_NONBLOCK ?? 0));
  try {
    const st = fstatSync(fd);
    const again = notRegular(st);
    if (again) throw new PlistReadError(path, again);
    if (st.size > MAX_PLIST_BYTES) throw tooLarge(path, st.size);
    let buf = Buffer.alloc(Math.min(st.size, MAX_PLIST_BYTES) + 1);
    let n = 0;
    for (;;) {
      if (n === buf.length) {
        if (n > MAX_PLIST_BYTES) throw tooLarge(path, n);
        // More than its size said: a file written at this moment, or one whose size the system
        // does not know (/proc). Read on, up to the limit.
        const bigger = Buffer.alloc(Math.min(buf.length * 2 + 64 * 1024, MAX_PLIST_BYTES + 1));
        buf.copy(bigger, 0, 0, n);
        buf = bigger;
      }
      const got = readSync(fd, buf, n, buf.length - n, null);
      if (got === 0) break;
      n += got;
    }
    return { buf: buf.subarray(0, n), mode: st.mode };
  } finally {
    closeSync(fd);
  }
}

function tooLarge(path: string, size: number): PlistReadError {
  return new PlistReadError(
    path,
    `is larger than ${MAX_PLIST_BYTES / 1024 / 1024} MiB (${(size / 1e6).toFixed(1)} MB); a caldavd.plist is a few kilobytes, so this is not one`,
  );
}

export function readPlistFile(path: string): PlistFile {
  let mode: number;
  let buf: Buffer;
  try {
    ({ buf, mode } = readBounded(path));
  } catch (e) {
    if (e instanceof PlistReadError) throw e;
    throw new PlistReadError(path, describeFsError(e as NodeJS.ErrnoException));
  }
  if (buf.length === 0) throw new PlistReadError(path, 'is empty');
  // The server reads its config with Python 2 plistlib.readPlist, which knows XML only
  // (every tag; CalendarServer-2.5..9.2 twistedcaldav/config.py / twistedcaldav/stdconfig.py
  // `PListConfigProvider.loadConfig` -> `plistlib.readPlist`): a binary plist is not judged, the
  // loader reports it (config.binary-plist).
  if (buf.subarray(0, 6).toString('latin1') === 'bplist') {
    return { path, format: 'binary', value: {}, lines: new Map(), duplicates: [], keysWithoutValue: [], mode };
  }
  if (buf.includes(0)) throw new PlistReadError(path, 'is a binary file, not an XML plist');
  let parsed;
  try {
    parsed = parseXmlPlist(decodeXmlBytes(buf));
  } catch (e) {
    if (e instanceof PlistSyntaxError || e instanceof XmlSyntaxError) {
      const problem = e instanceof XmlSyntaxError ? e.problem : e.message;
      if (e.ownLimit) {
        throw new PlistReadError(path, `imip cannot judge this plist: ${problem}. Calendar Server reads it (its plistlib has no such limit), so this says nothing about the file`, e.line, true);
      }
      throw new PlistReadError(path, `not a valid XML plist (the server cannot read it either): ${problem}`, e.line);
    }
    throw e;
  }
  if (!isDict(parsed.value)) throw new PlistReadError(path, 'the top level of the plist is not a <dict>');
  return {
    path,
    format: 'xml',
    value: parsed.value,
    lines: parsed.lines,
    duplicates: parsed.duplicates,
    keysWithoutValue: parsed.keysWithoutValue,
    mode,
  };
}

export function isDict(v: PlistValue | undefined): v is PlistDict {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date) && !(v instanceof Uint8Array);
}

const KEYS = new WeakMap<PlistDict, string[]>();

/**
 * The keys of a dict, in the file's order, listed once and remembered: a dict can hold 100,000s
 * of keys, and listing them is the costly part of a walk. Only for dicts that no longer change:
 * a file's own dicts, and the loaded tree once loading and `--set` are done (the rules).
 */
export function keysOf(d: PlistDict): string[] {
  let keys = KEYS.get(d);
  if (!keys) {
    keys = Object.keys(d);
    // Small dicts are listed again: remembering them would cost more than it saves.
    if (keys.length > 64) KEYS.set(d, keys);
  }
  return keys;
}
