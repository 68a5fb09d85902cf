/**
 * pycalendar's value parsers, ported for what matters to the server: whether `Value.parse` raises,
 * and with which Python exception text. Values are never built.
 *
 * Everything here works on *byte strings*: JS strings whose characters are the bytes (0–255) of
 * the UTF-8 text, as Python 2 `str` holds them, so that lengths, slices and indexes are Python's
 * (`len(data)` of a UTC offset with an "é" in it counts two). property.ts converts in and out.
 *
 * A raise is a thrown {@link PyExc}: the Python exception type and `str(e)`. The era picks the
 * messages (pycalendar 2013 raises bare `ValueError`s; the server only sees "Invalid property
 * value" for those) and the few places the two versions differ.
 */
import type { PyCalendarEra } from './errors.js';
import { isPySpaceCode } from '../mime-headers.js';

/** A Python exception on its way out: its type name and `str(e)` (a byte string). */
export class PyExc extends Error {
  constructor(
    readonly pyType: string,
    readonly text: string,
  ) {
    super(`${pyType}: ${text}`);
    this.name = 'PyExc';
  }
}

const valueError = (text: string): PyExc => new PyExc('ValueError', text);

/** Python 2 `str` indexing: `s[i]` raises IndexError past the end. */
export function at(s: string, i: number): string {
  const c = s[i];
  if (c === undefined) throw new PyExc('IndexError', 'string index out of range');
  return c;
}

// --- Python 2 builtins on byte strings ------------------------------------------------------

/** C `isspace` in the C locale, which `str.lstrip()`, `int()` and `float()` use, for one character. */
export function isPySpace(c: string | undefined): boolean {
  return c !== undefined && isPySpaceCode(c.charCodeAt(0));
}

const isDigit = (c: string | undefined): boolean => c !== undefined && c >= '0' && c <= '9';

/** `repr(s)` of a Python 2 `str`. */
export function pyRepr(s: string): string {
  const q = s.includes("'") && !s.includes('"') ? '"' : "'";
  let out = q;
  for (const ch of s) {
    const code = ch.charCodeAt(0);
    if (ch === q || ch === '\\') out += `\\${ch}`;
    else if (ch === '\t') out += '\\t';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (code < 0x20 || code >= 0x7f) out += `\\x${code.toString(16).padStart(2, '0')}`;
    else out += ch;
  }
  return out + q;
}

/** What C's `%.200s` prints of a byte string: up to the first NUL, at most 200 bytes. */
const cString200 = (s: string): string => {
  const nul = s.indexOf('\0');
  return (nul === -1 ? s : s.slice(0, nul)).slice(0, 200);
};

/**
 * Python 2.7 `int(s)` of a `str` (intobject.c `PyInt_FromString`, `int_from_string`): blanks
 * around, a sign that blanks may follow, ASCII digits; the text read stops at a NUL.
 */
export function pyInt(s: string | null): number {
  if (s === null) throw new PyExc('TypeError', "int() argument must be a string or a number, not 'NoneType'");
  const nul = s.indexOf('\0');
  const c = nul === -1 ? s : s.slice(0, nul);
  let i = 0;
  while (isPySpace(c[i])) i++;
  const start = i;
  let sign = 1;
  if (c[i] === '+' || c[i] === '-') {
    if (c[i] === '-') sign = -1;
    i++;
    while (isPySpace(c[i])) i++; // PyOS_strtoul skips blanks after the sign too
  }
  const digits = i;
  while (isDigit(c[i])) i++;
  const end = i;
  while (isPySpace(c[i])) i++;
  if (end === digits || i !== c.length) throw valueError(`invalid literal for int() with base 10: ${pyRepr(c.slice(start, start + 200))}`);
  if (nul !== -1) throw valueError('null byte in argument for int()');
  return sign * Number(c.slice(digits, end));
}

/** Where the longest float Python's `PyOS_string_to_double` reads from `i` ends (`i`: none). */
function floatPrefixEnd(s: string, i: number): number {
  let j = i;
  if (s[j] === '+' || s[j] === '-') j++;
  const word = s.slice(j, j + 8).toLowerCase();
  if (word.startsWith('inf')) return j + (word === 'infinity' ? 8 : 3);
  if (word.startsWith('nan')) return j + 3;
  let k = j;
  while (isDigit(s[k])) k++;
  let n = k - j;
  if (s[k] === '.') {
    const f = ++k;
    while (isDigit(s[k])) k++;
    n += k - f;
  }
  if (n === 0) return i;
  if (s[k] === 'e' || s[k] === 'E') {
    let m = k + 1;
    if (s[m] === '+' || s[m] === '-') m++;
    if (isDigit(s[m])) {
      while (isDigit(s[m])) m++;
      k = m;
    }
  }
  return k;
}

