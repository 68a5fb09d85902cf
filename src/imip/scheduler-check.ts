/**
 * What the calendar server's scheduler does with a reply's calendar before it delivers it to the
 * organizer: `Scheduler.checkCalendarData`, the same on every release (CalendarServer-2.5..4.3.2
 * twistedcaldav/scheduling/scheduler.py, 5.0..9.2 txdav/caldav/datastore/scheduling/scheduler.py).
 * The reply reaches it after the mail gateway is done: on 2.x–4.x as the POST to /inbox/, from
 * 5.0 in the IMIPReplyWork item (`injectMessage` → `doSchedulingDirectly`, not an internal
 * request, so the checks run). A refusal is a 403 with the CalDAV valid-calendar-data element.
 *
 * Two of its checks are modelled, those that a reply from a working client fails, and that 7.0
 * and 8.0 added `sanitizeCalendar` for ("issues seen in the wild from third party IMIP capable
 * servers"; CalendarServer-7.0/8.0 inbound.py):
 * - `validCalendarData` (3.1+, release.ts `schedulerValidatesCalendar`): pycalendar's
 *   `validate` wants exactly one PRODID and at most one METHOD on the VCALENDAR (7.0+ add a
 *   missing PRODID first), and in each VEVENT, VTODO and VJOURNAL exactly one DTSTAMP and one UID
 *   and at most one ORGANIZER, counted after the gateway added one where it found none it could
 *   use (`propertyCardinality_1`, `_0_1` of vevent.py, vtodo.py, vjournal.py: the same in
 *   apple/ccs-pycalendar 8334398, 2fc49de, 4a50392 and master).
 * - `isValidMethod`: METHOD must be one of the iTIP methods, compared as written, upper case
 *   (twistedcaldav/ical.py `isValidMethod` in every release); 8.0+ upper-case it first.
 * The rest of pycalendar's validation (each component's required properties) is not modelled.
 */
import { atLeast, featuresOf, type ServerVersion } from '../server/release.js';
import { isEraC, LOG, type LogEntry } from './inbound-log.js';
import { pyUpper } from './mime-headers.js';
import { mainComponent, serverOrganizer, type CalendarFacts } from './reply-calendar.js';

/** twistedcaldav/ical.py `isValidMethod` (2.5..9.2). */
const ITIP_METHODS: ReadonlySet<string> = new Set(['PUBLISH', 'REQUEST', 'REPLY', 'ADD', 'CANCEL', 'REFRESH', 'COUNTER', 'DECLINECOUNTER']);

export interface SchedulerRefusal {
  /** Which check refuses it. */
  check: 'prodid' | 'method' | 'component';
  /** The scheduler's description in its 403 answer. */
  description: 'Calendar component is not valid' | 'Must have valid METHOD property';
  /** What is wrong, for the admin. */
  why: string;
  /** What a fixed release does instead, when one does (null: every release refuses it). */
  laterReleases: string | null;
}

/** `str()` of the scheduler's HTTPError, as 5.0+ log it ("Failed to inject iMIP response (%s)"). */
const SCHEDULER_REFUSAL_TEXT = '<ErrorResponse 403 {urn:ietf:params:xml:ns:caldav}valid-calendar-data>';

/**
 * What the server logs when its scheduler refuses a reply: on 2.x–4.x the gateway, whose POST to
 * /inbox/ got the 403 ("Reason: 403 Forbidden", Twisted's `web.error.Error` as text); from 5.0 the
 * IMIPReplyWork item, whose `injectMessage` logs the HTTPError, which from 7.0 `doWork` catches
 * ("Unable to process reply").
 */
export function refusalLog(v: Pick<ServerVersion, 'major' | 'minor'>, messageId: string | null): LogEntry[] {
  if (!isEraC(v)) return [LOG.injectFailed(messageId, '403 Forbidden')];
  return [LOG.replyWorkFailed(SCHEDULER_REFUSAL_TEXT), ...(atLeast(v, 7) ? [LOG.unableToProcessReply()] : [])];
}

/**
 * Whether the scheduler refuses this calendar, and why. `facts` is the reply as the gateway hands
 * it on (it changes the ATTENDEEs and the ORGANIZER, neither of which these checks read).
 */
