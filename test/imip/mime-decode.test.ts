/**
 * The transfer decoders (src/imip/mime-decode.ts) must give the bytes the server's Python 2 gets
 * from `part.get_payload(decode=True)`: that is the calendar text it parses. Python 2.7's
 * `Message.get_payload` decodes base64 with `binascii.a2b_base64` and returns the payload undecoded
 * when that raises "Incorrect padding"; quoted-printable goes through `quopri.decodestring`, which
 * is `binascii.a2b_qp`.
 *
 * - A table of cases whose answers were taken from Python 2.7.18's `get_payload(decode=True)`
 *   (runs everywhere).
 * - Generated bodies, cut into writes at random places, against CPython: Python 2.7's own
 *   `get_payload` when an interpreter is found, else Python 3's `binascii` with 2.7's wrapper
 *   around it (3.x's `email` decodes base64 differently, its `binascii` does not on these inputs).
 */
import { describe, expect, it } from 'vitest';
import { BodyCollector, createDecoder } from '../../src/imip/mime-decode.js';
import { NO_PYTHON_REASON, PYTHON2, PYTHON3, rng, runPython } from '../helpers/python.js';

function decoded(writes: Uint8Array[], encoding: string, cap?: number, owned = false): { bytes: Buffer; truncated: boolean } {
  const out = new BodyCollector(cap);
  const d = createDecoder(encoding, out, { owned });
  for (const w of writes) d.write(w);
  d.end();
  return { bytes: out.result(), truncated: out.truncated };
}

/** `body` cut into writes at `cuts`. */
function cutAt(body: Buffer, cuts: number[]): Buffer[] {
  const at = [0, ...cuts.filter((c) => c > 0 && c < body.length).sort((a, b) => a - b), body.length];
  return at.slice(1).map((end, i) => body.subarray(at[i], end));
}

/** Every way of cutting `body` into two writes, and one write per byte. */
function everyCut(body: Buffer): Buffer[][] {
  const ways = [[body], cutAt(body, Array.from({ length: body.length }, (_, i) => i))];
  for (let i = 1; i < body.length; i++) ways.push(cutAt(body, [i]));
  return ways;
}

// Python 2.7.18: `m = email.message.Message(); m['Content-Transfer-Encoding'] = cte;
// m.set_payload(body); m.get_payload(decode=True)`.
const PYTHON27_ANSWERS: Array<[cte: string, body: string, answer: string]> = [
  ['base64', 'QkVHSU46VkNBTEVOREFS\n', 'BEGIN:VCALENDAR'],
  ['base64', 'QkVHSU46VkNBTEVOREFSCg==\n', 'BEGIN:VCALENDAR\n'],
  // Incorrect padding: the part is the undecoded text.
  ['base64', 'QkVHSU46VkNBTEVOREFSCg\n', 'QkVHSU46VkNBTEVOREFSCg\n'],
  ['base64', 'QkVHSU46VkNBTEVOREFSC\n', 'QkVHSU46VkNBTEVOREFSC\n'],
  // A pad sequence ends the input.
  ['base64', 'QkVHSU46VkNBTEVOREFSCg==QUJD\n', 'BEGIN:VCALENDAR\n'],
  ['base64', 'QkVHSU4=VkNBTEVOREFS\n', 'BEGIN'],
  // Junk skipped.
  ['base64', 'QkVH SU46!VkNB\n', 'BEGIN:VCA'],
  ['base64', '', ''],
  ['quoted-printable', 'A=3DB  \nC=\nD\n', 'A=B  \nCD\n'],
  ['quoted-printable', 'trail \t\nx=4a=4A=zz=\n', 'trail \t\nxJJ=zz'],
  ['quoted-printable', '=41=\r\nB\r\n', 'AB\r\n'],
  ['quoted-printable', 'x =\n', 'x '],
  ['quoted-printable', 'a=0\n', 'a=0\n'],
  ['quoted-printable', '==41', '=41'],
  ['quoted-printable', 'a= \nb', 'a= \nb'],
  ['quoted-printable', 'a=\rdropped\nb', 'ab'],
  ['quoted-printable', 'end=', 'end'],
  ['quoted-printable', 'end=4', 'end=4'],
];

