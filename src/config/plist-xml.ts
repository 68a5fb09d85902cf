/**
 * A strict reader for XML property lists that remembers the line of every dictionary key, so a
 * finding can point at `caldavd.plist:42`. Python's plistlib (what the server uses) rejects what
 * this rejects: unclosed tags, an `<integer>` that is not a number, a `<key>` without a value.
 */

export type PlistValue = string | number | boolean | Date | Uint8Array | PlistValue[] | PlistDict;
export interface PlistDict {
  [key: string]: PlistValue;
}

export class PlistSyntaxError extends Error {
  constructor(
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
}

interface Tag {
  kind: 'open' | 'close' | 'empty';
  name: string;
  line: number;
}

const ENTITIES: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

class Scanner {
  private pos = 0;
  private line = 1;
  constructor(private readonly text: string) {}

  get lineNo(): number {
    return this.line;
  }

  private advance(to: number): void {
    for (let i = this.pos; i < to; i++) if (this.text.charCodeAt(i) === 10) this.line++;
    this.pos = to;
  }

  /** Text up to the next tag, with entities and CDATA decoded; comments skipped. */
  readText(): string {
    let out = '';
    for (;;) {
      const lt = this.text.indexOf('<', this.pos);
      const end = lt < 0 ? this.text.length : lt;
      out += this.decode(this.text.slice(this.pos, end));
      this.advance(end);
      if (lt < 0) return out;
      if (this.text.startsWith('<![CDATA[', this.pos)) {
        const close = this.text.indexOf(']]>', this.pos);
        if (close < 0) throw new PlistSyntaxError('unterminated CDATA section', this.line);
        out += this.text.slice(this.pos + 9, close);
        this.advance(close + 3);
        continue;
      }
      if (this.text.startsWith('<!--', this.pos)) {
        this.skipComment();
        continue;
      }
      return out;
    }
  }

  private skipComment(): void {
    const close = this.text.indexOf('-->', this.pos);
    if (close < 0) throw new PlistSyntaxError('unterminated comment', this.line);
    this.advance(close + 3);
  }

  private decode(raw: string): string {
    if (!raw.includes('&')) return raw;
    return raw.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-zA-Z]+);/g, (whole, ent: string) => {
      if (ent.startsWith('#x')) return String.fromCodePoint(parseInt(ent.slice(2), 16));
      if (ent.startsWith('#')) return String.fromCodePoint(parseInt(ent.slice(1), 10));
      const v = ENTITIES[ent];
      if (v === undefined) throw new PlistSyntaxError(`unknown entity ${whole}`, this.line);
      return v;
    });
  }

  /** The next tag, skipping whitespace, comments, the XML declaration and the DOCTYPE. */
  nextTag(): Tag | null {
    for (;;) {
      const startLine = this.line;
      const text = this.readText();
      if (text.trim() !== '') {
        const lead = text.slice(0, text.length - text.trimStart().length);
        const line = startLine + (lead.match(/\n/g)?.length ?? 0);
        throw new PlistSyntaxError(`unexpected text "${text.trim().slice(0, 40)}"`, line);
      }
      if (this.pos >= this.text.length) return null;
      if (this.text.startsWith('<?', this.pos)) {
        const close = this.text.indexOf('?>', this.pos);
        if (close < 0) throw new PlistSyntaxError('unterminated <? ... ?>', this.line);
        this.advance(close + 2);
        continue;
      }
      if (this.text.startsWith('<!', this.pos)) {
        const close = this.text.indexOf('>', this.pos);
        if (close < 0) throw new PlistSyntaxError('unterminated <!DOCTYPE', this.line);
        this.advance(close + 1);
        continue;
      }
      return this.readTag();
    }
  }

  /** Called with pos at '<'. */
  readTag(): Tag {
    const line = this.line;
    const close = this.text.indexOf('>', this.pos);
    if (close < 0) throw new PlistSyntaxError('unterminated tag', line);
    const inner = this.text.slice(this.pos + 1, close);
    this.advance(close + 1);
    const m = /^(\/?)\s*([A-Za-z_][\w.-]*)([^>]*?)(\/?)\s*$/s.exec(inner);
    if (!m) throw new PlistSyntaxError(`malformed tag <${inner.slice(0, 40)}>`, line);
    const kind = m[1] ? 'close' : m[4] ? 'empty' : 'open';
    return { kind, name: m[2]!, line };
  }

  expectClose(name: string): void {
    const tag = this.nextTag();
    if (!tag) throw new PlistSyntaxError(`the file ends inside <${name}>`, this.line);
    if (tag.kind !== 'close' || tag.name !== name) {
      throw new PlistSyntaxError(`expected </${name}>, found <${tag.kind === 'close' ? '/' : ''}${tag.name}>`, tag.line);
    }
  }

  /** Text content of a simple element and its closing tag. */
  readSimple(name: string): string {
    const text = this.readText();
    if (this.pos >= this.text.length) throw new PlistSyntaxError(`the file ends inside <${name}>`, this.line);
    this.expectClose(name);
    return text;
  }

  atEnd(): boolean {
    return this.pos >= this.text.length;
  }
}

