/**
 * Malformed configs, generated with a fixed seed from a clean caldavd.plist that carries two
 * passwords: every run of `imip check-config` ends within its time limit, exits 0, 1 or 2, prints
 * no stack trace, and never prints a password (plain, base64 or URL-encoded), whatever was done
 * to the file: cut, bytes flipped, tags broken, wrong types, huge keys, special files as includes.
 * Timings of large inputs are a benchmark (bench/config.mjs), not a test.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'plist';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { readPlistFile } from '../../src/config/plist-file.js';
import { parseServerVersion } from '../../src/server/release.js';
import { runCli, jsonOf } from '../helpers/cli.js';
import { baseConfig, tempDir } from '../helpers/plist.js';
import { rng } from '../helpers/python.js';

const SEND = 'SndPw/f00&bar';
const RECV = 'RcvPw-s3cret';
const forms = (p: string): string[] => [p, Buffer.from(p).toString('base64'), encodeURIComponent(p), p.replace(/&/g, '&amp;')];
const SECRETS = [...forms(SEND), ...forms(RECV)];

function cleanConfig(): Record<string, unknown> {
  const c = baseConfig('9.2');
  const imip = (c.Scheduling as { iMIP: { Sending: Record<string, unknown>; Receiving: Record<string, unknown> } }).iMIP;
  imip.Sending.Password = SEND;
  imip.Receiving.Password = RECV;
  return c;
}

const R = rng(424242);
type Mutator = (xml: string, dir: string) => string | Buffer;
const replaceValue = (key: string, value: string): Mutator => (x) => x.replace(new RegExp(`(<key>${key}</key>\\s*)<[^/]+?>[^<]*</[a-z]+>`), `$1${value}`);
const MUTATORS: Array<[string, Mutator]> = [
  ['cut', (x) => x.slice(0, R.int(x.length))],
  ['flip bytes', (x) => {
    const b = Buffer.from(x);
    for (let n = 1 + R.int(4); n > 0; n--) b[R.int(b.length)] = R.int(256);
    return b;
  }],
  ['raw &', (x) => x.replace(SEND, 'p&ss')],
  ['old-style plist', () => `{ Scheduling = { iMIP = { Sending = { Password = "${SEND}"; }; }; }; }`],
  ['json', () => JSON.stringify({ Password: SEND })],
  ['drop a close tag', (x) => x.replace(R.pick(['</dict>', '</string>', '</key>', '</array>']), '')],
  ['bad char ref', (x) => x.replace('<string>', `<string>${R.pick(['&#0;', '&#x110000;', '&#xD800;', '&foo;'])}`)],
  ['port -1', replaceValue('Port', '<integer>-1</integer>')],
  ['port 70000', replaceValue('Port', '<integer>70000</integer>')],
  ['port string', replaceValue('Port', '<string>587</string>')],
  ['port hex', replaceValue('Port', '<integer>0x24b</integer>')],
  ['Scheduling array', (x) => x.replace(/<key>Scheduling<\/key>\s*<dict>/, '<key>Scheduling</key><array><dict>').replace(/<\/dict>\s*<\/dict>\s*<\/plist>/, '</dict></array></dict></plist>')],
  ['iMIP string', (x) => x.replace(/<key>iMIP<\/key>\s*<dict>[\s\S]*?<key>AddressPatterns<\/key>/, '<key>iMIP</key><string>yes</string><key>AddressPatterns</key>')],
  ['Includes dict', (x) => x.replace('<dict>', '<dict><key>Includes</key><dict><key>a</key><string>b</string></dict>')],
  ['Includes string', (x) => x.replace('<dict>', '<dict><key>Includes</key><string>/etc/passwd</string>')],
  ['include /etc/passwd', (x) => x.replace('<dict>', '<dict><key>ServerRoot</key><string>/</string><key>ConfigRoot</key><string>/</string><key>Includes</key><array><string>/etc/passwd</string></array>')],
  ['include a device', (x) => x.replace('<dict>', `<dict><key>ServerRoot</key><string>/</string><key>ConfigRoot</key><string>/</string><key>Includes</key><array><string>${R.pick(['/dev/zero', '/dev/urandom', '/dev/null'])}</string></array>`)],
  ['ImportConfig a device', (x) => x.replace('<dict>', '<dict><key>ServerRoot</key><string>/</string><key>ConfigRoot</key><string>/</string><key>ImportConfig</key><string>/dev/zero</string>')],
  ['include a FIFO', (x, dir) => {
    const f = join(dir, `fifo-${R.int(1e9)}`);
    execFileSync('mkfifo', [f]);
    return x.replace('<dict>', `<dict><key>ServerRoot</key><string>/</string><key>ConfigRoot</key><string>/</string><key>Includes</key><array><string>${f}</string></array>`);
  }],
  ['huge key', (x) => x.replace('<key>Enabled</key>', `<key>${'K'.repeat(100_000 + R.int(1000))}</key><true/><key>Enabled</key>`)],
  ['typo key', (x) => x.replace('<key>UseSSL</key>', R.pick(['<key>UseSsl</key>', '<key>usessl</key>', '<key>Use_SSL</key>']))],
  ['password typo', (x) => x.replace('<key>Password</key>', '<key>Pasword</key>')],
  ['dangling key', (x) => x.replace('</dict>', '<key>Lonely</key></dict>')],
  ['deep nesting', (x) => x.replace('<key>Enabled</key>', `<key>Deep</key>${'<array>'.repeat(200)}${'</array>'.repeat(200)}<key>Enabled</key>`)],
  ['binary plist', () => Buffer.concat([Buffer.from('bplist00'), Buffer.from(SEND), Buffer.alloc(40)])],
  ['NUL bytes', (x) => x.replace('<string>', '<string>\u0000')],
  ['empty', () => ''],
  ['BOM + latin1', (x) => Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(x.replace('UTF-8', 'ISO-8859-1'), 'latin1')])],
  ['wrong types', (x) => x.replace(/<true\/>/, '<string>true</string>').replace(/<key>AddressPatterns<\/key>\s*<array>/, '<key>AddressPatterns</key><array><integer>1</integer>')],
];

function generate(dir: string, n: number): Array<{ name: string; path: string }> {
  const xml = build(cleanConfig() as never);
  return Array.from({ length: n }, (_, i) => {
    let out: string | Buffer = xml;
    const names: string[] = [];
    for (let k = 1 + R.int(2); k > 0; k--) {
      const [name, m] = R.pick(MUTATORS);
      out = m(typeof out === 'string' ? out : out.toString('latin1'), dir);
      names.push(name);
    }
    const path = join(dir, `fuzz-${i}.plist`);
    writeFileSync(path, out);
    return { name: `#${i} ${names.join(' + ')}`, path };
  });
}

/** `imip check-config` in this process, as the CLI runs it: its exit code and everything it printed. */
async function checkConfigInProcess(args: { config: string; serverVersion: string; json: boolean }): Promise<{ code: number; out: string }> {
  const { run } = await import('../../src/commands/check-config.js');
  const { CannotRunError } = await import('../../src/report/exit.js');
  let out = '';
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((chunk: string | Uint8Array) => {
    out += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString();
    return true;
  }) as typeof process.stdout.write;
  try {
    const code = await run({ config: args.config, serverVersion: args.serverVersion, json: args.json, color: false });
    return { code, out };
  } catch (e) {
    // What src/cli.ts does: a CannotRunError is one line and exit 2; anything else is a bug.
    if (e instanceof CannotRunError) return { code: e.exitCode, out: `${out}imip: ${e.message}\n` };
    return { code: 99, out: `${out}internal error: ${(e as Error).stack}` };
  } finally {
    process.stdout.write = write;
  }
}

