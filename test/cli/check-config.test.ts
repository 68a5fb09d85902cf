/** `imip check-config` run as a person runs it: exit codes, JSON, human output, bad input. */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, lstatSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BIN, runCli, jsonOf } from '../helpers/cli.js';
import { baseConfig, tempDir, withChange, writePlist } from '../helpers/plist.js';

const EXAMPLE = new URL('../../examples/caldavd.plist', import.meta.url).pathname;

describe('imip check-config', () => {
  it('--json on a config that cannot be read: exit 2, and a document on stdout that says so', async () => {
    const dir = tempDir();
    const bad = join(dir, 'caldavd.plist');
    writeFileSync(bad, '<?xml version="1.0"?>\n<plist version="1.0">\n<dict>\n<key>A</key>\n</dic>\n</plist>\n');
    const r = await runCli(['check-config', '--config', bad, '--json']);
    expect(r.code).toBe(2);
    expect(JSON.parse(r.stdout)).toEqual({ command: 'check-config', ok: false, exitCode: 2, error: expect.stringMatching(/not a valid XML plist/) });
    expect(r.stderr).toMatch(/^imip: .*not a valid XML plist/);
  });

  it('--verbose lists the keys the server reads: Type says how it is read, a password only whether it is set', async () => {
    const r = await runCli(['check-config', '--config', EXAMPLE, '--verbose']);
    expect(r.stdout).toMatch(/Scheduling\.iMIP\.Receiving\.Type = "imap" {2}\(.*caldavd\.plist:\d+; read as IMAP\)/);
    expect(r.stdout).not.toMatch(/Receiving\.Protocol/);
    expect(r.stdout).toMatch(/Scheduling\.iMIP\.Receiving\.Password = \(set\) {2}\(/);
  });

  it('exits 0 on a clean config and says so', async () => {
    const path = writePlist(tempDir(), 'caldavd.plist', baseConfig('9.2'));
    const r = await runCli(['check-config', '--config', path]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/0 errors, 0 warnings/);
    expect(r.stderr).toBe('');
  });

  it('exits 1 on the bundled example and names both mistakes with their fixes', async () => {
    const r = await runCli(['check-config', '--config', EXAMPLE]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/sending\.implicit-tls-port/);
    expect(r.stdout).toMatch(/fix: Use the submission port 587/);
    expect(r.stdout).toMatch(/did you mean SuppressionDays\?/);
    expect(r.stdout).toMatch(/Judging as Calendar Server 9\.2 \(5\.0\+\)/);
  });

  it('cuts a 1 MB key name and a 1 MB pattern wherever they are echoed, and says so', async () => {
    const dir = tempDir();
    let cfg = withChange(baseConfig('9.2'), `Scheduling.iMIP.${'K'.repeat(1_000_000)}`, 'v');
    cfg = withChange(cfg, 'Scheduling.iMIP.AddressPatterns', ['a'.repeat(1_000_000)]);
    const path = writePlist(dir, 'caldavd.plist', cfg);
    const r = await runCli(['check-config', '--config', path, '--server-version', '9.2', '--json']);
    const long: string[] = [];
    const walk = (v: unknown, at: string): void => {
      if (typeof v === 'string') {
        if (v.length > 2100) long.push(`${at}: ${v.length}`);
      } else if (Array.isArray(v)) v.forEach((x, i) => walk(x, `${at}[${i}]`));
      else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) walk(x, `${at}.${k}`);
    };
    walk(jsonOf(r), '');
    expect(long).toEqual([]);
    expect(r.stdout).toMatch(/\[cut: 1000000 characters, first 2000 shown\]/);
    const human = await runCli(['check-config', '--config', path, '--server-version', '9.2', '--verbose']);
    expect(human.stdout.length).toBeLessThan(50_000);
  });

  it('lists at most 1,000 files in the JSON document and counts the rest', async () => {
    const dir = tempDir();
    const includes = Array.from({ length: 2500 }, (_, i) => join(dir, `missing-${i}.plist`));
    const path = writePlist(dir, 'caldavd.plist', withChange(baseConfig('9.2'), 'Includes', includes));
    const r = await runCli(['check-config', '--config', path, '--server-version', '9.2', '--json']);
    const doc = jsonOf(r) as { files: { path: string }[]; filesNotListed?: number };
    expect(doc.files).toHaveLength(1000);
    expect(doc.files[0]!.path).toBe(path);
    expect(doc.filesNotListed).toBe(1501);
    const human = await runCli(['check-config', '--config', path, '--server-version', '9.2']);
    expect(human.stdout).toMatch(/and 2400 more included files \(--json lists up to 1,000\)/);
  });

  it('prints the documented JSON document', async () => {
    const path = writePlist(tempDir(), 'caldavd.plist', withChange(baseConfig('4.3'), 'Scheduling.iMIP.Sending.Port', 465));
    const r = await runCli(['check-config', '--config', path, '--server-version', '4.3', '--json']);
    expect(r.code).toBe(1);
    const doc = jsonOf(r);
    expect(Object.keys(doc)).toEqual(expect.arrayContaining(['command', 'ok', 'serverVersion', 'files', 'settings', 'findings']));
    expect(doc).toMatchObject({ command: 'check-config', ok: false, serverVersion: { version: '4.3', line: '3.x-4.x', source: 'flag' } });
    expect(doc.files[0]).toMatchObject({ path, role: 'main', status: 'read', format: 'xml' });
    expect(doc.settings.Sending).toMatchObject({ Port: 465, Password: '(set)' });
    expect(doc.settings.Receiving.Password).toBe('(set)');
    expect(doc.settings.Password).toBe('(set)');
    const f = doc.findings.find((x: { id: string }) => x.id === 'sending.implicit-tls-port');
    expect(Object.keys(f).sort()).toEqual(['evidence', 'fix', 'id', 'message', 'path', 'severity']);
  });

  it('never prints a password, in any mode', async () => {
    const cfg = withChange(withChange(baseConfig('2.5'), 'Scheduling.iMIP.Receiving.Password', 'Pw-uniq-9931'), 'Scheduling.iMIP.Password', 'Pw-uniq-2207');
    const path = writePlist(tempDir(), 'caldavd.plist', withChange(cfg, 'Scheduling.iMIP.Sending.Password', 'Pw-uniq-4410'), 0o644);
    for (const extra of [[], ['--json'], ['--verbose'], ['--quiet']]) {
      const r = await runCli(['check-config', '--config', path, '--server-version', '2.5', ...extra]);
      for (const pw of ['Pw-uniq-9931', 'Pw-uniq-2207', 'Pw-uniq-4410']) expect(r.stdout + r.stderr).not.toContain(pw);
    }
  });

  it('shows where every effective value came from with --verbose', async () => {
    const path = writePlist(tempDir(), 'caldavd.plist', baseConfig('9.2'));
    const r = await runCli(['check-config', '--config', path, '--verbose']);
    expect(r.stdout).toMatch(/Scheduling\.iMIP\.Sending\.Port = 587 {2}\(.*caldavd\.plist:\d+\)/);
    expect(r.stdout).toMatch(/Scheduling\.iMIP\.Receiving\.PollingSeconds = 30 {2}\(.*\)/);
  });

  it('--quiet prints one line', async () => {
    const r = await runCli(['check-config', '--config', EXAMPLE, '--quiet']);
    expect(r.stdout.trim().split('\n')).toHaveLength(1);
  });

  it('uses colour only when asked for on a non-TTY and never with NO_COLOR', async () => {
    const plain = await runCli(['check-config', '--config', EXAMPLE]);
    expect(plain.stdout).not.toContain('\x1b[');
    const forced = await runCli(['check-config', '--config', EXAMPLE], { env: { FORCE_COLOR: '1' } });
    expect(forced.stdout).toContain('\x1b[');
    const noColor = await runCli(['check-config', '--config', EXAMPLE], { env: { FORCE_COLOR: '1', NO_COLOR: '1' } });
    expect(noColor.stdout).not.toContain('\x1b[');
    const flag = await runCli(['check-config', '--config', EXAMPLE, '--no-color'], { env: { FORCE_COLOR: '1' } });
    expect(flag.stdout).not.toContain('\x1b[');
  });

  // util-linux `script` gives the command a pseudo-terminal as stdout (Debian: bsdutils, always installed).
  const hasScript = spawnSync('script', ['--version']).status === 0;
  it.skipIf(!hasScript)('uses colour on a terminal, and not when NO_COLOR is set there', () => {
    const onTerminal = (env: NodeJS.ProcessEnv) =>
      spawnSync('script', ['-qec', `"${process.execPath}" "${BIN}" check-config --config "${EXAMPLE}"`, '/dev/null'], {
        encoding: 'utf8',
        env: { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'FORCE_COLOR' && k !== 'NO_COLOR')), ...env },
      }).stdout;
    const tty = onTerminal({});
    expect(tty).toContain('imip check-config');
    expect(tty).toContain('\x1b[');
    expect(onTerminal({ NO_COLOR: '1' })).not.toContain('\x1b[');
  });

  it('reads $IMIP_CONFIG when --config is not given', async () => {
    const path = writePlist(tempDir(), 'caldavd.plist', baseConfig('9.2'));
    const r = await runCli(['check-config', '--json'], { env: { IMIP_CONFIG: path } });
    expect(jsonOf(r).config).toBe(path);
  });

  // On a machine with a real install the default location exists, and there is nothing to prove.
  it.skipIf(existsSync('/etc/caldavd/caldavd.plist'))('exits 2 naming where it looked when there is no config anywhere', async () => {
    const r = await runCli(['check-config']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/no config file: give --config PATH or set IMIP_CONFIG \(looked in .*\/etc\/caldavd\/caldavd\.plist/);
  });

  it('lists every check', async () => {
    const r = await runCli(['check-config', '--list-checks', '--json']);
    expect(r.code).toBe(0);
    const ids = jsonOf(r).checks.map((c: { id: string }) => c.id);
    expect(ids).toEqual(expect.arrayContaining(['imip.disabled', 'patterns.no-mailto', 'include.cycle', 'secrets.file-readable']));
  });

  const bad: [string, (d: string) => string[], RegExp][] = [
    ['a missing file', (d) => ['--config', join(d, 'missing.plist')], /missing\.plist: no such file/],
    ['a directory', (d) => ['--config', d], /is a directory/],
    ['an empty file', (d) => (writeFileSync(join(d, 'e'), ''), ['--config', join(d, 'e')]), /is empty/],
    ['truncated XML', (d) => (writeFileSync(join(d, 't'), '<plist><dict><key>A</key>'), ['--config', join(d, 't')]), /t:1: not a valid XML plist/],
    ['a bad --server-version', (d) => ['--config', writePlist(d, 'c', baseConfig('9.2')), '--server-version', 'latest'], /--server-version: "latest"/],
    ['a release before iMIP (2.1)', (d) => ['--config', writePlist(d, 'c', baseConfig('2.5')), '--server-version', '2.1'], /^imip: --server-version: 2\.1 is outside the releases with iMIP \(2\.2 to 9\.2\)/],
    ['an unknown flag', () => ['--frobnicate'], /unknown option '--frobnicate'/],
  ];
  for (const [name, args, message] of bad) {
    it(`exits 2 on ${name}, with one line and no stack trace`, async () => {
      const r = await runCli(['check-config', ...args(tempDir())]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).not.toMatch(/\n\s+at /);
      expect(r.stdout).toBe('');
    });
  }

  it('an unknown flag speaks as every error does ("imip: …", with the nearest flag) and, with --json, still writes the document', async () => {
    const r = await runCli(['check-config', '--connet', '--json']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^imip: unknown option '--connet'\n\(Did you mean --connect\?\)/);
    expect(JSON.parse(r.stdout)).toEqual({ command: 'check-config', ok: false, exitCode: 2, error: "unknown option '--connet' (Did you mean --connect?)" });
    const choice = await runCli(['test-smtp', '--format', 'jsn']);
    expect(choice.code).toBe(2);
    expect(choice.stderr).toMatch(/^imip: option '--format <format>' argument 'jsn' is invalid/);
  });

  it('an unknown command\'s --json document names no command of imip\'s, even with one written after it', async () => {
    for (const args of [['nosuch', '--json', 'poll'], ['nosuch', '--json'], ['--json', 'nosuch']]) {
      const r = await runCli(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(JSON.parse(r.stdout), args.join(' ')).toMatchObject({ command: 'imip', ok: false, exitCode: 2 });
    }
    expect(JSON.parse((await runCli(['nosuch', '--json', 'poll'])).stdout).error).toBe("unknown command 'nosuch'");
  });

  it('a run that names no command says which there are and that one comes first; a command\'s own errors keep the usage line', async () => {
    const hint = '(imip\'s commands: check-config, test-smtp, test-mailbox, send-test, poll, diagnose, tokens; the command comes first, as in "imip check-config /etc/caldavd/caldavd.plist")';
    for (const [args, error] of [
      [[EXAMPLE], `unknown command '${EXAMPLE}'`],
      [['--config', EXAMPLE], "unknown option '--config'"],
      [['chek-config'], "unknown command 'chek-config'\n(Did you mean check-config?)"],
    ] as const) {
      const r = await runCli([...args]);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toBe(`imip: ${error}\n${hint}\n`);
    }
    expect((await runCli(['check-config', '--connet'])).stderr).toMatch(/\(Did you mean --connect\?\)\n\(run with --help for usage\)\n$/);
  });

  it('flags written before the command are the command\'s, as after it', async () => {
    const json = await runCli(['--format', 'json', 'check-config', EXAMPLE]);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toMatchObject({ command: 'check-config', ok: false });
    const nagios = await runCli(['--format', 'nagios', '--config', EXAMPLE, 'check-config']);
    expect(nagios.code).toBe(2);
    expect(nagios.stdout).toMatch(/^IMIP CRITICAL - check-config: sending\.implicit-tls-port: /);
    // A flag the command does not know is still refused, naming the command.
    const unknown = await runCli(['--format', 'nagios', '--bogus', 'poll', '--once']);
    expect(unknown.code).toBe(3);
    expect(unknown.stdout).toMatch(/^IMIP UNKNOWN - poll: could not run: unknown option '--bogus' \|/);
    // A word before the command is not moved: commander's help command still names the command.
    const help = await runCli(['help', 'poll']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: imip poll \[options\] \[config\]/);
  });

  it('--output replaces only a regular file by a rename: a named pipe is written to, a symbolic link keeps pointing at the file it names', async () => {
    // Renamed over, /dev/null (as root) became a regular file; a pipe would lose its reader.
    const dir = tempDir();
    const fifo = join(dir, 'imip.fifo');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    const reader = spawn('cat', [fifo]);
    let read = '';
    reader.stdout.on('data', (d) => (read += d));
    const readerDone = new Promise((resolve) => reader.on('close', resolve));
    const piped = await runCli(['check-config', EXAMPLE, '--format', 'prometheus', '--output', fifo]);
    await readerDone;
    expect(piped.code).toBe(1);
    expect(lstatSync(fifo).isFIFO()).toBe(true);
    expect(read).toMatch(/^imip_up\{command="check-config"\} 0$/m);
    const real = join(dir, 'real.prom');
    const link = join(dir, 'link.prom');
    writeFileSync(real, 'imip_last_success_timestamp_seconds{command="check-config"} 1765000000\n');
    symlinkSync('real.prom', link);
    const linked = await runCli(['check-config', EXAMPLE, '--format', 'prometheus', '--output', link]);
    expect(linked.code).toBe(1);
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    // The file the link names has the new text, with the last success read through the link.
    expect(readFileSync(real, 'utf8')).toMatch(/^imip_last_success_timestamp_seconds\{command="check-config"\} 1765000000$/m);
    expect(readFileSync(real, 'utf8')).toMatch(/^imip_up\{command="check-config"\} 0$/m);
    // A link to a file not there yet: the file is made, the link stays.
    symlinkSync('later.prom', join(dir, 'dangling.prom'));
    expect((await runCli(['check-config', EXAMPLE, '--format', 'prometheus', '--output', join(dir, 'dangling.prom')])).code).toBe(1);
    expect(lstatSync(join(dir, 'dangling.prom')).isSymbolicLink()).toBe(true);
    expect(readFileSync(join(dir, 'later.prom'), 'utf8')).toMatch(/^imip_up\{command="check-config"\} 0$/m);
    expect(readdirSync(dir).sort()).toEqual(['dangling.prom', 'imip.fifo', 'later.prom', 'link.prom', 'real.prom']);
  });

  it('a flag where a value belongs is refused (exit 2), not taken as the value; --NAME=-VALUE gives one that begins with "-"', async () => {
    const dir = tempDir();
    const r = await runCli(['check-config', '--config', '--json'], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^imip: option '--config <path>' needs a value, and --json is a flag \(for a value that begins with "-", write --config=--json\)\n/);
    // --json is there: the document of a run that could not start.
    expect(JSON.parse(r.stdout)).toMatchObject({ command: 'check-config', ok: false, exitCode: 2 });
    // --output --bogus wrote the Prometheus text to a file named "--bogus".
    const prom = await runCli(['check-config', EXAMPLE, '--format', 'prometheus', '--output', '--bogus'], { cwd: dir });
    expect(prom.code).toBe(2);
    expect(prom.stdout).toMatch(/^imip_up\{command="check-config"\} 0$/m);
    expect(readdirSync(dir)).toEqual([]);
    // --output - is stdout, as for the launcher without node.
    const dashOut = await runCli(['check-config', EXAMPLE, '--format', 'prometheus', '--output', '-'], { cwd: dir });
    expect(dashOut.code).toBe(1);
    expect(dashOut.stdout).toMatch(/^imip_findings\{command="check-config",severity="error"\} 1$/m);
    expect(readdirSync(dir)).toEqual([]);
    const short = await runCli(['send-test', EXAMPLE, '--to', 'a@example.org', '--summary', '-q', '--dry-run']);
    expect(short.code).toBe(2);
    expect(short.stderr).toMatch(/option '--summary <text>' needs a value, and -q is a flag/);
    const dash = await runCli(['send-test', EXAMPLE, '--to', 'a@example.org', '--summary=-q', '--dry-run']);
    expect(dash.code).toBe(0);
    expect(dash.stdout).toMatch(/^SUMMARY:-q\r?$/m);
    // A lone "-" (stdin) is a value: diagnose reads the message from stdin (here empty), not the
    // document of a run refused for its flags (which names the command too).
    const stdin = await runCli(['diagnose', '--offline', '--message', '-', '--json'], { input: '' });
    expect(stdin.stderr).not.toMatch(/needs a value/);
    expect(JSON.parse(stdin.stdout).inputs).toContainEqual(expect.objectContaining({ kind: 'message', path: 'stdin', error: 'the file is empty' }));
  });
});

describe('imip', () => {
  it('--version and --help exit 0', async () => {
    // The version the build wrote into the program is the package's.
    const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    expect((await runCli(['--version'])).stdout).toBe(`${version}\n`);
    const help = await runCli(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/check-config/);
  });
});
