/**
 * The DSN action word as the server's `checkDSN` reads it: the first line of
 * `str(deliveryStatus)` that starts with `action:`, `lower.split(' ')[1]` (CalendarServer-2.5
 * `mail.py` … 9.2 `inbound.py`). What Python 2.7's `email` package writes back decides the word:
 * folding undone or kept, fields ended by a line that is not one, bodies kept with their CR.
 *
 * - A table whose answers were taken from Python 2.7.18 (runs everywhere).
 * - With a Python 2.7 interpreter: the two DSN fixtures and 3,000 mutants of their status part
 *   against `checkDSN` itself (action and calendar). Not compared: an `Action` field in the
 *   delivery-status part's own MIME header, which Python writes first and the toolkit does not
 *   read, and a status block that declares `Content-Type: text/calendar`, which Python's walk
 *   takes for a calendar part.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkDsn } from '../../src/imip/dsn.js';
import { parseMessage } from '../../src/imip/mime.js';
import { FIXTURE_DIR } from '../imip/message-fixtures.js';
import { PYTHON2, rng, runPython } from '../helpers/python.js';

/** [action, raises, calendar] as the comparison below writes both sides. */
function ours(raw: string): [boolean | 'raises', string | null, string | null] {
  const parsed = parseMessage(Buffer.from(raw, 'latin1'));
  const dsn = checkDsn(parsed.root, parsed.bodies);
  if (!dsn.isDsn) return [false, null, null];
  if (dsn.actionRaises !== undefined) return ['raises', dsn.actionRaises, null];
  const calendar = dsn.calendarPart ? (parsed.bodies.get(dsn.calendarPart.part)?.toString('latin1') ?? null) : null;
  return [true, dsn.action, calendar];
}

const report = (status: string): string =>
  `From: MAILER-DAEMON@mx.test\r\nContent-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nbounced\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\n${status}\r\n--b--\r\n`;

// [what, delivery-status body, Python 2.7.18's action word ('!raises …' when checkDSN raises)]
const PYTHON27: Array<[string, string, string | null]> = [
  ["a plain report", "Reporting-MTA: dns; mx\r\n\r\nFinal-Recipient: rfc822; a@b\r\nAction: failed\r\nStatus: 5.1.1\r\n", "failed"],
  ["no space after the colon", "Reporting-MTA: dns; mx\r\n\r\nFinal-Recipient: rfc822; a@b\r\nAction:failed\r\n", "failed"],
  ["capitals, a tab and a comment", "Reporting-MTA: dns; mx\r\n\r\nACTION:\tFAILED (permanent)\r\n", "failed"],
  ["folded value", "Reporting-MTA: dns; mx\r\n\r\nAction:\r\n failed\r\nStatus: 5.0.0\r\n", "failed"],
  ["folded after a word", "Reporting-MTA: dns; mx\r\n\r\nAction: failed\r\n\t(permanent)\r\n", "failed\r"],
  ["the last line of the part", "Reporting-MTA: dns; mx\r\n\r\nFinal-Recipient: rfc822; a@b\r\nAction: failed", "failed"],
  ["per-message block without a blank line before it", "\r\nReporting-MTA: dns; mx\r\n\r\nAction: failed\r\n", "failed"],
  ["two blank lines between blocks", "Reporting-MTA: dns; mx\r\n\r\n\r\nAction: failed\r\n", "failed"],
  ["a junk line ends the fields: the body line keeps its CR", "Reporting-MTA: dns; mx\r\n\r\nFinal-Recipient: rfc822; a@b\r\nnot a field\r\nAction: failed\r\nStatus: 5.1.1\r\n", "failed\r"],
  ["the same with LF line ends", "Reporting-MTA: dns; mx\n\nFinal-Recipient: rfc822; a@b\nnot a field\nAction: failed\nStatus: 5.1.1\n", "failed"],
  ["a body line before a later field wins", "junk\r\nAction: delivered\r\n\r\nAction: failed\r\n", "delivered\r"],
  ["a body line without a space raises", "junk\r\nAction:failed\r\n\r\nAction: failed\r\n", "!raises list index out of range"],
  ["a body line with two spaces", "junk\r\naction:  failed\r\n", ""],
  ["space before the colon is not a field", "Reporting-MTA: dns; mx\r\n\r\nAction : failed\r\n", null],
  ["a continuation first in a block is dropped", "Reporting-MTA: dns; mx\r\n\r\n\tAction: x\r\nAction: failed\r\n", "failed"],
  ["a From line last in the fields is body", "Reporting-MTA: dns; mx\r\n\r\nFinal-Recipient: rfc822; a@b\r\nFrom x\r\nnot a field\r\nAction:failed\r\n", "!raises list index out of range"],
  ["a From line first in a block is skipped", "From x\r\nAction: failed\r\n", "failed"],
  ["a lone CR ends a field line", "Reporting-MTA: dns; mx\r\n\r\nAction: failed\rStatus: 5.0.0\r\n", "failed"],
  ["an 8-bit value is written as it is", "Reporting-MTA: dns; mx\r\n\r\nAction: failed\u00e9 x\r\n", "failed\u00e9"],
  ["an 8-bit folded value keeps its CR", "Reporting-MTA: dns; mx\r\n\r\nAction: failed\u00e9\r\n x\r\n", "failed\u00e9\r"],
  ["an empty value", "Reporting-MTA: dns; mx\r\n\r\nAction:\r\nStatus: 5.0.0\r\n", ""],
  ["a long value is cut at a semicolon", "Reporting-MTA: dns; mx\r\n\r\nAction: failed;xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n", "failed;"],
  ["a long folded value loses its fold", "Reporting-MTA: dns; mx\r\n\r\nAction: failed\r\n\t(xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx)\r\n", "failed"],
  ["a short folded value keeps its CR", "Reporting-MTA: dns; mx\r\n\r\nAction: failed\r\n\t(x)\r\n", "failed\r"],
  ["no Action anywhere", "Reporting-MTA: dns; mx\r\n\r\nStatus: 5.0.0\r\n", null],
];

