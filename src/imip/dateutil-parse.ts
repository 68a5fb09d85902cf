/**
 * `dateutil.parser.parse(s)` with default arguments, ported line by line from python-dateutil as
 * Calendar Server pinned it, running under CPython 2.7: 7.0+ reads a reply's `Date:` header with
 * it for the 72-hour unknown-token rule (CalendarServer-7.0..9.2 inbound.py
 * `MailReceiver.processReply`).
 *
 * Versions (CalendarServer's pins): 7.x → 1.5 (dateutil/dateutil 30af002, "Preparing for 1.5"),
 * 8.0–9.0 → 2.4.2, 9.1–9.2 → 2.6.0. 1.5 reads the header's bytes as they are and counts the
 * Latin-1 letters as word characters; 2.4.2 and 2.6.0 decode it as ASCII first, so a header with
 * a byte ≥ 0x80 raises UnicodeDecodeError there.
 *
 * Python is followed in its corners too: `float()` of a token (so "nan", "inf", "Infinity" are
 * numbers), `int()` of a float (OverflowError for infinity), Python 2's `None < 12` being true
 * (1.5's "pm" without an hour raises TypeError), negative list indexes, the exceptions `_parse`
 * catches (IndexError, ValueError, AssertionError → "Unknown string format") and the ones it lets
 * through (OverflowError, TypeError), and `datetime.replace`'s C-int conversion and range checks.
 *
 * Integers are JavaScript numbers; the year, month and day also keep their digits, so the C-long
 * limit and the error texts that name them are exact however long the number (a value past 2^53
 * only ever ends in an error).
 *
 * Map to the source: `timelexSplit`/`finishToken` = `_timelex.get_token`; the tables and
 * `convertyear`/`validate` = `parserinfo`; `parseTokens`/`numberToken` = `parser._parse`;
 * `resolveYmdInline` = the year/month/day block of 1.5/2.4.2 `_parse`, `resolveYmd260` = 2.6.0
 * `_ymd.resolve_ymd`; `parseOrThrow` = `parser.parse` (default, replace, weekday, tzinfo).
 */
import { UTC_HOST, type LocalZone } from '../server/host-zone.js';

export type DateutilVersion = '1.5' | '2.4.2' | '2.6.0';

export type DateutilResult =
  | { ok: false; error: string }
  | { ok: true; naive: true }
  | {
      ok: true;
      naive: false;
      /** The UTC instant, in milliseconds (microseconds as the fraction). */
      epochMs: number;
      /**
       * Set when the offset is a day or more (e.g. "+9959"): dateutil returns the datetime, but
       * CPython 2.7 raises this from `utcoffset()`, i.e. from any comparison with it.
       */
      utcoffsetError?: string;
    };

/** A Python exception, carried as its class name and `str()`. */
class PyError extends Error {
  constructor(
    readonly pyType: string,
    readonly pyMessage: string,
  ) {
    super(`${pyType}: ${pyMessage}`);
  }
}

const raise = (type: string, message: string): never => {
  throw new PyError(type, message);
};

// ---------------------------------------------------------------------------------------------
// Python built-ins as the parser uses them.

/** `lst[k]`: negative indexes count from the end; out of range raises IndexError. */
function at(lst: readonly string[], k: number): string {
  const j = k < 0 ? lst.length + k : k;
  if (j < 0 || j >= lst.length) raise('IndexError', 'list index out of range');
  return lst[j]!;
}

/** `float(tok)` for a token (no signs, spaces or exponents occur in tokens); null = ValueError. */
function pyFloat(tok: string): number | null {
  if (/^(?:\d+\.?\d*|\.\d+)$/.test(tok)) return Number(tok);
  const low = tok.toLowerCase();
  if (low === 'inf' || low === 'infinity') return Infinity;
  if (low === 'nan') return NaN;
  return null;
}

/** `int(s)` for a str: only ASCII digits occur in the strings that get here. */
function pyIntStr(s: string): number {
  if (!/^\d+$/.test(s)) raise('ValueError', `invalid literal for int() with base 10: '${s}'`);
  return Number(s);
}

/** `int(s)` or null where Python raises ValueError. */
function tryIntStr(s: string): number | null {
  return /^\d+$/.test(s) ? Number(s) : null;
}

/** `int(x)` for a float: truncation; NaN and infinity raise. */
function pyIntFloat(x: number): number {
  if (Number.isNaN(x)) raise('ValueError', 'cannot convert float NaN to integer');
  if (!Number.isFinite(x)) raise('OverflowError', 'cannot convert float infinity to integer');
  return Math.trunc(x) + 0;
}

/** 2^63: a C long (64-bit Linux) holds less than this in magnitude. */
const LONG_LIMIT = 2 ** 63;

/** Python truthiness of a float (NaN is true). */
const truthy = (x: number): boolean => x !== 0;

/** An int's decimal digits (no sign occurs) past a 64-bit C long: Python 2 makes it a long. */
const beyondLong = (d: string): boolean => d.length > 19 || (d.length === 19 && d > '9223372036854775807');

/** `repr()` of a Python 2 int from its digits: a long gets an L. */
const longRepr = (d: string): string => (beyondLong(d) ? `${d}L` : d);

