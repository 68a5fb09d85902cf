/**
 * What the calendar server's scheduler does with a reply's calendar before it delivers it to the
 * organizer: `Scheduler.checkCalendarData`, the same on every release (CalendarServer-2.5..4.3.2
 * twistedcaldav/scheduling/scheduler.py, 5.0..9.2 txdav/caldav/datastore/scheduling/scheduler.py).
 * The reply reaches it after the mail gateway is done: on 2.x–4.x as the POST to /inbox/, from
 * 5.0 in the IMIPReplyWork item (`injectMessage` → `doSchedulingDirectly`, not an internal
 * request, so the checks run). A refusal is a 403 with the CalDAV valid-calendar-data element.
 *
 * Its first three checks are modelled:
 * - `validCalendarData` (3.1+, release.ts `schedulerValidatesCalendar`): pycalendar's `validate`
 *   with its fixes (./pycalendar/validate.ts): exactly one PRODID and VERSION and at most one
 *   METHOD on the VCALENDAR, each component's required and at-most-once properties, UTC stamps,
 *   PRIORITY and SEQUENCE in range, complete alarms and time zones. It sees the calendar as the
 *   gateway hands it on: with the ORGANIZER the gateway added where it found none it could use,
 *   from 6.1 with the PRODID it added where there was none (6.1–6.2 `processReply`, 7.0+
 *   `sanitizeCalendar`), and on 7.0 and later after `sanitizeCalendar` ("issues seen in the wild
 *   from third party IMIP capable servers"; CalendarServer-7.0/8.0 inbound.py) removed STATUS from
 *   a METHOD:REPLY.
 * - `isValidMethod`: METHOD must be one of the iTIP methods, compared as written, upper case
 *   (twistedcaldav/ical.py `isValidMethod` in every release); 8.0+ upper-case it first.
 * - `isValidITIP` (3.0+; {@link itipRefusal}): one type of component, one UID, one master,
 *   distinct RECURRENCE-IDs, every TZID defined unless `EnableTimezonesByReference`, no control
 *   characters.
 * What follows them (X-CALENDARSERVER-ACCESS, originator and recipient checks) does not depend on
 * the reply's calendar in ways a mail client controls, and is not modelled.
 */
import { withArticle } from '../report/words.js';
import { atLeast, featuresOf, type ServerVersion } from '../server/release.js';
import { isEraC, LOG, type LogEntry } from './inbound-log.js';
import { pyUpper } from './mime-headers.js';
import type { PyComponent } from './pycalendar/tree.js';
import { validatePyCalendar } from './pycalendar/validate.js';
import { unescapeText } from './pycalendar/values.js';
import { mainComponent, serverOrganizer, type CalendarFacts } from './reply-calendar.js';
import { SERVER_ZONE_ADDITIONS } from './server-timezones.js';

/** twistedcaldav/ical.py `isValidMethod` (2.5..9.2). */
const ITIP_METHODS: ReadonlySet<string> = new Set(['PUBLISH', 'REQUEST', 'REPLY', 'ADD', 'CANCEL', 'REFRESH', 'COUNTER', 'DECLINECOUNTER']);

export interface SchedulerRefusal {
  /** Which check refuses it. */
  check: 'prodid' | 'method' | 'component' | 'timezone' | 'unknown-timezone' | 'itip' | 'access';
  /** The scheduler's description in its 403 answer; null when it raises instead ({@link raised}). */
  description: 'Calendar component is not valid' | 'Must have valid METHOD property' | typeof ITIP_DESCRIPTION | typeof ACCESS_DESCRIPTION | null;
  /** What the scheduler raises instead of answering 403 (6.0+: TimezoneException "Unknown time zone: …"). */
  raised?: string;
  /** The server's own zone database the time zone was looked up in, when it was read here. */
  zoneDatabase?: string;
  /** The error element of the 403, when not valid-calendar-data (it shows in the 5.0+ log line). */
  element?: string;
  /** What is wrong, for the admin. */
  why: string;
  /** What a fixed release does instead, when one does (null: every release refuses it). */
  laterReleases: string | null;
  /** What pycalendar's validation left unfixed, or what the iTIP check raised, in the server's words (empty for the METHOD check). */
  problems: string[];
}

export interface SchedulerOptions {
  /** The configured `EnableTimezonesByReference` (3.1+); the release's default when absent or null. */
  timezonesByReference?: boolean | null;
  /** The configured `SupportedComponents` (6.0+); VEVENT and VTODO when absent or null. */
  supportedComponents?: readonly string[] | null;
  /** 6.0+: the server's own zone database, when it can be read here; else the zones the release ships. */
  zones?: ZoneSource | null;
}

