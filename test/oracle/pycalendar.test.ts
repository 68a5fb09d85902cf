/**
 * Whole reply calendars as the server's pycalendar parses them (src/imip/pycalendar/calendar.ts):
 * whether `Component.fromString` raises, which makes the reply fail on the server, and the facts
 * the verdict reads when it does not.
 *
 * - A table of calendars with each era's answer, taken from the real pycalendar under Python
 *   2.7.18 (runs everywhere): folding, blank lines, text before `BEGIN:VCALENDAR`, case, a
 *   missing `END`, `VERSION` and `CALSCALE`, a line without `:`, a component left open at
 *   `END:VCALENDAR`, a `RECURRENCE-ID` of another type.
 * - Against the real pycalendar, when `IMIP_PYCALENDAR_2013` and `IMIP_PYCALENDAR_2016` name
 *   folders holding the `pycalendar` package (the `src` of ccs-pycalendar as CalendarServer 5.0
 *   and 9.2 shipped it) and a Python 2.7 is found: the calendars of the reply fixtures and 3,000
 *   mutants of them (fixed seed); raise or not must agree for each era.
 */
import { describe, expect, it } from 'vitest';
import { parsePyCalendar } from '../../src/imip/pycalendar/calendar.js';
import { PyCalendarError, type PyCalendarEra } from '../../src/imip/pycalendar/errors.js';
import { fixtureCalendars } from '../imip/message-fixtures.js';
import { PYCALENDAR_ORACLE_READY, pycalendarPrelude } from '../helpers/pycalendar-oracle.js';
import { PYTHON2, rng, runPython } from '../helpers/python.js';

const ERAS: PyCalendarEra[] = ['pycalendar-2013', 'pycalendar-2016'];

/** `ok`, or pycalendar's reason (`Type: message` for another Python exception). */
function outcome(text: string, era: PyCalendarEra): string {
  try {
    parsePyCalendar(text, era);
    return 'ok';
  } catch (e) {
    if (!(e instanceof PyCalendarError)) throw e;
    return e.pythonType ? `${e.pythonType}: ${e.reason}` : e.reason;
  }
}

const cal = (...lines: string[]): string => `${lines.join('\r\n')}\r\n`;
const EVENT = ['BEGIN:VEVENT', 'UID:u1', 'DTSTAMP:20260302T091500Z', 'ORGANIZER:mailto:calendar+t@example.test', 'ATTENDEE;PARTSTAT=ACCEPTED:mailto:a@remote.test', 'END:VEVENT'];

