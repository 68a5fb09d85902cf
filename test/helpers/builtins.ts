/**
 * Which of Node's own modules a run loads beyond Node's start-up, from Node's record of every
 * module it loaded (`process.moduleLoadList`), wherever from: require, import or
 * process.getBuiltinModule.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './plist.js';

/** A file to preload (`node -r HOOK …`) and, once that process has exited, what it loaded ("NativeModule tty", …). */
export function builtinRecorder(): { hook: string; loaded: () => string[] } {
  const log = join(tempDir(), 'builtins');
  const hook = join(tempDir(), 'hook.cjs');
  writeFileSync(
    hook,
    `const fs = require('node:fs'); const before = new Set(process.moduleLoadList);
process.on('exit', () => fs.writeFileSync(${JSON.stringify(log)}, process.moduleLoadList.filter((m) => !before.has(m)).join('\\n')));`,
  );
  return { hook, loaded: () => readFileSync(log, 'utf8').split('\n').filter(Boolean) };
}
