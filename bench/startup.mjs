#!/usr/bin/env node
// Startup cost of the CLI: `imip --version` and `imip --help` against `node -e 0`, the floor.
// Usage: node bench/startup.mjs [runs]   (default 30). Prints medians in milliseconds.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const runs = Number(process.argv[2] ?? 30);
const bin = fileURLToPath(new URL('../bin/imip', import.meta.url));
const cases = {
  'node -e 0': [process.execPath, ['-e', '0']],
  // bin/imip run itself, as admins start it (its shell lines, then Node).
  'imip --version': [bin, ['--version']],
  'imip --help': [bin, ['--help']],
};

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

const results = {};
for (const [name, [cmd, args]] of Object.entries(cases)) {
  spawnSync(cmd, args); // warm-up
  const times = [];
  for (let i = 0; i < runs; i++) {
    const t = process.hrtime.bigint();
    const r = spawnSync(cmd, args, { stdio: 'ignore' });
    if (r.status !== 0) throw new Error(`${name} exited ${r.status}`);
    times.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  results[name] = { medianMs: +median(times).toFixed(1), minMs: +Math.min(...times).toFixed(1), maxMs: +Math.max(...times).toFixed(1) };
}
const floor = results['node -e 0'].medianMs;
for (const [name, r] of Object.entries(results)) {
  console.log(`${name.padEnd(16)} median ${String(r.medianMs).padStart(6)} ms  (min ${r.minMs}, max ${r.maxMs})  ${name === 'node -e 0' ? '' : `+${(r.medianMs - floor).toFixed(1)} ms over node`}`);
}
