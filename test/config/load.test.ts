/** Loading as the server does: includes per release line, cycles, provenance, binary plists, bad files. */
import { existsSync, mkdirSync, writeFileSync, symlinkSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildBinary } from 'plist';
import { loadConfig, getPath, describeOrigin, originOf } from '../../src/config/load.js';
import { parseServerVersion } from '../../src/server/release.js';
import { describeFsError, readPlistFile } from '../../src/config/plist-file.js';
import { runConfigChecks } from '../../src/checks/index.js';
import { execFileSync } from 'node:child_process';
import { loadForCommand } from '../../src/commands/shared.js';
import { CannotRunError } from '../../src/report/exit.js';
import { baseConfig, tempDir, writePlist, type Obj } from '../helpers/plist.js';

const v = (s: string) => parseServerVersion(s);

function layout(mainExtra: Obj, include: Obj | null, includeName = 'caldavd-user.plist') {
  const dir = tempDir();
  if (include) writePlist(dir, includeName, include);
  const main = writePlist(dir, 'caldavd.plist', { ServerRoot: dir, ConfigRoot: dir, ...mainExtra, Includes: [includeName] });
  return { dir, main };
}

describe('Includes', () => {
  const main = { Scheduling: { iMIP: { Enabled: true, Sending: { Server: 'main.example.test', Port: 587 } } } };
  const inc = { Scheduling: { iMIP: { Sending: { Port: 2525 } } } };

  it('3.x-4.x replace the whole top-level dict (dict.update)', () => {
    const { main: path } = layout(main, inc);
    const cfg = loadConfig(path, v('4.3'));
    expect(getPath(cfg.effective, 'Scheduling.iMIP.Sending.Port')).toBe(2525);
    // The main file's Server and Enabled are gone: back to the defaults.
    expect(getPath(cfg.effective, 'Scheduling.iMIP.Sending.Server')).toBe('');
    expect(getPath(cfg.effective, 'Scheduling.iMIP.Enabled')).toBe(false);
    expect(cfg.findings.map((f) => f.id)).toContain('include.shallow-replace');
  });

  it('5.0+ merge deeply, and every value knows its file', () => {
    const { main: path, dir } = layout(main, inc);
    const cfg = loadConfig(path, v('9.2'));
    expect(getPath(cfg.effective, 'Scheduling.iMIP.Sending.Port')).toBe(2525);
    expect(getPath(cfg.effective, 'Scheduling.iMIP.Sending.Server')).toBe('main.example.test');
    expect(describeOrigin(originOf(cfg, 'Scheduling.iMIP.Sending.Port'))).toMatch(new RegExp(`^${join(dir, 'caldavd-user.plist')}:\\d+$`));
    expect(describeOrigin(originOf(cfg, 'Scheduling.iMIP.Sending.Server'))).toMatch(/caldavd\.plist:\d+$/);
    expect(describeOrigin(originOf(cfg, 'Scheduling.iMIP.Receiving.PollingSeconds'))).toBe('default');
  });

  it('a missing include is fatal on 3.x-4.x and a warning on 5.0+', () => {
    const { main: path } = layout(main, null);
    expect(loadConfig(path, v('4.3')).findings.find((f) => f.id === 'include.missing')!.severity).toBe('error');
    expect(loadConfig(path, v('9.2')).findings.find((f) => f.id === 'include.missing')!.severity).toBe('warning');
  });

  it('Includes as one <string>: the server goes through its characters, so the file it names is never read', async () => {
    const dir = tempDir();
    const incPath = writePlist(dir, 'imip.plist', { Scheduling: { iMIP: { Enabled: true, Sending: { Port: 2525 } } } });
    const path = writePlist(dir, 'caldavd.plist', { ServerRoot: dir, ConfigRoot: dir, Includes: incPath });
    const plain = writePlist(dir, 'plain.plist', { ServerRoot: dir, ConfigRoot: dir, Includes: 'imip' });
    for (const release of ['4.3', '9.2']) {
      const cfg = loadConfig(path, v(release));
      // The included settings do not apply: the loader, like the server, never reads that file.
      expect(getPath(cfg.effective, 'Scheduling.iMIP.Sending.Port'), release).not.toBe(2525);
      expect(getPath(cfg.effective, 'Scheduling.iMIP.Enabled'), release).toBe(false);
      const { ctx } = await loadForCommand({ config: path, serverVersion: release }, 'linux');
      const type = runConfigChecks(ctx).find((f) => f.id === 'key.type' && f.path === 'Includes')!;
      expect(type.message, release).toMatch(/one character at a time, so ".*imip\.plist" itself is never read;.*stops at start-up with "Configuration file does not exist or is inaccessible: \/"/);
      const other = await loadForCommand({ config: plain, serverVersion: release }, 'linux');
      const msg = runConfigChecks(other.ctx).find((f) => f.id === 'key.type' && f.path === 'Includes')!.message;
      // Without "/" or ".": 3.x-4.x fail on the first character all the same; 5.0 and later skip them.
      expect(msg, release).toMatch(release === '4.3' ? /the first character, "i", as a file \(ConfigRoot\/i, which does not exist\)/ : /finds none, and reads only this file/);
    }
  });

  it('a main file given by a relative path that includes itself: one file, one cycle, each finding once', async () => {
    const { runCli, jsonOf } = await import('../helpers/cli.js');
    const dir = tempDir();
    mkdirSync(join(dir, 'cc'));
    writePlist(join(dir, 'cc'), 'self.plist', { Includes: [join(dir, 'cc', 'self.plist')] });
    const rel = await runCli(['check-config', 'cc/self.plist', '--server-version', '9.2', '--json'], { cwd: dir });
    const abs = await runCli(['check-config', join(dir, 'cc', 'self.plist'), '--server-version', '9.2', '--json']);
    const ids = (r: typeof rel) => jsonOf(r).findings.map((f: { id: string }) => f.id).sort();
    expect(ids(rel)).toEqual(ids(abs));
    expect(ids(rel).filter((id: string) => id === 'include.no-server-root')).toHaveLength(1);
    expect(ids(rel)).toContain('include.cycle');
  });

  it('2.x ignores Includes', () => {
    const { main: path } = layout(main, inc);
    const cfg = loadConfig(path, v('2.5'));
    expect(getPath(cfg.effective, 'Scheduling.iMIP.Sending.Port')).toBe(587);
    expect(cfg.findings.map((f) => f.id)).toEqual(['include.unsupported']);
  });

  it('relative paths resolve against ServerRoot/ConfigRoot', () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'Config'));
    writePlist(join(dir, 'Config'), 'user.plist', inc);
    const path = writePlist(dir, 'caldavd.plist', { ServerRoot: dir, ConfigRoot: 'Config', ...main, Includes: ['user.plist'] });
    expect(getPath(loadConfig(path, v('9.2')).effective, 'Scheduling.iMIP.Sending.Port')).toBe(2525);
  });

  it('detects include cycles (6.0+ follows includes inside includes)', () => {
    const dir = tempDir();
    // 6.0+ resolve each file's Includes against that file's own ServerRoot/ConfigRoot.
    writePlist(dir, 'a.plist', { ServerRoot: dir, ConfigRoot: dir, Includes: ['b.plist'], Scheduling: { iMIP: { Enabled: true } } });
    writePlist(dir, 'b.plist', { ServerRoot: dir, ConfigRoot: dir, Includes: ['a.plist'] });
    const path = writePlist(dir, 'caldavd.plist', { ServerRoot: dir, ConfigRoot: dir, Includes: ['a.plist'] });
    const cfg = loadConfig(path, v('9.2'));
    const cycle = cfg.findings.find((f) => f.id === 'include.cycle')!;
    expect(cycle.severity).toBe('error');
    expect(cycle.evidence.cycle).toEqual([join(dir, 'a.plist'), join(dir, 'b.plist'), join(dir, 'a.plist')]);
    expect(getPath(cfg.effective, 'Scheduling.iMIP.Enabled')).toBe(true);
  });

  it('5.x does not follow nested includes and says so', () => {
    const dir = tempDir();
    // 5.0-5.3 take include paths as written: absolute here.
    writePlist(dir, 'a.plist', { Includes: [join(dir, 'b.plist')] });
    writePlist(dir, 'b.plist', { Scheduling: { iMIP: { Enabled: true } } });
    const path = writePlist(dir, 'caldavd.plist', { ServerRoot: dir, ConfigRoot: dir, Includes: [join(dir, 'a.plist')] });
    const cfg = loadConfig(path, v('5.1'));
    expect(getPath(cfg.effective, 'Scheduling.iMIP.Enabled')).toBe(false);
    expect(cfg.findings.map((f) => f.id)).toContain('include.nested-ignored');
  });

  it('before 6.0, Includes of any shape inside an include is ignored: include.nested-ignored, never a start-up failure', async () => {
    for (const release of ['4.3', '5.1']) {
      for (const nested of ['/etc/other.plist', { a: 1 }] as const) {
        const dir = tempDir();
        writePlist(dir, 'a.plist', { Includes: nested });
        const path = writePlist(dir, 'caldavd.plist', { ServerRoot: dir, ConfigRoot: dir, Includes: [join(dir, 'a.plist')] });
        const shown = `${release} ${JSON.stringify(nested)}`;
        expect(loadConfig(path, v(release)).findings.map((f) => f.id), shown).toContain('include.nested-ignored');
        const { ctx } = await loadForCommand({ config: path, serverVersion: release }, 'linux');
        expect(runConfigChecks(ctx).filter((f) => f.id === 'key.type' && f.path === 'Includes'), shown).toEqual([]);
      }
    }
    // 6.0 and later follow an include's own Includes: a string there is gone through character by character.
    const dir = tempDir();
    writePlist(dir, 'a.plist', { Includes: '/etc/other.plist' });
    const path = writePlist(dir, 'caldavd.plist', { ServerRoot: dir, ConfigRoot: dir, Includes: [join(dir, 'a.plist')] });
    const { ctx } = await loadForCommand({ config: path, serverVersion: '9.2' }, 'linux');
    expect(runConfigChecks(ctx).find((f) => f.id === 'key.type' && f.path === 'Includes')!.message).toMatch(/one character at a time/);
  });

  it('ImportConfig (6.0+) is read first and must exist', () => {
    const dir = tempDir();
    writePlist(dir, 'base.plist', { Scheduling: { iMIP: { Enabled: true, Sending: { Port: 25 } } } });
    const path = writePlist(dir, 'caldavd.plist', { ServerRoot: dir, ConfigRoot: dir, ImportConfig: join(dir, 'base.plist'), Scheduling: { iMIP: { Sending: { Port: 587 } } } });
    const cfg = loadConfig(path, v('9.2'));
    expect(getPath(cfg.effective, 'Scheduling.iMIP.Enabled')).toBe(true);
    expect(getPath(cfg.effective, 'Scheduling.iMIP.Sending.Port')).toBe(587);
    const missing = writePlist(dir, 'c2.plist', { ImportConfig: join(dir, 'nope.plist') });
    expect(loadConfig(missing, v('9.2')).findings.find((f) => f.id === 'include.missing')!.severity).toBe('error');
  });
});

