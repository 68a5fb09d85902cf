/**
 * The invitation `send-test` sends, against the server's own (`outbound`/`generateEmail`, 2.x–4.x
 * `twistedcaldav/mail.py`, 5.0+ `imip/outbound.py`): structure and header order per release line,
 * the calendar as ical.js reads it, encodings, hostile summaries, and VTIMEZONEs checked against
 * the platform's Intl offsets.
 */
import { hostname } from 'node:os';
import ICAL from 'ical.js';
import { describe, expect, it } from 'vitest';
import { buildInvitation, foldIcalLine, newToken, type Invitation, type InvitationOptions } from '../../src/imip/invitation.js';
import { offsetAt, resolveWallTime } from '../../src/imip/timezone.js';
import { CannotRunError } from '../../src/report/exit.js';
import { TOKEN_RE } from '../../src/server/address.js';
import { parseServerVersion } from '../../src/server/release.js';

const TOKEN = '3c635579-15fd-4a97-adaa-aca05327c74f';

function opts(version = '9.2', over: Partial<InvitationOptions> = {}): InvitationOptions {
  return {
    sendingAddress: '"Calendar Server" <calendar@example.test>',
    organizer: 'alice@example.test',
    organizerName: 'Alice Organizer',
    attendee: 'bob@example.org',
    summary: 'imip send-test',
    start: new Date('2026-07-15T08:00:00Z'),
    durationMinutes: 60,
    timeZone: 'Europe/Berlin',
    token: TOKEN,
    version: parseServerVersion(version),
    serverHostName: 'cal.example.test',
    now: new Date('2026-07-01T12:34:56Z'),
    ...over,
  };
}

// --- a small, independent reader of the built message ----------------------------------------

interface TPart {
  headers: [string, string][];
  type: string;
  params: Record<string, string>;
  body: string;
  children: TPart[];
}

function headerNames(raw: string): string[] {
  const head = raw.slice(0, raw.indexOf('\r\n\r\n'));
  return head
    .split('\r\n')
    .filter((l) => !/^[ \t]/.test(l))
    .map((l) => l.slice(0, l.indexOf(':')));
}

function readPart(text: string): TPart {
  const i = text.indexOf('\r\n\r\n');
  const head = text.slice(0, i);
  const body = text.slice(i + 4);
  const headers: [string, string][] = [];
  for (const line of head.split('\r\n')) {
    if (/^[ \t]/.test(line)) headers[headers.length - 1]![1] += line;
    else headers.push([line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 2)]);
  }
  const ct = headers.find(([n]) => n.toLowerCase() === 'content-type')?.[1] ?? 'text/plain';
  const [type, ...rest] = ct.split(';');
  const params: Record<string, string> = {};
  for (const p of rest) {
    const m = /^\s*([^=]+)="?([^"]*)"?\s*$/.exec(p);
    if (m) params[m[1]!.toLowerCase()] = m[2]!;
  }
  const part: TPart = { headers, type: type!.trim(), params, body, children: [] };
  if (part.type.startsWith('multipart/')) {
    const b = params['boundary']!;
    const segments = body.split(`\r\n--${b}`);
    // segments[0] is "--b\r\n<first part>" (the body starts with the first delimiter)
    const first = segments[0]!.replace(`--${b}\r\n`, '');
    const rest2 = segments.slice(1).filter((s) => !s.startsWith('--')).map((s) => s.replace(/^\r\n/, ''));
    part.children = [first, ...rest2].map(readPart);
  }
  return part;
}

function layout(p: TPart): string {
  return p.children.length ? `${p.type}[${p.children.map(layout).join(', ')}]` : p.type;
}

function leaves(p: TPart): TPart[] {
  return p.children.length ? p.children.flatMap(leaves) : [p];
}

function hdr(p: TPart, name: string): string | undefined {
  return p.headers.find(([n]) => n.toLowerCase() === name.toLowerCase())?.[1];
}

function decoded(p: TPart): string {
  expect(hdr(p, 'Content-Transfer-Encoding')).toBe('base64');
  return Buffer.from(p.body.replace(/\s+/g, ''), 'base64').toString('utf8');
}

