/**
 * What the attendee's client sees, one mangling per finding: the invitation as built, then as a
 * relay or provider might hand it over (calendar stripped, re-encoded with changes, ORGANIZER or
 * Reply-To rewritten, Subject tagged). And the account URLs of --reply-from / --reply-submit.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildInvitation, newToken } from '../../src/imip/invitation.js';
import { parseServerVersion } from '../../src/server/release.js';
import { checkReceivedInvitation } from '../../src/roundtrip/invitation-checks.js';
import { attendeeAccount, parseAccountUrl } from '../../src/roundtrip/account.js';
import { tempDir } from '../helpers/plist.js';

function invitation() {
  return buildInvitation({
    sendingAddress: 'Calendar <calendar@example.test>',
    attendee: 'probe@remote.test',
    summary: 'imip test invitation',
    start: new Date('2031-03-04T10:00:00Z'),
    durationMinutes: 30,
    timeZone: 'UTC',
    token: newToken(),
    version: parseServerVersion('9.2'),
    serverHostName: 'cal.example.test',
    now: new Date(),
  });
}

/** Re-encode the base64 calendar part after changing its text. */
function mapCalendar(raw: string, fn: (ics: string) => string): string {
  const m = /(Content-Type: text\/calendar[\s\S]*?\r?\n\r?\n)([A-Za-z0-9+/=\r\n]+?)(\r?\n--)/.exec(raw);
  if (!m) throw new Error('no calendar part');
  const ics = fn(Buffer.from(m[2]!.replace(/\r?\n/g, ''), 'base64').toString('utf8').replace(/\r?\n[ \t]/g, ''));
  const b64 = (Buffer.from(ics, 'utf8').toString('base64').match(/.{1,76}/g) ?? []).join('\n');
  return raw.slice(0, m.index) + m[1] + b64 + m[3] + raw.slice(m.index + m[0].length);
}

const received = (raw: string): Buffer => Buffer.from(`Return-Path: <calendar@example.test>\nDelivered-To: probe@remote.test\n${raw}`, 'utf8');
const ids = (r: ReturnType<typeof checkReceivedInvitation>): string[] => r.findings.map((f) => f.id).sort();

describe('checkReceivedInvitation', () => {
  it('delivered as sent (with the trace headers a delivery adds): intact, no findings', () => {
    const inv = invitation();
    const r = checkReceivedInvitation(inv.raw, received(inv.raw), inv.plusAddress);
    expect(r).toMatchObject({ calendar: 'intact', organizerToken: true, replyToToken: true, rewrittenHeaders: [] });
    expect(r.findings).toEqual([]);
  });

  const cases: [string, (raw: string, plus: string) => string, string[]][] = [
    ['the calendar part stripped', (raw) => raw.replace(/Content-Type: text\/calendar/, 'Content-Type: text/plain'), ['roundtrip.calendar-missing']],
    ['ORGANIZER rewritten to the bare address', (raw, plus) => mapCalendar(raw, (ics) => ics.split(plus).join('calendar@example.test')), ['roundtrip.calendar-altered', 'roundtrip.organizer-token-lost']],
    ['a disclaimer added to the calendar', (raw) => mapCalendar(raw, (ics) => ics.replace(/END:VEVENT/, 'COMMENT:This mail was scanned\r\nEND:VEVENT')), ['roundtrip.calendar-altered']],
    ['the method parameter dropped', (raw) => raw.replace(/;\s*method="?REQUEST"?/i, ''), ['roundtrip.calendar-altered']],
    ['Reply-To rewritten', (raw, plus) => raw.replace(`Reply-To: ${plus}`, 'Reply-To: calendar@example.test'), ['roundtrip.reply-to-token-lost']],
    ['Reply-To dropped', (raw) => raw.replace(/Reply-To: [^\r\n]*\r?\n/, ''), ['roundtrip.reply-to-token-lost']],
    ['Subject tagged', (raw) => raw.replace('Subject: ', 'Subject: [EXTERNAL] '), ['roundtrip.headers-rewritten']],
  ];
  for (const [what, mangle, want] of cases) {
    it(`${what}: ${want.join(', ')}`, () => {
      const inv = invitation();
      const raw = mangle(inv.raw, inv.plusAddress);
      expect(raw).not.toBe(inv.raw);
      const r = checkReceivedInvitation(inv.raw, received(raw), inv.plusAddress);
      expect(ids(r)).toEqual(want);
      for (const f of r.findings) expect(f.message).not.toMatch(/§|calendarserver-imip/);
    });
  }
});

