/**
 * One row per finding id and release line: a config that must raise it and one that must not.
 * The base config is clean on every release line (asserted first).
 */
import { describe, expect, it } from 'vitest';
import { loadForCommand } from '../../src/commands/shared.js';
import { runConfigChecks } from '../../src/checks/index.js';
import type { Finding } from '../../src/report/finding.js';
import { baseConfig, tempDir, withChange, writePlist, type Obj } from '../helpers/plist.js';

const I = 'Scheduling.iMIP';

async function check(cfg: Obj, version: string, platform: NodeJS.Platform = 'linux', mode = 0o600): Promise<Finding[]> {
  const dir = tempDir();
  const path = writePlist(dir, 'caldavd.plist', cfg, mode);
  const { ctx } = await loadForCommand({ config: path, serverVersion: version }, platform);
  return runConfigChecks(ctx);
}

const ids = (fs: Finding[]) => fs.map((f) => f.id);

describe('the base config', () => {
  for (const v of ['2.5', '3.2', '4.3', '5.0', '9.2']) {
    it(`has no errors or warnings on ${v}`, async () => {
      const fs = await check(baseConfig(v), v);
      expect(fs.filter((f) => f.severity !== 'info')).toEqual([]);
    });
  }
});

interface Row {
  id: string;
  versions: string[];
  trigger: (c: Obj) => Obj;
  /** A near miss that must stay silent. */
  quiet?: (c: Obj) => Obj;
  severity?: Finding['severity'];
  platform?: NodeJS.Platform;
  mode?: number;
}

const set = (path: string, value: unknown) => (c: Obj) => withChange(c, path, value);

