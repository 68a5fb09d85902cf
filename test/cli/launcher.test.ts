/**
 * bin/imip run as a program, as admins run it (`imip ...`, or the npm link to it): a shell
 * script that starts Node with V8's background thread pool sized to the processors this process
 * may use (`--v8-pool-size=0`: Node's own estimate, less one, at least one), and a JavaScript file
 * that Node runs. The rest of the suite starts it as `node bin/imip`, which skips the shell part.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, lstatSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { BIN } from '../helpers/cli.js';
import { checkPrometheus, sample } from '../helpers/monitoring.js';
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

  it('with --json and no node: the document a run that could not start writes, the PATH in it exactly', () => {
    const empty = tempDir();
    // A PATH entry with a quote and a backslash (the JSON must escape them) that holds no node.
    const odd = join(tempDir(), 'a"b\\c');
    for (const [args, command] of [[['poll', '--once', '--json'], 'poll'], [['check-config', '--format', 'json'], 'check-config'], [['--json'], 'imip'], [['nosuch', '--json', 'poll'], 'imip']] as const) {
      const path = `${empty}:${odd}`;
      const r = spawnSync(BIN, [...args], { env: { PATH: path }, encoding: 'utf8' });
      expect(r.status).toBe(2);
      const error = `cannot start: no node (Node.js 20.19 or later) on PATH (${path})`;
      expect(r.stderr).toBe(`imip: ${error}\n`);
      expect(JSON.parse(r.stdout)).toEqual({ command, ok: false, exitCode: 2, error });
    }
    // The launcher knows imip's commands by name, as the program does: every one its help lists.
    const help = spawnSync(process.execPath, [BIN, '--help'], { encoding: 'utf8' }).stdout;
    const names = [...help.slice(help.indexOf('Commands:')).matchAll(/^ {2}([a-z][a-z-]+) /gm)].map((m) => m[1]!).filter((n) => n !== 'help');
    expect(names).toContain('tokens');
    for (const name of names) {
      const r = spawnSync(BIN, ['--json', name], { env: { PATH: empty }, encoding: 'utf8' });
      expect(JSON.parse(r.stdout).command, name).toBe(name);
    }
    // The program's own document for a run stopped before it began has the same fields.
    const own = spawnSync(process.execPath, [BIN, 'poll', '--json', '--no-such-flag'], { encoding: 'utf8' });
    expect(Object.keys(JSON.parse(own.stdout))).toEqual(['command', 'ok', 'exitCode', 'error']);
  });

  it('with --format prometheus and no node: imip_up 0 for the command, on stdout or in the --output file, the last success kept', () => {
    const empty = tempDir();
    const said = `imip: cannot start: no node (Node.js 20.19 or later) on PATH (${empty})\n`;
    const out = spawnSync(BIN, ['poll', '--once', '--format', 'prometheus'], { env: { PATH: empty }, encoding: 'utf8' });
    expect(out.status).toBe(2);
    expect(out.stderr).toBe(said);
    const families = checkPrometheus(out.stdout);
    expect(sample(families, 'imip_up', { command: 'poll' })).toBe(0);
    expect(sample(families, 'imip_findings', { command: 'poll', severity: 'error' })).toBe(0);
    expect(families.map((f) => f.name)).not.toContain('imip_last_success_timestamp_seconds');

    // The file a textfile collector reads: as imip writes it when it cannot run (the same families,
    // the last success of this command carried over), not left saying that the last run passed.
    const dir = tempDir();
    const file = join(dir, 'imip_poll.prom');
    writeFileSync(file, 'imip_up{command="poll"} 1\nimip_last_success_timestamp_seconds{command="tokens"} 17\nimip_last_success_timestamp_seconds{command="poll"} 1765000000.5\n');
    // Without mv on PATH (written in place) and with it (a temporary file renamed over it).
    const withMv = tempDir();
    symlinkSync(spawnSync('sh', ['-c', 'command -v mv'], { encoding: 'utf8' }).stdout.trim(), join(withMv, 'mv'));
    for (const path of [empty, withMv]) {
      const r = spawnSync(BIN, ['poll', '--once', '--format=prometheus', `--output=${file}`], { env: { PATH: path }, encoding: 'utf8' });
      expect(r.status).toBe(2);
      expect(r.stdout).toBe('');
      const written = checkPrometheus(readFileSync(file, 'utf8'));
      expect(sample(written, 'imip_up', { command: 'poll' })).toBe(0);
      expect(sample(written, 'imip_last_success_timestamp_seconds', { command: 'poll' })).toBe(1765000000.5);
      expect(written.find((f) => f.name === 'imip_last_success_timestamp_seconds')!.metrics).toHaveLength(1);
      expect(readdirSync(dir)).toEqual(['imip_poll.prom']);
    }
    // The same text as the program writes for a run it could not make (but its duration).
    const own = spawnSync(process.execPath, [BIN, 'poll', '--once', '--format', 'prometheus', '--config', join(empty, 'missing.plist')], { encoding: 'utf8' });
    expect(out.stdout).toBe(own.stdout.replace(/^(imip_run_duration_seconds\{command="poll"\}) \S+$/m, '$1 0'));

    const unwritable = spawnSync(BIN, ['check-config', '--format', 'prometheus', '--output', join(dir, 'no-such-dir', 'x.prom')], { env: { PATH: empty }, encoding: 'utf8' });
    expect(unwritable.status).toBe(2);
    expect(unwritable.stderr).toBe(`${said}imip: --output ${join(dir, 'no-such-dir', 'x.prom')}: cannot write it\n`);
    // A flag where the file name belongs is no file name (as for the program): stdout, no file "--bogus".
    const flag = spawnSync(BIN, ['check-config', '--format', 'prometheus', '--output', '--bogus'], { env: { PATH: empty }, cwd: dir, encoding: 'utf8' });
    expect(flag.status).toBe(2);
    expect(sample(checkPrometheus(flag.stdout), 'imip_up', { command: 'check-config' })).toBe(0);
    expect(readdirSync(dir)).toEqual(['imip_poll.prom']);
    // Only a regular file is replaced by a rename: a symbolic link keeps pointing at its file, a
    // named pipe is written to (and not read for the last success: that would wait for a writer).
    const real = join(dir, 'real.prom');
    const link = join(dir, 'link.prom');
    writeFileSync(real, 'imip_up{command="poll"} 1\n');
    symlinkSync('real.prom', link);
    const fifo = join(dir, 'imip.fifo');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    const withCat = tempDir();
    symlinkSync(spawnSync('sh', ['-c', 'command -v cat'], { encoding: 'utf8' }).stdout.trim(), join(withCat, 'cat'));
    for (const path of [empty, withMv]) {
      const viaLink = spawnSync(BIN, ['poll', '--format', 'prometheus', '--output', link], { env: { PATH: path }, encoding: 'utf8' });
      expect(viaLink.status).toBe(2);
      expect(lstatSync(link).isSymbolicLink()).toBe(true);
      expect(sample(checkPrometheus(readFileSync(real, 'utf8')), 'imip_up', { command: 'poll' })).toBe(0);
      const reader = spawnSync('/bin/sh', ['-c', `cat "$1" & ${JSON.stringify(BIN)} poll --format prometheus --output "$1"; wait`, 'sh', fifo], { env: { PATH: `${path}:${withCat}` }, encoding: 'utf8', timeout: 20_000 });
      expect(lstatSync(fifo).isFIFO()).toBe(true);
      expect(reader.stdout).toMatch(/^imip_up\{command="poll"\} 0$/m);
    }
    expect(readdirSync(dir).sort()).toEqual(['imip.fifo', 'imip_poll.prom', 'link.prom', 'real.prom']);
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