/** `_parsems` (all versions): "SS[.ffffff]" → seconds, microseconds. */
function parsems(value: string): [number, number] {
  const dot = value.indexOf('.');
  if (dot < 0) return [pyIntStr(value), 0];
  const parts = value.split('.');
  if (parts.length !== 2) raise('ValueError', 'too many values to unpack');
  return [pyIntStr(parts[0]!), pyIntStr(parts[1]!.padEnd(6, '0').slice(0, 6))];
}

// ---------------------------------------------------------------------------------------------
// _timelex: the tokenizer.

const isAsciiAlpha = (c: number): boolean => (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a);
const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39;
const DOT = 0x2e;
const COMMA = 0x2c;

/**
 * 1.5/2.4.2: `wordchars` is a-z, A-Z, '_' and the Latin-1 letters (bytes 0xC0-0xFF but 0xD7 and
 * 0xF7: 1.5 reads the header's bytes; 2.4.2 decoded it as ASCII first, so it never meets them),
 * `whitespace` is ' \t\r\n'. 2.6.0: `str.isalpha()`, `isdigit()`, `isspace()` on the unicode
 * character, which for ASCII adds \v \f and \x1c-\x1f to the spaces and drops '_'.
 */
function charClasses(version: DateutilVersion): { isWord: (c: number) => boolean; isSpace: (c: number) => boolean } {
  if (version === '2.6.0') return { isWord: isAsciiAlpha, isSpace: (c) => c === 0x20 || (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x1f) };
  const latin1Letter = (c: number): boolean => c >= 0xc0 && c <= 0xff && c !== 0xd7 && c !== 0xf7;
  return { isWord: (c) => isAsciiAlpha(c) || c === 0x5f || latin1Letter(c), isSpace: (c) => c === 0x20 || c === 0x09 || c === 0x0d || c === 0x0a };
}

type LexState = 'a' | '0' | 'a.' | '0.';

/**
 * `_timelex.split(s)`: `get_token` until it returns None. `get_token` skips NUL characters as it
 * reads them, so they are dropped first and every token is a slice of what remains; the one
 * character `get_token` reads past a token (its `charstack`) is simply not consumed here.
 */
function timelexSplit(raw: string, version: DateutilVersion): string[] {
  const { isWord, isSpace } = charClasses(version);
  const input = raw.includes('\x00') ? raw.replaceAll('\x00', '') : raw;
  const n = input.length;
  const out: string[] = [];
  let pos = 0;
  while (pos < n) {
    const start = pos;
    const first = input.charCodeAt(pos++);
    let state: LexState;
    if (isWord(first)) state = 'a';
    else if (isDigit(first)) state = '0';
    else {
      // white space is emitted as ' ', anything else as itself
      out.push(isSpace(first) ? ' ' : input[start]!);
      continue;
    }
    let seenletters = false;
    let lastDot = false; // token[-1] == '.'
    for (; pos < n; pos++) {
      const c = input.charCodeAt(pos);
      if (state === 'a') {
        seenletters = true;
        if (isWord(c)) continue;
        if (c !== DOT) break;
        state = 'a.';
      } else if (state === '0') {
        if (isDigit(c)) continue;
        // 2.6.0: "Fractional seconds are sometimes split by a comma" (after two digits or more).
        if (!(c === DOT || (version === '2.6.0' && c === COMMA && pos - start >= 2))) break;
        state = '0.';
      } else if (state === 'a.') {
        seenletters = true;
        if (c === DOT || isWord(c)) {
          lastDot = c === DOT;
          continue;
        }
        if (!(isDigit(c) && lastDot)) break;
        state = '0.';
      } else {
        if (c === DOT || isDigit(c)) {
          lastDot = c === DOT;
          continue;
        }
        if (!(isWord(c) && lastDot)) break;
        state = 'a.';
      }
      lastDot = c === DOT;
    }
    finishToken(input.slice(start, pos), state, seenletters, version, out);
  }
  return out;
}

/**
 * The end of `get_token`: a dotted token with letters, two dots or a final dot is broken up
 * (1.5/2.4.2: `token.split('.')`, a '.' token between the pieces; 2.6.0: `re.split('([.,])')`,
 * commas too); 2.6.0 then reads a remaining "12,5" as "12.5".
 */
function finishToken(token: string, state: LexState, seenletters: boolean, version: DateutilVersion, out: string[]): void {
  if (state === 'a' || state === '0') {
    out.push(token);
    return;
  }
  const last = token.charCodeAt(token.length - 1);
  const splitEnd = last === DOT || (version === '2.6.0' && last === COMMA);
  const firstOut = out.length;
  if (seenletters || splitEnd || countChar(token, '.') > 1) {
    let from = 0;
    for (let k = 0; k < token.length; k++) {
      const c = token.charCodeAt(k);
      if (c === DOT || (version === '2.6.0' && c === COMMA)) {
        if (from === 0 || k > from) out.push(token.slice(from, k));
        out.push(c === DOT ? '.' : ',');
        from = k + 1;
      }
    }
    if (from < token.length) out.push(token.slice(from));
  } else out.push(token);
  if (version === '2.6.0' && state === '0.' && !out[firstOut]!.includes('.')) out[firstOut] = out[firstOut]!.replaceAll(',', '.');
}

function countChar(s: string, c: string): number {
  let n = 0;
  for (let i = s.indexOf(c); i >= 0; i = s.indexOf(c, i + 1)) n++;
  return n;
}

// ---------------------------------------------------------------------------------------------
// parserinfo: the word tables (identical in 1.5, 2.4.2 and 2.6.0, but for 1.5's missing "Sept").

