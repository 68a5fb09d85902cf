import { describe, expect, it } from 'vitest';
import { classify, needsBody, neededParts } from '../../src/imip/classify.js';
import {
  decodeWords,
  fromBodyStructure,
  HeaderList,
  headerBytesToString,
  leafParts,
  MimeStreamParser,
  parseHeaderBlock,
  parseMessage,
  paramsFromPairs,
  parseParams,
  nestingDepth,
  walkParts,
  type ImapBodyStructure,
  type MimePart,
} from '../../src/imip/mime.js';
import { bigMessage, context, fixture, parseChunked, parseFixture, rechunk, TOKENS } from './message-fixtures.js';
import { heldBytes } from '../helpers/memory.js';
import { isHeaderLine, isHeaderLineBytes } from '../../src/imip/mime-headers.js';

const FIXTURES = [
  'thunderbird-reply',
  'outlook-reply',
  'outlook-reply-no-organizer',
  'gmail-reply',
  'apple-mail-reply',
  'iphone-reply',
  'reply-all-other-first',
  'reply-to-bare-address',
  'human-reply',
  'winmail-reply',
  'dsn-with-invitation',
  'dsn-without-original',
  'broken-mime',
  'unparsable-calendar',
  'non-utf8-calendar',
  'token-in-delivered-to-only',
  'token-uppercase',
  'extra-plus',
  'token-only-in-calendar',
  'not-reply',
  'attendee-mismatch',
];

/** part number and type of every part, in walk order. */
const shape = (root: MimePart): string[] => [...walkParts(root)].map((p) => `${p.part || '-'} ${p.type}`);

/** Everything but sizes, for comparing the raw and IMAP paths. */
function structure(p: MimePart): unknown {
  return {
    part: p.part,
    type: p.type,
    params: p.params,
    disposition: p.disposition,
    dispositionParams: p.dispositionParams,
    encoding: p.encoding,
    children: p.children.map(structure),
    embedded: p.embedded ? structure(p.embedded.root) : null,
  };
}

