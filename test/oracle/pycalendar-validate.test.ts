/**
 * pycalendar's validation as the scheduler runs it on a reply from 3.1 (`validate(doFix=True)`,
 * src/imip/pycalendar/validate.ts): the problems it leaves unfixed, each of which makes the
 * scheduler refuse the reply.
 *
 * - A table of calendars with the unfixed problems the real pycalendar reports under Python
 *   2.7.18, for both eras (runs everywhere).
 * - Against the real pycalendar, when `IMIP_PYCALENDAR_2013` and `IMIP_PYCALENDAR_2016` name its
 *   sources and a Python 2.7 is found: the reply fixtures and 4,000 mutants of them (fixed seed)
 *   with properties, alarms, time zones and components added, removed and repeated; for every
 *   calendar both parse, the problems must be the same.
 */
import { describe, expect, it } from 'vitest';
import { parsePyCalendar } from '../../src/imip/pycalendar/calendar.js';
import type { PyComponent } from '../../src/imip/pycalendar/tree.js';
import { PyCalendarError, type PyCalendarEra } from '../../src/imip/pycalendar/errors.js';
import { validatePyCalendar } from '../../src/imip/pycalendar/validate.js';
import { fixtureCalendars } from '../imip/message-fixtures.js';
import { lineMutants } from '../helpers/calendar-mutants.js';
import { PYCALENDAR_ORACLE_READY, pycalendarPrelude } from '../helpers/pycalendar-oracle.js';
import { PYTHON2, runPython } from '../helpers/python.js';

const ERAS: PyCalendarEra[] = ['pycalendar-2013', 'pycalendar-2016'];

/** A control character the iTIP check refuses, anywhere in the tree. */
function control(c: PyComponent): boolean {
  return c.control || c.children.some(control);
}

/** The unfixed problems, sorted (pycalendar checks values in dict order), or null when the parse raises. */
function unfixed(text: string, era: PyCalendarEra): string[] | null {
  try {
    return validatePyCalendar(parsePyCalendar(text, era), era)
      .map((p) => p.text)
      .sort();
  } catch (e) {
    if (e instanceof PyCalendarError) return null;
    throw e;
  }
}

const cal = (...lines: string[]): string => `${lines.join('\r\n')}\r\n`;
const HEAD = ['BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//Test//EN', 'METHOD:REPLY'];
const event = (...extra: string[]): string[] => ['BEGIN:VEVENT', 'UID:u1', 'DTSTAMP:20260302T091500Z', 'DTSTART:20260310T100000Z', ...extra, 'END:VEVENT'];
const reply = (...lines: string[]): string => cal(...HEAD, ...lines, 'END:VCALENDAR');

