/**
 * Whether the server's calendar parser takes a reply's calendar, and the tree it builds: a port of
 * pycalendar's text parse as twistedcaldav's `Component.fromString` calls it (3.x–5.x
 * `PyCalendar().parse(stream)`, 6.0+ `Calendar.parseData(data)`; both after the UTF-8 check and
 * the BOM strip, which the caller does).
 *
 * - Lines come from `readFoldedLine` (utils.py): the byte string is read with `readline()`, so
 *   only LF ends a line; one CR before it is dropped, a lone CR at the end too; a line whose
 *   first character is white space continues the previous one, less that character.
 * - `ContainerBase.parse` (2016) / `PyCalendar.parse` (2013): before `BEGIN:VCALENDAR` only
 *   blank lines are allowed ("iCalendar data not recognized"); `BEGIN:` (case as written)
 *   opens a component whose end is `END:` plus its name as written; `END:VCALENDAR` closes the
 *   calendar even inside a component (which is then dropped); blank lines are skipped
 *   (BLANK_LINES_IN_DATA is "fix"); every other line is a property (./property.ts). On the
 *   calendar itself `VERSION` must be the text `2.0` and `CALSCALE` `GREGORIAN`, compared as
 *   written ("Invalid property"). At the end: "iCalendar data not complete" when the calendar
 *   is still open, "iCalendar missing VERSION" without one; no `BEGIN:VCALENDAR` at all returns
 *   nothing, which twistedcaldav raises as "Unknown".
 * - A known component takes only its own kinds of sub-component (`addComponent`: VALARM in VEVENT
 *   and VTODO, STANDARD and DAYLIGHT in VTIMEZONE...); another raises ValueError.
 * - `finalise()` of a recurring component (VEVENT, VTODO, VJOURNAL, AVAILABLE) reads
 *   `RECURRENCE-ID` as a date-time and calls `getText()` on it: one whose VALUE names another type
 *   raises AttributeError.
 *
 * Checked against pycalendar itself under Python 2.7 (test/oracle/pycalendar.test.ts).
 */
import { PyCalendarError, type PyCalendarEra } from './errors.js';
import { parseProperty, type ParsedProperty } from './property.js';
import type { PyComponent } from './tree.js';
import { VALIDATION_READS } from './validate.js';
import { isPySpace, plainTextValue } from './values.js';


/**
 * The properties the verdict and the checks read. Every line is parsed (that decides whether the
 * server's parse raises), but only these are kept: a 2 MB calendar of 300,000 lines would
 * otherwise hold 300,000 objects for the collector to copy.
 */
const KEPT = new Set(['METHOD', 'PRODID', 'UID', 'ORGANIZER', 'ATTENDEE', 'RECURRENCE-ID', 'TZID', ...VALIDATION_READS]);

/** What twistedcaldav's control-character check refuses (3.0+ ical.py `validCalendarForCalDAV`). */
// eslint-disable-next-line no-control-regex -- the control characters are what it looks for
const CONTROL = /[\x00-\x08\x0b\x0c\x0e-\x1f]/;

function component(name: string): PyComponent {
  return { name, properties: [], counts: new Map(), tzids: [], control: false, children: [] };
}

/** `readFoldedLine` over `text`: the unfolded lines, blank lines as `''`. */
export function foldedLines(text: string): string[] {
  const out: string[] = [];
  let pos = 0;
  /** The next physical line: `readline()` on the byte string, LF ends a line, one CR before it goes. */
  const next = (): string | null => {
    if (pos >= text.length) return null; // readline() returned '': the end
    const nl = text.indexOf('\n', pos);
    const end = nl < 0 ? text.length : nl;
    const line = text.charCodeAt(end - 1) === 13 && end > pos ? text.slice(pos, end - 1) : text.slice(pos, end);
    pos = nl < 0 ? text.length : nl + 1;
    return line;
  };
  let pending = next(); // `lines[1]`, read ahead
  while (pending !== null) {
    let line = pending;
    pending = null;
    // Look ahead: a line starting with white space is folded in; a blank line stops the lookahead
    // (`if not lines[1]: return True`), so it comes out as a line of its own.
    for (let ahead = next(); ahead !== null; ahead = next()) {
      if (ahead !== '' && isPySpace(ahead[0]!)) {
        line += ahead.slice(1);
        continue;
      }
      pending = ahead;
      break;
    }
    out.push(line);
  }
  return out;
}

/** The ComponentRecur kinds whose `finalise()` reads RECURRENCE-ID as a date-time. */
const RECURRING = new Set(['VEVENT', 'VTODO', 'VJOURNAL', 'AVAILABLE']);