describe('transfer decoding as the server decodes a part', () => {
  it("gives Python 2.7's answers, however the writes cut the input", () => {
    for (const [cte, body, answer] of PYTHON27_ANSWERS) {
      for (const writes of everyCut(Buffer.from(body, 'latin1'))) {
        expect(decoded(writes, cte).bytes.toString('latin1'), `${cte} ${JSON.stringify(body)} in ${writes.length} writes`).toBe(answer);
      }
    }
  });

  it('the same answers from fetched literals, kept without a copy (and the literal is left as it was)', () => {
    for (const cte of ['base64', 'quoted-printable', '7bit']) {
      for (const [c, body, answer] of PYTHON27_ANSWERS) {
        if (c !== cte && cte !== '7bit') continue;
        const literal = Buffer.from(body, 'latin1');
        const before = Buffer.from(literal);
        const want = cte === '7bit' ? body : answer;
        expect(decoded([literal], cte, undefined, true).bytes.toString('latin1'), `${cte} ${JSON.stringify(body)}`).toBe(want);
        expect(literal.equals(before)).toBe(true);
      }
    }
  });

  it('a real base64 calendar part decodes to its text', () => {
    const text = 'BEGIN:VCALENDAR\r\nMETHOD:REPLY\r\nEND:VCALENDAR\r\n';
    const part = Buffer.from(text).toString('base64').replace(/.{10}/g, '$&\r\n');
    expect(decoded([Buffer.from(part)], 'base64').bytes.toString()).toBe(text);
  });

  it('a base64 part cut at the cap keeps what was decoded (its padding is not known)', () => {
    const r = decoded([Buffer.from(Buffer.from('0123456789').toString('base64').slice(0, -2))], 'base64', 4);
    expect(r.bytes.toString()).toBe('0123');
    expect(r.truncated).toBe(true);
  });

  it('undecoded bytes handed over for incorrect padding are capped too', () => {
    const r = decoded([Buffer.from('QUJDRA\n')], 'base64', 4);
    expect(r.bytes.toString()).toBe('QUJD');
    expect(r.truncated).toBe(true);
  });

  it('the cap cuts the output and says so', () => {
    const r = decoded([Buffer.from('0123456789\r\n0123456789\r\n')], 'quoted-printable', 15);
    expect(r.bytes.toString()).toBe('0123456789\r\n012');
    expect(r.truncated).toBe(true);
  });

  it('a long line without breaks decodes in one pass', () => {
    const long = Buffer.from(`${'=3D'.repeat(30000)}ab  \r\nnext=\r\n line\r\n`);
    const want = `${'='.repeat(30000)}ab  \r\nnext line\r\n`;
    for (const writes of [[long], cutAt(long, [70001]), cutAt(long, [1, 2, 3])]) expect(decoded(writes, 'quoted-printable').bytes.toString()).toBe(want);
  });
});

// ---- uuencode ---------------------------------------------------------------------------------