// [what, calendar, unfixed problems: the same for both eras unless a second list is given]
const CASES: Array<[string, string, string[], string[]?]> = [
  ['a clean reply', reply(...event('ATTENDEE;PARTSTAT=ACCEPTED:mailto:a@remote.test')), []],
  ['no PRODID, two VERSIONs', cal('BEGIN:VCALENDAR', 'VERSION:2.0', 'VERSION:2.0', 'METHOD:REPLY', ...event(), 'END:VCALENDAR'), ['[VCALENDAR] Missing or too many required property: PRODID', '[VCALENDAR] Missing or too many required property: VERSION']],
  ['version:2.1 in lower case passes the parse, not the value check', cal(...HEAD, 'version:2.1', ...event(), 'END:VCALENDAR'), ['[VCALENDAR] Missing or too many required property: VERSION', '[VCALENDAR] Property value incorrect: VERSION']],
  ['two METHODs and two CALSCALEs', cal(...HEAD, 'METHOD:REPLY', 'CALSCALE:GREGORIAN', 'CALSCALE:GREGORIAN', ...event(), 'END:VCALENDAR'), ['[VCALENDAR] Too many properties present: CALSCALE', '[VCALENDAR] Too many properties present: METHOD']],
  ['two SUMMARYs and two SEQUENCEs', reply(...event('SUMMARY:a', 'SUMMARY:b', 'SEQUENCE:1', 'SEQUENCE:2')), ['[VEVENT] Too many properties present: SEQUENCE', '[VEVENT] Too many properties present: SUMMARY']],
  ['DTEND beside DURATION is fixed', reply(...event('DTEND:20260310T110000Z', 'DURATION:PT1H')), []],
  ['two STATUS, one CANCELLED, is fixed; two others are not', reply(...event('STATUS:CONFIRMED', 'STATUS:cancelled'), ...event('STATUS:CONFIRMED', 'STATUS:TENTATIVE').map((l) => l.replace('u1', 'u2'))), ['[VEVENT] Too many properties: STATUS']],
  ['DTSTAMP with a TZID, without Z, as a date', reply(...event('CREATED;TZID=Europe/Paris:20260302T091500Z', 'LAST-MODIFIED:20260302T091500', 'DTSTAMP;VALUE=DATE:20260302')), ['[VEVENT] Missing or too many required property: DTSTAMP', '[VEVENT] Property value incorrect: CREATED', '[VEVENT] Property value incorrect: DTSTAMP', '[VEVENT] Property value incorrect: LAST-MODIFIED']],
  ['PRIORITY 10, SEQUENCE -1, PRIORITY as text', reply(...event('PRIORITY:10', 'SEQUENCE:-1'), ...event('PRIORITY;VALUE=TEXT:1').map((l) => l.replace('u1', 'u2'))), ['[VEVENT] Property value incorrect: PRIORITY', '[VEVENT] Property value incorrect: PRIORITY', '[VEVENT] Property value incorrect: SEQUENCE']],
  ['PRIORITY 0 and 9, SEQUENCE 0, PERCENT-COMPLETE 100', reply(...event('PRIORITY:0', 'SEQUENCE:0'), 'BEGIN:VTODO', 'UID:t', 'DTSTAMP:20260302T091500Z', 'PRIORITY:9', 'PERCENT-COMPLETE:100', 'COMPLETED:20260302T091500Z', 'END:VTODO'), []],
  ['a display alarm without DESCRIPTION is fixed; one without TRIGGER, or with DURATION alone, is not', reply(...event('BEGIN:VALARM', 'ACTION:DISPLAY', 'TRIGGER:-PT5M', 'END:VALARM', 'BEGIN:VALARM', 'ACTION:DISPLAY', 'DESCRIPTION:x', 'DURATION:PT5M', 'END:VALARM')), ['[VALARM] Missing or too many required property: TRIGGER', '[VALARM] Properties must be present together: DURATION, REPEAT']],
  ['an email alarm without ATTENDEE, an alarm without ACTION, one in lower case', reply(...event('BEGIN:VALARM', 'ACTION:EMAIL', 'TRIGGER:-PT5M', 'END:VALARM', 'BEGIN:VALARM', 'TRIGGER:-PT5M', 'END:VALARM', 'BEGIN:VALARM', 'ACTION:audio', 'TRIGGER:-PT5M', 'ATTACH:http://x', 'ATTACH:http://y', 'REPEAT:-1', 'DURATION:PT1M', 'END:VALARM')), ['[VALARM] Missing or too many required property: ACTION', '[VALARM] Missing required property: ATTENDEE', '[VALARM] Property value incorrect: REPEAT']],
  ['URI and NONE alarms', reply(...event('BEGIN:VALARM', 'ACTION:URI', 'TRIGGER:-PT5M', 'END:VALARM', 'BEGIN:VALARM', 'ACTION:NONE', 'END:VALARM')), ['[VALARM] Missing or too many required property: URL']],
  ['a VTIMEZONE without STANDARD or DAYLIGHT, a STANDARD without TZOFFSETFROM', reply('BEGIN:VTIMEZONE', 'TZID:A', 'END:VTIMEZONE', 'BEGIN:VTIMEZONE', 'TZID:B', 'BEGIN:STANDARD', 'DTSTART:19701025T030000', 'TZOFFSETTO:+0100', 'END:STANDARD', 'END:VTIMEZONE', ...event()), ['[STANDARD] Missing or too many required property: TZOFFSETFROM', '[VTIMEZONE] At least one component must be present: STANDARD or DAYLIGHT']],
  ['a VTODO with DURATION and no DTSTART; one with DUE too is fixed', reply('BEGIN:VTODO', 'UID:t1', 'DTSTAMP:20260302T091500Z', 'DURATION:PT1H', 'END:VTODO', 'BEGIN:VTODO', 'UID:t2', 'DTSTAMP:20260302T091500Z', 'DURATION:PT1H', 'DUE:20260310T100000Z', 'END:VTODO'), ['[VTODO] Property must be present: DTSTART with DURATION']],
  ['no METHOD: a VEVENT needs DTSTART', cal('BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:x', 'BEGIN:VEVENT', 'UID:u', 'DTSTAMP:20260302T091500Z', 'END:VEVENT', 'END:VCALENDAR'), ['[VEVENT] Missing required property: DTSTART']],
  ['an unknown component: no cardinalities, value checks still', reply(...event(), 'BEGIN:X-THING', 'SEQUENCE:-2', 'UID:a', 'UID:b', 'END:X-THING'), ['[X-THING] Property value incorrect: SEQUENCE']],
  ['VPOLL is known from 2016', reply('BEGIN:VPOLL', 'UID:p', 'DTSTAMP:20260302T091500Z', 'END:VPOLL'), [], ['[VPOLL] Missing or too many required property: ORGANIZER']],
];