describe('the release to judge by', () => {
  it('is inferred from keys only 3.x-4.x have, and says why', async () => {
    const dir = tempDir();
    const path = writePlist(dir, 'caldavd.plist', { Scheduling: { iMIP: { GUID: 'x', Enabled: true } } });
    const { ctx } = await loadForCommand({ config: path });
    expect(ctx.version.line).toBe('3.x-4.x');
    expect(ctx.version.source).toBe('inferred');
    expect(ctx.version.reason).toMatch(/GUID/);
  });
  it('defaults to 5.0+ and says so', async () => {
    const dir = tempDir();
    const { ctx } = await loadForCommand({ config: writePlist(dir, 'c.plist', baseConfig('9.2')) });
    expect(ctx.version).toMatchObject({ line: '5.0+', source: 'default' });
  });
  it('rejects a release that is not one', () => {
    expect(() => parseServerVersion('banana')).toThrow(CannotRunError);
    expect(() => parseServerVersion('1.0')).toThrow(/outside/);
    expect(parseServerVersion('4.3.2')).toMatchObject({ major: 4, minor: 3, line: '3.x-4.x' });
  });
});

describe('reading files', () => {
  it('does not judge a binary plist: the server cannot read one (config.binary-plist)', async () => {
    // Source: CalendarServer-2.5..9.2 twistedcaldav/stdconfig.py PListConfigProvider._parseConfigFromFile
    // (NoUnicodePlistParser, Python 2 plistlib: XML only).
    const dir = tempDir();
    const path = join(dir, 'caldavd.plist');
    writeFileSync(path, buildBinary(baseConfig('9.2') as never));
    const pf = readPlistFile(path);
    expect(pf.format).toBe('binary');
    expect(pf.value).toEqual({});
    const { ctx } = await loadForCommand({ config: path });
    const ids = runConfigChecks(ctx).map((f) => f.id);
    expect(ids).toEqual(['config.binary-plist']);
    // As an include on 9.2 it is an error too.
    const inc = join(dir, 'inc.plist');
    writeFileSync(inc, buildBinary({ Scheduling: { iMIP: { Enabled: true } } } as never));
    const main = writePlist(dir, 'main.plist', { ServerRoot: dir, ConfigRoot: dir, Includes: ['inc.plist'] });
    const cfg = loadConfig(main, v('9.2'));
    expect(cfg.findings.find((f) => f.id === 'config.binary-plist')).toMatchObject({ severity: 'error', path: 'Includes' });
    expect(getPath(cfg.effective, 'Scheduling.iMIP.Enabled')).toBe(false);
  });

  const fifo = (d: string): string => {
    const p = join(d, 'fifo.plist');
    execFileSync('mkfifo', [p]);
    return p;
  };
  type Bad = [string, (dir: string) => string, RegExp];
  const bad: Bad[] = [
    ['a missing file', (d) => join(d, 'nope.plist'), /nope\.plist: no such file/],
    ['a directory', (d) => d, /is a directory/],
    ['an empty file', (d) => (writeFileSync(join(d, 'e.plist'), ''), join(d, 'e.plist')), /is empty/],
    ['not a plist', (d) => (writeFileSync(join(d, 'x.plist'), 'Hello, world\n'), join(d, 'x.plist')), /x\.plist:1: not a valid XML plist .*text before the root element/],
    ['HTML', (d) => (writeFileSync(join(d, 'h.plist'), '<html><body/></html>'), join(d, 'h.plist')), /h\.plist:1: not a valid XML plist .*no value/],
    [
      'truncated XML',
      (d) => (writeFileSync(join(d, 't.plist'), '<?xml version="1.0"?>\n<plist version="1.0">\n<dict>\n<key>A</key>\n<string>x'), join(d, 't.plist')),
      /t\.plist:5: not a valid XML plist .*the file ends inside <string>/,
    ],
    ['a bad integer', (d) => (writeFileSync(join(d, 'i.plist'), '<plist><dict>\n<key>P</key>\n<integer>58 7</integer></dict></plist>'), join(d, 'i.plist')), /i\.plist:3: .*not a whole number/],
    ['a 50 MB file', (d) => (writeFileSync(join(d, 'big.plist'), Buffer.alloc(50 * 1024 * 1024, 0x20)), join(d, 'big.plist')), /is larger than 8 MiB \(52\.4 MB\); a caldavd\.plist is a few kilobytes/],
    ['a symlink loop', (d) => (symlinkSync(join(d, 'l2'), join(d, 'l1')), symlinkSync(join(d, 'l1'), join(d, 'l2')), join(d, 'l1')), /too many levels of symbolic links/],
    ['a FIFO', fifo, /fifo\.plist: is a named pipe \(FIFO\), not a plist file/],
    ['/dev/zero', () => '/dev/zero', /\/dev\/zero: is a device, not a plist file/],
    ['/dev/urandom', () => '/dev/urandom', /\/dev\/urandom: is a device, not a plist file/],
    // A regular file whose size the system gives as 0 but which has content (as one written at
    // that moment): read to its end, and judged by what it holds, never "larger than 8 MiB (0.0 MB)".
    ...(existsSync('/proc/self/status') ? [['a file longer than its size says (/proc/self/status)', () => '/proc/self/status', /status:1: not a valid XML plist .*text before the root element/] as Bad] : []),
  ];
  for (const [name, make, message] of bad) {
    it(`rejects ${name} with one line naming the file`, () => {
      const dir = tempDir();
      const path = make(dir);
      let err: unknown;
      try {
        readPlistFile(path);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(CannotRunError);
      expect((err as Error).message).toMatch(message);
      expect((err as Error).message).not.toContain('\n');
    });
  }

  it('refuses a FIFO, a device or an oversized file as an include or ImportConfig, without hanging', () => {
    const dir = tempDir();
    const f = fifo(dir);
    writeFileSync(join(dir, 'big.plist'), Buffer.alloc(9 * 1024 * 1024, 0x20));
    const main = writePlist(dir, 'caldavd.plist', { ServerRoot: dir, ConfigRoot: dir, ImportConfig: '/dev/zero', Includes: [f, '/dev/urandom', join(dir, 'big.plist')] });
    const cfg = loadConfig(main, v('9.2'));
    const problems = cfg.files.filter((x) => x.status === 'unreadable').map((x) => x.problem);
    expect(problems).toHaveLength(4);
    expect(problems.join('\n')).toMatch(/named pipe/);
    expect(problems.join('\n')).toMatch(/device/);
    expect(problems.join('\n')).toMatch(/larger than 8 MiB/);
  });

  it('words file-system errors for an admin', () => {
    const err = (code: string) => Object.assign(new Error(`${code}: raw text`), { code });
    expect(describeFsError(err('EACCES'))).toMatch(/^permission denied \(run as a user who can read it/);
    expect(describeFsError(err('EPERM'))).toMatch(/^permission denied/);
    expect(describeFsError(err('ENOENT'))).toBe('no such file');
    expect(describeFsError(err('EISDIR'))).toBe('is a directory, not a plist file');
    expect(describeFsError(err('EIO'))).toBe('raw text');
  });

  // Root reads any file whatever its mode, so this only runs for other users.
  it.skipIf(process.getuid?.() === 0)('rejects an unreadable file', () => {
    const dir = tempDir();
    const path = writePlist(dir, 'c.plist', {});
    chmodSync(path, 0);
    expect(() => readPlistFile(path)).toThrow(/c\.plist: permission denied/);
  });
});