/** Python 2.7 `float(s)` of a `str` (floatobject.c `PyFloat_FromString`): raises or not. */
export function pyFloat(s: string | null): void {
  if (s === null) throw new PyExc('TypeError', 'float() argument must be a string or a number');
  let a = 0;
  while (isPySpace(s[a])) a++;
  let last = s.length;
  while (a < last - 1 && isPySpace(s[last - 1])) last--;
  const end = floatPrefixEnd(s, a);
  if (end === a) throw valueError(`could not convert string to float: ${cString200(s.slice(a))}`);
  if (end !== last) throw valueError(`invalid literal for float(): ${cString200(s.slice(a))}`);
}

const NONE_GETITEM = "'NoneType' object has no attribute '__getitem__'";
const NONE_SPLIT = "'NoneType' object has no attribute 'split'";
const NONE_LEN = "object of type 'NoneType' has no len()";

// --- Text -----------------------------------------------------------------------------------

/**
 * utils.py `decodeTextValue` with the ParserContext defaults: `\:` is fixed
 * (INVALID_COLON_ESCAPE_SEQUENCE = PARSER_FIX), any other escape but `\r \n \N \\ \, \;` raises
 * (INVALID_ESCAPE_SEQUENCES = PARSER_RAISE); a lone trailing backslash is dropped.
 */
export function decodeTextValue(value: string | null): void {
  if (value === null) throw new PyExc('TypeError', NONE_GETITEM); // find_first_of: text[offset:]
  let i = value.indexOf('\\');
  while (i !== -1) {
    const c = value[i + 1];
    if (c === undefined) return;
    if (!'rnN\\,;:'.includes(c)) throw valueError(`TextValue: '\\${c}' not allowed`);
    if (i + 2 >= value.length) return;
    i = value.indexOf('\\', i + 2);
  }
}

/** utils.py `parseTextList`: split at `;` not right after a backslash, decode each item. */
function parseTextList(data: string | null): string[] {
  if (data === null) throw new PyExc('TypeError', "'NoneType' object is not iterable");
  const items: string[] = [];
  let start = 0;
  for (let i = 0; i < data.length; i++) {
    if (data[i] === ';' && data[i - 1] !== '\\') {
      items.push(data.slice(start, i));
      decodeTextValue(items[items.length - 1]!);
      start = i + 1;
    }
  }
  items.push(data.slice(start));
  decodeTextValue(items[items.length - 1]!);
  return items;
}

/**
 * requeststatusvalue.py `RequestStatusValue.parse`: with INVALID_REQUEST_STATUS_VALUE =
 * PARSER_FIX any number of items is taken (one item is split at a decoded `;`, a backslash in the
 * code is removed), so only the text decoding of the items can raise.
 */
function parseRequestStatus(data: string | null): void {
  parseTextList(data);
}

// --- Numbers --------------------------------------------------------------------------------

/**
 * pycalendar 2016 geovalue.py `GeoValue.parse`: two floats split at `;`; a backslash ending the
 * first is dropped and the floats tried again (the BACKSLASH_IN_GEO_VALUE fix). 2013 has no GEO
 * value class: GEO is an unknown value there.
 */
function parseGeo(data: string | null): void {
  if (data === null) throw new PyExc('AttributeError', NONE_SPLIT);
  const incorrect = (): PyExc => new PyExc('InvalidData', data ? `GEO value incorrect: ${data}` : 'GEO value incorrect');
  const splits = data.split(';');
  if (splits.length !== 2) throw incorrect();
  const [a, b] = splits as [string, string];
  try {
    pyFloat(a);
    pyFloat(b);
  } catch (e) {
    if (!(e instanceof PyExc) || e.pyType !== 'ValueError') throw e;
    if (at(a, a.length - 1) !== '\\') throw incorrect(); // splits[0][-1]: IndexError when empty
    try {
      pyFloat(a.slice(0, -1));
      pyFloat(b);
    } catch {
      throw incorrect();
    }
  }
}

/**
 * utcoffsetvalue.py `UTCOffsetValue.parse` (iCalendar, not fullISO): 5 or 7 bytes, a sign, then
 * `int()` of hours, minutes and seconds.
 */
