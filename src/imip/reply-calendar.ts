/**
 * Reading the iCalendar body of a reply the way the server must be able to
 * (calendarserver-imip.md §4.4 step 6, §11): the decoded `text/calendar` bytes are read as UTF-8
 * whatever the declared charset, then parsed as the release's own parser parses them: pycalendar
 * from 3.0 (./pycalendar/, a port checked against it), vobject on 2.x (ical.js stands in). Only
 * the facts the verdict and the reply checks need are extracted.
 */
import { createRequire } from 'node:module';
import type ICALNamespace from 'ical.js';
import { bufferView } from './bytes.js';
import { pyUpper } from './mime-headers.js';
import { parsePyCalendar, unescapeText, type PyComponent } from './pycalendar/calendar.js';
import { PyCalendarError, type PyCalendarEra } from './pycalendar/errors.js';
import type { ParsedProperty } from './pycalendar/property.js';

export interface AttendeeFacts {
  /** The property value as written (`mailto:...`, any case). */
  value: string;
  /** Upper-case PARTSTAT, or null when absent. */
  partstat: string | null;
}

export interface ComponentFacts {
  /** Upper-case component name (VEVENT, VTODO...). */
  name: string;
  uid: string | null;
  organizer: string | null;
  /** How many ORGANIZER properties it has (the server takes none when there is more than one). */
  organizers: number;
  attendees: AttendeeFacts[];
  valarms: number;
  /** It has a RECURRENCE-ID: an override (a changed occurrence), not the master. */
  recurrenceId: boolean;
}

export interface CalendarFacts {
  /** Upper-case METHOD, or null. */
  method: string | null;
  /** How many METHOD properties the VCALENDAR has (pycalendar only; ical.js: 0 or 1). */
  methods: number;
  /**
   * The class of the first METHOD's value as pycalendar built it (TEXT unless a VALUE parameter
   * names another type), null without METHOD or on 2.x.
   */
  methodClass: ParsedProperty['valueClass'] | null;
  /**
   * Every top-level component twistedcaldav does not ignore: all but VTIMEZONE, and from 3.0 also
   * X-CALENDARSERVER-PERUSER (ical.py `ignoredComponents`), in order. Empty only from 3.0 (2.x:
   * `no-component`, below).
   */
  components: ComponentFacts[];
}

/**
 * The exception the server's Python raises: its class name (`InvalidICalendarDataError`, which
 * twistedcaldav's `Component.fromString` raises for what pycalendar refuses, or a built-in one
 * such as `AttributeError`) and its `str()`, the first line of it.
 */
export interface PythonException {
  type: string;
  text: string;
}

export type CalendarParse =
  | { ok: true; facts: CalendarFacts; text: string }
  | {
      ok: false;
      reason: 'not-utf8' | 'syntax' | 'not-vcalendar' | 'no-component';
      /** What went wrong, for the reader (a Python exception other than the parse error names its class). */
      error: string;
      /** What the server raises there (3.0+; on 2.x, whose parser ical.js stands in for, its message). */
      raised: PythonException;
    };

/**
 * The ORGANIZER the server takes from a calendar (twistedcaldav/ical.py `getOrganizer` and
 * `getOrganizerProperty`, 2.5..9.2): that of the first component that is not a VTIMEZONE, and
 * only when it has exactly one (`getProperty` raises on two, and the caller takes that as none).
 * Null when the server finds none; the component it looked at comes with it.
 */
export function serverOrganizer(facts: CalendarFacts): { component: ComponentFacts | null; value: string | null } {
  const component = facts.components[0] ?? null;
  return { component, value: component && component.organizers === 1 ? component.organizer : null };
}

/** Offset of the first byte that breaks UTF-8, or -1. */
export function firstInvalidUtf8(bytes: Uint8Array): number {
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i]!;
    const need = b < 0x80 ? 0 : b >= 0xc2 && b <= 0xdf ? 1 : b >= 0xe0 && b <= 0xef ? 2 : b >= 0xf0 && b <= 0xf4 ? 3 : -1;
    if (need < 0) return i;
    for (let k = 1; k <= need; k++) {
      const c = bytes[i + k];
      if (c === undefined || (c & 0xc0) !== 0x80) return i;
    }
    i += need + 1;
  }
  return -1;
}

let ical: typeof ICALNamespace | undefined;

/**
 * ical.js, which stands in for 2.x's vobject only: loaded on first use, so that a poll judged by
 * 3.0 or later (pycalendar) never compiles its 320 KB.
 */
function icalJs(): typeof ICALNamespace {
  return (ical ??= createRequire(import.meta.url)('ical.js') as typeof ICALNamespace);
}

