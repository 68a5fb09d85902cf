/**
 * The RFC 6047 / RFC 5546 / RFC 5545 checklist for an outgoing iMIP REQUEST (RFC 6047
 * §2.3–§2.5, the RFC 5546 §3.2.2 REQUEST table, RFC 5545 §3.1), plus the rules Calendar Server's
 * own mail follows (`outbound`/`generateEmail`, 2.x–4.x `twistedcaldav/mail.py`, 5.0+
 * `imip/outbound.py`: Reply-To is the tokenized ORGANIZER, exactly one `+`, a lower-case uuid4
 * token; no header may be split by CR/LF).
 *
 * One table of rules (id, severity, what, fix); one pure function from the raw message to
 * findings. The message is read with `parseMessage` (src/imip/mime.ts), which decodes bodies as
 * leniently as the server's Python does; the raw header section is also scanned here, because a
 * split header is exactly what a lenient reader hides.
 */
import ICAL from 'ical.js';
import type { Finding, Severity } from '../report/finding.js';
import { extractToken, splitAddressList, TOKEN_RE } from '../server/address.js';
import { decodeWords, leafParts, parseMessage, type HeaderList, type MimePart } from './mime.js';

export interface RequestRule {
  id: string;
  severity: Severity;
  /** Which RFC section, or which habit of the server's own invitation, it enforces. */
  source: string;
  description: string;
  fix: string;
}

const rule = (short: string, severity: Severity, source: string, description: string, fix: string): RequestRule => ({
  id: `request.${short}`,
  severity,
  source,
  description,
  fix,
});