function table(lst: ReadonlyArray<string | readonly string[]>): Map<string, number> {
  const m = new Map<string, number>();
  lst.forEach((v, i) => (typeof v === 'string' ? [v] : v).forEach((w) => m.set(w.toLowerCase(), i)));
  return m;
}

// m from a.m/p.m, t from ISO T separator
const JUMP = table([' ', '.', ',', ';', '-', '/', "'", 'at', 'on', 'and', 'ad', 'm', 't', 'of', 'st', 'nd', 'rd', 'th']);
const WEEKDAYS = table([['Mon', 'Monday'], ['Tue', 'Tuesday'], ['Wed', 'Wednesday'], ['Thu', 'Thursday'], ['Fri', 'Friday'], ['Sat', 'Saturday'], ['Sun', 'Sunday']]);
const MONTHS = table([
  ['Jan', 'January'],
  ['Feb', 'February'],
  ['Mar', 'March'],
  ['Apr', 'April'],
  ['May', 'May'],
  ['Jun', 'June'],
  ['Jul', 'July'],
  ['Aug', 'August'],
  ['Sep', 'Sept', 'September'],
  ['Oct', 'October'],
  ['Nov', 'November'],
  ['Dec', 'December'],
]);
const HMS = table([['h', 'hour', 'hours'], ['m', 'minute', 'minutes'], ['s', 'second', 'seconds']]);
const AMPM = table([['am', 'a'], ['pm', 'p']]);
const UTCZONE = table(['UTC', 'GMT', 'Z']);
const PERTAIN = table(['of']);

const jump = (name: string): boolean => JUMP.has(name.toLowerCase());
const weekdayOf = (name: string): number | null => (name.length >= 3 ? (WEEKDAYS.get(name.toLowerCase()) ?? null) : null);
/** `parserinfo.month`: 1.5 has no "Sept" (added in 2.1). */
const monthOf = (name: string, version: DateutilVersion): number | null => {
  const key = name.toLowerCase();
  if (name.length < 3 || !MONTHS.has(key) || (version === '1.5' && key === 'sept')) return null;
  return MONTHS.get(key)! + 1;
};
const hms = (name: string): number | null => HMS.get(name.toLowerCase()) ?? null;
const ampm = (name: string): number | null => AMPM.get(name.toLowerCase()) ?? null;
const pertain = (name: string): boolean => PERTAIN.has(name.toLowerCase());
const utczone = (name: string): boolean => UTCZONE.has(name.toLowerCase());
/**
 * `parserinfo.tzoffset(name)`: `name in self._utczone` compares the name as written with the
 * lower-cased keys, so an upper-case "UTC" never matches, and TZOFFSET is empty: always None.
 */
const tzoffsetOf = (name: string): number | null => (UTCZONE.has(name) ? 0 : null);

/** `string.ascii_uppercase` only (an empty name passes too, as in Python). */
const allUpper = (s: string): boolean => /^[A-Z]*$/.test(s);

/** `parserinfo.convertyear` (2.6.0 adds `century_specified`); `_year` is the current year. */
function convertyear(year: number, thisYear: number, centurySpecified = false): number {
  if (year < 100 && !centurySpecified) {
    year += Math.floor(thisYear / 100) * 100;
    if (Math.abs(year - thisYear) >= 50) year += year < thisYear ? 100 : -100;
  }
  return year;
}

// ---------------------------------------------------------------------------------------------
// parser._parse

interface Res {
  year: number | null;
  month: number | null;
  day: number | null;
  weekday: number | null;
  hour: number | null;
  minute: number | null;
  second: number | null;
  microsecond: number | null;
  tzname: string | null;
  tzoffset: number | null;
  ampm: number | null; // 2.4.2+
  centurySpecified: boolean; // 2.6.0
  exact: Partial<Record<'year' | 'month' | 'day', string>>; // their digits, from the ymd list
}

/** The year/month/day list: 2.6.0's `_ymd` remembers whether a century was written. */
class Ymd {
  readonly values: number[] = [];
  /** Each value's decimal digits, all of them (the numbers lose some past 2^53). */
  readonly digits: string[] = [];
  centurySpecified = false;
  constructor(private readonly version: DateutilVersion) {}
  get length(): number {
    return this.values.length;
  }
  /** `exact`: the digits when the value came from a string (a float's are its own). */
  push(n: number, exact?: string): void {
    this.values.push(n);
    this.digits.push(exact === undefined ? BigInt(n).toString() : exact.replace(/^0+(?=\d)/, ''));
  }
  /** 2.6.0 `_ymd.append`: a digit string longer than 2 or a number over 100 sets the flag. */
  append(val: string | number): void {
    if (typeof val === 'string') {
      if (/^\d+$/.test(val) && val.length > 2) this.centurySpecified = true;
      this.push(pyIntStr(val), val);
    } else {
      if (val > 100) this.centurySpecified = true;
      this.push(pyIntFloat(val));
    }
  }
  /** A token as it is appended: 2.6.0 hands `_ymd.append` the string, older versions `int(...)`. */
  appendToken(tok: string): void {
    if (this.version === '2.6.0') this.append(tok);
    else this.push(pyIntStr(tok), tok);
  }
}

function assert(cond: boolean): void {
  if (!cond) raise('AssertionError', '');
}

