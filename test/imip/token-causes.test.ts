import { describe, expect, it } from 'vitest';
import { classify, needsBody } from '../../src/imip/classify.js';
import { parseMessage } from '../../src/imip/mime.js';
import { TOKEN_CAUSE_IDS, tokenCauses } from '../../src/imip/token-causes.js';
import { extractToken } from '../../src/server/address.js';
import { parseServerVersion } from '../../src/server/release.js';
import { context, parseFixture, SENDING_ADDRESS } from './message-fixtures.js';

const ctx = { sendingAddress: SENDING_ADDRESS, version: parseServerVersion('9.2') };
const T = '3f2b8c1e-7d4a-4e9b-a6c2-5b1d9e0f7a21';

function message(headers: string, calendarOrganizer?: string) {
  const body = calendarOrganizer
    ? `Content-Type: text/calendar; method=REPLY\r\n\r\nBEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nORGANIZER;CN="Org: Person":${calendarOrganizer}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n`
    : 'Content-Type: text/plain\r\n\r\nhello\r\n';
  return parseMessage(Buffer.from(`Message-ID: <t@remote.test>\r\nFrom: attendee@remote.test\r\n${headers}\r\n${body}`), needsBody);
}

describe('tokenCauses on the fixtures', () => {
  it.each([
    ['reply-all-other-first', ['token.not-first-recipient', 'token.other-recipient']],
    ['reply-to-bare-address', ['token.to-bare-address', 'token.absent']],
    ['token-in-delivered-to-only', ['token.in-other-header']],
    ['token-only-in-calendar', ['token.only-in-calendar', 'token.other-recipient']],
    ['token-uppercase', ['token.malformed']],
    ['extra-plus', ['token.extra-plus']],
    ['thunderbird-reply', []],
    ['human-reply', []],
    ['dsn-without-original', []],
    ['dsn-with-invitation', []],
  ])('%s → %j', (name, expected) => {
    const found = tokenCauses(parseFixture(name), ctx);
    expect(found.map((f) => f.id)).toEqual(expected);
    for (const f of found) {
      expect(f.evidence['messageId']).toBeTruthy();
      expect(f.fix.length).toBeGreaterThan(40);
    }
  });

  it('reply-all: quotes To and tells to use Reply, not Reply All', () => {
    const [f] = tokenCauses(parseFixture('reply-all-other-first'), ctx);
    expect(f!.evidence['To']).toBe(
      'Organizer Person <organizer@example.test>, calendar+2e6a8c0d-4f1b-4a3c-9e5d-7b9f1d3a5c69@example.test',
    );
    expect(f!.evidence['position']).toBe(2);
    expect(f!.fix).toMatch(/Reply, not Reply All/);
    expect(f!.severity).toBe('error');
  });

  it('delivered-to only: quotes Delivered-To and Received', () => {
    const [f] = tokenCauses(parseFixture('token-in-delivered-to-only'), ctx);
    const headers = f!.evidence['headers'] as Record<string, string[]>;
    expect(headers['Delivered-To']).toEqual(['calendar+0b2d4f6a-8c1e-4a3b-9d5f-1e3a5c7b9d46@example.test']);
    expect(headers['Received']![0]).toMatch(/for <calendar\+0b2d4f6a/);
    expect(f!.evidence['To']).toBe('undisclosed-recipients:;');
    expect(f!.fix).toMatch(/Bcc/);
  });

  it('upper-case token: malformed although _extractToken returns it', () => {
    const [f] = tokenCauses(parseFixture('token-uppercase'), ctx);
    expect(f!.evidence['kind']).toMatch(/re-cased/);
    expect(f!.evidence['suffix']).toBe('A3C5E7F9-1B2D-4E6F-8A0C-2D4F6B8D0E57');
  });

  it('extra plus: the fix depends on whether Sending.Address itself has a "+"', () => {
    const [generic] = tokenCauses(parseFixture('extra-plus'), ctx);
    expect(generic!.fix).toMatch(/second "\+tag"/);
    const [own] = tokenCauses(parseFixture('extra-plus'), { ...ctx, sendingAddress: 'Calendar <calendar+imip@example.test>' });
    expect(own!.id).toBe('token.extra-plus');
    expect(own!.fix).toMatch(/Sending\.Address "Calendar <calendar\+imip@example\.test>" itself contains "\+"/);
  });

  it('only in calendar: quotes ORGANIZER and names the address to resend to', () => {
    const [f] = tokenCauses(parseFixture('token-only-in-calendar'), ctx);
    expect(f!.evidence['ORGANIZER']).toBe('mailto:calendar+9e1a3c5d-7f9b-4d1e-a3c5-7e9a1c3e5b79@example.test');
    expect(f!.fix).toMatch(/resend the mail to calendar\+9e1a3c5d/);
  });
});

