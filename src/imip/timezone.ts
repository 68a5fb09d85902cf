/**
 * IANA time zones from the platform's Intl data: offsets, wall times, transitions, and the
 * VTIMEZONE an iMIP message must carry (RFC 5545 §3.2.19: one for every TZID referenced; Calendar
 * Server attaches them from 6.0, `imip/outbound.py` `MailSender.generateEmail`).
 *
 * Intl only exposes "what is the offset at this instant", so transitions are found by scanning
 * and bisecting, and the VTIMEZONE describes the years around the event, not the zone's history.
 */
import ICAL from 'ical.js';
import { CannotRunError } from '../report/exit.js';

export interface WallTime {
  year: number;
  month: number; // 1-12
  day: number;
  hour: number;
  minute: number;
  second: number;
}

/** A change of UTC offset: `at` is the first instant (epoch ms) with the new offset `to`. */
export interface Transition {
  at: number;
  from: number; // seconds east of UTC
  to: number;
}

const UTC_NAMES = /^(?:Etc\/)?(?:UTC|UCT|Zulu|Universal|Greenwich|GMT(?:[+-]?0)?)$/i;

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      calendar: 'gregory',
      numberingSystem: 'latn',
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
      era: 'short',
    });
    formatters.set(timeZone, f);
  }
  return f;
}

/**
 * Throws CannotRunError unless Intl knows the zone. Returns the name as given (trimmed), with its
 * case corrected (`europe/berlin` → `Europe/Berlin`); links are kept (`Asia/Kolkata` stays, though
 * ICU calls it `Asia/Calcutta`).
 */
export function assertTimeZone(timeZone: string, flag = '--time-zone'): string {
  const tz = typeof timeZone === 'string' ? timeZone.trim() : '';
  // eslint-disable-next-line no-control-regex
  if (!tz || /[\x00-\x20\x7f]/.test(tz)) {
    throw new CannotRunError(`${flag}: ${JSON.stringify(timeZone)} is not an IANA time zone such as Europe/Berlin`);
  }
  let resolved: string;
  try {
    formatter(tz);
    resolved = new Intl.DateTimeFormat('en-US', { timeZone: tz }).resolvedOptions().timeZone;
  } catch {
    throw new CannotRunError(`${flag}: ${JSON.stringify(timeZone)} is not an IANA time zone such as Europe/Berlin`);
  }
  return resolved.toLowerCase() === tz.toLowerCase() ? resolved : tz;
}

/** UTC and its aliases: events there use `Z` times and need no VTIMEZONE. */
export function isUtcZone(timeZone: string): boolean {
  if (UTC_NAMES.test(timeZone)) return true;
  try {
    return new Intl.DateTimeFormat('en-US', { timeZone }).resolvedOptions().timeZone === 'UTC';
  } catch {
    return false;
  }
}

/** The wall-clock time in `timeZone` at the instant `epochMs` (milliseconds dropped). */
export function wallTimeAt(timeZone: string, epochMs: number): WallTime {
  const parts = formatter(timeZone).formatToParts(new Date(epochMs));
  const get = (type: string): number => Number(parts.find((p) => p.type === type)?.value ?? NaN);
  const era = parts.find((p) => p.type === 'era')?.value ?? 'AD';
  let year = get('year');
  if (/^B/i.test(era)) year = 1 - year;
  return { year, month: get('month'), day: get('day'), hour: get('hour') % 24, minute: get('minute'), second: get('second') };
}

function wallAsUtcMs(w: WallTime): number {
  const d = new Date(0);
  d.setUTCFullYear(w.year, w.month - 1, w.day);
  d.setUTCHours(w.hour, w.minute, w.second, 0);
  return d.getTime();
}

/** Seconds east of UTC in force at `epochMs`. */
export function offsetAt(timeZone: string, epochMs: number): number {
  const whole = Math.floor(epochMs / 1000) * 1000;
  return Math.round((wallAsUtcMs(wallTimeAt(timeZone, whole)) - whole) / 1000);
}

/** The wall time `offsetSeconds` east of UTC at `epochMs` (plain arithmetic, no zone rules). */
export function shiftedWall(epochMs: number, offsetSeconds: number): WallTime {
  const d = new Date(Math.floor(epochMs / 1000) * 1000 + offsetSeconds * 1000);
  return {
    year: d.getUTCFullYear(),
    month: d.getUTCMonth() + 1,
    day: d.getUTCDate(),
    hour: d.getUTCHours(),
    minute: d.getUTCMinutes(),
    second: d.getUTCSeconds(),
  };
}

function sameWall(a: WallTime, b: WallTime): boolean {
  return (
    a.year === b.year && a.month === b.month && a.day === b.day && a.hour === b.hour && a.minute === b.minute && a.second === b.second
  );
}

