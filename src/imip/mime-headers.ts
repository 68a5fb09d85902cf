/**
 * RFC 5322 header blocks, RFC 2047 encoded words and RFC 2045/2231 parameters, read the way the
 * server's Python `email` package reads them where that matters (`inbound`, `processReply`:
 * `email.message_from_string`, `msg['To']` is the first `To` field, raw).
 * No dependencies; defensive against hostile input (bounded size, NUL bytes, bare LF).
 */
import { isUtf8 } from 'node:buffer';
import { bufferView } from './bytes.js';

/** Largest header block kept, per entity (message or body part). */
export const MAX_HEADER_BYTES = 1024 * 1024;

/**
 * The header fields of a message that its verdict and the reply checks read: all that the IMAP
 * reader fetches (BODY.PEEK[HEADER.FIELDS]). A parser that meets a header block past
 * MAX_HEADER_BYTES keeps these (and a part's Content-* fields) and drops the others, so a file or
 * a POP3 message is judged on the same fields as over IMAP.
 */
export const VERDICT_HEADER_FIELDS = [
  'DATE',
  'FROM',
  'TO',
  'CC',
  'MESSAGE-ID',
  'SUBJECT',
  'REPLY-TO',
  'DELIVERED-TO',
  'X-ORIGINAL-TO',
  'AUTO-SUBMITTED',
  'MIME-VERSION',
  'CONTENT-TYPE',
] as const;

/**
 * Whether two field names are the same to Python 2's `email.message` (`name.lower()` on both: A-Z
 * folded, every other character compared as it is), without a lower-cased copy of either: lookups
 * were a lower-cased copy of every name of every header block a poll reads.
 */
function sameName(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    if ((x | 0x20) !== (y | 0x20) || (x | 0x20) < 0x61 || (x | 0x20) > 0x7a) return false;
  }
  return true;
}

/** An ordered list of header fields; names compare case-insensitively, values are unfolded and raw. */
export class HeaderList {
  /**
   * The block was not UTF-8, so every value holds its bytes one per character (ISO-8859-1), as
   * Python 2's `msg[name]` holds them; set by whoever decoded the block.
   */
  latin1 = false;
  private fields: ReadonlyArray<readonly [string, string]>;

  constructor(fields: Iterable<readonly [string, string]> = []) {
    this.fields = [...fields].map(([n, v]) => [n, v] as const);
  }

  /** A list over fields nobody else holds (the parser's own): kept as they are, not copied. */
  static adopt(fields: Array<readonly [string, string]>): HeaderList {
    const list = new HeaderList();
    list.fields = fields;
    return list;
  }

  /** The first field's value, as Python's `msg[name]` gives it (encoded words left as sent). */
  get(name: string): string | undefined {
    for (const f of this.fields) if (sameName(f[0], name)) return f[1];
    return undefined;
  }

  /** Every value of the field, in message order. */
  getAll(name: string): string[] {
    const out: string[] = [];
    for (const f of this.fields) if (sameName(f[0], name)) out.push(f[1]);
    return out;
  }

  has(name: string): boolean {
    return this.get(name) !== undefined;
  }

  /** All fields, in message order, names as written. */
  entries(): Array<[string, string]> {
    return this.fields.map(([n, v]) => [n, v]);
  }

  get length(): number {
    return this.fields.length;
  }
}

/**
 * Where the colon of the header line `text[from, to)` is, when the line is a field to Python 2.7's
 * `headerRE` (a line starting with neither white space nor `From `): at least one name character
 * from `!` to `~` before it (3.x takes none). -1 when it is not.
 */
function headerColon(text: string, from: number, to: number): number {
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x3a) return i > from ? i : -1;
    if (c < 0x21 || c > 0x7e) return -1;
  }
  return -1;
}

/** The problem noted where a header block ends at a line that is not a header (after the part's label in a parse). */
export const HEADER_BLOCK_ENDED = 'header block ended by a line that is not a header';

/**
 * Python 2.7's feedparser `headerRE`: `^(From |[\041-\071\073-\176]{1,}:|[\t ])`. A line that does not
 * match ends the header block (it becomes the first body line, with a defect).
 */
