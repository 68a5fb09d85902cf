/**
 * 2.x writes a reply's calendar back with vobject before it posts it to /inbox/, and vobject
 * validates as it writes (src/imip/vobject-serialize.ts); what it raises fails the message.
 *
 * - A table of calendars with what vobject r212 (py-vobject/vobject f29f5c7, the revision
 *   CalendarServer 2.x pinned) raised under Python 2.7.18, through the classifier's verdict on 2.5
 *   (runs everywhere).
 * - Against that vobject, when `IMIP_VOBJECT` names a folder holding its `vobject` package and a
 *   `dateutil` of its time, and a Python 2.7 is found: the reply fixtures and 4,000 mutants of them
 *   (fixed seed); for every calendar both parse, and that names no time zone it does not define,
 *   the outcome must be the same.
 */
import { describe, expect, it } from 'vitest';
import { classify, needsBody } from '../../src/imip/classify.js';
import { parseMessage } from '../../src/imip/mime.js';
import { parseCalendar } from '../../src/imip/reply-calendar.js';
import { vobjectSerializeError } from '../../src/imip/vobject-serialize.js';
import { context, fixture, fixtureCalendars } from '../imip/message-fixtures.js';
import { lineMutants } from '../helpers/calendar-mutants.js';
import { PYTHON2, runPython } from '../helpers/python.js';

const VOBJECT = process.env.IMIP_VOBJECT;

/** `ok`, what vobject raises (`Type: str()`), or null when the stand-in parser refuses the calendar. */
function written(text: string): string | null {
  const r = parseCalendar(Buffer.from(text, 'utf8'), null);
  if (!r.ok) return null;
  const e = vobjectSerializeError(r.facts.vobject!, r.facts.lastVersion);
  return e ? `${e.type}: ${e.text}` : 'ok';
}

/** thunderbird-reply with its calendar changed by `edit`. */
function reply(edit: (calendar: string) => string): Buffer {
  const raw = fixture('thunderbird-reply').toString('latin1');
  const start = raw.indexOf('BEGIN:VCALENDAR');
  const end = raw.indexOf('END:VCALENDAR') + 'END:VCALENDAR'.length;
  return Buffer.from(raw.slice(0, start) + edit(raw.slice(start, end).replace(/\r?\n/g, '\r\n')) + raw.slice(end), 'latin1');
}

const PAD = ' '.repeat(21);
// [what, edit, what vobject r212 raised under Python 2.7.18]
const CASES: Array<[string, (c: string) => string, string]> = [
  ['the reply as Thunderbird sends it', (c) => c, 'ok'],
  ['DURATION beside DTEND', (c) => c.replace('SEQUENCE:0', 'SEQUENCE:0\r\nDURATION:PT1H'), `ValidateError: 'VEVENT components cannot contain both DTEND and DURATION${PAD}components'`],
  ['no UID: vobject makes one up', (c) => c.replace(/UID:[^\r\n]*\r\n/, ''), 'ok'],
  ['two SUMMARYs', (c) => c.replace('SEQUENCE:0', 'SEQUENCE:0\r\nSUMMARY:x'), "ValidateError: 'VEVENT components cannot contain more than 1 SUMMARY'"],
  ['two PRODIDs', (c) => c.replace('PRODID', 'PRODID:x\r\nPRODID'), "ValidateError: 'VCALENDAR components cannot contain more than 1 PRODID'"],
  ['no PRODID, no VERSION: vobject adds them', (c) => c.replace(/PRODID:[^\r\n]*\r\n/, '').replace('VERSION:2.0\r\n', ''), 'ok'],
  ['two ORGANIZERs', (c) => c.replace(/ORGANIZER[^\r\n]*\r\n/, '$&ORGANIZER:mailto:b@example.test\r\n'), "ValidateError: 'VEVENT components cannot contain more than 1 ORGANIZER"+"'"],
  ['a VTIMEZONE without TZID', (c) => c.replace('BEGIN:VEVENT', 'BEGIN:VTIMEZONE\r\nBEGIN:STANDARD\r\nDTSTART:19701025T030000\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\nBEGIN:VEVENT'), 'AttributeError: tzid'],
  ['an empty VALARM: vobject checks nothing in alarms', (c) => c.replace('END:VEVENT', 'BEGIN:VALARM\r\nEND:VALARM\r\nEND:VEVENT'), 'ok'],
];

describe('2.x writes the calendar back with vobject before it posts it', () => {
  it.each(CASES)('%s', (_what, edit, raised) => {
    const message = reply(edit);
    const calendar = parseMessage(message, needsBody);
    const text = message.toString('latin1');
    expect(written(text.slice(text.indexOf('BEGIN:VCALENDAR'), text.indexOf('END:VCALENDAR') + 13))).toBe(raised);
    const v = classify(calendar, context('2.5', 'imap'));
    if (raised === 'ok') {
      expect(v.serverAction).not.toBe('UNKNOWN_FAILURE');
    } else {
      // inbound()'s catch-all: "Failed to process message: %s" % (e,), and 2.x deletes what it read.
      expect(v.serverAction).toBe('UNKNOWN_FAILURE');
      expect(v.logLines.at(-1)?.text).toBe(`Failed to process message: ${raised.slice(raised.indexOf(': ') + 2)}`);
      expect(v.mailboxEffect).toBe('deleted');
      // 3.0 and later parse with pycalendar and never write the calendar with vobject.
      expect(classify(calendar, context('3.0', 'imap')).logLines.map((l) => l.text).join('\n')).not.toContain(raised.slice(raised.indexOf(': ') + 2));
    }
  });
});