export type WallResolution =
  | { kind: 'ok'; epochMs: number }
  | { kind: 'ambiguous'; earlier: number; later: number }
  | { kind: 'gap' };

/** Every instant whose wall time in `timeZone` is `wall`: none (DST gap), one, or two (repeated hour). */
export function resolveWallTime(timeZone: string, wall: WallTime): WallResolution {
  const asUtc = wallAsUtcMs(wall);
  const offsets = new Set([offsetAt(timeZone, asUtc - 2 * 86_400_000), offsetAt(timeZone, asUtc), offsetAt(timeZone, asUtc + 2 * 86_400_000)]);
  const hits = [...offsets]
    .map((o) => asUtc - o * 1000)
    .filter((t) => sameWall(wallTimeAt(timeZone, t), wall))
    .sort((a, b) => a - b);
  const unique = [...new Set(hits)];
  if (unique.length === 0) return { kind: 'gap' };
  if (unique.length === 1) return { kind: 'ok', epochMs: unique[0]! };
  return { kind: 'ambiguous', earlier: unique[0]!, later: unique[unique.length - 1]! };
}

/** Offset changes in [startMs, endMs), found by a daily scan and bisection to the second. */
export function transitionsBetween(timeZone: string, startMs: number, endMs: number): Transition[] {
  const out: Transition[] = [];
  const step = 86_400_000;
  let t = startMs;
  let o = offsetAt(timeZone, t);
  while (t < endMs) {
    const next = Math.min(t + step, endMs);
    const on = offsetAt(timeZone, next);
    if (on !== o) {
      // Bisect: offsetAt(lo) === o, offsetAt(hi) !== o.
      let lo = t;
      let hi = next;
      while (hi - lo > 1000) {
        const mid = Math.floor((lo + hi) / 2000) * 1000;
        if (mid <= lo || mid >= hi) break;
        if (offsetAt(timeZone, mid) === o) lo = mid;
        else hi = mid;
      }
      const to = offsetAt(timeZone, hi);
      out.push({ at: hi, from: o, to });
      // A second change inside the same day is picked up from `hi` onwards.
      o = to;
      t = hi;
      continue;
    }
    t = next;
  }
  return out;
}

/** A short name for the offset in force (`CET`, `EDT`, `IST`), or null when Intl only knows `GMT+x`. */
export function zoneAbbreviation(timeZone: string, epochMs: number): string | null {
  if (isUtcZone(timeZone)) return 'UTC';
  for (const locale of ['en-US', 'en-GB', 'en-IN', 'en-AU']) {
    try {
      const name = new Intl.DateTimeFormat(locale, { timeZone, timeZoneName: 'short' })
        .formatToParts(new Date(epochMs))
        .find((p) => p.type === 'timeZoneName')?.value;
      if (name && !/^(?:GMT|UTC)[+-]/.test(name) && /^[A-Za-z]{2,6}$/.test(name)) return name;
    } catch {
      return null;
    }
  }
  return null;
}

/** `GMT+5:30`-style fallback name for text meant for people. */
export function offsetLabel(offsetSeconds: number): string {
  const sign = offsetSeconds < 0 ? '-' : '+';
  const abs = Math.abs(offsetSeconds);
  const h = Math.floor(abs / 3600);
  const m = Math.floor((abs % 3600) / 60);
  return `GMT${sign}${h}${m ? `:${String(m).padStart(2, '0')}` : ''}`;
}

function icalFloating(w: WallTime): ICAL.Time {
  return ICAL.Time.fromData({ year: w.year, month: w.month, day: w.day, hour: w.hour, minute: w.minute, second: w.second, isDate: false });
}

function utcOffsetValue(seconds: number): ICAL.UtcOffset {
  const sign = seconds < 0 ? -1 : 1;
  const abs = Math.abs(seconds);
  return new ICAL.UtcOffset({ hours: Math.floor(abs / 3600), minutes: Math.floor((abs % 3600) / 60), factor: sign });
}

const DAY_CODES = ['SU', 'MO', 'TU', 'WE', 'TH', 'FR', 'SA'];

function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

/** `BYMONTH=m;BYDAY=nXX` (or `-1XX`) shared by every onset, or null when they follow no such rule. */
function yearlyRule(onsets: WallTime[], years: number[]): string | null {
  if (onsets.length !== years.length) return null;
  if (!onsets.every((w, i) => w.year === years[i])) return null;
  const first = onsets[0]!;
  const weekday = (w: WallTime): number => new Date(Date.UTC(w.year, w.month - 1, w.day)).getUTCDay();
  const same = onsets.every(
    (w) => w.month === first.month && w.hour === first.hour && w.minute === first.minute && w.second === first.second && weekday(w) === weekday(first),
  );
  if (!same) return null;
  const code = DAY_CODES[weekday(first)]!;
  if (onsets.every((w) => w.day + 7 > daysInMonth(w.year, w.month))) return `FREQ=YEARLY;BYMONTH=${first.month};BYDAY=-1${code}`;
  const nth = Math.ceil(first.day / 7);
  if (onsets.every((w) => Math.ceil(w.day / 7) === nth)) return `FREQ=YEARLY;BYMONTH=${first.month};BYDAY=${nth}${code}`;
  return null;
}