function paramText(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  return (Array.isArray(v) ? v.join(',') : String(v)).toUpperCase();
}

/** A jCal component: `[name, properties, subcomponents]`; a property: `[name, params, type, ...values]`. */
type JCalProperty = [string, Record<string, unknown>, string, ...unknown[]];
type JCalComponent = [string, JCalProperty[], JCalComponent[]];

/**
 * A property's first value, as ical.js's `Property.getFirstValue()` gives it: the parsed value
 * itself, or for the types ical.js wraps (dates, durations, recurrence rules...) its wrapper.
 */
function firstValue(prop: JCalProperty): unknown {
  if (prop.length <= 3) return null;
  const ICAL = icalJs();
  const type = ICAL.design.icalendar.value[prop[2]] as object | undefined;
  return type && 'decorate' in type ? new ICAL.Property(prop as unknown as unknown[]).getFirstValue() : prop[3];
}

function firstPropertyValue(comp: JCalComponent, name: string): string | null {
  for (const p of comp[1]) {
    if (p[0] !== name) continue;
    const v = firstValue(p);
    return v === null || v === undefined ? null : String(v);
  }
  return null;
}

/**
 * The facts of one component, read from ical.js's parse (jCal) directly: what `ICAL.Component`'s
 * getters return, without a wrapper object per component and property.
 */
function componentFacts(comp: JCalComponent): ComponentFacts {
  const attendees: AttendeeFacts[] = [];
  for (const p of comp[1]) {
    if (p[0] === 'attendee') attendees.push({ value: String(firstValue(p) ?? ''), partstat: paramText(p[1].partstat) });
  }
  let valarms = 0;
  for (const c of comp[2]) if (c[0] === 'valarm') valarms++;
  const organizers = comp[1].filter((p) => p[0] === 'organizer').length;
  const recurrenceId = comp[1].some((p) => p[0] === 'recurrence-id');
  return { name: comp[0].toUpperCase(), uid: firstPropertyValue(comp, 'uid'), organizer: firstPropertyValue(comp, 'organizer'), organizers, attendees, valarms, recurrenceId };
}

/**
 * Parse a decoded `text/calendar` body as the server would (§11: UTF-8 only), with pycalendar's
 * rules for `era` (with CalendarServer's own value types unless `serverTypes` is false), or
 * ical.js standing in for 2.x's vobject when `era` is null. A failure is what the toolkit calls
 * UNKNOWN_FAILURE.
 */
export function parseCalendar(bytes: Uint8Array, era: PyCalendarEra | null = 'pycalendar-2016', serverTypes = true): CalendarParse {
  const bad = firstInvalidUtf8(bytes);
  if (bad >= 0) {
    const error = `'utf8' codec can't decode byte 0x${bytes[bad]!.toString(16).padStart(2, '0')} in position ${bad}`;
    // `Component.fromString`: `string.decode("utf-8")`.
    return { ok: false, reason: 'not-utf8', error, raised: { type: 'UnicodeDecodeError', text: error } };
  }
  // A view of the bytes, not a copy.
  const view = bufferView(bytes);
  let text = view.toString('utf8');
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  if (era !== null) return fromPyCalendar(text, era, serverTypes);
  let jcal: unknown;
  try {
    jcal = icalJs().parse(text);
  } catch (err) {
    return parseError('syntax', (err as Error).message);
  }
  const first = Array.isArray(jcal) && Array.isArray(jcal[0]) ? jcal[0] : jcal;
  if (!Array.isArray(first) || String(first[0]).toLowerCase() !== 'vcalendar') {
    return parseError('not-vcalendar', 'no VCALENDAR object in the calendar data');
  }
  try {
    const vcal = first as JCalComponent;
    const components: ComponentFacts[] = [];
    for (const c of vcal[2]) if (c[0].toLowerCase() !== 'vtimezone') components.push(componentFacts(c));
    if (components.length === 0) {
      return parseError('no-component', 'VCALENDAR without a VEVENT, VTODO or other main component');
    }
    const method = firstPropertyValue(vcal, 'method');
    return { ok: true, text, facts: { method: method === null ? null : method.toUpperCase(), methods: method === null ? 0 : 1, methodClass: null, components } };
  } catch (err) {
    return parseError('syntax', (err as Error).message);
  }
}

/** A calendar that does not parse: twistedcaldav raises InvalidICalendarDataError with `error`. */
function parseError(reason: 'syntax' | 'not-vcalendar' | 'no-component', error: string): CalendarParse {
  return { ok: false, reason, error, raised: { type: 'InvalidICalendarDataError', text: error } };
}

