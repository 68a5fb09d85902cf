/**
 * 2.x: the mail gateway writes the reply's calendar back before it POSTs it to /inbox/
 * (CalendarServer-2.5 twistedcaldav/mail.py `injectMessage`: `data = str(calendar)`, which is
 * vobject's `serialize()`, twistedcaldav/ical.py `Component.__str__`). vobject validates while it
 * writes, and what it raises reaches `inbound()`'s catch-all: "Failed to process message: …", and
 * nothing is posted. The vobject 2.x shipped is svn r212 (CalendarServer-2.5 `run`:
 * `svn_get "vObject" ... 212`), py-vobject/vobject f29f5c7:
 * - `VCalendar2_0.generateImplicitParameters` first gives each VEVENT, VTODO, VJOURNAL directly in
 *   the calendar a UID when it has none (`RecurringBehavior`), the calendar a PRODID and a VERSION,
 *   and reads the TZID of every VTIMEZONE (`x.tzid.value`: AttributeError "tzid" without one).
 * - `Behavior.validate` then checks each component with a behaviour, children first, then its own
 *   `knownChildren` counts: "%s components must contain at least %i %s", "%s components cannot
 *   contain more than %i %s". VEVENT and VAVAILABILITY refuse DTEND with DURATION, VTODO DUE with
 *   DURATION (before the counts), VTIMEZONE wants a TZID and a STANDARD or DAYLIGHT, and VALARM
 *   checks nothing. `str(ValidateError)` is the message's repr.
 * The counts are checked in the order Python 2 iterates each `knownChildren` dict (taken from
 * vobject under Python 2.7.18); sibling components in document order, where vobject takes its
 * `contents` dict's order: that only matters for a calendar with errors in two components.
 * Not modelled: a TZID no VTIMEZONE defines, for which vobject adds a VTIMEZONE from the time
 * zones the server process has met before (its global registry), so the outcome depends on history.
 * Checked against that vobject under Python 2.7 (test/oracle/vobject-serialize.test.ts).
 */
import { pyRepr } from './pycalendar/values.js';
import type { PythonException, VComponent } from './reply-calendar.js';

type Count = readonly [name: string, min: number, max: number];

/** `knownChildren` with a minimum or a maximum, in Python 2's iteration order (vobject r212, icalendar.py). */
const KNOWN: Record<string, readonly Count[]> = {
  VCALENDAR: [['VERSION', 0, 1], ['CALSCALE', 0, 1], ['METHOD', 0, 1], ['PRODID', 1, 1]],
  VEVENT: [
    ['STATUS', 0, 1], ['CREATED', 0, 1], ['URL', 0, 1], ['RECURRENCE-ID', 0, 1], ['TRANSP', 0, 1], ['SUMMARY', 0, 1], ['LAST-MODIFIED', 0, 1],
    ['DURATION', 0, 1], ['DTEND', 0, 1], ['UID', 1, 1], ['DTSTAMP', 0, 1], ['DESCRIPTION', 0, 1], ['SEQUENCE', 0, 1], ['PRIORITY', 0, 1],
    ['LOCATION', 0, 1], ['ORGANIZER', 0, 1], ['DTSTART', 0, 1], ['GEO', 0, 1], ['CLASS', 0, 1],
  ],
  VTODO: [
    ['STATUS', 0, 1], ['CREATED', 0, 1], ['URL', 0, 1], ['RECURRENCE-ID', 0, 1], ['PERCENT', 0, 1], ['DUE', 0, 1], ['SUMMARY', 0, 1],
    ['LAST-MODIFIED', 0, 1], ['DURATION', 0, 1], ['UID', 0, 1], ['DTSTAMP', 0, 1], ['DESCRIPTION', 0, 1], ['COMPLETED', 0, 1], ['SEQUENCE', 0, 1],
    ['PRIORITY', 0, 1], ['LOCATION', 0, 1], ['ORGANIZER', 0, 1], ['DTSTART', 0, 1], ['GEO', 0, 1], ['CLASS', 0, 1],
  ],
  VJOURNAL: [
    ['LAST-MODIFIED', 0, 1], ['UID', 0, 1], ['SEQUENCE', 0, 1], ['CLASS', 0, 1], ['STATUS', 0, 1], ['CREATED', 0, 1], ['URL', 0, 1],
    ['RECURRENCE-ID', 0, 1], ['SUMMARY', 0, 1], ['DTSTAMP', 0, 1], ['DESCRIPTION', 0, 1], ['ORGANIZER', 0, 1], ['DTSTART', 0, 1],
  ],
  VFREEBUSY: [['URL', 0, 1], ['CONTACT', 0, 1], ['DURATION', 0, 1], ['ORGANIZER', 0, 1], ['DTSTAMP', 0, 1], ['UID', 0, 1], ['DTEND', 0, 1], ['DTSTART', 0, 1]],
  VTIMEZONE: [['TZID', 1, 1], ['TZURL', 0, 1], ['LAST-MODIFIED', 0, 1]],
  STANDARD: [['DTSTART', 1, 1], ['RRULE', 0, 1]],
  DAYLIGHT: [['DTSTART', 1, 1], ['RRULE', 0, 1]],
  VAVAILABILITY: [
    ['DTSTAMP', 1, 1], ['UID', 1, 1], ['CREATED', 0, 1], ['URL', 0, 1], ['SEQUENCE', 0, 1], ['SUMMARY', 0, 1], ['LAST-MODIFIED', 0, 1],
    ['BUSYTYPE', 0, 1], ['DURATION', 0, 1], ['ORGANIZER', 0, 1], ['DTSTART', 0, 1], ['DTEND', 0, 1],
  ],
  AVAILABLE: [
    ['CREATED', 0, 1], ['RECURRENCE-ID', 0, 1], ['SUMMARY', 0, 1], ['LAST-MODIFIED', 0, 1], ['DURATION', 0, 1], ['DTSTAMP', 1, 1], ['UID', 1, 1],
    ['RRULE', 0, 1], ['DTEND', 0, 1], ['DTSTART', 1, 1],
  ],
  // VALARM's validate() checks nothing.
};