const MAX_DEPTH = 64;

/** Parse the text of an XML plist. Throws PlistSyntaxError with a line number. */
export function parseXmlPlist(text: string): ParsedPlist {
  const s = new Scanner(text.replace(/^\uFEFF/, ''));
  const lines = new Map<string, number>();
  const duplicates: ParsedPlist['duplicates'] = [];

  const readValue = (tag: Tag, path: string, depth: number): PlistValue => {
    if (depth > MAX_DEPTH) throw new PlistSyntaxError('nesting deeper than 64 levels', tag.line);
    if (tag.kind === 'close') throw new PlistSyntaxError(`unexpected </${tag.name}>`, tag.line);
    const empty = tag.kind === 'empty';
    switch (tag.name) {
      case 'true':
      case 'false':
        if (!empty) s.expectClose(tag.name);
        return tag.name === 'true';
      case 'string':
        return empty ? '' : s.readSimple('string');
      case 'integer': {
        const raw = empty ? '' : s.readSimple('integer').trim();
        if (!/^[+-]?(\d+|0x[0-9a-fA-F]+)$/.test(raw)) {
          throw new PlistSyntaxError(`<integer> holds "${raw}", not a whole number`, tag.line);
        }
        return Number(raw);
      }
      case 'real': {
        const raw = empty ? '' : s.readSimple('real').trim();
        const n = Number(raw);
        if (raw === '' || Number.isNaN(n)) throw new PlistSyntaxError(`<real> holds "${raw}", not a number`, tag.line);
        return n;
      }
      case 'date': {
        const raw = empty ? '' : s.readSimple('date').trim();
        const d = new Date(raw);
        if (Number.isNaN(d.getTime())) throw new PlistSyntaxError(`<date> holds "${raw}", not an ISO 8601 date`, tag.line);
        return d;
      }
      case 'data': {
        const raw = empty ? '' : s.readSimple('data').replace(/\s+/g, '');
        return new Uint8Array(Buffer.from(raw, 'base64'));
      }
      case 'array': {
        const arr: PlistValue[] = [];
        if (empty) return arr;
        for (;;) {
          const t = s.nextTag();
          if (!t) throw new PlistSyntaxError('the file ends inside <array>', s.lineNo);
          if (t.kind === 'close' && t.name === 'array') return arr;
          arr.push(readValue(t, `${path}[${arr.length}]`, depth + 1));
        }
      }
      case 'dict': {
        const dict: PlistDict = {};
        if (empty) return dict;
        for (;;) {
          const t = s.nextTag();
          if (!t) throw new PlistSyntaxError('the file ends inside <dict>', s.lineNo);
          if (t.kind === 'close' && t.name === 'dict') return dict;
          if (t.name !== 'key' || t.kind === 'close') {
            throw new PlistSyntaxError(`expected <key> inside <dict>, found <${t.name}>`, t.line);
          }
          const key = t.kind === 'empty' ? '' : s.readSimple('key');
          const child = path ? `${path}.${key}` : key;
          const vt = s.nextTag();
          if (!vt || (vt.kind === 'close' && vt.name === 'dict')) {
            throw new PlistSyntaxError(`<key>${key}</key> has no value`, t.line);
          }
          if (Object.prototype.hasOwnProperty.call(dict, key)) {
            duplicates.push({ path: child, line: t.line, firstLine: lines.get(child) ?? t.line });
          }
          lines.set(child, t.line);
          Object.defineProperty(dict, key, {
            value: readValue(vt, child, depth + 1),
            enumerable: true,
            writable: true,
            configurable: true,
          });
        }
      }
      default:
        throw new PlistSyntaxError(`<${tag.name}> is not a property list element`, tag.line);
    }
  };

  const root = s.nextTag();
  if (!root) throw new PlistSyntaxError('no <plist> element: the file is not a property list', 1);
  if (root.name !== 'plist' || root.kind === 'close') {
    throw new PlistSyntaxError(`the document starts with <${root.name}>, not <plist>: not a property list`, root.line);
  }
  if (root.kind === 'empty') throw new PlistSyntaxError('<plist/> is empty', root.line);
  const first = s.nextTag();
  if (!first) throw new PlistSyntaxError('the file ends inside <plist>', s.lineNo);
  const value = readValue(first, '', 0);
  s.expectClose('plist');
  const trailing = s.nextTag();
  if (trailing) throw new PlistSyntaxError(`content after </plist>: <${trailing.name}>`, trailing.line);
  return { value, lines, duplicates };
}
