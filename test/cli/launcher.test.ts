/**
 * bin/imip run as a program, as admins run it (`imip ...`, or the npm link to it): a shell
 * script that starts Node with a pool of V8 background threads sized to the machine (one fewer
 * than its processors, 1 to 4), and a JavaScript file that Node runs. The rest of the suite starts
 * it as `node bin/imip`, which skips the shell part.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { BIN } from '../helpers/cli.js';
import { tempDir } from '../helpers/plist.js';

const EXAMPLE = fileURLToPath(new URL('../../examples/caldavd.plist', import.meta.url));

function script(dir: string, name: string, body: string): void {
  const file = join(dir, name);
  writeFileSync(file, `#!/bin/sh\n${body}\n`);
  chmodSync(file, 0o755);
}

/**
 * What the launcher hands to `node`: a stand-in `node` prints its arguments one a line, and a
 * stand-in `getconf` reports `processors` (or fails, with null). Only those two are on PATH.
 */
function launch(processors: string | null, args: string[], env: Record<string, string> = {}): string[] {
  const dir = tempDir();
  script(dir, 'node', `printf '%s\\n' "$@"`);
  script(dir, 'getconf', processors === null ? 'exit 1' : `[ "$1" = _NPROCESSORS_ONLN ] && echo ${processors}`);
  const r = spawnSync(BIN, args, { env: { PATH: dir, ...env }, encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout.split('\n').slice(0, -1);
}

describe('bin/imip run as a program', () => {
  it('starts Node with one V8 background thread fewer than the processors, from 1 to 4', () => {
    const pool = (processors: string | null) => launch(processors, ['--version'])[0];
    expect(pool('1')).toBe('--v8-pool-size=1');
    expect(pool('2')).toBe('--v8-pool-size=1');
    expect(pool('3')).toBe('--v8-pool-size=2');
    expect(pool('4')).toBe('--v8-pool-size=3');
    expect(pool('5')).toBe('--v8-pool-size=4');
    expect(pool('64')).toBe('--v8-pool-size=4');
    // Processors unknown (no getconf, or no number from it): taken as 2.
    expect(pool(null)).toBe('--v8-pool-size=1');
    expect(pool('undefined')).toBe('--v8-pool-size=1');
  });

  it('hands Node the program and every argument unchanged', () => {
    expect(launch('2', ['poll', '--once', '--set', 'Receiving.Server=a b', '', '*', '$HOME'])).toEqual([
      '--v8-pool-size=1',
      BIN,
      'poll',
      '--once',
      '--set',
      'Receiving.Server=a b',
      '',
      '*',
      '$HOME',
    ]);
  });

  it('leaves a --v8-pool-size given in NODE_OPTIONS to apply', () => {
    expect(launch('2', ['--version'], { NODE_OPTIONS: '--max-old-space-size=512 --v8-pool-size=8' })).toEqual([BIN, '--version']);
  });

  it('runs the program on the real Node with that pool: the same report as `node bin/imip`', () => {
    const dir = tempDir();
    const seen = join(dir, 'exec-argv');
    const probe = join(dir, 'probe.cjs');
    writeFileSync(probe, `require('node:fs').writeFileSync(${JSON.stringify(seen)}, JSON.stringify(process.execArgv));\n`);
    const env = { ...process.env, PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}`, NO_COLOR: '1', IMIP_CONFIG: '' };
    const direct = spawnSync(BIN, ['check-config', '--json', EXAMPLE], { env: { ...env, NODE_OPTIONS: `--require ${probe}` }, encoding: 'utf8' });
    const viaNode = spawnSync(process.execPath, [BIN, 'check-config', '--json', EXAMPLE], { env, encoding: 'utf8' });
    expect(direct.status).toBe(1);
    expect(direct.stdout).toBe(viaNode.stdout);
    expect(direct.stderr).toBe(viaNode.stderr);
    const processors = Number(spawnSync('getconf', ['_NPROCESSORS_ONLN'], { encoding: 'utf8' }).stdout) || 2;
    const expected = Math.min(4, Math.max(1, processors - 1));
    expect(JSON.parse(readFileSync(seen, 'utf8'))).toEqual([`--v8-pool-size=${expected}`]);
  });
});
