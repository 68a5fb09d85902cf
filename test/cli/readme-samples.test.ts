/**
 * The sample outputs in the README come from the bundled examples and match what the commands
 * print today. Each sample is a fenced block preceded by `<!-- sample: imip ARGS -->`; the test
 * runs `imip ARGS --no-color` from the repository root and compares. Only what differs between
 * checkouts is normalised: a file's permission bits (git leaves them to the umask).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { BIN } from '../helpers/cli.js';
import { spawnSync } from 'node:child_process';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const README = readFileSync(`${ROOT}README.md`, 'utf8');
const SAMPLES = [...README.matchAll(/<!-- sample: imip (.+?) -->\n```text\n([\s\S]*?)\n```/g)].map((m) => ({ args: m[1]!.split(' '), text: m[2]! }));

const normalise = (s: string): string => s.replace(/mode \d{3}/g, 'mode NNN').replace(/mode=\d{3}/g, 'mode=NNN');

describe('README sample outputs', () => {
  it('there are samples, each from the bundled examples', () => {
    expect(SAMPLES.length).toBeGreaterThanOrEqual(2);
    for (const s of SAMPLES) expect(s.args.some((a) => a.startsWith('examples/'))).toBe(true);
  });

  it.each(SAMPLES.map((s) => [s.args.join(' '), s] as const))('imip %s prints what the README shows', (_name, s) => {
    const r = spawnSync(process.execPath, [BIN, ...s.args, '--no-color'], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, IMIP_CONFIG: '', NO_COLOR: '' } });
    expect(r.stderr).toBe('');
    expect(normalise(r.stdout.replace(/\n$/, ''))).toBe(normalise(s.text));
  });
});