/** A server's zone database: where it is, and its zone names (null when it cannot be read). */
export interface ZoneSource {
  path: string;
  names(): ReadonlySet<string> | null;
}

/** The error element of most refusals: CalDAV's valid-calendar-data. */
const VALID_CALENDAR_DATA = '{urn:ietf:params:xml:ns:caldav}valid-calendar-data';

/**
 * What the server logs when its scheduler refuses a reply: on 2.x–4.x the gateway, whose POST to
 * /inbox/ got the 403 ("Reason: 403 Forbidden", Twisted's `web.error.Error` as text); from 5.0 the
 * IMIPReplyWork item, whose `injectMessage` logs the HTTPError, which from 6.1 `doWork` catches
 * ("Unable to process reply").
 */
export function refusalLog(v: Pick<ServerVersion, 'major' | 'minor'>, messageId: string | null, element = VALID_CALENDAR_DATA): LogEntry[] {
  if (!isEraC(v)) return [LOG.injectFailed(messageId, '403 Forbidden')];
  // `str()` of the HTTPError: txweb2 `ErrorResponse.__repr__`, "<%s %s %s>" with the element's sname().
  return replyWorkLog(v, `<ErrorResponse 403 ${element}>`);
}

/** What the server logs when its scheduler refuses this reply or fails on it. */
export function schedulerLog(v: Pick<ServerVersion, 'major' | 'minor'>, messageId: string | null, refusal: SchedulerRefusal): LogEntry[] {
  return refusal.raised === undefined ? refusalLog(v, messageId, refusal.element) : replyWorkLog(v, refusal.raised);
}

/** How the scheduler turns the reply down, in words: its 403, or what it raises. */
export function refusalWords(refusal: SchedulerRefusal): string {
  return refusal.raised === undefined ? `refuses it (403, "${refusal.description}")` : `fails on it ("${refusal.raised}")`;
}

/**
 * 5.0–6.0: a reply work item that fails is not dropped. 5.x: `ultimatelyPerform` deletes the row
 * and runs `doWork` in one transaction, which the failure aborts, so the row comes back, and the
 * lost-work check runs it again once it is ten minutes overdue, then every 60 seconds
 * (CalendarServer-5.0..5.3 twext/enterprise/queue.py `ultimatelyPerform`, `inTransaction`,
 * `_periodicLostWorkCheck`, queueProcessTimeout 600, queueDelayedProcessInterval 60). 6.0: the job
 * stays, and `JobItem.failedToRun` runs it again after failureRescheduleInterval (60 s) times the
 * failures so far (ccs-twistedextensions a0df9dc, trunk@14035, twext/enterprise/jobqueue.py).
 * 6.1 catches the failure in `doWork` (a2da9a0), so the item succeeds and is gone. Null when the
 * release does not retry.
 */
export function replyWorkRetried(v: Pick<ServerVersion, 'major' | 'minor'>): string | null {
  if (!isEraC(v) || featuresOf(v).replyWorkCatches) return null;
  return v.major === 5
    ? 'the failed work item is rolled back and run again, ten minutes later and then about every minute, so the same failure is logged again and again until the item is removed from the server\'s database (table IMIP_REPLY_WORK)'
    : 'the failed work item is kept and run again after a delay that grows by a minute with each failure, so the same failure is logged again and again until the item is removed from the server\'s database (table IMIP_REPLY_WORK and its JOB row)';
}

/** 5.0+: what the IMIPReplyWork item logs when `injectMessage` raises (6.1+ `doWork` catches it). */
export function replyWorkLog(v: Pick<ServerVersion, 'major' | 'minor'>, error: string): LogEntry[] {
  return [LOG.replyWorkFailed(error), ...(featuresOf(v).replyWorkCatches ? [LOG.unableToProcessReply()] : [])];
}

/**
 * Whether the scheduler refuses this calendar, and why. `facts` is the reply as the gateway read
 * it; what the gateway changes before it hands it on is applied here.
 */
