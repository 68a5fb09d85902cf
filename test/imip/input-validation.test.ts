/**
 * What the admin types for `send-test`: accepted values and hostile or malformed ones, each
 * refused with a CannotRunError (exit 2) that names the flag and quotes the value.
 */
import { describe, expect, it } from 'vitest';
import { defaultStart, parseDuration, parseStart, validateAddress } from '../../src/imip/input-validation.js';
import { CannotRunError, EXIT_CANNOT_RUN } from '../../src/report/exit.js';

function refusal(fn: () => unknown): CannotRunError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(CannotRunError);
    expect((e as CannotRunError).exitCode).toBe(EXIT_CANNOT_RUN);
    return e as CannotRunError;
  }
  throw new Error('expected a CannotRunError');
}

describe('validateAddress', () => {
  const valid: [string, string][] = [
    ['bob@example.org', 'bob@example.org'],
    ['mailto:bob@example.org', 'bob@example.org'],
    ['MAILTO:Bob@Example.org', 'Bob@Example.org'],
    ['first.last+tag@sub.example.co.uk', 'first.last+tag@sub.example.co.uk'],
    ['"odd@local"@example.org', '"odd@local"@example.org'],
    ['user@[192.0.2.1]', 'user@[192.0.2.1]'],
    ['jörg@bücher.example', 'jörg@bücher.example'],
  ];
  for (const [input, bare] of valid) {
    it(`accepts ${JSON.stringify(input)}`, () => expect(validateAddress('--attendee', input)).toBe(bare));
  }

  const invalid: [string, RegExp][] = [
    ['bob@example.org\r\nBcc: evil@example.com', /line break/],
    ['bob@example.org\n', /line break/],
    ['bob@example.org\r', /line break/],
    ['bob\0@example.org', /NUL/],
    ['bob\x07@example.org', /control character/],
    ['bob.example.org', /no @/],
    ['', /required/],
    ['mailto:', /nothing after mailto/],
    ['a@b@example.org', /more than one @/],
    ['bob@example.org,eve@example.org', /more than one @/],
    ['bob @example.org', /space/],
    ['bob@example.org eve@example.org', /space/],
    ['\tbob@example.org', /space|control/],
    ['<bob@example.org>', /angle brackets/],
    ['Bob <bob@example.org>', /space|angle/],
    ['bob>@example.org', /angle brackets/],
    ['a,b@example.org', /","/],
    ['a;b@example.org', /";"/],
    ['bob:x@example.org', /":"/],
    ['(c)bob@example.org', /"\("/],
    ['"unclosed@example.org', /unclosed quote/],
    ['@example.org', /nothing before the @/],
    ['bob@', /nothing after the @/],
    ['bob@example..org', /valid domain/],
    ['bob@-example.org', /valid domain/],
    ['bob@example.org.', /valid domain/],
    ['bob@exa,mple.org', /domain/],
    ['.bob@example.org', /dot/],
    ['b'.repeat(250) + '@example.org', /longer/],
  ];
  for (const [input, why] of invalid) {
    it(`rejects ${JSON.stringify(input)}`, () => {
      const e = refusal(() => validateAddress('--attendee', input));
      expect(e.message).toMatch(/^--attendee: /);
      expect(e.message).toMatch(why);
      // The message shows control characters escaped, never raw.
      expect(/[\r\n\0]/.test(e.message)).toBe(false);
      if (input) expect(e.message).toContain(JSON.stringify(input));
    });
  }
});

