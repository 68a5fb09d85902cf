/**
 * The part the server reads as the calendar, as its Python 2.7 `email` package finds and decodes
 * it: `email.message_from_string(raw)`, then `walk()` for the first `text/calendar` part and
 * its `get_payload(decode=True)` (2.5…9.2 `mail.py` / `inbound.py`). The raw parser
 * (src/imip/mime.ts) must give the same part types in walk order and the same calendar bytes.
 *
 * - A table of malformed shapes whose answers were taken from Python 2.7.18 (runs everywhere):
 *   how the boundary parameter is read (`_parseparam`, `get_param`, `collapse_rfc2231_value`),
 *   repeated boundary lines, a boundary shared by nested multiparts, the transfer-encoding name
 *   compared as it is, ASCII-only stripping and lower-casing, the header line rule, the last line
 *   break of a part at the end of the input.
 * - With a Python 2.7 interpreter: every fixture and 3,000 mutants of them (fixed seed). Python 3's
 *   `email` differs from 2.7 in exactly these places, so it is no oracle here; without 2.7 the
 *   test says so and skips.
 * Not compared: the text/plain blocks Python makes of a message/delivery-status body (the walk
 * descends into them) and folded header values (Python keeps the line break inside a type it will
 * not match anyway). NUL bytes are kept in header values, as Python keeps them, so the types of a
 * message with one are compared too. The calendar bytes are compared for every case.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseMessage, walkParts } from '../../src/imip/mime.js';
import { MIME_NESTING_LIMIT } from '../../src/imip/classify.js';
import { FIXTURE_DIR } from '../imip/message-fixtures.js';
import { PYTHON2, rng, runPython } from '../helpers/python.js';

/** Part types in walk order and the first calendar part's body, as latin1 text. */
function ours(raw: Buffer): { types: string[]; calendar: string | null } {
  const parsed = parseMessage(raw);
  const parts = walkParts(parsed.root);
  const cal = parts.find((p) => p.type === 'text/calendar');
  // A part whose decoding raises (uuencode) shows as the error, as WALK below reports it.
  const calendar = cal ? (cal.decodeError !== undefined ? `!raises ${cal.decodeError}` : (parsed.bodies.get(cal.part)?.toString('latin1') ?? null)) : null;
  return { types: parts.map((p) => p.type), calendar };
}

