/**
 * One unfolded iCalendar content line as pycalendar parses it into a property, or the exception
 * it raises — which fails the whole reply on the server.
 *
 * - pycalendar 2016: `pycalendar.icalendar.property.Property.parseText(line)` (property.py
 *   `PropertyBase.parseText` / `parseTextParameters`), which turns any exception into
 *   `InvalidProperty("Invalid property: '<str(e)>'", line)`.
 * - pycalendar 2013: `PyCalendarProperty().parse(line)` (property.py `parse` / `createValue`):
 *   `PyCalendarInvalidProperty("Invalid property", line)` for the syntax and for any IndexError,
 *   `("Invalid property value", value)` for a ValueError of the value parser, and any other
 *   Python exception as it is.
 *
 * The ParserContext defaults are the server's (it never changes them), and so are the default
 * value types CalendarServer registers at start-up (`Property.registerDefaultValue` in
 * twistedcaldav/__init__.py): X-CALENDARSERVER-PRIVATE-COMMENT and -ATTENDEE-COMMENT are TEXT
 * (4.1 and later), X-APPLE-TRAVEL-(RETURN-)DURATION DURATION and X-APPLE-TRAVEL-START/RETURN URI
 * (6.0 and later).
 *
 * The line is worked on as its UTF-8 bytes (a byte string, see values.ts): Python 2 sees bytes.
 */
import { PyCalendarError, type PyCalendarEra } from './errors.js';
import { isAscii, pyLstrip, pyUpper } from '../mime-headers.js';
import { PyExc, at, parseMultiValue, parseValue, valueClass, type ValueType } from './values.js';

export interface ParsedProperty {
  /** The name as written (case kept), without a group prefix. */
  name: string;
  /** The name as pycalendar keys it: upper-cased as Python 2 does (ASCII letters only). */
  key: string;
  /** Parameters, keys upper-cased, values as pycalendar decodes them (^-escapes, quotes removed), in order. */
  params: ReadonlyMap<string, readonly string[]>;
  /** The value text as it came after the value separator ('' when none), not unescaped. */
  value: string;
  /**
   * The value object pycalendar built: its class as a value type (`Value.createFromType`, so an
   * unregistered type is UNKNOWN), or MULTI for a multi-valued property.
   */
  valueClass: ValueType | 'MULTI';
}

type Parsed = [name: string, key: string, params: RawParams, value: string | null, valueClass: ParsedProperty['valueClass']];

// --- Value types (icalendar/property.py 2016, property.py 2013) ------------------------------

