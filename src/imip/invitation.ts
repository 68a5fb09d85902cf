/**
 * The invitation `imip send-test` sends, built the way Calendar Server builds one (plus address,
 * headers and MIME layout; 5.0+ `txdav/caldav/datastore/scheduling/imip/outbound.py`
 * `MailSender.outbound`/`generateEmail`, 2.x–4.x `twistedcaldav/mail.py`
 * `MailHandler.outbound`/`generateEmail`).
 *
 * What differs per release is read from `featuresOf(version)`, never from version numbers here:
 *  - subjectSecondHeader       header order (3.2+: Subject right after From)
 *  - fromUsesEmailParam        ORGANIZER carries EMAIL=<organizer>, the source of `From` (3.1+)
 *  - messageIdServerHostName   Message-ID domain is ServerHostName (7.0+), else the local host name
 *  - (3.2+)                    the text template has a URL line
 *
 * Deliberate departures from the Python original, all towards correctness:
 *  - `From` is `"CN" <addr>` with the display name quoted (or RFC 2047 encoded on its own); Python 2
 *    wrote `CN <addr>` unquoted and, for a non-ASCII CN, encoded the whole value, address included.
 *  - Text parts use CRLF line ends inside the base64 (Python 2 kept LF).
 *  - Lines of the calendar are folded at 75 octets including the leading space of continuation
 *    lines (ical.js 2.2 folds continuation lines to 76 octets).
 */
import { randomInt, randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import ICAL from 'ical.js';
import { CannotRunError } from '../report/exit.js';
import { plusAddress, serverAddress, TOKEN_RE } from '../server/address.js';
import { atLeast, featuresOf, type ServerVersion } from '../server/release.js';
import { validateAddress } from './input-validation.js';
import {
  assertTimeZone,
  buildVTimezone,
  isUtcZone,
  offsetAt,
  offsetLabel,
  shiftedWall,
  zoneAbbreviation,
  type WallTime,
} from './timezone.js';

/** PRODID of every calendar Calendar Server generates (`twistedcaldav/ical.py`, `iCalendarProductID`). */
export const CALENDARSERVER_PRODID = '-//CALENDARSERVER.ORG//NONSGML Version 1//EN';

/** Display name of `From` when the ORGANIZER has no CN (`outbound`). */
export const DEFAULT_FROM_NAME = 'Calendar Server';

export interface InvitationOptions {
  /** `Scheduling.iMIP.Sending.Address`, bare or with a display name. */
  sendingAddress: string;
  /** The organizer's own address; default the bare Sending.Address. */
  organizer?: string;
  organizerName?: string;
  attendee: string;
  /** CN of the attendee; default the attendee's address (what the server's text shows then). */
  attendeeName?: string;
  summary: string;
  start: Date;
  durationMinutes: number;
  /** IANA zone of DTSTART/DTEND, e.g. from Intl. */
  timeZone: string;
  /** Lower-case UUID, as the server's `str(uuid.uuid4())`; see newToken(). */
  token: string;
  version: ServerVersion;
  serverHostName: string;
  now: Date;
  uid?: string;
}

export interface Invitation {
  /** The whole message, CRLF line ends, ready for SMTP DATA. */
  raw: string;
  messageId: string;
  token: string;
  plusAddress: string;
  uid: string;
  /** The iCalendar text carried base64 in the text/calendar part (CRLF, folded). */
  ics: string;
  /** Top-level headers in the order written; values as written, unfolded. */
  headers: [string, string][];
  /** SMTP MAIL FROM / RCPT TO, as the server uses them (`fromAddr`, `toAddr` in `outbound`). */
  envelope: { from: string; to: string[] };
}

/** A new plus-address token, exactly like the server's `str(uuid.uuid4())`. */
export function newToken(): string {
  return randomUUID().toLowerCase();
}

// ---------------------------------------------------------------------------------------------
// Small text helpers

/** One line of header-safe text: CR/LF (as pairs or alone) and other controls become spaces. */
export function singleLine(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/\r\n|[\r\n]/g, ' ').replace(/[\x00-\x08\x0b-\x1f\x7f]/g, ' ');
}

