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