export function schedulerRefusal(facts: CalendarFacts, v: Pick<ServerVersion, 'major' | 'minor'>, options: SchedulerOptions = {}): SchedulerRefusal | null {
  // The verdict and the reply rules each ask for the same calendar: the answer is worked out once.
  const key = `${v.major}.${v.minor}/${options.timezonesByReference ?? ''}/${options.supportedComponents?.join(',') ?? ''}/${options.zones?.path ?? ''}`;
  let known = answers.get(facts);
  if (!known) answers.set(facts, (known = new Map()));
  let answer = known.get(key);
  if (answer === undefined) known.set(key, (answer = refusalFor(facts, v, options)));
  return answer;
}

/** The answers given, per calendar, per release and setting. */
const answers = new WeakMap<CalendarFacts, Map<string, SchedulerRefusal | null>>();

function refusalFor(facts: CalendarFacts, v: Pick<ServerVersion, 'major' | 'minor'>, options: SchedulerOptions): SchedulerRefusal | null {
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
    return { check: 'method', description: 'Must have valid METHOD property', why: `METHOD's VALUE parameter makes its value ${withArticle(facts.methodClass)}, not the name of a method`, laterReleases: null, problems: [] };
  }
  const compared = f.sanitizeUpperMethod ? pyUpper(facts.methodText) : facts.methodText;
  if (ITIP_METHODS.has(compared)) return (facts.tree ? itipRefusal(facts.tree, v, options) : facts.vobject ? vobjectItipRefusal(facts) : null) ?? accessRefusal(facts);
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
 * one (3.0+ `processReply`: `getOrganizerProperty()` is None for none or several), from 6.1 after
 * it added a missing PRODID, and on 7.0 and later after `sanitizeCalendar` removed every STATUS
 * from a METHOD:REPLY (8.0+ compare the upper-cased METHOD).
 */
