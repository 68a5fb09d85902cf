/** Injection causes: one config/log/directory fixture per cause, with the ids expected (a table). */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { directoryOf, findUser, lookupCommand, parseXml, readDirectoryFile, readyRecord } from '../../src/diagnose/directory.js';
import { loadForCommand } from '../../src/commands/shared.js';
import { config, DIRS, ids, LOGS, runDiagnose, writeConfig } from '../fixtures/diagnose/helpers.js';

const OD = { 'DirectoryService.type': 'twistedcaldav.directory.appleopendirectory.OpenDirectoryService', 'DirectoryService.params.node': '/Search' };
const LDAP = {
  'DirectoryService.type': 'twistedcaldav.directory.ldapdirectory.LdapDirectoryService',
  'DirectoryService.params.uri': 'ldaps://ldap.example.test/',
  'DirectoryService.params.rdnSchema.base': 'dc=example,dc=test',
  'DirectoryService.params.rdnSchema.users.rdn': 'ou=People',
};
const NO_USERNAME = { 'Scheduling.iMIP.Username': undefined };

interface Case {
  name: string;
  version: string;
  changes?: Record<string, unknown>;
  logs?: string[];
  directory?: string;
  /** The injection.* ids, in report order. */
  expected: string[];
}

const CASES: Case[] = [
  {
    name: '2.x log names the configured (default) user: principal not found, and Username is the default',
    version: '2.5',
    changes: NO_USERNAME,
    logs: ['error-2x.log'],
    expected: ['injection.username-default', 'injection.principal-not-found'],
  },
  {
    name: '2.x log names another user than the config: another config or no restart',
    version: '2.5',
    logs: ['error-2x.log'],
    expected: ['injection.principal-not-found'],
  },
  {
    name: '2.x Username empty or default, nothing else known',
    version: '2.5',
    changes: NO_USERNAME,
    expected: ['injection.username-default'],
  },
  {
    name: '2.x default Username, and the accounts file has that user: settled',
    version: '2.5',
    changes: NO_USERNAME,
    directory: 'accounts-with-gateway.xml',
    expected: [],
  },
  {
    name: '2.x default Username missing from the accounts file (it is only a group there)',
    version: '2.5',
    changes: NO_USERNAME,
    directory: 'accounts-without-gateway.xml',
    expected: ['injection.username-default', 'injection.user-not-in-directory'],
  },
  {
    name: '2.x configured Username missing from a 7.x-format directory file',
    version: '2.5',
    directory: 'directory-7x.xml',
    expected: ['injection.user-not-in-directory'],
  },
  {
    name: '2.x log and accounts file agree: principal not found and user not in directory',
    version: '2.5',
    changes: NO_USERNAME,
    logs: ['error-2x.log'],
    directory: 'accounts-without-gateway.xml',
    expected: ['injection.username-default', 'injection.principal-not-found', 'injection.user-not-in-directory'],
  },
  {
    name: '2.x Open Directory: cannot be read offline, the dscl command',
    version: '2.5',
    changes: OD,
    expected: ['injection.directory-offline'],
  },
  {
    name: '2.x LDAP: the ldapsearch command',
    version: '2.5',
    changes: LDAP,
    expected: ['injection.directory-offline'],
  },
  {
    name: '4.3 with a 2.x log: not this version',
    version: '4.3',
    logs: ['error-2x.log'],
    expected: ['injection.not-this-version'],
  },
  {
    name: '9.2 with a 2.x log: not this version',
    version: '9.2',
    logs: ['error-2x.log'],
    expected: ['injection.not-this-version'],
  },
  {
    name: '4.3 with its own log (authentication failures are a log finding, no principal)',
    version: '4.3',
    logs: ['error-4x.log'],
    expected: [],
  },
  {
    name: '4.3 needs no directory user, even with an accounts file that lacks it',
    version: '4.3',
    directory: 'accounts-without-gateway.xml',
    expected: [],
  },
];