export function isHeaderLine(line: string): boolean {
  if (line.startsWith('From ') || line.startsWith(' ') || line.startsWith('\t')) return true;
  return headerColon(line, 0, line.length) >= 0;
}

/**
 * {@link isHeaderLine} on a line's bytes (read as Latin-1), `line[from, to)`, without making a string
 * or a view of it: the raw parser asks it of every header line. Only the first 200 bytes are looked at.
 */
export function isHeaderLineBytes(line: Uint8Array, from = 0, to = line.length): boolean {
  const n = Math.min(to - from, 200);
  if (n <= 0) return false;
  const first = line[from]!;
  if (first === 0x20 || first === 0x09) return true;
  // "From " (an mbox separator).
  if (n >= 5 && first === 0x46 && line[from + 1] === 0x72 && line[from + 2] === 0x6f && line[from + 3] === 0x6d && line[from + 4] === 0x20) return true;
  for (let i = 0; i < n; i++) {
    const c = line[from + i]!;
    if (c === 0x3a) return i > 0;
    if (c < 0x21 || c > 0x7e) return false;
  }
  return false;
}

export interface HeaderBlock {
  headers: HeaderList;
  /** Where the header block stopped early: a line that is not a header (feedparser notes a defect). */
  stoppedAt: number | null;
}

/**
 * Parse a header block (text up to, not including, the empty line). Folded lines are unfolded
 * (the CRLF before the white space removed); a leading mbox `From ` line is skipped; NUL bytes are
 * kept; text beyond `maxBytes` is ignored. Anything odd is appended to `problems`.
 */
export function parseHeaderBlock(text: string, problems: string[] = [], maxBytes = MAX_HEADER_BYTES): HeaderList {
  return parseHeaderLines(text, problems, maxBytes).headers;
}

/** As {@link parseHeaderBlock}, also telling where a non-header line stopped the block. */
export function parseHeaderLines(text: string, problems: string[] = [], maxBytes = MAX_HEADER_BYTES): HeaderBlock {
  let src = text;
  if (src.length > maxBytes) {
    problems.push(`header block is larger than ${maxBytes} bytes; the rest was ignored`);
    src = src.slice(0, maxBytes);
  }
  // Python's feedparser keeps NUL bytes in header values, and so does this parser: a NUL inside
  // the To address or the Content-Type changes the token or the type the server sees. Shown in
  // human output as an escape (src/report/terminal-text.ts).
  if (src.includes('\0')) problems.push('NUL bytes in the header block (kept, as the server\'s Python keeps them)');
  const fields: Array<[string, string]> = [];
  let stoppedAt: number | null = null;
  // Line by line as `src.split(/\r?\n/)` cuts them (an LF ends a line, a CR before it goes with
  // it; the empty piece after a final LF is no line), read in place: only a field's name and value
  // become strings.
  for (let i = 0, pos = 0; pos < src.length; i++) {
    const lf = src.indexOf('\n', pos);
    const next = lf < 0 ? src.length : lf + 1;
    const end = lf < 0 ? src.length : lf > pos && src.charCodeAt(lf - 1) === 0x0d ? lf - 1 : lf;
    const from = pos;
    pos = next;
    if (end === from) {
      stoppedAt = i;
      break;
    }
    const first = src.charCodeAt(from);
    if (first === 0x46 && src.startsWith('From ', from)) {
      // mbox separator (Python's unixfrom) when first; elsewhere a misplaced one, skipped too.
      if (i > 0) problems.push('misplaced "From " line in the header block');
      continue;
    }
    if (first === 0x20 || first === 0x09) {
      const last = fields[fields.length - 1];
      if (last) last[1] += src.slice(from, end);
      else problems.push('header block starts with a continuation line');
      continue;
    }
    const colon = headerColon(src, from, end);
    if (colon < 0) {
      problems.push(`${HEADER_BLOCK_ENDED}: ${JSON.stringify(src.slice(from, Math.min(end, from + 60)))}`);
      stoppedAt = i;
      break;
    }
    let v = colon + 1;
    while (v < end && (src.charCodeAt(v) === 0x20 || src.charCodeAt(v) === 0x09)) v++;
    fields.push([src.slice(from, colon).trimEnd(), src.slice(v, end)]);
  }
  for (const f of fields) {
    const last = f[1].charCodeAt(f[1].length - 1);
    if (last === 0x0d || last === 0x0a) f[1] = f[1].replace(/[\r\n]+$/, '');
  }
  return { headers: HeaderList.adopt(fields), stoppedAt };
}