function parseUtcOffset(data: string | null): void {
  if (data === null) throw new PyExc('TypeError', NONE_LEN);
  if (data.length !== 5 && data.length !== 7) throw valueError('UTCOffset: invalid format');
  if (data[0] !== '+' && data[0] !== '-') throw valueError("UTCOffset: does not start with '+' or '-'");
  pyInt(data.slice(1, 3));
  pyInt(data.slice(3, 5));
  if (data.length > 6) pyInt(data.slice(5));
}

// --- Date-time, duration, period --------------------------------------------------------------

/**
 * datetime.py `DateTime.parse` (iCalendar form `YYYYMMDD[THHMMSS[Z]]`): each field is `int()` of
 * a fixed slice, so blanks and signs inside a field pass; a `t`/`z` in lowercase does not. The
 * month is returned for the 2013 period arithmetic. 2013 `parseDate` also refuses a blank in
 * the date (2016 allows it: INVALID_DATETIME_LEADINGSPACE = PARSER_ALLOW).
 */
function parseDateTime(data: string | null, era: PyCalendarEra): { month: number } {
  if (data === null) throw new PyExc('TypeError', NONE_GETITEM);
  const year = pyInt(data.slice(0, 4));
  const month = pyInt(data.slice(4, 6));
  const day = pyInt(data.slice(6, 8));
  if (era === 'pycalendar-2013' && data.slice(0, 8).includes(' ')) throw valueError('');
  if (year < 0 || month < 0 || day < 0) throw valueError('DateTime: negative date components not allowed');
  if (data.length > 8) {
    if (data[8] !== 'T') throw valueError("DateTime: no 'T' after date");
    pyInt(data.slice(9, 11));
    pyInt(data.slice(11, 13));
    pyInt(data.slice(13, 15));
    if (data.length > 15) {
      if (data[15] !== 'Z') throw valueError("DateTime: no 'Z' after time");
      if (data.length > 16) throw valueError('DateTime: extra data at end');
    }
  }
  return { month };
}

/**
 * stringutils.py `strtoul`: digits from `offset`. Its "no digits" test is `offset == 0`, not
 * "no digit read", so past the start an empty number reaches `int('')`.
 */
function strtoul(s: string, offset: number): number {
  let i = offset;
  while (isDigit(s[i])) i++;
  if (i === 0) throw valueError('Could not parse a number');
  pyInt(s.slice(offset, i));
  return i;
}

/**
 * duration.py `Duration.parse`: `[+-]P(nW|nD[T…]|T…)` with INVALID_DURATION_VALUE = PARSER_FIX
 * (anything after `nW` and a bare trailing `T` are accepted); an IndexError is "index error".
 */
function parseDuration(data: string | null): void {
  if (data === null) throw new PyExc('TypeError', NONE_LEN);
  const max = data.length;
  try {
    let offset = 0;
    if (at(data, offset) === '-' || data[offset] === '+') offset++;
    if (at(data, offset) !== 'P') throw valueError("Duration: missing 'P'");
    offset++;
    if (at(data, offset) !== 'T') {
      offset = strtoul(data, offset);
      const unit = at(data, offset);
      if (unit === 'W') return;
      if (unit !== 'D') throw valueError("Duration: need 'D' or 'W'");
      offset++;
      if (offset === max) return;
      if (at(data, offset) !== 'T') throw valueError("Duration: no 'T' after 'D'");
    }
    offset++;
    if (offset === max) return;
    offset = strtoul(data, offset);
    for (const unit of ['H', 'M']) {
      if (at(data, offset) === unit) {
        offset++;
        if (offset === max) return;
        offset = strtoul(data, offset);
      }
    }
    if (at(data, offset) === 'S') {
      offset++;
      if (offset === max) return;
    }
    throw valueError("Duration: invalid data after 'T'");
  } catch (e) {
    if (e instanceof PyExc && e.pyType === 'IndexError') throw valueError('Duration: index error');
    throw e;
  }
}

/**
 * period.py `Period.parse`: `start/end` or `start/duration`. 2016 turns an IndexError (an empty
 * end) into "Period: index error". 2013 lets it through, and also works out the end or the
 * duration at once: `mEnd - mStart` reads `days_upto_month[month]`, an IndexError for a month
 * above 12 in either date (the start plus a duration is normalised first, so it does not).
 */