function decodeWords(value: string): string {
  return value.replace(/\?=\s+=\?/g, '?==?').replace(/=\?utf-8\?([bq])\?([^?]*)\?=/gi, (_m, enc: string, text: string) => {
    if (enc.toLowerCase() === 'b') return Buffer.from(text, 'base64').toString('utf8');
    const bytes: number[] = [];
    for (let i = 0; i < text.length; i++) {
      if (text[i] === '_') bytes.push(32);
      else if (text[i] === '=') {
        bytes.push(parseInt(text.slice(i + 1, i + 3), 16));
        i += 2;
      } else bytes.push(text.charCodeAt(i));
    }
    return Buffer.from(bytes).toString('utf8');
  });
}

function headerValue(inv: Invitation, name: string): string {
  return inv.headers.find(([n]) => n === name)![1];
}

function calendarOf(inv: Invitation): ICAL.Component {
  return new ICAL.Component(ICAL.parse(inv.ics));
}

function vevent(inv: Invitation): ICAL.Component {
  return calendarOf(inv).getFirstSubcomponent('vevent')!;
}

/** The instant ical.js gives a DTSTART/DTEND of the parsed calendar, using its VTIMEZONE. */
function instantOf(inv: Invitation, prop: 'dtstart' | 'dtend'): number {
  const cal = calendarOf(inv);
  const p = cal.getFirstSubcomponent('vevent')!.getFirstProperty(prop)!;
  const t = p.getFirstValue() as ICAL.Time;
  const tzid = p.getParameter('tzid');
  if (!tzid) {
    expect(t.zone).toBe(ICAL.Timezone.utcTimezone);
    return t.toJSDate().getTime();
  }
  const vtz = cal.getAllSubcomponents('vtimezone').find((c) => c.getFirstPropertyValue('tzid') === tzid)!;
  const zone = new ICAL.Timezone(vtz);
  const off = zone.utcOffset(t);
  return Date.UTC(t.year, t.month - 1, t.day, t.hour, t.minute, t.second) - off * 1000;
}

// --- structure per release line -------------------------------------------------------------

const OLD_ORDER = ['From', 'Reply-To', 'To', 'Date', 'Message-ID', 'Subject'];
const NEW_ORDER = ['From', 'Subject', 'Reply-To', 'To', 'Date', 'Message-ID'];

const LINES: { v: string; order: string[]; emailParam: boolean; url: boolean; msgIdHost: 'server' | 'local' }[] = [
  { v: '2.5', order: OLD_ORDER, emailParam: false, url: false, msgIdHost: 'local' },
  { v: '3.1', order: OLD_ORDER, emailParam: true, url: false, msgIdHost: 'local' },
  { v: '3.2', order: NEW_ORDER, emailParam: true, url: true, msgIdHost: 'local' },
  { v: '7.0', order: NEW_ORDER, emailParam: true, url: true, msgIdHost: 'server' },
  { v: '9.2', order: NEW_ORDER, emailParam: true, url: true, msgIdHost: 'server' },
];

describe('release lines (§2.4)', () => {
  for (const line of LINES) {
    describe(line.v, () => {
      const inv = buildInvitation(opts(line.v));
      const root = readPart(inv.raw);

      it('writes exactly the expected top-level headers, in the release order', () => {
        expect(headerNames(inv.raw)).toEqual(['Content-Type', 'MIME-Version', ...line.order]);
        expect(inv.headers.map(([n]) => n)).toEqual(['Content-Type', 'MIME-Version', ...line.order]);
      });

      it('has the MIME layout mixed[alternative[plain, related[html]], calendar]', () => {
        expect(layout(root)).toBe('multipart/mixed[multipart/alternative[text/plain, multipart/related[text/html]], text/calendar]');
        expect(hdr(root, 'MIME-Version')).toBe('1.0');
        const related = root.children[0]!.children[1]!;
        expect(related.params['type']).toBe('text/html');
      });

      it('has the text/calendar part headers of the server', () => {
        const cal = root.children[1]!;
        expect(hdr(cal, 'Content-Type')).toBe('text/calendar; charset="utf-8"; method="request"');
        expect(hdr(cal, 'Content-Transfer-Encoding')).toBe('base64');
        expect(hdr(cal, 'Content-ID')).toBe('<invitation.ics>');
        expect(hdr(cal, 'Content-Disposition')).toBe('inline;filename=invitation.ics');
      });

      it('base64-encodes the text parts with charset utf-8', () => {
        for (const p of leaves(root)) {
          expect(hdr(p, 'Content-Transfer-Encoding')).toBe('base64');
          expect(p.params['charset']).toBe('utf-8');
        }
        const [plain, html] = leaves(root);
        expect(decoded(plain!)).toContain('Event invitation: imip send-test\r\n\r\nOrganizer: Alice Organizer <alice@example.test>\r\n');
        expect(decoded(plain!)).toContain('Attendees: Alice Organizer <alice@example.test>, bob@example.org <bob@example.org>');
        expect(decoded(plain!).includes('\r\nURL: ')).toBe(line.url);
        expect(decoded(html!)).toContain('<h1>imip send-test</h1>');
      });

      it('decodes the calendar part to the ics', () => {
        expect(decoded(root.children[1]!)).toBe(inv.ics);
      });

      it(`takes the Message-ID domain from ${line.msgIdHost === 'server' ? 'ServerHostName' : 'the local host name'}`, () => {
        expect(inv.messageId).toMatch(/^<\d{14}\.\d+\.\d+\.\d+@[^>]+>$/);
        expect(inv.messageId.startsWith('<20260701123456.')).toBe(true);
        const host = inv.messageId.slice(inv.messageId.indexOf('@') + 1, -1);
        if (line.msgIdHost === 'server') expect(host).toBe('cal.example.test');
        else expect([hostname(), 'localhost']).toContain(host);
        expect(headerValue(inv, 'Message-ID')).toBe(inv.messageId);
      });

      it(`${line.emailParam ? 'puts' : 'does not put'} EMAIL=<organizer> on ORGANIZER`, () => {
        const org = vevent(inv).getFirstProperty('organizer')!;
        expect(org.getParameter('email')).toBe(line.emailParam ? 'alice@example.test' : undefined);
      });
    });
  }
});