describe('headers', () => {
  it('a header line is told the same from its bytes as from its text (the raw parser reads bytes, the header block parser text)', () => {
    const lines = ['To: a@b', 'X-Y:', ': no name', ' folded', '\tfolded', 'From nobody', 'From:x', 'Not a header', 'Bad Header: y', '', 'A', 'Caf\u00e9: x', `${'X'.repeat(250)}: y`, 'X\u0000Y: z', 'K~:v'];
    for (const line of lines) expect([line, isHeaderLineBytes(Buffer.from(line, 'latin1'))]).toEqual([line, isHeaderLine(line.slice(0, 200))]);
  });

  it('HeaderList: ordered, case-insensitive, first value', () => {
    const h = new HeaderList([
      ['Received', 'a'],
      ['To', 'x@y'],
      ['received', 'b'],
    ]);
    expect(h.get('RECEIVED')).toBe('a');
    expect(h.getAll('Received')).toEqual(['a', 'b']);
    expect(h.get('Cc')).toBeUndefined();
    expect(h.entries().map(([n]) => n)).toEqual(['Received', 'To', 'received']);
    // Python 2 lower-cases A-Z only: a name past ASCII matches in its own case alone.
    const latin = new HeaderList([['X-\u00c4', 'v']]);
    expect([latin.get('x-\u00c4'), latin.get('X-\u00e4'), latin.get('x-a')]).toEqual(['v', undefined, undefined]);
    expect(new HeaderList([['X-[', 'v']]).get('x-{')).toBeUndefined();
  });

  it('parseHeaderBlock: unfolds, keeps raw values, skips an mbox From line, tolerates bare LF', () => {
    const h = parseHeaderBlock('From someone@x Mon Mar  2 10:00:00 2026\nTo: A <a@x>,\n\tB <b@x>\r\nSubject: =?UTF-8?Q?caf=C3=A9?=\n');
    expect(h.get('To')).toBe('A <a@x>,\tB <b@x>');
    expect(h.get('Subject')).toBe('=?UTF-8?Q?caf=C3=A9?=');
    expect(h.length).toBe(2);
  });

  it('parseHeaderBlock: a non-header line ends the block, with a problem', () => {
    const problems: string[] = [];
    const h = parseHeaderBlock('To: a@x\nthis is not a header\nSubject: lost\n', problems);
    expect(h.get('Subject')).toBeUndefined();
    expect(problems.join()).toMatch(/not a header/);
  });

  it.each([
    ['=?UTF-8?B?Y2Fmw6k=?=', 'café'],
    ['=?iso-8859-1?q?caf=E9?=', 'café'],
    ['=?windows-1252?Q?=93quoted=94?=', '“quoted”'],
    ['=?us-ascii?Q?plain_text?=', 'plain text'],
    ['=?UTF-8?Q?a?= =?UTF-8?Q?b?=', 'ab'],
    ['x =?UTF-8?Q?a?= y', 'x a y'],
    ['=?x-unknown-charset?Q?abc?=', '=?x-unknown-charset?Q?abc?='],
    ['no words here', 'no words here'],
  ])('decodeWords(%s)', (input, out) => {
    expect(decodeWords(input)).toBe(out);
  });

  it('parseParams: quoted strings, RFC 2231 continuations and charsets, RFC 2047 in values', () => {
    expect(parseParams('text/calendar; method=REPLY; charset="UTF-8"; name="a;b.ics"')).toEqual({
      value: 'text/calendar',
      params: { method: 'REPLY', charset: 'UTF-8', name: 'a;b.ics' },
    });
    expect(parseParams("attachment; filename*=utf-8''r%C3%A9union.ics").params['filename']).toBe('réunion.ics');
    expect(
      parseParams("attachment; filename*0*=iso-8859-1'fr'r%E9; filename*1=union; filename*2*=%2Eics").params['filename'],
    ).toBe('réunion.ics');
    expect(parseParams('attachment; filename="=?UTF-8?B?w6kuaWNz?="').params['filename']).toBe('é.ics');
    expect(parseParams('x; __proto__=evil; =novalue; junk').params).toEqual({});
  });

  it('headerBytesToString: UTF-8 when valid (a leading byte order mark dropped, as a UTF-8 decoder does), otherwise ISO-8859-1', () => {
    expect(headerBytesToString(Buffer.from('Subject: caf\u00e9\r\n'))).toBe('Subject: caf\u00e9\r\n');
    expect(headerBytesToString(Buffer.from('\ufeffTo: a@b\r\n'))).toBe('To: a@b\r\n');
    expect(headerBytesToString(Buffer.from([0x54, 0x6f, 0x3a, 0x20, 0xe9, 0x0d, 0x0a]))).toBe('To: \u00e9\r\n');
    expect(headerBytesToString(Buffer.from([0xed, 0xa0, 0x80]))).toBe('\u00ed\u00a0\u0080'); // an encoded surrogate is not UTF-8
    for (const bytes of [Buffer.from('x\u20ac\ud83d\ude00'), Buffer.from([0xc3]), Buffer.from([0xef, 0xbb, 0xbf]), Buffer.alloc(0)]) {
      let want: string;
      try {
        want = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
      } catch {
        want = bytes.toString('latin1');
      }
      expect(headerBytesToString(bytes)).toBe(want);
    }
  });

  it('paramsFromPairs (BODYSTRUCTURE parameter lists) equals parseParams on a header quoting each value', () => {
    const quote = (v: string): string => `"${v.replace(/(["\\])/g, '\\$1')}"`;
    const viaHeader = (pairs: Array<[string, string]>): Record<string, string> => parseParams(`x${pairs.map(([k, v]) => `; ${k}=${quote(v)}`).join('')}`).params;
    const fixed: Array<Array<[string, string]>> = [
      [['NAME', 'a;b.ics'], ['charset', 'UTF-8'], ['Name', 'second wins not']],
      [['filename*0*', "iso-8859-1'fr'r%E9"], ['filename*1', 'union'], ['FILENAME*2*', '%2Eics'], ['filename', 'plain first']],
      [['filename*', "utf-8''r%C3%A9union.ics"]],
      [['name', '=?UTF-8?B?w6kuaWNz?='], ['__proto__', 'evil'], ['constructor', 'x']],
      [['name', 'back\\slash "quoted" \\'], ['x-empty', ''], ['method', '  REPLY  ']],
    ];
    for (const pairs of fixed) expect(paramsFromPairs(pairs)).toEqual(viaHeader(pairs));
    // Generated lists (fixed seed) from an alphabet of the characters that matter to quoting.
    let seed = 20261204;
    const rnd = (n: number): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
    const names = ['name', 'NAME', 'charset', 'filename', 'filename*', 'filename*0', 'filename*0*', 'filename*1', 'filename*1*', 'x*', 'a*b', '*', 'method'];
    const chars = ['a', 'Z', ' ', '"', '\\', ';', '=', "'", '%', 'E9', '%C3%A9', '=?UTF-8?Q?=C3=A9?=', '\t', 'é'];
    for (let n = 0; n < 500; n++) {
      const pairs: Array<[string, string]> = [];
      for (let i = rnd(5); i >= 0; i--) pairs.push([names[rnd(names.length)]!, Array.from({ length: rnd(6) }, () => chars[rnd(chars.length)]).join('')]);
      expect(paramsFromPairs(pairs), JSON.stringify(pairs)).toEqual(viaHeader(pairs));
    }
  });
});

