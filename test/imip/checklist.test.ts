/**
 * checkOutgoingRequest: silent on what buildInvitation makes (every release line, several zones,
 * hostile summaries), and one row per deliberately broken variant with the finding it must raise.
 */
import { describe, expect, it } from 'vitest';
import { checkOutgoingRequest, REQUEST_RULES } from '../../src/imip/checklist.js';
import { buildInvitation, type Invitation, type InvitationOptions } from '../../src/imip/invitation.js';
import type { Finding, Severity } from '../../src/report/finding.js';
import { parseServerVersion } from '../../src/server/release.js';

const TOKEN = '0f8fad5b-d9cb-469f-a165-70867728950e';

function build(over: Partial<InvitationOptions> & { v?: string } = {}): Invitation {
  const { v = '9.2', ...rest } = over;
  return buildInvitation({
    sendingAddress: '"Calendar Server" <calendar@example.test>',
    organizer: 'alice@example.test',
    organizerName: 'Alice Organizer',
    attendee: 'bob@example.org',
    summary: 'imip send-test',
    start: new Date('2026-07-15T08:00:00Z'),
    durationMinutes: 60,
    timeZone: 'Europe/Berlin',
    token: TOKEN,
    version: parseServerVersion(v),
    serverHostName: 'cal.example.test',
    now: new Date('2026-07-01T12:00:00Z'),
    ...rest,
  });
}

const b64 = (text: string): string =>
  (Buffer.from(text, 'utf8').toString('base64').match(/.{1,76}/g) ?? []).join('\r\n') + '\r\n';

/** The message with its calendar replaced by `ics` (still base64). */
function withIcs(inv: Invitation, ics: string): string {
  const old = b64(inv.ics);
  expect(inv.raw.includes(old)).toBe(true);
  return inv.raw.replace(old, b64(ics));
}

/** The message with the calendar part's body replaced by raw bytes (given as a latin1/utf8 string) and a CTE. */
function withCalendarBody(inv: Invitation, body: string, cte: string | null): string {
  const old = b64(inv.ics);
  const cteLine = 'Content-Transfer-Encoding: base64\r\nContent-ID: <invitation.ics>';
  const start = inv.raw.lastIndexOf('Content-Type: text/calendar');
  const head = inv.raw.slice(0, start);
  const tail = inv.raw
    .slice(start)
    .replace(cteLine, cte === null ? 'Content-ID: <invitation.ics>' : `Content-Transfer-Encoding: ${cte}\r\nContent-ID: <invitation.ics>`)
    .replace(old, body);
  return head + tail;
}

function header(inv: Invitation, name: string): string {
  return inv.headers.find(([n]) => n === name)![1];
}

const ids = (fs: Finding[]): string[] => fs.map((f) => f.id);

describe('a message buildInvitation made', () => {
  for (const v of ['2.5', '3.1', '3.2', '7.0', '9.2']) {
    for (const timeZone of ['Europe/Berlin', 'America/New_York', 'Asia/Kolkata', 'UTC']) {
      it(`raises nothing (${v}, ${timeZone})`, () => {
        expect(checkOutgoingRequest(build({ v, timeZone }).raw)).toEqual([]);
      });
    }
  }

  it('raises nothing for non-ASCII, newline and very long summaries and names', () => {
    for (const summary of ['Réunion über 日本', 'Hello\r\nBcc: evil@example.com', 'x'.repeat(500), '']) {
      const inv = build({ summary, organizerName: 'Thé "Quoted" Organizer\r\nX: y' });
      expect(checkOutgoingRequest(inv.raw), summary).toEqual([]);
    }
  });

  it('raises nothing when the message is saved with LF line ends', () => {
    expect(checkOutgoingRequest(build().raw.replace(/\r\n/g, '\n'))).toEqual([]);
  });
});

interface Row {
  name: string;
  raw: () => string;
  id: string;
  severity?: Severity;
}

