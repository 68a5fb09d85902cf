/**
 * The poll's own reader of IMAP responses: whole responses out of any chunking of the byte
 * stream, literals taken by their announced length, FETCH attributes as plain values, and a
 * BODYSTRUCTURE turned into the same part tree the raw MIME parser builds.
 */
import { describe, expect, it } from 'vitest';
import { parseResponse, parseStructure, ResponseSplitter, WireError, type WireValue } from '../../src/mailbox/imap-wire.js';
import { fromWireBodyStructure } from '../../src/imip/mime-bodystructure.js';

const HEADER = 'To: calendar+3f2b8c1e-7d4a-4e9b-a6c2-5b1d9e0f7a21@example.test\r\nSubject: (a) ")" {3}\r\n\r\n';
const STREAM = [
  '* 3 EXISTS\r\n',
  `* 1 FETCH (UID 7 FLAGS (\\Seen $ImipClaimed) RFC822.SIZE 2048 MODSEQ (12) BODYSTRUCTURE (("text" "plain" ("charset" "utf-8") NIL NIL "7bit" 9 1 NIL NIL NIL NIL)("text" "calendar" ("method" "REPLY" "charset" "UTF-8") NIL NIL "base64" 600 8 NIL ("inline" ("filename" "invite.ics")) NIL NIL) "mixed" ("boundary" "b1") NIL NIL NIL) BODY[HEADER.FIELDS (DATE TO)] {${Buffer.byteLength(HEADER)}}\r\n${HEADER})\r\n`,
  '* 2 FETCH (UID 8 BODY[2] {5}\r\nab\r\nc BODY[1.2]<0> "q\\"x")\r\n',
  'X1 OK Fetch completed (0.001 + 0.000 secs).\r\n',
].join('');

function split(chunks: Buffer[]): Buffer[] {
  const out: Buffer[] = [];
  const s = new ResponseSplitter((raw) => out.push(Buffer.from(raw)));
  for (const c of chunks) s.push(c);
  return out;
}

describe('ResponseSplitter', () => {
  it('gives the same responses however the stream is cut', () => {
    const bytes = Buffer.from(STREAM, 'utf8');
    const whole = split([bytes]).map((b) => b.toString('utf8'));
    expect(whole).toHaveLength(4);
    expect(whole[1]).toContain(HEADER);
    for (let cut = 1; cut < bytes.length; cut += 7) {
      expect(split([bytes.subarray(0, cut), bytes.subarray(cut)]).map((b) => b.toString('utf8'))).toEqual(whole);
    }
    // One byte at a time.
    expect(split([...bytes].map((b) => Buffer.from([b]))).map((b) => b.toString('utf8'))).toEqual(whole);
  });

  it('a long stream cut at random into many chunks: every response whole, in order', () => {
    const bytes = Buffer.from(STREAM.repeat(40), 'utf8');
    const whole = split([bytes]).map((b) => b.toString('utf8'));
    expect(whole).toHaveLength(160);
    let seed = 99;
    const rnd = (n: number): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
    for (let round = 0; round < 300; round++) {
      const cuts = [0, ...Array.from({ length: 1 + rnd(60) }, () => rnd(bytes.length)).sort((a, b) => a - b), bytes.length];
      const chunks = cuts.slice(1).map((end, i) => bytes.subarray(cuts[i], end));
      expect(split(chunks).map((b) => b.toString('utf8'))).toEqual(whole);
    }
  });
});