const COMMON_DEFAULTS: Array<[string, ValueType]> = [
  // RFC 5545 3.7
  ['CALSCALE', 'TEXT'],
  ['METHOD', 'TEXT'],
  ['PRODID', 'TEXT'],
  ['VERSION', 'TEXT'],
  // 3.8.1
  ['ATTACH', 'URI'],
  ['CATEGORIES', 'TEXT'],
  ['CLASS', 'TEXT'],
  ['COMMENT', 'TEXT'],
  ['DESCRIPTION', 'TEXT'],
  ['LOCATION', 'TEXT'],
  ['PERCENT-COMPLETE', 'INTEGER'],
  ['PRIORITY', 'INTEGER'],
  ['RESOURCES', 'TEXT'],
  ['STATUS', 'TEXT'],
  ['SUMMARY', 'TEXT'],
  // 3.8.2
  ['COMPLETED', 'DATETIME'],
  ['DTEND', 'DATETIME'],
  ['DUE', 'DATETIME'],
  ['DTSTART', 'DATETIME'],
  ['DURATION', 'DURATION'],
  ['FREEBUSY', 'PERIOD'],
  ['TRANSP', 'TEXT'],
  // 3.8.3
  ['TZID', 'TEXT'],
  ['TZNAME', 'TEXT'],
  ['TZOFFSETFROM', 'UTC_OFFSET'],
  ['TZOFFSETTO', 'UTC_OFFSET'],
  ['TZURL', 'URI'],
  // 3.8.4
  ['ATTENDEE', 'CALADDRESS'],
  ['CONTACT', 'TEXT'],
  ['ORGANIZER', 'CALADDRESS'],
  ['RECURRENCE-ID', 'DATETIME'],
  ['RELATED-TO', 'TEXT'],
  ['URL', 'URI'],
  ['UID', 'TEXT'],
  // 3.8.5
  ['EXDATE', 'DATETIME'],
  ['EXRULE', 'RECUR'],
  ['RDATE', 'DATETIME'],
  ['RRULE', 'RECUR'],
  // 3.8.6
  ['ACTION', 'TEXT'],
  ['REPEAT', 'INTEGER'],
  ['TRIGGER', 'DURATION'],
  // 3.8.7
  ['CREATED', 'DATETIME'],
  ['DTSTAMP', 'DATETIME'],
  ['LAST-MODIFIED', 'DATETIME'],
  ['SEQUENCE', 'INTEGER'],
  // draft-daboo-valarm-extensions
  ['ACKNOWLEDGED', 'DATETIME'],
  // Apple extensions
  ['X-WR-CALNAME', 'TEXT'],
  ['X-WR-CALDESC', 'TEXT'],
  ['X-WR-ALARMUID', 'TEXT'],
  // Mulberry extensions
  ['X-MULBERRY-SPEAK-TEXT', 'TEXT'],
  ['X-MULBERRY-LAST-TRIGGER', 'DATETIME'],
  ['X-MULBERRY-ALARM-STATUS', 'TEXT'],
  // CalendarServer's registrations (twistedcaldav/__init__.py, 4.2 and later)
  ['X-CALENDARSERVER-PRIVATE-COMMENT', 'TEXT'],
  ['X-CALENDARSERVER-ATTENDEE-COMMENT', 'TEXT'],
];

/** The names CalendarServer registers itself from 4.2: unknown (any value) to 3.x–4.1. */
const SERVER_REGISTERED = new Set(['X-CALENDARSERVER-PRIVATE-COMMENT', 'X-CALENDARSERVER-ATTENDEE-COMMENT']);

/** `sDefaultValueTypeMap`, per era. */
const DEFAULT_TYPES: Record<PyCalendarEra, Map<string, ValueType>> = {
  'pycalendar-2013': new Map<string, ValueType>([
    ...COMMON_DEFAULTS,
    // 2013 maps these to their own value types (there is no sSpecialVariants)
    ['GEO', 'GEO'],
    ['REQUEST-STATUS', 'REQUEST_STATUS'],
  ]),
  'pycalendar-2016': new Map<string, ValueType>([
    ...COMMON_DEFAULTS,
    ['GEO', 'FLOAT'],
    ['REQUEST-STATUS', 'TEXT'],
    // draft-york-vpoll
    ['ACCEPT-RESPONSE', 'TEXT'],
    ['POLL-COMPLETION', 'TEXT'],
    ['POLL-ITEM-ID', 'INTEGER'],
    ['POLL-MODE', 'TEXT'],
    ['POLL-PROPERTIES', 'TEXT'],
    ['POLL-WINNER', 'INTEGER'],
    ['RESPONSE', 'INTEGER'],
    ['VOTER', 'CALADDRESS'],
    // CalendarServer 6.0 and later
    ['X-APPLE-TRAVEL-DURATION', 'DURATION'],
    ['X-APPLE-TRAVEL-START', 'URI'],
    ['X-APPLE-TRAVEL-RETURN-DURATION', 'DURATION'],
    ['X-APPLE-TRAVEL-RETURN', 'URI'],
  ]),
};

/** `sValueTypeMap`: the VALUE parameter, compared as written (case-sensitive). */
const VALUE_TYPES = new Map<string, ValueType>([
  ['BINARY', 'BINARY'],
  ['BOOLEAN', 'BOOLEAN'],
  ['CAL-ADDRESS', 'CALADDRESS'],
  ['DATE', 'DATE'],
  ['DATE-TIME', 'DATETIME'],
  ['DURATION', 'DURATION'],
  ['FLOAT', 'FLOAT'],
  ['INTEGER', 'INTEGER'],
  ['PERIOD', 'PERIOD'],
  ['RECUR', 'RECUR'],
  ['TEXT', 'TEXT'],
  ['TIME', 'TIME'],
  ['URI', 'URI'],
  ['UTC-OFFSET', 'UTC_OFFSET'],
]);

