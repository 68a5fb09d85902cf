/**
 * A reader for XML property lists that accepts and rejects what the server's reader does, and
 * remembers the line of every dictionary key, so a finding can point at `caldavd.plist:42`.
 *
 * The server (every release, Python 2.7) reads its config with `plistlib.readPlist`: expat for the
 * XML (our `xml-tokens.ts` checks the same well-formedness rules) and `plistlib.PlistParser` for
 * the values (CPython 2.7 `Lib/plistlib.py`, `PlistParser.handleBeginElement`/`handleEndElement`,
 * `addObject`, `end_integer`, `end_real`, `end_date`, `end_data`). Its rules, followed here:
 * - elements it has no handler for (including `<plist>` itself) are ignored;
 * - `<integer>` is Python 2 `int()`: decimal digits with an optional sign and spaces, nothing else
 *   (Python 3's plistlib also takes `0x1F` and `1_000`; the server does not);
 * - `<real>` is `float()` (`nan` and `inf` included), `<date>` must match `YYYY-MM-DD[THH[:MM[:SS]]]Z`;
 * - a `<key>` whose value never comes is dropped without an error (Python 3 rejects it), so the
 *   server starts without that setting: reported in `keysWithoutValue`;
 * - a value without a key inside `<dict>`, or a `<key>` inside `<array>`, is an error.
 */
import { XmlSyntaxError, XmlTokenizer } from './xml-tokens.js';

export type PlistValue = string | number | boolean | Date | Uint8Array | PlistValue[] | PlistDict;
export interface PlistDict {
  [key: string]: PlistValue;
}

export class PlistSyntaxError extends Error {
  constructor(
    /** The kind of problem; never the file's text. */
    message: string,
    readonly line: number,
  ) {
    super(message);
    this.name = 'PlistSyntaxError';
  }
}

export interface ParsedPlist {
  value: PlistValue;
  /** Dotted key path (`Scheduling.iMIP.Sending.Port`) to the line of its `<key>`. */
  lines: Map<string, number>;
  /** Keys written twice in one dict: the later value wins, as in plistlib. */
  duplicates: { path: string; line: number; firstLine: number }[];
  /** Keys with no value after them: the server drops them silently. */
  keysWithoutValue: { path: string; line: number }[];
}

const MAX_DEPTH = 64;
const INTEGER = /^[ \t\n\r\f\v]*[+-]?[0-9]+[ \t\n\r\f\v]*$/;
const REAL = /^[ \t\n\r\f\v]*[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|inf(?:inity)?|nan)[ \t\n\r\f\v]*$/i;
const DATE = /^(\d\d\d\d)(?:-(\d\d)(?:-(\d\d)(?:T(\d\d)(?::(\d\d)(?::(\d\d))?)?)?)?)?Z/;

function parseReal(raw: string): number | null {
  if (!REAL.test(raw)) return null;
  const s = raw.trim().toLowerCase().replace(/^\+/, '');
  if (/^-?inf/.test(s)) return s.startsWith('-') ? -Infinity : Infinity;
  if (/^-?nan$/.test(s)) return NaN;
  return Number(s);
}

function parseDate(raw: string): Date | null {
  const m = DATE.exec(raw);
  // `datetime.datetime(*fields)` needs at least year, month and day (2.7 `_dateFromString`).
  if (!m || m[3] === undefined) return null;
  const [y, mo, d, h, mi, s] = [m[1], m[2] ?? '1', m[3] ?? '1', m[4] ?? '0', m[5] ?? '0', m[6] ?? '0'].map(Number) as [number, number, number, number, number, number];
  const date = new Date(Date.UTC(y, mo - 1, d, h, mi, s));
  if (y < 1 || mo < 1 || mo > 12 || h > 23 || mi > 59 || s > 59 || date.getUTCDate() !== d) return null;
  date.setUTCFullYear(y);
  return date;
}

/** `binascii.a2b_base64`: characters outside the alphabet are skipped; bad padding is an error. */
function parseData(raw: string): Uint8Array | null {
  const clean = raw.replace(/[^A-Za-z0-9+/=]/g, '');
  const body = clean.replace(/=.*$/s, '');
  if (body.length % 4 === 1) return null;
  if (body.length % 4 !== 0 && clean.length - body.length < (4 - (body.length % 4)) % 4) return null;
  return new Uint8Array(Buffer.from(body, 'base64'));
}

type Container = { value: PlistDict | PlistValue[]; path: string };