// [what, raw message, Python 2.7.18's walk() types, its first calendar payload]
const PYTHON27: Array<[string, string, string[], string | null]> = [
  ["Content-Transfer-Encoding with trailing space is not decoded", "From: a@remote.test\r\nTo: calendar+tok@example.test\r\nSubject: x\r\nMIME-Version: 1.0\r\nContent-Type: text/calendar\r\nContent-Transfer-Encoding: base64 \r\n\r\nQkVHSU46VkNBTEVOREFSDQpFTkQ6VkNBTEVOREFSDQo=\r\n", ["text/calendar"], "QkVHSU46VkNBTEVOREFSDQpFTkQ6VkNBTEVOREFSDQo=\r\n"],
  ["a header line starting with a colon ends the header block", "From: a@remote.test\r\nTo: calendar+tok@example.test\r\n: x\r\nMIME-Version: 1.0\r\nContent-Type: text/calendar\r\n\r\nBEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n", ["text/plain"], null],
  ["unterminated quote in boundary", "From: a@remote.test\r\nTo: calendar+tok@example.test\r\nSubject: x\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\r\n\r\n--b\r\nContent-Type: text/calendar\r\n\r\nBEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n--b--\r\n", ["multipart/mixed"], null],
  ["the type is cut at the first semicolon, quotes or not", "From: a@remote.test\r\nTo: calendar+tok@example.test\r\nSubject: x\r\nMIME-Version: 1.0\r\nContent-Type: text/calendar\"; x=\"\r\n\r\nBEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n", ["text/calendar\""], null],
  ["semicolon inside quotes before boundary", "From: a@remote.test\r\nTo: calendar+tok@example.test\r\nSubject: x\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; x=\"1;2\"; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/calendar\r\n\r\nBEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n--b--\r\n", ["multipart/mixed","text/calendar"], "BEGIN:VCALENDAR\r\nEND:VCALENDAR"],
  ["angle brackets around boundary", "From: a@remote.test\r\nTo: calendar+tok@example.test\r\nSubject: x\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=<b>\r\n\r\n--b\r\nContent-Type: text/calendar\r\n\r\nBEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n--b--\r\n", ["multipart/mixed","text/calendar"], "BEGIN:VCALENDAR\r\nEND:VCALENDAR"],
  ["no-break space after the type", "From: a@remote.test\r\nTo: calendar+tok@example.test\r\nSubject: x\r\nMIME-Version: 1.0\r\nContent-Type: text/calendar \r\n\r\nBEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n", ["text/calendar "], null],
  ["boundary twice: the first wins", "From: a@remote.test\r\nTo: calendar+tok@example.test\r\nSubject: x\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"; boundary=\"c\"\r\n\r\n--c\r\nContent-Type: text/calendar\r\n\r\nBEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n--c--\r\n", ["multipart/mixed"], null],
  ["close boundary right after a separator is consumed", "From: a@remote.test\r\nTo: calendar+tok@example.test\r\nSubject: x\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\n--b--\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b\r\nContent-Type: text/calendar\r\n\r\nBEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n--b--\r\n", ["multipart/mixed","text/plain","text/calendar"], "BEGIN:VCALENDAR\r\nEND:VCALENDAR"],
  ["Content-Transfer-Encoding in capitals is decoded", "From: a@remote.test\r\nTo: calendar+tok@example.test\r\nSubject: x\r\nMIME-Version: 1.0\r\nContent-Type: text/calendar\r\nContent-Transfer-Encoding: BASE64\r\n\r\nQkVHSU46VkNBTEVOREFSDQpFTkQ6VkNBTEVOREFSDQo=\r\n", ["text/calendar"], "BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n"],
  ["a repeated boundary belongs to the outer multipart", "From: a@remote.test\r\nTo: calendar+tok@example.test\r\nSubject: x\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: multipart/alternative; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b--\r\nafter\r\n--b\r\nContent-Type: text/calendar\r\n\r\nBEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n--b--\r\n", ["multipart/mixed","multipart/alternative","text/plain"], null],
  ["a uuencoded calendar is decoded", "From: a@remote.test\r\nTo: calendar+tok@example.test\r\nSubject: x\r\nMIME-Version: 1.0\r\nContent-Type: text/calendar\r\nContent-Transfer-Encoding: X-UUencode\r\n\r\nbegin 644 reply.ics\r\n#86)C\r\n`\r\nend\r\n", ["text/calendar"], "abc"],
  ["a uuencoded calendar with an illegal character raises", "From: a@remote.test\r\nTo: calendar+tok@example.test\r\nSubject: x\r\nMIME-Version: 1.0\r\nContent-Type: text/calendar\r\nContent-Transfer-Encoding: uue\r\n\r\nbegin 644 reply.ics\r\n#86\x01C\r\n`\r\nend\r\n", ["text/calendar"], "!raises Illegal char"],
  ["a part that ends the input loses its last line break", "From: a@remote.test\r\nTo: calendar+tok@example.test\r\nSubject: x\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/calendar\r\n\r\nBEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n", ["multipart/mixed","text/calendar"], "BEGIN:VCALENDAR\r\nEND:VCALENDAR"],
];

describe('the calendar part as Python 2.7 finds and decodes it', () => {
  it.each(PYTHON27)('%s', (_what, raw, types, calendar) => {
    expect(ours(Buffer.from(raw, 'latin1'))).toEqual({ types, calendar });
  });

  it('a Content-Type of 200,000 semicolons after an open quote is read at once (Python recounts the quotes for each)', () => {
    const raw = `To: a@b\r\nContent-Type: multipart/mixed; x="${';'.repeat(200_000)}; boundary=b\r\n\r\n--b\r\nContent-Type: text/calendar\r\n\r\nX\r\n--b--\r\n`;
    // Inside the open quote no semicolon splits: there is no boundary parameter, so no parts.
    expect(ours(Buffer.from(raw, 'latin1'))).toEqual({ types: ['multipart/mixed'], calendar: null });
  });
});

const WALK = String.raw`
import sys, json, email
for s in json.loads(sys.stdin.read()):
    m = email.message_from_string(s.encode('latin1'))
    first = None
    types = []
    for p in m.walk():
        types.append(p.get_content_type().decode('latin1'))
        if p.get_content_type() == 'text/calendar' and first is None:
            try:
                pl = p.get_payload(decode=True)
                first = pl.decode('latin1') if pl is not None else None
            except Exception as e:
                first = '!raises ' + str(e)
    print(json.dumps([types, first]))
`;