/** Decode header bytes: UTF-8 when valid (RFC 6532), otherwise ISO-8859-1, never throwing. */
export function headerBytesToString(bytes: Uint8Array): string {
  return decodeHeaderBytes(bytes).text;
}

/** {@link headerBytesToString}, saying whether the bytes were taken as ISO-8859-1 (not UTF-8). */
export function decodeHeaderBytes(bytes: Uint8Array): { text: string; latin1: boolean } {
  const view = bufferView(bytes);
  if (!isUtf8(view)) return { text: view.toString('latin1'), latin1: true };
  // As a UTF-8 TextDecoder reads it: a leading byte order mark is not part of the text.
  const start = view.length >= 3 && view[0] === 0xef && view[1] === 0xbb && view[2] === 0xbf ? 3 : 0;
  return { text: view.toString('utf8', start), latin1: false };
}

/** windows-1252 code points for 0x80–0x9F (undefined bytes keep their latin-1 value). */
const CP1252_HIGH = [
  0x20ac, 0x81, 0x201a, 0x192, 0x201e, 0x2026, 0x2020, 0x2021, 0x2c6, 0x2030, 0x160, 0x2039, 0x152, 0x8d, 0x17d, 0x8f,
  0x90, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014, 0x2dc, 0x2122, 0x161, 0x203a, 0x153, 0x9d, 0x17e, 0x178,
];

function decodeSingleByte(bytes: Uint8Array, cp1252: boolean): string {
  let out = '';
  for (const b of bytes) out += String.fromCharCode(cp1252 && b >= 0x80 && b <= 0x9f ? CP1252_HIGH[b - 0x80]! : b);
  return out;
}

/**
 * Decode bytes in a MIME charset; `null` when the charset is unknown. An RFC 2231 language
 * suffix (`utf-8*en`) is ignored. iso-8859-1 and us-ascii decode byte for byte (as Python's
 * codecs), windows-1252 with its own table (Node's TextDecoder treats it as latin-1); anything
 * else goes to TextDecoder.
 */
export function decodeCharset(bytes: Uint8Array, charset: string): string | null {
  const label = charset.replace(/\*.*$/, '').trim().toLowerCase() || 'us-ascii';
  if (['iso-8859-1', 'iso8859-1', 'latin1', 'latin-1', 'l1', 'us-ascii', 'ascii', 'iso_8859-1'].includes(label)) {
    return decodeSingleByte(bytes, false);
  }
  if (['windows-1252', 'cp1252', 'x-cp1252'].includes(label)) return decodeSingleByte(bytes, true);
  try {
    return new TextDecoder(label).decode(bytes);
  } catch {
    return null;
  }
}