describe('account URLs', () => {
  it('imaps://, imap:// and submission:// with a user holding "@"; default ports', () => {
    expect(parseAccountUrl('--reply-from', 'imaps://probe@example.org@imap.example.org', ['imaps', 'imap'])).toMatchObject({ host: 'imap.example.org', port: 993, username: 'probe@example.org', tls: 'implicit' });
    expect(parseAccountUrl('--reply-from', 'imap://probe@host:1143', ['imaps', 'imap'])).toMatchObject({ port: 1143, tls: 'starttls' });
    expect(parseAccountUrl('--reply-submit', 'submission://p%2Bx@example.org@smtp.example.org', ['submission'])).toMatchObject({ port: 587, username: 'p+x@example.org' });
  });
  it('refuses other schemes, a password in the URL, bad ports', () => {
    expect(() => parseAccountUrl('--reply-from', 'pop3s://u@h', ['imaps', 'imap'])).toThrow(/scheme "pop3s"/);
    expect(() => parseAccountUrl('--reply-from', 'imaps://u:pw@h', ['imaps', 'imap'])).toThrow(/never go on the command line/);
    expect(() => parseAccountUrl('--reply-from', 'imaps://u@h:99999', ['imaps', 'imap'])).toThrow(/port/);
    expect(() => parseAccountUrl('--reply-from', 'imaps://h', ['imaps', 'imap'])).toThrow(/SCHEME:\/\/USER@HOST/);
    // A password in a URL that is malformed in some other way is never quoted back either.
    for (const [flag, url, allowed] of [
      ['--reply-from', 'imaps://alice:Alice-pw-9907-secret@localhost/INBOX', ['imaps', 'imap']],
      ['--reply-from', 'imaps://alice:Alice-pw-9907-secret@localhost:port', ['imaps', 'imap']],
      ['--reply-from', 'imaps:/alice:Alice-pw-9907-secret@localhost', ['imaps', 'imap']],
      ['--reply-from', 'alice:Alice-pw-9907-secret@localhost', ['imaps', 'imap']],
      ['--reply-submit', 'submission://alice:Alice-pw-9907@secret@', ['submission']],
    ] as const) {
      let message = '';
      try {
        parseAccountUrl(flag, url, allowed);
      } catch (e) {
        message = (e as Error).message;
      }
      expect(message).toMatch(/the URL holds a password; passwords never go on the command line/);
      expect(message).not.toContain('pw-9907');
    }
    // An IPv6 host is no password.
    expect(parseAccountUrl('--reply-from', 'imaps://probe@example.org@[::1]:993', ['imaps', 'imap'])).toMatchObject({ host: '::1', port: 993 });
  });
  it('the password: the file first, else the environment; submission defaults to the same account on 587', () => {
    const file = join(tempDir('imip-acct-'), 'pw');
    writeFileSync(file, 'from-file\nignored\n');
    const a = attendeeAccount({ replyFrom: 'imaps://u@h', replyPasswordFile: file }, { IMIP_REPLY_PASSWORD: 'from-env' });
    expect(a.password).toBe('from-file');
    expect(a.submission).toMatchObject({ host: 'h', port: 587, username: 'u', tls: 'starttls' });
    expect(attendeeAccount({ replyFrom: 'imaps://u@h' }, { IMIP_REPLY_PASSWORD: 'from-env' }).password).toBe('from-env');
    expect(() => attendeeAccount({ replyFrom: 'imaps://u@h' }, {})).toThrow(/IMIP_REPLY_PASSWORD/);
  });
});