describe('check-config over 200 malformed configs (fixed seed)', () => {
  const dir = tempDir('imip-fuzz-');
  const cases = generate(dir, 200);
  const versions = cases.map(() => R.pick(['2.5', '4.3', '5.0', '9.2']));

  it('every config is judged: exit 0/1/2, no stack trace, no password (human and --json)', { timeout: 300_000 }, async () => {
    const failures: string[] = [];
    for (const [i, c] of cases.entries()) {
      for (const json of [false, true]) {
        const r = await checkConfigInProcess({ config: c.path, serverVersion: versions[i]!, json });
        if (![0, 1, 2].includes(r.code)) failures.push(`${c.name}: exit ${r.code} ${r.out.slice(0, 300)}`);
        if (/\n\s+at .+:\d+:\d+\)?|internal error/i.test(r.out)) failures.push(`${c.name}: stack trace or internal error`);
        for (const s of SECRETS) if (r.out.includes(s)) failures.push(`${c.name}: password shown (${s === SEND || s === RECV ? 'plain' : 'encoded'})`);
      }
    }
    expect(failures).toEqual([]);
  });

  it('the CLI itself, on a sample of them: exit 0/1/2, one line on stderr for what cannot be read, no password', { timeout: 300_000 }, async () => {
    const failures: string[] = [];
    for (const c of cases.filter((_, i) => i % 20 === 0)) {
      const r = await runCli(['check-config', '--config', c.path], { timeoutMs: 30_000 });
      const all = r.stdout + r.stderr;
      if (r.code === null || ![0, 1, 2].includes(r.code)) failures.push(`${c.name}: exit ${r.code}`);
      if (r.code === 2 && r.stderr.trim().split('\n').length !== 1) failures.push(`${c.name}: more than one line on stderr`);
      for (const s of SECRETS) if (all.includes(s)) failures.push(`${c.name}: password shown`);
    }
    expect(failures).toEqual([]);
  });
});

