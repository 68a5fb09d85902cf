/**
 * Checks on what the admin types for `imip send-test` (addresses, start, duration). Every
 * rejection is a CannotRunError naming the flag and quoting the value, so the CLI prints one
 * clear line and exits 2 — and nothing hostile (CR/LF, a second address) reaches a header.
 */
import { CannotRunError } from '../report/exit.js';
import { assertTimeZone, resolveWallTime, wallTimeAt, type WallTime } from './timezone.js';

/** The value as the user should read it: quoted, control characters made visible. */
function show(value: string): string {
  return JSON.stringify(value);
}

const MAX_DURATION_MINUTES = 7 * 24 * 60;

/**
 * One plain e-mail address, optionally written `mailto:addr`; returns the bare address.
 * Rejects CR, LF, NUL and other control characters, whitespace, angle brackets, a missing `@`,
 * more than one `@` outside a quoted local part, and RFC 5322 specials outside quotes
 * (which would turn the value into a list or a display name).
 */
export function validateAddress(flag: string, value: string): string {
  if (typeof value !== 'string' || value.length === 0) {
    throw new CannotRunError(`${flag}: an e-mail address is required`);
  }
  if (/[\r\n]/.test(value)) {
    throw new CannotRunError(`${flag}: ${show(value)} contains a line break; give one address on one line`);
  }
  if (value.includes('\0')) {
    throw new CannotRunError(`${flag}: ${show(value)} contains a NUL character`);
  }
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(value)) {
    throw new CannotRunError(`${flag}: ${show(value)} contains a control character`);
  }
  if (/\s/.test(value)) {
    throw new CannotRunError(`${flag}: ${show(value)} contains a space; give the bare address, such as user@example.com`);
  }
  if (/[<>]/.test(value)) {
    throw new CannotRunError(
      `${flag}: ${show(value)} contains angle brackets; give the bare address without a display name, such as user@example.com`,
    );
  }
  const address = value.replace(/^mailto:/i, '');
  if (address.length === 0) throw new CannotRunError(`${flag}: ${show(value)} has nothing after mailto:`);
  if (address.length > 254) throw new CannotRunError(`${flag}: ${show(value)} is longer than an address can be (254 characters)`);

  // Find the @ signs outside a quoted local part, and specials outside quotes.
  const ats: number[] = [];
  let inQuote = false;
  for (let i = 0; i < address.length; i++) {
    const c = address[i]!;
    if (inQuote) {
      if (c === '\\') i++;
      else if (c === '"') inQuote = false;
      continue;
    }
    if (c === '"') inQuote = true;
    else if (c === '@') ats.push(i);
    else if ('(),:;[]\\'.includes(c) && ats.length === 0) {
      throw new CannotRunError(`${flag}: ${show(value)} contains "${c}" outside quotes; give one plain address, such as user@example.com`);
    }
  }
  if (inQuote) throw new CannotRunError(`${flag}: ${show(value)} has an unclosed quote`);
  if (ats.length === 0) throw new CannotRunError(`${flag}: ${show(value)} is not an e-mail address: it has no @`);
  if (ats.length > 1) {
    throw new CannotRunError(`${flag}: ${show(value)} has more than one @; give exactly one address, such as user@example.com`);
  }
  const at = ats[0]!;
  const local = address.slice(0, at);
  const domain = address.slice(at + 1);
  if (!local) throw new CannotRunError(`${flag}: ${show(value)} has nothing before the @`);
  if (!domain) throw new CannotRunError(`${flag}: ${show(value)} has nothing after the @`);
  const literal = /^\[[0-9A-Fa-f:.]+\]$/.test(domain) || /^\[IPv6:[0-9A-Fa-f:.]+\]$/i.test(domain);
  if (!literal) {
    if (/[",;:()[\]\\]/.test(domain)) throw new CannotRunError(`${flag}: ${show(value)} has characters that cannot appear in a domain`);
    if (domain.startsWith('.') || domain.endsWith('.') || domain.includes('..') || domain.split('.').some((l) => l.startsWith('-') || l.endsWith('-'))) {
      throw new CannotRunError(`${flag}: ${show(value)} does not end in a valid domain name`);
    }
  }
  if (!local.startsWith('"') && (local.startsWith('.') || local.endsWith('.') || local.includes('..'))) {
    throw new CannotRunError(`${flag}: ${show(value)} has a misplaced dot before the @`);
  }
  return address;
}

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
  if (/^\d{4}-\d{2}-\d{2}$/.test(text)) {
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
  const dim = new Date(Date.UTC(wall.year, wall.month, 0)).getUTCDate();
  if (wall.month < 1 || wall.month > 12 || wall.day < 1 || wall.day > dim) {
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

/** `--duration`: whole minutes, 1 to 10080 (7 days). */
export function parseDuration(value: string | number): number {
  const text = typeof value === 'number' ? String(value) : typeof value === 'string' ? value.trim() : '';
  if (!/^\d+$/.test(text)) {
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
