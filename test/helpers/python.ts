/**
 * CPython as the test oracle for the parsing the server leaves to Python (plistlib,
 * email.utils.parseaddr, email.header.decode_header, re.match). One process per batch: the
 * script reads a JSON list of inputs on stdin and writes one JSON answer per line.
 *
 * `python3` is the oracle CI has. When a Python 2.7 interpreter is also found (`python2.7` on
 * PATH, or `$IMIP_PYTHON2`), it is the stronger oracle: the server runs 2.7, so every case is
 * compared with it, including the cases where Python 3 is known to differ.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

function works(cmd: string, major: number): boolean {
  try {
    const out = execFileSync(cmd, ['-c', 'import sys; print(sys.version_info[0])'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 10_000 });
    return out.trim() === String(major);
  } catch {
    return false;
  }
}

function findPython2(): string | null {
  const candidates = [process.env.IMIP_PYTHON2, 'python2.7', 'python2'].filter((c): c is string => Boolean(c));
  // pyenv keeps versions it does not put on PATH.
  const root = process.env.PYENV_ROOT ?? join(process.env.HOME ?? '/root', '.pyenv');
  try {
    for (const v of readdirSync(join(root, 'versions'))) if (v.startsWith('2.7')) candidates.push(join(root, 'versions', v, 'bin', 'python2.7'));
  } catch {
    /* no pyenv */
  }
  for (const c of candidates) if ((c.includes('/') ? existsSync(c) : true) && works(c, 2)) return c;
  return null;
}

export const PYTHON3: string | null = works('python3', 3) ? 'python3' : null;
export const PYTHON2: string | null = findPython2();
export const NO_PYTHON_REASON = 'python3 is not installed: the differential tests against CPython are skipped (apt-get install python3)';

/** Run `script` with `inputs` as JSON on stdin; one parsed JSON value per input. */
export function runPython<T>(python: string, script: string, inputs: unknown[]): T[] {
  const r = spawnSync(python, ['-c', script], { input: JSON.stringify(inputs), encoding: 'utf8', maxBuffer: 256 * 1024 * 1024, timeout: 120_000 });
  if (r.status !== 0) throw new Error(`${python} failed: ${r.stderr}`);
  const lines = r.stdout.split('\n').filter(Boolean);
  if (lines.length !== inputs.length) throw new Error(`${python} answered ${lines.length} of ${inputs.length} inputs: ${r.stderr}`);
  return lines.map((l) => JSON.parse(l) as T);
}

/** A small seeded generator (mulberry32): the same seed gives the same cases on every run. */
export function rng(seed: number): { next(): number; int(n: number): number; pick<T>(a: readonly T[]): T } {
  let a = seed >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { next, int: (n) => Math.floor(next() * n), pick: (arr) => arr[Math.floor(next() * arr.length)]! };
}
