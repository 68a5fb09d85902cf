/**
 * Counts, in a run of the CLI, the scripts V8 compiled with the code the build ships and those
 * whose code it refused (src/code-cache.ts), and names the first: preload the file with `-r`, read
 * the stderr.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './plist.js';

/** The file to preload with -r. */
export function cacheCounter(): string {
  const file = join(tempDir(), 'count-caches.cjs');
  writeFileSync(
    file,
    `const vm = require('node:vm');
const Script = vm.Script;
const seen = { cached: 0, rejected: 0 };
const files = [];
vm.Script = class extends Script {
  constructor(source, options) {
    super(source, options);
    if (options && options.cachedData) {
      this.cachedDataRejected ? seen.rejected++ : seen.cached++;
      if (!this.cachedDataRejected) files.push(options.filename);
    }
  }
};
process.on('exit', () => process.stderr.write('CACHES ' + JSON.stringify(seen) + '\\nCACHED FILES ' + JSON.stringify(files) + '\\n'));
`,
  );
  return file;
}

/** What the preloaded counter saw. */
export const countedCaches = (stderr: string): { cached: number; rejected: number } => JSON.parse(/CACHES (.*)/.exec(stderr)![1]!);

/** The files V8 compiled with the cache they were given. */
export const cachedFiles = (stderr: string): string[] => JSON.parse(/CACHED FILES (.*)/.exec(stderr)![1]!);
