/**
 * The calendar facts (METHOD, each component's UID, ORGANIZER, ATTENDEEs with PARTSTAT, VALARMs)
 * (src/imip/reply-calendar.ts). On 2.x, where ical.js stands in for vobject, they are read from
 * ical.js's parse directly and must be exactly what ical.js's own Component and Property getters
 * give: the oracle below is those getters, run on every fixture's calendar and on shapes the
 * fixtures lack. From 3.0 they come from the pycalendar port's tree, and on the fixtures (real
 * clients' replies) they must be the same facts.
 */
import ICAL from 'ical.js';
import { describe, expect, it } from 'vitest';
import { walkParts } from '../../src/imip/mime-part.js';
import { parseCalendar, serverOrganizer, utf8DecodeError, type CalendarFacts } from '../../src/imip/reply-calendar.js';
import { parseFixture } from './message-fixtures.js';

function oracle(text: string): CalendarFacts {
  const vcal = new ICAL.Component(ICAL.parse(text) as unknown[]);
  const str = (v: unknown): string | null => (v === null || v === undefined ? null : String(v));
  const components = vcal
    .getAllSubcomponents()
    .filter((c) => c.name.toLowerCase() !== 'vtimezone')
    .map((comp) => ({
      name: comp.name.toUpperCase(),
      uid: str(comp.getFirstPropertyValue('uid')),
      organizer: str(comp.getFirstPropertyValue('organizer')),
      organizers: comp.getAllProperties('organizer').length,
      attendees: comp.getAllProperties('attendee').map((p) => {
        const ps = p.getParameter('partstat') as unknown;
        return { value: String(p.getFirstValue() ?? ''), partstat: ps === null || ps === undefined ? null : (Array.isArray(ps) ? ps.join(',') : String(ps)).toUpperCase() };
      }),
      valarms: comp.getAllSubcomponents('valarm').length,
      recurrenceId: comp.getFirstProperty('recurrence-id') !== null,
      node: null,
    }));
  const method = vcal.getFirstPropertyValue('method');
  const none = method === null || method === undefined;
  const timezones = vcal.getAllSubcomponents('vtimezone').length;
  const prodids = vcal.getAllProperties('prodid').length;
  return { method: none ? null : String(method).toUpperCase(), methodText: none ? null : String(method), prodids, methods: none ? 0 : 1, methodClass: null, components, timezones, tree: null, vobject: null, lastVersion: null };
}

/** The facts without pycalendar's tree, which only the pycalendar parse has. */
function withoutTree(facts: CalendarFacts): CalendarFacts {
  return { ...facts, tree: null, vobject: null, lastVersion: null, components: facts.components.map((c) => ({ ...c, node: null })) };
}

const FIXTURES = [
  'apple-mail-reply', 'attendee-mismatch', 'dsn-with-invitation', 'gmail-reply', 'iphone-reply', 'outlook-reply',
  'outlook-reply-no-organizer', 'thunderbird-reply', 'token-only-in-calendar', 'token-uppercase', 'extra-plus',
];

const cal = (...lines: string[]): string => ['BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//t//t//EN', ...lines, 'END:VCALENDAR', ''].join('\r\n');
const SHAPES: Record<string, string> = {
  'no METHOD, a VTIMEZONE first, a VALARM': cal(
    'BEGIN:VTIMEZONE', 'TZID:Europe/Paris', 'BEGIN:STANDARD', 'DTSTART:19701025T030000', 'TZOFFSETFROM:+0200', 'TZOFFSETTO:+0100', 'END:STANDARD', 'END:VTIMEZONE',
    'BEGIN:VEVENT', 'UID:a1', 'DTSTART;TZID=Europe/Paris:20261204T100000', 'ORGANIZER:mailto:calendar+2d8f7d1e-0000-4000-8000-000000000001@example.com',
    'ATTENDEE;PARTSTAT=accepted:mailto:bob@example.org', 'BEGIN:VALARM', 'ACTION:DISPLAY', 'TRIGGER:-PT15M', 'END:VALARM', 'END:VEVENT',
  ),
  'ORGANIZER typed as a recurrence rule, ATTENDEE without PARTSTAT, two PARTSTAT values': cal(
    'METHOD:reply', 'BEGIN:VEVENT', 'UID:a2', 'ORGANIZER;VALUE=RECUR:FREQ=DAILY;COUNT=2', 'ATTENDEE:mailto:a@example.org',
    'ATTENDEE;PARTSTAT=ACCEPTED,DECLINED:mailto:b@example.org', 'ATTENDEE;VALUE=URI:', 'END:VEVENT',
  ),
  'two components (VTODO, X-COMP), no UID, ORGANIZER twice': cal(
    'METHOD:REPLY', 'BEGIN:VTODO', 'ORGANIZER:mailto:first@example.com', 'ORGANIZER:mailto:second@example.com', 'END:VTODO',
    'BEGIN:X-THING', 'UID:x', 'END:X-THING',
  ),
  'METHOD with parameters, UID typed as an integer': cal('METHOD;X-A=1:REPLY', 'BEGIN:VEVENT', 'UID;VALUE=INTEGER:42', 'END:VEVENT'),
  // vobject (2.x) reads a VCALENDAR without a component too; the classifier says what follows.
  'no component at all': cal('METHOD:REPLY'),
  'a VTIMEZONE and no main component': cal(
    'METHOD:REPLY', 'BEGIN:VTIMEZONE', 'TZID:Europe/Paris', 'BEGIN:STANDARD', 'DTSTART:19701025T030000', 'TZOFFSETFROM:+0200', 'TZOFFSETTO:+0100', 'END:STANDARD', 'END:VTIMEZONE',
  ),
};