describe('parseResponse', () => {
  const [exists, first, second, tagged] = split([Buffer.from(STREAM, 'utf8')]).map((raw) => parseResponse(raw));

  it('status lines and tagged completions as text', () => {
    expect(exists).toEqual({ tag: '*', text: '3 EXISTS' });
    expect(tagged).toEqual({ tag: 'X1', text: 'OK Fetch completed (0.001 + 0.000 secs).' });
  });

  it('a FETCH as name/value pairs: atoms, lists, literals (CRLF inside), quoted strings with escapes', () => {
    expect(first!.fetchSeq).toBe(1);
    const a = first!.fetch!;
    const get = (k: string): WireValue | undefined => a[a.indexOf(k) + 1];
    expect(get('UID')).toBe('7');
    expect(get('FLAGS')).toEqual(['\\Seen', '$ImipClaimed']);
    expect(get('MODSEQ')).toEqual(['12']);
    expect((get('BODY[HEADER.FIELDS (DATE TO)]') as Buffer).toString('utf8')).toBe(HEADER);
    const b = second!.fetch!;
    expect(b[0]).toBe('UID');
    expect((b[3] as Buffer).toString('latin1')).toBe('ab\r\nc');
    expect(b[4]).toBe('BODY[1.2]<0>');
    expect(b[5]).toBe('q"x');
  });

  it('the BODYSTRUCTURE as the part tree the raw parser builds', () => {
    const a = first!.fetch!;
    const root = fromWireBodyStructure(a[a.indexOf('BODYSTRUCTURE') + 1]!);
    expect(root).toMatchObject({ part: '', type: 'multipart/mixed', params: { boundary: 'b1' } });
    expect(root.children.map((c) => [c.part, c.type, c.encoding, c.size])).toEqual([
      ['1', 'text/plain', '7bit', 9],
      ['2', 'text/calendar', 'base64', 600],
    ]);
    expect(root.children[1]).toMatchObject({ params: { method: 'REPLY', charset: 'UTF-8' }, disposition: 'inline', dispositionParams: { filename: 'invite.ics' } });
  });

  it('a message/rfc822 part: the inner message numbered as IMAP numbers it, its envelope as headers', () => {
    const raw = Buffer.from(
      '* 1 FETCH (UID 1 BODYSTRUCTURE (("text" "plain" NIL NIL NIL "7bit" 10 1 NIL NIL NIL NIL)("message" "delivery-status" NIL NIL NIL "7bit" 300 NIL NIL NIL NIL)("message" "rfc822" NIL NIL NIL "7bit" 900 ("Mon, 2 Mar 2026 09:00:00 +0000" "Invitation" (("Org" NIL "calendar" "example.test")) NIL NIL (("Att" NIL "attendee" "remote.test")) NIL NIL NIL "<inv-1@example.test>") (("text" "plain" NIL NIL NIL "7bit" 5 1 NIL NIL NIL NIL)("text" "calendar" ("method" "REQUEST") NIL NIL "base64" 400 6 NIL NIL NIL NIL) "alternative" NIL NIL NIL NIL) 20 NIL NIL NIL NIL) "report" ("report-type" "delivery-status") NIL NIL NIL))\r\n',
      'utf8',
    );
    const a = parseResponse(raw).fetch!;
    const root = fromWireBodyStructure(a[3]!);
    expect(root.type).toBe('multipart/report');
    const msg = root.children[2]!;
    expect(msg.type).toBe('message/rfc822');
    expect(msg.embedded!.root).toMatchObject({ part: '3', type: 'multipart/alternative' });
    expect(msg.embedded!.root.children.map((c) => c.part)).toEqual(['3.1', '3.2']);
    expect(msg.embedded!.headers.get('Message-ID')).toBe('<inv-1@example.test>');
    expect(msg.embedded!.headers.get('To')).toBe('Att <attendee@remote.test>');
  });

  it('a structure nested past what is parsed is skipped and said, and the rest of the response is read', () => {
    // One message's parts nested 400 deep must not end the FETCH of the whole mailbox.
    const deep = `* 1 FETCH (BODYSTRUCTURE ("TEXT" "PLAIN" NIL NIL NIL "7BIT" 1 1 ${'('.repeat(400)}"x" {2}\r\n)( "a)b"${')'.repeat(400)}) UID 42 FLAGS (\\Seen))\r\n`;
    const r = parseResponse(Buffer.from(deep));
    expect(r.cut).toBe(true);
    expect(r.fetch!.slice(2)).toEqual(['UID', '42', 'FLAGS', ['\\Seen']]);
    // Below the limit nothing is cut.
    const fine = `* 1 FETCH (BODYSTRUCTURE ${'('.repeat(200)}${')'.repeat(200)} UID 7)\r\n`;
    expect(parseResponse(Buffer.from(fine))).not.toHaveProperty('cut');
  });

  it('a deferred BODYSTRUCTURE is its bytes, and parses later into what it parses to in place, depth and cut included', () => {
    // The poll reads most messages whole and never looks at their structure: it is kept as bytes.
    const structureOf = (fetch: WireValue[]): WireValue => fetch[fetch.indexOf('BODYSTRUCTURE') + 1]!;
    const deep = `* 1 FETCH (UID 42 BODYSTRUCTURE ("TEXT" "PLAIN" NIL NIL NIL "7BIT" 1 1 ${'('.repeat(400)}"x" {2}\r\n)( "a)b"${')'.repeat(400)}) FLAGS (\\Seen))\r\n`;
    const edge = `* 1 FETCH (BODYSTRUCTURE ${'('.repeat(255)}"y"${')'.repeat(255)} UID 7)\r\n`;
    const over = `* 1 FETCH (BODYSTRUCTURE ${'('.repeat(256)}"y"${')'.repeat(256)} UID 7)\r\n`;
    for (const text of [STREAM.split('\r\n').slice(1).join('\r\n'), deep, edge, over, '* 1 FETCH (body NIL UID 3 bodystructure ("a\\"(" "(") X (1 2))\r\n']) {
      const raw = split([Buffer.from(text)])[0]!;
      const inPlace = parseResponse(raw);
      const deferred = parseResponse(raw, true);
      const bytes = structureOf(deferred.fetch!);
      expect(Buffer.isBuffer(bytes)).toBe(true);
      // Every other attribute as before; nothing is said to be cut until the structure is parsed.
      expect(deferred.fetch!.filter((v) => v !== bytes)).toEqual(inPlace.fetch!.filter((v) => v !== structureOf(inPlace.fetch!)));
      expect(deferred).not.toHaveProperty('cut');
      const later = parseStructure(bytes as Buffer);
      expect(later.value).toEqual(structureOf(inPlace.fetch!));
      expect(later.cut).toBe(inPlace.cut === true);
    }
    // NIL (a server without a structure) stays NIL; another attribute's list is parsed as ever.
    expect(parseResponse(Buffer.from('* 1 FETCH (BODYSTRUCTURE NIL FLAGS (a b))\r\n'), true).fetch).toEqual(['BODYSTRUCTURE', null, 'FLAGS', ['a', 'b']]);
    expect(() => parseResponse(Buffer.from(`* 1 FETCH (BODYSTRUCTURE ${'('.repeat(400)}`), true)).toThrow(WireError);
  });

  it('refuses hostile input without throwing anything but WireError', () => {
    expect(() => parseResponse(Buffer.from(`* 1 FETCH (BODYSTRUCTURE ${'('.repeat(400)}`))).toThrow(WireError);
    expect(() => parseResponse(Buffer.from('* 1 FETCH (UID 1 BODY[1] {99}\r\nab)\r\n'))).toThrow(WireError);
    expect(() => parseResponse(Buffer.from('* 1 FETCH (UID "open\r\n'))).toThrow(WireError);
    expect(() => split([Buffer.from('* 1 FETCH (BODY[1] {999999999999}\r\n')])).toThrow(WireError);
  });
});
