/**
 * The suite's own hygiene (vitest.config.ts): the temporary directories tests make, and those of
 * the commands they run, go under one directory per run, which vitest removes when it exits.
 * Each run used to leave some 30,000 directories in /tmp.
 */
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { dirname } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from './helpers/plist.js';

describe('scratch files', () => {
  it('go under the run\'s own directory, for the tests and for the processes they start', () => {
    const scratch = process.env.IMIP_TEST_SCRATCH;
    expect(scratch).toMatch(/\/imip-tests-[^/]+$/);
    expect(tmpdir()).toBe(scratch);
    expect(dirname(tempDir())).toBe(scratch);
    expect(execFileSync(process.execPath, ['-e', 'process.stdout.write(require("node:os").tmpdir())'], { encoding: 'utf8' })).toBe(scratch);
  });
});