interface Ctx {
  version: DateutilVersion;
  thisYear: number;
  timestr: string;
}

/** `parser._parse(timestr)` with dayfirst=yearfirst=fuzzy=False: the result, or null for None. */
function parseTokens(ctx: Ctx): Res | null {
  const { version } = ctx;
  const res: Res = { year: null, month: null, day: null, weekday: null, hour: null, minute: null, second: null, microsecond: null, tzname: null, tzoffset: null, ampm: null, centurySpecified: false, exact: {} };
  const l = timelexSplit(ctx.timestr, version);
  try {
    const ymd = new Ymd(version);
    let mstridx = -1;
    const lenL = l.length;
    let i = 0;
    while (i < lenL) {
      // Check if it's a number
      const value = pyFloat(l[i]!);
      if (value !== null) {
        const step = numberToken(ctx, l, i, value, res, ymd, mstridx);
        if (step === null) return null;
        [i, mstridx] = step;
        continue;
      }

      // Check weekday
      const wd = weekdayOf(l[i]!);
      if (wd !== null) {
        res.weekday = wd;
        i += 1;
        continue;
      }

      // Check month name
      const mo = monthOf(l[i]!, version);
      if (mo !== null) {
        ymd.push(mo);
        assert(mstridx === -1);
        mstridx = ymd.length - 1;
        i += 1;
        if (i < lenL) {
          if (l[i] === '-' || l[i] === '/') {
            // Jan-01[-99]
            const sep = l[i];
            i += 1;
            ymd.appendToken(at(l, i));
            i += 1;
            if (i < lenL && l[i] === sep) {
              // Jan-01-99
              i += 1;
              ymd.appendToken(at(l, i));
              i += 1;
            }
          } else if (i + 3 < lenL && l[i] === ' ' && l[i + 2] === ' ' && pertain(l[i + 1]!)) {
            // Jan of 01: 01 is clearly year, converted here to become unambiguous
            const y = tryIntStr(l[i + 3]!);
            if (y !== null) {
              const converted = convertyear(y, ctx.thisYear);
              if (version === '2.6.0') ymd.append(String(converted));
              else ymd.push(converted);
            }
            i += 4;
          }
        }
        continue;
      }

      // Check am/pm
      const ap = ampm(l[i]!);
      if (ap !== null) {
        if (version === '1.5') {
          // 1.5: no check. Python 2 orders None below every int, so "pm" before any
          // hour tries None + 12.
          if (ap === 1 && (res.hour === null || res.hour < 12)) {
            if (res.hour === null) raise('TypeError', "unsupported operand type(s) for +=: 'NoneType' and 'int'");
            res.hour = res.hour! + 12;
          } else if (ap === 0 && res.hour === 12) res.hour = 0;
        } else {
          // 2.4.2+: the ValueErrors raised here are caught below: "Unknown string format".
          if (res.hour === null) raise('ValueError', 'No hour specified with AM or PM flag.');
          else if (!(res.hour >= 0 && res.hour <= 12)) raise('ValueError', 'Invalid hour specified for 12-hour clock.');
          if (ap === 1 && res.hour! < 12) res.hour = res.hour! + 12;
          else if (ap === 0 && res.hour === 12) res.hour = 0;
          res.ampm = ap;
        }
        i += 1;
        continue;
      }

      // Check for a timezone name
      if (res.hour !== null && l[i]!.length <= 5 && res.tzname === null && res.tzoffset === null && allUpper(l[i]!)) {
        res.tzname = l[i]!;
        res.tzoffset = tzoffsetOf(res.tzname);
        i += 1;
        // GMT+3 means "my time +3 is GMT": the sign is reversed for the offset that follows,
        // and with GMT+3 the zone is *not* GMT.
        if (i < lenL && (l[i] === '+' || l[i] === '-')) {
          l[i] = l[i] === '+' ? '-' : '+';
          res.tzoffset = null;
          if (utczone(res.tzname)) res.tzname = null;
        }
        continue;
      }

      // Check for a numbered timezone
      if (res.hour !== null && (l[i] === '+' || l[i] === '-')) {
        const signal = l[i] === '+' ? 1 : -1;
        i += 1;
        const tok = at(l, i);
        if (tok.length === 4) {
          // -0300
          res.tzoffset = pyIntStr(tok.slice(0, 2)) * 3600 + pyIntStr(tok.slice(2)) * 60;
        } else if (i + 1 < lenL && l[i + 1] === ':') {
          // -03:00
          res.tzoffset = pyIntStr(tok) * 3600 + pyIntStr(at(l, i + 2)) * 60;
          i += 2;
        } else if (tok.length <= 2) {
          // -[0]3
          res.tzoffset = pyIntStr(tok.slice(0, 2)) * 3600;
        } else return null;
        i += 1;
        res.tzoffset = res.tzoffset * signal + 0;
        // Look for a timezone name between parenthesis: -0300 (BRST)
        if (i + 3 < lenL && jump(l[i]!) && l[i + 1] === '(' && l[i + 3] === ')' && l[i + 2]!.length >= 3 && l[i + 2]!.length <= 5 && allUpper(l[i + 2]!)) {
          res.tzname = l[i + 2]!;
          i += 4;
        }
        continue;
      }

      // Check jumps (fuzzy=False: anything else is an unknown format)
      if (!jump(l[i]!)) return null;
      i += 1;
    }

    // Process year/month/day
    const [year, month, day] = version === '2.6.0' ? resolveYmd260(ymd, mstridx, ctx) : resolveYmdInline(ymd.values, mstridx);
    if (year === undefined) return null;
    if (year !== null) {
      res.year = ymd.values[year]!;
      res.exact.year = ymd.digits[year]!;
      res.centurySpecified = ymd.centurySpecified;
    }
    if (month !== null) {
      res.month = ymd.values[month]!;
      res.exact.month = ymd.digits[month]!;
    }
    if (day !== null) {
      res.day = ymd.values[day]!;
      res.exact.day = ymd.digits[day]!;
    }
  } catch (e) {
    if (e instanceof PyError && (e.pyType === 'IndexError' || e.pyType === 'ValueError' || e.pyType === 'AssertionError')) return null;
    throw e;
  }
  validate(res, ctx);
  return res;
}