describe("pycalendar's validation of a reply, as the scheduler runs it", () => {
  it.each(CASES)('%s', (_what, text, problems, since2016) => {
    expect(unfixed(text, 'pycalendar-2013')).toEqual([...problems].sort());
    expect(unfixed(text, 'pycalendar-2016')).toEqual([...(since2016 ?? problems)].sort());
  });
});

/**
 * After the prelude: each calendar parsed as twistedcaldav does, then `validate(doFix=True)`, and
 * whether the calendar written back holds a control character the iTIP check refuses.
 */
const ORACLE = String.raw`
import json, StringIO
# twistedcaldav/ical.py validCalendarForCalDAV (3.0+): the control characters it refuses in str(calendar).
CONTROL = "\x00\x01\x02\x03\x04\x05\x06\x07\x08\x0B\x0C\x0E\x0F\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1A\x1B\x1C\x1D\x1E\x1F"
if hasattr(Calendar, 'parseData'):
    def parse(data):
        return Calendar.parseData(data)
else:
    def parse(data):
        cal = Calendar()
        return cal if cal.parse(StringIO.StringIO(data)) else None
for s in json.loads(sys.stdin.read()):
    try:
        cal = parse(s.encode('utf-8'))
    except Exception:
        cal = None
    if cal is None:
        print(json.dumps(None))
        continue
    text = str(cal)
    control = len(text.translate(None, CONTROL)) != len(text)
    try:
        fixed, problems = cal.validate(doFix=True)
        print(json.dumps([sorted(problems), control]))
    except Exception as e:
        print(json.dumps('raised ' + type(e).__name__))
`;