describe('the DSN action word as Python 2.7 writes the status part back', () => {
  it.each(PYTHON27)('%s', (_what, status, action) => {
    const [isDsn, word] = ours(report(status));
    expect(isDsn === 'raises' ? `!raises ${word}` : word).toBe(action);
  });

  it("keeps the status part's transfer encoding: Python parses its raw lines (2.7.18: None, then 'fa=')", () => {
    const encoded = (cte: string, body: string): string => report(body).replace('Content-Type: message/delivery-status\r\n', `Content-Type: message/delivery-status\r\nContent-Transfer-Encoding: ${cte}\r\n`);
    const base64 = Buffer.from('Reporting-MTA: dns; mx\r\n\r\nAction: failed\r\nStatus: 5.1.1\r\n').toString('base64');
    expect(ours(encoded('base64', base64))[1]).toBeNull();
    expect(ours(encoded('quoted-printable', 'Reporting-MTA: dns; mx\r\n\r\nAction: fa=\r\niled\r\n'))[1]).toBe('fa=');
  });
});

const CHECK_DSN = String.raw`
import sys, json, email
def checkDSN(message):
    report = deliveryStatus = calBody = None
    for part in message.walk():
        contentType = part.get_content_type()
        if contentType == "multipart/report":
            report = part
            continue
        elif contentType == "message/delivery-status":
            deliveryStatus = part
            continue
        elif contentType == "message/rfc822":
            continue
        elif contentType == "text/calendar":
            calBody = part.get_payload(decode=True)
            continue
    if report is not None and deliveryStatus is not None:
        lines = str(deliveryStatus).split("\n")
        for line in lines:
            lower = line.lower()
            if lower.startswith("action:"):
                action = lower.split(' ')[1]
                break
        else:
            action = None
        return True, action, calBody
    return False, None, None
for s in json.loads(sys.stdin.read()):
    try:
        d, a, c = checkDSN(email.message_from_string(s.encode('latin1')))
        print(json.dumps([d, a and a.decode('latin1'), c and c.decode('latin1')]))
    except Exception as e:
        print(json.dumps(['raises', str(e), None]))
`;