/**
 * A token that `float()` accepts: every numeric form `_parse` knows, in its order. Returns the
 * new [i, mstridx], or null where `_parse` returns None.
 */
function numberToken(ctx: Ctx, l: string[], i0: number, value0: number, res: Res, ymd: Ymd, mstridx0: number): [number, number] | null {
  const { version } = ctx;
  const lenL = l.length;
  let i = i0;
  let value = value0;
  let valueRepr = l[i0]!;
  let mstridx = mstridx0;
  const lenLi = l[i]!.length;
  i += 1;
  const cur = l[i - 1]!;
  if (ymd.length === 3 && (lenLi === 2 || lenLi === 4) && (version === '1.5' || res.hour === null) && (i >= lenL || (l[i] !== ':' && hms(l[i]!) === null))) {
    // 19990101T23[59] (2.4.2+: only while no hour is known)
    res.hour = pyIntStr(cur.slice(0, 2));
    if (lenLi === 4) res.minute = pyIntStr(cur.slice(2));
  } else if (lenLi === 6 || (lenLi > 6 && cur.indexOf('.') === 6)) {
    // YYMMDD or HHMMSS[.ss]
    if (ymd.length === 0 && !cur.includes('.')) {
      if (version === '2.6.0') {
        ymd.append(cur.slice(0, 2));
        ymd.append(cur.slice(2, 4));
        ymd.append(cur.slice(4));
      } else {
        ymd.push(convertyear(pyIntStr(cur.slice(0, 2)), ctx.thisYear));
        ymd.push(pyIntStr(cur.slice(2, 4)));
        ymd.push(pyIntStr(cur.slice(4)));
      }
    } else {
      // 19990101T235959[.59]
      res.hour = pyIntStr(cur.slice(0, 2));
      res.minute = pyIntStr(cur.slice(2, 4));
      [res.second, res.microsecond] = parsems(cur.slice(4));
    }
  } else if (lenLi === 8 || lenLi === 12 || lenLi === 14) {
    // YYYYMMDD[hhmm[ss]]
    ymd.appendToken(cur.slice(0, 4));
    ymd.appendToken(cur.slice(4, 6));
    ymd.appendToken(cur.slice(6, 8));
    if (lenLi > 8) {
      res.hour = pyIntStr(cur.slice(8, 10));
      res.minute = pyIntStr(cur.slice(10, 12));
      if (lenLi > 12) res.second = pyIntStr(cur.slice(12));
    }
  } else if ((i < lenL && hms(l[i]!) !== null) || (i + 1 < lenL && l[i] === ' ' && hms(l[i + 1]!) !== null)) {
    // HH[ ]h or MM[ ]m or SS[.ss][ ]s
    if (l[i] === ' ') i += 1;
    let idx = hms(l[i]!)!;
    for (;;) {
      if (idx === 0) {
        res.hour = pyIntFloat(value);
        if (truthy(value % 1)) res.minute = pyIntFloat(60 * (value % 1));
      } else if (idx === 1) {
        res.minute = pyIntFloat(value);
        if (truthy(value % 1)) res.second = pyIntFloat(60 * (value % 1));
      } else if (idx === 2) {
        [res.second, res.microsecond] = parsems(valueRepr);
      }
      i += 1;
      if (i >= lenL || idx === 2) break;
      // 12h00
      const next = pyFloat(l[i]!);
      if (next === null) break;
      valueRepr = l[i]!;
      value = next;
      i += 1;
      idx += 1;
      if (i < lenL) {
        const newidx = hms(l[i]!);
        if (newidx !== null) idx = newidx;
      }
    }
  } else if (ctx.version !== '1.5' && i === lenL && at(l, i - 2) === ' ' && hms(at(l, i - 3)) !== null) {
    // X h MM or X m SS (2.1 and later). Only "h" has an effect: the SS case sits under
    // `if value%1` in the source (all versions), where it can never run.
    const idx = hms(at(l, i - 3))! + 1;
    if (idx === 1) {
      res.minute = pyIntFloat(value);
      if (truthy(value % 1)) res.second = pyIntFloat(60 * (value % 1));
    }
  } else if (i + 1 < lenL && l[i] === ':') {
    // HH:MM[:SS[.ss]]
    res.hour = pyIntFloat(value);
    i += 1;
    const v = pyFloat(l[i]!);
    if (v === null) raise('ValueError', 'could not convert string to float');
    value = v!;
    res.minute = pyIntFloat(value);
    if (truthy(value % 1)) res.second = pyIntFloat(60 * (value % 1));
    i += 1;
    if (i < lenL && l[i] === ':') {
      [res.second, res.microsecond] = parsems(at(l, i + 1));
      i += 2;
    }
  } else if (i < lenL && (l[i] === '-' || l[i] === '/' || l[i] === '.')) {
    const sep = l[i];
    // 2.6.0 appends the token as written (so "12.5-" is a ValueError), older versions int(value).
    if (version === '2.6.0') ymd.append(valueRepr);
    else ymd.push(pyIntFloat(value));
    i += 1;
    if (i < lenL && !jump(l[i]!)) {
      const n = tryIntStr(l[i]!);
      if (n !== null) {
        // 01-01[-01]
        ymd.appendToken(l[i]!);
      } else {
        // 01-Jan[-01]
        const m = monthOf(l[i]!, ctx.version);
        if (m === null) return null;
        ymd.push(m);
        assert(mstridx === -1);
        mstridx = ymd.length - 1;
      }
      i += 1;
      if (i < lenL && l[i] === sep) {
        // We have three members
        i += 1;
        const m = monthOf(at(l, i), ctx.version);
        if (m !== null) {
          // All versions set mstridx before asserting it is -1: "01-01-Jan" always fails.
          ymd.push(m);
          mstridx = ymd.length - 1;
          assert(mstridx === -1);
        } else ymd.appendToken(l[i]!);
        i += 1;
      }
    }
  } else if (i >= lenL || jump(l[i]!)) {
    if (i + 1 < lenL && ampm(l[i + 1]!) !== null) {
      // 12 am
      res.hour = twelveHour(pyIntFloat(value), ampm(l[i + 1]!)!);
      i += 1;
    } else if (version === '2.6.0') {
      // Year, month or day (2.6.0 appends the float)
      ymd.append(value);
    } else ymd.push(pyIntFloat(value));
    i += 1;
  } else if (ampm(l[i]!) !== null) {
    // 12am
    res.hour = twelveHour(pyIntFloat(value), ampm(l[i]!)!);
    i += 1;
  } else return null; // not fuzzy
  return [i, mstridx];
}