/** Every check, keyed by its short name. `--list-checks` and the manual can be generated from this. */
export const REQUEST_RULES = {
  headerInjection: rule(
    'header-injection',
    'error',
    'RFC 5322 section 2.2; as the server builds its invitation',
    'A header holds a bare CR or LF, a NUL, a line that is not a header field, or an encoded-word that decodes to a line break.',
    'Replace CR/LF in every value that goes into a header (summary, names) with spaces before building the message.',
  ),
  headerDuplicate: rule(
    'header-duplicate',
    'error',
    'RFC 5322 section 3.6',
    'A header that may occur only once occurs several times.',
    'Write each of From, To, Subject, Reply-To, Date, Message-ID, MIME-Version and Content-Type once.',
  ),
  headerMissing: rule(
    'header-missing',
    'error',
    'RFC 5322 section 3.6, RFC 2045 section 4; as the server builds its invitation',
    'A header every message (or every MIME message) needs is missing.',
    'Add the header; the server always writes From, Subject, Reply-To, To, Date and Message-ID.',
  ),
  unexpectedHeader: rule(
    'unexpected-header',
    'warning',
    'as the server builds its invitation',
    'An addressing header the server never writes (Cc, Bcc, Sender, Resent-*) is present.',
    'Remove it; an invitation goes to one attendee per message.',
  ),
  replyToToken: rule(
    'reply-to-token',
    'error',
    'as the server builds its invitation',
    'Reply-To is not one plus address `local+<token>@domain` with a lower-case UUID token.',
    'Set Reply-To to Sending.Address with "+<str(uuid4())>" after the local part; Sending.Address must not itself contain "+".',
  ),
  replyToOrganizer: rule(
    'reply-to-organizer',
    'error',
    'as the server builds its invitation',
    'Reply-To differs from the ORGANIZER address, so replies by mail and by calendar go to different places.',
    'Rewrite ORGANIZER (and the organizer\'s ATTENDEE) to mailto:<the Reply-To plus address>.',
  ),
  calendarMissing: rule(
    'calendar-missing',
    'error',
    'RFC 6047 section 2.4',
    'The message has no text/calendar part.',
    'Attach the iCalendar object as a text/calendar part.',
  ),
  calendarMultiple: rule(
    'calendar-multiple',
    'warning',
    'RFC 6047 section 2.4 Notes 1 and 2; as the server builds its invitation',
    'More than one text/calendar part; receivers (Calendar Server included) use the first.',
    'Send one text/calendar part.',
  ),
  methodParam: rule(
    'method-param',
    'error',
    'RFC 6047 section 2.4',
    'The text/calendar part has no method parameter, so it is not an iMIP body part.',
    'Write Content-Type: text/calendar; charset="utf-8"; method="request".',
  ),
  methodParamMismatch: rule(
    'method-param-mismatch',
    'error',
    'RFC 6047 section 2.4',
    'The method parameter differs from the iCalendar METHOD.',
    'Make the parameter the iCalendar METHOD (case does not matter).',
  ),
  charset: rule(
    'charset',
    'error',
    'RFC 6047 section 2.4; as the server builds its invitation',
    'The text/calendar charset is missing for non-ASCII text, or is not UTF-8.',
    'Encode the calendar in UTF-8 and write charset="utf-8".',
  ),
  calendarUtf8: rule(
    'calendar-utf8',
    'error',
    'RFC 5545 section 3.1.4; as the server builds its invitation',
    'The calendar bytes are not valid UTF-8 (Calendar Server decodes them as UTF-8 and fails).',
    'Encode the calendar in UTF-8.',
  ),
  transferEncoding: rule(
    'transfer-encoding',
    'error',
    'RFC 6047 section 2.5, RFC 2045 section 6',
    'A part carries 8-bit data without base64 or quoted-printable, or has an unknown Content-Transfer-Encoding.',
    'Use Content-Transfer-Encoding: base64 (as the server does) or quoted-printable for non-ASCII parts.',
  ),
  mimeStructure: rule(
    'mime-structure',
    'error',
    'RFC 2046 section 5.1',
    'The MIME structure is damaged: a multipart without its closing boundary, a part header block cut short.',
    'Close every multipart with --boundary-- and keep part headers well-formed.',
  ),
  humanReadable: rule(
    'human-readable',
    'warning',
    'RFC 6047 section 2.4',
    'There is no text/plain or text/html part for people without a calendar client.',
    'Add a multipart/alternative with text/plain (and text/html) next to the calendar.',
  ),
  layout: rule(
    'layout',
    'info',
    'as the server builds its invitation',
    'The MIME layout differs from Calendar Server\'s multipart/mixed [alternative [plain, related [html]], calendar].',
    'Build the layout the server uses when the aim is to reproduce the server\'s mail.',
  ),
  calendarParse: rule(
    'calendar-parse',
    'error',
    'RFC 5545 section 3',
    'The text/calendar part does not parse as one VCALENDAR.',
    'Generate the calendar with an iCalendar library.',
  ),
  lineEnding: rule(
    'line-ending',
    'error',
    'RFC 5545 section 3.1',
    'A calendar content line ends in a bare LF or CR instead of CRLF.',
    'End every content line with CRLF.',
  ),
  lineLength: rule(
    'line-length',
    'warning',
    'RFC 5545 section 3.1',
    'A calendar content line is longer than 75 octets.',
    'Fold lines at 75 octets: CRLF followed by one space, counting the space.',
  ),
  prodid: rule('prodid', 'error', 'RFC 5545 section 3.7.3, RFC 5546 section 3.1.1', 'VCALENDAR needs exactly one PRODID.', 'Write one PRODID.'),
  version: rule('version', 'error', 'RFC 5545 section 3.7.4', 'VCALENDAR needs exactly one VERSION:2.0.', 'Write VERSION:2.0 once.'),
  method: rule('method', 'error', 'RFC 5546 section 3.2.2', 'VCALENDAR needs exactly one METHOD, and it must be REQUEST.', 'Write METHOD:REQUEST once.'),
  veventMissing: rule('vevent-missing', 'error', 'RFC 5546 section 3.2.2', 'The REQUEST has no VEVENT.', 'Put the event in a VEVENT.'),
  uidMismatch: rule(
    'uid-mismatch',
    'error',
    'RFC 5546 section 3.2.2',
    'The VEVENTs of one REQUEST carry different UIDs.',
    'Send one event (master and overrides share one UID) per message.',
  ),
  uid: rule('uid', 'error', 'RFC 5546 section 3.2.2', 'A VEVENT needs exactly one UID.', 'Write one UID.'),
  dtstamp: rule('dtstamp', 'error', 'RFC 5546 section 3.2.2', 'A VEVENT needs exactly one DTSTAMP.', 'Write one DTSTAMP in UTC.'),
  dtstart: rule('dtstart', 'error', 'RFC 5546 section 3.2.2', 'A VEVENT needs exactly one DTSTART.', 'Write one DTSTART.'),
  organizer: rule('organizer', 'error', 'RFC 5546 section 3.2.2', 'A VEVENT needs exactly one ORGANIZER.', 'Write one ORGANIZER.'),
  summary: rule('summary', 'error', 'RFC 5546 section 3.2.2', 'A VEVENT needs exactly one SUMMARY (it may be empty).', 'Write one SUMMARY.'),
  attendeeMissing: rule('attendee-missing', 'error', 'RFC 5546 section 3.2.2', 'A REQUEST needs at least one ATTENDEE.', 'Add the invitee as ATTENDEE.'),
  sequence: rule(
    'sequence',
    'error',
    'RFC 5546 section 3.2.2, section 2.1.4',
    'SEQUENCE occurs more than once or is not a non-negative integer.',
    'Write at most one SEQUENCE, 0 for a new event.',
  ),
  dtendDuration: rule('dtend-duration', 'error', 'RFC 5545 section 3.6.1', 'A VEVENT has both DTEND and DURATION.', 'Keep one of them.'),
  requestStatus: rule('request-status', 'error', 'RFC 5546 section 3.2.2', 'A REQUEST must not carry REQUEST-STATUS.', 'Remove REQUEST-STATUS.'),
  status: rule(
    'status',
    'error',
    'RFC 5546 section 3.2.2',
    'STATUS in a REQUEST may only be TENTATIVE or CONFIRMED, at most once.',
    'Drop STATUS or set it to CONFIRMED.',
  ),
  mailto: rule(
    'mailto',
    'error',
    'RFC 6047 section 2.3; as the server builds its invitation',
    'ORGANIZER and ATTENDEE must be mailto: addresses in iMIP.',
    'Write mailto:<address> values; the server rewrites internal addresses to their EMAIL parameter.',
  ),
  vtimezoneMissing: rule(
    'vtimezone-missing',
    'error',
    'RFC 5545 section 3.2.19, RFC 6047 section 2.3',
    'A TZID is used without a VTIMEZONE of that TZID in the calendar.',
    'Include a VTIMEZONE for every TZID (iMIP does not allow timezones by reference).',
  ),
  vtimezoneEmpty: rule(
    'vtimezone-empty',
    'error',
    'RFC 5545 section 3.6.5',
    'A VTIMEZONE has no STANDARD or DAYLIGHT observance.',
    'Give the VTIMEZONE its observances.',
  ),
} as const satisfies Record<string, RequestRule>;

