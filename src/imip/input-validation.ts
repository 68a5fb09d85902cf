/**
 * Checks on what the admin types for `imip send-test` (addresses, start, duration). Every
 * rejection is a CannotRunError naming the flag and quoting the value, so the CLI prints one
 * clear line and exits 2 — and nothing hostile (CR/LF, a second address) reaches a header.
 */
import { CannotRunError } from '../report/exit.js';
import { show } from './address-input.js';
import { assertTimeZone, resolveWallTime, wallTimeAt, type WallTime } from './timezone.js';

// In a module of its own so that `test-smtp --send-to` does not load the calendar library.
export { validateAddress } from './address-input.js';

const MAX_DURATION_MINUTES = 7 * 24 * 60;


const ISO_RE =
  /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?(?:(Z)|([+-])(\d{2}):?(\d{2}))?$/i;

/**
 * `--start`: ISO-8601 date and time, with an offset (`2026-03-02T10:00+01:00`, `...Z`) or without
 * one (then read as wall time in `timeZone`, default the machine's zone). A date alone is refused,
 * as is a wall time that does not exist in that zone (the hour skipped when clocks go forward);
 * a repeated wall time (clocks going back) means the first of the two.
 */
export function parseStart(value: string, timeZone?: string): Date {
  const text = typeof value === 'string' ? value.trim() : '';
  const dateOnly = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
  if (dateOnly) {
    if (!inCalendar(Number(dateOnly[1]), Number(dateOnly[2]), Number(dateOnly[3]))) throw new CannotRunError(`--start: ${show(value)} is not a date in the calendar`);
    throw new CannotRunError(`--start: ${show(value)} is a date without a time; give a time too, such as ${text}T10:00`);
  }
  const m = ISO_RE.exec(text);
  if (!m) {
    throw new CannotRunError(
      `--start: ${show(value)} is not an ISO-8601 date and time; give one such as 2026-03-02T10:00 or 2026-03-02T10:00+01:00`,
    );
  }
  const [, y, mo, d, h, mi, s, frac, z, sign, oh, om] = m;
  const wall: WallTime = { year: Number(y), month: Number(mo), day: Number(d), hour: Number(h), minute: Number(mi), second: Number(s ?? 0) };
  if (!inCalendar(wall.year, wall.month, wall.day)) {
    throw new CannotRunError(`--start: ${show(value)} is not a date in the calendar`);
  }
  if (wall.hour > 23 || wall.minute > 59 || wall.second > 59) {
    throw new CannotRunError(`--start: ${show(value)} is not a time of day (hours 00-23, minutes and seconds 00-59)`);
  }
  const ms = frac ? Math.floor(Number(`0.${frac}`) * 1000) : 0;
  const asUtc = Date.UTC(wall.year, wall.month - 1, wall.day, wall.hour, wall.minute, wall.second, ms);
  if (z) return new Date(asUtc);
  if (sign) {
    const hours = Number(oh);
    const minutes = Number(om);
    if (hours > 23 || minutes > 59) throw new CannotRunError(`--start: ${show(value)} has an impossible UTC offset`);
    const offset = (sign === '-' ? -1 : 1) * (hours * 60 + minutes) * 60_000;
    return new Date(asUtc - offset);
  }
  const tz = assertTimeZone(timeZone ?? Intl.DateTimeFormat().resolvedOptions().timeZone);
  const r = resolveWallTime(tz, wall);
  if (r.kind === 'gap') {
    throw new CannotRunError(
      `--start: ${show(value)} does not exist in ${tz} (the clocks skip that hour); give a later time or an explicit offset`,
    );
  }
  return new Date((r.kind === 'ok' ? r.epochMs : r.earlier) + ms);
}

/** Whether year-month-day is a day of the calendar (month 1-12, the day within that month). */
function inCalendar(year: number, month: number, day: number): boolean {
  return month >= 1 && month <= 12 && day >= 1 && day <= new Date(Date.UTC(year, month, 0)).getUTCDate();
}

/** `--duration`: whole minutes, 1 to 10080 (7 days). */
export function parseDuration(value: string | number): number {
  const text = typeof value === 'number' ? String(value) : typeof value === 'string' ? value.trim() : '';
  if (!/^-?\d+$/.test(text)) {
    throw new CannotRunError(`--duration: ${show(String(value))} is not a whole number of minutes; give one such as 60`);
  }
  const n = Number(text);
  if (n < 1) throw new CannotRunError(`--duration: ${show(String(value))} must be at least 1 minute`);
  if (n > MAX_DURATION_MINUTES) {
    throw new CannotRunError(`--duration: ${show(String(value))} minutes is longer than 7 days (${MAX_DURATION_MINUTES} minutes)`);
  }
  return n;
}

/** Tomorrow at 10:00 wall time in `timeZone` (the day after `now`'s date there). */
export function defaultStart(now: Date, timeZone: string): Date {
  const tz = assertTimeZone(timeZone);
  const today = wallTimeAt(tz, now.getTime());
  const tomorrow = new Date(Date.UTC(today.year, today.month - 1, today.day + 1));
  const wall: WallTime = {
    year: tomorrow.getUTCFullYear(),
    month: tomorrow.getUTCMonth() + 1,
    day: tomorrow.getUTCDate(),
    hour: 10,
    minute: 0,
    second: 0,
  };
  const r = resolveWallTime(tz, wall);
  if (r.kind === 'ok') return new Date(r.epochMs);
  if (r.kind === 'ambiguous') return new Date(r.earlier);
  // 10:00 skipped by a clock change: take 11:00.
  const later = resolveWallTime(tz, { ...wall, hour: 11 });
  return new Date(later.kind === 'ok' ? later.epochMs : later.kind === 'ambiguous' ? later.earlier : Date.UTC(wall.year, wall.month - 1, wall.day, 10));
}
