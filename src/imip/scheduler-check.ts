/**
 * What the calendar server's scheduler does with a reply's calendar before it delivers it to the
 * organizer: `Scheduler.checkCalendarData`, the same on every release (CalendarServer-2.5..4.3.2
 * twistedcaldav/scheduling/scheduler.py, 5.0..9.2 txdav/caldav/datastore/scheduling/scheduler.py).
 * The reply reaches it after the mail gateway is done: on 2.x–4.x as the POST to /inbox/, from
 * 5.0 in the IMIPReplyWork item (`injectMessage` → `doSchedulingDirectly`, not an internal
 * request, so the checks run). A refusal is a 403 with the CalDAV valid-calendar-data element.
 *
 * Its first two checks are modelled:
 * - `validCalendarData` (3.1+, release.ts `schedulerValidatesCalendar`): pycalendar's `validate`
 *   with its fixes (./pycalendar/validate.ts): exactly one PRODID and VERSION and at most one
 *   METHOD on the VCALENDAR, each component's required and at-most-once properties, UTC stamps,
 *   PRIORITY and SEQUENCE in range, complete alarms and time zones. It sees the calendar as the
 *   gateway hands it on: with the ORGANIZER the gateway added where it found none it could use,
 *   and on 7.0 and later after `sanitizeCalendar` ("issues seen in the wild from third party IMIP
 *   capable servers"; CalendarServer-7.0/8.0 inbound.py) added a missing PRODID and removed STATUS
 *   from a METHOD:REPLY.
 * - `isValidMethod`: METHOD must be one of the iTIP methods, compared as written, upper case
 *   (twistedcaldav/ical.py `isValidMethod` in every release); 8.0+ upper-case it first.
 * `isValidITIP` (one kind of component, one UID, time zones referenced) is not modelled.
 */
import { atLeast, featuresOf, type ServerVersion } from '../server/release.js';
import { isEraC, LOG, type LogEntry } from './inbound-log.js';
import { pyUpper } from './mime-headers.js';
import type { PyComponent } from './pycalendar/calendar.js';
import { validatePyCalendar } from './pycalendar/validate.js';
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
  /** What pycalendar's validation left unfixed, in its words (empty for the METHOD check). */
  problems: string[];
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
 * Whether the scheduler refuses this calendar, and why. `facts` is the reply as the gateway read
 * it; what the gateway changes before it hands it on is applied here.
 */
export function schedulerRefusal(facts: CalendarFacts, v: Pick<ServerVersion, 'major' | 'minor'>): SchedulerRefusal | null {
  const f = featuresOf(v);
  if (f.schedulerValidatesCalendar && facts.tree && f.calendarParser !== 'vobject') {
    const refused = validationRefusal(facts, facts.tree, v);
    if (refused) return refused;
  }
  if (facts.methods === 0 || facts.methodText === null) {
    return { check: 'method', description: 'Must have valid METHOD property', why: 'the calendar has no METHOD, and the scheduler takes only iTIP messages', laterReleases: null, problems: [] };
  }
  // 3.0 and 2.x: `propertyValue("METHOD")` raises on two, which `isValidMethod` takes as invalid
  // (2.x's stand-in parser sees one at most).
  if (facts.methods > 1) {
    return { check: 'method', description: 'Must have valid METHOD property', why: `the calendar has ${facts.methods} METHOD properties`, laterReleases: null, problems: [] };
  }
  // A VALUE parameter that makes the value anything but text never equals a method's name (8.0+
  // fail on it earlier, when sanitizeCalendar upper-cases it).
  if (facts.methodClass !== null && facts.methodClass !== 'TEXT') {
    return { check: 'method', description: 'Must have valid METHOD property', why: `METHOD's VALUE parameter makes its value a ${facts.methodClass}, not the name of a method`, laterReleases: null, problems: [] };
  }
  const compared = f.sanitizeUpperMethod ? pyUpper(facts.methodText) : facts.methodText;
  if (ITIP_METHODS.has(compared)) return null;
  if (ITIP_METHODS.has(pyUpper(compared))) {
    return {
      check: 'method',
      description: 'Must have valid METHOD property',
      why: `METHOD is "${compared}", and the scheduler compares it with the iTIP methods as written, in upper case`,
      laterReleases: '8.0 and later upper-case METHOD first',
      problems: [],
    };
  }
  return { check: 'method', description: 'Must have valid METHOD property', why: `METHOD is "${compared}", which is not an iTIP method`, laterReleases: null, problems: [] };
}

/**
 * `validCalendarData` (3.1+): pycalendar's validation of the calendar as the gateway hands it on,
 * after it added an ORGANIZER to the main component where it found none it could use in the first
 * one (3.0+ `processReply`: `getOrganizerProperty()` is None for none or several), and on 7.0 and
 * later after `sanitizeCalendar` added a missing PRODID and removed every STATUS from a
 * METHOD:REPLY (8.0+ compare the upper-cased METHOD).
 */
function validationRefusal(facts: CalendarFacts, tree: PyComponent, v: Pick<ServerVersion, 'major' | 'minor'>): SchedulerRefusal | null {
  const f = featuresOf(v);
  const main = serverOrganizer(facts).value === null ? mainComponent(facts) : undefined;
  const method = facts.methodText === null ? null : f.sanitizeUpperMethod ? pyUpper(facts.methodText) : facts.methodText;
  const problems = validatePyCalendar(tree, f.calendarParser === 'pycalendar-2016' ? 'pycalendar-2016' : 'pycalendar-2013', {
    organizerAddedTo: main?.node ?? null,
    prodidAdded: f.sanitizeCalendar,
    statusRemoved: f.sanitizeCalendar && method === 'REPLY',
    statusAtMostOne: v.major === 3 && v.minor === 1,
  });
  const first = problems[0];
  if (!first) return null;
  const texts = problems.map((p) => p.text);
  const base = { description: 'Calendar component is not valid' as const, problems: texts };
  if (first.node === tree && first.property === 'PRODID') {
    const prodids = facts.prodids;
    return {
      ...base,
      check: 'prodid',
      why: prodids === 0 ? "the calendar has no PRODID, and the scheduler's validation wants exactly one" : `the calendar has ${prodids} PRODID properties, and the scheduler's validation wants exactly one`,
      laterReleases: prodids === 0 ? '7.0 and later add a missing PRODID first' : null,
    };
  }
  // Without METHOD a VEVENT must have DTSTART; the METHOD is what is wrong with a reply.
  if (facts.methods === 0 && first.property === 'DTSTART' && first.text.endsWith('Missing required property: DTSTART')) {
    return { ...base, check: 'method', why: `the calendar has no METHOD, and the scheduler takes only iTIP messages (its validation also wants a DTSTART in the ${first.component} of a calendar without METHOD)`, laterReleases: null };
  }
  if (first.node === tree && first.property === 'METHOD') {
    return { ...base, check: 'method', why: `the calendar has ${facts.methods} METHOD properties, and the scheduler's validation allows one`, laterReleases: null };
  }
  const added = main && first.node === main.node && first.property === 'ORGANIZER' ? main : null;
  const status = first.property === 'STATUS' && !f.sanitizeCalendar && method === 'REPLY';
  return {
    ...base,
    check: 'component',
    why: added
      ? `the ${added.name} ends up with ${added.organizers + 1} ORGANIZER properties: the server found none it could use in the reply's first component and added one, and the scheduler's validation allows one`
      : first.why,
    laterReleases: status ? '7.0 and later remove STATUS from a reply first' : null,
  };
}