describe('tokenCauses on crafted messages', () => {
  it.each([
    ['percent-encoded "+"', `To: calendar%2B${T}@example.test`, undefined, ['token.malformed'], /percent-encoded/],
    ['percent-encoded token', `To: calendar+${T.replace(/-/g, '%2D')}@example.test`, undefined, ['token.malformed'], /percent-encoded/],
    ['truncated', `To: calendar+${T.slice(0, 18)}@example.test`, undefined, ['token.malformed'], /truncated/],
    ['"+" turned into "-"', `To: calendar-${T}@example.test`, undefined, ['token.malformed'], /replaced by/],
    ['empty token', 'To: calendar+@example.test', undefined, ['token.malformed'], /empty/],
    ['in Cc', `To: organizer@example.test\r\nCc: calendar+${T}@example.test`, undefined, ['token.in-other-header', 'token.other-recipient'], /Cc/],
    ['nothing at all', 'To: someone@elsewhere.test', undefined, ['token.other-recipient', 'token.absent'], /someone@elsewhere/],
    ['no To at all', 'Subject: hi', undefined, ['token.absent'], /No trace/],
    ['calendar only, quoted CN with ":"', 'To: organizer@example.test', `mailto:calendar+${T}@example.test`, ['token.only-in-calendar', 'token.other-recipient'], /ORGANIZER/],
    ['a good token', `To: Cal <calendar+${T}@example.test>`, undefined, [], null],
  ] as const)('%s', (_label, headers, organizer, expected, pattern) => {
    const found = tokenCauses(message(headers, organizer), ctx);
    expect(found.map((f) => f.id)).toEqual(expected);
    if (pattern) expect(JSON.stringify(found[0])).toMatch(pattern);
  });

  it('calendar only, the reply to the bare calendar address: the fixes agree on where it went', () => {
    const found = tokenCauses(message('To: calendar@example.test', `mailto:calendar+${T}@example.test`), ctx);
    expect(found.map((f) => f.id)).toEqual(['token.only-in-calendar', 'token.to-bare-address']);
    expect(found[0]!.fix).toMatch(/^The reply went to the calendar address without "\+token"/);
    expect(found[0]!.fix).not.toMatch(/organizer's own address/);
    // To another address, it is the client's Reply to From.
    const other = tokenCauses(message('To: organizer@example.test', `mailto:calendar+${T}@example.test`), ctx);
    expect(other[0]!.fix).toMatch(/replied to the invitation's From \(the organizer's own address\)/);
  });

  it('a local part in quotes: the causes say what the server does, the token it logs, not "finds none"', () => {
    // Python 2.7's parseaddr('"calendar+"@example.test') keeps the quotes; _extractToken splits at
    // "@" and "+" and takes '"' as the token (CalendarServer-9.2 inbound.py processReply).
    const quoted = message('To: "calendar+"@example.test');
    expect(classify(quoted, context('9.2', 'imap')).logLine).toMatch(/^Mail gateway found a token \("\) but didn't recognize it/);
    const [f, ...rest] = tokenCauses(quoted, ctx);
    expect([f!.id, ...rest.map((x) => x.id)]).toEqual(['token.malformed']);
    expect(f!.message).toBe(
      'The first To address "calendar+"@example.test has its local part in quotes. The server keeps the quotes, splits the address at "@" and "+", and takes what follows "+" up to and including the closing quote (") as the token: no invitation carries that token, so the server does not recognize it.',
    );
    expect(f!.message).not.toMatch(/finds none|not the server's address/);
    const full = tokenCauses(message(`To: "calendar+${T}"@example.test`), ctx);
    expect(full.map((x) => [x.id, x.evidence['suffix']])).toEqual([['token.malformed', `${T}"`]]);
    // Quoted and bare: the server's own address without a token, as the server finds no "+".
    expect(tokenCauses(message('To: "calendar"@example.test'), ctx).map((x) => x.id)).toEqual(['token.to-bare-address', 'token.absent']);
    // Another address with a "+": the server takes what follows it as the token all the same.
    const other = tokenCauses(message('To: bob+abc@elsewhere.test'), ctx);
    expect(other[0]!.message).toBe('The first To address is bob+abc@elsewhere.test, not the server\'s address. The server does not check the address: it takes what follows its "+" (abc) as the token, which is no token it issues (a lower-case UUID), so it does not recognize it.');
  });

  it('reports in the documented order', () => {
    const order = [...TOKEN_CAUSE_IDS];
    const found = tokenCauses(message('To: someone@elsewhere.test'), ctx).map((f) => order.indexOf(f.id as (typeof order)[number]));
    expect(found).toEqual([...found].sort((a, b) => a - b));
  });
});

describe("extractToken: the server's _extractToken", () => {
  // 2.x-4.x twistedcaldav/mail.py and 5.0+ txdav/caldav/datastore/scheduling/imip/inbound.py:
  //   pre, post = addr.split('@'); pre, token = pre.split('+'); return token
  // Any other count of '@', or of '+' before it, raises ValueError: the server finds no token.
  it.each([
    [`calendar+${T}@example.test`, T],
    ['calendar+abc@example.test', 'abc'],
    ['+abc@example.test', 'abc'],
    ['calendar+abc@example+x.test', 'abc'],
    ['calendar+a.b@example.test', 'a.b'],
    ['calendar@example.test', null],
    ['calendar+@example.test', null],
    ['calendar+a+b@example.test', null],
    ['calendar+abc@example@test', null],
    ['calendar+abc', null],
    ['', null],
  ] as const)('%j → %j', (address, token) => {
    expect(extractToken(address)).toBe(token);
  });
});