describe.skipIf(!PYTHON2)('the calendar part against Python 2.7, on the fixtures and their mutants', () => {
  it('3,000 mutants: the same part types and the same calendar bytes', () => {
    const r = rng(2047);
    const bases = readdirSync(FIXTURE_DIR).filter((f) => f.endsWith('.eml')).sort().map((f) => readFileSync(join(FIXTURE_DIR, f)));
    const latin = (b: Buffer): string => b.toString('latin1');
    const from = (s: string): Buffer => Buffer.from(s, 'latin1');
    const mutations: Array<(b: Buffer) => Buffer> = [
      (b) => { const c = Buffer.from(b); for (let i = 0, n = 1 + r.int(8); i < n && c.length; i++) c[r.int(c.length)] = r.int(256); return c; },
      (b) => from(latin(b).replace(/\r?\n/g, () => r.pick(['\r\n', '\n', '\r']))),
      (b) => { const i = r.int(b.length); return Buffer.concat([b.subarray(0, i), b.subarray(i + r.int(200))]); },
      (b) => { const i = r.int(b.length); const x = b.subarray(i, i + r.int(300)); return Buffer.concat([b.subarray(0, i), x, x, b.subarray(i)]); },
      (b) => b.subarray(0, r.int(b.length)),
      (b) => { const s = latin(b); const m = /boundary="?([^";\r\n]+)/i.exec(s); const i = r.int(s.length); return from(`${s.slice(0, i)}\r\n--${m?.[1] ?? 'x'}${r.int(2) ? '--' : ''}\r\n${s.slice(i)}`); },
      (b) => from(latin(b).replace(/Content-Transfer-Encoding: (\w+)/gi, (_m, e: string) => `Content-Transfer-Encoding: ${r.pick([`${e} `, e.toUpperCase(), ` ${e}`, `${e}\t`, `x-${e}`])}`)),
      (b) => from(latin(b).replace(/boundary="?([^";\r\n]+)"?/gi, (_m, v: string) => r.pick([`boundary="${v}`, `boundary=<${v}>`, `boundary="${v}" `, `BOUNDARY="${v}"`, `boundary="${v}"; boundary="x${v}"`, `x="a;b; boundary="${v}"`, `boundary=""${v}""`]))),
    ];
    const cases = bases.map((b) => latin(b));
    for (let i = 0; i < 3000; i++) {
      let m: Buffer = r.pick(bases);
      for (let k = 0, n = 1 + r.int(2); k < n; k++) m = r.pick(mutations)(m);
      cases.push(latin(m));
    }
    const answers = runPython<[string[], string | null]>(PYTHON2!, WALK, cases);
    const comparable = (types: string[]): string[] => types.filter((t) => t !== 'text/plain' && !/[\r\n\t ]/.test(t));
    cases.forEach((raw, i) => {
      const [types, calendar] = answers[i]!;
      const got = ours(Buffer.from(raw, 'latin1'));
      expect(got.calendar, `case ${i}`).toBe(calendar);
      if (!types.includes('message/delivery-status')) expect(comparable(got.types), `case ${i}`).toEqual(comparable(types));
    });
  });
});

/** Python 2.7 parses and walks a message of `depth` nested multiparts with `pad` frames already in use. */
const NESTED = String.raw`
import sys, json, email
def nested(depth):
    body = "Content-Type: text/calendar\r\n\r\nBEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n"
    for i in range(depth):
        body = 'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n%s\r\n--b%d--\r\n' % (i, i, body, i)
    return "To: calendar+tok@example.test\r\nMIME-Version: 1.0\r\n" + body
def at(pad, depth):
    if pad:
        return at(pad - 1, depth)
    try:
        m = email.message_from_string(nested(depth))
        found = [p for p in m.walk() if p.get_content_type() == 'text/calendar']
        return found[0].get_payload(decode=True) if found else 'none'
    except RuntimeError as e:
        return 'raises ' + str(e)
for depth, pad in json.loads(sys.stdin.read()):
    print(json.dumps(at(pad, depth)))
`;

describe.skipIf(!PYTHON2)('how deep Python 2.7 follows MIME parts, against the limit the verdict takes', () => {
  it(`${MIME_NESTING_LIMIT} levels parse with 20 frames in use and fail with 60; past 1,000 they always fail`, () => {
    const cases: Array<[number, number]> = [[MIME_NESTING_LIMIT, 20], [MIME_NESTING_LIMIT, 60], [1001, 0], [MIME_NESTING_LIMIT - 10, 40]];
    const answers = runPython<string>(PYTHON2!, NESTED, cases);
    const calendar = 'BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n';
    expect(answers).toEqual([calendar, 'raises maximum recursion depth exceeded', 'raises maximum recursion depth exceeded', calendar]);
    // The tool follows them as far, and past the limit judges the message a failure.
    const raw = (depth: number): Buffer => {
      let body = 'Content-Type: text/calendar\r\n\r\nBEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n';
      for (let i = 0; i < depth; i++) body = `Content-Type: multipart/mixed; boundary="b${i}"\r\n\r\n--b${i}\r\n${body}\r\n--b${i}--\r\n`;
      return Buffer.from(`To: calendar+tok@example.test\r\nMIME-Version: 1.0\r\n${body}`);
    };
    expect(ours(raw(MIME_NESTING_LIMIT)).calendar).toBe(calendar);
  });
});

if (!PYTHON2) describe('the calendar part against Python 2.7', () => {
  it.skip('no Python 2.7 interpreter found (python2.7 on PATH, a pyenv 2.7, or IMIP_PYTHON2): the generated cases are skipped', () => {});
});