/** After the path: each calendar read as 2.x reads it, the ORGANIZER set as processReply sets it, then written. */
const ORACLE = String.raw`
import json, StringIO
from vobject import readComponents
from vobject.base import ContentLine, Component
def run(data):
    try:
        cal = readComponents(StringIO.StringIO(data), findBegin=False).next()
    except Exception:
        return None
    try:
        first = None
        for c in cal.getChildren():
            if isinstance(c, Component) and c.name != 'VTIMEZONE':
                first = c
                break
        orgs = [c for c in first.getChildren() if not isinstance(c, Component) and c.name == 'ORGANIZER'] if first is not None else []
        if len(orgs) == 1:
            orgs[0].value = 'mailto:organizer@example.test'
        else:
            cal.add(ContentLine('ORGANIZER', [], 'mailto:organizer@example.test', isNative=True))
        cal.serialize()
        return 'ok'
    except Exception as e:
        return type(e).__name__ + ': ' + str(e)
for s in json.loads(sys.stdin.read()):
    print(json.dumps(run(s.encode('utf-8'))))
`;

/** A TZID parameter no VTIMEZONE of the calendar defines: vobject's answer then depends on the zones the process met before. */
function undefinedZone(text: string): boolean {
  const defined = new Set([...text.matchAll(/^TZID:(.*)$/gim)].map((m) => m[1]!.trim()));
  return [...text.matchAll(/;TZID=("?)([^;:"]*)\1/gi)].some((m) => !defined.has(m[2]!));
}

describe.skipIf(!(PYTHON2 && VOBJECT))('writing back against vobject r212, fixtures and mutants', () => {
  const lines = [
    'SUMMARY:x', 'DESCRIPTION:x', 'ORGANIZER:mailto:x@example.test', 'UID:dup', 'DTSTAMP:20260302T091500Z', 'SEQUENCE:1', 'PRIORITY:1', 'STATUS:CONFIRMED',
    'DTEND:20260302T110000Z', 'DURATION:PT1H', 'DUE:20260302T110000Z', 'DTSTART:20260302T100000Z', 'RECURRENCE-ID:20260302T100000Z', 'CLASS:PUBLIC',
    'TRANSP:OPAQUE', 'URL:http://x', 'LOCATION:x', 'CREATED:20260302T091500Z', 'LAST-MODIFIED:20260302T091500Z', 'GEO:1;2', 'COMPLETED:20260302T091500Z',
    'PERCENT-COMPLETE:5', 'CONTACT:x', 'PRODID:x', 'VERSION:2.0', 'METHOD:REPLY', 'CALSCALE:GREGORIAN', 'X-FOO:bar', 'RRULE:FREQ=DAILY;COUNT=2',
    'TZURL:http://x', 'ACTION:DISPLAY', 'TRIGGER:-PT5M', 'REPEAT:1', 'BUSYTYPE:BUSY',
  ];
  const blocks = [
    ['BEGIN:VALARM', 'ACTION:DISPLAY', 'TRIGGER:-PT5M', 'DURATION:PT1M', 'DURATION:PT2M', 'END:VALARM'],
    ['BEGIN:VALARM', 'END:VALARM'],
    ['BEGIN:VTIMEZONE', 'TZID:Y', 'BEGIN:DAYLIGHT', 'DTSTART:19700329T020000', 'TZOFFSETFROM:+0100', 'TZOFFSETTO:+0200', 'END:DAYLIGHT', 'END:VTIMEZONE'],
    ['BEGIN:VTIMEZONE', 'TZID:Z', 'BEGIN:STANDARD', 'DTSTART:19701025T030000', 'TZOFFSETFROM:+0200', 'TZOFFSETTO:+0100', 'RRULE:FREQ=YEARLY', 'RRULE:FREQ=YEARLY', 'END:STANDARD', 'END:VTIMEZONE'],
    ['BEGIN:VTODO', 'UID:t', 'DTSTAMP:20260302T091500Z', 'END:VTODO'],
    ['BEGIN:VJOURNAL', 'UID:j', 'END:VJOURNAL'],
    ['BEGIN:VFREEBUSY', 'UID:f', 'DTSTAMP:20260302T091500Z', 'END:VFREEBUSY'],
    ['BEGIN:X-THING', 'SUMMARY:a', 'SUMMARY:b', 'END:X-THING'],
  ];
  const cases = lineMutants(fixtureCalendars(), { seed: 212, count: 4000, maxEdits: 3, lines, blocks });

  it('the same outcome on every calendar both parse', () => {
    const answers = runPython<string | null>(PYTHON2!, `import sys\nsys.path.insert(0, ${JSON.stringify(VOBJECT)})\n${ORACLE}`, cases);
    let compared = 0;
    const wrong = cases.flatMap((text, i) => {
      const theirs = answers[i];
      const ours = written(text);
      if (theirs === null || ours === null || undefinedZone(text)) return [];
      compared++;
      return theirs === ours ? [] : [{ i, theirs, ours, text: text.slice(0, 700) }];
    });
    expect(wrong.slice(0, 3)).toEqual([]);
    expect(compared).toBeGreaterThan(cases.length / 2);
  });
});
