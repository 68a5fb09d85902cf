/**
 * IMAP server responses, read straight from the bytes (RFC 3501 §7, §9 formal syntax), for the
 * poll's FETCH pipeline. Small on purpose: it splits the byte stream into whole responses (a line,
 * plus the literals `{n}` it announces, plus the rest of the line after each literal) and parses a
 * FETCH response into plain values. Everything else (status lines, EXISTS...) is handed over as a
 * tag and a line of text.
 *
 * Why not imapflow's parser: it builds a token tree for every response, then a generic message
 * object (ENVELOPE, dates, decoded words), which was a third of the poll's CPU; the verdict only
 * needs a few fields. Literals are sliced by their announced length, never scanned.
 */

/** A parsed value: atom or quoted string, literal bytes, NIL, or a parenthesised list. */
export type WireValue = string | Buffer | null | WireValue[];

/** One complete server response. */
export interface WireResponse {
  /** `*`, `+` or the command's tag. */
  tag: string;
  /** `* 12 FETCH (...)`: the message number; otherwise undefined. */
  fetchSeq?: number;
  /** FETCH: the attribute list, `[name, value, name, value, ...]` (names upper-cased). */
  fetch?: WireValue[];
  /** Anything else: the text after the tag (`OK [READ-ONLY] done`, `3 EXISTS`). */
  text?: string;
  /** A list nested deeper than the parser goes was skipped (read as NIL). */
  cut?: boolean;
}

const LF = 0x0a;
const CR = 0x0d;
const SP = 0x20;
const LPAREN = 0x28;
const RPAREN = 0x29;
const DQUOTE = 0x22;
const BACKSLASH = 0x5c;
const LBRACE = 0x7b;
const RBRACE = 0x7d;
const LBRACKET = 0x5b;
const RBRACKET = 0x5d;
const TILDE = 0x7e;

/**
 * Deepest list nesting parsed. A list deeper than this is skipped whole (scanned, not parsed) and
 * read as NIL, and the response says so ({@link WireResponse.cut}): one message whose MIME parts
 * nest deeper than the tool follows is judged on the parts above, and the FETCH of every other
 * message goes on. 256 is well past what the part tree keeps (100 levels, mime-bodystructure.ts)
 * and Dovecot's own limit on nested MIME parts (100), and the recursion stays shallow.
 */
const MAX_LIST_DEPTH = 256;
/** Largest literal accepted in one response (the part fetches are capped well below). */
export const MAX_LITERAL = 64 * 1024 * 1024;

export class WireError extends Error {}

/**
 * Splits a byte stream into responses. Chunks are only concatenated when a response spans them,
 * and only once enough bytes for the awaited literal have arrived (no quadratic copying).
 */
export class ResponseSplitter {
  private buf: Buffer = Buffer.alloc(0);
  private pending: Buffer[] = [];
  private pendingLength = 0;
  /** Bytes (from the start of `buf`) needed before scanning again. */
  private want = 1;
  /** Where in `buf` to look for the next line end (after literals already skipped). */
  private scan = 0;

  constructor(private readonly onResponse: (raw: Buffer) => void) {}

  push(chunk: Buffer): void {
    this.pending.push(chunk);
    this.pendingLength += chunk.length;
    if (this.buf.length + this.pendingLength < this.want) return;
    const rest = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingLength);
    this.pending = [];
    this.pendingLength = 0;
    // A response cut by the previous chunk is completed with as few of the new bytes as will do
    // (up to a line end past what it still needs), so only that response is copied; the rest of
    // the chunk is read where it lies. Copying the leftover and the whole chunk together cost a
    // copy of every byte of a long FETCH.
    let from = 0;
    while (this.buf.length > 0 && from < rest.length) {
      const need = Math.max(1, this.want - this.buf.length);
      const lf = rest.indexOf(LF, from + need - 1);
      const upto = lf < 0 ? rest.length : lf + 1;
      this.buf = Buffer.concat([this.buf, rest.subarray(from, upto)], this.buf.length + upto - from);
      from = upto;
      this.drain();
    }
    if (from < rest.length) {
      this.buf = from === 0 ? rest : rest.subarray(from);
      this.drain();
    }
  }

  private drain(): void {
    const buf = this.buf;
    let start = 0;
    let scan = this.scan;
    for (;;) {
      const lf = buf.indexOf(LF, scan);
      if (lf < 0) {
        this.want = buf.length - start + 1;
        break;
      }
      // A line ending in {n} (or {n+}, ~{n}) announces n bytes of literal after the CRLF.
      let e = lf - 1;
      if (e >= 0 && buf[e] === CR) e--;
      if (e >= 0 && buf[e] === RBRACE) {
        let d = e - 1;
        if (buf[d] === 0x2b) d--; // LITERAL+
        let n = 0;
        let mul = 1;
        let digits = 0;
        while (d >= start && buf[d]! >= 0x30 && buf[d]! <= 0x39) {
          n += (buf[d]! - 0x30) * mul;
          mul *= 10;
          d--;
          digits++;
        }
        if (digits > 0 && buf[d] === LBRACE) {
          if (n > MAX_LITERAL) throw new WireError(`the server announced a literal of ${n} bytes`);
          const end = lf + 1 + n;
          if (end > buf.length) {
            this.want = end - start + 1;
            break;
          }
          scan = end;
          continue;
        }
      }
      this.onResponse(buf.subarray(start, lf + 1));
      start = lf + 1;
      scan = start;
    }
    this.buf = start >= buf.length ? Buffer.alloc(0) : buf.subarray(start);
    this.scan = scan - start;
  }
}