// --- addresses and the calendar ---------------------------------------------------------------

describe('plus address and calendar (§2.3)', () => {
  const inv = buildInvitation(opts());

  it('builds the plus address from a Sending.Address with a display name', () => {
    expect(inv.plusAddress).toBe(`calendar+${TOKEN}@example.test`);
    expect(headerValue(inv, 'Reply-To')).toBe(inv.plusAddress);
    expect(headerValue(inv, 'To')).toBe('bob@example.org');
    expect(headerValue(inv, 'From')).toBe('"Alice Organizer" <alice@example.test>');
    expect(inv.envelope).toEqual({ from: 'alice@example.test', to: ['bob@example.org'] });
  });

  it('defaults the organizer to the bare Sending.Address and the From name to "Calendar Server"', () => {
    const d = buildInvitation(opts('9.2', { organizer: undefined, organizerName: undefined }));
    expect(headerValue(d, 'From')).toBe('"Calendar Server" <calendar@example.test>');
    expect(d.envelope.from).toBe('calendar@example.test');
    const org = vevent(d).getFirstProperty('organizer')!;
    expect(org.getParameter('cn')).toBeUndefined();
    expect(org.getFirstValue()).toBe(`mailto:calendar+${TOKEN}@example.test`);
  });

  it('has the properties of a REQUEST', () => {
    const cal = calendarOf(inv);
    expect(cal.getFirstPropertyValue('prodid')).toBe('-//CALENDARSERVER.ORG//NONSGML Version 1//EN');
    expect(cal.getFirstPropertyValue('version')).toBe('2.0');
    expect(cal.getFirstPropertyValue('method')).toBe('REQUEST');
    const ev = vevent(inv);
    expect(ev.getFirstPropertyValue('uid')).toBe(inv.uid);
    expect(inv.uid).toMatch(/^[0-9A-F]{8}-[0-9A-F]{4}-4[0-9A-F]{3}-[89AB][0-9A-F]{3}-[0-9A-F]{12}$/);
    const stamp = ev.getFirstPropertyValue('dtstamp') as ICAL.Time;
    expect(stamp.zone).toBe(ICAL.Timezone.utcTimezone);
    expect(stamp.toJSDate().toISOString()).toBe('2026-07-01T12:34:56.000Z');
    expect(ev.getFirstPropertyValue('summary')).toBe('imip send-test');
    expect(ev.getFirstPropertyValue('sequence')).toBe(0);
    expect(ev.getFirstProperty('dtstart')!.getParameter('tzid')).toBe('Europe/Berlin');
    expect(ev.getFirstProperty('dtend')!.getParameter('tzid')).toBe('Europe/Berlin');
    expect(ev.getAllProperties('duration')).toHaveLength(0);
    expect(instantOf(inv, 'dtstart')).toBe(Date.parse('2026-07-15T08:00:00Z'));
    expect(instantOf(inv, 'dtend')).toBe(Date.parse('2026-07-15T09:00:00Z'));
  });

  it('rewrites ORGANIZER and the organizer attendee to the plus address', () => {
    const ev = vevent(inv);
    const org = ev.getFirstProperty('organizer')!;
    expect(org.getFirstValue()).toBe(`mailto:${inv.plusAddress}`);
    expect(org.getParameter('cn')).toBe('Alice Organizer');
    const [chair, invitee] = ev.getAllProperties('attendee');
    expect(chair!.getFirstValue()).toBe(`mailto:${inv.plusAddress}`);
    expect(chair!.getParameter('role')).toBe('CHAIR');
    expect(chair!.getParameter('partstat')).toBe('ACCEPTED');
    expect(invitee!.getFirstValue()).toBe('mailto:bob@example.org');
    expect(invitee!.getParameter('partstat')).toBe('NEEDS-ACTION');
    expect(invitee!.getParameter('rsvp')).toBe('TRUE');
    expect(invitee!.getParameter('role')).toBe('REQ-PARTICIPANT');
    expect(invitee!.getParameter('cn')).toBe('bob@example.org');
  });

  it('keeps a given UID', () => {
    const u = buildInvitation(opts('9.2', { uid: 'fixed-uid-1' }));
    expect(u.uid).toBe('fixed-uid-1');
    expect(vevent(u).getFirstPropertyValue('uid')).toBe('fixed-uid-1');
  });

  it('makes fresh UIDs, boundaries and Message-IDs per message', () => {
    const a = buildInvitation(opts());
    const b = buildInvitation(opts());
    expect(a.uid).not.toBe(b.uid);
    expect(a.messageId).not.toBe(b.messageId);
    expect(a.headers[0]![1]).not.toBe(b.headers[0]![1]);
  });

  it('uses boundaries that occur nowhere in the content', () => {
    const root = readPart(inv.raw);
    const boundaries = [root, root.children[0]!, root.children[0]!.children[1]!].map((p) => p.params['boundary']!);
    expect(new Set(boundaries).size).toBe(3);
    const contents = leaves(root).map(decoded).join('\n');
    for (const b of boundaries) {
      expect(b).toMatch(/^={15}\d{19}==$/);
      expect(contents.includes(b)).toBe(false);
      expect(inv.raw.split(`--${b}--`)).toHaveLength(2);
    }
  });

  it('folds calendar lines at 75 octets with CRLF', () => {
    const long = buildInvitation(
      opts('9.2', { organizerName: 'Ünïcödé Ørgänizer with a rather long name 日本語の名前', summary: 'x'.repeat(200) + ' ü'.repeat(80) }),
    );
    expect(long.ics.endsWith('\r\n')).toBe(true);
    expect(/(?<!\r)\n|\r(?!\n)/.test(long.ics)).toBe(false);
    for (const l of long.ics.split('\r\n')) expect(Buffer.byteLength(l, 'utf8')).toBeLessThanOrEqual(75);
    expect(vevent(long).getFirstPropertyValue('summary')).toBe('x'.repeat(200) + ' ü'.repeat(80));
  });

  it('never folds inside a character', () => {
    const line = 'SUMMARY:' + '日'.repeat(60);
    const folded = foldIcalLine(line);
    for (const l of folded.split('\r\n')) {
      expect(Buffer.byteLength(l, 'utf8')).toBeLessThanOrEqual(75);
      expect(l.includes('\uFFFD')).toBe(false);
    }
    expect(folded.replace(/\r\n /g, '')).toBe(line);
  });
});