type RuleKey = keyof typeof REQUEST_RULES;

function finding(
  key: RuleKey,
  path: string,
  message: string,
  evidence: Record<string, unknown> = {},
  severity?: Severity,
): Finding {
  const r = REQUEST_RULES[key];
  return { id: r.id, severity: severity ?? r.severity, path, message, evidence: { ...evidence, source: r.source }, fix: r.fix };
}

// ---------------------------------------------------------------------------------------------
// Reading the message: src/imip/mime.ts (parseMessage), which reads it as the server's Python does.

const KNOWN_ENCODINGS = new Set(['7bit', '8bit', 'binary', 'base64', 'quoted-printable']);

function partLabel(p: MimePart): string {
  return `part ${p.part || '(message)'} ${p.type}`;
}

// ---------------------------------------------------------------------------------------------
// Header checks

const SINGLE_HEADERS = ['From', 'To', 'Subject', 'Reply-To', 'Date', 'Message-ID', 'MIME-Version', 'Content-Type'];
const ADDRESSING_HEADERS = /^(?:cc|bcc|sender|resent-[a-z-]+|disposition-notification-to|return-receipt-to)$/i;
const FIELD_NAME = /^[!-9;-~]+$/;

function checkHeaderSection(raw: string, out: Finding[]): void {
  // The first line decides whether the message uses CRLF (as it must for SMTP) or LF (a file).
  const firstLf = raw.indexOf('\n');
  const crlfMessage = firstLf < 0 || raw[firstLf - 1] === '\r';
  const end = crlfMessage ? raw.indexOf('\r\n\r\n') : raw.indexOf('\n\n');
  const section = end < 0 ? raw : raw.slice(0, end);
  if (crlfMessage && /\r(?!\n)|(?<!\r)\n/.test(section)) {
    const m = /\r(?!\n)|(?<!\r)\n/.exec(section)!;
    const lineStart = section.lastIndexOf('\n', m.index - 1) + 1;
    out.push(
      finding('headerInjection', 'headers', 'The header section contains a bare CR or LF: a value was split and may have started a new header', {
        near: section.slice(lineStart, Math.min(section.length, m.index + 40)),
      }),
    );
  }
  if (!crlfMessage && section.includes('\r')) {
    out.push(finding('headerInjection', 'headers', 'The header section contains a bare CR', {}));
  }
  if (section.includes('\0')) out.push(finding('headerInjection', 'headers', 'The header section contains a NUL character', {}));
  const lines = section.split(/\r\n|\n|\r/);
  lines.forEach((line, i) => {
    if (line === '' || /^[ \t]/.test(line)) {
      if (i === 0) out.push(finding('headerInjection', 'headers', 'The message starts with a continuation line', { line }));
      return;
    }
    const c = line.indexOf(':');
    if (c <= 0 || !FIELD_NAME.test(line.slice(0, c))) {
      out.push(finding('headerInjection', 'headers', `Header line ${i + 1} is not a header field: ${JSON.stringify(line.slice(0, 80))}`, { line }));
    }
  });
}

