/**
 * Reply injection (src/poll/inject.ts) against the /inbox/ test double (test/doubles/inbox-server.ts):
 * URL derivation per release line (`twistedcaldav/mail.py` `injectMessage`, 3.2+
 * `injectionSettingsFromURL`), Digest/Basic as the 2.x gateway answers a challenge, the 3.x–4.x
 * shared-secret header, the calendar rewrite of `processReply` and `processDSN`, and every failure
 * the gateway can meet. No mail stack needed.
 */
import ICAL from 'ical.js';
import { afterEach, describe, expect, it } from 'vitest';
import type { ImipSettings } from '../../src/config/settings.js';
import { digestAuthorization, displayUrl, injectCalendar, injectionTarget, parseChallenges, rewriteDsn, rewriteReply, type InjectionTarget } from '../../src/poll/inject.js';
import { parseServerVersion } from '../../src/server/release.js';
import { startInboxDouble, type InboxDouble } from '../doubles/inbox-server.js';

const PARTY = { organizer: 'mailto:organizer@example.test', attendee: 'mailto:attendee@remote.test' };

function settings(over: Partial<ImipSettings> = {}): ImipSettings {
  return {
    enabled: true,
    sending: { server: 's', port: 587, useSSL: true, address: 'calendar@example.test', username: '', password: '', suppressionDays: 7 },
    receiving: { server: 'r', port: 993, useSSL: true, type: 'imap', protocol: 'imap', username: 'u', password: 'p', pollingSeconds: 30 },
    addressPatterns: [],
    mailGatewayServer: 'localhost',
    mailGatewayPort: 62310,
    username: 'com.apple.calendarserver',
    password: 'Gw-secret-77',
    header: 'x-calendarserver-internal',
    guid: 'B86ED9D3-49BD-44F8-8F5E-C89D08753DAC',
    serverHostName: 'cal.example.test',
    httpPort: 8008,
    sslPort: 8443,
    enableSSL: false,
    timezonesByReference: false,
    supportedComponents: null,
    zoneDatabase: null,
    ...over,
  };
}

const REPLY = [
  'BEGIN:VCALENDAR',
  'VERSION:2.0',
  'PRODID:-//Remote//Client//EN',
  'METHOD:REPLY',
  'BEGIN:VEVENT',
  'UID:u1',
  'DTSTAMP:20260302T100000Z',
  'STATUS:CONFIRMED',
  'ORGANIZER:mailto:calendar+tok@example.test',
  'ATTENDEE;PARTSTAT=ACCEPTED:MAILTO:Attendee@Remote.test',
  'ATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:other@remote.test',
  'END:VEVENT',
  'END:VCALENDAR',
  '',
].join('\r\n');

let double: InboxDouble | null = null;
afterEach(async () => {
  await double?.close();
  double = null;
});

function targetFor(d: InboxDouble, line: '2.x' | '3.x-4.x', over: Partial<InjectionTarget> = {}): InjectionTarget {
  return {
    url: new URL(d.url),
    auth: line === '2.x' ? 'digest-user' : 'shared-secret-header',
    username: line === '2.x' ? 'com.apple.calendarserver' : null,
    password: 'Gw-secret-77',
    header: line === '2.x' ? null : 'x-calendarserver-internal',
    derivedFrom: 'test',
    ...over,
  };
}