function validationRefusal(facts: CalendarFacts, tree: PyComponent, v: Pick<ServerVersion, 'major' | 'minor'>): SchedulerRefusal | null {
  const f = featuresOf(v);
  const main = serverOrganizer(facts).value === null ? mainComponent(facts) : undefined;
  const method = facts.methodText === null ? null : f.sanitizeUpperMethod ? pyUpper(facts.methodText) : facts.methodText;
  const problems = validatePyCalendar(tree, f.calendarParser === 'pycalendar-2016' ? 'pycalendar-2016' : 'pycalendar-2013', {
    organizerAddedTo: main?.node ?? null,
    prodidAdded: f.addsMissingProdid,
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
      laterReleases: prodids === 0 ? '6.1 and later add a missing PRODID first' : null,
    };
  }
  // Without METHOD a VEVENT must have DTSTART; the METHOD is what is wrong with a reply.
  if (facts.methods === 0 && first.property === 'DTSTART' && first.text.endsWith('Missing required property: DTSTART')) {
    return { ...base, check: 'method', why: `the calendar has no METHOD, and the scheduler takes only iTIP messages (its validation also wants a DTSTART in the ${first.node.name} of a calendar without METHOD)`, laterReleases: null };
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

const ITIP_DESCRIPTION = 'Must have a calendar component that satisfies iTIP requirements';

/**
 * The component types a reply may hold: twistedcaldav/ical.py `allowedComponents`: 3.0–5.x VEVENT,
 * VTODO, VTIMEZONE, VFREEBUSY; 6.0+ the configured SupportedComponents (VEVENT and VTODO by
 * default) with VFREEBUSY and VTIMEZONE (CalendarServer-6.0..9.2 ical.py `_updateAllowedComponents`).
 */
const ALLOWED_COMPONENTS: ReadonlySet<string> = new Set(['VEVENT', 'VTODO', 'VFREEBUSY', 'VTIMEZONE']);

function allowedComponents(v: Pick<ServerVersion, 'major' | 'minor'>, supported: readonly string[] | null | undefined): ReadonlySet<string> {
  if (!atLeast(v, 6) || !supported) return ALLOWED_COMPONENTS;
  // One configuration per run: the set is made once, not per message.
  const key = supported.join('\n');
  let set = configuredSets.get(key);
  if (!set) configuredSets.set(key, (set = new Set([...supported, 'VFREEBUSY', 'VTIMEZONE'])));
  return set;
}

const configuredSets = new Map<string, ReadonlySet<string>>();

/**
 * `isValidITIP` (3.0+; 2.x: {@link vobjectItipRefusal}): after the METHOD,
 * `validCalendarForCalDAV(methodAllowed=True)` (3.1+; `validateComponentsForCalDAV(True)` in 3.0,
 * the same checks) raises, and the scheduler answers 403 "Must have a calendar component that
 * satisfies iTIP requirements", for:
 * - components of more than one type besides VTIMEZONE and X-CALENDARSERVER-PERUSER (names as
 *   written), or of a type not allowed;
 * - a component without UID, or with two (`propertyValue` raises), or with another UID than the
 *   first; two components without RECURRENCE-ID, or two with the same one (compared as written
 *   with its TZID here; the server compares them in UTC);
 * - a TZID no VTIMEZONE defines, unless `EnableTimezonesByReference` (3.1+) is on. The server
 *   takes one TZID per component, the first it meets in Python's dict order of its properties
 *   (`timezoneIDs()`, with `break`): a component whose TZIDs are some defined and some not is
 *   not refused here, as which one the server meets is not known;
 * - 6.0+: a TZID without its VTIMEZONE that is not in the server's own time zone database
 *   ({@link unknownZoneFailure});
 * - a control character other than tab, CR and LF anywhere in the calendar.
 */
/** A refusal by the iTIP check, with what it raised (the same texts from 2.x to 9.2). */
function itipRefused(why: string, raised: string, check: 'itip' | 'timezone' = 'itip'): SchedulerRefusal {
  return { check, description: ITIP_DESCRIPTION, why, laterReleases: null, problems: [raised] };
}

/** The checks of `validateComponentsForCalDAV` / `validCalendarForCalDAV` that 2.x shares with 3.0 and later. */
const ITIP = {
  twoTypes: (type: string, other: string): SchedulerRefusal =>
    itipRefused(`the calendar holds ${withArticle(type)} and ${withArticle(other)}, and the scheduler takes one type of component`, `Calendar resources may not contain more than one type of calendar component (${type} and ${other} found)`),
  notAllowed: (type: string, configured = ''): SchedulerRefusal => itipRefused(`the scheduler takes no ${type} component${configured}`, `Component type: ${type} not allowed`),
  differentUids: (uid: string, other: string, made = ''): SchedulerRefusal =>
    itipRefused(`its components have different UIDs (${uid} and ${other})${made}`, `Calendar resources may not contain components with different UIDs (${uid} and ${other} found)`),
  twoMasters: (uid: string, other: string): SchedulerRefusal =>
    itipRefused('it holds two components for the whole event (no RECURRENCE-ID)', `Calendar resources may not contain components with the same UIDs and no Recurrence-IDs (${uid} and ${other} found)`),
};

function itipRefusal(tree: PyComponent, v: Pick<ServerVersion, 'major' | 'minor'>, options: SchedulerOptions): SchedulerRefusal | null {
  const refuse = (check: 'itip' | 'timezone', why: string, raised: string): SchedulerRefusal => itipRefused(why, raised, check);
  let type: string | null = null;
  let uid: string | null = null;
  let master = false;
  const rids = new Set<string>();
  const zones = new Set<string>();
  const refs: PyComponent[] = [];
  const allowed = allowedComponents(v, options.supportedComponents);
  for (const c of tree.children) {
    if (c.name === 'VTIMEZONE') {
      const tzid = c.properties.find((p) => p.key === 'TZID');
      if ((c.counts.get('TZID') ?? 0) > 1) return refuse('itip', 'a VTIMEZONE has two TZID properties', 'More than one TZID property in component');
      if (tzid) zones.add(unescapeText(tzid.value));
      continue;
    }
    if (c.name === 'X-CALENDARSERVER-PERUSER') continue;
    if (type === null) type = c.name;
    else if (type !== c.name) return ITIP.twoTypes(type, c.name);
    if (!allowed.has(type)) return ITIP.notAllowed(type, allowed !== ALLOWED_COMPONENTS ? ` (SupportedComponents is ${options.supportedComponents!.join(', ') || 'empty'})` : '');
    const uids = c.properties.filter((p) => p.key === 'UID');
    if (uids.length === 0) return refuse('itip', `the ${c.name} has no UID`, 'All components must have UIDs');
    if (uids.length > 1) return refuse('itip', `the ${c.name} has ${uids.length} UID properties`, 'More than one UID property in component');
    const ridProps = c.properties.filter((p) => p.key === 'RECURRENCE-ID');
    if (ridProps.length > 1) return refuse('itip', `the ${c.name} has ${ridProps.length} RECURRENCE-ID properties`, 'More than one RECURRENCE-ID property in component');
    const value = unescapeText(uids[0]!.value);
    if (uid === null) uid = value;
    else if (uid !== value) return ITIP.differentUids(uid, value);
    const rid = ridProps[0];
    if (!rid) {
      if (master) return ITIP.twoMasters(uid, value);
      master = true;
    } else {
      const key = `${rid.params.get('TZID')?.[0] ?? ''}|${rid.value}`;
      if (rids.has(key)) return refuse('itip', `two of its components have the same RECURRENCE-ID (${rid.value})`, `Calendar resources may not contain components with the same Recurrence-IDs (${rid.value})`);
      rids.add(key);
    }
    refs.push(c);
  }
  // 3.0 has no switch; 3.1–5.1 default to false, 5.2 and later to true (CalendarServer-5.1/5.2 stdconfig.py).
  const byReference = atLeast(v, 3, 1) && (options.timezonesByReference ?? atLeast(v, 5, 2));
  if (!byReference) {
    for (const c of refs) {
      if (c.tzids.length === 0 || c.tzids.some((t) => zones.has(t))) continue;
      const tzid = c.tzids[0]!;
      return refuse(
        'timezone',
        `the ${c.name} refers to the time zone "${tzid}", which no VTIMEZONE in the reply defines, and ${atLeast(v, 3, 1) ? 'EnableTimezonesByReference is off' : 'this release wants every time zone defined'}`,
        `Timezone ID ${tzid} is referenced but not defined`,
      );
    }
  }
  const unknown = atLeast(v, 6) ? unknownZoneFailure(refs, zones, v, options.zones) : null;
  if (unknown) return unknown;
  if (hasControl(tree)) return refuse('itip', 'it holds a control character (other than tab, CR and LF), which the scheduler refuses', 'iCalendar contains illegal control character');
  return null;
}

/**
 * 6.0+ `validCalendarForCalDAV`: "TZIDs without a VTIMEZONE must be available in the server's TZ
 * database": `hasTZ(tzid)` for each (twistedcaldav/timezones.py `readVTZ` → pycalendar
 * `TimezoneDatabase.getTimezoneInCalendar`, which reads `<zoneinfo>/<TZID>.ics` and compares the
 * TZID exactly) raises TimezoneException("Unknown time zone: %s"). That is no
 * InvalidICalendarDataError, so `isValidITIP` does not catch it and no 403 is answered: it leaves
 * `doSchedulingDirectly`, and `injectMessage` logs it (CalendarServer-6.0..9.2 twistedcaldav/ical.py,
 * inbound.py `injectMessage`). The zones are those of the server's own database when it can be
 * read here (DataRoot/zoneinfo, a copy of the release's, refreshed from IANA by
 * calendarserver_manage_timezones), else those the release ships (./server-timezones.ts).
 * Not known here: zones the server process met in a VTIMEZONE since it started, which pycalendar
 * keeps in memory and finds first (`mergeTimezones`).
 * One TZID per component, as in the check above: only a component whose TZIDs are all unknown is
 * certain to fail; of several unknown ones the server names the first of its set, here the first
 * written.
 */
function unknownZoneFailure(refs: PyComponent[], zones: ReadonlySet<string>, v: Pick<ServerVersion, 'major' | 'minor'>, source: ZoneSource | null | undefined): SchedulerRefusal | null {
  let known: ReadonlySet<string> | null | undefined;
  for (const c of refs) {
    if (c.tzids.length === 0 || c.tzids.some((t) => zones.has(t))) continue;
    // Read only when a TZID has no VTIMEZONE: most replies carry theirs.
    const own = known === undefined ? (known = source?.names() ?? null) : known;
    const names = own ?? serverZones(v);
    if (c.tzids.some((t) => names.has(t))) continue;
    const tzid = c.tzids[0]!;
    const raised = `Unknown time zone: ${tzid}`;
    const unless = '(unless the server read a VTIMEZONE of that name since it started)';
    if (own) {
      return {
        check: 'unknown-timezone',
        description: null,
        raised,
        why: `the ${c.name} names the time zone "${tzid}" without its VTIMEZONE, and that name is not among the ${own.size} zone${own.size === 1 ? '' : 's'} of the server's time zone database (${source!.path}), so its look-up raises ${unless}`,
        laterReleases: null,
        problems: [raised],
        zoneDatabase: source!.path,
      };
    }
    const later = SERVER_ZONE_ADDITIONS.find(([major, minor, , list]) => (major > v.major || (major === v.major && minor > v.minor)) && list.split('\n').includes(tzid));
    const registry = SERVER_ZONE_ADDITIONS.filter(([major, minor]) => major < v.major || (major === v.major && minor <= v.minor)).at(-1)![2];
    return {
      check: 'unknown-timezone',
      description: null,
      raised,
      why: `the ${c.name} names the time zone "${tzid}" without its VTIMEZONE, and that name is not among the zones the server ships (${registry.replace(/^IANA Timezone Registry: /, 'IANA ')}, with Windows names), so its look-up raises ${unless}`,
      laterReleases: later ? `${later[0]}.${later[1]} and later ship it` : null,
      problems: [raised],
    };
  }
  return null;
}

/** The zones a release ships, per release asked for. */
const zoneSets = new Map<string, ReadonlySet<string>>();
function serverZones(v: Pick<ServerVersion, 'major' | 'minor'>): ReadonlySet<string> {
  const key = `${v.major}.${v.minor}`;
  let set = zoneSets.get(key);
  if (!set) {
    const names = SERVER_ZONE_ADDITIONS.filter(([major, minor]) => major < v.major || (major === v.major && minor <= v.minor)).flatMap(([, , , list]) => list.split('\n'));
    zoneSets.set(key, (set = new Set(names)));
  }
  return set;
}

/** 2.x `allowedComponents` (CalendarServer-2.2..2.5 twistedcaldav/ical.py): VJOURNAL too. */
const ALLOWED_COMPONENTS_2X: ReadonlySet<string> = new Set(['VEVENT', 'VTODO', 'VTIMEZONE', 'VJOURNAL', 'VFREEBUSY']);

/**
 * 2.x `isValidITIP` → `validateComponentsForCalDAV(True)` (CalendarServer-2.5 twistedcaldav/ical.py)
 * on the calendar as the server reads the gateway's POST, which vobject wrote: every component but
 * VTIMEZONE counts (no component is ignored on 2.x), each must be of one type and allowed, with one
 * UID (vobject made up a UID where there was none, a new one for each component) and one master.
 * Not modelled: duplicate RECURRENCE-IDs and TZIDs without their VTIMEZONE, which depend on how
 * vobject turned the dates into Python's (and on the zones the gateway process met before).
 */
function vobjectItipRefusal(facts: CalendarFacts): SchedulerRefusal | null {
  const MADE = '<made up>';
  let type: string | null = null;
  let uid: string | null | undefined;
  let master = false;
  for (const c of facts.components) {
    if (type === null) type = c.name;
    else if (type !== c.name) return ITIP.twoTypes(type, c.name);
    if (!ALLOWED_COMPONENTS_2X.has(type)) return ITIP.notAllowed(type);
    if (uid === undefined) uid = c.uid;
    else if (uid === null || c.uid === null || uid !== c.uid) {
      return ITIP.differentUids(uid ?? MADE, c.uid ?? MADE, uid === null || c.uid === null ? ', the gateway having made up a UID for a component without one' : '');
    }
    if (!c.recurrenceId) {
      if (master) return ITIP.twoMasters(uid ?? MADE, c.uid ?? MADE);
      master = true;
    }
  }
  return null;
}

/** A control character in any component, walked without recursion (a calendar may nest deep). */
function hasControl(root: PyComponent): boolean {
  const stack = [root];
  for (let c = stack.pop(); c; c = stack.pop()) {
    if (c.control) return true;
    for (const child of c.children) stack.push(child);
  }
  return false;
}

const ACCESS_DESCRIPTION = 'Private events cannot be scheduled';

/**
 * The scheduler's last calendar check (every release; CalendarServer-2.5..4.3.2
 * twistedcaldav/scheduling/scheduler.py, 5.0..9.2 txdav/caldav/datastore/scheduling/scheduler.py
 * `checkCalendarData`): X-CALENDARSERVER-ACCESS on the VCALENDAR, which Apple's clients write for a
 * private event, is a 403 with calendarserver.org's no-access-restrictions.
 */
function accessRefusal(facts: CalendarFacts): SchedulerRefusal | null {
  const counts = facts.tree?.counts ?? facts.vobject?.counts;
  if (!counts?.get('X-CALENDARSERVER-ACCESS')) return null;
  return {
    check: 'access',
    description: ACCESS_DESCRIPTION,
    element: '{http://calendarserver.org/ns/}no-access-restrictions',
    why: 'the calendar carries X-CALENDARSERVER-ACCESS (a private event, as Apple\'s clients mark one), and the scheduler refuses to schedule private events',
    laterReleases: null,
    problems: [],
  };
}