// [what, calendar, pycalendar 2013 (CalendarServer 3.x–5.x), pycalendar 2016 (6.0 and later)]
const PYCALENDAR: Array<[string, string, string, string]> = [
  ['a plain reply', cal('BEGIN:VCALENDAR', 'VERSION:2.0', 'METHOD:REPLY', ...EVENT, 'END:VCALENDAR'), 'ok', 'ok'],
  ['LF line ends and folding with a tab', 'BEGIN:VCALENDAR\nVERSION:2.0\nBEGIN:VEVENT\nUID:u\n\t1\nEND:VEVENT\nEND:VCALENDAR\n', 'ok', 'ok'],
  ['no line end after END:VCALENDAR', 'BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR', 'ok', 'ok'],
  ['blank lines anywhere', cal('', 'BEGIN:VCALENDAR', '', 'VERSION:2.0', ...EVENT, '', 'END:VCALENDAR', '', ''), 'ok', 'ok'],
  ['text before BEGIN:VCALENDAR', cal('Hello', 'BEGIN:VCALENDAR', 'VERSION:2.0', 'END:VCALENDAR'), 'iCalendar data not recognized', 'iCalendar data not recognized'],
  ['begin:vcalendar in lower case', cal('begin:vcalendar', 'VERSION:2.0', 'end:vcalendar'), 'iCalendar data not recognized', 'iCalendar data not recognized'],
  ['no BEGIN:VCALENDAR at all', cal('', ''), 'Unknown', 'Unknown'],
  ['no END:VCALENDAR', cal('BEGIN:VCALENDAR', 'VERSION:2.0', ...EVENT), 'iCalendar data not complete', 'iCalendar data not complete'],
  ['no VERSION', cal('BEGIN:VCALENDAR', 'METHOD:REPLY', ...EVENT, 'END:VCALENDAR'), 'iCalendar missing VERSION', 'iCalendar missing VERSION'],
  ['VERSION:1.0', cal('BEGIN:VCALENDAR', 'VERSION:1.0', ...EVENT, 'END:VCALENDAR'), 'Invalid property', 'Invalid property'],
  ['version:1.0 in lower case is not checked', cal('BEGIN:VCALENDAR', 'version:1.0', ...EVENT, 'END:VCALENDAR'), 'ok', 'ok'],
  ['VERSION typed as a URI is still plain text, as an integer it is not', cal('BEGIN:VCALENDAR', 'VERSION;VALUE=URI:2.0', 'CALSCALE;VALUE=CAL-ADDRESS:GREGORIAN', 'END:VCALENDAR'), 'ok', 'ok'],
  ['VERSION typed as an integer', cal('BEGIN:VCALENDAR', 'VERSION;VALUE=INTEGER:2', 'END:VCALENDAR'), 'Invalid property', 'Invalid property'],
  ['CALSCALE:gregorian', cal('BEGIN:VCALENDAR', 'VERSION:2.0', 'CALSCALE:gregorian', ...EVENT, 'END:VCALENDAR'), 'Invalid property', 'Invalid property'],
  ['a line without a colon', cal('BEGIN:VCALENDAR', 'VERSION:2.0', 'BEGIN:VEVENT', 'UID:u1', 'this line has no colon', 'END:VEVENT', 'END:VCALENDAR'), 'Invalid property', 'ok'],
  ['END:VEVENT missing before END:VCALENDAR', cal('BEGIN:VCALENDAR', 'VERSION:2.0', 'BEGIN:VEVENT', 'UID:u1', 'END:VCALENDAR'), 'ok', 'ok'],
  ['end:vevent in lower case leaves the event open', cal('BEGIN:VCALENDAR', 'VERSION:2.0', 'BEGIN:VEVENT', 'UID:u1', 'end:vevent'), 'iCalendar data not complete', 'iCalendar data not complete'],
  ['a second calendar after the first', cal('BEGIN:VCALENDAR', 'VERSION:2.0', 'END:VCALENDAR', 'BEGIN:VCALENDAR', ...EVENT, 'END:VCALENDAR'), 'ok', 'ok'],
  ['text after END:VCALENDAR', cal('BEGIN:VCALENDAR', 'VERSION:2.0', ...EVENT, 'END:VCALENDAR', 'thanks'), 'iCalendar data not recognized', 'iCalendar data not recognized'],
  ['RECURRENCE-ID given as text', cal('BEGIN:VCALENDAR', 'VERSION:2.0', 'BEGIN:VEVENT', 'UID:u1', 'RECURRENCE-ID;VALUE=TEXT:x', 'END:VEVENT', 'END:VCALENDAR'), "AttributeError: 'NoneType' object has no attribute 'getText'", "AttributeError: 'NoneType' object has no attribute 'getText'"],
  ['RECURRENCE-ID with VALUE=text in lower case is still a date-time', cal('BEGIN:VCALENDAR', 'VERSION:2.0', 'BEGIN:VEVENT', 'UID:u1', 'RECURRENCE-ID;VALUE=text:20260302T100000Z', 'END:VEVENT', 'END:VCALENDAR'), 'ok', 'ok'],
  ['a VEVENT inside a VTIMEZONE', cal('BEGIN:VCALENDAR', 'VERSION:2.0', 'BEGIN:VTIMEZONE', 'TZID:x', 'BEGIN:VEVENT', 'UID:u', 'END:VEVENT', 'END:VTIMEZONE', 'END:VCALENDAR'), 'ValueError: ', "ValueError: Only 'STANDARD' or 'DAYLIGHT' components allowed in 'VTIMEZONE'"],
  ['an unknown component', cal('BEGIN:VCALENDAR', 'VERSION:2.0', 'BEGIN:X-THING', 'X-A:b', 'END:X-THING', ...EVENT, 'END:VCALENDAR'), 'ok', 'ok'],
  ['a bad date-time in the event', cal('BEGIN:VCALENDAR', 'VERSION:2.0', 'BEGIN:VEVENT', 'UID:u1', 'DTSTAMP:20260302t091500z', 'END:VEVENT', 'END:VCALENDAR'), 'Invalid property value', "Invalid property: 'DateTime: no 'T' after date'"],
];

describe('a reply calendar as the server parses it', () => {
  it.each(PYCALENDAR)('%s', (_what, text, old, now) => {
    expect([outcome(text, 'pycalendar-2013'), outcome(text, 'pycalendar-2016')]).toEqual([old, now]);
  });

  it('keeps the facts the verdict reads: components, ORGANIZER, ATTENDEE and PARTSTAT', () => {
    const vcal = parsePyCalendar(cal('BEGIN:VCALENDAR', 'VERSION:2.0', 'METHOD:REPLY', ...EVENT, 'END:VCALENDAR'), 'pycalendar-2016');
    const event = vcal.children[0]!;
    expect([event.name, event.properties.find((p) => p.name === 'ORGANIZER')?.value, event.properties.find((p) => p.name === 'ATTENDEE')?.params.get('PARTSTAT')]).toEqual([
      'VEVENT',
      'mailto:calendar+t@example.test',
      ['ACCEPTED'],
    ]);
    // A component still open at END:VCALENDAR is dropped, as pycalendar never adds it.
    expect(parsePyCalendar(cal('BEGIN:VCALENDAR', 'VERSION:2.0', 'BEGIN:VEVENT', 'UID:u1', 'END:VCALENDAR'), 'pycalendar-2016').children).toEqual([]);
  });
});