describe('large single inputs', () => {
  it('a 1 MB unknown key: no "did you mean" over it, and the key is cut in the message', async () => {
    const dir = tempDir();
    const path = join(dir, 'c.plist');
    const c = cleanConfig();
    ((c.Scheduling as { iMIP: Record<string, unknown> }).iMIP)['X'.repeat(1024 * 1024)] = true;
    writeFileSync(path, build(c as never));
    const { loadForCommand } = await import('../../src/commands/shared.js');
    const { runConfigChecks } = await import('../../src/checks/index.js');
    const { ctx } = await loadForCommand({ config: path });
    const f = runConfigChecks(ctx).find((x) => x.id === 'key.unknown')!;
    expect(f.message.length).toBeLessThan(400);
    expect(f.message).toMatch(/cut at 64/);
    expect(f.evidence.closest).toBeNull();
  });

  it('ten thousand keys with entity references load, every line remembered', () => {
    const dir = tempDir();
    const path = join(dir, 'big.plist');
    const body = Array.from({ length: 10_000 }, (_, i) => `<key>k${i}</key><string>${'x&amp;y '.repeat(80)}</string>`).join('\n');
    writeFileSync(path, `<?xml version="1.0"?><plist><dict>${body}</dict></plist>`);
    const cfg = loadConfig(path, parseServerVersion('9.2'));
    expect(cfg.parsed[0]!.lines.get('k9999')).toBe(10_000);
  });

  // Python 2's plistlib keeps its open containers in a list, with no bound: the limit is imip's
  // own, and the message must not say the server fails on the file.
  it('10,000 nested dicts: one line naming the file, the line and imip\'s own limit, exit 2, no crash', async () => {
    const dir = tempDir();
    const path = join(dir, 'deep.plist');
    writeFileSync(path, `<?xml version="1.0"?>\n<plist version="1.0"><dict><key>X</key>${'<dict><key>a</key>'.repeat(10_000)}<true/>${'</dict>'.repeat(10_000)}</dict></plist>\n`);
    const r = await runCli(['check-config', '--config', path]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toEqual([
      `imip: ${path}:2: imip cannot judge this plist: nesting deeper than 64 levels. Calendar Server reads it (its plistlib has no such limit), so this says nothing about the file`,
    ]);
  });

  // expat, under plistlib, expands an internal entity: the server reads the file.
  it('an entity declaration in the DOCTYPE is imip\'s limit, not a broken file', async () => {
    const dir = tempDir();
    const path = join(dir, 'entity.plist');
    writeFileSync(path, `<?xml version="1.0"?>\n<!DOCTYPE plist [<!ENTITY host "mail.example.com">]>\n<plist version="1.0"><dict><key>ServerHostName</key><string>&host;</string></dict></plist>\n`);
    const r = await runCli(['check-config', '--config', path]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('imip cannot judge this plist: an entity declaration in the DOCTYPE. Calendar Server reads it');
    expect(r.stderr).not.toContain('the server cannot read it either');
  });

  it('an include past imip\'s nesting limit stops the run (exit 2) instead of becoming a finding about the server', async () => {
    const dir = tempDir();
    const inc = join(dir, 'deep-include.plist');
    writeFileSync(inc, `<?xml version="1.0"?>\n<plist version="1.0"><dict><key>X</key>${'<dict><key>a</key>'.repeat(100)}<true/>${'</dict>'.repeat(100)}</dict></plist>\n`);
    const path = join(dir, 'main.plist');
    writeFileSync(path, build(cleanConfig() as never).replace('<key>Scheduling</key>', `<key>Includes</key><array><string>${inc}</string></array><key>Scheduling</key>`));
    const r = await runCli(['check-config', '--config', path, '--server-version', '9.2']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(`imip: ${inc}:2: imip cannot judge this plist: nesting deeper than 64 levels. Calendar Server reads it (its plistlib has no such limit), so this says nothing about the file`);
    expect(r.stdout).not.toContain('include.missing');
  });

  it('130,000 findings of one kind: the first 100 listed, the rest counted in one finding, human and --json', { timeout: 60_000 }, async () => {
    const dir = tempDir();
    const path = join(dir, 'dups.plist');
    const c = cleanConfig();
    // Every D key written twice: 130,000 key.duplicate findings.
    const twice = Array.from({ length: 130_000 }, (_, i) => `<key>D${i}</key><true/><key>D${i}</key><false/>`).join('');
    writeFileSync(path, build(c as never).replace('<key>Enabled</key>', `${twice}<key>Enabled</key>`));
    const human = await runCli(['check-config', '--config', path]);
    expect(human.stderr).toBe('');
    expect(human.code).toBe(0); // duplicates are warnings
    expect(human.stdout).toMatch(/129,?900 more key\.duplicate findings are not listed; only the first 100 are/);
    const json = await runCli(['check-config', '--config', path, '--json']);
    const dups = (jsonOf(json) as { findings: { id: string; evidence: Record<string, unknown> }[] }).findings.filter((f) => f.id === 'key.duplicate');
    expect(dups).toHaveLength(101);
    expect(dups.find((f) => f.evidence.notListed)?.evidence).toEqual({ notListed: 129_900, listed: 100 });
  });

  it('a 7 MB pattern is cut at 200 characters wherever a finding echoes it', async () => {
    const dir = tempDir();
    const path = join(dir, 'pattern.plist');
    const c = cleanConfig();
    (c.Scheduling as { iMIP: Record<string, unknown> }).iMIP.AddressPatterns = ['mailto:(a|b)*c?'.repeat(400_000) + '['];
    writeFileSync(path, build(c as never));
    const r = await runCli(['check-config', '--config', path, '--json']);
    const f = (jsonOf(r) as { findings: { id: string; message: string; evidence: { pattern: string } }[] }).findings.find((x) => x.id === 'patterns.invalid')!;
    expect(f.message.length).toBeLessThan(1000);
    expect(f.message).toMatch(/\(6000001 characters, cut at 200\)/);
    expect(f.evidence.pattern.length).toBeLessThan(300);
  });

  it('a 10 MB file is refused by its size before it is read', () => {
    const dir = tempDir();
    const path = join(dir, 'huge.plist');
    writeFileSync(path, Buffer.alloc(10 * 1024 * 1024, 0x41));
    expect(() => readPlistFile(path)).toThrow(/larger than 8 MiB/);
  });
});