/** 2016 `sSpecialVariants`: taken when the type is still the property's default. */
const SPECIAL_VARIANTS = new Map<string, ValueType>([
  ['GEO', 'GEO'],
  ['REQUEST-STATUS', 'REQUEST_STATUS'],
]);

/** `sMultiValues`: properties whose value is split at every comma. */
const MULTI_VALUES: Record<PyCalendarEra, Set<string>> = {
  'pycalendar-2013': new Set(['CATEGORIES', 'RESOURCES', 'FREEBUSY', 'EXDATE', 'RDATE']),
  'pycalendar-2016': new Set(['CATEGORIES', 'RESOURCES', 'FREEBUSY', 'EXDATE', 'RDATE', 'POLL-PROPERTIES']),
};

/**
 * 2016 `determineValueType` (2013 `createValue` inlines the first two steps): the default type
 * of the name, the VALUE parameter's first value if it names a type, then the 2016 specials.
 */
function valueType(upperName: string, params: RawParams, era: PyCalendarEra, serverTypes = true): ValueType {
  const defaults = DEFAULT_TYPES[era];
  const fallback = (serverTypes || !SERVER_REGISTERED.has(upperName) ? defaults.get(upperName) : undefined) ?? 'UNKNOWN';
  const valueParam = params.get('VALUE')?.[0];
  let type = (valueParam !== undefined ? VALUE_TYPES.get(valueParam) : undefined) ?? fallback;
  const special = era === 'pycalendar-2016' ? SPECIAL_VARIANTS.get(upperName) : undefined;
  if (special && type === fallback) type = special;
  return type;
}

// --- Tokenizer (stringutils.py strduptokenstr) ------------------------------------------------

/** A token and the text after it; a null token is pycalendar's `None` (open quote, all blank). */
type Token = [string | null, string];

/**
 * 2016 stringutils.py `strduptokenstr`: blanks are stripped only when the text starts with a
 * space (then every kind); a quoted string runs to the next unescaped quote (`\` skips a byte);
 * otherwise up to the first of `tokens`. Empty text raises IndexError (`txt[0]`).
 */
function strduptokenstr2016(input: string, tokens: string): Token {
  let txt = input;
  if (at(txt, 0) === ' ') {
    txt = pyLstrip(txt);
    if (!txt) return [null, ''];
  }
  if (txt[0] === '"') {
    for (let i = 1; i < txt.length; i++) {
      if (txt[i] === '\\') i++;
      else if (txt[i] === '"') return [txt.slice(1, i), txt.slice(i + 1)];
    }
    return [null, txt];
  }
  for (let i = 0; i < txt.length; i++) if (tokens.includes(txt[i]!)) return [txt.slice(0, i), txt.slice(i)];
  return [txt, ''];
}

/**
 * 2013 stringutils.py `strduptokenstr`: leading spaces (only spaces) skipped, and empty or
 * all-space text gives `None`; quoted strings as in 2016.
 */
function strduptokenstr2013(txt: string, tokens: string): Token {
  let start = 0;
  while (txt[start] === ' ') start++;
  if (start === txt.length) return [null, ''];
  if (txt[start] === '"') {
    const max = txt.length;
    let end = start + 1;
    for (;;) {
      if (end === max) return [null, txt];
      if (txt[end] === '"') break;
      end += txt[end] === '\\' ? 2 : 1;
      if (end >= max) return [null, txt];
    }
    return [txt.slice(start + 1, end), txt.slice(end + 1)];
  }
  for (let i = start; i < txt.length; i++) if (tokens.includes(txt[i]!)) return [txt.slice(start, i), txt.slice(i)];
  return [txt.slice(start), ''];
}