function parsePeriod(data: string | null, era: PyCalendarEra): void {
  if (data === null) throw new PyExc('AttributeError', NONE_SPLIT);
  const slash = data.indexOf('/');
  const wrong = valueError("Period: wrong number of '/' components");
  if (era === 'pycalendar-2013') {
    if (slash === -1) throw wrong;
    const start = parseDateTime(data.slice(0, slash), era);
    const end = data.slice(slash + 1);
    if (at(end, 0) === 'P') return parseDuration(end);
    const stop = parseDateTime(end, era);
    if (start.month > 12 || stop.month > 12) throw new PyExc('IndexError', 'tuple index out of range');
    return;
  }
  try {
    if (slash === -1) throw wrong;
    parseDateTime(data.slice(0, slash), era);
    const end = data.slice(slash + 1);
    if (at(end, 0) === 'P') parseDuration(end);
    else parseDateTime(end, era);
  } catch (e) {
    if (e instanceof PyExc && e.pyType === 'IndexError') throw valueError('Period: index error');
    throw e;
  }
}

// --- Recurrence -----------------------------------------------------------------------------

const RECUR_FREQ = new Set(['SECONDLY', 'MINUTELY', 'HOURLY', 'DAILY', 'WEEKLY', 'MONTHLY', 'YEARLY']);
const RECUR_WEEKDAY = new Set(['SU', 'MO', 'TU', 'WE', 'TH', 'FR', 'SA']);
/** `parseList` bounds per rule part: [min, max, allowNegative]. */
const RECUR_LISTS = new Map<string, [number | null, number | null, boolean]>([
  ['BYSECOND', [0, 60, false]],
  ['BYMINUTE', [0, 59, false]],
  ['BYHOUR', [0, 23, false]],
  ['BYMONTHDAY', [1, 31, true]],
  ['BYYEARDAY', [1, 366, true]],
  ['BYWEEKNO', [1, 53, true]],
  ['BYMONTH', [1, 12, false]],
  ['BYSETPOS', [null, null, true]],
]);
const RECUR_PARTS = new Set(['FREQ', 'UNTIL', 'COUNT', 'INTERVAL', 'BYDAY', 'WKST', ...RECUR_LISTS.keys()]);

/** recurrence.py `Recurrence.parseList`: `int()` of each comma item (raising its own message); false when one is out of bounds. */
function recurListValid(txt: string, [min, max, allowNegative]: [number | null, number | null, boolean]): boolean {
  for (const token of txt.split(',')) {
    const value = pyInt(token);
    if (!allowNegative && value < 0) return false;
    const a = Math.abs(value);
    if ((min !== null && a < min) || (max !== null && a > max)) return false;
  }
  return true;
}

/** recurrence.py `Recurrence.parseListDW`: `[+-n]DD` items, the number read up to the day. */
function recurDaysValid(txt: string): boolean {
  for (let token of txt.split(',')) {
    if (token.length > 0 && '+-1234567890'.includes(token[0]!)) {
      let offset = 0;
      while (offset < token.length && '+-1234567890'.includes(token[offset]!)) offset++;
      const num = Math.abs(pyInt(token.slice(0, offset)));
      token = token.slice(offset);
      if (num < 1 || num > 53) return false;
    }
    if (!RECUR_WEEKDAY.has(token)) return false;
  }
  return true;
}

/**
 * recurrence.py `Recurrence.parse` (2016 `icalendar/recurrence.py`): `NAME=value` parts split at
 * `;`, names and values case-sensitive, each BYxxx once, not both UNTIL and COUNT.
 */
function parseRecurrence(data: string | null, era: PyCalendarEra): void {
  if (data === null) throw new PyExc('AttributeError', NONE_SPLIT);
  const prefix = era === 'pycalendar-2013' ? 'PyCalendarRecurrence' : 'Recurrence';
  const fail = (what: string): PyExc => valueError(`${prefix}: ${what}`);
  const seen = new Set<string>();
  let useCount = false;
  let useUntil = false;
  for (const token of data.split(';')) {
    const pair = token.split('=');
    if (pair.length !== 2) throw fail(`Invalid token '${token}'`);
    const [name, value] = pair as [string, string];
    if (!RECUR_PARTS.has(name)) throw fail(`Invalid token '${name}'`);
    if (name === 'FREQ') {
      if (!RECUR_FREQ.has(value)) throw fail('Invalid FREQ value');
    } else if (name === 'UNTIL') {
      if (useCount) throw fail("Can't have both UNTIL and COUNT");
      useUntil = true;
      try {
        parseDateTime(value, era);
      } catch (e) {
        if (e instanceof PyExc && e.pyType === 'ValueError') throw fail('Invalid UNTIL value');
        throw e;
      }
    } else if (name === 'COUNT' || name === 'INTERVAL') {
      if (name === 'COUNT') {
        if (useUntil) throw fail("Can't have both UNTIL and COUNT");
        useCount = true;
      }
      let n: number;
      try {
        n = pyInt(value);
      } catch (e) {
        if (e instanceof PyExc && e.pyType === 'ValueError') throw fail(`Invalid ${name} value`);
        throw e;
      }
      if (n < 1) throw fail(`Invalid ${name} value`);
    } else if (name === 'WKST') {
      if (!RECUR_WEEKDAY.has(value)) throw fail('Invalid WKST value');
    } else {
      if (seen.has(name)) throw fail(`Only one ${name} allowed`);
      seen.add(name);
      const ok = name === 'BYDAY' ? recurDaysValid(value) : recurListValid(value, RECUR_LISTS.get(name)!);
      if (!ok) throw fail(`Invalid ${name} value`);
    }
  }
}