function decodeQ(text: string): Buffer {
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '_') bytes.push(0x20);
    else if (c === '=' && /^[0-9a-fA-F]{2}$/.test(text.slice(i + 1, i + 3))) {
      bytes.push(parseInt(text.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(c.charCodeAt(0) & 0xff);
  }
  return Buffer.from(bytes);
}

/**
 * Python 2.7's `email.header.decode_header` (CPython 2.7 `Lib/email/header.py`): the encoded-word
 * pattern `ecre` (charset up to the first `?`, B or Q, text up to the first `?=`, then white space
 * or the end: Python 3 drops that last condition), line by line; unencoded text stripped and joined
 * with one space; adjacent encoded words of one charset joined as BYTES before any decoding, so a
 * UTF-8 character split across two words survives. Returns byte chunks with their charset
 * (`null` for unencoded text, kept as a string).
 */
const ECRE = /=\?([^?]*?)\?([qb])\?(.*?)\?=(?=[ \t]|$)/gim;

export type HeaderChunk = { text: string; charset: null } | { bytes: Buffer; charset: string; raw: string };

export function decodeHeader(header: string): HeaderChunk[] {
  ECRE.lastIndex = 0;
  if (!ECRE.test(header)) return [{ text: header, charset: null }];
  const out: HeaderChunk[] = [];
  for (const line of header.split(/\r\n|\r|\n/)) {
    ECRE.lastIndex = 0;
    if (!ECRE.test(line)) {
      out.push({ text: line, charset: null });
      continue;
    }
    let last = 0;
    const addPlain = (raw: string): void => {
      const unenc = raw.trim();
      if (!unenc) return;
      const prev = out[out.length - 1];
      if (prev && prev.charset === null) prev.text += ` ${unenc}`;
      else out.push({ text: unenc, charset: null });
    };
    ECRE.lastIndex = 0;
    for (const m of line.matchAll(ECRE)) {
      addPlain(line.slice(last, m.index));
      last = m.index + m[0].length;
      const charset = m[1]!.toLowerCase();
      let encoded = m[3]!;
      let dec: Buffer;
      if (m[2]!.toLowerCase() === 'q') dec = decodeQ(encoded);
      else {
        const pad = encoded.length % 4;
        if (pad) encoded += '==='.slice(0, 4 - pad);
        dec = Buffer.from(encoded, 'base64');
      }
      const prev = out[out.length - 1];
      if (prev && prev.charset === charset) {
        prev.bytes = Buffer.concat([prev.bytes, dec]);
        prev.raw += ` ${m[0]}`;
      } else out.push({ bytes: dec, charset, raw: m[0] });
    }
    addPlain(line.slice(last));
  }
  return out;
}

/**
 * A header's text as Python 2.7 gives it: `unicode(make_header(decode_header(value)))`, a space
 * added where encoded and unencoded chunks meet (`Header.__unicode__`). A chunk in a charset this
 * cannot decode is left as written (Python 2.7 raises LookupError there). Bounded by the header's own length.
 */
export function decodeWords(text: string): string {
  if (!text.includes('=?')) return text;
  let out = '';
  let lastcs: string | null = null;
  let first = true;
  for (const chunk of decodeHeader(text)) {
    let nextcs: string | null = chunk.charset;
    const plain = nextcs === null || nextcs === 'us-ascii';
    if (!first) {
      if (lastcs !== null && lastcs !== 'us-ascii') {
        if (plain) {
          out += ' ';
          nextcs = null;
        }
      } else if (!plain) out += ' ';
    }
    first = false;
    lastcs = nextcs;
    out += chunk.charset === null ? chunk.text : (decodeCharset(chunk.bytes, chunk.charset) ?? chunk.raw);
  }
  return out;
}

export interface ParsedParams {
  /** The value before the first `;`, trimmed, as written (callers lower-case what they need). */
  value: string;
  /** Lower-case names; RFC 2231 continuations joined and decoded; RFC 2047 words decoded. */
  params: Record<string, string>;
}

/**
 * Split on `;` outside quoted strings. Each piece is the text between two such semicolons, as
 * written (a backslash and the character after it stay), cut with slice rather than built a
 * character at a time: this runs for every part of every message a poll reads.
 */
function splitSemicolons(value: string): string[] {
  const out: string[] = [];
  let start = 0;
  let quoted = false;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (quoted && c === 0x5c /* \ */ && i + 1 < value.length) {
      i++;
      continue;
    }
    if (c === 0x22 /* " */) quoted = !quoted;
    else if (c === 0x3b /* ; */ && !quoted) {
      out.push(value.slice(start, i));
      start = i + 1;
    }
  }
  out.push(value.slice(start));
  return out;
}

function unquote(raw: string): string {
  const v = raw.trim();
  if (v.charCodeAt(0) !== 0x22) return v;
  // Quoted (an unterminated quote runs to the end); a backslash quotes the character after it.
  const inner = v.length >= 2 && v.endsWith('"') ? v.slice(1, -1) : v.slice(1);
  return inner.includes('\\') ? inner.replace(/\\(.)/g, '$1') : inner;
}