export function schedulerRefusal(facts: CalendarFacts, v: Pick<ServerVersion, 'major' | 'minor'>): SchedulerRefusal | null {
  const f = featuresOf(v);
  if (f.schedulerValidatesCalendar) {
    // 7.0+ `sanitizeCalendar`: "Don't let a missing PRODID prevent the reply from being processed".
    const prodids = f.sanitizeCalendar && facts.prodids === 0 ? 1 : facts.prodids;
    if (prodids !== 1) {
      return {
        check: 'prodid',
        description: 'Calendar component is not valid',
        why:
          prodids === 0
            ? 'the calendar has no PRODID, and the scheduler\'s validation wants exactly one'
            : `the calendar has ${prodids} PRODID properties, and the scheduler's validation wants exactly one`,
        laterReleases: prodids === 0 ? '7.0 and later add a missing PRODID first' : null,
      };
    }
    // pycalendar `propertyCardinality_0_1`; 7.0+ fail on two METHODs earlier, in sanitizeCalendar.
    if (facts.methods > 1) {
      return { check: 'method', description: 'Calendar component is not valid', why: `the calendar has ${facts.methods} METHOD properties, and the scheduler's validation allows one`, laterReleases: null };
    }
    const why = componentProblem(facts);
    if (why) return { check: 'component', description: 'Calendar component is not valid', why, laterReleases: null };
  }
  if (facts.methods === 0 || facts.methodText === null) {
    return { check: 'method', description: 'Must have valid METHOD property', why: 'the calendar has no METHOD, and the scheduler takes only iTIP messages', laterReleases: null };
  }
  // 3.0 and 2.x: `propertyValue("METHOD")` raises on two, which `isValidMethod` takes as invalid
  // (2.x's stand-in parser sees one at most).
  if (facts.methods > 1) {
    return { check: 'method', description: 'Must have valid METHOD property', why: `the calendar has ${facts.methods} METHOD properties`, laterReleases: null };
  }
  // A VALUE parameter that makes the value anything but text never equals a method's name (8.0+
  // fail on it earlier, when sanitizeCalendar upper-cases it).
  if (facts.methodClass !== null && facts.methodClass !== 'TEXT') {
    return { check: 'method', description: 'Must have valid METHOD property', why: `METHOD's VALUE parameter makes its value a ${facts.methodClass}, not the name of a method`, laterReleases: null };
  }
  const compared = f.sanitizeUpperMethod ? pyUpper(facts.methodText) : facts.methodText;
  if (ITIP_METHODS.has(compared)) return null;
  if (ITIP_METHODS.has(pyUpper(compared))) {
    return {
      check: 'method',
      description: 'Must have valid METHOD property',
      why: `METHOD is "${compared}", and the scheduler compares it with the iTIP methods as written, in upper case`,
      laterReleases: '8.0 and later upper-case METHOD first',
    };
  }
  return { check: 'method', description: 'Must have valid METHOD property', why: `METHOD is "${compared}", which is not an iTIP method`, laterReleases: null };
}

/** The components pycalendar validates with those cardinalities. */
const VALIDATED: ReadonlySet<string> = new Set(['VEVENT', 'VTODO', 'VJOURNAL']);

/**
 * A VEVENT, VTODO or VJOURNAL without exactly one DTSTAMP and one UID, or with more than one
 * ORGANIZER once the gateway is done: from 3.0 `processReply` adds an ORGANIZER to the main
 * component when the first one has none it can use (`getOrganizerProperty()` is None: none, or
 * several), so the main component can end with two or three.
 */
function componentProblem(facts: CalendarFacts): string | null {
  const gotOrganizer = serverOrganizer(facts).value === null ? mainComponent(facts) : undefined;
  for (const c of facts.components) {
    if (!VALIDATED.has(c.name)) continue;
    if (c.dtstamps !== 1) {
      return `the ${c.name} has ${c.dtstamps === 0 ? 'no DTSTAMP' : `${c.dtstamps} DTSTAMP properties`}, and the scheduler's validation wants exactly one`;
    }
    if (c.uids !== 1) return `the ${c.name} has ${c.uids === 0 ? 'no UID' : `${c.uids} UID properties`}, and the scheduler's validation wants exactly one`;
    const organizers = c.organizers + (c === gotOrganizer ? 1 : 0);
    if (organizers > 1) {
      return c === gotOrganizer
        ? `the ${c.name} ends up with ${organizers} ORGANIZER properties: the server found none it could use in the reply's first component and added one, and the scheduler's validation allows one`
        : `the ${c.name} has ${organizers} ORGANIZER properties, and the scheduler's validation allows one`;
    }
  }
  return null;
}