// Python 2.7.18: the same `get_payload(decode=True)`, for the four names it hands to the `uu` module
// (x-uuencode, uuencode, uue, x-uue). [what, cte, body, the bytes it returns, or the error it raises]
const PYTHON27_UU: Array<[what: string, cte: string, body: string, bytes: string | null, raises: string | null]> = [
  ['a data line, then the zero-length line and end', 'x-uuencode', "begin 644 cal.ics\n%0D5'24XZ5D-!3$5.1$%2#0H`\n`\nend\n", 'BEGIN', null],
  ['CRLF line ends', 'uuencode', "begin 644 cal.ics\r\n%0D5'24XZ5D-!3$5.1$%2#0H`\r\n`\r\nend\r\n", 'BEGIN', null],
  ['no begin line: undecoded', 'uue', "no begin here\n%0D5'24XZ\n", "no begin here\n%0D5'24XZ\n", null],
  ['no end line: undecoded', 'x-uue', "begin 644 cal.ics\n%0D5'24XZ5D-!3$5.1$%2#0H`\n", "begin 644 cal.ics\n%0D5'24XZ5D-!3$5.1$%2#0H`\n", null],
  ['an empty line decodes to 42 NUL bytes', 'x-uuencode', 'begin 644 cal.ics\n\n`\nend\n', '\u0000'.repeat(42), null],
  ['trailing garbage: decoded again at the length the line announces', 'x-uuencode', "begin 644 cal.ics\n%0D5'24XZ5D-!3$5.1$%2#0H`xx\n`\nend\n", 'BEGIN', null],
  ['an illegal character inside the data raises', 'x-uuencode', 'begin 644 cal.ics\n%0D5\u0001\n`\nend\n', null, 'Illegal char'],
  ['a character after the data: decoded again at the announced length', 'x-uuencode', 'begin 644 x\n#86)C\u007f\nend\n', 'abc', null],
  ['a mode that is not octal: no begin line', 'x-uuencode', 'begin 999 cal.ics\n`\nend\n', 'begin 999 cal.ics\n`\nend\n', null],
  ["the mode as Python's int(..., 8) reads it", 'x-uuencode', 'begin 0o644 cal.ics\n#86)C\nend\n', 'abc', null],
  ['two spaces: an empty mode field', 'x-uuencode', 'begin  644 cal.ics\n#86)C\nend\n', 'begin  644 cal.ics\n#86)C\nend\n', null],
  ['a begin line without a name', 'x-uuencode', 'junk\nbegin 644\n#86)C\nend\n', 'junk\nbegin 644\n#86)C\nend\n', null],
  ['end with white space around it', 'x-uuencode', 'begin 644 x\n#86)C\n  end  \n', 'abc', null],
  ['data without end: undecoded', 'x-uuencode', 'begin 644 x\n#86)C', 'begin 644 x\n#86)C', null],
  ['a short line is padded with NUL bytes', 'x-uuencode', 'begin 644 x\nM86)C\nend\n', `abc${'\u0000'.repeat(42)}`, null],
  ['end without a line break', 'x-uuencode', 'begin 644 x\n#86)C\nend', 'abc', null],
  ['the first proper begin line counts', 'x-uuencode', 'beginner 644 x\nbegin 644 y\n#86)C\nend\n', 'abc', null],
  ['backticks after the data', 'x-uuencode', 'begin 644 x\n#86)C```\nend\n', 'abc', null],
  ['a line shorter than its length', 'x-uuencode', 'begin 644 x\n#86)\nend\n', 'ab@', null],
  ['the length byte is never checked', 'x-uuencode', 'begin 644 x\n\u007f86)C\nend\n', `abc${'\u0000'.repeat(28)}`, null],
  ['a mode split by a space: no begin line', 'x-uuencode', 'begin - 0o7 x\n#86)C\nend\n', 'begin - 0o7 x\n#86)C\nend\n', null],
  ['an empty body', 'x-uuencode', '', '', null],
  ['trailing white space: not uuencode', 'x-uuencode ', 'begin 644 x\n#86)C\nend\n', 'begin 644 x\n#86)C\nend\n', null],
];

function uuDecoded(writes: Uint8Array[], cte: string, owned = false): { bytes: string | null; raises: string | null; undecoded: boolean } {
  const out = new BodyCollector();
  const d = createDecoder(cte, out, { owned });
  for (const w of writes) d.write(w);
  d.end();
  return out.decodeError !== null ? { bytes: null, raises: out.decodeError, undecoded: false } : { bytes: out.result().toString('latin1'), raises: null, undecoded: out.undecoded };
}

