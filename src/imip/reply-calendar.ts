/**
 * Reading the iCalendar body of a reply the way the server must be able to
 * (`processReply`; `twistedcaldav/ical.py` `Component.fromString`): the decoded `text/calendar`
 * bytes are read as UTF-8 whatever the declared charset, then parsed as the release's own parser
 * parses them: pycalendar from 3.0 (./pycalendar/, a port checked against it), vobject on 2.x
 * (ical.js stands in). Only the facts the verdict and the reply checks need are extracted.
 */
import { isUtf8 } from 'node:buffer';
import { createRequire } from 'node:module';
import type ICALNamespace from 'ical.js';
import { bufferView } from './bytes.js';
import { pyUpper } from './mime-headers.js';
import { parsePyCalendar } from './pycalendar/calendar.js';
import type { PyComponent } from './pycalendar/tree.js';
import { unescapeText } from './pycalendar/values.js';
import { PyCalendarError, type PyCalendarEra } from './pycalendar/errors.js';
import type { ParsedProperty } from './pycalendar/property.js';
import { featuresOf, type ServerVersion } from '../server/release.js';

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
  /** The component in pycalendar's tree (null on 2.x), for the scheduler's validation. */
  node: PyComponent | null;
}

/** 2.x: a component as vobject holds it: its name and its property counts, upper-cased, and its components. */
export interface VComponent {
  name: string;
  counts: Map<string, number>;
  children: VComponent[];
}