/** utils.py `decodeParameterValue` (RFC 6868): `^n` newline, `^'` quote, `^^` caret. */
function decodeParameterValue(value: string): string {
  if (!value.includes('^')) return value;
  let out = '';
  let last = '';
  for (let c of value) {
    if (last === '^') {
      if (c === 'n') out += '\n';
      else if (c === "'") out += '"';
      else if (c === '^') {
        out += '^';
        c = '';
      } else out += `^${c}`;
    } else if (c !== '^') out += c;
    last = c;
  }
  return last === '^' ? `${out}^` : out;
}

/**
 * Parameters as read: all values per upper-cased name, in order. The first value of a name is
 * its first `Parameter`'s first value, which is what `VALUE` is read from.
 */
type RawParams = Map<string, string[]>;

function addParam(params: RawParams, name: string, value: string): string[] {
  const key = pyUpper(name);
  let values = params.get(key);
  if (!values) params.set(key, (values = []));
  values.push(value);
  return values;
}

/** A pycalendar `ErrorBase` (InvalidProperty) as a Python exception. */
class InvalidProperty extends PyExc {
  constructor(
    readonly reason: string,
    readonly data: string,
  ) {
    super('InvalidProperty', data ? `${reason}: ${data}` : reason);
  }
}

// --- pycalendar 2016 --------------------------------------------------------------------------

/**
 * 2016 property.py `PropertyBase.parseTextParameters`: `;name=value[,value…]` up to `:`. With
 * no text left it returns `None` (no value at all); a missing `=` or text ending after a
 * parameter is an IndexError, "parameter index error".
 */
function parseParameters2016(input: string, data: string, params: RawParams): string | null {
  let txt = input;
  try {
    while (txt) {
      if (txt[0] === ';') {
        let name: string | null;
        [name, txt] = strduptokenstr2016(txt.slice(1), '=');
        if (name === null) throw new InvalidProperty('Invalid property: empty parameter name', data);
        let value: string | null;
        [value, txt] = strduptokenstr2016(txt.slice(1), ':;,');
        if (value === null) throw new InvalidProperty('Invalid property: empty parameter value', data);
        const values = addParam(params, name, decodeParameterValue(value));
        while (at(txt, 0) === ',') {
          [value, txt] = strduptokenstr2016(txt.slice(1), ':;,');
          if (value === null) throw new InvalidProperty('Invalid property: empty parameter multi-value', data);
          values.push(decodeParameterValue(value));
        }
      } else if (txt[0] === ':') {
        return txt.slice(1);
      } else {
        throw new InvalidProperty('Invalid property: missing value separator', data);
      }
    }
    return null;
  } catch (e) {
    if (e instanceof PyExc && e.pyType === 'IndexError') throw new InvalidProperty("Invalid property: 'parameter index error'", data);
    throw e;
  }
}

function parse2016(data: string): Parsed {
  const params: RawParams = new Map();
  try {
    const [name, rest] = strduptokenstr2016(data, ';:');
    if (!name) throw new InvalidProperty('Invalid property: empty name', data);
    const value = parseParameters2016(rest, data, params);
    const upper = pyUpper(name);
    const type = valueType(upper, params, 'pycalendar-2016');
    const multi = MULTI_VALUES['pycalendar-2016'].has(upper);
    if (multi) parseMultiValue(type, value, 'pycalendar-2016');
    else parseValue(type, value, 'pycalendar-2016');
    // _postCreateValue only sets the TZID on date-times: it cannot raise.
    return [name, upper, params, value, multi ? 'MULTI' : valueClass(type, 'pycalendar-2016')];
  } catch (e) {
    if (e instanceof PyExc) throw new InvalidProperty(`Invalid property: '${e.text}'`, data);
    throw e;
  }
}

// --- pycalendar 2013 --------------------------------------------------------------------------