// --- encodings and hostile text ---------------------------------------------------------------

describe('header encoding and injection', () => {
  const expectedNames = ['Content-Type', 'MIME-Version', ...NEW_ORDER];

  it('RFC 2047-encodes a non-ASCII summary and name, leaving the address readable', () => {
    const inv = buildInvitation(opts('9.2', { summary: 'Réunion über 日本', organizerName: 'Thé Organizer' }));
    const subject = headerValue(inv, 'Subject');
    expect(subject).toMatch(/^=\?utf-8\?[bq]\?/);
    expect(decodeWords(subject)).toBe('Event invitation: Réunion über 日本');
    const from = headerValue(inv, 'From');
    expect(from.endsWith(' <alice@example.test>')).toBe(true);
    expect(decodeWords(from.slice(0, from.lastIndexOf(' <')))).toBe('Thé Organizer');
    // Header lines with encoded-words stay within 76 characters; the raw message is 7-bit.
    const head = inv.raw.slice(0, inv.raw.indexOf('\r\n\r\n'));
    for (const l of head.split('\r\n')) expect(l.length).toBeLessThanOrEqual(78);
    expect([...inv.raw].every((ch) => ch.charCodeAt(0) < 0x80)).toBe(true);
    expect(vevent(inv).getFirstPropertyValue('summary')).toBe('Réunion über 日本');
  });

  it('quotes a display name with specials', () => {
    const inv = buildInvitation(opts('9.2', { organizerName: 'Bob "The" Builder, Jr.' }));
    expect(headerValue(inv, 'From')).toBe('"Bob \\"The\\" Builder, Jr." <alice@example.test>');
  });

  for (const [label, summary] of [
    ['CRLF', 'Hello\r\nBcc: evil@example.com'],
    ['LF', 'Hello\nBcc: evil@example.com'],
    ['CR', 'Hello\rBcc: evil@example.com'],
    ['non-ASCII with LF', 'Grüße\nBcc: evil@example.com'],
    ['a blank line', 'Hello\r\n\r\nbody text'],
  ] as const) {
    it(`keeps a summary with ${label} inside the Subject`, () => {
      const inv = buildInvitation(opts('9.2', { summary, organizerName: `Name\r\nX-Injected: ${label}` }));
      expect(headerNames(inv.raw)).toEqual(expectedNames);
      const head = inv.raw.slice(0, inv.raw.indexOf('\r\n\r\n'));
      expect(/(?<!\r)\n|\r(?!\n)/.test(head)).toBe(false);
      expect(/^(Bcc|X-Injected):/im.test(head)).toBe(false);
      const subject = decodeWords(headerValue(inv, 'Subject'));
      expect(subject).toBe(`Event invitation: ${summary.replace(/\r\n|[\r\n]/g, ' ')}`);
      expect(/[\r\n]/.test(subject)).toBe(false);
      // The calendar keeps the line break, escaped.
      expect(vevent(inv).getFirstPropertyValue('summary')).toBe(summary.replace(/\r\n|\r/g, '\n'));
    });
  }

  it('encodes a summary that looks like an encoded-word, so it reads back literally', () => {
    const inv = buildInvitation(opts('9.2', { summary: '=?utf-8?q?Bcc=3A_x?=' }));
    expect(decodeWords(headerValue(inv, 'Subject'))).toBe('Event invitation: =?utf-8?q?Bcc=3A_x?=');
  });

  it('folds a long ASCII subject without changing it', () => {
    const summary = Array.from({ length: 30 }, (_, i) => `word${i}`).join(' ');
    const inv = buildInvitation(opts('9.2', { summary }));
    expect(headerValue(inv, 'Subject')).toBe(`Event invitation: ${summary}`);
    const head = inv.raw.slice(0, inv.raw.indexOf('\r\n\r\n'));
    for (const l of head.split('\r\n')) expect(l.length).toBeLessThanOrEqual(78);
  });

  it('refuses hostile addresses and values', () => {
    const bad: Partial<InvitationOptions>[] = [
      { attendee: 'bob@example.org\r\nBcc: evil@example.com' },
      { attendee: 'bob@example.org, evil@example.com' },
      { organizer: 'alice@example.test>\r\nBcc: x@y' },
      { sendingAddress: 'calendar.example.test' },
      { sendingAddress: 'cal@example.test\r\nBcc: x@y' },
      { token: TOKEN.toUpperCase() },
      { token: 'not-a-token' },
      { serverHostName: 'cal.example.test\r\nBcc: x@y' },
      { timeZone: 'Mars/Olympus_Mons' },
      { durationMinutes: 0 },
      { start: new Date(NaN) },
    ];
    for (const b of bad) expect(() => buildInvitation(opts('9.2', b)), JSON.stringify(b)).toThrow(CannotRunError);
  });
});

