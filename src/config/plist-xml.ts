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
    /** A limit of imip's own reader (see XmlSyntaxError.ownLimit), not a file the server fails on. */
    readonly ownLimit = false,
  ) {
    super(message);
    this.name = 'PlistSyntaxError';
  }
}

export interface ParsedPlist {
  value: PlistValue;
  /** Dotted key path (`Scheduling.iMIP.Sending.Port`) to the line of its `<key>`. */
  lines: KeyLines;
  /** Keys written twice in one dict: the later value wins, as in plistlib. */
  duplicates: { path: string; line: number; firstLine: number }[];
  /** Keys with no value after them: the server drops them silently. */
  keysWithoutValue: { path: string; line: number }[];
}

/**
 * imip's own bound on nesting (each level is a frame of work and a path to build). Python's
 * plistlib keeps its open containers in a list and has none, so past it the file is refused as
 * imip's limit, not as one the server fails on. A caldavd.plist is a few levels deep.
 */
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

/**
 * An open `<dict>` or `<array>`. Its dotted path is built only when a message needs it (a
 * duplicate key, a key without value): building one per key cost more than the parse.
 */
/** `lines`: the line of the dict's only key so far, or the lines of its keys once it has two. */
type Container = { value: PlistDict | PlistValue[]; parent: Container | null; key: string | number | null; lines: KeyLine | null };

/** The line of a dict's only key (no list kept for the most common dict), or the lines of all its keys. */
type KeyLine = number | DictLines;

function pathOf(c: Container | null): string {
  if (!c || c.key === null) return '';
  const parent = pathOf(c.parent);
  return typeof c.key === 'number' ? `${parent}[${c.key}]` : keyPath(parent, c.key);
}

/**
 * The lines of the keys of one dict, in the order written. Searched in that order (the last of
 * duplicates wins), and through a map once a large dict is asked often: most dicts are never
 * asked at all, so no map is built per key while parsing.
 */
class DictLines {
  private readonly keys: string[] = [];
  private readonly lines: number[] = [];
  private map: Map<string, number> | null = null;
  private asked = 0;
  /** A key was written twice: search from the end. */
  duplicated = false;

  add(key: string, line: number): void {
    this.keys.push(key);
    this.lines.push(line);
    this.map?.set(key, line);
  }

  /** Where the last search ended: findings ask in file order, so the next key is usually further on. */
  private cursor = 0;

  get(key: string): number | undefined {
    if (!this.map && (this.duplicated || ++this.asked > 256) && this.keys.length > 256) {
      this.map = new Map();
      for (let i = 0; i < this.keys.length; i++) this.map.set(this.keys[i]!, this.lines[i]!);
    }
    if (this.map) return this.map.get(key);
    if (this.duplicated) {
      const last = this.keys.lastIndexOf(key);
      return last < 0 ? undefined : this.lines[last];
    }
    let i = this.keys.indexOf(key, this.cursor);
    if (i < 0) i = this.keys.indexOf(key);
    if (i < 0) return undefined;
    this.cursor = i;
    return this.lines[i];
  }
}

/**
 * The line of every `<key>`, kept per dict (a map from key to line for each dict object), and
 * looked up by dotted path (`Scheduling.iMIP.Sending.Port`, `Includes`, `A[0].B`) only when a
 * finding asks: no path string is built per key.
 */
export class KeyLines {
  constructor(
    private readonly root: PlistValue | undefined,
    private readonly byDict: Map<PlistDict, KeyLine>,
  ) {}

  get(path: string): number | undefined {
    const last = resolvePath(this.root, path)?.at(-1);
    if (!last || typeof last.key !== 'string' || Array.isArray(last.parent)) return undefined;
    const lines = this.byDict.get(last.parent);
    // A single line: the dict has one key, the one just found.
    return typeof lines === 'number' ? lines : lines?.get(last.key);
  }
}

/** Every dict value and array of a parsed plist is a plain object or an Array. */
function isPlainDict(v: unknown): v is PlistDict {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date) && !(v instanceof Uint8Array);
}

const hasOwn = (o: object, k: string): boolean => Object.prototype.hasOwnProperty.call(o, k);

/** One step of a resolved path: the dict (or array) and the key (or index) taken in it. */
export interface PathStep {
  parent: PlistDict | PlistValue[];
  key: string | number;
}

/** Characters of split keys a path lookup may try before it gives up (a key can be megabytes of dots). */
const RESOLVE_BUDGET = 4_000_000;

/**
 * Where a dotted path (`a.b`, `a[2].b`) leads in a tree of dicts and arrays: the steps taken, the
 * last one naming the value. A key may itself hold dots or brackets: the whole rest is tried as one
 * key first, then each split point from the left. Undefined when the path leads nowhere (or the
 * lookup would cost more than {@link RESOLVE_BUDGET}).
 */