const ROWS: Row[] = [
  { id: 'imip.disabled', versions: ['2.5', '4.3', '9.2'], trigger: set(`${I}.Enabled`, false), quiet: set(`${I}.Enabled`, true), severity: 'warning' },
  { id: 'imip.disabled', versions: ['9.2'], trigger: set(`${I}.Enabled`, undefined), severity: 'warning' },
  { id: 'imip.misplaced', versions: ['2.5', '9.2'], trigger: (c) => ({ ...c, iMIP: { Enabled: true } }), severity: 'error' },
  { id: 'key.unknown', versions: ['4.3', '9.2'], trigger: set(`${I}.Sending.SupressionDays`, 7), quiet: set(`${I}.Sending.SuppressionDays`, 7), severity: 'warning' },
  // A typo whose intended key then stays at a different default is an error: UseSsl false leaves UseSSL true.
  { id: 'key.unknown', versions: ['9.2'], trigger: (c) => withChange(set(`${I}.Receiving.UseSSL`, undefined)(c), `${I}.Receiving.UseSsl`, false), severity: 'error' },
  // ...and harmless when the intended key is written too, or the value equals the default.
  { id: 'key.unknown', versions: ['9.2'], trigger: set(`${I}.Receiving.UseSsl`, false), severity: 'warning' },
  { id: 'key.unknown', versions: ['9.2'], trigger: (c) => withChange(set(`${I}.Sending.SuppressionDays`, undefined)(c), `${I}.Sending.SupressionDays`, 7), severity: 'warning' },
  { id: 'key.type', versions: ['2.5', '4.3', '9.2'], trigger: set('Scheduling', ['x']), severity: 'error' },
  { id: 'key.type', versions: ['9.2'], trigger: set(`${I}`, 'yes'), severity: 'error' },
  { id: 'key.type', versions: ['4.3', '9.2'], trigger: set('Includes', { a: 'b' }), severity: 'error' },
  { id: 'key.type', versions: ['9.2'], trigger: set('Includes', '/etc/caldavd/x.plist'), severity: 'error' },
  { id: 'key.type', versions: ['9.2'], trigger: set('ImportConfig', ['x']), severity: 'error' },
  { id: 'key.range', versions: ['2.5', '9.2'], trigger: set(`${I}.Sending.Port`, -1), quiet: set(`${I}.Sending.Port`, 65535), severity: 'error' },
  { id: 'key.range', versions: ['9.2'], trigger: set(`${I}.Receiving.Port`, 70000), quiet: set(`${I}.Receiving.Port`, 1), severity: 'error' },
  { id: 'key.range', versions: ['4.3'], trigger: set(`${I}.MailGatewayPort`, 0), severity: 'error' },
  { id: 'key.type', versions: ['2.5', '9.2'], trigger: set(`${I}.Sending.Port`, '587'), quiet: set(`${I}.Sending.Port`, 2525), severity: 'error' },
  { id: 'key.type', versions: ['9.2'], trigger: set(`${I}.Receiving.UseSSL`, 'true') },
  { id: 'key.type', versions: ['9.2'], trigger: set(`${I}.AddressPatterns`, 'mailto:.*') },
  { id: 'key.unused', versions: ['5.0', '9.2'], trigger: set(`${I}.MailGatewayServer`, 'localhost'), severity: 'info' },
  { id: 'key.unused', versions: ['4.0'], trigger: set(`${I}.Sending.SuppressionDays`, 7), quiet: set(`${I}.Sending.Port`, 587) },
  { id: 'key.unused', versions: ['2.5'], trigger: set(`${I}.GUID`, 'B86ED9D3-49BD-44F8-8F5E-C89D08753DAC') },
  { id: 'sending.server-missing', versions: ['2.5', '9.2'], trigger: set(`${I}.Sending.Server`, ''), severity: 'error' },
  { id: 'sending.address-missing', versions: ['2.5', '9.2'], trigger: set(`${I}.Sending.Address`, undefined), severity: 'error' },
  { id: 'sending.address-invalid', versions: ['9.2'], trigger: set(`${I}.Sending.Address`, 'calendar@@example.test'), quiet: set(`${I}.Sending.Address`, '"Cal, Server" <calendar@example.test>') },
  { id: 'sending.address-invalid', versions: ['4.3'], trigger: set(`${I}.Sending.Address`, 'Calendar <calendar>') },
  { id: 'sending.address-plus', versions: ['2.5', '9.2'], trigger: set(`${I}.Sending.Address`, 'calendar+ics@example.test'), quiet: set(`${I}.Sending.Address`, 'cal-ics@example.test'), severity: 'error' },
  { id: 'sending.implicit-tls-port', versions: ['2.5', '4.3', '9.2'], trigger: set(`${I}.Sending.Port`, 465), quiet: set(`${I}.Sending.Port`, 25), severity: 'error' },
  { id: 'sending.cleartext-auth', versions: ['9.2'], trigger: set(`${I}.Sending.UseSSL`, false), quiet: (c) => set(`${I}.Sending.Username`, '')(set(`${I}.Sending.UseSSL`, false)(c)), severity: 'warning' },
  { id: 'receiving.server-missing', versions: ['2.5', '9.2'], trigger: set(`${I}.Receiving.Server`, ''), severity: 'error' },
  { id: 'sending.server-ip-address', versions: ['9.0', '9.2'], trigger: set(`${I}.Sending.Server`, '192.0.2.25'), quiet: set(`${I}.Sending.Server`, 'mail.example.test'), severity: 'error' },
  { id: 'receiving.server-ip-address', versions: ['9.2'], trigger: set(`${I}.Receiving.Server`, '2001:db8::25'), quiet: (c) => set(`${I}.Receiving.UseSSL`, false)(set(`${I}.Receiving.Port`, 143)(set(`${I}.Receiving.Server`, '2001:db8::25')(c))), severity: 'error' },
  { id: 'sending.server-ipv6-address', versions: ['2.5', '3.2', '4.3'], trigger: set(`${I}.Sending.Server`, '2001:db8::25'), quiet: set(`${I}.Sending.Server`, '192.0.2.25'), severity: 'error' },
  { id: 'receiving.server-ipv6-address', versions: ['2.5', '4.3'], trigger: set(`${I}.Receiving.Server`, '::1'), quiet: set(`${I}.Receiving.Server`, 'mail.example.test'), severity: 'error' },
  { id: 'receiving.port-missing', versions: ['2.5', '9.2'], trigger: set(`${I}.Receiving.Port`, undefined), quiet: set(`${I}.Receiving.Port`, 1993) },
  { id: 'receiving.port-missing', versions: ['9.2'], trigger: set(`${I}.Receiving.Port`, 0) },
  { id: 'receiving.type-invalid', versions: ['2.5', '4.3'], trigger: set(`${I}.Receiving.Type`, 'exchange'), quiet: set(`${I}.Receiving.Type`, 'IMAP4'), severity: 'error' },
  { id: 'receiving.type-invalid', versions: ['5.0', '9.2'], trigger: set(`${I}.Receiving.Type`, ''), severity: 'warning' },
  { id: 'receiving.tls-port-mismatch', versions: ['2.5', '9.2'], trigger: set(`${I}.Receiving.Port`, 143), quiet: (c) => set(`${I}.Receiving.UseSSL`, false)(set(`${I}.Receiving.Port`, 143)(c)), severity: 'error' },
  { id: 'receiving.tls-port-mismatch', versions: ['9.2'], trigger: set(`${I}.Receiving.UseSSL`, false) },
  { id: 'receiving.tls-port-mismatch', versions: ['9.2'], trigger: (c) => set(`${I}.Receiving.Type`, 'pop')(set(`${I}.Receiving.Port`, 110)(c)), quiet: (c) => set(`${I}.Receiving.Type`, 'pop')(set(`${I}.Receiving.Port`, 995)(c)) },
  { id: 'receiving.port-type-mismatch', versions: ['9.2'], trigger: set(`${I}.Receiving.Port`, 995) },
  { id: 'receiving.credentials-missing', versions: ['2.5', '9.2'], trigger: set(`${I}.Receiving.Password`, ''), severity: 'error' },
  { id: 'receiving.credentials-missing', versions: ['9.2'], trigger: set(`${I}.Receiving.Password`, ''), severity: 'warning', platform: 'darwin' },
  { id: 'receiving.credentials-missing', versions: ['4.3'], trigger: set(`${I}.Receiving.Password`, ''), severity: 'error', platform: 'darwin' },
  { id: 'receiving.polling-invalid', versions: ['2.5', '9.2'], trigger: set(`${I}.Receiving.PollingSeconds`, 0), quiet: set(`${I}.Receiving.PollingSeconds`, 300), severity: 'error' },
  { id: 'receiving.polling-invalid', versions: ['9.2'], trigger: set(`${I}.Receiving.PollingSeconds`, -5) },
  { id: 'receiving.mailbox-mismatch', versions: ['9.2'], trigger: set(`${I}.Receiving.Username`, 'ops@example.test'), quiet: set(`${I}.Receiving.Username`, 'calendar'), severity: 'warning' },
  {
    id: 'receiving.deletes-all-mail',
    versions: ['5.1', '9.2'],
    trigger: (c) => set(`${I}.Receiving.Server`, 'localhost')(set(`${I}.Receiving.Username`, 'com.apple.calendarserver')(c)),
    quiet: set(`${I}.Receiving.Server`, 'localhost'),
    severity: 'warning',
  },
  {
    id: 'receiving.deletes-all-mail',
    versions: ['9.2'],
    trigger: (c) => set(`${I}.Receiving.Server`, 'cal.example.test')(set(`${I}.Receiving.Username`, 'com.apple.calendarserver')(c)),
  },
  { id: 'receiving.deletes-all-mail', versions: ['2.5', '4.3', '5.0'], trigger: (c) => c, severity: 'info' },
  // CalendarServer-7.0..9.2 inbound.py fetchNextMessage: EXPUNGE after the last message, no LOGOUT.
  {
    id: 'receiving.sessions-left-open',
    versions: ['7.0', '9.2'],
    trigger: set(`${I}.Receiving.Type`, 'imap'),
    quiet: (c) => set(`${I}.Receiving.Type`, 'pop')(set(`${I}.Receiving.Port`, 995)(c)),
    severity: 'info',
  },
  // CalendarServer-5.0 inbound.py: POP3DownloadFactory keeps no settings; serverGreeting reads them.
  {
    id: 'receiving.pop-never-logs-in',
    versions: ['5.0'],
    trigger: (c) => set(`${I}.Receiving.Type`, 'pop')(set(`${I}.Receiving.Port`, 995)(c)),
    quiet: set(`${I}.Receiving.Type`, 'imap'),
    severity: 'error',
  },
  { id: 'patterns.empty', versions: ['2.5', '9.2'], trigger: set(`${I}.AddressPatterns`, []), severity: 'error' },
  { id: 'patterns.invalid', versions: ['9.2'], trigger: set(`${I}.AddressPatterns`, ['mailto:(.*']), quiet: set(`${I}.AddressPatterns`, ['mailto:(?P<user>[a-z.]+)@example\\.test\\Z']), severity: 'error' },
  { id: 'patterns.invalid', versions: ['9.2'], trigger: set(`${I}.AddressPatterns`, ['mailto:(?<user>.*)']) },
  { id: 'patterns.uppercase', versions: ['4.3', '9.2'], trigger: set(`${I}.AddressPatterns`, ['mailto:.*@Example\\.com']), quiet: set(`${I}.AddressPatterns`, ['mailto:\\S+@example\\.com']), severity: 'error' },
  { id: 'patterns.uppercase', versions: ['2.5'], trigger: set(`${I}.AddressPatterns`, ['mailto:.*@Example\\.com']), severity: 'warning' },
  { id: 'patterns.uppercase', versions: ['9.2'], trigger: set(`${I}.AddressPatterns`, ['MAILTO:.*']), quiet: set(`${I}.AddressPatterns`, ['(?i)MAILTO:.*']) },
  { id: 'patterns.no-mailto', versions: ['9.2'], trigger: set(`${I}.AddressPatterns`, ['user@example\\.test']), quiet: set(`${I}.AddressPatterns`, ['^mailto:.*', '(mailto:)?.*', 'mai?lto:x', '.*@example\\.test', '(?i)MAILTO:.*', '(?P<s>mailto):.*', '[a-z]+:.*', 'mailto|urn']), severity: 'error' },
  // A named group of letters stops at ":" (the issue's example).
  { id: 'patterns.no-mailto', versions: ['9.2'], trigger: set(`${I}.AddressPatterns`, ['(?P<local>[a-z]+)@example\\.com']), severity: 'error' },
  { id: 'patterns.no-mailto', versions: ['9.2'], trigger: set(`${I}.AddressPatterns`, ['[a-z]+@.*', '^urn:.*', 'mailto\\.']), severity: 'error' },
  { id: 'injection.username-default', versions: ['2.5'], trigger: set(`${I}.Username`, undefined), quiet: set(`${I}.Username`, 'gateway'), severity: 'warning' },
  { id: 'injection.username-default', versions: ['2.5'], trigger: set(`${I}.Username`, ''), severity: 'error' },
  { id: 'injection.password-missing', versions: ['2.5', '3.2', '4.3'], trigger: set(`${I}.Password`, ''), severity: 'error' },
  { id: 'injection.password-missing', versions: ['4.3'], trigger: set(`${I}.Password`, ''), severity: 'warning', platform: 'darwin' },
  { id: 'gateway.remote', versions: ['2.5', '4.3'], trigger: set(`${I}.MailGatewayServer`, 'gw.example.test'), quiet: set(`${I}.MailGatewayServer`, 'localhost'), severity: 'info' },
  { id: 'secrets.file-readable', versions: ['9.2'], trigger: (c) => c, mode: 0o644, severity: 'warning' },
  { id: 'secrets.keychain', versions: ['8.0'], trigger: set(`${I}.Receiving.Password`, ''), platform: 'darwin', severity: 'info' },
];

