/**
 * pycalendar's `validate(doFix=True)`, which the calendar server's scheduler runs on every reply
 * from 3.1 (twistedcaldav/ical.py `validCalendarData`, called by `Scheduler.checkCalendarData`;
 * the same call in CalendarServer-3.1 through 9.2): the problems it cannot fix. Any one of them
 * makes the scheduler refuse the reply (scheduler-check.ts).
 *
 * A port of apple/ccs-pycalendar's `validate` as 2fc49de (CalendarServer 5.0) and 4a50392 (9.0)
 * have it; master (9.2) has the same tables and checks:
 * - componentbase.py `validate`: per component, the cardinality checks in order (`_1`,
 *   `_1_Fix_Empty`, `_0_1`, `_1_More`, and for recurring components the STATUS check of
 *   componentrecur.py), then the value checks of icalendar/validation.py on every property, then
 *   each sub-component, then the component's own extra checks.
 * - A component's class comes from its name as written (calendar.py `makeComponent`); an unknown
 *   name gets no cardinalities, only the value checks. VPOLL, VVOTER and VOTE are known from 2016.
 * - A VALARM's tables follow its ACTION as written (valarm.py `sActionMap`); without ACTION it
 *   keeps DISPLAY's, and PROCEDURE or any other action takes the unknown action's.
 * - What `doFix` mends is not a problem: a missing DESCRIPTION (and for EMAIL SUMMARY) in an alarm,
 *   several STATUS of which one is CANCELLED, DTEND beside DURATION, DURATION beside DUE, an UNTIL
 *   of the wrong value type.
 * The texts are pycalendar's, as the server logs them at debug level ("Calendar data had
 * unfixable problems").
 *
 * CalendarServer 3.1 pinned a PyCalendar of September 2011, before multiple STATUS could be fixed
 * (ccs-pycalendar cad3000, October 2011): STATUS was one of the "at most one" properties. That is
 * modelled. Its alarms had no URI or NONE action and no limit on ACKNOWLEDGED (9d3d39d, November
 * 2011); that is not, and 3.1 is checked as 3.2 is there.
 *
 * Checked against pycalendar under Python 2.7 (test/oracle/pycalendar-validate.test.ts).
 */
import type { PyComponent } from './tree.js';
import type { PyCalendarEra } from './errors.js';
import type { ParsedProperty } from './property.js';
import { pyUpper } from '../mime-headers.js';
import { plainTextValue, pyInt } from './values.js';

interface Rules {
  one?: readonly string[];
  oneFixEmpty?: readonly string[];
  atMostOne?: readonly string[];
  oneOrMore?: readonly string[];
  /** A ComponentRecur: the STATUS check (componentrecur.py `check_cardinality_STATUS_Fix`). */
  recur?: boolean;
  /** The component's own checks after the common ones. */
  extra?: (c: PyComponent, problems: Problem[], ctx: Context) => void;
}

export interface Problem {
  /** The component (its name as written is `node.name`). */
  node: PyComponent;
  /** The property the problem is about, when it is about one. */
  property: string | null;
  /** pycalendar's text, as the server's debug log has it. */
  text: string;
  /** What is wrong, for the admin. */
  why: string;
}

/** What the server changed on the calendar before the scheduler validates it. */
export interface Adjustments {
  /** A component the gateway added an ORGANIZER to. */
  organizerAddedTo?: PyComponent | null;
  /** A missing PRODID added (6.1–6.2 `processReply`, 7.0+ `sanitizeCalendar`). */
  prodidAdded?: boolean;
  /** 7.0+ `sanitizeCalendar`: every STATUS removed from a METHOD:REPLY. */
  statusRemoved?: boolean;
  /** CalendarServer 3.1's PyCalendar: STATUS is at most one, with no fix. */
  statusAtMostOne?: boolean;
}

interface Context extends Adjustments {
  era: PyCalendarEra;
  /** The VCALENDAR has a METHOD (VEVENT wants DTSTART without one). */
  hasMethod: boolean;
}

const DURATION_REPEAT_ACK = ['DURATION', 'REPEAT', 'ACKNOWLEDGED'];

/** VALARM tables by action (valarm.py, the action classes). */
const ALARM_RULES: Record<string, Rules> = {
  AUDIO: { one: ['ACTION', 'TRIGGER'], atMostOne: ['DURATION', 'REPEAT', 'ATTACH', 'ACKNOWLEDGED'] },
  DISPLAY: { one: ['ACTION', 'TRIGGER'], oneFixEmpty: ['DESCRIPTION'], atMostOne: DURATION_REPEAT_ACK },
  EMAIL: { one: ['ACTION', 'TRIGGER'], oneFixEmpty: ['DESCRIPTION', 'SUMMARY'], atMostOne: DURATION_REPEAT_ACK, oneOrMore: ['ATTENDEE'] },
  URI: { one: ['ACTION', 'TRIGGER', 'URL'], atMostOne: DURATION_REPEAT_ACK },
  NONE: { one: ['ACTION'] },
  unknown: { one: ['ACTION', 'TRIGGER'], atMostOne: DURATION_REPEAT_ACK },
};