/** Text for an iCalendar TEXT value: line breaks kept as LF (escaped `\n` by ical.js), other controls dropped. */
function icalText(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/\r\n|\r/g, '\n').replace(/[\x00-\x08\x0b-\x1f\x7f]/g, ' ');
}

function utf8Length(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}

/** RFC 5545 §3.1 folding: no line longer than 75 octets (continuation space included), never inside a character. */
export function foldIcalLine(line: string): string {
  if (utf8Length(line) <= 75) return line;
  const out: string[] = [];
  let current = '';
  let octets = 0;
  let limit = 75;
  for (const ch of line) {
    const n = utf8Length(ch);
    if (octets + n > limit) {
      out.push(current);
      current = '';
      octets = 0;
      limit = 74; // the leading space takes one octet
    }
    current += ch;
    octets += n;
  }
  out.push(current);
  return out.join('\r\n ');
}

/** Serialize with ical.js, then refold every content line to 75 octets. */
export function serializeCalendar(cal: ICAL.Component): string {
  const unfolded = cal.toString().replace(/\r\n[ \t]/g, '');
  const lines = unfolded.split('\r\n').filter((l) => l.length > 0);
  return lines.map(foldIcalLine).join('\r\n') + '\r\n';
}

function base64Lines(data: string): string {
  const b64 = Buffer.from(data, 'utf8').toString('base64');
  const out: string[] = [];
  for (let i = 0; i < b64.length; i += 76) out.push(b64.slice(i, i + 76));
  return out.join('\r\n') + '\r\n';
}

// ---------------------------------------------------------------------------------------------
// RFC 2047

const Q_SAFE = /[A-Za-z0-9!*+\-/]/;

function qEncodeChar(ch: string): string {
  if (ch === ' ') return '_';
  if (Q_SAFE.test(ch)) return ch;
  return [...Buffer.from(ch, 'utf8')].map((b) => `=${b.toString(16).toUpperCase().padStart(2, '0')}`).join('');
}

/**
 * Encoded-words for `text`, each holding whole characters; the first at most `firstMax`
 * characters long, the others at most `restMax`. Q or B, whichever is shorter in total
 * (Python's SHORTEST for utf-8).
 */
export function encodeWords(text: string, firstMax = 75, restMax = 75): string[] {
  const prefixQ = '=?utf-8?q?';
  const prefixB = '=?utf-8?b?';
  const chars = [...text];
  const build = (prefix: string, payloadLen: (chunk: string[]) => number, render: (chunk: string[]) => string): string[] => {
    const words: string[] = [];
    let chunk: string[] = [];
    let max = firstMax;
    for (const ch of chars) {
      const next = [...chunk, ch];
      if (chunk.length > 0 && prefix.length + payloadLen(next) + 2 > max) {
        words.push(prefix + render(chunk) + '?=');
        chunk = [ch];
        max = restMax;
      } else {
        chunk = next;
      }
    }
    if (chunk.length > 0 || words.length === 0) words.push(prefix + render(chunk) + '?=');
    return words;
  };
  const q = build(
    prefixQ,
    (c) => c.map(qEncodeChar).join('').length,
    (c) => c.map(qEncodeChar).join(''),
  );
  const b = build(
    prefixB,
    (c) => Math.ceil(utf8Length(c.join('')) / 3) * 4,
    (c) => Buffer.from(c.join(''), 'utf8').toString('base64'),
  );
  const total = (w: string[]): number => w.reduce((n, s) => n + s.length, 0);
  return total(b) < total(q) ? b : q;
}

/** Join tokens with single spaces, breaking to a new `CRLF SP` line when a line would pass `limit`. */
function foldTokens(name: string, tokens: string[], limit: number): string {
  let out = `${name}: `;
  let lineLength = out.length;
  let first = true;
  for (const tok of tokens) {
    if (first) {
      out += tok;
      lineLength += tok.length;
      first = false;
      continue;
    }
    if (tok.length > 0 && lineLength + 1 + tok.length > limit) {
      out += '\r\n ' + tok;
      lineLength = 1 + tok.length;
    } else {
      out += ' ' + tok;
      lineLength += 1 + tok.length;
    }
  }
  return out;
}

function needsEncoding(text: string): boolean {
  return /[^\x20-\x7e]/.test(text) || text.includes('=?');
}