const inv = build();
const ics = inv.ics;
const topBoundary = /boundary="([^"]+)"/.exec(inv.headers[0]![1])![1]!;
const vtzStart = ics.indexOf('BEGIN:VTIMEZONE');
const vtzEnd = ics.indexOf('END:VTIMEZONE\r\n') + 'END:VTIMEZONE\r\n'.length;
const noVtz = ics.slice(0, vtzStart) + ics.slice(vtzEnd);
const ev = (f: (s: string) => string): string => withIcs(inv, f(ics));
const onlyCalendar = (contentType: string, body: string): string =>
  [
    `Content-Type: ${contentType}`,
    'MIME-Version: 1.0',
    'Content-Transfer-Encoding: base64',
    'From: "Alice" <alice@example.test>',
    'Subject: Event invitation: x',
    `Reply-To: ${inv.plusAddress}`,
    'To: bob@example.org',
    'Date: Wed, 01 Jul 2026 14:00:00 +0200',
    'Message-ID: <1.2.3.4@cal.example.test>',
    '',
    b64(body),
  ].join('\r\n');

const ROWS: Row[] = [
  // MIME level
  { name: 'method parameter missing', raw: () => inv.raw.replace('; method="request"', ''), id: 'request.method-param' },
  { name: 'method parameter differs from METHOD', raw: () => inv.raw.replace('method="request"', 'method="publish"'), id: 'request.method-param-mismatch' },
  { name: 'charset missing with non-ASCII text', raw: () => withIcs(inv, ics.replace('SUMMARY:imip send-test', 'SUMMARY:Grüße')).replace('text/calendar; charset="utf-8"; ', 'text/calendar; '), id: 'request.charset' },
  { name: 'charset ISO-8859-1', raw: () => inv.raw.replace('text/calendar; charset="utf-8"', 'text/calendar; charset="iso-8859-1"'), id: 'request.charset' },
  { name: 'charset us-ascii on ASCII text', raw: () => inv.raw.replace('text/calendar; charset="utf-8"', 'text/calendar; charset="us-ascii"'), id: 'request.charset', severity: 'warning' },
  {
    name: 'calendar bytes not UTF-8',
    raw: () => withCalendarBody(inv, Buffer.from(ics.replace('SUMMARY:imip send-test', 'SUMMARY:Gr\u00fc\u00dfe'), 'latin1').toString('base64') + '\r\n', 'base64'),
    id: 'request.calendar-utf8',
  },
  { name: '8-bit calendar sent as 7bit', raw: () => withCalendarBody(inv, ics.replace('SUMMARY:imip send-test', 'SUMMARY:Grüße'), null), id: 'request.transfer-encoding' },
  { name: '8-bit calendar sent as 8bit', raw: () => withCalendarBody(inv, ics.replace('SUMMARY:imip send-test', 'SUMMARY:Grüße'), '8bit'), id: 'request.transfer-encoding', severity: 'warning' },
  // base64 is decoded leniently, as the server's Python does: what is left is judged as a calendar.
  { name: 'malformed base64', raw: () => withCalendarBody(inv, 'not base64 at all!!\r\n', 'base64'), id: 'request.calendar-parse' },
  { name: 'multipart without its closing boundary', raw: () => inv.raw.replace(`--${topBoundary}--\r\n`, ''), id: 'request.mime-structure' },
  { name: 'unknown transfer encoding', raw: () => withCalendarBody(inv, ics, 'x-uuencode'), id: 'request.transfer-encoding' },
  { name: 'no text/calendar part', raw: () => inv.raw.replace('Content-Type: text/calendar; charset="utf-8"; method="request"', 'Content-Type: application/octet-stream'), id: 'request.calendar-missing' },
  { name: 'no human-readable part', raw: () => onlyCalendar('text/calendar; charset="utf-8"; method="request"', ics), id: 'request.human-readable', severity: 'warning' },
  { name: 'layout differs from the server', raw: () => onlyCalendar('text/calendar; charset="utf-8"; method="request"', ics), id: 'request.layout', severity: 'info' },
  {
    name: 'two calendar parts',
    raw: () => inv.raw.replace('Content-Type: text/plain; charset="utf-8"', 'Content-Type: text/calendar; charset="utf-8"; method="request"'),
    id: 'request.calendar-multiple',
    severity: 'warning',
  },
  // iCalendar level
  { name: 'VTIMEZONE missing', raw: () => withIcs(inv, noVtz), id: 'request.vtimezone-missing' },
  { name: 'VTIMEZONE of another zone', raw: () => ev((s) => s.replace('TZID:Europe/Berlin', 'TZID:Europe/Paris')), id: 'request.vtimezone-missing' },
  { name: 'VTIMEZONE without observances', raw: () => ev((s) => s.slice(0, s.indexOf('BEGIN:DAYLIGHT')) + s.slice(s.indexOf('END:VTIMEZONE'))), id: 'request.vtimezone-empty' },
  { name: 'calendar does not parse', raw: () => ev(() => 'this is not a calendar\r\n'), id: 'request.calendar-parse' },
  { name: 'bare LF line ends', raw: () => ev((s) => s.replace(/\r\n/g, '\n')), id: 'request.line-ending' },
  { name: 'unfolded long line', raw: () => ev((s) => s.replace(/\r\n /g, '')), id: 'request.line-length', severity: 'warning' },
  { name: 'PRODID missing', raw: () => ev((s) => s.replace(/PRODID:[^\r]*\r\n/, '')), id: 'request.prodid' },
  { name: 'VERSION 1.0', raw: () => ev((s) => s.replace('VERSION:2.0', 'VERSION:1.0')), id: 'request.version' },
  { name: 'METHOD PUBLISH', raw: () => ev((s) => s.replace('METHOD:REQUEST', 'METHOD:PUBLISH')), id: 'request.method' },
  { name: 'METHOD missing', raw: () => ev((s) => s.replace('METHOD:REQUEST\r\n', '')), id: 'request.method' },
  { name: 'no VEVENT', raw: () => ev((s) => s.slice(0, s.indexOf('BEGIN:VEVENT')) + 'END:VCALENDAR\r\n'), id: 'request.vevent-missing' },
  { name: 'UID missing', raw: () => ev((s) => s.replace(/UID:[^\r]*\r\n/, '')), id: 'request.uid' },
  { name: 'DTSTAMP missing', raw: () => ev((s) => s.replace(/DTSTAMP:[^\r]*\r\n/, '')), id: 'request.dtstamp' },
  { name: 'DTSTART twice', raw: () => ev((s) => s.replace(/(DTSTART;TZID[^\r]*\r\n)/, '$1$1')), id: 'request.dtstart' },
  { name: 'ORGANIZER missing', raw: () => ev((s) => s.replace(/ORGANIZER[^\r]*\r\n( [^\r]*\r\n)*/, '')), id: 'request.organizer' },
  { name: 'SUMMARY missing', raw: () => ev((s) => s.replace(/SUMMARY:[^\r]*\r\n/, '')), id: 'request.summary' },
  { name: 'no ATTENDEE', raw: () => ev((s) => s.replace(/ATTENDEE[^\r]*\r\n( [^\r]*\r\n)*/g, '')), id: 'request.attendee-missing' },
  { name: 'SEQUENCE twice', raw: () => ev((s) => s.replace('SEQUENCE:0\r\n', 'SEQUENCE:0\r\nSEQUENCE:1\r\n')), id: 'request.sequence' },
  { name: 'SEQUENCE negative', raw: () => ev((s) => s.replace('SEQUENCE:0', 'SEQUENCE:-1')), id: 'request.sequence' },
  { name: 'DTEND and DURATION', raw: () => ev((s) => s.replace('SEQUENCE:0\r\n', 'SEQUENCE:0\r\nDURATION:PT1H\r\n')), id: 'request.dtend-duration' },
  { name: 'REQUEST-STATUS present', raw: () => ev((s) => s.replace('SEQUENCE:0\r\n', 'SEQUENCE:0\r\nREQUEST-STATUS:2.0;Success\r\n')), id: 'request.request-status' },
  { name: 'STATUS CANCELLED', raw: () => ev((s) => s.replace('SEQUENCE:0\r\n', 'SEQUENCE:0\r\nSTATUS:CANCELLED\r\n')), id: 'request.status' },
  { name: 'ATTENDEE not mailto', raw: () => ev((s) => s.replace('mailto:bob@example.org', 'urn:uuid:C3B38B00-4166-11DD-B22C-A07C87E02F6A')), id: 'request.mailto' },
  { name: 'two VEVENTs with different UIDs', raw: () => ev((s) => { const e = s.slice(s.indexOf('BEGIN:VEVENT'), s.indexOf('END:VEVENT\r\n') + 12); return s.replace(e, e + e.replace(/UID:[^\r]*/, 'UID:other')); }), id: 'request.uid-mismatch' },
  // Server rules
  { name: 'Reply-To without token', raw: () => inv.raw.replace(`Reply-To: ${inv.plusAddress}`, 'Reply-To: calendar@example.test'), id: 'request.reply-to-token' },
  { name: 'Reply-To with an upper-case token', raw: () => inv.raw.replace(`Reply-To: ${inv.plusAddress}`, `Reply-To: calendar+${TOKEN.toUpperCase()}@example.test`), id: 'request.reply-to-token' },
  { name: 'Reply-To token not a UUID', raw: () => inv.raw.replace(`Reply-To: ${inv.plusAddress}`, 'Reply-To: calendar+abc@example.test'), id: 'request.reply-to-token' },
  { name: 'Sending.Address with its own +', raw: () => build({ sendingAddress: 'calendar+imip@example.test' }).raw, id: 'request.reply-to-token' },
  { name: 'Reply-To missing', raw: () => inv.raw.replace(`Reply-To: ${inv.plusAddress}\r\n`, ''), id: 'request.reply-to-token' },
  { name: 'Reply-To with two addresses', raw: () => inv.raw.replace(`Reply-To: ${inv.plusAddress}`, `Reply-To: ${inv.plusAddress}, alice@example.test`), id: 'request.reply-to-token' },
  { name: 'ORGANIZER not the Reply-To', raw: () => ev((s) => s.replace(/ORGANIZER([^\r]*\r\n( [^\r]*\r\n)*)/, 'ORGANIZER;CN=Alice:mailto:alice@example.test\r\n')), id: 'request.reply-to-organizer' },
  // Headers
  { name: 'bare LF in Subject', raw: () => inv.raw.replace(`Subject: ${header(inv, 'Subject')}`, 'Subject: Event invitation: a\nBcc: evil@example.com'), id: 'request.header-injection' },
  { name: 'bare CR in Subject', raw: () => inv.raw.replace(`Subject: ${header(inv, 'Subject')}`, 'Subject: Event invitation: a\rBcc: evil@example.com'), id: 'request.header-injection' },
  { name: 'header line that is not a field', raw: () => inv.raw.replace(`Subject: ${header(inv, 'Subject')}`, 'Subject: Event invitation: a\r\nnot a header line'), id: 'request.header-injection' },
  { name: 'encoded-word hiding CRLF', raw: () => inv.raw.replace(`Subject: ${header(inv, 'Subject')}`, 'Subject: =?utf-8?q?Event_invitation=3A_a=0D=0ABcc=3A_evil=40example=2Ecom?='), id: 'request.header-injection' },
  { name: 'injected Bcc header', raw: () => inv.raw.replace(`Subject: ${header(inv, 'Subject')}`, 'Subject: Event invitation: a\r\nBcc: evil@example.com'), id: 'request.unexpected-header', severity: 'warning' },
  { name: 'Subject twice', raw: () => inv.raw.replace('MIME-Version: 1.0\r\n', 'MIME-Version: 1.0\r\nSubject: second\r\n'), id: 'request.header-duplicate' },
  { name: 'Date missing', raw: () => inv.raw.replace(/Date: [^\r]*\r\n/, ''), id: 'request.header-missing' },
];

describe('broken variants', () => {
  it('the table covers every rule', () => {
    const covered = new Set(ROWS.map((r) => r.id));
    for (const r of Object.values(REQUEST_RULES)) expect(covered.has(r.id), r.id).toBe(true);
  });

  for (const row of ROWS) {
    it(`${row.name} → ${row.id}`, () => {
      const fs = checkOutgoingRequest(row.raw());
      const hit = fs.filter((f) => f.id === row.id);
      expect(hit.length, JSON.stringify(ids(fs))).toBeGreaterThan(0);
      expect(hit[0]!.severity).toBe(row.severity ?? 'error');
      for (const f of hit) {
        expect(f.message.length).toBeGreaterThan(0);
        expect(f.fix.length).toBeGreaterThan(0);
        expect(f.path.length).toBeGreaterThan(0);
      }
    });
  }

  it('every finding id is request.<short-name> and from the rule table', () => {
    const known = new Set(Object.values(REQUEST_RULES).map((r) => r.id));
    for (const row of ROWS) for (const f of checkOutgoingRequest(row.raw())) {
      expect(f.id).toMatch(/^request\.[a-z0-9-]+$/);
      expect(known.has(f.id)).toBe(true);
    }
  });
});