describe('uuencode as the server decodes a part', () => {
  it("gives Python 2.7's answers, raised errors included, however the writes cut the input", () => {
    for (const [what, cte, body, bytes, raises] of PYTHON27_UU) {
      for (const writes of everyCut(Buffer.from(body, 'latin1'))) {
        const got = uuDecoded(writes, cte);
        expect([got.bytes, got.raises], `${what} in ${writes.length} writes`).toEqual([bytes, raises]);
      }
      expect(uuDecoded([Buffer.from(body, 'latin1')], cte, true).bytes, `${what}, owned`).toBe(bytes);
    }
  });

  it('a part without its begin or end line is handed over undecoded and says why', () => {
    const noBegin = new BodyCollector();
    const d = createDecoder('x-uuencode', noBegin);
    d.write(Buffer.from('BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n'));
    d.end();
    expect([noBegin.undecoded, noBegin.undecodedWhy]).toEqual([true, 'its uuencoded data has no begin line']);
    expect(noBegin.result().toString()).toBe('BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n');
    expect(uuDecoded([Buffer.from('begin 644 x\n#86)C\n')], 'uue').undecoded).toBe(true);
  });

  it('a calendar uuencoded by a real encoder decodes to its text', () => {
    const text = 'BEGIN:VCALENDAR\r\nMETHOD:REPLY\r\nEND:VCALENDAR\r\n';
    // What uuencode(1) writes: 45 bytes per line, the length as a character, backtick for zero.
    const bytes = Buffer.from(text);
    const lines = ['begin 644 reply.ics'];
    for (let i = 0; i < bytes.length; i += 45) {
      const chunk = bytes.subarray(i, i + 45);
      let line = String.fromCharCode(0x20 + chunk.length);
      for (let k = 0; k < chunk.length; k += 3) {
        const [a = 0, b = 0, c = 0] = [chunk[k], chunk[k + 1], chunk[k + 2]];
        for (const v of [a >> 2, ((a & 3) << 4) | (b >> 4), ((b & 15) << 2) | (c >> 6), c & 63]) line += v ? String.fromCharCode(0x20 + v) : '`';
      }
      lines.push(line);
    }
    lines.push('`', 'end', '');
    expect(uuDecoded([Buffer.from(lines.join('\r\n'))], 'x-uuencode').bytes).toBe(text);
  });
});

// ---- against CPython --------------------------------------------------------------------------

/** Python 2.7's own `get_payload(decode=True)`. */
const GET_PAYLOAD_27 = String.raw`
import sys, json, email.message
for cte, body in json.loads(sys.stdin.read()):
    m = email.message.Message()
    m['Content-Transfer-Encoding'] = cte
    m.set_payload(body.encode('latin1'))
    print(json.dumps(m.get_payload(decode=True).decode('latin1')))
`;

/** Python 3's binascii inside 2.7's `get_payload` logic (empty payload, "Incorrect padding"). */
const GET_PAYLOAD_3 = String.raw`
import sys, json, binascii
for cte, body in json.loads(sys.stdin.read()):
    b = body.encode('latin1')
    if cte == 'base64':
        try:
            out = binascii.a2b_base64(b) if b else b
        except binascii.Error:
            out = b
    else:
        out = binascii.a2b_qp(b)
    print(json.dumps(out.decode('latin1')))
`;

const PYTHON = PYTHON2 ?? PYTHON3;

describe.skipIf(!PYTHON)(`transfer decoding against ${PYTHON2 ? 'Python 2.7' : "Python 3's binascii"}`, () => {
  it('2,000 generated base64 and quoted-printable bodies, cut at random, decode as CPython decodes them', () => {
    const r = rng(6047);
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
    const b64junk = ['\r\n', '\n', '=', '==', '===', ' ', '\t', '*', '-', '\u00e9', '\r'];
    const qp = ['a', 'Z', ' ', '\t', '=', '==', '=3D', '=0D=0A', '=e9', '=C3=A9', '=G1', '=4', '=4\n', '\r\n', '\n', '\r', '=\r\n', '=\n', '= \r\n', '  \r\n', '\u00e9', '=\rxy\n', '=\r'];
    const cases: Array<[string, string]> = [];
    for (let i = 0; i < 2000; i++) {
      if (i % 2) {
        let s = '';
        const n = r.int(40);
        for (let k = 0; k < n; k++) s += r.int(5) ? alphabet[r.int(64)] : r.pick(b64junk);
        // Real encodings too, some with a tail that spoils or ends them.
        if (r.int(3) === 0) s = Buffer.from(Array.from({ length: r.int(30) }, () => r.int(256))).toString('base64') + r.pick(['', '\n', '\r\n', 'x', '=']);
        cases.push(['base64', s]);
      } else cases.push(['quoted-printable', Array.from({ length: r.int(30) }, () => r.pick(qp)).join('')]);
    }
    const answers = runPython<string>(PYTHON!, PYTHON2 ? GET_PAYLOAD_27 : GET_PAYLOAD_3, cases);
    cases.forEach(([cte, body], i) => {
      const bytes = Buffer.from(body, 'latin1');
      for (const writes of [[bytes], cutAt(bytes, [r.int(bytes.length + 1), r.int(bytes.length + 1)])]) {
        expect(decoded(writes, cte).bytes.toString('latin1'), `${cte} ${JSON.stringify(body)}`).toBe(answers[i]);
      }
    });
  });
});

