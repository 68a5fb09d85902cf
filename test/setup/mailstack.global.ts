// vitest globalSetup: one real mail stack (Postfix + Dovecot on 127.0.0.1) per
// test run, in a fresh /tmp/ims.XXXXXX ($MAILSTACK_TMPDIR instead of /tmp if
// set, e.g. /dev/shm), with a port offset derived from the pid so two runs can
// coexist. Tests get it with getStack() from test/helpers/stack.ts.
// MAILSTACK_KEEP=1 keeps the state dir (logs, mail) after the run.
import { mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { checkStack, freePortOffset, stackTmpDir, startStack, stopStack, type StackInfo } from '../mailstack/stack.js';

declare module 'vitest' {
  export interface ProvidedContext {
    mailstack: StackInfo;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const missing = await checkStack();
  if (missing !== null) {
    // One line naming what is missing, not vitest's stack of an unhandled error.
    process.stderr.write(`imip tests: ${missing}\n`);
    process.exit(1);
  }
  // Port offset 20000 + (pid % 40) * 100 (20000..23900: the highest port,
  // 2525 + 23900, stays below the ephemeral range). If another run or anything
  // else holds those ports, take the next free slot; retry if we lose a race.
  let info: StackInfo | undefined;
  let slot = process.pid % 40;
  for (let attempt = 0; ; attempt++) {
    const offset = await freePortOffset(20000, slot);
    const dir = mkdtempSync(path.join(stackTmpDir(), 'ims.'));
    try {
      info = await startStack({ dir, portOffset: offset });
      break;
    } catch (e) {
      if (attempt >= 3 || !/Address already in use/i.test(String(e))) throw e;
      await rm(dir, { recursive: true, force: true }).catch(() => undefined);
      slot = (offset - 20000) / 100 + 1;
    }
  }
  const started = info;
  project.provide('mailstack', started);
  return async () => {
    // MAILSTACK_KEEP=1 keeps the state dir (logs, mail) for a post-mortem.
    await stopStack(started, { remove: process.env.MAILSTACK_KEEP !== '1' });
  };
}