describe('config rules', () => {
  for (const row of ROWS) {
    for (const v of row.versions) {
      it(`${row.id} on ${v}${row.platform ? ` (${row.platform})` : ''}`, async () => {
        const base = baseConfig(v);
        const fs = await check(row.trigger(base), v, row.platform, row.mode);
        const hit = fs.filter((f) => f.id === row.id);
        expect(hit.length, `expected ${row.id} in ${ids(fs).join(', ')}`).toBeGreaterThan(0);
        if (row.severity) expect(hit[0]!.severity).toBe(row.severity);
        for (const f of hit) {
          expect(f.path).toMatch(/\S/);
          expect(f.message).toMatch(/\S/);
          expect(f.fix).toMatch(/\S/);
          expect(typeof f.evidence).toBe('object');
        }
        if (row.quiet) {
          const quiet = await check(row.quiet(base), v, row.platform);
          expect(ids(quiet)).not.toContain(row.id);
        }
      });
    }
  }

  it('an IPv6 address as Server: 2.x-4.x never reach it (IPv4-only clients), 5.0 and later do', async () => {
    const v6 = (v: string) => withChange(withChange(baseConfig(v), `${I}.Sending.Server`, '2001:db8::25'), `${I}.Receiving.Server`, '2001:db8::143');
    for (const v of ['5.0', '6.2', '8.1']) {
      const found = ids(await check(v6(v), v));
      expect(found, v).not.toContain('sending.server-ipv6-address');
      expect(found, v).not.toContain('receiving.server-ipv6-address');
    }
    const fs = await check(v6('4.3'), '4.3');
    const send = fs.find((f) => f.id === 'sending.server-ipv6-address')!;
    expect(send.path).toBe(`${I}.Sending.Server`);
    expect(send.message).toBe(
      'Sending.Server is the IPv6 address 2001:db8::25. Calendar Server 4.3 connects to mail servers over IPv4 only: it looks 2001:db8::25 up as a host name, the lookup fails, and no invitation goes out',
    );
    expect(send.evidence).toMatchObject({ value: '2001:db8::25', twisted: '12.0.0' });
    expect(fs.find((f) => f.id === 'receiving.server-ipv6-address')!.message).toMatch(/2001:db8::143 .* no reply is read$/);
    // A host name with a colon is no address: nothing to say without a lookup.
    expect(ids(await check(withChange(baseConfig('4.3'), `${I}.Sending.Server`, 'mail.example.test:25'), '4.3'))).not.toContain('sending.server-ipv6-address');
  });

  it('receiving.sessions-left-open: 7.0 and later only (earlier releases log out), with the sessions PollingSeconds implies', async () => {
    const imap = (v: string, seconds: number) => withChange(withChange(baseConfig(v), `${I}.Receiving.Type`, 'imap'), `${I}.Receiving.PollingSeconds`, seconds);
    for (const v of ['2.5', '4.3', '5.0', '5.1', '6.2']) expect(ids(await check(imap(v, 30), v)), v).not.toContain('receiving.sessions-left-open');
    const f = (await check(imap('8.0', 300), '8.0')).find((x) => x.id === 'receiving.sessions-left-open')!;
    expect(f.message).toMatch(/with PollingSeconds 300, 6 sessions or more for .* at once when mail arrives at every poll$/);
    expect(f.evidence).toMatchObject({ pollingSeconds: 300, sessionsAtOnce: 6 });
    expect(f.fix).toMatch(/mail_max_userip_connections, 10 by default/);
  });

  it('receiving.pop-never-logs-in: 5.0 only (5.1 keeps the POP3 settings; 4.x and 6.0+ too)', async () => {
    const pop = (v: string) => withChange(withChange(baseConfig(v), `${I}.Receiving.Type`, 'pop'), `${I}.Receiving.Port`, 995);
    for (const v of ['2.5', '4.3', '5.1', '6.0', '9.2']) expect(ids(await check(pop(v), v)), v).not.toContain('receiving.pop-never-logs-in');
    const f = (await check(pop('5.0'), '5.0')).find((x) => x.id === 'receiving.pop-never-logs-in')!;
    expect(f.message).toMatch(/never logs in to a POP3 mailbox: .*"AttributeError: 'POP3DownloadFactory' object has no attribute 'settings'"/);
    expect(f.fix).toMatch(/IMAP .* or move to 5\.1 or later/);
  });

  // 2.x-4.x mail.py: the factory's clientConnectionFailed logs "IMAP factory connection failed";
  // 5.0+ connect through twext's GAIEndpoint, whose wrapping factory does not call it: 5.0-5.3
  // IMIPPollingWork.doWork logs "Failed to fetch mail (...)", 6.0+ has no such catch.
  it('receiving.port-missing names the log line each release writes', async () => {
    const noPort = (v: string) => withChange(baseConfig(v), `${I}.Receiving.Port`, 0);
    const message = async (v: string) => (await check(noPort(v), v)).find((x) => x.id === 'receiving.port-missing')!.message;
    expect(await message('4.3')).toMatch(/logs "IMAP factory connection failed" every poll$/);
    expect(await message('5.1')).toMatch(/logs "Failed to fetch mail \(Failure with multiple causes\.\)" every poll$/);
    expect(await message('9.2')).toMatch(/every poll fails inside the job queue, with no line of the mail gateway's own in the log$/);
  });

  it('does not run 2.x-4.x injection rules on 5.0+', async () => {
    const fs = await check(withChange(baseConfig('9.2'), `${I}.Password`, ''), '9.2');
    expect(ids(fs)).not.toContain('injection.password-missing');
  });

  it('says only that iMIP is off when no iMIP settings were written', async () => {
    const fs = await check({ ServerHostName: 'cal.example.test' }, '9.2');
    expect(ids(fs)).toEqual(['imip.disabled']);
  });

  it('Scheduling or iMIP that is not a dict: key.type alone, not "iMIP is off" nor the settings it hides', async () => {
    for (const v of ['2.5', '4.3', '9.2']) {
      for (const [path, value] of [[I, ['x']], [I, []], [I, 'on'], [I, 1], ['Scheduling', ['x']], ['Scheduling', 'x']] as const) {
        const fs = await check(withChange(baseConfig(v), path, value), v);
        expect(fs.map((f) => [f.id, f.path]), `${v} ${path}=${JSON.stringify(value)}`).toEqual([['key.type', path]]);
        expect(fs[0]!.message).toMatch(/the server fails when it reads/);
      }
    }
  });

  it('Sending or Receiving that is not a dict: key.type says what the server does, and nothing is said of the keys under it', async () => {
    for (const side of ['Sending', 'Receiving']) {
      for (const value of [['x'], 'x', 3]) {
        const fs = await check(withChange(baseConfig('9.2'), `${I}.${side}`, value), '9.2');
        const shown = `${side}=${JSON.stringify(value)}`;
        expect(fs.filter((f) => f.path.startsWith(`${I}.${side}.`)), shown).toEqual([]);
        const type = fs.filter((f) => f.id === 'key.type');
        expect(type.map((f) => f.path), shown).toEqual([`${I}.${side}`]);
        expect(type[0]!.message).toMatch(new RegExp(`not a <dict>: it replaces the server's ${side} settings, so none of them is read, and with iMIP enabled the server fails as soon as it reads one of them \\(${side}\\.Username, at start-up where it looks for the password in the keychain\\)$`));
        expect(JSON.stringify(fs), shown).not.toMatch(/undefined|\[object/);
      }
    }
  });

  it('5.0 over POP3 never logs in: no claim that it deletes the mail it never fetches', async () => {
    const I = 'Scheduling.iMIP';
    const pop = withChange(withChange(baseConfig('5.0'), `${I}.Receiving.Type`, 'pop'), `${I}.Receiving.Port`, 995);
    const on50 = (await check(pop, '5.0')).map((f) => f.id);
    expect(on50).toContain('receiving.pop-never-logs-in');
    expect(on50).not.toContain('receiving.deletes-all-mail');
    // 4.3 over POP3 does log in, and deletes every message it fetches.
    expect((await check(withChange(withChange(baseConfig('4.3'), `${I}.Receiving.Type`, 'pop'), `${I}.Receiving.Port`, 995), '4.3')).map((f) => f.id)).toContain('receiving.deletes-all-mail');
  });

  it('receiving.polling-invalid names a value of another type in plist words', async () => {
    const message = async (value: unknown) => (await check(withChange(baseConfig('9.2'), `${I}.Receiving.PollingSeconds`, value), '9.2')).find((f) => f.id === 'receiving.polling-invalid')!.message;
    expect(await message([])).toMatch(/^Receiving\.PollingSeconds is an <array>, not a positive number of seconds/);
    expect(await message({ a: 1 })).toMatch(/^Receiving\.PollingSeconds is a <dict>, not/);
    expect(await message('30')).toMatch(/^Receiving\.PollingSeconds is the string "30", not/);
    expect(await message(-5)).toMatch(/^Receiving\.PollingSeconds is -5, not/);
  });

  it('names the closest known key for a typo', async () => {
    const fs = await check(withChange(baseConfig('9.2'), `${I}.Receiving.PolingSeconds`, 30), '9.2');
    expect(fs.find((f) => f.id === 'key.unknown')!.evidence.closest).toBe('PollingSeconds');
  });

  it('lists harmless unknown keys up to 50, then counts the rest in one finding; a typo that matters is always listed', async () => {
    let cfg = baseConfig('9.2');
    for (let i = 0; i < 300; i++) cfg = withChange(cfg, `${I}.Stray${i}`, i);
    cfg = withChange(set(`${I}.Receiving.UseSSL`, undefined)(cfg), `${I}.Receiving.UseSsl`, false);
    const unknown = (await check(cfg, '9.2')).filter((f) => f.id === 'key.unknown');
    expect(unknown.filter((f) => f.severity === 'error').map((f) => f.path)).toEqual([`${I}.Receiving.UseSsl`]);
    expect(unknown.filter((f) => f.severity === 'warning')).toHaveLength(51);
    expect(unknown.at(-1)!.message).toMatch(/^250 more keys under Scheduling\.iMIP are not keys the server knows/);
  });

  it('points at the file and line the value came from', async () => {
    const fs = await check(withChange(baseConfig('9.2'), `${I}.Sending.Port`, 465), '9.2');
    expect(String(fs.find((f) => f.id === 'sending.implicit-tls-port')!.evidence.source)).toMatch(/caldavd\.plist:\d+$/);
  });

  it('never puts a password in a finding', async () => {
    const cfg = withChange(withChange(baseConfig('4.3'), `${I}.Receiving.PollingSeconds`, 'abc'), `${I}.Sending.Password`, 'Zz-uniq-pass');
    const fs = await check(cfg, '4.3', 'darwin', 0o644);
    const text = JSON.stringify(fs);
    for (const pw of ['Zz-uniq-pass', 'recv-secret-2', 'gateway-secret-3']) expect(text).not.toContain(pw);
  });
});