describe('MimeStreamParser on the fixtures', () => {
  it.each(FIXTURES)('%s parses without exceptions, CRLF and bare LF alike, in any chunk size', (name) => {
    const raw = fixture(name);
    const whole = parseChunked(raw, raw.length);
    const bytewise = parseChunked(raw, 1);
    const odd = parseChunked(raw, 7);
    expect(structure(bytewise.root)).toEqual(structure(whole.root));
    expect(structure(odd.root)).toEqual(structure(whole.root));
    expect([...bytewise.bodies]).toEqual([...whole.bodies]);
    expect(whole.size).toBe(raw.length);
    const lf = parseChunked(Buffer.from(raw.toString('latin1').replace(/\r\n/g, '\n'), 'latin1'), 64);
    expect(structure(lf.root)).toEqual(structure(whole.root));
  });

  it.each(FIXTURES)('%s read whole in place (parseMessage) gives what a stream of small writes gives, with CRLF, LF and bare CR line ends mixed', (name) => {
    const text = fixture(name).toString('latin1');
    // Each line end rewritten in turn as CRLF, LF, bare CR or CR CR LF: a header block or a body
    // read in place as one range must still be cut into the same lines.
    const ends = ['\r\n', '\n', '\r', '\r\r\n'];
    let k = 0;
    const mixed = Buffer.from(text.replace(/\r\n/g, () => ends[k++ % ends.length]!), 'latin1');
    for (const limits of [{}, { maxHeaderBytes: 120, maxEmbeddedHeaderBytes: 300 }]) {
      const inPlace = parseMessage(mixed, () => true, limits);
      const p = new MimeStreamParser(() => true, limits);
      for (let i = 0; i < mixed.length; i += 5) p.write(Buffer.from(mixed.subarray(i, i + 5)));
      const streamed = p.end();
      expect(structure(inPlace.root)).toEqual(structure(streamed.root));
      expect(inPlace.headers.entries()).toEqual(streamed.headers.entries());
      expect(inPlace.problems).toEqual(streamed.problems);
      expect([...inPlace.bodies].map(([n, b]) => [n, b.toString('latin1')])).toEqual([...streamed.bodies].map(([n, b]) => [n, b.toString('latin1')]));
      const embedded = (m: MimePart): unknown[] => [m.embedded ? m.embedded.headers.entries() : null, ...m.children.map(embedded)];
      expect(embedded(inPlace.root)).toEqual(embedded(streamed.root));
    }
    // The headers of encapsulated messages are kept up to a budget, counted with CRLF line ends
    // however the lines end: kept, or not, at the same budget either way.
    const alternating = Buffer.from(text.replace(/\r\n/g, () => (k++ % 2 ? '\n' : '\r\n')), 'latin1');
    if (!parseMessage(alternating).root.children.some((c) => c.embedded)) return;
    for (let budget = 0; budget < 3000; budget += 1) {
      const p = new MimeStreamParser(() => false, { maxEmbeddedHeaderBytes: budget });
      p.write(Buffer.from(alternating));
      expect([budget, parseMessage(alternating, () => false, { maxEmbeddedHeaderBytes: budget }).problems]).toEqual([budget, p.end().problems]);
    }
  });

  it('numbers parts as IMAP does (gmail-reply)', () => {
    expect(shape(parseFixture('gmail-reply').root)).toEqual([
      '- multipart/mixed',
      '1 multipart/alternative',
      '1.1 text/plain',
      '1.2 text/html',
      '1.3 text/calendar',
      '2 application/ics',
    ]);
  });

  it('descends into message/rfc822 (dsn-with-invitation)', () => {
    const m = parseFixture('dsn-with-invitation');
    expect(shape(m.root)).toEqual([
      '- multipart/report',
      '1 text/plain',
      '2 message/delivery-status',
      '3 message/rfc822',
      '3 multipart/mixed',
      '3.1 multipart/alternative',
      '3.1.1 text/plain',
      '3.1.2 multipart/related',
      '3.1.2.1 text/html',
      '3.2 text/calendar',
    ]);
    const embedded = m.root.children[2]!.embedded!;
    expect(embedded.headers.get('Reply-To')).toBe(`calendar+${'b5d7f9a1-2c4e-4a6b-8d0f-3e5a7c9b1d02'}@example.test`);
    expect([...m.bodies.keys()]).toEqual(['2', '3.2']);
    expect(m.bodies.get('3.2')!.toString()).toMatch(/^BEGIN:VCALENDAR\r\n[\s\S]*METHOD:REQUEST/);
    expect(m.problems).toEqual([]);
  });

  it('a single-part message is part "" (human-reply)', () => {
    const m = parseFixture('human-reply', () => true);
    expect(shape(m.root)).toEqual(['- text/plain']);
    expect(m.bodies.get('')!.toString()).toMatch(/^Thanks, I will be there/);
  });

  it('decodes base64, quoted-printable (soft breaks, =XX) and 8bit bodies', () => {
    const outlook = parseFixture('outlook-reply');
    expect(outlook.bodies.get('3')!.toString()).toMatch(/^BEGIN:VCALENDAR\r\nPRODID:Microsoft Exchange Server 2010/);
    const apple = parseFixture('apple-mail-reply');
    const cal = apple.bodies.get('2.2')!.toString('utf8');
    expect(cal).toContain('ORGANIZER;CN="Organizer Person";EMAIL="organizer@example.test":mailto:calendar+1d9f7b5c');
    expect(cal).toContain('CN="Attendée Person"');
    expect(cal.endsWith('END:VCALENDAR')).toBe(true);
    const tb = parseFixture('thunderbird-reply');
    expect(tb.bodies.get('1.2')!.toString('utf8')).toContain('SUMMARY:Project kickoff – phase 1');
    expect(decodeWords(tb.headers.get('Subject')!)).toBe('Accepted: Project kickoff – phase 1');
  });

  it('keeps the bodies wantBody asks for and nothing else', () => {
    const m = parseFixture('gmail-reply');
    expect([...m.bodies.keys()]).toEqual(['1.3', '2']);
    const none = parseFixture('gmail-reply', () => false);
    expect(none.bodies.size).toBe(0);
  });

  it('broken-mime: garbage, a header block without an empty line and no closing boundary are problems, not failures', () => {
    const m = parseFixture('broken-mime');
    expect(shape(m.root)).toEqual(['- multipart/mixed', '1 text/plain', '2 text/calendar', '3 application/octet-stream']);
    expect(m.problems.join('\n')).toMatch(/not a header/);
    expect(m.problems.join('\n')).toMatch(/no closing boundary/);
    expect(m.bodies.get('2')!.toString()).toMatch(/END:VCALENDAR\r\n$/);
  });
});