describe('newToken', () => {
  it('is a lower-case uuid4 like the server makes', () => {
    const t = newToken();
    expect(t).toMatch(TOKEN_RE);
    expect(t).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4/);
    expect(newToken()).not.toBe(t);
  });
});

// --- VTIMEZONE -----------------------------------------------------------------------------------

/** Instants for a wall time in a zone (first of two when repeated); null in a gap. */
function wallInstant(tz: string, y: number, mo: number, d: number, h: number, mi = 0): number | null {
  const r = resolveWallTime(tz, { year: y, month: mo, day: d, hour: h, minute: mi, second: 0 });
  return r.kind === 'ok' ? r.epochMs : r.kind === 'ambiguous' ? r.earlier : null;
}

describe('VTIMEZONE from Intl', () => {
  const zones = ['Europe/Berlin', 'America/New_York', 'Asia/Kolkata', 'Australia/Sydney', 'Australia/Lord_Howe', 'America/Sao_Paulo'];
  const starts = [
    ['January', 2026, 1, 20, 9],
    ['July', 2026, 7, 15, 14],
    ['December', 2026, 12, 30, 23],
  ] as const;

  for (const tz of zones) {
    for (const [label, y, mo, d, h] of starts) {
      it(`${tz}: DTSTART/DTEND in ${label} resolve to the right instants`, () => {
        const start = new Date(wallInstant(tz, y, mo, d, h)!);
        const inv = buildInvitation(opts('9.2', { timeZone: tz, start, durationMinutes: 150 }));
        expect(instantOf(inv, 'dtstart')).toBe(start.getTime());
        expect(instantOf(inv, 'dtend')).toBe(start.getTime() + 150 * 60_000);
        const cal = calendarOf(inv);
        expect(cal.getAllSubcomponents('vtimezone').map((c) => c.getFirstPropertyValue('tzid'))).toEqual([tz]);
      });
    }

    it(`${tz}: the VTIMEZONE gives Intl's offset every day of the year`, () => {
      const inv = buildInvitation(opts('9.2', { timeZone: tz, start: new Date('2026-06-01T10:00:00Z') }));
      const zone = new ICAL.Timezone(calendarOf(inv).getFirstSubcomponent('vtimezone')!);
      for (let day = 0; day < 366; day++) {
        for (const hour of [1, 12]) {
          const t = Date.UTC(2026, 0, 1 + day, hour);
          const intl = offsetAt(tz, t);
          // Evaluate the VTIMEZONE at the wall time Intl shows for that instant.
          const w = new Date(t + intl * 1000);
          const local = ICAL.Time.fromData({
            year: w.getUTCFullYear(),
            month: w.getUTCMonth() + 1,
            day: w.getUTCDate(),
            hour: w.getUTCHours(),
            minute: w.getUTCMinutes(),
            second: 0,
          });
          const ical = zone.utcOffset(local);
          // In the repeated hour the wall time is ambiguous; ical.js may answer either offset.
          const alt = offsetAt(tz, t - 3600_000);
          expect([intl, alt], `${tz} ${new Date(t).toISOString()}`).toContain(ical);
          if (offsetAt(tz, t - 3 * 3600_000) === intl) expect(ical).toBe(intl);
        }
      }
    });
  }

  it('Europe/Berlin: DAYLIGHT last Sunday of March, STANDARD last Sunday of October', () => {
    const vtz = calendarOf(buildInvitation(opts())).getFirstSubcomponent('vtimezone')!;
    const dl = vtz.getFirstSubcomponent('daylight')!;
    const st = vtz.getFirstSubcomponent('standard')!;
    expect(String(dl.getFirstPropertyValue('rrule'))).toBe('FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU');
    expect(String(st.getFirstPropertyValue('rrule'))).toBe('FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU');
    expect(dl.getFirstProperty('tzoffsetfrom')!.toICALString()).toBe('TZOFFSETFROM:+0100');
    expect(dl.getFirstProperty('tzoffsetto')!.toICALString()).toBe('TZOFFSETTO:+0200');
    expect(st.getFirstProperty('tzoffsetfrom')!.toICALString()).toBe('TZOFFSETFROM:+0200');
    expect(st.getFirstProperty('tzoffsetto')!.toICALString()).toBe('TZOFFSETTO:+0100');
    expect((dl.getFirstPropertyValue('dtstart') as ICAL.Time).toICALString()).toBe('20250330T020000');
    expect((st.getFirstPropertyValue('dtstart') as ICAL.Time).toICALString()).toBe('20251026T030000');
    expect(st.getFirstPropertyValue('tzname')).toBe('CET');
    expect(dl.getFirstPropertyValue('tzname')).toBe('CEST');
  });

  it('America/New_York: second Sunday of March, first Sunday of November', () => {
    const vtz = calendarOf(buildInvitation(opts('9.2', { timeZone: 'America/New_York' }))).getFirstSubcomponent('vtimezone')!;
    expect(String(vtz.getFirstSubcomponent('daylight')!.getFirstPropertyValue('rrule'))).toBe('FREQ=YEARLY;BYMONTH=3;BYDAY=2SU');
    expect(String(vtz.getFirstSubcomponent('standard')!.getFirstPropertyValue('rrule'))).toBe('FREQ=YEARLY;BYMONTH=11;BYDAY=1SU');
    expect(vtz.getFirstSubcomponent('standard')!.getFirstProperty('tzoffsetto')!.toICALString()).toBe('TZOFFSETTO:-0500');
  });

  it('Asia/Kolkata: one STANDARD, +0530, no DAYLIGHT', () => {
    const inv = buildInvitation(opts('9.2', { timeZone: 'Asia/Kolkata' }));
    const vtz = calendarOf(inv).getFirstSubcomponent('vtimezone')!;
    expect(vtz.getAllSubcomponents('daylight')).toHaveLength(0);
    const st = vtz.getAllSubcomponents('standard');
    expect(st).toHaveLength(1);
    expect(st[0]!.getFirstProperty('tzoffsetfrom')!.toICALString()).toBe('TZOFFSETFROM:+0530');
    expect(st[0]!.getFirstProperty('tzoffsetto')!.toICALString()).toBe('TZOFFSETTO:+0530');
    expect(st[0]!.getAllProperties('rrule')).toHaveLength(0);
    expect(inv.ics).toContain('DTSTART;TZID=Asia/Kolkata:20260715T133000');
  });

  it('writes the zone name with its canonical case, keeping links', () => {
    expect(buildInvitation(opts('9.2', { timeZone: 'europe/berlin' })).ics).toContain('DTSTART;TZID=Europe/Berlin:');
    expect(buildInvitation(opts('9.2', { timeZone: 'Asia/Kolkata' })).ics).toContain('TZID:Asia/Kolkata\r\n');
  });

  it('UTC: no VTIMEZONE, Z times, no TZID', () => {
    for (const tz of ['UTC', 'Etc/UTC']) {
      const inv = buildInvitation(opts('9.2', { timeZone: tz }));
      const cal = calendarOf(inv);
      expect(cal.getAllSubcomponents('vtimezone')).toHaveLength(0);
      expect(inv.ics).toContain('\r\nDTSTART:20260715T080000Z\r\n');
      expect(inv.ics).toContain('\r\nDTEND:20260715T090000Z\r\n');
      expect(inv.ics.includes('TZID')).toBe(false);
      expect(instantOf(inv, 'dtstart')).toBe(Date.parse('2026-07-15T08:00:00Z'));
    }
  });

  it('handles an event across a DST change and across New Year', () => {
    // 2026-10-25 01:30 CEST for 3 hours ends 03:30 CET.
    const start = new Date('2026-10-24T23:30:00Z');
    const inv = buildInvitation(opts('9.2', { start, durationMinutes: 180 }));
    expect(inv.ics).toContain('DTSTART;TZID=Europe/Berlin:20261025T013000');
    expect(inv.ics).toContain('DTEND;TZID=Europe/Berlin:20261025T033000');
    expect(instantOf(inv, 'dtend')).toBe(start.getTime() + 180 * 60_000);
    const ny = new Date(wallInstant('America/New_York', 2026, 12, 31, 22)!);
    const inv2 = buildInvitation(opts('9.2', { timeZone: 'America/New_York', start: ny, durationMinutes: 6 * 60 }));
    expect(inv2.ics).toContain('DTEND;TZID=America/New_York:20270101T040000');
    expect(instantOf(inv2, 'dtend')).toBe(ny.getTime() + 6 * 3600_000);
  });

  it('writes the Date header in the zone, like rfc822date()', () => {
    const inv = buildInvitation(opts('9.2', { now: new Date('2026-01-05T08:09:10Z') }));
    expect(headerValue(inv, 'Date')).toBe('Mon, 05 Jan 2026 09:09:10 +0100');
    const k = buildInvitation(opts('9.2', { timeZone: 'Asia/Kolkata', now: new Date('2026-01-05T08:09:10Z') }));
    expect(headerValue(k, 'Date')).toBe('Mon, 05 Jan 2026 13:39:10 +0530');
  });
});
