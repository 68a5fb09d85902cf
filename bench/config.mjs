#!/usr/bin/env node
// Cost of reading one large config input, each case in a child process of its own so that its
// peak RSS is its own. Target: any single config input of 10 MB or less in at most 2 s and 200 MB.
//   npm run build && node bench/config.mjs
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const dir = mkdtempSync(join(tmpdir(), 'imip-bench-config-'));
const MB = 1024 * 1024;
const head = '<?xml version="1.0"?><plist><dict><key>Scheduling</key><dict><key>iMIP</key><dict><key>Enabled</key><true/>';
const tail = '</dict></dict></dict></plist>';
const cases = {
  'unknown key of 7 MB': () => `${head}<key>${'K'.repeat(7 * MB)}</key><true/>${tail}`,
  '10,000 keys, 7 MB of entity references': () =>
    `${head}${Array.from({ length: 10_000 }, (_, i) => `<key>k${i}</key><string>${'x&amp;y '.repeat(80)}</string>`).join('\n')}${tail}`,
  '7 MB string value': () => `${head}<key>Sending</key><dict><key>Server</key><string>${'s'.repeat(7 * MB)}</string></dict>${tail}`,
  '10 MB file (refused by size)': () => 'A'.repeat(10 * MB),
};
const bin = new URL('../bin/imip', import.meta.url).pathname;
const rows = [];
for (const [name, make] of Object.entries(cases)) {
  const path = join(dir, 'c.plist');
  writeFileSync(path, make());
  const t = performance.now();
  let out = '';
  try {
    out = execFileSync('/usr/bin/time', ['-f', '%M', process.execPath, bin, 'check-config', '--config', path, '--json'], { encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (e) {
    out = e.stderr ?? '';
  }
  const ms = performance.now() - t;
  const kb = Number(out.trim().split('\n').pop());
  rows.push({ case: name, seconds: (ms / 1000).toFixed(2), peakMB: Number.isFinite(kb) ? (kb / 1024).toFixed(0) : '?' });
}
rmSync(dir, { recursive: true, force: true });
console.table(rows);