export function resolvePath(root: PlistValue | undefined, path: string): PathStep[] | undefined {
  let budget = RESOLVE_BUDGET;
  const steps: PathStep[] = [];
  const walk = (node: PlistValue | undefined, rest: string): boolean => {
    if (Array.isArray(node)) {
      const m = /^\[(\d+)\]/.exec(rest);
      if (!m) return false;
      const i = Number(m[1]);
      if (i >= node.length) return false;
      const after = rest.slice(m[0].length);
      steps.push({ parent: node, key: i });
      if (after === '') return true;
      if ((after[0] === '.' && walk(node[i], after.slice(1))) || (after[0] === '[' && walk(node[i], after))) return true;
      steps.pop();
      return false;
    }
    if (!isPlainDict(node) || rest === '') return false;
    // The whole rest as one key: once per level reached (at most the nesting depth).
    if (hasOwn(node, rest)) {
      steps.push({ parent: node, key: rest });
      return true;
    }
    for (let i = 0; i < rest.length; i++) {
      const c = rest.charCodeAt(i);
      if (c !== 0x2e && c !== 0x5b) continue; // '.' or '['
      budget -= i;
      if (budget < 0) return false;
      const k = rest.slice(0, i);
      if (!hasOwn(node, k)) continue;
      steps.push({ parent: node, key: k });
      if (walk(node[k], c === 0x2e ? rest.slice(i + 1) : rest.slice(i))) return true;
      steps.pop();
    }
    return false;
  };
  return walk(root, path) ? steps : undefined;
}

/** Parse the text of an XML plist. Throws PlistSyntaxError with a line number. */
export function parseXmlPlist(text: string): ParsedPlist {
  const tok = new XmlTokenizer(text);
  const byDict = new Map<PlistDict, KeyLine>();
  const duplicates: ParsedPlist['duplicates'] = [];
  const keysWithoutValue: ParsedPlist['keysWithoutValue'] = [];
  const stack: Container[] = [];
  const st: { key: { key: string; line: number; parent: Container | null } | null } = { key: null };
  let root: PlistValue | undefined;
  let data = '';
  /** Start-tag lines of the scalar elements open now. */
  const open: number[] = [];

  /** Add a value where it goes; returns the key (or index) it went under, null for the root. */
  const add = (v: PlistValue, line: number): string | number | null => {
    const top = stack[stack.length - 1];
    if (st.key !== null) {
      const { key } = st.key;
      if (!top) throw new PlistSyntaxError('a <key> outside any <dict>', line);
      if (Array.isArray(top.value)) throw new PlistSyntaxError('a <key> inside an <array>', st.key.line);
      // A key left without a value in an inner dict takes the next value of the outer one, as in plistlib.
      const dict = top.value;
      const lines = top.lines;
      const twice = hasOwn(dict, key);
      if (twice) {
        const firstLine = typeof lines === 'number' ? lines : lines?.get(key);
        duplicates.push({ path: keyPath(pathOf(top), key), line: st.key.line, firstLine: firstLine ?? st.key.line });
      }
      if (lines === null) {
        top.lines = st.key.line;
        byDict.set(dict, st.key.line);
      } else {
        let list = lines;
        if (typeof list === 'number') {
          // A second key: from now on a list (the first key is the dict's only one so far).
          list = new DictLines();
          list.add(Object.keys(dict)[0]!, lines as number);
          top.lines = list;
          byDict.set(dict, list);
        }
        if (twice) list.duplicated = true;
        list.add(key, st.key.line);
      }
      setKey(dict, key, v);
      st.key = null;
      return key;
    }
    if (!top) {
      root = v;
      return null;
    }
    if (!Array.isArray(top.value)) throw new PlistSyntaxError('a value without a <key> inside a <dict>', line);
    top.value.push(v);
    return top.value.length - 1;
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
          if (stack.length >= MAX_DEPTH) throw new PlistSyntaxError(`nesting deeper than ${MAX_DEPTH} levels`, t.line, true);
          const value: PlistDict | PlistValue[] = t.name === 'dict' ? {} : [];
          const parent = stack[stack.length - 1] ?? null;
          const key = add(value, t.line);
          if (!t.empty) stack.push({ value, parent, key, lines: null });
          continue;
        }
        if (t.empty) endElement(t.name, t.line);
        else open.push(t.line);
        continue;
      }
      if (t.name === 'dict' || t.name === 'array') {
        const top = stack[stack.length - 1];
        if (st.key && st.key.parent === top && t.name === 'dict') {
          keysWithoutValue.push({ path: keyPath(pathOf(top ?? null), st.key.key), line: st.key.line });
        }
        stack.pop();
        continue;
      }
      endElement(t.name, open.pop() ?? t.line);
    }
  } catch (e) {
    if (e instanceof XmlSyntaxError) throw new PlistSyntaxError(e.problem, e.line, e.ownLimit);
    throw e;
  }
  if (st.key) keysWithoutValue.push({ path: keyPath(pathOf(st.key.parent), st.key.key), line: st.key.line });
  if (root === undefined) throw new PlistSyntaxError('no value in the property list', tok.line);
  return { value: root, lines: new KeyLines(root, byDict), duplicates, keysWithoutValue };

  // ---- plistlib's end_* handlers -------------------------------------------------------------
  // (hoisted; `line` is the line of the element's start tag)
  function endElement(name: string, line: number): void {
    const raw = data;
    data = '';
    switch (name) {
      case 'key': {
        const top = stack[stack.length - 1];
        st.key = { key: raw, line, parent: top ?? null };
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