/** pycalendar's parse of `text`, and the facts of the tree it builds. */
function fromPyCalendar(text: string, era: PyCalendarEra, serverTypes: boolean): CalendarParse {
  let vcal: PyComponent;
  try {
    vcal = parsePyCalendar(text, era, serverTypes);
  } catch (err) {
    if (!(err instanceof PyCalendarError)) throw err;
    // pycalendar's own errors become InvalidICalendarDataError (`Component.fromString`); another
    // Python exception raised inside the parse goes through as it is.
    if (err.pythonType) return { ok: false, reason: 'syntax', error: err.message, raised: { type: err.pythonType, text: err.reason } };
    return parseError('syntax', err.message);
  }
  // twistedcaldav's `ignoredComponents` (3.0..9.2 ical.py: VTIMEZONE, X-CALENDARSERVER-PERUSER)
  // compare pycalendar's type, the name as written.
  // None at all still parses: the server fails later, when it adds the ORGANIZER (classify.ts).
  const components = vcal.children.filter((c) => !IGNORED_COMPONENTS.has(c.name)).map(pyComponentFacts);
  let method: ParsedProperty | null = null;
  let methods = 0;
  for (const p of vcal.properties) {
    if (p.key !== 'METHOD') continue;
    method ??= p;
    methods++;
  }
  return { ok: true, text, facts: { method: method === null ? null : pyUpper(pyText(method)), methods, methodClass: method?.valueClass ?? null, components } };
}

/** twistedcaldav's `ignoredComponents` (CalendarServer-3.0..9.2 twistedcaldav/ical.py). */
const IGNORED_COMPONENTS: ReadonlySet<string> = new Set(['VTIMEZONE', 'X-CALENDARSERVER-PERUSER']);

/**
 * The component twistedcaldav's `mainComponent()` returns from 5.1: the master (no RECURRENCE-ID),
 * or else the first override (CalendarServer-5.1..9.2 twistedcaldav/ical.py). The row's summary
 * shows it on every release: 3.0–5.0 fail on a reply with more than one (classify.ts), and 2.x's
 * gateway never asks.
 */
export function mainComponent(facts: CalendarFacts): ComponentFacts | undefined {
  return facts.components.find((c) => !c.recurrenceId) ?? facts.components[0];
}

/** What the main components are, for the texts: their names once each, and how many are overrides. */
export function componentsShape(facts: CalendarFacts): { names: string; overrides: number } {
  return { names: [...new Set(facts.components.map((c) => c.name))].join(', '), overrides: facts.components.filter((c) => c.recurrenceId).length };
}

/** A TEXT value with pycalendar's unescaping. */
function pyText(prop: ParsedProperty): string {
  return unescapeText(prop.value);
}

function pyComponentFacts(comp: PyComponent): ComponentFacts {
  const attendees: AttendeeFacts[] = [];
  let uid: ParsedProperty | null = null;
  let organizer: ParsedProperty | null = null;
  let organizers = 0;
  let recurrenceId = false;
  for (const p of comp.properties) {
    if (p.key === 'ATTENDEE') attendees.push({ value: p.value, partstat: p.params.get('PARTSTAT')?.join(',').toUpperCase() ?? null });
    else if (p.key === 'UID') uid ??= p;
    else if (p.key === 'ORGANIZER') {
      organizer ??= p;
      organizers++;
    } else if (p.key === 'RECURRENCE-ID') recurrenceId = true;
  }
  let valarms = 0;
  for (const c of comp.children) if (c.name === 'VALARM') valarms++;
  return {
    name: pyUpper(comp.name),
    uid: uid ? pyText(uid) : null,
    organizer: organizer ? organizer.value : null,
    organizers,
    attendees,
    valarms,
    recurrenceId,
  };
}

/** Unfold content lines (RFC 5545 §3.1), tolerating bare LF. */
function unfold(text: string): string[] {
  return text.replace(/\r?\n[ \t]/g, '').split(/\r?\n/);
}

/** The value part of a content line: after the first `:` outside quoted parameter values. */
function lineValue(line: string): string {
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c === '"') quoted = !quoted;
    else if (c === ':' && !quoted) return line.slice(i + 1);
  }
  return '';
}

/**
 * Values of a property by name, read line by line without a full parse, so it works on calendars
 * that do not parse (for evidence and for diagnose).
 */
export function propertyValues(text: string, name: string): string[] {
  const upper = name.toUpperCase();
  return unfold(text)
    .filter((l) => {
      const head = l.slice(0, upper.length + 1).toUpperCase();
      return head === `${upper}:` || head === `${upper};`;
    })
    .map((l) => lineValue(l).trim());
}