// --- Value types ----------------------------------------------------------------------------

/** value.py `Value.VALUETYPE_*` that iCalendar properties can have. */
export type ValueType =
  | 'BINARY'
  | 'BOOLEAN'
  | 'CALADDRESS'
  | 'DATE'
  | 'DATETIME'
  | 'DURATION'
  | 'FLOAT'
  | 'GEO'
  | 'INTEGER'
  | 'PERIOD'
  | 'RECUR'
  | 'REQUEST_STATUS'
  | 'TEXT'
  | 'TIME'
  | 'UNKNOWN'
  | 'URI'
  | 'UTC_OFFSET';

/**
 * `Value.createFromType` falls back to `UnknownValue` for a type no module registered
 * (`Value.registerType`): BOOLEAN and TIME in both versions; FLOAT and GEO in 2013, which has no
 * floatvalue.py / geovalue.py. An unknown value takes any text, even none.
 */
export function valueClass(type: ValueType, era: PyCalendarEra): ValueType {
  if (type === 'BOOLEAN' || type === 'TIME') return 'UNKNOWN';
  if (era === 'pycalendar-2013' && (type === 'FLOAT' || type === 'GEO')) return 'UNKNOWN';
  return type;
}

/**
 * `value.parse(data)` for one value of `type`. `data` is null where pycalendar 2016 hands the
 * parser `None` (a line with no value separator), which most parsers trip over.
 */
export function parseValue(type: ValueType, data: string | null, era: PyCalendarEra): void {
  switch (valueClass(type, era)) {
    case 'TEXT': // textvalue.py TextValue.parse
    case 'URI': // urivalue.py URIValue.parse: BACKSLASH_IN_URI_VALUE = PARSER_FIX decodes as text
      return decodeTextValue(data);
    case 'BINARY': // plaintextvalue.py PlainTextValue.parse: kept as it is
    case 'CALADDRESS':
    case 'UNKNOWN':
      return;
    case 'INTEGER': // integervalue.py IntegerValue.parse
      pyInt(data);
      return;
    case 'FLOAT': // floatvalue.py FloatValue.parse (2016)
      return pyFloat(data);
    case 'GEO':
      return parseGeo(data);
    case 'DATE': // datetimevalue.py: DATE and DATE-TIME are one class, either form passes
    case 'DATETIME':
      parseDateTime(data, era);
      return;
    case 'DURATION':
      return parseDuration(data);
    case 'PERIOD':
      return parsePeriod(data, era);
    case 'RECUR':
      return parseRecurrence(data, era);
    case 'UTC_OFFSET':
      return parseUtcOffset(data);
    case 'REQUEST_STATUS':
      return parseRequestStatus(data);
    default:
      return;
  }
}

/** multivalue.py `MultiValue.parse`: split at every comma (escaped or not), parse each. */
export function parseMultiValue(type: ValueType, data: string | null, era: PyCalendarEra): void {
  if (data === null) throw new PyExc('TypeError', "argument of type 'NoneType' is not iterable");
  for (const token of data.split(',')) parseValue(type, token, era);
}

/** `utils.decodeTextValue` on a value that parsed: `\\`, `\;`, `\,`, `\n` and the `\:` it fixes. */
export function unescapeText(value: string): string {
  if (!value.includes('\\')) return value;
  return value.replace(/\\([\\;,nN:])/g, (_m, c: string) => (c === 'n' || c === 'N' ? '\n' : c));
}

/**
 * `getTextValue().getValue()`: any PlainTextValue (TEXT, URI, CAL-ADDRESS, BINARY, unknown) has
 * one, TEXT and URI decoded as text, the others as they came; null for other value classes.
 */
export function plainTextValue(prop: { valueClass: string; value: string }): string | null {
  switch (prop.valueClass) {
    case 'TEXT':
    case 'URI':
      return unescapeText(prop.value);
    case 'CALADDRESS':
    case 'BINARY':
    case 'UNKNOWN':
      return prop.value;
    default:
      return null;
  }
}