/** An unstructured header (Subject): plain folded ASCII, or encoded-words when needed. */
function unstructuredHeader(name: string, value: string): string {
  const text = singleLine(value);
  const words = text.split(' ');
  if (!needsEncoding(text) && words.every((w) => w.length <= 900)) return foldTokens(name, words, 78);
  return foldTokens(name, encodeWords(text, 76 - name.length - 2, 75), 76);
}

/** A display name as a quoted-string, or encoded-words when it is not printable ASCII. */
function displayName(name: string): string[] {
  const text = singleLine(name).trim();
  if (!needsEncoding(text)) return [`"${text.replace(/(["\\])/g, '\\$1')}"`];
  return encodeWords(text, 60, 75);
}

/** `Name: value`, folded at `; ` for long structured values (Content-Type). */
function structuredHeader(name: string, value: string): string {
  const line = `${name}: ${value}`;
  if (line.length <= 78) return line;
  return line.split('; ').join(';\r\n ');
}

function unfold(headerLine: string): string {
  return headerLine.replace(/\r\n(?=[ \t])/g, '');
}

// ---------------------------------------------------------------------------------------------
// Dates as the server writes them

const DAYS_ABBR = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const DAYS_FULL = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const MONTHS_ABBR = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const MONTHS_FULL = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];

const pad = (n: number, w = 2): string => String(n).padStart(w, '0');

function weekday(w: WallTime): number {
  return new Date(Date.UTC(w.year, w.month - 1, w.day)).getUTCDay();
}

/** Twisted `rfc822date()`: `Wed, 25 Mar 2020 15:45:00 +0100`, local time of the zone. */
export function rfc822Date(at: Date, timeZone: string): string {
  const off = offsetAt(timeZone, at.getTime());
  const w = shiftedWall(at.getTime(), off);
  const sign = off < 0 ? '-' : '+';
  const abs = Math.abs(off);
  return `${DAYS_ABBR[weekday(w)]}, ${pad(w.day)} ${MONTHS_ABBR[w.month - 1]} ${pad(w.year, 4)} ${pad(w.hour)}:${pad(w.minute)}:${pad(w.second)} ${sign}${pad(Math.floor(abs / 3600))}${pad(Math.floor((abs % 3600) / 60))}`;
}

let messageCounter = 0;

/** Twisted `smtp.messageid()`: `<YYYYMMDDhhmmss.pid.random.counter@host>` (UTC timestamp). */
function messageId(now: Date, host: string): string {
  const w = shiftedWall(now.getTime(), 0);
  const stamp = `${pad(w.year, 4)}${pad(w.month)}${pad(w.day)}${pad(w.hour)}${pad(w.minute)}${pad(w.second)}`;
  return `<${stamp}.${process.pid}.${randomInt(2 ** 31 - 1)}.${messageCounter++}@${host}>`;
}

const HOST_RE = /^[A-Za-z0-9](?:[A-Za-z0-9_-]{0,62})(?:\.[A-Za-z0-9_-]{1,63})*\.?$/;

function localHostName(): string {
  const h = hostname();
  return HOST_RE.test(h) ? h : 'localhost';
}

/** localization.py `dtTime`: `3:45 PM`. */
function clock(w: WallTime): string {
  const h12 = w.hour % 12 === 0 ? 12 : w.hour % 12;
  return `${h12}:${pad(w.minute)} ${w.hour < 12 ? 'AM' : 'PM'}`;
}

/** localization.py `dtDuration`: `1 day 2 hours 30 minutes`. */
function durationText(minutes: number): string {
  const parts: string[] = [];
  const days = Math.floor(minutes / 1440);
  const hours = Math.floor((minutes % 1440) / 60);
  const mins = minutes % 60;
  if (days) parts.push(days === 1 ? '1 day' : `${days} days`);
  if (hours) parts.push(hours === 1 ? '1 hour' : `${hours} hours`);
  if (mins) parts.push(mins === 1 ? '1 minute' : `${mins} minutes`);
  return parts.join(' ');
}

function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function crlf(text: string): string {
  return text.replace(/\r\n|\r|\n/g, '\r\n');
}

// ---------------------------------------------------------------------------------------------