describe('calendar facts read from the parse equal ical.js getters', () => {
  for (const name of FIXTURES) {
    it(`fixture ${name}`, () => {
      const parsed = parseFixture(name);
      const bodies = walkParts(parsed.root).flatMap((p) => (p.type === 'text/calendar' ? [parsed.bodies.get(p.part)] : []));
      // Every calendar part's body is kept (the classifier needs them all), so each is compared.
      expect(bodies.length).toBeGreaterThan(0);
      for (const body of bodies) {
        expect(body).toBeDefined();
        const r = parseCalendar(body!, null);
        expect(r.ok).toBe(true);
        if (r.ok) expect(withoutTree(r.facts)).toEqual(oracle(r.text));
        for (const era of ['pycalendar-2013', 'pycalendar-2016'] as const) {
          const py = parseCalendar(body!, era);
          // The same facts; only pycalendar knows the class of METHOD's value (TEXT here).
          expect(py.ok && py.facts.methodClass, era).toBe(r.ok && r.facts.method !== null ? 'TEXT' : null);
          expect(py.ok && { ...withoutTree(py.facts), methodClass: null }, era).toEqual(r.ok && withoutTree(r.facts));
        }
      }
    });
  }
  for (const [label, text] of Object.entries(SHAPES)) {
    it(label, () => {
      const r = parseCalendar(Buffer.from(text), null);
      expect(r.ok).toBe(true);
      if (r.ok) expect(withoutTree(r.facts)).toEqual(oracle(text));
    });
  }
  it('an ORGANIZER typed as a recurrence rule is the rule as ical.js writes it, not its parsed form', () => {
    const r = parseCalendar(Buffer.from(SHAPES['ORGANIZER typed as a recurrence rule, ATTENDEE without PARTSTAT, two PARTSTAT values']!), null);
    expect(r.ok && r.facts.components[0]!.organizer).toBe('FREQ=DAILY;COUNT=2');
  });

  it('the ORGANIZER the server takes: the first component\'s, and none when it has two', () => {
    const two = parseCalendar(Buffer.from(SHAPES['two components (VTODO, X-COMP), no UID, ORGANIZER twice']!), 'pycalendar-2016');
    expect(two.ok && serverOrganizer(two.facts)).toEqual({ component: expect.objectContaining({ name: 'VTODO', organizers: 2 }), value: null });
    const override = cal('BEGIN:VEVENT', 'UID:u', 'END:VEVENT', 'BEGIN:VEVENT', 'UID:u', 'RECURRENCE-ID:20260302T100000Z', 'ORGANIZER:mailto:o@example.com', 'END:VEVENT');
    const r = parseCalendar(Buffer.from(override), 'pycalendar-2016');
    expect(r.ok && serverOrganizer(r.facts).value).toBeNull();
  });
});

describe("Python 2.7's strict UTF-8 decoder (the calendar's str.decode('utf-8'))", () => {
  // Cases from CPython 2.7 Lib/test/test_unicode.py (test_utf8_decode_invalid_sequences,
  // test_issue8271: the replacement output there pins which bytes each error covers).
  const bytes = (hex: string): Uint8Array => Uint8Array.from(hex.split(' ').map((h) => parseInt(h, 16)));
  it.each([
    ['80', [0, 1, 'invalid start byte']],
    ['c0 80', [0, 1, 'invalid start byte']],
    ['61 f5 80 80 80', [1, 2, 'invalid start byte']],
    ['c2', [0, 1, 'unexpected end of data']],
    ['c2 41', [0, 1, 'invalid continuation byte']],
    ['e1 80', [0, 2, 'unexpected end of data']],
    // Cut by the end before its bytes are looked at: 41 is not blamed.
    ['e1 41', [0, 1, 'unexpected end of data']],
    ['e1 80 41', [0, 2, 'invalid continuation byte']],
    ['e1 41 80', [0, 1, 'invalid continuation byte']],
    ['f1 80 80 41', [0, 3, 'invalid continuation byte']],
    ['f1 80 41 41', [0, 2, 'invalid continuation byte']],
    // Overlong forms and code points past U+10FFFF.
    ['e0 80 80', [0, 2, 'invalid continuation byte']],
    ['e0 9f bf', [0, 2, 'invalid continuation byte']],
    ['f0 8f bf bf', [0, 3, 'invalid continuation byte']],
    ['f4 90 80 80', [0, 3, 'invalid continuation byte']],
  ] as const)('%s', (hex, [start, end, reason]) => {
    expect(utf8DecodeError(bytes(hex))).toEqual({ start, end, reason });
  });

  it('takes what Python 2 takes, encoded surrogates included', () => {
    for (const hex of ['e0 a0 80', 'ed 9f bf', 'ed a0 80', 'ed bf bf', 'ef bf bf', 'f0 90 80 80', 'f4 8f bf bf', 'c2 80 df bf']) {
      expect(utf8DecodeError(bytes(hex)), hex).toBeNull();
    }
  });

  it('writes the error as str(UnicodeDecodeError) does: one byte, or a range of bytes', () => {
    const cal = (tail: number[]): Uint8Array => Uint8Array.from([...Buffer.from('BEGIN:VCALENDAR\r\nX:'), ...tail, 0x0d, 0x0a]);
    const one = parseCalendar(cal([0xe9, 0x74, 0xe9]));
    expect(one.ok ? null : one.error).toBe("'utf8' codec can't decode byte 0xe9 in position 19: invalid continuation byte");
    const overlong = parseCalendar(cal([0xe0, 0x80, 0x80]));
    expect(overlong.ok ? null : [overlong.reason, overlong.error]).toEqual(['not-utf8', "'utf8' codec can't decode bytes in position 19-20: invalid continuation byte"]);
  });
});