describe.skipIf(!PYTHON2)('the DSN verdict against Python 2.7, on the DSN fixtures and their mutants', () => {
  it('3,000 mutants of the status part: the same action (or exception) and the same calendar', () => {
    const r = rng(6047);
    const bases = ['dsn-with-invitation.eml', 'dsn-without-original.eml'].map((f) => readFileSync(join(FIXTURE_DIR, f), 'latin1'));
    const value = (): string =>
      r.pick(['', ' ', '\t', '\r\n ', ' \r\n\t']) +
      r.pick([
        'failed',
        'FAILED',
        `${'x'.repeat(60 + r.int(30))} failed`,
        `failed;${'y'.repeat(50 + r.int(40))}`,
        `fa;il,ed ${'z '.repeat(r.int(50))}`,
        `failed,${'q'.repeat(r.int(90))}`,
        'failed\xe9',
        `failed\r\n\t(${'w'.repeat(r.int(80))})`,
        `a,b;c ${'v'.repeat(r.int(90))}`,
        `faILed${' '.repeat(r.int(3))}${'u'.repeat(r.int(80))}`,
      ]);
    const mutations: Array<(s: string) => string> = [
      (s) => s.replace('Action: failed', `Action:${value()}`),
      (s) => s.replace('Action: failed', r.pick(['junk\r\nAction:failed', 'From x\r\nAction: failed', 'Action: failed\r\nFrom y', '\tcont\r\nAction: failed', 'junk\r\naction:  failed', 'junk\r\nACTION: failed x', 'X:\r\n\r\n\r\nAction: failed', 'Action: failed\rStatus: x', 'Action: failed\r\rx'])),
      (s) => s.replace('Final-Recipient:', r.pick(['\r\nFinal-Recipient:', 'junk line\r\nFinal-Recipient:', ' Final-Recipient:', 'X: y\r\n\r\n\r\nFinal-Recipient:'])),
      (s) => s.replace('Reporting-MTA', r.pick(['Action: delayed\r\nReporting-MTA', 'garbage\r\nAction: delivered\r\nReporting-MTA'])),
      (s) => s.replace(/\r?\n/g, r.pick(['\n', '\r\n'])),
      (s) => s.replace('Status: 5.1.1', r.pick(['Action: expanded', 'Status: 5.1.1\r\n'])),
      (s) => s.replace('Content-Type: message/delivery-status', `Content-Type: message/delivery-status\r\nContent-Transfer-Encoding: ${r.pick(['quoted-printable', 'base64', '8bit'])}`).replace('Action: failed', r.pick(['Action: fa=\r\niled', 'Action: failed', 'Action: =66ailed'])),
      (s) => {
        // Noise inside the status body only: after its header's blank line, before the boundary.
        const blank = /\r?\n\r?\n/.exec(s.slice(s.indexOf('message/delivery-status')))!;
        const start = s.indexOf('message/delivery-status') + blank.index + blank[0].length;
        const end = s.indexOf('\n--', start);
        let t = s;
        for (let k = 0, n = 1 + r.int(6); k < n; k++) {
          const i = start + r.int(Math.max(1, end - start));
          t = t.slice(0, i) + r.pick([' ', '\t', '\r\n', '\n', '\r', ':', ';', ',', 'Action:', 'action: x', '\r\n\r\n', 'From ', '\xe9', '']) + t.slice(i + r.int(3));
        }
        return t;
      },
    ];
    const cases: string[] = [...bases];
    for (let i = 0; i < 3000; i++) {
      let s = r.pick(bases);
      for (let k = 0, n = 1 + r.int(3); k < n; k++) s = r.pick(mutations)(s);
      cases.push(s);
    }
    const answers = runPython<unknown>(PYTHON2!, CHECK_DSN, cases);
    cases.forEach((raw, i) => expect(ours(raw), `case ${i}`).toEqual(answers[i]));
  });
});
