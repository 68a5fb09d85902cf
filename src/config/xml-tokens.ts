/**
 * One XML tokenizer for the two XML files the server reads: the plist (`caldavd.plist` and its
 * includes, read by Python's `plistlib` on top of expat) and the XML accounts directory. It checks
 * what expat checks for well-formedness, so a file this rejects is one the server cannot read:
 *
 * - `&` must start `&name;`, `&#N;` or `&#xH;`; a character reference must name a character XML
 *   allows (so `&#0;` and `&#x110000;` are errors, not crashes);
 * - raw control characters (other than tab, line feed and carriage return) are not allowed;
 * - `]]>` may not appear in text, `--` may not appear inside a comment;
 * - tags nest and match, attribute values are quoted and hold no `<`, an attribute is not repeated;
 * - one root element; before and after it only comments, processing instructions and spaces; the
 *   XML declaration only at the very start.
 * - An entity that is not one of the five predefined ones: expat skips it (it expands to nothing)
 *   when the document names an external DTD (as every plist does with its DOCTYPE), and rejects
 *   it otherwise.
 *
 * Errors name the line and the kind of problem, never the file's text: a file that could not be
 * parsed may hold a password anywhere.
 */

export class XmlSyntaxError extends Error {
  constructor(
    /** The kind of problem, without any of the file's text. */
    readonly problem: string,
    readonly line: number,
    /** A limit of imip's own reader, not an XML error: Python's expat (the server's plistlib) reads it. */
    readonly ownLimit = false,
  ) {
    super(`${problem} (line ${line})`);
    this.name = 'XmlSyntaxError';
  }
}

export type XmlToken =
  | { kind: 'open'; name: string; attrs: Record<string, string>; empty: boolean; line: number }
  | { kind: 'close'; name: string; line: number }
  /** Character data between tags, references decoded, CDATA included. */
  | { kind: 'text'; text: string; line: number };