/**
 * Parse one response as the splitter gives it. With `deferStructure`, a FETCH's BODYSTRUCTURE list
 * is stepped over rather than parsed and given as its bytes (a Buffer, which a BODYSTRUCTURE
 * never is otherwise), for {@link parseStructure} to parse if it is needed: the poll reads most
 * messages whole and never looks at their structure, and parsing it was most of the parse of the
 * structure FETCH (a string for every atom of every part).
 */
export function parseResponse(raw: Buffer, deferStructure = false): WireResponse {
  let i = 0;
  while (i < raw.length && raw[i] !== SP && raw[i] !== CR && raw[i] !== LF) i++;
  const tag = raw.toString('latin1', 0, i);
  if (tag === '*') {
    // `* <n> FETCH (` ?
    let j = i + 1;
    let n = 0;
    let digits = 0;
    while (j < raw.length && raw[j]! >= 0x30 && raw[j]! <= 0x39) {
      n = n * 10 + (raw[j]! - 0x30);
      j++;
      digits++;
    }
    if (digits && raw[j] === SP && (raw[j + 1]! | 0x20) === 0x66 && (raw[j + 2]! | 0x20) === 0x65 && (raw[j + 3]! | 0x20) === 0x74 && (raw[j + 4]! | 0x20) === 0x63 && (raw[j + 5]! | 0x20) === 0x68 && raw[j + 6] === SP) {
      const p = new Parser(raw, j + 7, deferStructure);
      const v = p.value(0);
      if (!Array.isArray(v)) throw new WireError('a FETCH response without its attribute list');
      for (let k = 0; k < v.length; k += 2) if (typeof v[k] === 'string') v[k] = (v[k] as string).toUpperCase();
      return { tag, fetchSeq: n, fetch: v, ...(p.cut ? { cut: true } : {}) };
    }
  }
  let end = raw.length;
  while (end > i && (raw[end - 1] === LF || raw[end - 1] === CR)) end--;
  return { tag, text: raw.toString('utf8', Math.min(i + 1, end), end) };
}

/**
 * A BODYSTRUCTURE given as its bytes ({@link parseResponse} with `deferStructure`), parsed as it
 * would have been in its place: a value of the attribute list (depth 1), and whether a list in it
 * nested past {@link MAX_LIST_DEPTH} was skipped.
 */
export function parseStructure(bytes: Buffer): { value: WireValue; cut: boolean } {
  const p = new Parser(bytes, 0, false);
  const value = p.value(1);
  return { value, cut: p.cut };
}

class Parser {
  /** A list past {@link MAX_LIST_DEPTH} was skipped. */
  cut = false;

  constructor(
    private readonly b: Buffer,
    private i: number,
    private readonly deferStructure: boolean,
  ) {}

  value(depth: number): WireValue {
    const b = this.b;
    while (b[this.i] === SP) this.i++;
    const c = b[this.i];
    if (c === undefined || c === CR || c === LF) throw new WireError('a FETCH response ended early');
    if (c === LPAREN) {
      if (depth >= MAX_LIST_DEPTH) {
        this.skipList();
        this.cut = true;
        return null;
      }
      this.i++;
      const list: WireValue[] = [];
      for (;;) {
        while (b[this.i] === SP) this.i++;
        if (b[this.i] === RPAREN) {
          this.i++;
          return list;
        }
        // The attribute list of a FETCH: its BODYSTRUCTURE kept as bytes (see parseResponse).
        if (depth === 0 && this.deferStructure && list.length % 2 === 1 && b[this.i] === LPAREN && isBodyStructure(list[list.length - 1])) {
          const start = this.i;
          this.skipList();
          list.push(b.subarray(start, this.i));
          continue;
        }
        list.push(this.value(depth + 1));
      }
    }
    if (c === DQUOTE) return this.quoted();
    if (c === LBRACE || (c === TILDE && b[this.i + 1] === LBRACE)) return this.literal();
    return this.atom();
  }