function randomBoundary(content: string): string {
  // Python 2 email: 15 '=', a 19-digit random number, '=='; retried while it occurs in the content.
  for (;;) {
    let digits = '';
    for (let i = 0; i < 19; i++) digits += String(randomInt(10));
    const b = `===============${digits}==`;
    if (!content.includes(b)) return b;
  }
}

interface Part {
  headers: string[];
  body: string; // already encoded, CRLF, ends with CRLF
}

function leaf(contentType: string, body: string, extra: string[] = []): Part {
  return {
    headers: [structuredHeader('Content-Type', contentType), 'MIME-Version: 1.0', 'Content-Transfer-Encoding: base64', ...extra],
    body: base64Lines(body),
  };
}

function renderPart(p: Part): string {
  return p.headers.join('\r\n') + '\r\n\r\n' + p.body;
}

function multipart(subtype: string, params: string, parts: Part[], allContent: string): { part: Part; boundary: string } {
  const inner = parts.map(renderPart);
  const boundary = randomBoundary(allContent + inner.join(''));
  let body = '';
  for (const p of inner) body += `--${boundary}\r\n${p}\r\n`;
  // The CRLF ending each part's body belongs to the delimiter that follows (RFC 2046 §5.1.1).
  body += `--${boundary}--\r\n`;
  return {
    part: { headers: [structuredHeader('Content-Type', `multipart/${subtype};${params ? ` ${params};` : ''} boundary="${boundary}"`), 'MIME-Version: 1.0'], body },
    boundary,
  };
}