/** 2013 property.py `createValue`: a ValueError of the value parser is "Invalid property value". */
function createValue2013(upper: string, params: RawParams, value: string, serverTypes: boolean): ParsedProperty['valueClass'] {
  const type = valueType(upper, params, 'pycalendar-2013', serverTypes);
  try {
    if (MULTI_VALUES['pycalendar-2013'].has(upper)) {
      parseMultiValue(type, value, 'pycalendar-2013');
      return 'MULTI';
    }
    parseValue(type, value, 'pycalendar-2013');
    return valueClass(type, 'pycalendar-2013');
  } catch (e) {
    if (e instanceof PyExc && e.pyType === 'ValueError') throw new InvalidProperty('Invalid property value', value);
    throw e;
  }
}

function parse2013(data: string, serverTypes: boolean): Parsed {
  const params: RawParams = new Map();
  const [name, rest] = strduptokenstr2013(data, ';:');
  if (!name) throw new InvalidProperty('Invalid property', data);
  const key = pyUpper(name);
  let txt: string | null = rest;
  let value: string | null = null;
  let cls: ParsedProperty['valueClass'] = 'UNKNOWN';
  try {
    while (txt) {
      if (txt[0] === ';') {
        let pname: string | null;
        [pname, txt] = strduptokenstr2013(txt.slice(1), '=');
        if (pname === null) throw new InvalidProperty('Invalid property', data);
        let pvalue: string | null;
        [pvalue, txt] = strduptokenstr2013(txt.slice(1), ':;,');
        if (pvalue === null) throw new InvalidProperty('Invalid property', data);
        const values = addParam(params, pname, decodeParameterValue(pvalue));
        while (at(txt, 0) === ',') {
          [pvalue, txt] = strduptokenstr2013(txt.slice(1), ':;,');
          if (pvalue === null) throw new InvalidProperty('Invalid property', data);
          values.push(decodeParameterValue(pvalue));
        }
      } else if (txt[0] === ':') {
        value = txt.slice(1);
        cls = createValue2013(key, params, value, serverTypes);
        txt = null;
      } else {
        throw new InvalidProperty('Invalid property', data);
      }
    }
  } catch (e) {
    if (e instanceof PyExc && e.pyType === 'IndexError') throw new InvalidProperty('Invalid property', data);
    throw e;
  }
  // "We must have a value of some kind"
  if (value === null) throw new InvalidProperty('Invalid property', data);
  return [name, key, params, value, cls];
}

// --- Entry point ------------------------------------------------------------------------------

/**
 * The UTF-8 bytes of `s` as a byte string, and back (a broken sequence decodes to U+FFFD). Most
 * lines are ASCII, and then the bytes are the characters.
 */
const toBytes = (s: string): string => (isAscii(s) ? s : Buffer.from(s, 'utf8').toString('latin1'));
const fromBytes = (s: string): string => (isAscii(s) ? s : Buffer.from(s, 'latin1').toString('utf8'));

const NO_PARAMS: RawParams = new Map();
const BASIC_DATE_TIME = /^\d{8}(?:T\d{6}Z?)?$/;
const DIGITS = /^\d+$/;

/** A-Z a-z 0-9 and '-': what the quick path takes in a property or parameter name. */
function isNameChar(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 45;
}

/**
 * The lines most calendars are made of, answered without the general machinery (and its
 * allocations): a name of letters, digits and hyphens; parameters of such names, each with one
 * value that is either quoted (without a backslash or caret inside, and followed by `;` or `:`)
 * or plain (not empty, not starting with white space, and without a comma, quote, backslash or
 * caret), which both eras read as written; and a value its type takes as it is in both eras
 * (unknown and address types any text; TEXT and URI without a backslash, which is what their
 * parse looks at; a date or a basic date-time; an integer of digits only). Null when the line
 * needs the full parse. The differential tests run every line through here, so both paths are
 * checked.
 */