if (!PYTHON) describe('transfer decoding against CPython', () => {
  it.skip(NO_PYTHON_REASON, () => {});
});

/** Python 2.7's `get_payload(decode=True)` on uuencode names; what it returns or raises. */
const UU_PAYLOAD_27 = String.raw`
import sys, json, email.message
for cte, body in json.loads(sys.stdin.read()):
    m = email.message.Message()
    m['Content-Transfer-Encoding'] = cte
    m.set_payload(body.encode('latin1'))
    try:
        print(json.dumps(['bytes', m.get_payload(decode=True).decode('latin1')]))
    except Exception as e:
        print(json.dumps(['raises', str(e)]))
`;

describe.skipIf(!PYTHON2)('uuencode against Python 2.7', () => {
  it('1,500 generated uuencoded bodies, well formed and spoiled, decode (or raise) as Python 2.7 does', () => {
    const r = rng(1939);
    const begins = ['begin 644 reply.ics', 'begin 0644 x', 'begin 0o600 x', 'begin 648 x', 'begin  644 x', 'begin 644', 'Begin 644 x', 'begin\t644 x', 'begin -7 x y', 'beginx 644 x', 'junk'];
    const ends = ['end', ' end', 'end \t', 'END', 'ending', ''];
    const cases: Array<[string, string]> = [];
    for (let i = 0; i < 1500; i++) {
      const data = Buffer.from(Array.from({ length: r.int(120) }, () => (r.int(4) ? 0x20 + r.int(95) : r.int(256))));
      const zero = r.int(2) ? '`' : ' ';
      const lines = [r.int(6) ? begins[0]! : r.pick(begins)];
      for (let k = 0; k < data.length; k += 45) {
        const chunk = data.subarray(k, k + 45);
        let line = String.fromCharCode(0x20 + chunk.length);
        for (let j = 0; j < chunk.length; j += 3) {
          const [a = 0, b = 0, c = 0] = [chunk[j], chunk[j + 1], chunk[j + 2]];
          for (const v of [a >> 2, ((a & 3) << 4) | (b >> 4), ((b & 15) << 2) | (c >> 6), c & 63]) line += v ? String.fromCharCode(0x20 + v) : zero;
        }
        lines.push(line);
      }
      lines.push(zero, r.int(5) ? 'end' : r.pick(ends));
      let body = lines.join(r.pick(['\n', '\r\n']));
      // Spoil some: a byte anywhere, a line cut or padded, a blank line, the tail cut off.
      for (let k = 0, n = r.int(3) ? 0 : 1 + r.int(3); k < n; k++) {
        const at = r.int(body.length + 1);
        const what = r.int(5);
        if (what === 0) body = body.slice(0, at) + String.fromCharCode(r.int(256)) + body.slice(at + 1);
        else if (what === 1) body = body.slice(0, at) + r.pick(['\n', '\r\n', ' ', '`', 'xx', '\u007f']) + body.slice(at);
        else if (what === 2) body = body.slice(0, at);
        else if (what === 3) body = body.slice(0, at) + body.slice(at + 1 + r.int(10));
        else body = `${r.pick(['', 'preamble\n', 'begin\n'])}${body}`;
      }
      cases.push([r.pick(['x-uuencode', 'uuencode', 'uue', 'x-uue']), body]);
    }
    const answers = runPython<['bytes' | 'raises', string]>(PYTHON2!, UU_PAYLOAD_27, cases);
    cases.forEach(([cte, body], i) => {
      const bytes = Buffer.from(body, 'latin1');
      const got = uuDecoded(cutAt(bytes, [r.int(bytes.length + 1)]), cte);
      const [kind, value] = answers[i]!;
      expect(kind === 'bytes' ? [got.bytes, null] : [null, got.raises], `${cte} ${JSON.stringify(body)}`).toEqual(kind === 'bytes' ? [value, null] : [null, value]);
    });
  });
});

if (!PYTHON2) describe('uuencode against Python 2.7', () => {
  it.skip('no Python 2.7 interpreter found: the generated uuencode cases are skipped (the table of 2.7.18 answers above still runs)', () => {});
});