/** Build the REQUEST mail exactly as the release given builds it. Throws CannotRunError on unusable input. */
export function buildInvitation(opts: InvitationOptions): Invitation {
  const f = featuresOf(opts.version);
  if (/[\r\n\0]/.test(opts.sendingAddress ?? '')) {
    throw new CannotRunError(`Sending.Address ${JSON.stringify(opts.sendingAddress)} contains a line break or NUL`);
  }
  const server = serverAddress(opts.sendingAddress ?? '');
  if (!server) {
    throw new CannotRunError(
      `Sending.Address ${JSON.stringify(opts.sendingAddress)} does not hold exactly one @; the server cannot build a plus address from it`,
    );
  }
  const organizer = validateAddress('--organizer', opts.organizer || server.address);
  const attendee = validateAddress('--attendee', opts.attendee);
  if (!TOKEN_RE.test(opts.token)) {
    throw new CannotRunError(`token ${JSON.stringify(opts.token)} is not a lower-case UUID like the server's str(uuid.uuid4())`);
  }
  const timeZone = assertTimeZone(opts.timeZone);
  if (!(opts.start instanceof Date) || Number.isNaN(opts.start.getTime())) throw new CannotRunError('--start: not a valid date and time');
  if (!(opts.now instanceof Date) || Number.isNaN(opts.now.getTime())) throw new CannotRunError('the current time is not a valid date');
  if (!Number.isInteger(opts.durationMinutes) || opts.durationMinutes < 1) {
    throw new CannotRunError(`--duration: ${JSON.stringify(String(opts.durationMinutes))} is not a positive whole number of minutes`);
  }
  let host: string;
  if (f.messageIdServerHostName) {
    if (!HOST_RE.test(opts.serverHostName ?? '')) {
      throw new CannotRunError(`ServerHostName ${JSON.stringify(opts.serverHostName)} is not a host name; it becomes the Message-ID domain from 7.0`);
    }
    host = opts.serverHostName;
  } else {
    host = localHostName();
  }
  const uid = opts.uid ?? randomUUID().toUpperCase();
  // eslint-disable-next-line no-control-regex
  if (!uid || /[\x00-\x1f\x7f]/.test(uid)) throw new CannotRunError(`UID ${JSON.stringify(uid)} contains control characters`);

  const plus = plusAddress(opts.sendingAddress, opts.token);
  const organizerName = opts.organizerName !== undefined && singleLine(opts.organizerName).trim() !== '' ? singleLine(opts.organizerName).trim() : undefined;
  const attendeeName = opts.attendeeName !== undefined && singleLine(opts.attendeeName).trim() !== '' ? singleLine(opts.attendeeName).trim() : attendee;
  const summaryText = icalText(opts.summary ?? '');

  // --- iCalendar -----------------------------------------------------------------------------
  const startMs = Math.floor(opts.start.getTime() / 1000) * 1000;
  const endMs = startMs + opts.durationMinutes * 60_000;
  const utc = isUtcZone(timeZone);
  const startOffset = utc ? 0 : offsetAt(timeZone, startMs);
  const endOffset = utc ? 0 : offsetAt(timeZone, endMs);
  const startWall = shiftedWall(startMs, startOffset);
  const endWall = shiftedWall(endMs, endOffset);

  const cal = new ICAL.Component('vcalendar');
  cal.addPropertyWithValue('version', '2.0');
  cal.addPropertyWithValue('prodid', CALENDARSERVER_PRODID);
  cal.addPropertyWithValue('method', 'REQUEST');
  if (!utc) {
    // One VTIMEZONE for the one TZID. It is built from the changes of year-1..year+1, so an event
    // that crosses New Year (at most 7 days long) is covered too.
    cal.addSubcomponent(buildVTimezone(timeZone, startWall.year)!);
  }

  const ev = new ICAL.Component('vevent');
  ev.addPropertyWithValue('uid', uid);
  ev.addPropertyWithValue('dtstamp', ICAL.Time.fromJSDate(new Date(Math.floor(opts.now.getTime() / 1000) * 1000), true));
  const timeProp = (name: string, ms: number, wall: WallTime): ICAL.Property => {
    const p = new ICAL.Property(name);
    if (utc) {
      p.setValue(ICAL.Time.fromJSDate(new Date(ms), true));
    } else {
      p.setParameter('tzid', timeZone);
      p.setValue(ICAL.Time.fromData({ ...wall, isDate: false }));
    }
    return p;
  };
  ev.addProperty(timeProp('dtstart', startMs, startWall));
  ev.addProperty(timeProp('dtend', endMs, endWall));
  ev.addPropertyWithValue('summary', summaryText);
  ev.addPropertyWithValue('sequence', 0);

  const org = new ICAL.Property('organizer');
  if (organizerName) org.setParameter('cn', organizerName);
  if (f.fromUsesEmailParam) org.setParameter('email', organizer);
  org.setValue(`mailto:${plus}`);
  ev.addProperty(org);

  // The organizer as attendee, rewritten to the plus address like the ORGANIZER (`outbound`).
  const chair = new ICAL.Property('attendee');
  if (organizerName) chair.setParameter('cn', organizerName);
  if (f.fromUsesEmailParam) chair.setParameter('email', organizer);
  chair.setParameter('role', 'CHAIR');
  chair.setParameter('partstat', 'ACCEPTED');
  chair.setValue(`mailto:${plus}`);
  ev.addProperty(chair);

  const att = new ICAL.Property('attendee');
  att.setParameter('cn', attendeeName);
  att.setParameter('partstat', 'NEEDS-ACTION');
  att.setParameter('rsvp', 'TRUE');
  att.setParameter('role', 'REQ-PARTICIPANT');
  att.setValue(`mailto:${attendee}`);
  ev.addProperty(att);
  cal.addSubcomponent(ev);

  const ics = serializeCalendar(cal);

  // --- Human-readable parts (the server's built-in templates) -------------------------------
  const subject = `Event invitation: ${singleLine(opts.summary ?? '')}`;
  const orgCN = organizerName ?? organizer;
  const plainOrganizer = `${orgCN} <${organizer}>`;
  // Attendees as the server lists them: taken before the rewrite, so the organizer shows its own address.
  const people: [string, string][] = [
    [organizerName ?? organizer, organizer],
    [attendeeName, attendee],
  ];
  const tzName = (ms: number, off: number): string => (utc ? 'UTC' : (zoneAbbreviation(timeZone, ms) ?? offsetLabel(off)));
  const tzStart = tzName(startMs, startOffset);
  const tzEnd = tzName(endMs, endOffset);
  const dateInfo = `${DAYS_FULL[weekday(startWall)]}, ${MONTHS_FULL[startWall.month - 1]} ${startWall.day}, ${startWall.year}`;
  const timeInfo = `${clock(startWall)}${tzStart !== tzEnd ? ` ${tzStart}` : ''} to ${clock(endWall)} ${tzEnd}`;
  const durationInfo = `(${durationText(opts.durationMinutes)})`;
  const withUrl = atLeast(opts.version, 3, 2);

  const plain = crlf(
    [
      subject,
      '',
      `Organizer: ${plainOrganizer}`,
      'Location: ',
      `Date: ${dateInfo} `,
      `Time: ${timeInfo} ${durationInfo}`,
      'Description: ',
      ...(withUrl ? ['URL: '] : []),
      `Attendees: ${people.map(([cn, mail]) => `${cn} <${mail}>`).join(', ')}`,
      '',
    ].join('\n'),
  );
  const html = crlf(
    [
      '<html>',
      '    <body><div>',
      '    <p>Event Invitation</p>',
      '',
      `    <h1>${escapeHtml(opts.summary ?? '')}</h1>`,
      '    <p>',
      `    <h3>Organizer:</h3> <a href="mailto:${escapeHtml(organizer)}">${escapeHtml(orgCN)}</a>`,
      '    </p>',
      '    <p>',
      '    <h3>Location:</h3> ',
      '    </p>',
      '    <p>',
      `    <h3>Date:</h3> ${escapeHtml(dateInfo)} `,
      '    </p>',
      '    <p>',
      `    <h3>Time:</h3> ${escapeHtml(timeInfo)} ${escapeHtml(durationInfo)}`,
      '    </p>',
      '    <p>',
      '    <h3>Description:</h3> ',
      '    </p>',
      ...(withUrl ? ['    <p>', '    <h3>URL:</h3> <a href=""></a>', '    </p>'] : []),
      '    <p>',
      `    <h3>Attendees:</h3> ${people.map(([cn, mail]) => `<a href="mailto:${escapeHtml(mail)}">${escapeHtml(cn)}</a>`).join(', ')}`,
      '    </p>',
      '    </div></body>',
      '</html>',
      '',
    ].join('\n'),
  );

  // --- MIME (`generateEmail`) -----------------------------------------------------------------
  const allContent = plain + html + ics;
  const textPart = leaf('text/plain; charset="utf-8"', plain);
  const htmlPart = leaf('text/html; charset="utf-8"', html);
  const related = multipart('related', 'type="text/html"', [htmlPart], allContent);
  const alternative = multipart('alternative', '', [textPart, related.part], allContent);
  const calPart = leaf('text/calendar; charset="utf-8"; method="request"', ics, [
    'Content-ID: <invitation.ics>',
    'Content-Disposition: inline;filename=invitation.ics',
  ]);
  const inner = [alternative.part, calPart].map(renderPart);
  const topBoundary = randomBoundary(allContent + inner.join('') + related.boundary + alternative.boundary);
  let body = '';
  for (const p of inner) body += `--${topBoundary}\r\n${p}\r\n`;
  body += `--${topBoundary}--\r\n`;

  const fromLine = foldTokens('From', [...displayName(organizerName ?? DEFAULT_FROM_NAME), `<${organizer}>`], 76);
  const subjectLine = unstructuredHeader('Subject', subject);
  const msgId = messageId(opts.now, host);
  const named: Record<string, string> = {
    From: fromLine,
    Subject: subjectLine,
    'Reply-To': `Reply-To: ${plus}`,
    To: `To: ${attendee}`,
    Date: `Date: ${rfc822Date(opts.now, timeZone)}`,
    'Message-ID': `Message-ID: ${msgId}`,
  };
  const order = f.subjectSecondHeader
    ? ['From', 'Subject', 'Reply-To', 'To', 'Date', 'Message-ID']
    : ['From', 'Reply-To', 'To', 'Date', 'Message-ID', 'Subject'];
  const headerLines = [
    structuredHeader('Content-Type', `multipart/mixed; boundary="${topBoundary}"`),
    'MIME-Version: 1.0',
    ...order.map((n) => named[n]!),
  ];
  const headers: [string, string][] = headerLines.map((l) => {
    const u = unfold(l);
    const i = u.indexOf(':');
    return [u.slice(0, i), u.slice(i + 1).replace(/^ /, '')];
  });
  const raw = headerLines.join('\r\n') + '\r\n\r\n' + body;

  return {
    raw,
    messageId: msgId,
    token: opts.token,
    plusAddress: plus,
    uid,
    ics,
    headers,
    envelope: { from: organizer, to: [attendee] },
  };
}