function simpleLine(line: string, era: PyCalendarEra, serverTypes: boolean): ParsedProperty | null {
  let i = 0;
  for (; i < line.length; i++) {
    const c = line.charCodeAt(i);
    if (c === 58 || c === 59) break; // ':' or ';'
    if (!isNameChar(c)) return null;
  }
  if (i === 0 || i === line.length) return null;
  const name = line.slice(0, i);
  let params = NO_PARAMS;
  while (line.charCodeAt(i) === 59) {
    const nameStart = ++i;
    for (; i < line.length; i++) {
      const c = line.charCodeAt(i);
      if (c === 61) break; // '='
      if (!isNameChar(c)) return null;
    }
    if (i === nameStart || i === line.length) return null;
    // ASCII letters only, so this is Python 2's upper().
    const pname = line.slice(nameStart, i).toUpperCase();
    i++;
    let pvalue: string;
    if (line.charCodeAt(i) === 34) {
      // '"': up to the next quote, then ';' or ':' must follow.
      const close = line.indexOf('"', i + 1);
      if (close < 0) return null;
      const next = line.charCodeAt(close + 1);
      if (next !== 58 && next !== 59) return null;
      pvalue = line.slice(i + 1, close);
      if (pvalue.includes('\\') || pvalue.includes('^')) return null;
      i = close + 1;
    } else {
      const valueStart = i;
      for (; i < line.length; i++) {
        const c = line.charCodeAt(i);
        if (c === 58 || c === 59) break;
        // ',' (more values), '"', '\\', '^' (escapes), and white space or controls first.
        if (c === 44 || c === 34 || c === 92 || c === 94 || (i === valueStart && c <= 32)) return null;
      }
      if (i === valueStart || i === line.length) return null;
      pvalue = line.slice(valueStart, i);
    }
    if (params === NO_PARAMS) params = new Map();
    const values = params.get(pname);
    if (values) values.push(pvalue);
    else params.set(pname, [pvalue]);
  }
  // Python 2's upper() on ASCII letters.
  const key = name.toUpperCase();
  if (MULTI_VALUES[era].has(key)) return null;
  const value = line.slice(i + 1);
  const type = valueType(key, params, era, serverTypes);
  switch (type) {
    case 'UNKNOWN':
    case 'CALADDRESS':
    case 'BINARY':
    case 'BOOLEAN':
    case 'TIME':
      break;
    case 'TEXT':
    case 'URI':
      if (value.includes('\\')) return null;
      break;
    case 'DATE':
    case 'DATETIME':
      if (!BASIC_DATE_TIME.test(value)) return null;
      break;
    case 'INTEGER':
      if (!DIGITS.test(value)) return null;
      break;
    default:
      return null;
  }
  return { name, key, params, value, valueClass: valueClass(type, era) };
}

/**
 * Throws PyCalendarError exactly when pycalendar's parse of this line raises (any exception).
 * `serverTypes` false: without the value types CalendarServer registers (3.x–4.1).
 */
export function parseProperty(line: string, era: PyCalendarEra, serverTypes = true): ParsedProperty {
  const simple = simpleLine(line, era, serverTypes);
  if (simple) return simple;
  const data = toBytes(line);
  let parsed: Parsed;
  try {
    parsed = era === 'pycalendar-2016' ? parse2016(data) : parse2013(data, serverTypes);
  } catch (e) {
    if (e instanceof InvalidProperty) throw new PyCalendarError(fromBytes(e.reason), fromBytes(e.data));
    if (e instanceof PyExc) throw new PyCalendarError(fromBytes(e.text), '', e.pyType);
    throw e;
  }
  const [rawName, rawKey, raw, rawValue, cls] = parsed;
  // An ASCII line is its own bytes: nothing to turn back.
  if (data === line) return { name: rawName, key: rawKey, params: raw, value: rawValue ?? '', valueClass: cls };
  let params = raw;
  if (raw.size) {
    params = new Map<string, string[]>();
    for (const [k, vs] of raw) params.set(fromBytes(k), vs.map(fromBytes));
  }
  // upper() touches ASCII letters only, never a UTF-8 piece: the key decodes like the name.
  return { name: fromBytes(rawName), key: fromBytes(rawKey), params, value: fromBytes(rawValue ?? ''), valueClass: cls };
}