describe('injectionTarget (§5.1, §5.2 injectMessage)', () => {
  const v = (s: string) => parseServerVersion(s);
  it.each([
    ['2.5', {}, 'https://localhost:8443/inbox/'],
    ['2.5', { sslPort: 0 }, 'http://localhost:8008/inbox/'],
    ['2.5', { mailGatewayServer: 'gw.example.test' }, 'https://cal.example.test:8443/inbox/'],
    ['4.3', {}, 'http://localhost:8008/inbox/'],
    ['4.3', { enableSSL: true }, 'https://localhost:8443/inbox/'],
    ['3.2', { mailGatewayServer: 'gw.example.test', enableSSL: true }, 'https://cal.example.test:8443/inbox/'],
  ] as const)('%s %j → %s', (release, over, url) => {
    expect(injectionTarget(settings(over), v(release)).url.href).toBe(url);
  });

  it('2.x authenticates as the Username; 3.x–4.x sends the header', () => {
    expect(injectionTarget(settings(), v('2.5'))).toMatchObject({ auth: 'digest-user', username: 'com.apple.calendarserver', header: null });
    expect(injectionTarget(settings({ header: 'x-my-secret' }), v('4.3'))).toMatchObject({ auth: 'shared-secret-header', username: null, header: 'x-my-secret' });
  });

  it('refuses what cannot work: port 0, 5.0+, a URL with credentials', () => {
    expect(() => injectionTarget(settings({ httpPort: 0 }), v('4.3'))).toThrow(/HTTPPort is 0/);
    expect(() => injectionTarget(settings(), v('9.2'))).toThrow(/in-process/);
    expect(() => injectionTarget(settings(), v('4.3'), 'http://u:pw@localhost:1/inbox/')).toThrow(/leave credentials out/);
    expect(injectionTarget(settings(), v('4.3'), 'http://127.0.0.1:9/inbox/').derivedFrom).toMatch(/--inject-url/);
    expect(displayUrl(new URL('http://a:b@h/x'))).toBe('http://h/x');
  });
});