interface Observance {
  kind: 'STANDARD' | 'DAYLIGHT';
  from: number;
  to: number;
  onsets: WallTime[];
  firstAt: number;
  name: string | null;
}

/**
 * A VTIMEZONE for `timeZone` that is exact for `year` (it is computed from the transitions of
 * year-1 to year+1): STANDARD/DAYLIGHT observances with an RRULE when the onsets of those years
 * follow a yearly "n-th weekday of a month" rule, else RDATEs; one STANDARD for zones without
 * changes. Null for UTC, which needs none.
 */
export function buildVTimezone(timeZone: string, year: number): ICAL.Component | null {
  if (isUtcZone(timeZone)) return null;
  const years = [year - 1, year, year + 1];
  const rangeStart = Date.UTC(year - 1, 0, 1) - 86_400_000;
  const rangeEnd = Date.UTC(year + 2, 0, 1) + 86_400_000;
  const all = transitionsBetween(timeZone, rangeStart, rangeEnd);
  // Only transitions whose local onset falls inside the three years.
  const transitions = all.filter((t) => years.includes(shiftedWall(t.at, t.from).year));

  const vtz = new ICAL.Component('vtimezone');
  vtz.addPropertyWithValue('tzid', timeZone);

  if (transitions.length === 0) {
    const off = offsetAt(timeZone, Date.UTC(year, 6, 1));
    const std = new ICAL.Component('standard');
    std.addPropertyWithValue('dtstart', icalFloating({ year: 1970, month: 1, day: 1, hour: 0, minute: 0, second: 0 }));
    std.addPropertyWithValue('tzoffsetfrom', utcOffsetValue(off));
    std.addPropertyWithValue('tzoffsetto', utcOffsetValue(off));
    const name = zoneAbbreviation(timeZone, Date.UTC(year, 6, 1));
    if (name) std.addPropertyWithValue('tzname', name);
    vtz.addSubcomponent(std);
    return vtz;
  }

  // A change to a larger offset that is later undone is daylight time; every other change is standard.
  const toggles = (t: Transition): boolean => all.some((u) => u.from === t.to && u.to === t.from);
  const kindOf = (t: Transition): 'STANDARD' | 'DAYLIGHT' => (t.to > t.from && toggles(t) ? 'DAYLIGHT' : 'STANDARD');

  const groups = new Map<string, Observance>();
  for (const t of transitions) {
    const kind = kindOf(t);
    const key = `${kind}|${t.from}|${t.to}`;
    let g = groups.get(key);
    if (!g) {
      g = { kind, from: t.from, to: t.to, onsets: [], firstAt: t.at, name: zoneAbbreviation(timeZone, t.at) };
      groups.set(key, g);
    }
    g.onsets.push(shiftedWall(t.at, t.from));
  }

  const observances = [...groups.values()];
  // Without a change in year-1 nothing would be in force from 1 January of the event's year until
  // the first change: add the offset in force before it, from 1970.
  const first = transitions[0]!;
  const startOfYear = Date.UTC(year, 0, 1) - first.from * 1000;
  if (first.at > startOfYear) {
    const kind: 'STANDARD' | 'DAYLIGHT' = first.from > first.to && toggles(first) ? 'DAYLIGHT' : 'STANDARD';
    observances.push({
      kind,
      from: first.from,
      to: first.from,
      onsets: [{ year: 1970, month: 1, day: 1, hour: 0, minute: 0, second: 0 }],
      firstAt: Number.NEGATIVE_INFINITY,
      name: zoneAbbreviation(timeZone, first.at - 1000),
    });
  }
  observances.sort((a, b) => a.firstAt - b.firstAt);

  for (const g of observances) {
    const sub = new ICAL.Component(g.kind.toLowerCase());
    sub.addPropertyWithValue('dtstart', icalFloating(g.onsets[0]!));
    const rule = g.onsets.length > 1 ? yearlyRule(g.onsets, years) : null;
    if (rule) {
      sub.addPropertyWithValue('rrule', ICAL.Recur.fromString(rule));
    } else if (Number.isFinite(g.firstAt)) {
      for (const w of g.onsets) sub.addPropertyWithValue('rdate', icalFloating(w));
    }
    sub.addPropertyWithValue('tzoffsetfrom', utcOffsetValue(g.from));
    sub.addPropertyWithValue('tzoffsetto', utcOffsetValue(g.to));
    if (g.name) sub.addPropertyWithValue('tzname', g.name);
    vtz.addSubcomponent(sub);
  }
  return vtz;
}