const RULES: Record<string, Rules> = {
  VCALENDAR: { one: ['PRODID', 'VERSION'], atMostOne: ['CALSCALE', 'METHOD'] },
  VEVENT: {
    one: ['DTSTAMP', 'UID'],
    atMostOne: ['CLASS', 'CREATED', 'DESCRIPTION', 'GEO', 'LAST-MODIFIED', 'LOCATION', 'ORGANIZER', 'PRIORITY', 'SEQUENCE', 'SUMMARY', 'TRANSP', 'URL', 'RECURRENCE-ID', 'RRULE', 'DTEND', 'DURATION'],
    recur: true,
    // DTEND beside DURATION is fixed (DTEND removed).
    extra: (c, problems, ctx) => {
      if (!ctx.hasMethod && count(c, 'DTSTART') === 0) {
        problems.push(problem(c, 'Missing required property: DTSTART', 'has no DTSTART, which a calendar without METHOD needs', 'DTSTART'));
      }
    },
  },
  VTODO: {
    one: ['DTSTAMP', 'UID'],
    atMostOne: ['CLASS', 'COMPLETED', 'CREATED', 'DESCRIPTION', 'DTSTART', 'GEO', 'LAST-MODIFIED', 'LOCATION', 'ORGANIZER', 'PERCENT-COMPLETE', 'PRIORITY', 'RECURRENCE-ID', 'SEQUENCE', 'SUMMARY', 'URL', 'RRULE', 'DUE', 'DURATION'],
    recur: true,
    extra: (c, problems) => {
      // DUE beside DURATION is fixed by removing DURATION, before the next check looks.
      const duration = count(c, 'DURATION') > 0 && count(c, 'DUE') === 0;
      if (duration && count(c, 'DTSTART') === 0) {
        problems.push(problem(c, 'Property must be present: DTSTART with DURATION', 'has a DURATION without DTSTART', 'DTSTART'));
      }
    },
  },
  VJOURNAL: {
    one: ['DTSTAMP', 'UID'],
    atMostOne: ['CLASS', 'CREATED', 'DTSTART', 'LAST-MODIFIED', 'ORGANIZER', 'RECURRENCE-ID', 'SEQUENCE', 'SUMMARY', 'URL', 'RRULE'],
    recur: true,
  },
  VFREEBUSY: { one: ['DTSTAMP', 'UID'], atMostOne: ['CONTACT', 'DTSTART', 'DTEND', 'ORGANIZER', 'URL'] },
  VTIMEZONE: {
    one: ['TZID'],
    atMostOne: ['LAST-MODIFIED', 'TZURL'],
    extra: (c, problems) => {
      // The parser takes only STANDARD and DAYLIGHT in a VTIMEZONE (calendar.ts).
      if (c.children.length === 0) {
        problems.push(problem(c, 'At least one component must be present: STANDARD or DAYLIGHT', 'has neither a STANDARD nor a DAYLIGHT component'));
      }
    },
  },
  STANDARD: { one: ['DTSTART', 'TZOFFSETTO', 'TZOFFSETFROM'], atMostOne: ['RRULE'] },
  DAYLIGHT: { one: ['DTSTART', 'TZOFFSETTO', 'TZOFFSETFROM'], atMostOne: ['RRULE'] },
  VAVAILABILITY: {
    one: ['DTSTAMP', 'UID'],
    atMostOne: ['BUSYTYPE', 'CLASS', 'CREATED', 'DESCRIPTION', 'DTSTART', 'LAST-MODIFIED', 'ORGANIZER', 'SEQUENCE', 'SUMMARY', 'URL', 'RECURRENCE-ID', 'DTEND', 'DURATION'],
  },
  AVAILABLE: {
    one: ['DTSTAMP', 'DTSTART', 'UID'],
    atMostOne: ['CREATED', 'DESCRIPTION', 'GEO', 'LAST-MODIFIED', 'LOCATION', 'RECURRENCE-ID', 'RRULE', 'SEQUENCE', 'SUMMARY', 'DTEND', 'DURATION'],
    recur: true,
  },
};

