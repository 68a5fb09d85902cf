import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defineConfig } from 'vitest/config';

// Scratch files: every temporary directory the tests make (configs, logs, state files, the
// commands' own files) goes under one directory for the run, removed when vitest exits, however
// the run ends. Set as TMPDIR here, in the process that starts the test workers, so that they,
// and the commands they run, inherit it. Without it each run left some 30,000 directories in
// /tmp. IMIP_TEST_KEEP=1 keeps it (and prints where) for a post-mortem. The mail stack and the
// PostgreSQL server keep their own short paths under /tmp (unix socket paths), removed by their
// own teardown.
if (!process.env.IMIP_TEST_SCRATCH) {
  const scratch = mkdtempSync(join(tmpdir(), 'imip-tests-'));
  // Traversable by everyone, as /tmp is: a test may hand a file to a process of another user.
  chmodSync(scratch, 0o755);
  process.env.IMIP_TEST_SCRATCH = scratch;
  process.env.TMPDIR = scratch;
  process.on('exit', () => {
    if (process.env.IMIP_TEST_KEEP === '1') process.stderr.write(`imip tests: scratch files kept in ${scratch}\n`);
    else rmSync(scratch, { recursive: true, force: true });
  });
}

// Two projects. `unit`: everything that needs no server of its own; runs anywhere, as any user
// (`npm run test:unit`). `integration`: the files that use the real mail stack (or another real
// server the suite starts), found by what they import; its globalSetup starts Postfix + Dovecot.
const STACK_IMPORT = /from '[./]*(?:helpers\/stack|mailstack\/stack|helpers\/postgres)\.js'/;

function testFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return testFiles(p);
    return e.name.endsWith('.test.ts') ? [p] : [];
  });
}

const integration = testFiles('test').filter((f) => STACK_IMPORT.test(readFileSync(f, 'utf8')));

export default defineConfig({
  test: {
    testTimeout: 30000,
    hookTimeout: 60000,
    // The server host's time zone is read from TZ (src/server/host-zone.ts): one zone for every
    // machine the suite runs on; tests that need another set it themselves.
    env: { TZ: 'UTC' },
    projects: [
      { extends: true, test: { name: 'unit', include: ['test/**/*.test.ts'], exclude: integration } },
      { extends: true, test: { name: 'integration', include: integration, globalSetup: ['test/setup/mailstack.global.ts'] } },
    ],
  },
});