describe('injection causes', () => {
  it.each(CASES.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const r = await runDiagnose({
      version: c.version,
      cfg: config(c.version, c.changes),
      logs: (c.logs ?? []).map((l) => join(LOGS, l)),
      ...(c.directory ? { directory: join(DIRS, c.directory) } : {}),
    });
    expect(ids(r, 'injection.')).toEqual(c.expected);
    const injection = r.areas.find((a) => a.area === 'injection')!;
    if (c.expected.some((id) => r.findings.find((f) => f.id === id)?.severity === 'error')) expect(injection.status).toBe('error');
    for (const f of r.findings.filter((x) => x.id.startsWith('injection.'))) {
      expect(f.area).toBe('injection');
      expect(f.fix.length).toBeGreaterThan(30);
    }
  });

  it('principal not found: says which user the server looked for and compares it with Username', async () => {
    const same = await runDiagnose({ version: '2.5', cfg: config('2.5', NO_USERNAME), logs: [join(LOGS, 'error-2x.log')] });
    const a = same.findings.find((f) => f.id === 'injection.principal-not-found')!;
    expect(a.evidence).toMatchObject({ loggedName: 'com.apple.calendarserver', configuredUsername: 'com.apple.calendarserver', count: 2 });
    expect(a.message).toMatch(/that is the configured Username/);
    const other = await runDiagnose({ version: '2.5', logs: [join(LOGS, 'error-2x.log')] });
    const b = other.findings.find((f) => f.id === 'injection.principal-not-found')!;
    expect(b.evidence).toMatchObject({ loggedName: 'com.apple.calendarserver', configuredUsername: 'caldav-gateway' });
    expect(b.message).toMatch(/runs with another config, or was not restarted/);
  });

  it('user not in directory: a ready record in the file\'s own format and the matching plist keys', async () => {
    const r = await runDiagnose({ version: '2.5', cfg: config('2.5', NO_USERNAME), directory: join(DIRS, 'accounts-without-gateway.xml') });
    const f = r.findings.find((x) => x.id === 'injection.user-not-in-directory')!;
    expect(f.message).toMatch(/4 users\) has no user "com\.apple\.calendarserver" \(there is a group record/);
    const record = String(f.evidence.record);
    expect(record).toMatch(/^<user>\n {2}<uid>com\.apple\.calendarserver<\/uid>\n {2}<guid>[0-9A-F-]{36}<\/guid>\n {2}<password>\S{20,}<\/password>/);
    const password = /<password>(\S+)<\/password>/.exec(record)![1]!;
    expect(String(f.evidence.plistKeys)).toBe(`<key>Username</key>\n<string>com.apple.calendarserver</string>\n<key>Password</key>\n<string>${password}</string>`);
    expect(f.fix).toContain(record.split('\n')[1]!.trim());
    // The generated record really is a user of that file once added.
    const seven = await runDiagnose({ version: '2.5', directory: join(DIRS, 'directory-7x.xml') });
    expect(String(seven.findings.find((x) => x.id === 'injection.user-not-in-directory')!.evidence.record)).toMatch(/^<record type="user">\n {2}<uid>[0-9A-F-]{36}<\/uid>\n {2}<short-name>caldav-gateway<\/short-name>/);
  });

  it('Open Directory and LDAP: the command that checks the user there', async () => {
    const od = await runDiagnose({ version: '2.5', cfg: config('2.5', OD) });
    expect(od.findings.find((f) => f.id === 'injection.directory-offline')!.fix).toMatch(/^Run: dscl \/Search -read \/Users\/caldav-gateway\n/);
    const ldap = await runDiagnose({ version: '2.5', cfg: config('2.5', LDAP) });
    expect(ldap.findings.find((f) => f.id === 'injection.directory-offline')!.evidence.command).toBe(
      "ldapsearch -x -H ldaps://ldap.example.test/ -b ou=People,dc=example,dc=test '(uid=caldav-gateway)'",
    );
  });

  it('a directory file that is not an accounts file: a clear error for it, the rest still runs', async () => {
    for (const [file, why] of [
      ['not-xml.txt', /not XML/],
      ['plist-root.xml', /XML, but not an accounts file: the root element is <plist>/],
      ['broken.xml', /not well-formed XML: <\/usr> where <\/user> was expected at line 5/],
      ['missing.xml', /no such file/],
    ] as const) {
      const r = await runDiagnose({ version: '2.5', directory: join(DIRS, file), logs: [join(LOGS, 'error-2x.log')] });
      const f = r.findings.find((x) => x.id === 'diagnose.input-unreadable' && x.evidence.kind === 'directory')!;
      expect(f.message, file).toMatch(why);
      expect(r.inputs.find((i) => i.kind === 'directory')).toMatchObject({ status: 'error' });
      expect(ids(r, 'injection.principal-not-found')).toHaveLength(1);
      expect(r.exitCode).toBe(2); // an input given on the command line could not be read: 2, as grep
    }
  });

  it('3.0 and later look up no directory user: a --directory file is listed as not used, not read, and no error', async () => {
    for (const [version, how] of [['4.3', /4\.3 \(3\.x-4\.x\) authenticates the mail gateway with a shared secret/], ['9.2', /9\.2 \(5\.0\+\) injects replies in-process/]] as const) {
      for (const file of ['missing.xml', 'broken.xml', 'accounts-without-gateway.xml']) {
        const r = await runDiagnose({ version, offline: true, directory: join(DIRS, file) });
        expect(r.inputs.find((i) => i.kind === 'directory'), `${version} ${file}`).toMatchObject({ status: 'not-used', detail: expect.stringMatching(how) });
        expect(r.findings.filter((f) => f.evidence.kind === 'directory' || f.id.startsWith('injection.user-'))).toEqual([]);
        expect(r.exitCode, `${version} ${file}`).not.toBe(2);
        expect(r.areas.find((a) => a.area === 'injection')!.status).not.toBe('error');
      }
    }
  });
});

