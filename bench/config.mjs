#!/usr/bin/env node
// Cost of reading one large config input, each case in a child process of its own so that its
// peak RSS is its own, against `node -e 0` (the floor: starting Node at all). Target: any single
// config input of 10 MB or less in at most 2 s and 200 MB.
//   npm run build && node bench/config.mjs              # every case, medians of 3 runs
//   node bench/config.mjs --runs 5 --only stray-keys    # some cases (names as printed)
//   node bench/config.mjs --json
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { benchArgs, namesIn } from './lib/args.mjs';

const MB = 1024 * 1024;
const xml = (body) => `<?xml version="1.0"?>\n<plist version="1.0"><dict>${body}</dict></plist>\n`;
const imip = (body) => `<key>Scheduling</key><dict><key>iMIP</key><dict><key>Enabled</key><true/>${body}</dict></dict>`;
const mailbox =
  '<key>Sending</key><dict><key>Server</key><string>smtp.example.com</string><key>Port</key><integer>587</integer><key>Address</key><string>cal@example.com</string><key>Username</key><string>u</string><key>Password</key><string>pw</string></dict>' +
  '<key>Receiving</key><dict><key>Server</key><string>imap.example.com</string><key>Port</key><integer>993</integer><key>Type</key><string>imap</string><key>UseSSL</key><true/><key>Username</key><string>u</string><key>Password</key><string>pw</string></dict>';
const times = (n, f) => Array.from({ length: n }, (_, i) => f(i)).join('');

