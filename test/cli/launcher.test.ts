/**
 * bin/imip run as a program, as admins run it (`imip ...`, or the npm link to it): a shell
 * script that starts Node with V8's background thread pool sized to the processors this process
 * may use (`--v8-pool-size=0`: Node's own estimate, less one, at least one), and a JavaScript file
 * that Node runs. The rest of the suite starts it as `node bin/imip`, which skips the shell part.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { BIN } from '../helpers/cli.js';
import { tempDir } from '../helpers/plist.js';

const EXAMPLE = fileURLToPath(new URL('../../examples/caldavd.plist', import.meta.url));

/** What the launcher hands to `node`: a stand-in `node`, alone on PATH, prints its arguments one a line. */
function launch(args: string[], env: Record<string, string> = {}): string[] {
  const dir = tempDir();
  writeFileSync(join(dir, 'node'), `#!/bin/sh\nprintf '%s\\n' "$@"\n`);
  chmodSync(join(dir, 'node'), 0o755);
  const r = spawnSync(BIN, args, { env: { PATH: dir, ...env }, encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout.split('\n').slice(0, -1);
}

describe('bin/imip run as a program', () => {
  it('starts Node with the V8 thread pool sized to the machine, then the program with every argument unchanged', () => {
    expect(launch(['poll', '--once', '--set', 'Receiving.Server=a b', '', '*', '$HOME'])).toEqual([
      '--v8-pool-size=0',
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
    expect(launch(['--version'], { NODE_OPTIONS: '--max-old-space-size=512 --v8-pool-size=8' })).toEqual([BIN, '--version']);
    expect(launch(['--version'], { NODE_OPTIONS: '--max-old-space-size=512' })).toEqual(['--v8-pool-size=0', BIN, '--version']);
  });

  it('says that no node is on PATH, and which PATH, and exits 2 (could not run); UNKNOWN with --format nagios', () => {
    const empty = tempDir();
    const r = spawnSync(BIN, ['poll', '--once'], { env: { PATH: empty }, encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`imip: cannot start: no node (Node.js 20.19 or later) on PATH (${empty})\n`);
    // A monitoring check: UNKNOWN on stdout, exit 3, as imip itself says of a run it could not
    // make (src/report/nagios.ts): the shell's line starts as the program's does.
    const own = spawnSync(process.execPath, [BIN, 'poll', '--once', '--format', 'nagios', '--config', join(empty, 'missing.plist')], { encoding: 'utf8' });
    expect(own.status).toBe(3);
    expect(own.stdout).toMatch(/^IMIP UNKNOWN - /);
    for (const format of [['--format', 'nagios'], ['--format=nagios']]) {
      const n = spawnSync(BIN, ['poll', '--once', ...format], { env: { PATH: empty }, encoding: 'utf8' });
      expect(n.status).toBe(3);
      expect(n.stdout).toBe(`IMIP UNKNOWN - cannot start: no node (Node.js 20.19 or later) on PATH (${empty})\n`);
    }
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
    expect(JSON.parse(readFileSync(seen, 'utf8'))).toEqual(['--v8-pool-size=0']);
  });
});