function checkHeaders(headers: HeaderList, out: Finding[]): void {
  for (const name of SINGLE_HEADERS) {
    const n = headers.getAll(name).length;
    if (n > 1) out.push(finding('headerDuplicate', `header:${name}`, `${name} occurs ${n} times`, { count: n }));
  }
  const required: [string, Severity][] = [
    ['From', 'error'],
    ['To', 'error'],
    ['Date', 'error'],
    ['MIME-Version', 'error'],
    ['Subject', 'warning'],
    ['Message-ID', 'warning'],
  ];
  for (const [name, sev] of required) {
    if (!headers.has(name)) out.push(finding('headerMissing', `header:${name}`, `The message has no ${name} header`, {}, sev));
  }
  for (const [name, value] of headers.entries()) {
    if (ADDRESSING_HEADERS.test(name)) {
      out.push(finding('unexpectedHeader', `header:${name}`, `${name} is present; Calendar Server never writes it`, { value }));
    }
    if (value.includes('=?')) {
      const decoded = decodeWords(value);
      if (/[\r\n\0]/.test(decoded)) {
        out.push(
          finding('headerInjection', `header:${name}`, `${name} decodes to text with a line break or NUL`, { value, decoded }),
        );
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// iCalendar checks

function count(c: ICAL.Component, name: string): number {
  return c.getAllProperties(name).length;
}

function exactlyOne(c: ICAL.Component, prop: string, key: RuleKey, path: string, out: Finding[]): void {
  const n = count(c, prop);
  if (n !== 1) {
    out.push(finding(key, `${path}.${prop.toUpperCase()}`, n === 0 ? `${prop.toUpperCase()} is missing` : `${prop.toUpperCase()} occurs ${n} times`, { count: n }));
  }
}

function propText(p: ICAL.Property): string {
  const v = p.getFirstValue();
  return typeof v === 'string' ? v : String(v ?? '');
}

interface CalendarFacts {
  method: string | null;
  organizer: string | null;
}

function checkCalendarText(text: string, out: Finding[]): CalendarFacts {
  const facts: CalendarFacts = { method: null, organizer: null };
  const path = 'text/calendar';

  if (/\r(?!\n)|(?<!\r)\n/.test(text)) {
    const bare = (text.match(/(?<!\r)\n/g) ?? []).length + (text.match(/\r(?!\n)/g) ?? []).length;
    out.push(finding('lineEnding', path, `${bare} calendar line(s) end without CRLF`, { bareLineEnds: bare }));
  }
  const long = text
    .split(/\r\n|\n|\r/)
    .map((l, i) => ({ line: i + 1, octets: Buffer.byteLength(l, 'utf8') }))
    .filter((l) => l.octets > 75);
  if (long.length) {
    out.push(
      finding('lineLength', path, `${long.length} calendar line(s) are longer than 75 octets (longest ${Math.max(...long.map((l) => l.octets))})`, {
        lines: long.slice(0, 10),
      }),
    );
  }

  let cal: ICAL.Component;
  try {
    const jcal = ICAL.parse(text);
    if (!Array.isArray(jcal) || typeof jcal[0] !== 'string') throw new Error('more than one top-level component');
    cal = new ICAL.Component(jcal);
    if (cal.name !== 'vcalendar') throw new Error(`top-level component is ${cal.name.toUpperCase()}, not VCALENDAR`);
  } catch (e) {
    out.push(finding('calendarParse', path, `The calendar does not parse: ${(e as Error).message}`, {}));
    return facts;
  }

  const calPath = 'VCALENDAR';
  exactlyOne(cal, 'prodid', 'prodid', calPath, out);
  const versions = cal.getAllProperties('version');
  if (versions.length !== 1 || propText(versions[0]!).trim() !== '2.0') {
    out.push(finding('version', `${calPath}.VERSION`, versions.length === 1 ? `VERSION is ${propText(versions[0]!)}, not 2.0` : `VERSION occurs ${versions.length} times`, {
      values: versions.map(propText),
    }));
  }
  const methods = cal.getAllProperties('method');
  if (methods.length === 1) facts.method = propText(methods[0]!).trim();
  if (methods.length !== 1 || facts.method?.toUpperCase() !== 'REQUEST') {
    out.push(
      finding('method', `${calPath}.METHOD`, methods.length === 1 ? `METHOD is ${facts.method}, not REQUEST` : `METHOD occurs ${methods.length} times`, {
        values: methods.map(propText),
      }),
    );
  }

  const events = cal.getAllSubcomponents('vevent');
  if (events.length === 0) out.push(finding('veventMissing', calPath, 'The calendar holds no VEVENT', {}));
  const uids = new Set<string>();
  const organizers = new Set<string>();
  events.forEach((ev, i) => {
    const uidProp = ev.getFirstProperty('uid');
    const uid = uidProp ? propText(uidProp) : '';
    if (uid) uids.add(uid);
    const p = `VEVENT[${i + 1}]`;
    exactlyOne(ev, 'uid', 'uid', p, out);
    exactlyOne(ev, 'dtstamp', 'dtstamp', p, out);
    exactlyOne(ev, 'dtstart', 'dtstart', p, out);
    exactlyOne(ev, 'organizer', 'organizer', p, out);
    exactlyOne(ev, 'summary', 'summary', p, out);
    const attendees = ev.getAllProperties('attendee');
    if (attendees.length === 0) out.push(finding('attendeeMissing', `${p}.ATTENDEE`, 'The VEVENT has no ATTENDEE', {}));
    const seq = ev.getAllProperties('sequence');
    if (seq.length > 1) out.push(finding('sequence', `${p}.SEQUENCE`, `SEQUENCE occurs ${seq.length} times`, { count: seq.length }));
    for (const s of seq) {
      const v = s.getFirstValue();
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) {
        out.push(finding('sequence', `${p}.SEQUENCE`, `SEQUENCE ${JSON.stringify(String(v))} is not a non-negative integer`, { value: v }));
      }
    }
    if (count(ev, 'dtend') > 0 && count(ev, 'duration') > 0) {
      out.push(finding('dtendDuration', p, 'The VEVENT has both DTEND and DURATION', {}));
    }
    if (count(ev, 'request-status') > 0) {
      out.push(finding('requestStatus', `${p}.REQUEST-STATUS`, 'A REQUEST carries REQUEST-STATUS', { values: ev.getAllProperties('request-status').map(propText) }));
    }
    const statuses = ev.getAllProperties('status').map((s) => propText(s).toUpperCase());
    if (statuses.length > 1 || statuses.some((s) => s !== 'TENTATIVE' && s !== 'CONFIRMED')) {
      out.push(finding('status', `${p}.STATUS`, `STATUS is ${statuses.join(', ')}`, { values: statuses }));
    }
    for (const prop of [...ev.getAllProperties('organizer'), ...attendees]) {
      const v = propText(prop);
      if (!/^mailto:/i.test(v)) {
        out.push(finding('mailto', `${p}.${prop.name.toUpperCase()}`, `${prop.name.toUpperCase()} ${JSON.stringify(v)} is not a mailto: address`, { value: v }));
      }
    }
    for (const o of ev.getAllProperties('organizer')) organizers.add(propText(o));
  });
  if (uids.size > 1) out.push(finding('uidMismatch', calPath, `The VEVENTs carry ${uids.size} different UIDs`, { uids: [...uids] }));
  if (organizers.size === 1) facts.organizer = [...organizers][0]!;

  // Every TZID used outside VTIMEZONE needs a VTIMEZONE.
  const zones = new Set<string>();
  for (const vtz of cal.getAllSubcomponents('vtimezone')) {
    const id = vtz.getFirstPropertyValue('tzid');
    if (typeof id === 'string') zones.add(id);
    if (vtz.getAllSubcomponents('standard').length + vtz.getAllSubcomponents('daylight').length === 0) {
      out.push(finding('vtimezoneEmpty', `VTIMEZONE[${String(id)}]`, `VTIMEZONE ${String(id)} has no STANDARD or DAYLIGHT`, {}));
    }
  }
  const used = new Map<string, string[]>();
  const walk = (c: ICAL.Component, where: string): void => {
    if (c.name === 'vtimezone') return;
    for (const prop of c.getAllProperties()) {
      const tzid = prop.getParameter('tzid');
      const ids = Array.isArray(tzid) ? tzid : tzid ? [tzid] : [];
      for (const id of ids) used.set(String(id), [...(used.get(String(id)) ?? []), `${where}.${prop.name.toUpperCase()}`]);
    }
    for (const sub of c.getAllSubcomponents()) walk(sub, sub.name.toUpperCase());
  };
  walk(cal, calPath);
  for (const [id, where] of used) {
    if (!zones.has(id)) {
      out.push(finding('vtimezoneMissing', where[0]!, `TZID=${id} is used without a VTIMEZONE`, { tzid: id, usedBy: where, vtimezones: [...zones] }));
    }
  }
  return facts;
}

// ---------------------------------------------------------------------------------------------

function layoutOf(p: MimePart): string {
  return p.children.length ? `${p.type}[${p.children.map(layoutOf).join(', ')}]` : p.type;
}

const SERVER_LAYOUT = 'multipart/mixed[multipart/alternative[text/plain, multipart/related[text/html]], text/calendar]';

/** Check a REQUEST message (as built for SMTP) against the iMIP checklist and the server's own rules. */
export function checkOutgoingRequest(raw: string): Finding[] {
  const out: Finding[] = [];
  checkHeaderSection(raw, out);
  const msg = parseMessage(Buffer.from(raw, 'utf8'));
  // A header block cut short is already reported as header-injection when it is the message's own.
  const injected = out.some((f) => f.id === REQUEST_RULES.headerInjection.id);
  const problems = msg.problems.filter((p) => !(injected && /^header block (ended by a line|starts with a continuation)/.test(p)));
  if (problems.length) {
    out.push(finding('mimeStructure', 'message', `The MIME structure is damaged: ${problems[0]}`, { problems }));
  }
  checkHeaders(msg.headers, out);

  const layout = layoutOf(msg.root);
  if (layout !== SERVER_LAYOUT) {
    out.push(finding('layout', 'message', `The MIME layout is ${layout}`, { layout, server: SERVER_LAYOUT }));
  }

  const parts = leafParts(msg.root);
  for (const p of parts) {
    if (!KNOWN_ENCODINGS.has(p.encoding)) {
      out.push(finding('transferEncoding', partLabel(p), `The ${p.type} part has the unknown Content-Transfer-Encoding "${p.encoding}"`, { cte: p.encoding }));
      continue;
    }
    if (p.encoding === 'base64' || p.encoding === 'quoted-printable') continue;
    // Identity encodings: the kept body is the body as sent.
    const body = msg.bodies.get(p.part) ?? Buffer.alloc(0);
    const eightBit = body.some((b) => b > 0x7f);
    if (eightBit && p.encoding === '7bit') {
      out.push(finding('transferEncoding', partLabel(p), `The ${p.type} part carries 8-bit data as 7bit`, { cte: p.encoding }));
    } else if (eightBit) {
      out.push(
        finding('transferEncoding', partLabel(p), `The ${p.type} part is ${p.encoding}; it arrives intact only over 8BITMIME paths`, { cte: p.encoding }, 'warning'),
      );
    }
  }

  const calendars = parts.filter((p) => p.type === 'text/calendar');
  const humans = parts.filter((p) => p.type === 'text/plain' || p.type === 'text/html');
  if (humans.length === 0) out.push(finding('humanReadable', 'message', 'No text/plain or text/html part', {}));
  if (calendars.length > 1) out.push(finding('calendarMultiple', 'message', `${calendars.length} text/calendar parts`, { count: calendars.length }));

  let facts: CalendarFacts = { method: null, organizer: null };
  const cal = calendars[0];
  if (!cal) {
    out.push(finding('calendarMissing', 'message', 'No text/calendar part', { layout }));
  } else {
    const where = partLabel(cal);
    const bytes = msg.bodies.get(cal.part) ?? Buffer.alloc(0);
    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    } catch {
      out.push(finding('calendarUtf8', where, 'The calendar bytes are not valid UTF-8', {}));
      text = bytes.toString('latin1');
    }
    const nonAscii = bytes.some((b) => b > 0x7f);
    const charset = cal.params['charset'];
    if (charset === undefined) {
      if (nonAscii) out.push(finding('charset', where, 'Non-ASCII calendar text without a charset parameter (it defaults to US-ASCII)', {}));
    } else if (!/^utf-?8$/i.test(charset.trim())) {
      const severity: Severity = nonAscii || !/^(us-)?ascii$/i.test(charset.trim()) ? 'error' : 'warning';
      out.push(finding('charset', where, `charset is ${charset}, not UTF-8`, { charset }, severity));
    }
    facts = checkCalendarText(text, out);
    const methodParam = cal.params['method'];
    if (methodParam === undefined) {
      out.push(finding('methodParam', where, 'The text/calendar Content-Type has no method parameter', { params: cal.params }));
    } else if (facts.method !== null && methodParam.trim().toUpperCase() !== facts.method.toUpperCase()) {
      out.push(finding('methodParamMismatch', where, `method="${methodParam}" but METHOD:${facts.method}`, { param: methodParam, method: facts.method }));
    }
  }

  // Server rules: Reply-To is the tokenized ORGANIZER.
  const replyTo = msg.headers.getAll('Reply-To');
  if (replyTo.length === 0) {
    out.push(finding('replyToToken', 'header:Reply-To', 'There is no Reply-To; replies cannot carry the token', {}));
  } else {
    const addrs = splitAddressList(decodeWords(replyTo[0]!)).filter((a) => a.address);
    const address = addrs[0]?.address ?? '';
    if (addrs.length !== 1) {
      out.push(finding('replyToToken', 'header:Reply-To', `Reply-To holds ${addrs.length} addresses; it must hold exactly the plus address`, { value: replyTo[0] }));
    }
    if (address) {
      const local = address.split('@')[0] ?? '';
      const plusCount = local.split('+').length - 1;
      const token = extractToken(address);
      if (plusCount !== 1) {
        out.push(
          finding('replyToToken', 'header:Reply-To', `Reply-To ${address} has ${plusCount} "+" in its local part; the server needs exactly one`, {
            address,
            plusCount,
          }),
        );
      } else if (!token || !TOKEN_RE.test(token)) {
        out.push(
          finding('replyToToken', 'header:Reply-To', `The token ${JSON.stringify(token ?? '')} in Reply-To is not a lower-case UUID`, { address, token }),
        );
      }
      if (facts.organizer !== null) {
        const org = facts.organizer.replace(/^mailto:/i, '');
        if (org.toLowerCase() !== address.toLowerCase()) {
          out.push(finding('replyToOrganizer', 'header:Reply-To', `Reply-To ${address} is not the ORGANIZER ${org}`, { replyTo: address, organizer: org }));
        }
      }
    }
  }
  return out;
}