/**
 * The components that get a behaviour inside each (`autoBehavior`: the child's name is in its
 * parent behaviour's `knownChildren`); any other is written without a check.
 */
const CHILDREN: Record<string, readonly string[]> = {
  VCALENDAR: ['VTIMEZONE', 'VEVENT', 'VTODO', 'VJOURNAL', 'VFREEBUSY', 'VAVAILABILITY'],
  VEVENT: ['VALARM'],
  VTODO: ['VALARM'],
  VTIMEZONE: ['STANDARD', 'DAYLIGHT'],
  VAVAILABILITY: ['AVAILABLE'],
};

/** `RecurringBehavior.generateImplicitParameters`: a UID for those directly in the calendar. */
const GETS_UID: ReadonlySet<string> = new Set(['VEVENT', 'VTODO', 'VJOURNAL', 'AVAILABLE']);

/** Validation messages whose source line is continued inside the string literal (its indent is part of the text). */
const BOTH = (name: string, a: string): string => `${name} components cannot contain both ${a} and DURATION                     components`;

class ValidateError extends Error {}

function count(c: VComponent, key: string): number {
  return c.counts.get(key) ?? 0;
}

/**
 * What `str(calendar)` raises on 2.x, as `inbound()` logs it, or null when vobject writes it.
 * `version` is the value of the calendar's last VERSION line, anywhere in it: `readComponents`
 * gives the calendar the iCalendar behaviour only when that is `2.0` (`setBehaviorFromVersionLine`,
 * no default at r212), and without a behaviour nothing is checked.
 */
export function vobjectSerializeError(calendar: VComponent, version: string | null): PythonException | null {
  if (version !== '2.0') return null;
  // generateImplicitParameters, on the calendar and its direct components.
  for (const c of calendar.children) if (c.name === 'VTIMEZONE' && count(c, 'TZID') === 0) return { type: 'AttributeError', text: 'tzid' };
  try {
    validate(calendar, true);
  } catch (e) {
    if (e instanceof ValidateError) return { type: 'ValidateError', text: pyRepr(e.message) };
    throw e;
  }
  return null;
}

function validate(c: VComponent, top: boolean, generated = false, depth = 0): void {
  // VALARM checks nothing.
  if (!(c.name in KNOWN)) return;
  const has = (key: string): boolean => count(c, key) > 0;
  if ((c.name === 'VEVENT' || c.name === 'VAVAILABILITY') && has('DTEND') && has('DURATION')) throw new ValidateError(BOTH(c.name, 'DTEND'));
  if (c.name === 'VTODO' && has('DUE') && has('DURATION')) throw new ValidateError(BOTH(c.name, 'DUE'));
  if (c.name === 'VTIMEZONE') {
    if (!has('TZID')) throw new ValidateError('VTIMEZONE components must contain a valid TZID');
    if (!c.children.some((k) => k.name === 'STANDARD' || k.name === 'DAYLIGHT')) {
      throw new ValidateError('VTIMEZONE components must contain a STANDARD or a DAYLIGHT                     component');
    }
  }
  // Behaviours reach three levels at most (VCALENDAR, VTIMEZONE, STANDARD): deeper is never checked.
  if (depth < 3) for (const child of c.children) if (CHILDREN[c.name]?.includes(child.name)) validate(child, false, top && GETS_UID.has(child.name), depth + 1);
  for (const [key, min, max] of KNOWN[c.name]!) {
    let n = count(c, key);
    if (top && (key === 'PRODID' || key === 'VERSION') && n === 0) n = 1;
    if (generated && key === 'UID' && n === 0) n = 1;
    // The behaviour's `name`, which STANDARD's and DAYLIGHT's (DaylightOrStandard) leave empty.
    const label = c.name === 'STANDARD' || c.name === 'DAYLIGHT' ? '' : c.name;
    if (n < min) throw new ValidateError(`${label} components must contain at least ${min} ${key}`);
    if (n > max) throw new ValidateError(`${label} components cannot contain more than ${max} ${key}`);
  }
}