// name -> [what, file text, modes]. Every text is at most 8 MiB (the config cap) unless said.
const cases = {
  'stray-keys': [
    '170,000 stray keys under Scheduling.iMIP (7.9 MB)',
    () => xml(imip(times(170_000, (i) => `<key>K${i}&amp;x</key><string>v&#65;</string>`))),
    [['--json'], [], ['--verbose']],
  ],
  'top-keys': ['170,000 keys at the top level', () => xml(imip(mailbox) + times(170_000, (i) => `<key>K${i}&amp;x</key><string>v&#65;</string>`)), [['--json']]],
  'deep-nesting': ['10,000 nested dicts (refused: nesting over 64 levels)', () => xml(`${imip('')}<key>X</key>${'<dict><key>a</key>'.repeat(10_000)}<true/>${'</dict>'.repeat(10_000)}`), [['--json']]],
  'long-password': ['an 8 MB password', () => xml(imip(`<key>Sending</key><dict><key>Server</key><string>s</string><key>Password</key><string>${'p'.repeat(8 * MB - 2000)}</string></dict>`)), [['--json']]],
  'unknown-key': ['an unknown key of 7 MB', () => xml(imip(`<key>${'K'.repeat(7 * MB)}</key><true/>`)), [['--json']]],
  patterns: ['100,000 AddressPatterns', () => xml(imip(`${mailbox}<key>AddressPatterns</key><array>${times(100_000, (i) => `<string>mailto:user${i}@example\\.com</string>`)}</array>`)), [['--json']]],
  'bad-patterns': ['100,000 AddressPatterns that do not compile', () => xml(imip(`${mailbox}<key>AddressPatterns</key><array>${times(100_000, (i) => `<string>(a+)+$${i}[</string>`)}</array>`)), [['--json']]],
  'long-pattern': ['one 7 MB pattern', () => xml(imip(`${mailbox}<key>AddressPatterns</key><array><string>${'(a|b)*c?'.repeat(900_000)}</string></array>`)), [['--json']]],
  includes: ['100,000 Includes, none there', () => xml(`<key>ServerRoot</key><string>/tmp</string><key>ConfigRoot</key><string>/tmp</string>${imip(mailbox)}<key>Includes</key><array>${times(100_000, (i) => `<string>${dir}/missing-${i}.plist</string>`)}</array>`), [['--json'], []]],
  misplaced: ['150,000 misplaced iMIP dicts', () => xml(imip(mailbox) + times(150_000, (i) => `<key>M${i}</key><dict><key>iMIP</key><true/></dict>`)), [['--json']]],
  'small-dicts': ['250,000 small dicts in an array', () => xml(`${imip(mailbox)}<key>A</key><array>${'<dict><key>a</key><true/></dict>'.repeat(250_000)}</array>`), [['--json']]],
  entities: ['10,000 keys, 7 MB of entity references', () => xml(imip(times(10_000, (i) => `<key>k${i}</key><string>${'x&amp;y '.repeat(80)}</string>\n`))), [['--json']]],
  'too-large': ['a 10 MB file (refused by its size)', () => 'A'.repeat(10 * MB), [['--json']]],
};

// After the cases, so that --only is checked against their names; the directory the files go in
// (and `includes` names) is made once the options are known good.
const opts = benchArgs(import.meta.url, { runs: { count: 1 }, only: 'string', json: 'boolean' }, namesIn('only', Object.keys(cases), 'case'));
const RUNS = opts.runs ?? 3;
const ONLY = opts.only?.split(',') ?? null;
const JSON_OUT = Boolean(opts.json);
const dir = mkdtempSync(join(tmpdir(), 'imip-bench-config-'));

const bin = new URL('../bin/imip', import.meta.url).pathname;

/**
 * One process under /usr/bin/time: wall time (our clock) and peak RSS (the kernel's). imip is run
 * as admins run it, bin/imip itself (its launcher starts Node), the floor as `node -e 0`.
 */
function measure(cmd, argv) {
  const t = process.hrtime.bigint();
  const r = spawnSync('/usr/bin/time', ['-f', '@@%M', cmd, ...argv], { encoding: 'utf8', maxBuffer: 1 << 30 });
  const ms = Number(process.hrtime.bigint() - t) / 1e6;
  const kb = Number(/@@(\d+)\s*$/.exec(r.stderr ?? '')?.[1]);
  return { ms, mb: kb / 1024, status: r.status, out: r.stdout.length };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const rows = [];
const floor = { ms: [], mb: [] };
const floorOnce = () => {
  const f = measure(process.execPath, ['-e', '0']);
  floor.ms.push(f.ms);
  floor.mb.push(f.mb);
};
for (const [name, [what, make, modes]] of Object.entries(cases)) {
  if (ONLY && !ONLY.includes(name)) continue;
  const path = join(dir, `${name}.plist`);
  const text = make();
  writeFileSync(path, text);
  for (const mode of modes) {
    const ms = [];
    const mb = [];
    let last;
    for (let i = 0; i < RUNS; i++) {
      last = measure(bin, ['check-config', '--config', path, ...mode]);
      ms.push(last.ms);
      mb.push(last.mb);
      floorOnce(); // alternating, so both see the same machine
    }
    const row = {
      case: name,
      what,
      mode: mode.join(' ') || '(human)',
      bytes: Buffer.byteLength(text),
      exit: last.status,
      outputBytes: last.out,
      seconds: +(median(ms) / 1000).toFixed(2),
      peakMB: Math.round(median(mb)),
    };
    row.within = row.seconds <= 2 && row.peakMB <= 200;
    rows.push(row);
    if (!JSON_OUT) {
      console.log(
        `${`${what}, ${row.mode}`.padEnd(62)} ${String(row.seconds).padStart(5)} s ${String(row.peakMB).padStart(4)} MB  exit ${row.exit}  ${row.within ? 'ok' : 'OVER 2 s / 200 MB'}`,
      );
    }
  }
}
rmSync(dir, { recursive: true, force: true });
const anchor = { what: 'node -e 0', seconds: +(median(floor.ms) / 1000).toFixed(2), peakMB: Math.round(median(floor.mb)) };
if (JSON_OUT) console.log(JSON.stringify({ node: process.version, runs: RUNS, anchor, rows }, null, 2));
else console.log(`${'node -e 0 (the floor), same runs'.padEnd(62)} ${String(anchor.seconds).padStart(5)} s ${String(anchor.peakMB).padStart(4)} MB`);
process.exitCode = rows.every((r) => r.within) ? 0 : 1;
