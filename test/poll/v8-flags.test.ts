import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { pollV8Flags } from '../../src/poll/v8-flags.js';

describe('the V8 flags a poll sets once its mailbox is open', () => {
  // V8 does not throw for a flag it does not know: it writes "Error: unrecognized flag" to stderr,
  // which would then open every poll's error output. Run on each Node the suite runs on, this
  // catches a flag a newer V8 has dropped.
  it.each(['imap', 'pop3'] as const)('are all known to this Node (%s): nothing on stderr', (protocol) => {
    const flags = pollV8Flags(protocol);
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
