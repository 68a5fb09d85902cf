import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { LONG_POLL_MESSAGES, NEWEST_CHECKED_V8, pollV8Flags, v8AtMost } from '../../src/poll/v8-flags.js';

describe('the V8 flags a poll sets once its mailbox is open', () => {
  // V8 does not throw for a flag it does not know: it writes "Error: unrecognized flag" to stderr,
  // which would then open every poll's error output. Run on each Node the suite runs on, this
  // catches a flag a newer V8 has dropped. A mailbox past LONG_POLL_MESSAGES, so that every flag
  // a poll over the protocol can set is among them.
  it.each(['imap', 'pop3'] as const)('are all known to this Node (%s): nothing on stderr', (protocol) => {
    const flags = pollV8Flags(protocol, process.versions.v8, LONG_POLL_MESSAGES + 1);
    const script = `const v8 = require('node:v8'); for (const f of ${JSON.stringify(flags)}) v8.setFlagsFromString(f);`;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 20_000 });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
});

describe("freeing Maglev's compile jobs on the main thread", () => {
  // Node 24 (V8 13.6) peaks about 18 MB lower with it; Node 20's V8 (11.3) does not know the flag,
  // so setting it there would print V8's complaint in every poll.
  it.each([
    ['11.3.244.8-node.38', false],
    ['12.3.219.16', false],
    ['12.4.254.21-node.57', true],
    ['13.6.233.17-node.53', true],
    ['14.0.1', true],
  ])('V8 %s: set %s', (version, expected) => {
    for (const protocol of ['imap', 'pop3'] as const) {
      expect(pollV8Flags(protocol, version).includes('--no-maglev-destroy-on-background')).toBe(expected);
    }
  });
});

describe('marking at half the old generation limit on long IMAP polls', () => {
  // A poll of more than LONG_POLL_MESSAGES small replies reaches V8's full collections, and the
  // old generation then peaks near its limit: on 30,000 replies about 2 MB higher than with
  // marking started at half of it. A shorter poll usually ends before its first full collection:
  // it keeps V8's schedule (starting marking earlier cost a 1,000-message poll about 3% more time).
  it.each([
    ['imap', 0, false],
    ['imap', LONG_POLL_MESSAGES, false],
    ['imap', LONG_POLL_MESSAGES + 1, true],
    ['imap', 30_000, true],
    ['pop3', 30_000, false],
  ] as const)('%s, %i messages in the mailbox: set %s', (protocol, messages, expected) => {
    for (const version of ['11.3.244.8-node.38', '13.6.233.17-node.53']) {
      expect(pollV8Flags(protocol, version, messages).includes('--incremental-marking-hard-trigger=50')).toBe(expected);
    }
  });
});

describe("young collections during a full collection's marking", () => {
  // Node 24's V8 keeps them apart by default and grows the young generation past its size while
  // it marks (11 to 18 MB instead of 8 at each full collection); Node 20 and 22 already interleave.
  it.each(['11.3.244.8-node.38', '12.4.254.21-node.57', '13.6.233.17-node.53'])('V8 %s: set for both protocols', (version) => {
    for (const protocol of ['imap', 'pop3'] as const) expect(pollV8Flags(protocol, version)).toContain('--no-separate-gc-phases');
  });
  // V8 14 dropped the flag: Node 25 (14.1) and Node 26 (14.6) print "Error: unrecognized flag
  // --no-separate-gc-phases" for it. The other flags are still known there.
  it.each(['14.1.146.11-node.25', '14.6.202.34-node.34'])('V8 %s: not set, the others are', (version) => {
    for (const protocol of ['imap', 'pop3'] as const) {
      const flags = pollV8Flags(protocol, version, LONG_POLL_MESSAGES + 1);
      expect(flags).not.toContain('--no-separate-gc-phases');
      expect(flags).toEqual(expect.arrayContaining(['--semi-space-growth-factor=1', '--heap-growing-percent=10', '--no-parallel-scavenge', '--no-maglev-destroy-on-background']));
    }
  });
});

describe('full collections without incremental marking on V8 14, IMAP only', () => {
  // V8 14 keeps young collections waiting while it marks, and the young generation grew by 11 to
  // 15 MB during each marking cycle of an IMAP poll on Node 26 (src/poll/v8-flags.ts). Over POP3,
  // whose poll streams whole messages, the peak was higher without incremental marking: V8's stays.
  it.each([
    ['14.1.146.11-node.25', 'imap', true],
    ['14.6.202.34-node.34', 'imap', true],
    ['14.6.202.34-node.34', 'pop3', false],
    ['13.6.233.17-node.53', 'imap', false],
    ['11.3.244.8-node.38', 'imap', false],
  ] as const)('V8 %s, %s: set %s', (version, protocol, expected) => {
    for (const messages of [0, 1_000, LONG_POLL_MESSAGES + 1]) {
      const flags = pollV8Flags(protocol, version, messages);
      expect(flags.includes('--no-incremental-marking')).toBe(expected);
      // The hard trigger only decides when incremental marking starts: never with it off.
      if (expected) expect(flags).not.toContain('--incremental-marking-hard-trigger=50');
    }
  });
});

describe('a V8 newer than the flags were checked on', () => {
  // Any flag may be gone there, and each one gone would print two lines on stderr in every poll
  // (a cron job mails them): none is set until they are checked on it.
  it.each(['14.7.1', '15.0.0-node.1', 'unknown'])('V8 %s: no flags, for either protocol', (version) => {
    for (const protocol of ['imap', 'pop3'] as const) expect(pollV8Flags(protocol, version, LONG_POLL_MESSAGES + 1)).toEqual([]);
  });
  it(`the newest checked, ${NEWEST_CHECKED_V8.join('.')}, still gets them`, () => {
    expect(pollV8Flags('imap', `${NEWEST_CHECKED_V8.join('.')}.1`)).toContain('--semi-space-growth-factor=1');
  });
  it('compares major, then minor', () => {
    expect(v8AtMost('13.9.1', 14, 6)).toBe(true);
    expect(v8AtMost('14.6.999', 14, 6)).toBe(true);
    expect(v8AtMost('14.10.0', 14, 6)).toBe(false);
    expect(v8AtMost('15.0.0', 14, 6)).toBe(false);
  });
});