function percentBytes(text: string): number[] {
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '%' && /^[0-9a-fA-F]{2}$/.test(text.slice(i + 1, i + 3))) {
      bytes.push(parseInt(text.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(text.charCodeAt(i) & 0xff);
  }
  return bytes;
}

interface Segment {
  index: number;
  extended: boolean;
  text: string;
}

const UNSAFE_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/** Join RFC 2231 segments (`name*0`, `name*1*`, `name*`) into one decoded value. */
function joinSegments(segments: Segment[]): string {
  segments.sort((a, b) => a.index - b.index);
  let charset = 'us-ascii';
  const bytes: number[] = [];
  segments.forEach((s, i) => {
    let text = s.text;
    if (s.extended && i === 0) {
      const m = /^([^']*)'[^']*'(.*)$/s.exec(text);
      if (m) {
        charset = m[1] || 'us-ascii';
        text = m[2]!;
      }
    }
    if (s.extended) bytes.push(...percentBytes(text));
    else bytes.push(...Buffer.from(text, 'utf8'));
  });
  const buf = Buffer.from(bytes);
  return decodeCharset(buf, charset) ?? buf.toString('latin1');
}

/**
 * C `isspace` in the C locale, Python 2's white space for `strip()`, `split()`, `int()` on a byte
 * string: space, \t, \n, \v, \f, \r (a no-break space is not), as a character code or byte.
 */
export function isPySpaceCode(c: number): boolean {
  return c === 32 || (c >= 9 && c <= 13);
}

/** Python 2's `str.strip()`: ASCII white space only (a no-break space is not white space to it). */
export function pyStrip(s: string): string {
  let start = 0;
  let end = s.length;
  while (start < end && isPySpaceCode(s.charCodeAt(start))) start++;
  while (end > start && isPySpaceCode(s.charCodeAt(end - 1))) end--;
  return start === 0 && end === s.length ? s : s.slice(start, end);
}

/** Python 2's `str.lstrip()`. */
export function pyLstrip(s: string): string {
  let start = 0;
  while (start < s.length && isPySpaceCode(s.charCodeAt(start))) start++;
  return start === 0 ? s : s.slice(start);
}

/** Python 2's `str.rstrip()`. */
function pyRstrip(s: string): string {
  let end = s.length;
  while (end > 0 && isPySpaceCode(s.charCodeAt(end - 1))) end--;
  return end === s.length ? s : s.slice(0, end);
}

const NON_ASCII = /[\u0080-\uffff]/;

/** Whether every character of `s` is ASCII: then JavaScript's case mapping is Python 2's. */
export function isAscii(s: string): boolean {
  // A regular expression (native code) rather than a loop over the characters: two to ten times
  // faster on the calendar lines and header values a poll asks this of, optimised or not.
  return !NON_ASCII.test(s);
}

/** Python 2's `str.upper()`: a-z only (the other bytes, UTF-8 pieces, stay as they are). */
export function pyUpper(s: string): string {
  return isAscii(s) ? s.toUpperCase() : s.replace(/[a-z]+/g, (m) => m.toUpperCase());
}

/** Python 2's `str.lower()`: A-Z only. */
export function pyLower(s: string): string {
  return isAscii(s) ? s.toLowerCase() : s.replace(/[A-Z]+/g, (m) => m.toLowerCase());
}

/** Python 2.7 `email.utils.unquote`: one pair of `"..."` (with `\\` and `\"` undone) or `<...>`. */
function pyUnquote(s: string): string {
  if (s.length > 1) {
    if (s.startsWith('"') && s.endsWith('"')) return s.slice(1, -1).replace(/\\\\/g, '\\').replace(/\\"/g, '"');
    if (s.startsWith('<') && s.endsWith('>')) return s.slice(1, -1);
  }
  return s;
}

const BOUNDARY_NAME = /boundary/i;

/**
 * The multipart boundary as the server's Python 2.7 reads it from a Content-Type value
 * (`Message.get_boundary`): the parameters split by `_parseparam` (a `;` inside an odd number of
 * quotes does not split), the first plain `boundary` wins, its value unquoted by
 * `get_param` and again by `collapse_rfc2231_value` (an unterminated quote stays, `<b>` is
 * `b`), then trailing white space stripped. `undefined` when there is no plain `boundary`
 * parameter (an RFC 2231 `boundary*` is left to {@link parseParams}).
 */
export function pythonBoundary(contentType: string): string | undefined {
  // Only a parameter named `boundary` in some ASCII case is one (Python's lower() maps A-Z only,
  // and a non-ASCII letter never matches an ASCII one under /i without the u flag).
  if (!BOUNDARY_NAME.test(contentType)) return undefined;
  const s = `;${contentType}`;
  let first = true;
  // `_parseparam` slices the rest after each `;` and counts quotes from its start; the counts are
  // kept as the end moves instead (Python's recount is quadratic on a hostile header).
  for (let at = 0; s.charCodeAt(at) === 0x3b; ) {
    const from = at + 1;
    let quotes = 0;
    let escaped = 0;
    let scanned = from;
    const oddQuotes = (end: number): boolean => {
      for (; scanned < end; scanned++) {
        if (s.charCodeAt(scanned) !== 0x22) continue;
        quotes++;
        if (scanned > from && s.charCodeAt(scanned - 1) === 0x5c) escaped++;
      }
      return (quotes - escaped) % 2 === 1;
    };
    let end = s.indexOf(';', from);
    while (end > from && oddQuotes(end)) end = s.indexOf(';', end + 1);
    if (end < 0) end = s.length;
    const f = s.slice(from, end);
    at = end;
    if (first) {
      first = false; // the type itself
      continue;
    }
    const eq = f.indexOf('=');
    if (eq < 0) continue;
    if (pyLower(pyStrip(f.slice(0, eq))) !== 'boundary') continue;
    return pyRstrip(pyUnquote(pyUnquote(pyStrip(f.slice(eq + 1)))));
  }
  return undefined;
}

/**
 * Parse `value; name=token; name="quoted"; name*=utf-8''%E2%82%AC; name*0*=...` into the value and
 * its parameters. Never throws; garbage parameters are skipped.
 */
export function parseParams(header: string): ParsedParams {
  const pieces = splitSemicolons(header);
  const acc = new ParamAccumulator();
  for (let i = 1; i < pieces.length; i++) {
    const item = pieces[i]!;
    const eq = item.indexOf('=');
    if (eq <= 0) continue;
    acc.add(item.slice(0, eq).trim().toLowerCase(), unquote(item.slice(eq + 1)));
  }
  return { value: pyStrip(pieces[0]!), params: acc.result() };
}

/**
 * Parameters already split into names and (unquoted) values, such as an IMAP BODYSTRUCTURE's
 * lists: the same result as {@link parseParams} on a header that quotes each value, without
 * writing and re-reading that header.
 */
export function paramsFromPairs(pairs: ReadonlyArray<readonly [string, string]>): Record<string, string> {
  const acc = new ParamAccumulator();
  for (const [name, value] of pairs) acc.add(name.toLowerCase(), value);
  return acc.result();
}

/** One parameter at a time: the first plain value of a name wins; RFC 2231 segments are joined at the end. */
class ParamAccumulator {
  private readonly plain: Record<string, string> = {};
  private segmented: Map<string, Segment[]> | null = null;

  add(rawName: string, text: string): void {
    const star = rawName.indexOf('*');
    const m = star < 0 ? null : /^([^*]+)\*(?:(\d{1,3})(\*)?)?$/.exec(rawName);
    const base = m ? m[1]! : rawName;
    if (!base || UNSAFE_KEYS.has(base)) return;
    if (m) {
      const index = m[2] === undefined ? 0 : Number(m[2]);
      const extended = m[2] === undefined ? true : m[3] === '*';
      this.segmented ??= new Map();
      const list = this.segmented.get(base) ?? [];
      list.push({ index, extended, text });
      this.segmented.set(base, list);
    } else if (!Object.hasOwn(this.plain, base)) {
      this.plain[base] = decodeWords(text);
    }
  }

  result(): Record<string, string> {
    if (this.segmented) for (const [name, segments] of this.segmented) this.plain[name] = joinSegments(segments);
    return this.plain;
  }
}