  /**
   * Past the list that starts here, however deep, without recursion: parentheses are counted,
   * quoted strings and literals stepped over (a parenthesis inside them is text).
   */
  private skipList(): void {
    const b = this.b;
    let open = 0;
    while (this.i < b.length) {
      const c = b[this.i];
      if (c === LPAREN) {
        open++;
        this.i++;
      } else if (c === RPAREN) {
        this.i++;
        if (--open === 0) return;
      } else if (c === DQUOTE) this.skipQuoted();
      else if (c === LBRACE || (c === TILDE && b[this.i + 1] === LBRACE)) this.literal();
      else if (c === CR || c === LF) throw new WireError('a FETCH response ended early');
      else this.i++;
    }
    throw new WireError('a FETCH response ended early');
  }

  /** Past a quoted string, as {@link quoted} reads it, without making it a string. */
  private skipQuoted(): void {
    const b = this.b;
    for (this.i++; this.i < b.length; this.i++) {
      const c = b[this.i];
      if (c === BACKSLASH) this.i++;
      else if (c === DQUOTE) break;
      else if (c === CR || c === LF) throw new WireError('a quoted string crosses a line end');
    }
    if (this.i >= b.length) throw new WireError('an unterminated quoted string');
    this.i++;
  }

  private quoted(): string {
    const b = this.b;
    const start = ++this.i;
    let escaped = false;
    for (; this.i < b.length; this.i++) {
      const c = b[this.i];
      if (c === BACKSLASH) {
        escaped = true;
        this.i++;
        continue;
      }
      if (c === DQUOTE) break;
      if (c === CR || c === LF) throw new WireError('a quoted string crosses a line end');
    }
    if (this.i >= b.length) throw new WireError('an unterminated quoted string');
    let s = b.toString('utf8', start, this.i);
    this.i++;
    if (escaped) s = s.replace(/\\(.)/g, '$1');
    return s;
  }

  private literal(): Buffer {
    const b = this.b;
    if (b[this.i] === TILDE) this.i++;
    this.i++;
    let n = 0;
    while (b[this.i]! >= 0x30 && b[this.i]! <= 0x39) n = n * 10 + (b[this.i++]! - 0x30);
    if (b[this.i] === 0x2b) this.i++;
    if (b[this.i] !== RBRACE) throw new WireError('a malformed literal');
    this.i++;
    if (b[this.i] === CR) this.i++;
    if (b[this.i] !== LF) throw new WireError('a malformed literal');
    this.i++;
    const start = this.i;
    this.i += n;
    if (this.i > b.length) throw new WireError('a literal longer than its response');
    return b.subarray(start, this.i);
  }

  /** An atom, NIL, a number, or a section name such as `BODY[HEADER.FIELDS (DATE FROM)]<0>`. */
  private atom(): string | null {
    const b = this.b;
    const start = this.i;
    for (; this.i < b.length; this.i++) {
      const c = b[this.i]!;
      if (c === LBRACKET) {
        const close = b.indexOf(RBRACKET, this.i);
        if (close < 0) throw new WireError('an unterminated section name');
        this.i = close;
        continue;
      }
      if (c === SP || c === LPAREN || c === RPAREN || c === CR || c === LF) break;
    }
    if (this.i === start) throw new WireError(`an unexpected character "${String.fromCharCode(b[this.i]!)}"`);
    const len = this.i - start;
    if (len === 3 && (b[start]! | 0x20) === 0x6e && (b[start + 1]! | 0x20) === 0x69 && (b[start + 2]! | 0x20) === 0x6c) return null;
    return b.toString('latin1', start, this.i);
  }
}

function isBodyStructure(v: WireValue | undefined): boolean {
  return typeof v === 'string' && v.length === 13 && v.toUpperCase() === 'BODYSTRUCTURE';
}

/** A wire value as text (atoms, strings, literals); NIL and lists give null. */
export function wireText(v: WireValue | undefined): string | null {
  if (typeof v === 'string') return v;
  if (Buffer.isBuffer(v)) return v.toString('utf8');
  return null;
}