function finalise(comp: PyComponent): void {
  if (!RECURRING.has(comp.name)) return;
  const rid = comp.properties.find((p) => p.key === 'RECURRENCE-ID');
  // `getDateTimeValue()` is None unless the value is a DateTimeValue (DATE and DATE-TIME).
  if (rid && rid.valueClass !== 'DATE' && rid.valueClass !== 'DATETIME') {
    throw new PyCalendarError("'NoneType' object has no attribute 'getText'", '', 'AttributeError');
  }
}

/**
 * The sub-components a known component takes (its `addComponent`): VEVENT and VTODO only VALARM,
 * VTIMEZONE only STANDARD and DAYLIGHT, VAVAILABILITY only AVAILABLE, and from 2016 VVOTER only
 * VOTE. Anything else raises ValueError (with no message in 2013).
 */
const ALLOWED_CHILDREN: Record<string, { only: string[]; since2016?: boolean }> = {
  VEVENT: { only: ['VALARM'] },
  VTODO: { only: ['VALARM'] },
  VTIMEZONE: { only: ['STANDARD', 'DAYLIGHT'] },
  VAVAILABILITY: { only: ['AVAILABLE'] },
  VVOTER: { only: ['VOTE'], since2016: true },
};

function checkNesting(parent: string, child: string, era: PyCalendarEra): void {
  const rule = ALLOWED_CHILDREN[parent];
  if (!rule || (rule.since2016 && era !== 'pycalendar-2016') || rule.only.includes(child)) return;
  const message = era === 'pycalendar-2016' ? `Only ${rule.only.map((n) => `'${n}'`).join(' or ')} components allowed in '${parent}'` : '';
  throw new PyCalendarError(message, '', 'ValueError');
}

/** `line == "END:" + name`, without building that string for every line. */
function isEnd(line: string, name: string): boolean {
  return line.length === name.length + 4 && line.startsWith('END:') && line.endsWith(name);
}

/**
 * Parse as the era's pycalendar does: the VCALENDAR, or a PyCalendarError with pycalendar's
 * reason (or the Python exception) when the server's parse raises. `serverTypes` false for
 * 3.x–4.1, which do not register CalendarServer's own value types.
 */
export function parsePyCalendar(text: string, era: PyCalendarEra, serverTypes = true): PyComponent {
  const calendar = component('VCALENDAR');
  let open = false;
  let seen = false;
  const stack: PyComponent[] = [];
  // Every line is made of the text's characters: a text without a control character has no line
  // with one, and one search of the whole text replaces a search per line.
  const anyControl = CONTROL.test(text);
  for (const line of foldedLines(text)) {
    if (!open) {
      if (line === 'BEGIN:VCALENDAR') {
        open = true;
        seen = true;
      } else if (line !== '') {
        throw new PyCalendarError('iCalendar data not recognized', line);
      }
      continue;
    }
    const current = stack[stack.length - 1];
    if (line.startsWith('BEGIN:')) {
      stack.push(component(line.slice(6)));
    } else if (line === 'END:VCALENDAR') {
      // Components still open are dropped: they were never added to a parent.
      stack.length = 0;
      open = false;
    } else if (current && isEnd(line, current.name)) {
      finalise(current);
      stack.pop();
      const parent = stack[stack.length - 1];
      if (parent) checkNesting(parent.name, current.name, era);
      (parent ?? calendar).children.push(current);
    } else if (line === '') {
      // BLANK_LINES_IN_DATA: skipped.
    } else {
      const prop = parseProperty(line, era, serverTypes);
      if (!current && !validOnCalendar(prop)) throw new PyCalendarError('Invalid property', line);
      const into = current ?? calendar;
      into.counts.set(prop.key, (into.counts.get(prop.key) ?? 0) + 1);
      const tzid = prop.params.get('TZID')?.[0];
      if (tzid !== undefined && !into.tzids.includes(tzid)) into.tzids.push(tzid);
      if (anyControl && CONTROL.test(line)) into.control = true;
      if (KEPT.has(prop.key)) into.properties.push(prop);
    }
  }
  if (open) throw new PyCalendarError('iCalendar data not complete');
  if (!seen) throw new PyCalendarError('Unknown');
  if (!calendar.properties.some((p) => p.key === 'VERSION')) throw new PyCalendarError('iCalendar missing VERSION');
  return calendar;
}

/** `Calendar.validProperty`: `VERSION` (as written) must be `2.0`, `CALSCALE` `GREGORIAN`. */
function validOnCalendar(prop: ParsedProperty): boolean {
  if (prop.name === 'VERSION') return plainTextValue(prop) === '2.0';
  if (prop.name === 'CALSCALE') return plainTextValue(prop) === 'GREGORIAN';
  return true;
}