/** Parse the text of an XML plist. Throws PlistSyntaxError with a line number. */
export function parseXmlPlist(text: string): ParsedPlist {
  const tok = new XmlTokenizer(text);
  const lines = new Map<string, number>();
  const duplicates: ParsedPlist['duplicates'] = [];
  const keysWithoutValue: ParsedPlist['keysWithoutValue'] = [];
  const stack: Container[] = [];
  const st: { key: { key: string; line: number; parent: Container } | null } = { key: null };
  let root: PlistValue | undefined;
  let data = '';
  /** Start-tag lines of the scalar elements open now. */
  const open: number[] = [];

  const add = (v: PlistValue, line: number): string => {
    const top = stack[stack.length - 1];
    if (st.key !== null) {
      const { key, parent } = st.key;
      if (!top) throw new PlistSyntaxError('a <key> outside any <dict>', line);
      if (Array.isArray(top.value)) throw new PlistSyntaxError('a <key> inside an <array>', st.key.line);
      // A key left without a value in an inner dict takes the next value of the outer one, as in plistlib.
      void parent;
      const path = keyPath(top.path, key);
      const dict = top.value;
      if (Object.prototype.hasOwnProperty.call(dict, key)) duplicates.push({ path, line: st.key.line, firstLine: lines.get(path) ?? st.key.line });
      lines.set(path, st.key.line);
      setKey(dict, key, v);
      st.key = null;
      return path;
    }
    if (!top) {
      root = v;
      return '';
    }
    if (!Array.isArray(top.value)) throw new PlistSyntaxError('a value without a <key> inside a <dict>', line);
    top.value.push(v);
    return `${top.path}[${top.value.length - 1}]`;
  };

  try {
    for (let t = tok.next(); t; t = tok.next()) {
      if (t.kind === 'text') {
        data += t.text;
        continue;
      }
      if (t.kind === 'open') {
        data = '';
        if (t.name === 'dict' || t.name === 'array') {
          if (stack.length >= MAX_DEPTH) throw new PlistSyntaxError(`nesting deeper than ${MAX_DEPTH} levels`, t.line);
          const value: PlistDict | PlistValue[] = t.name === 'dict' ? {} : [];
          const path = add(value, t.line);
          stack.push({ value, path });
          if (t.empty) stack.pop();
          continue;
        }
        if (t.empty) endElement(t.name, t.line);
        else open.push(t.line);
        continue;
      }
      if (t.name === 'dict' || t.name === 'array') {
        const top = stack[stack.length - 1];
        if (st.key && st.key.parent === top && t.name === 'dict') {
          keysWithoutValue.push({ path: keyPath(top.path, st.key.key), line: st.key.line });
        }
        stack.pop();
        continue;
      }
      endElement(t.name, open.pop() ?? t.line);
    }
  } catch (e) {
    if (e instanceof XmlSyntaxError) throw new PlistSyntaxError(e.problem, e.line);
    throw e;
  }
  if (st.key) keysWithoutValue.push({ path: keyPath(st.key.parent.path, st.key.key), line: st.key.line });
  if (root === undefined) throw new PlistSyntaxError('no value in the property list', tok.line);
  return { value: root, lines, duplicates, keysWithoutValue };

  // ---- plistlib's end_* handlers -------------------------------------------------------------
  // (hoisted; `line` is the line of the element's start tag)
  function endElement(name: string, line: number): void {
    const raw = data;
    data = '';
    switch (name) {
      case 'key': {
        const top = stack[stack.length - 1];
        st.key = { key: raw, line, parent: top ?? { value: [], path: '' } };
        return;
      }
      case 'string':
        add(raw, line);
        return;
      case 'true':
      case 'false':
        add(name === 'true', line);
        return;
      case 'integer':
        if (!INTEGER.test(raw)) throw new PlistSyntaxError('an <integer> that is not a whole number', line);
        add(Number(raw.trim()), line);
        return;
      case 'real': {
        const n = parseReal(raw);
        if (n === null) throw new PlistSyntaxError('a <real> that is not a number', line);
        add(n, line);
        return;
      }
      case 'date': {
        const d = parseDate(raw);
        if (!d) throw new PlistSyntaxError('a <date> that is not YYYY-MM-DDTHH:MM:SSZ', line);
        add(d, line);
        return;
      }
      case 'data': {
        const b = parseData(raw);
        if (!b) throw new PlistSyntaxError('a <data> block that is not valid base64', line);
        add(b, line);
        return;
      }
      default:
      // plistlib has no handler: the element is ignored.
    }
  }
}

function keyPath(parent: string, key: string): string {
  return parent ? `${parent}.${key}` : key;
}

/**
 * Set a key of a parsed dict. Plain assignment (defining thousands of properties one by one is
 * quadratic in V8); only `__proto__`, which assignment would not store as a key, is defined.
 */
export function setKey(dict: PlistDict, key: string, value: PlistValue): void {
  if (key === '__proto__') Object.defineProperty(dict, key, { value, enumerable: true, writable: true, configurable: true });
  else dict[key] = value;
}