/** Known from pycalendar 2016 (icalendar/vpoll.py, vvoter.py, vote.py). */
const RULES_2016: Record<string, Rules> = {
  VPOLL: {
    one: ['DTSTAMP', 'UID', 'ORGANIZER'],
    atMostOne: [
      'ACCEPT-RESPONSE', 'CLASS', 'CREATED', 'COMPLETED', 'DESCRIPTION', 'DTSTART', 'DTEND', 'DURATION', 'LAST-MODIFIED',
      'POLL-MODE', 'POLL-PROPERTIES', 'POLL-WINNER', 'PRIORITY', 'SEQUENCE', 'STATUS', 'SUMMARY', 'URL',
    ],
  },
  VVOTER: { one: ['VOTER'], atMostOne: ['CREATED', 'DESCRIPTION', 'LAST-MODIFIED', 'SUMMARY', 'URL'] },
  VOTE: { atMostOne: ['POLL-ITEM-ID', 'RESPONSE'] },
};

/** icalendar/validation.py `ICALENDAR_VALUE_CHECKS`: whether a property's value passes, and what it must be. */
const VALUE_CHECKS: Record<string, { ok: (p: ParsedProperty) => boolean; must: string }> = {
  CALSCALE: { ok: (p) => textIs(p, 'GREGORIAN'), must: 'must be GREGORIAN' },
  VERSION: { ok: (p) => textIs(p, '2.0'), must: 'must be 2.0' },
  'PERCENT-COMPLETE': { ok: (p) => integerIn(p, 0, 100), must: 'must be an integer from 0 to 100' },
  PRIORITY: { ok: (p) => integerIn(p, 0, 9), must: 'must be an integer from 0 to 9' },
  COMPLETED: { ok: isUtc, must: 'must be a date-time in UTC' },
  REPEAT: { ok: (p) => integerIn(p, 0, Infinity), must: 'must be an integer of 0 or more' },
  CREATED: { ok: isUtc, must: 'must be a date-time in UTC' },
  DTSTAMP: { ok: isUtc, must: 'must be a date-time in UTC' },
  'LAST-MODIFIED': { ok: isUtc, must: 'must be a date-time in UTC' },
  SEQUENCE: { ok: (p) => integerIn(p, 0, Infinity), must: 'must be an integer of 0 or more' },
  ACKNOWLEDGED: { ok: isUtc, must: 'must be a date-time in UTC' },
};

/** The properties validation reads besides counting them: those with a value check, STATUS and ACTION. */
export const VALIDATION_READS: readonly string[] = [...Object.keys(VALUE_CHECKS), 'STATUS', 'ACTION'];

/** validation.py `stringValue`: a plain-text value equal to `text`, ignoring case. */
function textIs(p: ParsedProperty, text: string): boolean {
  const v = plainTextValue(p);
  return v !== null && v.toLowerCase() === text.toLowerCase();
}

/** `numericRange` and `positiveIntegerOrZero`: an INTEGER value within the range. */
function integerIn(p: ParsedProperty, low: number, high: number): boolean {
  if (p.valueClass !== 'INTEGER') return false;
  const n = pyInt(p.value);
  return n >= low && n <= high;
}

/**
 * `alwaysUTC`: a DATE or DATE-TIME value (one class in pycalendar) whose time ends in `Z`; a TZID
 * parameter on a DATE-TIME makes it local whatever the value says (`setTimezoneID`).
 */
function isUtc(p: ParsedProperty): boolean {
  if (p.valueClass !== 'DATE' && p.valueClass !== 'DATETIME') return false;
  if (p.valueClass === 'DATETIME' && p.params.has('TZID')) return false;
  return p.value.includes('T') && p.value.endsWith('Z');
}

function count(c: PyComponent, key: string): number {
  return c.counts.get(key) ?? 0;
}

function problem(c: PyComponent, text: string, why: string, property: string | null = null): Problem {
  return { node: c, property, text: `[${c.name}] ${text}`, why: `the ${c.name} ${why}` };
}

function several(n: number, key: string): string {
  return n === 0 ? `no ${key}` : `${n} ${key} properties`;
}

/** The tables of a component, by its name as written. */
function rulesFor(c: PyComponent, era: PyCalendarEra): Rules | null {
  if (c.name === 'VALARM') {
    const action = c.properties.find((p) => p.key === 'ACTION');
    // `loadValueString` (`getTextValue()`: any plain-text value); without one the alarm stays DISPLAY.
    const name = (action && plainTextValue(action)) ?? 'DISPLAY';
    return ALARM_RULES[name] ?? ALARM_RULES.unknown!;
  }
  return RULES[c.name] ?? (era === 'pycalendar-2016' ? RULES_2016[c.name] : undefined) ?? null;
}