describe('the directory file and the config', () => {
  it('reads 2.x accounts with repeat, and 7.x records', async () => {
    const a = await readDirectoryFile(join(DIRS, 'accounts-without-gateway.xml'));
    expect(a).toMatchObject({ format: 'accounts', realm: 'Test Realm' });
    expect(a.records.filter((r) => r.type === 'user').flatMap((r) => r.shortNames)).toEqual(['admin', 'user01', 'user02', 'user03']);
    expect(findUser(a, 'com.apple.calendarserver')).toMatchObject({ user: null, otherType: { type: 'group' } });
    const b = await readDirectoryFile(join(DIRS, 'accounts-with-gateway.xml'));
    expect(findUser(b, 'caldav-gateway').user).toBeTruthy();
    const c = await readDirectoryFile(join(DIRS, 'directory-7x.xml'));
    expect(c.records).toEqual([
      { type: 'user', shortNames: ['admin'], guid: '0C8BDE62-E600-4696-83D3-8B5ECABDFD2E' },
      { type: 'location', shortNames: ['mercury'], guid: 'mercury' },
    ]);
    expect(parseXml('<a x="1 &amp; 2"><b>&#65;&lt;</b><!-- c --><![CDATA[<d>]]></a>')).toMatchObject({ name: 'a', attrs: { x: '1 & 2' }, text: '<d>', children: [{ name: 'b', text: 'A<' }] });
    expect(readyRecord('accounts', 'x&y').record).toContain('<uid>x&amp;y</uid>');
  });

  it('finds the directory the config names, per release line', async () => {
    const load = async (version: string, changes: Record<string, unknown> = {}) => {
      const { ctx } = await loadForCommand({ config: writeConfig(config(version, changes)), serverVersion: version });
      return directoryOf(ctx.config, ctx.version);
    };
    expect(await load('2.5')).toMatchObject({ kind: 'xml', xmlFile: '/etc/caldavd/accounts.xml' });
    expect(await load('3.2')).toMatchObject({ kind: 'xml', xmlFile: '/etc/caldavd/accounts.xml' });
    expect(await load('4.3')).toMatchObject({ kind: 'xml', xmlFile: '/var/db/caldavd/Config/accounts.xml' });
    expect(await load('4.3', { ConfigRoot: '/opt/cal/conf', 'DirectoryService.params.xmlFile': 'users.xml' })).toMatchObject({ xmlFile: '/opt/cal/conf/users.xml' });
    expect(await load('9.2', { 'DirectoryService.type': 'xml', 'DirectoryService.params.xmlFile': '/srv/accounts.xml' })).toMatchObject({ kind: 'xml', xmlFile: '/srv/accounts.xml' });
    const od = await load('2.5', { 'DirectoryService.type': 'opendirectory', 'DirectoryService.params.node': '/LDAPv3/od.example.test' });
    expect(lookupCommand(od, 'com.apple.calendarserver')).toBe('dscl /LDAPv3/od.example.test -read /Users/com.apple.calendarserver');
  });
});