describe('the calendar the gateway injects (§4.4 step 6, processDSN)', () => {
  const parse = (t: string) => new ICAL.Component(ICAL.parse(t) as unknown[]);

  it('keeps only the token attendee (case-insensitively) and sets ORGANIZER', () => {
    const out = parse(rewriteReply(REPLY, PARTY, parseServerVersion('4.3')));
    const ev = out.getFirstSubcomponent('vevent')!;
    expect(ev.getAllProperties('attendee').map((p) => p.getFirstValue())).toEqual(['MAILTO:Attendee@Remote.test']);
    expect(ev.getFirstPropertyValue('organizer')).toBe('mailto:organizer@example.test');
    // The 2.x-4.x gateway sanitises nothing (sanitizeCalendar came with 7.0, which injects in-process).
    expect(parse(rewriteReply(REPLY.replace('METHOD:REPLY', 'METHOD:reply'), PARTY, parseServerVersion('4.3'))).getFirstPropertyValue('method')).toBe('reply');
    expect(ev.getFirstPropertyValue('status')).toBe('CONFIRMED');
  });

  it('adds ORGANIZER when missing, and the attendee with SCHEDULE-STATUS 5.1 when none is left (3.0+)', () => {
    const noOrg = REPLY.replace(/ORGANIZER:[^\r]*\r\n/, '').replace(/ATTENDEE;PARTSTAT=ACCEPTED:[^\r]*\r\n/, '');
    const ev = parse(rewriteReply(noOrg, PARTY, parseServerVersion('3.2'))).getFirstSubcomponent('vevent')!;
    expect(ev.getFirstPropertyValue('organizer')).toBe('mailto:organizer@example.test');
    const att = ev.getAllProperties('attendee');
    expect(att.map((p) => p.getFirstValue())).toEqual(['mailto:attendee@remote.test']);
    expect(att[0]!.getParameter('schedule-status')).toBe('5.1');
    // 2.x does not re-add it.
    expect(parse(rewriteReply(noOrg, PARTY, parseServerVersion('2.5'))).getFirstSubcomponent('vevent')!.getAllProperties('attendee')).toHaveLength(0);
  });

  it('2.x adds a missing ORGANIZER to the calendar itself, as its gateway does', () => {
    // CalendarServer-2.2..2.5 twistedcaldav/mail.py processReply: calendar.addProperty(...).
    const noOrg = REPLY.replace(/ORGANIZER:[^\r]*\r\n/, '');
    const out = parse(rewriteReply(noOrg, PARTY, parseServerVersion('2.5')));
    expect(out.getFirstPropertyValue('organizer')).toBe('mailto:organizer@example.test');
    expect(out.getFirstSubcomponent('vevent')!.getFirstProperty('organizer')).toBeNull();
  });

  it('the ORGANIZER the server sets is the first component\'s only one; otherwise it adds one', () => {
    // twistedcaldav/ical.py getOrganizerProperty: the first main component, getProperty raising on two.
    const two = REPLY.replace(/(ORGANIZER:[^\r]*\r\n)/, '$1ORGANIZER:mailto:other@example.test\r\n');
    const organizers = parse(rewriteReply(two, PARTY, parseServerVersion('3.2'))).getFirstSubcomponent('vevent')!.getAllProperties('organizer');
    expect(organizers.map((p) => p.getFirstValue())).toEqual([expect.stringMatching(/^mailto:calendar\+/), 'mailto:other@example.test', 'mailto:organizer@example.test']);
    // Python 2 lower-cases ASCII letters only: an attendee spelt with another É is not the token's.
    const accented = REPLY.replace(/ATTENDEE;PARTSTAT=ACCEPTED:[^\r]*/, 'ATTENDEE;PARTSTAT=ACCEPTED:mailto:ÉVA@remote.test');
    const ev = parse(rewriteReply(accented, { ...PARTY, attendee: 'mailto:éva@remote.test' }, parseServerVersion('4.3'))).getFirstSubcomponent('vevent')!;
    expect(ev.getAllProperties('attendee').map((p) => [p.getFirstValue(), p.getParameter('schedule-status')])).toEqual([['mailto:éva@remote.test', '5.1']]);
  });

  it('a DSN: REQUEST-STATUS 5.1 on the first VEVENT, token attendee only, token organizer', () => {
    const req = REPLY.replace('METHOD:reply', 'METHOD:REQUEST');
    const text = rewriteDsn(req, PARTY, parseServerVersion('4.3'));
    expect(text).toMatch(/^REQUEST-STATUS:5\.1;Service unavailable\r$/m);
    const ev = parse(text).getFirstSubcomponent('vevent')!;
    expect(ev.getAllProperties('attendee')).toHaveLength(1);
    expect(ev.getFirstPropertyValue('organizer')).toBe('mailto:organizer@example.test');
  });

  it('2.x injects a calendar without a main component, with the ORGANIZER on the calendar; 3.0+ never get there', () => {
    // CalendarServer-2.5 mail.py processReply: getOrganizerProperty() finds no component, so
    // calendar.addProperty puts the ORGANIZER on the VCALENDAR; 3.0+ fail at event.addProperty.
    const empty = REPLY.replace(/BEGIN:VEVENT[\s\S]*?END:VEVENT\r\n/, '');
    const out = parse(rewriteReply(empty, PARTY, parseServerVersion('2.5')));
    expect(out.getFirstPropertyValue('organizer')).toBe('mailto:organizer@example.test');
    expect(out.getAllSubcomponents()).toHaveLength(0);
    expect(() => rewriteReply(empty, PARTY, parseServerVersion('3.2'))).toThrow(/without a main component/);
  });

  it('a calendar that does not parse throws (the server fails the same way)', () => {
    expect(() => rewriteReply('BEGIN:VCALENDAR\r\nnonsense', PARTY, parseServerVersion('4.3'))).toThrow();
  });
});