/** "12 am" / "5pm" right after the number (all versions, no range check). */
function twelveHour(hour: number, ap: number): number {
  if (hour < 12 && ap === 1) return hour + 12;
  if (hour === 12 && ap === 0) return 0;
  return hour;
}

/** Which member of the list is the year, the month and the day (positions; null: not given). */
type Ymd3 = [number | null, number | null, number | null] | [undefined, null, null];

/**
 * 1.5 / 2.4.2: the year/month/day resolution inline in `_parse` (dayfirst=yearfirst=False), as
 * positions in the list so that a value keeps its exact digits.
 */
function resolveYmdInline(v: readonly number[], mstridx: number): Ymd3 {
  const len = v.length;
  if (len > 3) return [undefined, null, null]; // More than three members!?
  if (len === 1 || (mstridx !== -1 && len === 2)) {
    // One member, or two members with a month string (`del ymd[mstridx]`, then `ymd[0]`)
    const month = mstridx !== -1 ? mstridx : null;
    if (len > 1 || mstridx === -1) {
      const first = mstridx === 0 ? 1 : 0;
      return v[first]! > 31 ? [first, month, null] : [null, month, first];
    }
    return [null, month, null];
  }
  if (len === 2) {
    if (v[0]! > 31) return [0, 1, null]; // 99-01
    if (v[1]! > 31) return [1, 0, null]; // 01-99
    return [null, 0, 1]; // 01-13
  }
  if (len === 3) {
    if (mstridx === 0) return [2, 0, 1]; // month, day, year
    if (mstridx === 1) return v[0]! > 31 ? [0, 1, 2] : [2, 1, 0]; // 99-Jan-01 / 01-Jan-01
    if (mstridx === 2) return v[1]! > 31 ? [1, 2, 0] : [0, 2, 1]; // 01-99-Jan / 99-01-Jan
    if (v[0]! > 31) return [0, 1, 2]; // 99-01-01
    if (v[0]! > 12) return [2, 1, 0]; // 13-01-01
    return [2, 0, 1]; // 01-13-01
  }
  return [null, null, null];
}

/**
 * 2.6.0 `_ymd.resolve_ymd`: as above, plus `find_probable_year_index` for three numbers: a value
 * that exactly one token of the re-split input equals as an int, that token longer than two
 * characters ("0005-03-04"), is the year.
 */
function resolveYmd260(ymd: Ymd, mstridx: number, ctx: Ctx): Ymd3 {
  const v = ymd.values;
  if (v.length > 3) raise('ValueError', 'More than three YMD values');
  if (v.length === 3 && mstridx === -1 && v[0]! <= 31 && findProbableYearIndex(v, timelexSplit(ctx.timestr, ctx.version)) === 0) return [0, 1, 2]; // 99-01-01
  return resolveYmdInline(v, mstridx);
}

function findProbableYearIndex(ymd: readonly number[], tokens: readonly string[]): number | null {
  for (let index = 0; index < ymd.length; index++) {
    const potential = tokens.filter((t) => tryIntStr(t) === ymd[index]);
    if (potential.length === 1 && potential[0]!.length > 2) return index;
  }
  return null;
}