describe('hostile input yields problems, not exceptions', () => {
  const head = 'From: a@x\r\nTo: calendar+t@example.test\r\n';

  it('a 3 MiB header line: dropped, and the fields the verdict reads after it kept, as over IMAP (HEADER.FIELDS)', () => {
    const m = parseMessage(Buffer.from(`${head}X-Bomb: ${'A'.repeat(3 * 1024 * 1024)}\r\nSubject: after\r\n\r\nbody\r\n`));
    expect(m.problems).toEqual([]);
    expect(m.headers.get('To')).toBe('calendar+t@example.test');
    expect(m.headers.get('Subject')).toBe('after');
    expect(m.root.type).toBe('text/plain');
  });

  it('200 000 header fields and a header that never ends: the others past 1 MiB dropped, From and To after them kept', () => {
    const many = Array.from({ length: 200_000 }, (_, i) => `X-H${i}: v`).join('\r\n');
    const m = parseMessage(Buffer.from(`${many}\r\n${head}X-Last: v`));
    expect(m.headers.length).toBeLessThan(100_000);
    expect(m.headers.get('From')).toBe('a@x');
    expect(m.headers.get('To')).toBe('calendar+t@example.test');
    expect(m.headers.get('X-Last')).toBeUndefined();
  });

  it('the fields the verdict reads past 1 MiB themselves: the rest of the block ignored, and said precisely', () => {
    const m = parseMessage(Buffer.from(`Subject: ${'S'.repeat(1100 * 1024)}\r\n${head}\r\nbody\r\n`));
    expect(m.problems).toEqual(['message: header fields the verdict reads (From, To, Subject, Content-Type, ...) larger than 1048576 bytes; the rest of the header block was ignored']);
    expect(m.headers.get('To')).toBeUndefined();
  });

  // Calendar Server's Python parser follows parts about 935 levels deep (classify.ts
  // MIME_NESTING_LIMIT): the tool follows them to 1,000, and says where it stopped past that.
  const deep = (n: number): Buffer => {
    let msg = `${head}Content-Type: multipart/mixed; boundary="b0"\r\n\r\n`;
    for (let i = 1; i <= n; i++) msg += `--b${i - 1}\r\nContent-Type: multipart/mixed; boundary="b${i}"\r\n\r\n`;
    msg += `--b${n}\r\nContent-Type: text/calendar\r\n\r\nBEGIN:VCALENDAR\r\n`;
    for (let i = n; i >= 0; i--) msg += `--b${i}--\r\n`;
    return Buffer.from(msg);
  };

  it('parts nested 300 deep: followed to the calendar at the bottom', () => {
    const m = parseMessage(deep(300));
    expect(m.problems).toEqual([]);
    expect(nestingDepth(m.root)).toBe(301);
    expect(m.bodies.get(walkParts(m.root).find((p) => p.type === 'text/calendar')!.part)?.toString()).toBe('BEGIN:VCALENDAR');
  });

  it('parts nested 1,200 deep: followed to 1,000 levels, and the rest is said to be skipped', () => {
    const m = parseMessage(deep(1200));
    expect(m.problems.join()).toMatch(/nested deeper than 1000 levels/);
    expect(nestingDepth(m.root)).toBe(1001);
    expect(m.bodies.size).toBe(0);
  });

  it('300 nested message/rfc822 parts: followed', () => {
    const msg = `${head}Content-Type: message/rfc822\r\n\r\n`.repeat(300) + 'body\r\n';
    const m = parseMessage(Buffer.from(msg));
    expect(m.problems.join()).not.toMatch(/nested deeper/);
    expect(nestingDepth(m.root)).toBe(300);
  });

  it('many encapsulated messages with big headers: their headers stop being kept', () => {
    const big = `X-Pad: ${'p'.repeat(900 * 1024)}\r\n`;
    const parts = Array.from({ length: 8 }, () => `--z\r\nContent-Type: message/rfc822\r\n\r\n${big}Subject: s\r\n\r\nbody\r\n`).join('');
    const m = parseMessage(Buffer.from(`${head}Content-Type: multipart/mixed; boundary=z\r\n\r\n${parts}--z--\r\n`));
    expect(m.root.children).toHaveLength(8);
    expect(m.root.children[0]!.embedded!.headers.get('Subject')).toBe('s');
    expect(m.root.children[7]!.embedded!.headers.length).toBe(0);
    expect(m.problems.join()).toMatch(/encapsulated messages exceed/);
  });

  it('NUL bytes in headers and bodies are kept, as Python 2.7 keeps them', () => {
    const m = parseMessage(Buffer.from(`To: cal\0endar+t@example.test\r\nSubject: x\0y\r\n\r\nbo\0dy\r\n`));
    expect(m.headers.get('To')).toBe('cal\0endar+t@example.test');
    expect(m.headers.get('Subject')).toBe('x\0y');
    expect(m.problems.join()).toMatch(/NUL bytes in the header block \(kept/);
    expect(m.bodies.get('')!.toString('latin1')).toBe('bo\0dy\r\n');
    // A NUL inside a field name makes the line a non-header, as in Python's feedparser: the body starts there.
    const cut = parseMessage(Buffer.from(`To: a@x\r\nSub\0ject: x\r\n\r\nbody\r\n`));
    expect(cut.headers.get('Subject')).toBeUndefined();
    expect(cut.problems.join()).toMatch(/not a header/);
  });

  it('multipart without boundary, unterminated multipart, empty input, binary garbage', () => {
    const noBoundary = parseMessage(Buffer.from(`${head}Content-Type: multipart/mixed\r\n\r\n--x\r\n\r\nhi\r\n`));
    expect(noBoundary.problems.join()).toMatch(/without a boundary/);
    const open = parseMessage(Buffer.from(`${head}Content-Type: multipart/mixed; boundary=q\r\n\r\n--q\r\nContent-Type: text/calendar\r\n\r\nBEGIN:VCALENDAR\r\n`));
    expect(open.problems.join()).toMatch(/no closing boundary/);
    // Python 2.7 cuts the last line break of a multipart's child even when the input ends there.
    expect(open.bodies.get('1')!.toString()).toBe('BEGIN:VCALENDAR');
    const empty = parseMessage(Buffer.alloc(0));
    expect(empty.problems).toContain('empty message');
    const garbage = Buffer.alloc(200_000);
    for (let i = 0; i < garbage.length; i++) garbage[i] = (i * 7919) % 256;
    expect(() => parseMessage(garbage)).not.toThrow();
  });

  it('too many parts stops parsing', () => {
    const parts = Array.from({ length: 50 }, () => '--z\r\nContent-Type: text/plain\r\n\r\nx\r\n').join('');
    const m = parseMessage(Buffer.from(`${head}Content-Type: multipart/mixed; boundary=z\r\n\r\n${parts}--z--\r\n`), () => true, { maxParts: 10 });
    expect(m.problems.join()).toMatch(/more than 10 parts/);
    expect(m.root.children.length).toBeLessThanOrEqual(10);
  });

  it('a kept body over the cap is truncated and marked', () => {
    const text = 'x'.repeat(76).concat('\r\n').repeat(40_000);
    const m = parseMessage(Buffer.from(`${head}Content-Type: text/plain\r\n\r\n${text}`), () => true);
    expect(m.bodies.get('')!.length).toBe(2 * 1024 * 1024);
    expect(m.root.truncated).toBe(true);
    expect(m.problems.join()).toMatch(/body longer than 2097152 bytes; kept the first 2097152/);
  });

  // The server parses the whole calendar part: a calendar is kept whole up to 32 MB.
  it('a text/calendar body is kept whole past the 2 MB of other parts', () => {
    const cal = `BEGIN:VCALENDAR\r\n${'X-PAD:0123456789abcdef\r\n'.repeat(200_000)}END:VCALENDAR\r\n`;
    const m = parseMessage(Buffer.from(`${head}Content-Type: text/calendar\r\n\r\n${cal}`), needsBody);
    expect(m.bodies.get('')!.toString()).toBe(cal);
    expect(m.root.truncated).toBeFalsy();
    expect(m.problems).toEqual([]);
  });

  it('the calendar parts of one message share their budget, and each keeps 2 MB at least', () => {
    const mb = 1024 * 1024;
    const part = (n: number): string => `--b\r\nContent-Type: text/calendar\r\n\r\n${'c'.repeat(n)}\r\n`;
    const raw = `${head}Content-Type: multipart/mixed; boundary=b\r\n\r\n${part(3 * mb)}${part(3 * mb)}${part(3 * mb)}--b--\r\n`;
    const m = parseMessage(Buffer.from(raw), needsBody, { maxCalendarBytes: 5 * mb });
    expect(['1', '2', '3'].map((p) => m.bodies.get(p)!.length)).toEqual([3 * mb, 2 * mb, 2 * mb]);
    expect(m.root.children.map((c) => Boolean(c.truncated))).toEqual([false, true, true]);
    expect(m.problems).toEqual([`part 2: body longer than ${2 * mb} bytes; kept the first ${2 * mb}`, `part 3: body longer than ${2 * mb} bytes; kept the first ${2 * mb}`]);
  });

  it('wantBody that throws is a problem', () => {
    const m = parseMessage(Buffer.from(`${head}\r\nbody`), () => {
      throw new Error('boom');
    });
    expect(m.problems.join()).toMatch(/wantBody failed/);
  });
});

describe('a 50 MB message streamed in 64 KiB chunks', () => {
  it('keeps only the calendar body, stays within memory and gets the verdict right', () => {
    const token = '3f2b8c1e-7d4a-4e9b-a6c2-5b1d9e0f7a21';
    // What the parser holds on to, measured after a full collection (test/helpers/memory.ts).
    const held = heldBytes;
    const before = held();
    let peak = before;
    let chunks = 0;
    const parser = new MimeStreamParser(needsBody);
    for (const chunk of rechunk(bigMessage(token), 64 * 1024)) {
      parser.write(chunk);
      if (++chunks % 64 === 0) peak = Math.max(peak, held());
    }
    const m = parser.end();
    peak = Math.max(peak, held());
    expect(m.size).toBeGreaterThan(50 * 1024 * 1024);
    expect(chunks).toBeGreaterThan(800);
    expect(shape(m.root)).toEqual(['- multipart/mixed', '1 text/plain', '2 application/octet-stream', '3 text/calendar']);
    expect(m.root.children[1]!.size).toBeGreaterThan(50 * 1024 * 1024);
    expect([...m.bodies.keys()]).toEqual(['3']);
    expect(m.bodies.get('3')!.toString()).toMatch(/^BEGIN:VCALENDAR[\s\S]*PARTSTAT=ACCEPTED/);
    // Never the whole message in memory, nor the attachment: what stays reachable while it
    // streams is a few chunks and the calendar, far below the 50 MB that went through.
    expect(peak - before).toBeLessThan(8 * 1024 * 1024);
    const v = classify(m, context('9.2', 'imap'));
    expect(v.serverAction).toBe('INJECTION_SUBMITTED');
    expect(v.mailboxEffect).toBe('deleted');
    expect(v.findings).toEqual([]);
    expect(TOKENS[token]).toBeDefined();
  });
});

// ---- the IMAP path: imapflow's bodyStructure, hand-written in imapflow's shape -------------------

const GMAIL_BS: ImapBodyStructure = {
  type: 'multipart/mixed',
  parameters: { boundary: '000000000000a1b2c3062d5e4f70' },
  childNodes: [
    {
      part: '1',
      type: 'multipart/alternative',
      parameters: { boundary: '000000000000a1b2c1062d5e4f6e' },
      childNodes: [
        { part: '1.1', type: 'text/plain', parameters: { charset: 'UTF-8', format: 'flowed', delsp: 'yes' }, encoding: 'base64', size: 136, lineCount: 2 },
        { part: '1.2', type: 'text/html', parameters: { charset: 'UTF-8' }, encoding: 'quoted-printable', size: 70, lineCount: 1 },
        { part: '1.3', type: 'text/calendar', parameters: { charset: 'UTF-8', method: 'REPLY' }, encoding: '7bit', size: 800, lineCount: 24 },
      ],
    },
    {
      part: '2',
      type: 'application/ics',
      parameters: { name: 'invite.ics' },
      encoding: 'base64',
      size: 1100,
      disposition: 'attachment',
      dispositionParameters: { filename: 'invite.ics' },
    },
  ],
};

const DSN_BS: ImapBodyStructure = {
  type: 'multipart/report',
  parameters: { 'report-type': 'delivery-status', boundary: '4B3C21A0F2.1772442001/mail.example.test' },
  childNodes: [
    { part: '1', type: 'text/plain', parameters: { charset: 'us-ascii' }, description: 'Notification', encoding: '7bit', size: 480, lineCount: 12 } as ImapBodyStructure,
    { part: '2', type: 'message/delivery-status', encoding: '7bit', size: 520 },
    {
      part: '3',
      type: 'message/rfc822',
      encoding: '7bit',
      size: 2600,
      envelope: {
        date: new Date('2026-03-02T09:00:00Z'),
        subject: 'Event invitation: Project kickoff',
        messageId: '<20260302090000.12345.1234567890@calendar.example.test>',
        from: [{ name: 'Calendar Server', address: 'calendar@example.test' }],
        replyTo: [{ name: '', address: 'calendar+b5d7f9a1-2c4e-4a6b-8d0f-3e5a7c9b1d02@example.test' }],
        to: [{ name: '', address: 'attendee@remote.test' }],
      },
      childNodes: [
        {
          part: '3',
          type: 'multipart/mixed',
          parameters: { boundary: '===============8412337925451094621==' },
          childNodes: [
            {
              part: '3.1',
              type: 'multipart/alternative',
              parameters: { boundary: '===============4478412945620733215==' },
              childNodes: [
                { part: '3.1.1', type: 'text/plain', parameters: { charset: 'utf-8' }, encoding: 'base64', size: 180, lineCount: 3 },
                {
                  part: '3.1.2',
                  type: 'multipart/related',
                  parameters: { type: 'text/html', boundary: '===============1209472954723611309==' },
                  childNodes: [{ part: '3.1.2.1', type: 'text/html', parameters: { charset: 'utf-8' }, encoding: 'base64', size: 96, lineCount: 2 }],
                },
              ],
            },
            {
              part: '3.2',
              type: 'text/calendar',
              parameters: { charset: 'utf-8', method: 'request' },
              id: '<invitation.ics>',
              encoding: 'base64',
              size: 1200,
              disposition: 'inline',
              dispositionParameters: { filename: 'invitation.ics' },
            },
          ],
        },
      ],
      lineCount: 80,
    },
  ],
};

const HUMAN_BS: ImapBodyStructure = { type: 'text/plain', parameters: { charset: 'UTF-8' }, encoding: '7bit', size: 400, lineCount: 11 };

/** What `poll` will do on IMAP: header block, bodyStructure, then only the needed parts. */
function viaImap(name: string, bs: ImapBodyStructure) {
  const raw = fixture(name);
  const end = raw.indexOf('\r\n\r\n');
  const headers = parseHeaderBlock(raw.subarray(0, end + 2).toString('latin1'));
  const root = fromBodyStructure(bs);
  const decoded = parseFixture(name, () => true).bodies;
  const bodies = new Map(neededParts(root).map((p) => [p, decoded.get(p)!] as const));
  return { headers, root, bodies };
}

describe('fromBodyStructure: the IMAP path agrees with the raw path', () => {
  it.each([
    ['gmail-reply', GMAIL_BS],
    ['dsn-with-invitation', DSN_BS],
    ['human-reply', HUMAN_BS],
  ] as const)('%s', (name, bs) => {
    const raw = parseFixture(name);
    const imap = viaImap(name, bs);
    expect(structure(imap.root)).toEqual(structure(raw.root));
    expect(neededParts(imap.root)).toEqual(neededParts(raw.root));
    for (const release of ['4.3', '9.2']) {
      for (const protocol of ['imap', 'pop3'] as const) {
        const a = classify(raw, context(release, protocol));
        const b = classify(imap, context(release, protocol));
        expect({ ...b, problems: [] }).toEqual({ ...a, problems: [] });
      }
    }
  });

  it('renumbers the single-part body of a message/rfc822 part as IMAP does (imapflow gives it the wrapper\'s number)', () => {
    const root = fromBodyStructure({
      type: 'multipart/mixed',
      childNodes: [
        { part: '1', type: 'text/plain' },
        { part: '2', type: 'message/rfc822', childNodes: [{ part: '2', type: 'text/calendar', parameters: { METHOD: 'REPLY' } }] },
      ],
    });
    expect(shape(root)).toEqual(['- multipart/mixed', '1 text/plain', '2 message/rfc822', '2.1 text/calendar']);
    expect(root.children[1]!.embedded!.root.params).toEqual({ method: 'REPLY' });
    expect(neededParts(root)).toEqual(['2.1']);
    const raw = parseMessage(
      Buffer.from(
        'Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b\r\nContent-Type: message/rfc822\r\n\r\nContent-Type: text/calendar; method=REPLY\r\n\r\nBEGIN:VCALENDAR\r\n--b--\r\n',
      ),
    );
    expect(shape(raw.root)).toEqual(shape(root));
  });

  it('neededParts never asks for big non-calendar parts', () => {
    const root = fromBodyStructure({
      type: 'multipart/mixed',
      childNodes: [
        { part: '1', type: 'application/octet-stream', size: 20_000_000 },
        { part: '2', type: 'application/ics', size: 20_000_000 },
        { part: '3', type: 'application/ics', size: 2_000 },
        { part: '4', type: 'text/calendar', size: 3_000 },
      ],
    });
    expect(neededParts(root)).toEqual(['3', '4']);
    expect(leafParts(root).map((p) => p.part)).toEqual(['1', '2', '3', '4']);
  });
});