describe('parseStart', () => {
  const ok: [string, string | undefined, string][] = [
    ['2026-03-02T10:00:00Z', undefined, '2026-03-02T10:00:00.000Z'],
    ['2026-03-02T10:00Z', undefined, '2026-03-02T10:00:00.000Z'],
    ['2026-03-02t10:00z', undefined, '2026-03-02T10:00:00.000Z'],
    ['2026-03-02T10:00+01:00', undefined, '2026-03-02T09:00:00.000Z'],
    ['2026-03-02T10:00:30.250-0500', undefined, '2026-03-02T15:00:30.250Z'],
    ['2026-03-02 10:00:00+05:30', undefined, '2026-03-02T04:30:00.000Z'],
    ['  2026-03-02T10:00Z  ', undefined, '2026-03-02T10:00:00.000Z'],
    ['2026-03-02T10:00', 'Europe/Berlin', '2026-03-02T09:00:00.000Z'],
    ['2026-07-02T10:00', 'Europe/Berlin', '2026-07-02T08:00:00.000Z'],
    ['2026-07-02T10:00:00', 'America/New_York', '2026-07-02T14:00:00.000Z'],
    ['2026-07-02T10:00', 'Asia/Kolkata', '2026-07-02T04:30:00.000Z'],
    ['2026-07-02T10:00', 'UTC', '2026-07-02T10:00:00.000Z'],
    // Repeated hour when clocks go back: the first of the two.
    ['2026-10-25T02:30', 'Europe/Berlin', '2026-10-25T00:30:00.000Z'],
    ['2028-02-29T12:00Z', undefined, '2028-02-29T12:00:00.000Z'],
  ];
  for (const [input, tz, iso] of ok) {
    it(`reads ${JSON.stringify(input)}${tz ? ` in ${tz}` : ''}`, () => expect(parseStart(input, tz).toISOString()).toBe(iso));
  }

  it('reads a wall time without offset in the machine zone by default', () => {
    const tz = Intl.DateTimeFormat().resolvedOptions().timeZone;
    expect(parseStart('2026-07-02T10:00').getTime()).toBe(parseStart('2026-07-02T10:00', tz).getTime());
  });

  const bad: [string, string | undefined, RegExp][] = [
    ['2026-03-02', undefined, /date without a time.*2026-03-02T10:00/],
    ['tomorrow', undefined, /not an ISO-8601/],
    ['', undefined, /not an ISO-8601/],
    ['2026-03-02T10', undefined, /not an ISO-8601/],
    ['02.03.2026 10:00', undefined, /not an ISO-8601/],
    ['2026-02-30T10:00Z', undefined, /not a date in the calendar/],
    ['2026-13-01T10:00Z', undefined, /not a date in the calendar/],
    // A date alone that is no date is said to be no date, not given a time to go with it.
    ['2026-13-45', undefined, /not a date in the calendar/],
    ['2026-02-29', undefined, /not a date in the calendar/],
    ['2026-03-02T24:00Z', undefined, /not a time of day/],
    ['2026-03-02T10:60Z', undefined, /not a time of day/],
    ['2026-03-02T10:00+24:00', undefined, /impossible UTC offset/],
    ['2026-03-02T10:00Z\r\nX', undefined, /not an ISO-8601/],
    ['2026-03-29T02:30', 'Europe/Berlin', /does not exist in Europe\/Berlin/],
    ['2026-03-08T02:30', 'America/New_York', /does not exist/],
    ['2026-03-02T10:00', 'Not/AZone', /--time-zone/],
  ];
  for (const [input, tz, why] of bad) {
    it(`rejects ${JSON.stringify(input)}${tz ? ` in ${tz}` : ''}`, () => {
      const e = refusal(() => parseStart(input, tz));
      expect(e.message).toMatch(why);
      if (!/--time-zone/.test(e.message)) {
        expect(e.message).toMatch(/^--start: /);
        expect(e.message).toContain(JSON.stringify(input));
      }
    });
  }
});

describe('parseDuration', () => {
  for (const [input, n] of [
    ['60', 60],
    [' 30 ', 30],
    ['1', 1],
    ['10080', 10080],
    [45, 45],
  ] as const) {
    it(`reads ${JSON.stringify(input)}`, () => expect(parseDuration(input)).toBe(n));
  }
  for (const input of ['0', '-5', '1.5', '1e3', 'abc', '', '60m', '10081', '99999999999999999999', '0x10']) {
    it(`rejects ${JSON.stringify(input)}`, () => {
      const e = refusal(() => parseDuration(input));
      expect(e.message).toMatch(/^--duration: /);
    });
  }
  it('names the 7-day limit', () => expect(refusal(() => parseDuration('10081')).message).toMatch(/7 days/));
  it('says a negative or zero length is too short, not that it is no number', () => {
    expect(refusal(() => parseDuration('-5')).message).toMatch(/must be at least 1 minute/);
    expect(refusal(() => parseDuration('0')).message).toMatch(/must be at least 1 minute/);
  });
});

describe('defaultStart', () => {
  const rows: [string, string, string][] = [
    // 23:30Z on 1 March is already 2 March in Berlin: tomorrow is 3 March.
    ['2026-03-01T23:30:00Z', 'Europe/Berlin', '2026-03-03T09:00:00.000Z'],
    // ...but still 1 March in New York.
    ['2026-03-01T23:30:00Z', 'America/New_York', '2026-03-02T15:00:00.000Z'],
    // Tomorrow is the day clocks go forward: 10:00 CEST.
    ['2026-03-28T12:00:00Z', 'Europe/Berlin', '2026-03-29T08:00:00.000Z'],
    ['2026-07-01T12:00:00Z', 'Asia/Kolkata', '2026-07-02T04:30:00.000Z'],
    ['2026-07-01T12:00:00Z', 'UTC', '2026-07-02T10:00:00.000Z'],
    ['2026-12-31T12:00:00Z', 'Europe/Berlin', '2027-01-01T09:00:00.000Z'],
    ['2028-02-28T12:00:00Z', 'UTC', '2028-02-29T10:00:00.000Z'],
  ];
  for (const [now, tz, iso] of rows) {
    it(`${now} in ${tz} → ${iso}`, () => expect(defaultStart(new Date(now), tz).toISOString()).toBe(iso));
  }
  it('refuses an unknown zone', () => {
    expect(refusal(() => defaultStart(new Date(), 'Europe/Atlantis')).message).toMatch(/Europe\/Atlantis/);
  });
});