/** `parserinfo.validate`: the two-digit year, and Z / UTC / GMT as offset 0. */
function validate(res: Res, ctx: Ctx): void {
  if (res.year !== null) {
    res.year = convertyear(res.year, ctx.thisYear, ctx.version === '2.6.0' && res.centurySpecified);
    if (Number.isSafeInteger(res.year)) res.exact.year = String(res.year); // two-digit years change
  }
  if ((res.tzoffset === 0 && !res.tzname) || res.tzname === 'Z') {
    res.tzname = 'UTC';
    res.tzoffset = 0;
  } else if (res.tzoffset !== 0 && res.tzname && utczone(res.tzname)) res.tzoffset = 0;
}

// ---------------------------------------------------------------------------------------------
// datetime, as CPython 2.7's C module checks it.

/** A datetime's fields, as Python keeps them. */
export interface PyDateTime {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  microsecond: number;
}

const isleap = (y: number): boolean => y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0);
const DAYS_IN_MONTH = [0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
const daysInMonth = (y: number, m: number): number => (m === 2 && isleap(y) ? 29 : DAYS_IN_MONTH[m]!);

/** Days from 1970-01-01 to a proleptic Gregorian date. */
function daysFromCivil(y: number, m: number, d: number): number {
  const yy = m <= 2 ? y - 1 : y;
  const era = Math.floor(yy / 400);
  const yoe = yy - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

function civilFromDays(z0: number): [number, number, number] {
  const z = z0 + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const m = mp < 10 ? mp + 3 : mp - 9;
  return [yoe + era * 400 + (m <= 2 ? 1 : 0), m, d];
}

/** `PyArg_ParseTuple` "i": a Python int to a C int (64-bit long first); `digits` when known exactly. */
function cInt(v: number, digits?: string): number {
  if (digits !== undefined ? beyondLong(digits) : v >= LONG_LIMIT || v < -LONG_LIMIT) raise('OverflowError', 'Python int too large to convert to C long');
  if (v > 2147483647) raise('OverflowError', 'signed integer is greater than maximum');
  if (v < -2147483648) raise('OverflowError', 'signed integer is less than minimum');
  return v;
}

function checkDate(y: number, m: number, d: number): void {
  if (y < 1 || y > 9999) raise('ValueError', 'year is out of range');
  if (m < 1 || m > 12) raise('ValueError', 'month must be in 1..12');
  if (d < 1 || d > daysInMonth(y, m)) raise('ValueError', 'day is out of range for month');
}

/** `datetime.replace(**repl)`: C-int conversion in argument order, then the range checks. */
function datetimeReplace(base: PyDateTime, repl: Partial<PyDateTime>, exact: Res['exact']): PyDateTime {
  const order = ['year', 'month', 'day', 'hour', 'minute', 'second', 'microsecond'] as const;
  const out = { ...base };
  for (const k of order) if (repl[k] !== undefined) out[k] = cInt(repl[k], k === 'year' || k === 'month' || k === 'day' ? exact[k] : undefined);
  checkDate(out.year, out.month, out.day);
  if (out.hour < 0 || out.hour > 23) raise('ValueError', 'hour must be in 0..23');
  if (out.minute < 0 || out.minute > 59) raise('ValueError', 'minute must be in 0..59');
  if (out.second < 0 || out.second > 59) raise('ValueError', 'second must be in 0..59');
  if (out.microsecond < 0 || out.microsecond > 999999) raise('ValueError', 'microsecond must be in 0..999999');
  return out;
}

/** `calendar.monthrange(year, month)[1]` (Python 2.7: IllegalMonthError, then `datetime.date`). */
function monthrangeDays(year: number, month: number, exact: Res['exact']): number {
  if (!(month >= 1 && month <= 12)) raise('IllegalMonthError', `bad month number ${longRepr(exact.month ?? String(month))}; must be 1-12`);
  checkDate(cInt(year, exact.year), month, 1);
  return daysInMonth(year, month);
}

/** `timedelta(seconds=offset)` as `tzoffset` builds it: the day count must fit. */
function checkTimedeltaSeconds(offset: number): void {
  const days = Math.floor(offset / 86400);
  if (days > 2147483647 || days < -2147483648) raise('OverflowError', 'Python int too large to convert to C int');
  if (Math.abs(days) > 999999999) raise('OverflowError', `days=${days}; must have magnitude <= 999999999`);
}

// ---------------------------------------------------------------------------------------------
// parser.parse

/** The wall-clock fields as if they were UTC, in ms, to the second. */
function wallMs(w: PyDateTime): number {
  return daysFromCivil(w.year, w.month, w.day) * 86400000 + w.hour * 3600000 + w.minute * 60000 + w.second * 1000;
}

/** The datetime `parse` returns: its wall-clock fields and its tzinfo. */
export type DateutilDatetime =
  | { ok: false; error: string }
  | {
      ok: true;
      wall: PyDateTime;
      /** None (naive), `tz.tzlocal()` (name in time.tzname), `tz.tzutc()`, `tz.tzoffset(name, s)`. */
      tzinfo: null | 'tzlocal' | 'tzutc' | 'tzoffset';
      /** The offset east of UTC in seconds (tzlocal: the host's at that wall-clock time); null when naive. */
      offsetSeconds: number | null;
    };

/**
 * dateutil.parser.parse(s) with default arguments, as the given version does it. `today` is the
 * server's current local date-time, used for `default` (dateutil takes datetime.now() with the
 * time zeroed for missing fields) and for the two-digit-year window (`parserinfo._year`, which
 * dateutil takes from the clock when the module is imported). Its UTC fields are read as that
 * local date-time. `local` is the server host's zone (../server/host-zone.ts): `names` is
 * Python's time.tzname there (a zone name listed there becomes tzlocal(), i.e. aware), and
 * `offsetAtWall` the offset tzlocal() gives a wall-clock time there; a host in UTC by default.
 */
export function dateutilParse(s: string, version: DateutilVersion, today: Date, local: LocalZone = UTC_HOST): DateutilResult {
  const r = dateutilParseDatetime(s, version, today, local);
  if (!r.ok) return r;
  const offset = r.offsetSeconds;
  if (offset === null) return { ok: true, naive: true };
  const epochMs = wallMs(r.wall) - offset * 1000 + r.wall.microsecond / 1000;
  const out: DateutilResult = { ok: true, naive: false, epochMs };
  // CPython 2.7 `call_utc_tzinfo_method`: a timedelta of days < -1 or > 0 counts as 1440
  // minutes; exactly -1 day is -1440 minutes. Both are out of -1439..1439.
  if (offset >= 86400 || offset < -86400) out.utcoffsetError = 'ValueError: tzinfo.utcoffset() returned 1440; must be in -1439 .. 1439';
  else if (offset === -86400) out.utcoffsetError = 'ValueError: tzinfo.utcoffset() returned -1440; must be in -1439 .. 1439';
  return out;
}

/** As `dateutilParse`, with the datetime itself: its fields and which tzinfo it got. */
export function dateutilParseDatetime(s: string, version: DateutilVersion, today: Date, local: LocalZone = UTC_HOST): DateutilDatetime {
  try {
    return parseOrThrow(s, version, today, local);
  } catch (e) {
    if (e instanceof PyError) return { ok: false, error: e.message };
    throw e;
  }
}

function parseOrThrow(s: string, version: DateutilVersion, today: Date, local: LocalZone): DateutilDatetime {
  // Python 2 hands a byte str; 2.4.2 `parse()` and 2.6.0 `_timelex` call `.decode()` (ASCII), 1.5
  // reads the bytes as they are.
  for (let k = 0; version !== '1.5' && k < s.length; k++) {
    const c = s.charCodeAt(k);
    if (c > 0x7f) raise('UnicodeDecodeError', `'ascii' codec can't decode byte 0x${(c & 0xff).toString(16).padStart(2, '0')} in position ${k}: ordinal not in range(128)`);
  }
  const ctx: Ctx = { version, thisYear: today.getUTCFullYear(), timestr: s };
  const res = parseTokens(ctx);
  if (res === null) raise('ValueError', version === '1.5' ? 'unknown string format' : 'Unknown string format');
  const r = res!;
  if (version === '2.6.0') {
    // 2.6.0 `_resultbase.__len__`: no attribute set at all.
    const fields = [r.year, r.month, r.day, r.weekday, r.hour, r.minute, r.second, r.microsecond, r.tzname, r.tzoffset, r.ampm];
    if (fields.every((f) => f === null)) raise('ValueError', 'String does not contain a date.');
  }
  const base: PyDateTime = { year: today.getUTCFullYear(), month: today.getUTCMonth() + 1, day: today.getUTCDate(), hour: 0, minute: 0, second: 0, microsecond: 0 };
  const repl: Partial<PyDateTime> = {};
  for (const k of ['year', 'month', 'day', 'hour', 'minute', 'second', 'microsecond'] as const) if (r[k] !== null) repl[k] = r[k];
  if (version === '2.6.0' && repl.day === undefined) {
    // 2.6.0: a default day past the end of the month falls back to the month's last day.
    const last = monthrangeDays(r.year ?? base.year, r.month ?? base.month, r.exact);
    if (base.day > last) repl.day = last;
  }
  let ret = datetimeReplace(base, repl, r.exact);
  if (r.weekday !== null && !r.day) ret = addWeekday(ret, r.weekday);

  // tzinfo (tzinfos=None): tzlocal for a name in time.tzname, tzutc for offset 0, tzoffset for
  // another offset; a name with no offset (EST, UT, CET...) stays naive in all three versions.
  if (r.tzname && local.names.includes(r.tzname)) return { ok: true, wall: ret, tzinfo: 'tzlocal', offsetSeconds: local.offsetAtWall(wallMs(ret)) };
  if (r.tzoffset === 0) return { ok: true, wall: ret, tzinfo: 'tzutc', offsetSeconds: 0 };
  if (r.tzoffset) {
    checkTimedeltaSeconds(r.tzoffset);
    return { ok: true, wall: ret, tzinfo: 'tzoffset', offsetSeconds: r.tzoffset };
  }
  return { ok: true, wall: ret, tzinfo: null, offsetSeconds: null };
}

/** `ret + relativedelta(weekday=N)`: forward to the next such weekday, today included. */
function addWeekday(dt: PyDateTime, weekday: number): PyDateTime {
  const days = daysFromCivil(dt.year, dt.month, dt.day);
  const current = (((days + 3) % 7) + 7) % 7; // 1970-01-01 was a Thursday (3)
  const jump = (7 - current + weekday) % 7;
  if (jump === 0) return dt;
  const [y, m, d] = civilFromDays(days + jump);
  if (y > 9999) raise('OverflowError', 'date value out of range');
  return { ...dt, year: y, month: m, day: d };
}