/** After the prelude: each calendar as twistedcaldav hands it to pycalendar (3.x-5.x a fresh `PyCalendar().parse(stream)`, 6.0+ `Calendar.parseData`). */
const ORACLE = String.raw`
import json, StringIO
if hasattr(Calendar, 'parseData'):
    def parse(data):
        return Calendar.parseData(data)
else:
    def parse(data):
        cal = Calendar()
        return cal if cal.parse(StringIO.StringIO(data)) else None
for s in json.loads(sys.stdin.read()):
    data = s.encode('utf-8')
    try:
        r = parse(data)
        print(json.dumps('ok' if r else 'Unknown'))
    except ErrorBase as e:
        print(json.dumps(e.mReason))
    except Exception as e:
        print(json.dumps(type(e).__name__ + ': ' + str(e)))
`;

describe.skipIf(!PYCALENDAR_ORACLE_READY)('reply calendars against the real pycalendar, fixtures and mutants', () => {
  const calendars = fixtureCalendars();
  const r = rng(5545);
  const inserted = ['VERSION;VALUE=URI:2.0', 'VERSION;VALUE=INTEGER:2', 'CALSCALE;VALUE=UNKNOWN-X:GREGORIAN', 'RECURRENCE-ID;VALUE=text:20260302T100000Z', 'RECURRENCE-ID;VALUE=PERIOD:20260302T100000Z/PT1H', 'VERSION;VALUE=text:2.0', 'uid:lower', 'BEGIN:vtimezone', 'END:vtimezone', '', ' ', 'X-FOO:bar', 'x-foo;a=b:c', 'NOCOLON', 'SUMMARY:a\\xb', 'DESCRIPTION:ok\\, fine\\; yes\\n', 'DTSTART:20260302', 'DTSTART:20260302T1000', 'BEGIN:VALARM', 'END:VALARM', 'END:VEVENT', 'BEGIN:X-THING', 'END:X-THING', 'RECURRENCE-ID;VALUE=TEXT:x', 'RECURRENCE-ID:20260302T100000Z', 'VERSION:2.0', 'CALSCALE:GREGORIAN', 'calscale:x', 'END:VCALENDAR', 'BEGIN:VCALENDAR', 'DURATION:PT1H', 'TZOFFSETTO:+0100', 'TZOFFSETFROM:x'];
  const mutations: Array<(s: string) => string> = [
    (s) => s.replace(/\r\n/g, '\n'),
    (s) => { const ls = s.split('\r\n'); ls.splice(1 + r.int(Math.max(1, ls.length - 2)), 1); return ls.join('\r\n'); },
    (s) => { const ls = s.split('\r\n'); ls.splice(1 + r.int(Math.max(1, ls.length - 2)), 0, r.pick(inserted)); return ls.join('\r\n'); },
    (s) => { const ls = s.split('\r\n'); const i = Math.min(ls.length - 1, 1 + r.int(Math.max(1, ls.length - 2))); ls[i] = ls[i]!.toLowerCase(); return ls.join('\r\n'); },
    (s) => { const b = [...s]; for (let k = 0, n = 1 + r.int(3); k < n; k++) b[r.int(b.length)] = r.pick(['\\', ':', ';', ',', '"', '=', ' ', '\n', '\r', '\t', 'A', '0']); return b.join(''); },
    (s) => s.replace('END:VCALENDAR', r.pick(['', 'END:VCALENDAR\r\nBEGIN:VCALENDAR\r\nEND:VCALENDAR', 'END:VCALENDAR\r\n\r\n', 'END:VCALENDAR\r\nthanks', 'end:vcalendar'])),
    (s) => s.replace(/VERSION:2\.0\r?\n/, r.pick(['', 'VERSION:1.0\r\n', 'VERSION:2.0 \r\n', 'version:2.0\r\n'])),
    (s) => s.replace(/\r\n /g, r.pick(['\r\n\t', '\r\n  ', '\r\n', '\r\n\r\n '])),
  ];
  const cases = [...calendars];
  for (let i = 0; i < 3000; i++) {
    let s = r.pick(calendars);
    for (let k = 0, n = 1 + r.int(2); k < n; k++) s = r.pick(mutations)(s);
    cases.push(s);
  }

  it.each(ERAS)('%s: raise or not agrees on every calendar', (era) => {
    const script = `${pycalendarPrelude(era)}${ORACLE}`;
    const answers = runPython<string>(PYTHON2!, script, cases);
    const wrong = cases.flatMap((text, i) => ((outcome(text, era) === 'ok') === (answers[i] === 'ok') ? [] : [{ i, theirs: answers[i], ours: outcome(text, era), text: text.slice(0, 300) }]));
    expect(wrong.slice(0, 5)).toEqual([]);
  });
});
