/**
 * The commands that connect change V8 flags on the way (the resolve stage's IPv6 test,
 * src/net/connect.ts; the poll's heap flags, src/poll/heap.ts). V8 refuses a code cache made
 * under other flags, so each change must come back, or come after the last file is loaded:
 * otherwise every file loaded later compiles from source, and the command is slower for it.
 * The poll is the command that loads most of its files after it has connected (the connection
 * tests load theirs before their first lookup, so they could not show a flag left off).
 */
import { describe, expect, it } from 'vitest';
import { cacheCounter, countedCaches } from '../helpers/cache-counter.js';
import { runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/plist.js';
import { getStack } from '../helpers/stack.js';
import { writeStackConfig } from '../helpers/stack-config.js';

const counted = async (args: string[]): Promise<{ code: number | null; cached: number; rejected: number }> => {
  const r = await runCli([...args, '--config', writeStackConfig(), '--ca-file', getStack().ca], { nodeArgs: ['-r', cacheCounter()], env: { IMIP_CODE_CACHE: undefined } });
  return { code: r.code, ...countedCaches(r.stderr) };
};

describe('the compiled code the build ships, in the commands that connect', () => {
  it('is taken for every file poll --once loads, before and after it connects', async () => {
    const seen = await counted(['poll', '--once', '--json', '--state-dir', tempDir()]);
    expect([0, 1]).toContain(seen.code);
    expect(seen.rejected).toBe(0);
    expect(seen.cached).toBeGreaterThan(30);
  });
});