/** The problems pycalendar's `validate(doFix=True)` leaves unfixed, in its order. */
export function validatePyCalendar(calendar: PyComponent, era: PyCalendarEra, adjust: Adjustments = {}): Problem[] {
  const ctx: Context = {
    era,
    hasMethod: count(calendar, 'METHOD') > 0,
    organizerAddedTo: adjust.organizerAddedTo ?? null,
    prodidAdded: adjust.prodidAdded ?? false,
    statusRemoved: adjust.statusRemoved ?? false,
    statusAtMostOne: adjust.statusAtMostOne ?? false,
  };
  const problems: Problem[] = [];
  validate(calendar, problems, ctx);
  return problems.slice(0, MAX_PROBLEMS);
}

/**
 * The problems kept: the first is what the verdict names, and the finding's evidence lists these.
 * A calendar of 100,000 faulty events would otherwise carry 100,000 texts into the report.
 */
export const MAX_PROBLEMS = 20;

/** How many `key` properties `c` has once the server's changes are made. */
function countAfter(c: PyComponent, key: string, ctx: Context): number {
  if (ctx.statusRemoved && key === 'STATUS') return 0;
  const n = count(c, key);
  if (key === 'PRODID' && ctx.prodidAdded && n === 0 && c.name === 'VCALENDAR') return 1;
  return key === 'ORGANIZER' && c === ctx.organizerAddedTo ? n + 1 : n;
}

/**
 * How deep the walk goes. pycalendar's `validate` recurses, as does the server's writing the
 * calendar back; far below this depth Python would exceed its recursion limit of 1000, which is not
 * modelled. The walk stops here so that no calendar, however deep, exhausts this process's stack.
 */
export const MAX_NESTING = 200;

function validate(c: PyComponent, problems: Problem[], ctx: Context, depth = 0): void {
  if (problems.length >= MAX_PROBLEMS) return;
  const rules = rulesFor(c, ctx.era);
  const counted = (key: string): number => countAfter(c, key, ctx);
  if (rules) {
    for (const key of rules.one ?? []) {
      const n = counted(key);
      if (n !== 1) problems.push(problem(c, `Missing or too many required property: ${key}`, `has ${several(n, key)}, and the scheduler's validation wants exactly one`, key));
    }
    for (const key of rules.oneFixEmpty ?? []) {
      // None is fixed by adding an empty one.
      const n = counted(key);
      if (n > 1) problems.push(problem(c, `Too many required property: ${key}`, `has ${n} ${key} properties, and the scheduler's validation allows one`, key));
    }
    const atMostOne = ctx.statusAtMostOne && rules.recur && c.name !== 'AVAILABLE' ? [...(rules.atMostOne ?? []), 'STATUS'] : (rules.atMostOne ?? []);
    for (const key of atMostOne) {
      const n = counted(key);
      if (n > 1) problems.push(problem(c, `Too many properties present: ${key}`, `has ${n} ${key} properties, and the scheduler's validation allows one`, key));
    }
    for (const key of rules.oneOrMore ?? []) {
      if (counted(key) === 0) problems.push(problem(c, `Missing required property: ${key}`, `has no ${key}, and the scheduler's validation wants at least one`, key));
    }
    if (rules.recur && !ctx.statusAtMostOne) {
      const n = counted('STATUS');
      // Fixed when one of them is CANCELLED (`getTextValue().getValue().upper()`: any plain-text value).
      const cancelled = c.properties.some((p) => p.key === 'STATUS' && pyUpper(plainTextValue(p) ?? '') === 'CANCELLED');
      if (n > 1 && !cancelled) problems.push(problem(c, 'Too many properties: STATUS', `has ${n} STATUS properties, none of them CANCELLED, and the scheduler's validation allows one`, 'STATUS'));
    }
  }
  for (const p of c.properties) {
    const check = VALUE_CHECKS[p.key];
    if (!check || check.ok(p)) continue;
    const shown = p.value.length > 40 ? `${p.value.slice(0, 40)}…` : p.value;
    problems.push(problem(c, `Property value incorrect: ${p.key}`, `has ${p.key}:${shown}, whose value ${check.must}`, p.key));
  }
  if (depth < MAX_NESTING) for (const child of c.children) validate(child, problems, ctx, depth + 1);
  if (rules?.extra) rules.extra(c, problems, ctx);
  if (c.name === 'VALARM' && (counted('DURATION') > 0) !== (counted('REPEAT') > 0)) {
    problems.push(problem(c, 'Properties must be present together: DURATION, REPEAT', `has ${counted('DURATION') > 0 ? 'DURATION without REPEAT' : 'REPEAT without DURATION'}, and the scheduler's validation wants both or neither`));
  }
}