export interface CalendarFacts {
  /** Upper-case METHOD, or null. */
  method: string | null;
  /** The first METHOD's value as written (its text, unescaped), or null: what the scheduler compares. */
  methodText: string | null;
  /** How many PRODID properties the VCALENDAR has. */
  prodids: number;
  /** How many METHOD properties the VCALENDAR has (pycalendar only; ical.js: 0 or 1). */
  methods: number;
  /**
   * The class of the first METHOD's value as pycalendar built it (TEXT unless a VALUE parameter
   * names another type), null without METHOD or on 2.x.
   */
  methodClass: ParsedProperty['valueClass'] | null;
  /**
   * Every top-level component twistedcaldav does not ignore: all but VTIMEZONE, and from 3.0 also
   * X-CALENDARSERVER-PERUSER (ical.py `ignoredComponents`), in order. May be empty: every
   * release's parser reads a VCALENDAR without a main component (classify.ts says what follows).
   */
  components: ComponentFacts[];
  /** How many VTIMEZONE components the VCALENDAR has. */
  timezones: number;
  /** pycalendar's tree of the whole calendar (null on 2.x), for the scheduler's validation. */
  tree: PyComponent | null;
  /** 2.x: the calendar as vobject holds it (null from 3.0), for the gateway's writing it back. */
  vobject: VComponent | null;
  /** 2.x: the value of the calendar's last VERSION line, at any depth (null when none or from 3.0). */
  lastVersion: string | null;
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
      reason: 'not-utf8' | 'syntax' | 'not-vcalendar';
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

/**
 * The first error of Python 2.7's strict UTF-8 decoder (`str.decode("utf-8")`,
 * Objects/unicodeobject.c `PyUnicode_DecodeUTF8Stateful`), or null. Its rules, pinned by 2.7's
 * test_unicode.py (`test_utf8_decode_invalid_sequences`, `test_issue8271`): 0x80-0xC1 and
 * 0xF5-0xFF never start a sequence; E0 needs a second byte of A0 or more, F0 one of 90 or more,
 * F4 one of 8F or less; encoded surrogates (ED A0-BF) decode, as Python 2 allows them. A sequence
 * cut by the end of the data is "unexpected end of data" before its bytes are looked at; the
 * bytes blamed are the start byte and the continuation bytes that were valid.
 */
export function utf8DecodeError(bytes: Uint8Array): { start: number; end: number; reason: string } | null {
  // Strict UTF-8 (Node's native check: no overlong forms, nothing past U+10FFFF, no encoded
  // surrogates) is a subset of what Python 2 decodes, so valid text, nearly every calendar, needs
  // no walk byte by byte.
  if (isUtf8(bytes)) return null;
  const n = bytes.length;
  const cont = (b: number | undefined): boolean => b !== undefined && (b & 0xc0) === 0x80;
  let i = 0;
  while (i < n) {
    const b = bytes[i]!;
    if (b < 0x80) {
      i++;
      continue;
    }
    const len = b < 0xc2 ? 0 : b < 0xe0 ? 2 : b < 0xf0 ? 3 : b < 0xf5 ? 4 : 0;
    if (len === 0) return { start: i, end: i + 1, reason: 'invalid start byte' };
    if (i + len > n) {
      let end = i + 1;
      while (end < n && cont(bytes[end])) end++;
      return { start: i, end, reason: 'unexpected end of data' };
    }
    const c1 = bytes[i + 1]!;
    const c2 = bytes[i + 2];
    let bad = !cont(c1);
    if (len === 3) bad ||= !cont(c2) || (b === 0xe0 && c1 < 0xa0);
    if (len === 4) bad ||= !cont(c2) || !cont(bytes[i + 3]) || (b === 0xf0 && c1 < 0x90) || (b === 0xf4 && c1 > 0x8f);
    if (bad) {
      // The start byte, then each leading continuation byte in form (a 2-byte sequence blames its start only).
      let end = i + 1;
      if (len >= 3 && cont(c1)) {
        end++;
        if (len === 4 && cont(c2)) end++;
      }
      return { start: i, end, reason: 'invalid continuation byte' };
    }
    i += len;
  }
  return null;
}

/** `str(UnicodeDecodeError)` in Python 2.7 (Objects/exceptions.c `UnicodeDecodeError_str`). */
export function utf8ErrorText(bytes: Uint8Array, e: { start: number; end: number; reason: string }): string {
  return e.end === e.start + 1
    ? `'utf8' codec can't decode byte 0x${bytes[e.start]!.toString(16).padStart(2, '0')} in position ${e.start}: ${e.reason}`
    : `'utf8' codec can't decode bytes in position ${e.start}-${e.end - 1}: ${e.reason}`;
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
  const count = (name: string): number => comp[1].filter((p) => p[0] === name).length;
  const recurrenceId = comp[1].some((p) => p[0] === 'recurrence-id');
  return {
    name: comp[0].toUpperCase(),
    uid: firstPropertyValue(comp, 'uid'),
    organizer: firstPropertyValue(comp, 'organizer'),
    organizers: count('organizer'),
    attendees,
    valarms,
    recurrenceId,
    node: null,
  };
}

/**
 * Parse a decoded `text/calendar` body as the server would (UTF-8 only: `Component.fromString`),
 * with pycalendar's rules for `era` (with CalendarServer's own value types unless `serverTypes` is
 * false), or ical.js standing in for 2.x's vobject when `era` is null. A failure is what the
 * toolkit calls UNKNOWN_FAILURE.
 */
export function parseCalendar(bytes: Uint8Array, era: PyCalendarEra | null = 'pycalendar-2016', serverTypes = true): CalendarParse {
  const bad = utf8DecodeError(bytes);
  if (bad) {
    const error = utf8ErrorText(bytes, bad);
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
    let timezones = 0;
    // vobject reads a VCALENDAR with no component in it too (CalendarServer-2.5 ical.py
    // `fromStream`: `readComponents(...).next()`, no validation on reading).
    for (const c of vcal[2]) {
      if (c[0].toLowerCase() === 'vtimezone') timezones++;
      else components.push(componentFacts(c));
    }
    const method = firstPropertyValue(vcal, 'method');
    const prodids = vcal[1].filter((p) => p[0] === 'prodid').length;
    return {
      ok: true,
      text,
      facts: { method: method === null ? null : method.toUpperCase(), methodText: method, prodids, methods: method === null ? 0 : 1, methodClass: null, components, timezones, tree: null, vobject: vobjectTree(vcal), lastVersion: propertyValues(text, 'VERSION').at(-1) ?? null },
    };
  } catch (err) {
    return parseError('syntax', (err as Error).message);
  }
}

/**
 * The calendar as 2.x's vobject holds it, from ical.js's parse: names and property counts,
 * upper-cased, to the depth vobject's checks reach (VCALENDAR, VTIMEZONE, STANDARD, none below).
 */
function vobjectTree(comp: JCalComponent, depth = 0): VComponent {
  const counts = new Map<string, number>();
  for (const p of comp[1]) {
    const key = p[0].toUpperCase();
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return { name: comp[0].toUpperCase(), counts, children: depth < 3 ? comp[2].map((c) => vobjectTree(c, depth + 1)) : [] };
}

/** A calendar that does not parse: twistedcaldav raises InvalidICalendarDataError with `error`. */
function parseError(reason: 'syntax' | 'not-vcalendar', error: string): CalendarParse {
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
  const timezones = vcal.children.filter((c) => c.name === 'VTIMEZONE').length;
  let method: ParsedProperty | null = null;
  let methods = 0;
  let prodids = 0;
  for (const p of vcal.properties) {
    if (p.key === 'PRODID') prodids++;
    if (p.key !== 'METHOD') continue;
    method ??= p;
    methods++;
  }
  const methodText = method === null ? null : pyText(method);
  return {
    ok: true,
    text,
    facts: { method: methodText === null ? null : pyUpper(methodText), methodText, prodids, methods, methodClass: method?.valueClass ?? null, components, timezones, tree: vcal, vobject: null, lastVersion: null },
  };
}

/** twistedcaldav's `ignoredComponents` (CalendarServer-3.0..9.2 twistedcaldav/ical.py). */
const IGNORED_COMPONENTS: ReadonlySet<string> = new Set(['VTIMEZONE', 'X-CALENDARSERVER-PERUSER']);

/**
 * The UID the scheduler's processing looks the organizer's event up by (`resourceUID()`: the first
 * component's), or null without one.
 */
export function resourceUid(facts: CalendarFacts): string | null {
  return facts.components[0]?.uid ?? null;
}

/**
 * The token was issued for another event than the one the calendar is about: the scheduler looks
 * the organizer's copy up by the calendar's UID (`ImplicitProcessor.doImplicitOrganizer` →
 * `getRecipientsCopy`, CalendarServer-2.5/4.3.2 twistedcaldav/scheduling/processing.py, 5.0..9.2
 * txdav/caldav/datastore/scheduling/processing.py), finds none, and returns success with a debug
 * log only ("ignoring UID: … - organizer has no copy"). Null when they agree or cannot be compared.
 */
export function uidNotTokens(facts: CalendarFacts, tokenUid: string | null | undefined): { uid: string; tokenUid: string } | null {
  const uid = resourceUid(facts);
  return tokenUid && uid !== null && uid !== tokenUid ? { uid, tokenUid } : null;
}

/**
 * The component twistedcaldav's `mainComponent()` returns from 5.1: the master (no RECURRENCE-ID),
 * or else the first override (CalendarServer-5.1..9.2 twistedcaldav/ical.py). The row's summary
 * shows it on every release: 3.0–5.0 fail on a reply with more than one (classify.ts), and 2.x's
 * gateway never asks.
 */
export function mainComponent(facts: CalendarFacts): ComponentFacts | undefined {
  return facts.components.find((c) => !c.recurrenceId) ?? facts.components[0];
}

/**
 * 3.0–5.0 (release.ts `singleMainComponent`): twistedcaldav's `mainComponent(allow_multiple=False)`
 * raises InvalidICalendarDataError on a calendar with more than one main component.
 */
export function mainComponentRaises(facts: CalendarFacts, v: Pick<ServerVersion, 'major' | 'minor'>): boolean {
  return facts.components.length > 1 && featuresOf(v).singleMainComponent;
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
    node: comp,
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