describe.skipIf(!PYCALENDAR_ORACLE_READY)('validation against the real pycalendar, fixtures and mutants', () => {
  const lines = [
    'PRIORITY:10', 'PRIORITY:5', 'PRIORITY;VALUE=TEXT:1', 'PRIORITY: 3', 'SEQUENCE:-1', 'SEQUENCE:2', 'PERCENT-COMPLETE:101', 'REPEAT:-1', 'REPEAT:2',
    'DTSTAMP:20260302T091500', 'DTSTAMP;TZID=Europe/Paris:20260302T091500Z', 'DTSTAMP;VALUE=DATE:20260302', 'DTSTAMP;VALUE=DATE:20260302T091500Z', 'DTSTAMP;TZID=X;VALUE=DATE:20260302',
    'CREATED:20260302T091500', 'LAST-MODIFIED:20260302T091500Z', 'COMPLETED:20260302', 'ACKNOWLEDGED:20260302T091500', 'ACKNOWLEDGED:20260302T091500Z',
    'STATUS:CONFIRMED', 'STATUS:CANCELLED', 'STATUS:cancelled', 'STATUS;VALUE=URI:CANCELLED', 'SUMMARY:x', 'DESCRIPTION:x', 'ORGANIZER:mailto:x@example.test', 'UID:dup',
    'DTEND:20260302T110000Z', 'DURATION:PT1H', 'DUE:20260302T110000Z', 'DTSTART:20260302T100000Z', 'RRULE:FREQ=DAILY', 'RRULE:FREQ=DAILY;UNTIL=20260310',
    'CALSCALE:GREGORIAN', 'METHOD:REPLY', 'PRODID:x', 'VERSION:2.0', 'version:2.1', 'prodid:y', 'CLASS:PUBLIC', 'TRANSP:OPAQUE', 'URL:http://x', 'GEO:1;2', 'LOCATION:x',
    'RECURRENCE-ID:20260302T100000Z', 'TZID:X', 'TZURL:http://x', 'TZOFFSETTO:+0100', 'TZOFFSETFROM:+0000', 'CONTACT:x', 'BUSYTYPE:BUSY',
    'ACTION:DISPLAY', 'ACTION:EMAIL', 'ACTION:AUDIO', 'ACTION:URI', 'ACTION:NONE', 'ACTION:PROCEDURE', 'ACTION:display', 'ACTION;VALUE=URI:EMAIL',
    'TRIGGER:-PT5M', 'ATTENDEE:mailto:a@example.test', 'ATTACH:http://x', 'VOTER:mailto:v@example.test', 'POLL-ITEM-ID:1', 'RESPONSE:50',
    'SUMMARY:a\x0bb', 'DESCRIPTION:tab\there', 'X-FOO;X-P="a\x01":b', 'COMMENT:bell\x07', 'LOCATION:cr\rhere', 'X-A:\x1f',
  ];
  const blocks = [
    ['BEGIN:VALARM', 'ACTION:DISPLAY', 'TRIGGER:-PT5M', 'END:VALARM'],
    ['BEGIN:VALARM', 'ACTION:EMAIL', 'TRIGGER:-PT5M', 'SUMMARY:s', 'SUMMARY:t', 'END:VALARM'],
    ['BEGIN:VALARM', 'ACTION:AUDIO', 'TRIGGER:-PT5M', 'REPEAT:1', 'END:VALARM'],
    ['BEGIN:VALARM', 'END:VALARM'],
    ['BEGIN:VTIMEZONE', 'TZID:Z', 'END:VTIMEZONE'],
    ['BEGIN:VTIMEZONE', 'TZID:Y', 'BEGIN:DAYLIGHT', 'DTSTART:19700329T020000', 'TZOFFSETFROM:+0100', 'TZOFFSETTO:+0200', 'END:DAYLIGHT', 'END:VTIMEZONE'],
    ['BEGIN:STANDARD', 'DTSTART:19701025T030000', 'END:STANDARD'],
    ['BEGIN:VTODO', 'UID:t', 'DTSTAMP:20260302T091500Z', 'END:VTODO'],
    ['BEGIN:VJOURNAL', 'UID:j', 'END:VJOURNAL'],
    ['BEGIN:VFREEBUSY', 'UID:f', 'DTSTAMP:20260302T091500Z', 'END:VFREEBUSY'],
    ['BEGIN:VAVAILABILITY', 'UID:a', 'DTSTAMP:20260302T091500Z', 'BEGIN:AVAILABLE', 'UID:b', 'END:AVAILABLE', 'END:VAVAILABILITY'],
    ['BEGIN:VPOLL', 'UID:p', 'DTSTAMP:20260302T091500Z', 'BEGIN:VVOTER', 'END:VVOTER', 'END:VPOLL'],
    ['BEGIN:X-THING', 'PRIORITY:99', 'END:X-THING'],
  ];
  const cases = lineMutants(fixtureCalendars(), { seed: 5546, count: 4000, maxEdits: 4, lines, blocks });

  it.each(ERAS)('%s: the same unfixed problems and control characters on every calendar both parse', (era) => {
    const answers = runPython<[string[], boolean] | string | null>(PYTHON2!, `${pycalendarPrelude(era)}${ORACLE}`, cases);
    let compared = 0;
    const wrong = cases.flatMap((text, i) => {
      const theirs = answers[i];
      const problems = unfixed(text, era);
      if (theirs === null || problems === null) return [];
      const ours = [problems, control(parsePyCalendar(text, era))];
      compared++;
      return JSON.stringify(theirs) === JSON.stringify(ours) ? [] : [{ i, theirs, ours, text: text.slice(0, 600) }];
    });
    expect(wrong.slice(0, 3)).toEqual([]);
    // Most mutants still parse, so the comparison covers them.
    expect(compared).toBeGreaterThan(cases.length / 2);
  });
});
