/**
 * The `Date:` header as 7.0+ reads it for the 72-hour unknown-token rule
 * (calendarserver-imip.md §4.4 step 4: `dateutil.parser.parse`, unparsable → UNKNOWN_TOKEN).
 * RFC 5322 dates (with obsolete zone names and comments) are read exactly; anything else falls
 * back to JavaScript's date parser, which accepts ISO 8601 and most of what dateutil does.
 */

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];

const ZONES: Record<string, number> = {
  UT: 0,
  UTC: 0,
  GMT: 0,
  Z: 0,
  EST: -5 * 60,
  EDT: -4 * 60,
  CST: -6 * 60,
  CDT: -5 * 60,
  MST: -7 * 60,
  MDT: -6 * 60,
  PST: -8 * 60,
  PDT: -7 * 60,
};

const RFC5322 =
  /^(?:[A-Za-z]{3},?\s+)?(\d{1,2})\s+([A-Za-z]{3})[a-z]*\s+(\d{2,4})\s+(\d{1,2}):(\d{2})(?::(\d{2}))?\s*([+-]\d{4}|[A-Za-z]{1,5})?/;

function zoneMinutes(zone: string | undefined): number {
  if (!zone) return 0;
  if (/^[+-]\d{4}$/.test(zone)) {
    const sign = zone[0] === '-' ? -1 : 1;
    return sign * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(3, 5)));
  }
  return ZONES[zone.toUpperCase()] ?? 0;
}

function fromRfc5322(m: RegExpExecArray): Date | null {
  const month = MONTHS.indexOf(m[2]!.slice(0, 3).toLowerCase());
  if (month < 0) return null;
  let year = Number(m[3]);
  if (m[3]!.length === 2) year += year < 50 ? 2000 : 1900;
  const utc = Date.UTC(year, month, Number(m[1]), Number(m[4]), Number(m[5]), Number(m[6] ?? 0));
  const t = utc - zoneMinutes(m[7]) * 60_000;
  return Number.isFinite(t) ? new Date(t) : null;
}

/** The instant a `Date:` header names, or null when it does not parse. */
export function parseMailDate(value: string | null | undefined): Date | null {
  if (!value) return null;
  const text = value.replace(/\([^)]*\)/g, ' ').trim();
  const m = RFC5322.exec(text);
  if (m) return fromRfc5322(m);
  const t = Date.parse(text);
  return Number.isFinite(t) ? new Date(t) : null;
}

/** 7.0+: an unknown token in a mail sent more than 72 hours ago is deleted (§4.4 step 4). */
export const UNKNOWN_TOKEN_MAX_AGE_MS = 72 * 3600 * 1000;

/**
 * Whether `dateutil.parser.parse` gives a naive datetime for this `Date:` value (7.0+ reads the
 * header with it; CalendarServer-7.0..9.2 inbound.py `MailReceiver.processReply`): no numeric
 * offset and no UTC/GMT/Z zone name. A zone abbreviation such as EST is naive too (dateutil does
 * not know it) unless it happens to be the server host's own local zone name; that case is not
 * knowable from here and is judged naive. A naive datetime compared with the aware "now − 72 h"
 * raises TypeError inside the reply processing.
 */
export function dateIsNaive(value: string): boolean {
  const text = value.replace(/\([^)]*\)/g, ' ');
  // A numeric offset after the time: +0000, -05:00, +01.
  if (/\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:[A-Za-z]{1,5}\s*)?[+-]\d{2}(?::?\d{2})?\b/.test(text)) return false;
  if (/\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?[+-]\d{2}(?::?\d{2})?\b/.test(text)) return false;
  if (/(?:^|[\s\d])(UTC|GMT|Z|z)(?=\s|$)/.test(text)) return false;
  return true;
}