describe('injectCalendar against the /inbox/ double', () => {
  it('2.x: unauthenticated first, then Digest as the Username (AuthorizedHTTPGetter)', async () => {
    double = await startInboxDouble({ line: '2.x', directory: { 'com.apple.calendarserver': 'Gw-secret-77' } });
    const r = await injectCalendar(targetFor(double, '2.x'), PARTY, REPLY, { timeoutMs: 3000 });
    expect(r).toMatchObject({ ok: true, status: 200 });
    expect(r.attempts).toEqual([
      { auth: 'unauthenticated', status: 401 },
      { auth: 'digest', status: 200 },
    ]);
    const post = double.accepted()[0]!;
    expect(post.authenticatedAs).toBe('com.apple.calendarserver');
    expect(post.headers).toMatchObject({
      'content-type': 'text/calendar',
      originator: 'mailto:attendee@remote.test',
      recipient: 'mailto:organizer@example.test',
      'user-agent': 'iMIP gateway',
    });
    expect(post.body).toBe(REPLY);
    expect(JSON.stringify(r)).not.toContain('Gw-secret-77');
  });

  it('2.x: Basic when the challenge offers only Basic', async () => {
    double = await startInboxDouble({ line: '2.x', directory: { 'com.apple.calendarserver': 'Gw-secret-77' } });
    const { createServer } = await import('node:http');
    // A server offering Basic only, forwarding to the double once authenticated.
    const seen: string[] = [];
    const basicOnly = createServer((req, res) => {
      seen.push(req.headers.authorization ?? '');
      if (!req.headers.authorization) {
        res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="x"' });
        return res.end();
      }
      res.writeHead(200);
      res.end();
    });
    await new Promise<void>((r) => basicOnly.listen(0, '127.0.0.1', r));
    const port = (basicOnly.address() as { port: number }).port;
    const r = await injectCalendar(targetFor(double, '2.x', { url: new URL(`http://127.0.0.1:${port}/inbox/`) }), PARTY, REPLY, { timeoutMs: 3000 });
    basicOnly.close();
    expect(r.ok).toBe(true);
    expect(seen[1]).toBe(`Basic ${Buffer.from('com.apple.calendarserver:Gw-secret-77').toString('base64')}`);
  });

  it('a server that echoes the request back never gets the secret into the reason shown', async () => {
    const { createServer } = await import('node:http');
    // A proxy's error page or a debugging endpoint that quotes the request headers in its body.
    const echo = createServer((req, res) => {
      if (!req.headers.authorization && !req.headers['x-calendarserver-internal']) {
        res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="x"' });
        return res.end();
      }
      res.writeHead(403, { 'Content-Type': 'text/plain' });
      res.end(`forbidden: ${req.headers['x-calendarserver-internal'] ?? req.headers.authorization} ${JSON.stringify(req.headers)}`);
    });
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
    const url = new URL(`http://127.0.0.1:${(echo.address() as { port: number }).port}/inbox/`);
    try {
      double = await startInboxDouble({ line: '3.x-4.x' });
      for (const line of ['3.x-4.x', '2.x'] as const) {
        const r = await injectCalendar(targetFor(double, line, { url }), PARTY, REPLY, { timeoutMs: 3000 });
        expect(r).toMatchObject({ ok: false, status: 403 });
        expect(r.reason).toMatch(/^403 Forbidden: forbidden: /);
        expect(r.reason).toContain('<redacted>');
        expect(r.reason).not.toContain('Gw-secret-77');
        // The Basic credentials, base64 of "user:password", are masked whole too.
        expect(r.reason).not.toContain(Buffer.from('com.apple.calendarserver:Gw-secret-77').toString('base64'));
      }
    } finally {
      echo.close();
    }
  });

  it('2.x: a wrong password is the gateway\'s "could not authenticate user"', async () => {
    double = await startInboxDouble({ line: '2.x', directory: { 'com.apple.calendarserver': 'other' } });
    const r = await injectCalendar(targetFor(double, '2.x'), PARTY, REPLY, { timeoutMs: 3000 });
    expect(r).toMatchObject({ ok: false, status: 401 });
    expect(r.reason).toBe('Mail gateway not able to process reply; could not authenticate user com.apple.calendarserver with calendar server');
  });

  it('2.x: the injection user missing from the directory is 403 and the server logs "principal not found"', async () => {
    double = await startInboxDouble({ line: '2.x', directory: { someone: 'x' } });
    const r = await injectCalendar(targetFor(double, '2.x'), PARTY, REPLY, { timeoutMs: 3000 });
    expect(r).toMatchObject({ ok: false, status: 403 });
    expect(double.log).toContain('iMIP injection principal not found: com.apple.calendarserver');
  });

  it('2.x: a calendar without any component is refused with 403 by the scheduler\'s calendar check', async () => {
    double = await startInboxDouble({ line: '2.x', directory: { 'com.apple.calendarserver': 'Gw-secret-77' } });
    const empty = REPLY.replace(/BEGIN:VEVENT[\s\S]*?END:VEVENT\r\n/, '');
    const r = await injectCalendar(targetFor(double, '2.x'), PARTY, empty, { timeoutMs: 3000 });
    expect(r).toMatchObject({ ok: false, status: 403 });
    expect(double.accepted()).toHaveLength(0);
    expect(double.log.join('\n')).toContain('No component type found for calendar component');
  });

  it("the scheduler's calendar check: a METHOD in lower case, and on 3.x-4.x a missing PRODID, are refused with 403", async () => {
    double = await startInboxDouble({ line: '3.x-4.x', secret: 'Gw-secret-77' });
    const lower = await injectCalendar(targetFor(double, '3.x-4.x'), PARTY, REPLY.replace('METHOD:REPLY', 'METHOD:reply'), { timeoutMs: 3000 });
    expect(lower).toMatchObject({ ok: false, status: 403 });
    const noProdid = await injectCalendar(targetFor(double, '3.x-4.x'), PARTY, REPLY.replace(/PRODID:[^\r]*\r\n/, ''), { timeoutMs: 3000 });
    expect(noProdid).toMatchObject({ ok: false, status: 403 });
    expect(double.log).toEqual([
      'POST request must have valid METHOD property in calendar component',
      'POST request calendar component is not valid:Calendar data had unfixable problems: [VCALENDAR] Missing or too many required property: PRODID',
    ]);
    expect(double.accepted()).toHaveLength(0);
    expect(await injectCalendar(targetFor(double, '3.x-4.x'), PARTY, REPLY, { timeoutMs: 3000 })).toMatchObject({ ok: true, status: 200 });
  });

  it('3.x–4.x: the shared-secret header, no challenge round', async () => {
    double = await startInboxDouble({ line: '3.x-4.x', secret: 'Gw-secret-77' });
    const r = await injectCalendar(targetFor(double, '3.x-4.x'), PARTY, REPLY, { timeoutMs: 3000 });
    expect(r.attempts).toEqual([{ auth: 'header', status: 200 }]);
    expect(double.accepted()[0]!.headers['x-calendarserver-internal']).toBe('Gw-secret-77');
  });

  it('3.x–4.x: a wrong secret meets the Digest challenge: "Authentication required"', async () => {
    double = await startInboxDouble({ line: '3.x-4.x', secret: 'something-else' });
    const r = await injectCalendar(targetFor(double, '3.x-4.x'), PARTY, REPLY, { timeoutMs: 3000 });
    expect(r).toMatchObject({ ok: false, status: 401, reason: 'Authentication required' });
    expect(double.requests[0]!.status).toBe(401);
  });

  it('the double rejects a POST without Originator or Recipient with 400', async () => {
    double = await startInboxDouble({ line: '3.x-4.x', secret: 's' });
    const res = await fetch(double.url, { method: 'POST', headers: { 'x-calendarserver-internal': 's', 'content-type': 'text/calendar' }, body: REPLY });
    expect(res.status).toBe(400);
  });

  it('500, a hang and a closed socket are failures; a hang ends at the timeout', async () => {
    double = await startInboxDouble({ line: '3.x-4.x', secret: 'Gw-secret-77', failure: 'status500' });
    const t = targetFor(double, '3.x-4.x');
    expect(await injectCalendar(t, PARTY, REPLY, { timeoutMs: 2000 })).toMatchObject({ ok: false, status: 500 });
    double.setFailure('close');
    const closed = await injectCalendar(t, PARTY, REPLY, { timeoutMs: 2000 });
    expect(closed).toMatchObject({ ok: false, status: null, uncertain: true });
    double.setFailure('hang');
    const started = Date.now();
    const hung = await injectCalendar(t, PARTY, REPLY, { timeoutMs: 500 });
    expect(hung).toMatchObject({ ok: false, status: null, uncertain: true });
    expect(hung.reason).toMatch(/no answer within/);
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('an abort signal ends a request in flight', async () => {
    double = await startInboxDouble({ line: '3.x-4.x', secret: 'Gw-secret-77', failure: 'hang' });
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 100);
    const r = await injectCalendar(targetFor(double, '3.x-4.x'), PARTY, REPLY, { timeoutMs: 10_000, signal: ac.signal });
    expect(r).toMatchObject({ ok: false, reason: 'interrupted' });
  });

  it('by host name over IPv4: the first address on 2.x-3.x, every IPv4 address on 4.x', async () => {
    double = await startInboxDouble({ line: '3.x-4.x', secret: 'Gw-secret-77' });
    const byName = new URL(double.url);
    byName.hostname = 'localhost';
    expect(injectionTarget(settings(), parseServerVersion('3.2')).addressing).toBe('first-ipv4');
    expect(injectionTarget(settings(), parseServerVersion('4.3')).addressing).toBe('ipv4');
    for (const addressing of ['first-ipv4', 'ipv4'] as const) {
      const r = await injectCalendar(targetFor(double, '3.x-4.x', { url: byName, addressing }), PARTY, REPLY, { timeoutMs: 5000 });
      expect(r, addressing).toMatchObject({ ok: true, status: 200 });
    }
  });

  it('an IPv6 address is never reached: 2.x-4.x inject over IPv4 only', async () => {
    const r = await injectCalendar(
      { url: new URL('http://[::1]:8008/inbox/'), auth: 'shared-secret-header', username: null, password: 'x', header: 'x-calendarserver-internal', derivedFrom: '' },
      PARTY,
      REPLY,
      { timeoutMs: 2000 },
    );
    expect(r).toMatchObject({ ok: false, status: null, reason: "[::1] is an IPv6 address, and Calendar Server 2.x to 4.x connect over IPv4 only: the gateway's lookup of it fails" });
    expect(r.uncertain).toBeFalsy();
  });

  it('nothing listening: refused, certainly not delivered', async () => {
    const r = await injectCalendar(
      { url: new URL('http://127.0.0.1:9/inbox/'), auth: 'shared-secret-header', username: null, password: 'x', header: 'x-calendarserver-internal', derivedFrom: '' },
      PARTY,
      REPLY,
      { timeoutMs: 2000 },
    );
    expect(r.ok).toBe(false);
    expect(r.uncertain).toBeFalsy();
  });
});

describe('Digest helpers', () => {
  it('parses several challenges in one header', () => {
    expect(parseChallenges('Digest realm="a b", nonce="n,1", qop="auth", algorithm=MD5, Basic realm="r"')).toEqual([
      { scheme: 'digest', params: { realm: 'a b', nonce: 'n,1', qop: 'auth', algorithm: 'MD5' } },
      { scheme: 'basic', params: { realm: 'r' } },
    ]);
  });

  it('computes the RFC 2617 example response', () => {
    // RFC 2617 §3.5: Mufasa / Circle Of Life.
    const h = digestAuthorization(
      { realm: 'testrealm@host.com', nonce: 'dcd98b7102dd2f0e8b11d0f600bfb0c093', qop: 'auth,auth-int', opaque: '5ccc069c403ebaf9f0171e9517f40e41' },
      'Mufasa',
      'Circle Of Life',
      'GET',
      '/dir/index.html',
      '0a4f113b',
    );
    expect(h).toContain('response="6629fae49393a05397450978507c4ef1"');
  });
});
