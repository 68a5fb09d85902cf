// The mail stack started by test/setup/mailstack.global.ts for this test run.
import { inject } from 'vitest';
import type { StackInfo } from '../mailstack/stack.js';
// Brings in the ProvidedContext augmentation (mailstack: StackInfo); type-only, erased at runtime.
import type {} from '../setup/mailstack.global.js';

export type { StackInfo, StackUser } from '../mailstack/stack.js';

export function getStack(): StackInfo {
  const info = inject('mailstack');
  if (!info) throw new Error('no mail stack: is test/setup/mailstack.global.ts in vitest globalSetup?');
  return info;
}