/** The attributes of a tag that has none: one shared object, not one per tag (read only). */
const NO_ATTRS: Record<string, string> = Object.freeze({});
const PREDEFINED: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };
// XML 1.0 `Char`: what may appear as a character, raw or by reference.
const BAD_CHAR = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u;
const NAME = /[A-Za-z_:\u00C0-\uFFFF][\w.:\u00B7\u00C0-\uFFFF-]*/y;
const SPACE = /[ \t\r\n]*/y;
/** One reference, at a given '&' (sticky): `&#xH;`, `&#N;`, `&name;`, or a bare '&' (the group is optional). */
const REF_AT = /&(?:#x([0-9a-fA-F]+);|#([0-9]+);|([A-Za-z_:][\w.:-]*);)?/y;

/** A name shown in a message: element names only, short, nothing that could be a secret's text. */
export function shownName(name: string): string {
  return name.length > 24 ? `${name.slice(0, 24)}…` : name;
}

export class XmlTokenizer {
  private pos = 0;
  private lineNo = 1;
  private readonly stack: string[] = [];
  private rootSeen = false;
  private rootClosed = false;
  /** A DOCTYPE with an external identifier: undefined entities are skipped, as expat does. */
  private externalDtd = false;
  private pending: XmlToken | null = null;

  constructor(private readonly text: string) {
    if (text.charCodeAt(0) === 0xfeff) this.pos = 1;
  }

  get line(): number {
    return this.lineNo;
  }

  /** Elements still open (innermost last). */
  get depth(): number {
    return this.stack.length;
  }

  private fail(problem: string, line = this.lineNo): never {
    throw new XmlSyntaxError(problem, line);
  }

  /** The first line feed at or after `pos` (-1: none): kept, so that counting lines stays linear on a one-line file. */
  private nl = -2;

  private advance(to: number): void {
    const t = this.text;
    if (this.nl === -2 || (this.nl >= 0 && this.nl < this.pos)) this.nl = t.indexOf('\n', this.pos);
    while (this.nl >= 0 && this.nl < to) {
      this.lineNo++;
      this.nl = t.indexOf('\n', this.nl + 1);
    }
    this.pos = to;
  }

  /** Decode references in a run of text or an attribute value; check every character. */
  private decode(raw: string, line: number, where: 'text' | 'attribute'): string {
    const bad = BAD_CHAR.exec(raw);
    if (bad) this.fail(`a control character (U+${bad[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}) that XML does not allow`, line + countLines(raw, bad.index));
    if (where === 'text') {
      const cdataEnd = raw.indexOf(']]>');
      if (cdataEnd >= 0) this.fail('"]]>" in text (write "]]&gt;")', line + countLines(raw, cdataEnd));
    }
    let amp = raw.indexOf('&');
    if (amp < 0) return raw;
    // One reference at a time, from one '&' to the next (a replace with a callback per
    // reference cost more than the rest of the tokenizer on a file of 100,000s of them).
    let out = '';
    let from = 0;
    while (amp >= 0) {
      REF_AT.lastIndex = amp;
      const m = REF_AT.exec(raw)!;
      out += raw.slice(from, amp) + this.reference(m, raw, amp, line, where);
      from = amp + m[0].length;
      amp = raw.indexOf('&', from);
    }
    return out + raw.slice(from);
  }

  /** The text of one reference (`m` matched {@link REF_AT} at `offset`). */
  private reference(m: RegExpExecArray, raw: string, offset: number, line: number, where: 'text' | 'attribute'): string {
    const [whole, hex, dec, name] = m;
    if (whole.length === 1) this.fail('a bare "&" that does not start an entity (write "&amp;")', line + countLines(raw, offset));
    if (name !== undefined) {
      // Own keys only: `&constructor;` is an undefined entity, not Object's constructor.
      const v = Object.prototype.hasOwnProperty.call(PREDEFINED, name) ? PREDEFINED[name] : undefined;
      if (v !== undefined) return v;
      if (!this.externalDtd || where === 'attribute') this.fail(`the undefined entity "&${shownName(name)};"`, line + countLines(raw, offset));
      return '';
    }
    const code = hex !== undefined ? parseInt(hex, 16) : parseInt(dec!, 10);
    const ch = code <= 0x10ffff ? String.fromCodePoint(code) : '';
    if (!ch || BAD_CHAR.test(ch) || (code >= 0xd800 && code <= 0xdfff)) this.fail('a reference to a character number XML does not allow', line + countLines(raw, offset));
    return ch;
  }

  /** Put a token back (one only). */
  pushBack(t: XmlToken): void {
    this.pending = t;
  }

  /** The next token, or null at the end of a well-formed document. */
  next(): XmlToken | null {
    if (this.pending) {
      const t = this.pending;
      this.pending = null;
      return t;
    }
    const t = this.text;
    for (;;) {
      if (this.pos >= t.length) {
        if (this.stack.length) this.fail(`the file ends inside <${shownName(this.stack[this.stack.length - 1]!)}>`);
        if (!this.rootSeen) this.fail('no root element: the file is not XML');
        return null;
      }
      const lt = t.indexOf('<', this.pos);
      const end = lt < 0 ? t.length : lt;
      if (end > this.pos) {
        const line = this.lineNo;
        const raw = t.slice(this.pos, end);
        this.advance(end);
        if (!this.stack.length) {
          if (/[^ \t\r\n]/.test(raw)) this.fail(this.rootSeen ? 'text after the root element' : 'text before the root element: the file is not XML', line + countLines(raw, raw.search(/[^ \t\r\n]/)));
          continue;
        }
        return { kind: 'text', text: this.decode(raw, line, 'text'), line };
      }
      const line = this.lineNo;
      if (t.startsWith('<!--', this.pos)) {
        const close = t.indexOf('--', this.pos + 4);
        if (close < 0) this.fail('a comment that is never closed');
        if (t[close + 2] !== '>') this.fail('"--" inside a comment', line + countLines(t.slice(this.pos, close), close - this.pos));
        const body = t.slice(this.pos + 4, close);
        const bad = BAD_CHAR.exec(body);
        if (bad) this.fail('a control character that XML does not allow, in a comment', line + countLines(body, bad.index));
        this.advance(close + 3);
        continue;
      }
      if (t.startsWith('<![CDATA[', this.pos)) {
        if (!this.stack.length) this.fail('a CDATA section outside the root element');
        const close = t.indexOf(']]>', this.pos + 9);
        if (close < 0) this.fail('a CDATA section that is never closed');
        const body = t.slice(this.pos + 9, close);
        const bad = BAD_CHAR.exec(body);
        if (bad) this.fail('a control character that XML does not allow', line + countLines(body, bad.index));
        this.advance(close + 3);
        return { kind: 'text', text: body, line };
      }
      if (t.startsWith('<?', this.pos)) {
        const close = t.indexOf('?>', this.pos + 2);
        if (close < 0) this.fail('a processing instruction ("<?") that is never closed');
        NAME.lastIndex = this.pos + 2;
        const target = NAME.exec(t);
        if (!target || target.index !== this.pos + 2) this.fail('a processing instruction without a name');
        if (target[0].toLowerCase() === 'xml' && this.pos !== (t.charCodeAt(0) === 0xfeff ? 1 : 0)) {
          this.fail('an XML declaration ("<?xml") that is not at the very start of the file');
        }
        this.advance(close + 2);
        continue;
      }
      if (t.startsWith('<!DOCTYPE', this.pos)) {
        if (this.rootSeen) this.fail('a DOCTYPE after the root element');
        let depth = 0;
        let i = this.pos + 9;
        let quote = '';
        for (; i < t.length; i++) {
          const c = t[i];
          if (quote) {
            if (c === quote) quote = '';
          } else if (c === '"' || c === "'") quote = c;
          else if (c === '[') depth++;
          else if (c === ']') depth--;
          else if (c === '>' && depth <= 0) break;
        }
        if (i >= t.length) this.fail('a DOCTYPE that is never closed');
        const decl = t.slice(this.pos, i + 1);
        // expat expands internal entities, so plistlib reads such a file; this reader does not.
        if (/<!ENTITY/.test(decl)) throw new XmlSyntaxError('an entity declaration in the DOCTYPE', this.lineNo, true);
        this.externalDtd = /^<!DOCTYPE\s+[^\s[>]+\s+(SYSTEM|PUBLIC)\b/.test(decl);
        this.advance(i + 1);
        continue;
      }
      if (t.startsWith('<!', this.pos)) this.fail('a "<!" declaration that is not a comment, CDATA or DOCTYPE');
      if (t[this.pos + 1] === '/') {
        NAME.lastIndex = this.pos + 2;
        const m = NAME.exec(t);
        if (!m) this.fail('a closing tag without a name');
        SPACE.lastIndex = NAME.lastIndex;
        SPACE.exec(t);
        if (t[SPACE.lastIndex] !== '>') this.fail(`a malformed closing tag </${shownName(m[0])}>`);
        const open = this.stack.pop();
        if (open === undefined) this.fail(`</${shownName(m[0])}> closes nothing`);
        if (open !== m[0]) this.fail(`</${shownName(m[0])}> where </${shownName(open)}> was expected`);
        this.advance(SPACE.lastIndex + 1);
        if (!this.stack.length) this.rootClosed = true;
        return { kind: 'close', name: m[0], line };
      }
      return this.openTag(line);
    }
  }

  private openTag(line: number): XmlToken {
    const t = this.text;
    NAME.lastIndex = this.pos + 1;
    const m = NAME.exec(t);
    if (!m || m.index !== this.pos + 1) this.fail('a "<" that does not start a tag (write "&lt;")');
    if (this.rootClosed || (!this.stack.length && this.rootSeen)) this.fail('a second root element');
    const name = m[0];
    let attrs: Record<string, string> | null = null;
    let i = NAME.lastIndex;
    for (;;) {
      SPACE.lastIndex = i;
      SPACE.exec(t);
      const spaced = SPACE.lastIndex > i;
      i = SPACE.lastIndex;
      const c = t[i];
      if (c === '>' || (c === '/' && t[i + 1] === '>')) {
        const empty = c === '/';
        this.advance(i + (empty ? 2 : 1));
        this.rootSeen = true;
        if (!empty) this.stack.push(name);
        else if (!this.stack.length) this.rootClosed = true;
        return { kind: 'open', name, attrs: attrs ?? NO_ATTRS, empty, line };
      }
      if (c === undefined) this.fail(`the tag <${shownName(name)}> is never closed`);
      if (!spaced) this.fail(`a malformed tag <${shownName(name)}>`);
      NAME.lastIndex = i;
      const a = NAME.exec(t);
      if (!a || a.index !== i) this.fail(`a malformed attribute in <${shownName(name)}>`);
      SPACE.lastIndex = NAME.lastIndex;
      SPACE.exec(t);
      if (t[SPACE.lastIndex] !== '=') this.fail(`an attribute without a value in <${shownName(name)}>`);
      SPACE.lastIndex += 1;
      SPACE.exec(t);
      const q = t[SPACE.lastIndex];
      if (q !== '"' && q !== "'") this.fail(`an attribute value without quotes in <${shownName(name)}>`);
      const close = t.indexOf(q, SPACE.lastIndex + 1);
      if (close < 0) this.fail(`an attribute value that is never closed in <${shownName(name)}>`);
      const raw = t.slice(SPACE.lastIndex + 1, close);
      if (raw.includes('<')) this.fail(`a "<" inside an attribute value in <${shownName(name)}>`);
      attrs ??= {};
      if (Object.prototype.hasOwnProperty.call(attrs, a[0])) this.fail(`an attribute written twice in <${shownName(name)}>`);
      attrs[a[0]] = this.decode(raw, this.lineNo + countLines(t.slice(this.pos, SPACE.lastIndex), SPACE.lastIndex - this.pos), 'attribute')
        .replace(/[\t\n\r]/g, ' ');
      i = close + 1;
    }
  }
}

function countLines(s: string, upTo: number): number {
  let n = 0;
  for (let i = s.indexOf('\n'); i >= 0 && i < upTo; i = s.indexOf('\n', i + 1)) n++;
  return n;
}

/** Decode a file's bytes as the XML declaration says (UTF-8 unless it names Latin-1 or ASCII). */
export function decodeXmlBytes(buf: Uint8Array): string {
  const head = Buffer.from(buf.subarray(0, 200)).toString('latin1');
  const enc = /^(?:\uFEFF|\xEF\xBB\xBF)?<\?xml[^>]*\bencoding\s*=\s*["']([A-Za-z0-9._-]+)["']/.exec(head)?.[1]?.toLowerCase();
  if (enc === 'iso-8859-1' || enc === 'latin1' || enc === 'latin-1') return Buffer.from(buf).toString('latin1');
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(buf);
  } catch {
    // Where: the line of the first byte sequence that is not UTF-8.
    const text = new TextDecoder('utf-8').decode(buf);
    const at = text.indexOf('\uFFFD');
    throw new XmlSyntaxError('bytes that are not valid UTF-8', at < 0 ? 1 : countLines(text, at) + 1);
  }
}
