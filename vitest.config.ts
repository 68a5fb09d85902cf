import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { defineConfig } from 'vitest/config';

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
