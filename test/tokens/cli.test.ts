/**
 * `imip tokens` as an admin runs it, on both stores: a SQLite file (4.3) and PostgreSQL (9.2,
 * started by the test). What a token maps to and whether the server accepts it today, the tokens
 * of an attendee, organizer or event, the statistics with the next purge; --json; exit 0/1/2.
 */
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, runCli, jsonOf } from '../helpers/cli.js';
import { baseConfig, tempDir, withChange, writePlist } from '../helpers/plist.js';
import { createImipDatabase, startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { writeSqliteStore, type Row } from '../helpers/token-store.js';
import { checkNagios, checkPrometheus, sample } from '../helpers/monitoring.js';

const DAY = 86_400_000;
const day = (n: number) => new Date(Date.now() - n * DAY).toISOString();
const ROWS: Row[] = [
  { token: 'c0ffee00-1111-4222-8333-444455556661', organizer: 'mailto:boss@example.test', attendee: 'mailto:ann@remote.test', uid: 'EV-A', date: day(3) },
  { token: 'c0ffee00-1111-4222-8333-444455556662', organizer: 'mailto:boss@example.test', attendee: 'mailto:ann@remote.test', uid: 'EV-B', date: day(120) },
  { token: 'c0ffee00-1111-4222-8333-444455556663', organizer: 'urn:x-uid:9F8E', attendee: 'mailto:bob@remote.test', uid: 'EV-A', date: day(40) },
];

let pg: TestPostgres;
let sqliteConfig: string;
let pgConfig: string;
let sqlitePath: string;

beforeAll(async () => {
  pg = await startPostgres();
  await createImipDatabase(pg, 'caldav', ROWS);
  const dataRoot = tempDir('imip-dr-');
  sqlitePath = await writeSqliteStore(join(dataRoot, 'mailgatewaytokens.sqlite'), ROWS);
  sqliteConfig = writePlist(tempDir(), 'caldavd.plist', withChange(baseConfig('4.3'), 'DataRoot', dataRoot));
  let cfg = withChange(baseConfig('9.2'), 'DBType', 'postgres');
  cfg = withChange(cfg, 'DatabaseConnection', { endpoint: `tcp:127.0.0.1:${pg.port}`, database: 'caldav', user: 'caldav', password: pg.password });
  pgConfig = writePlist(tempDir(), 'caldavd.plist', cfg);
}, 120_000);
afterAll(async () => {
  await pg?.stop();
});

const STORES = [
  { name: 'SQLite (4.3)', args: () => ['--config', sqliteConfig, '--server-version', '4.3'] },
  { name: 'PostgreSQL (9.2)', args: () => ['--config', pgConfig, '--server-version', '9.2'] },
];

describe.each(STORES)('imip tokens on $name', ({ name, args }) => {
  it('TOKEN: what it maps to and whether the server accepts it today (exit 0), an unknown one exits 1', async () => {
    const r = await runCli(['tokens', ROWS[0]!.token, ...args()]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('accepted today (INJECTION_SUBMITTED)');
    expect(r.stdout).toContain('organizer mailto:boss@example.test');
    expect(r.stdout).toContain('event     EV-A');
    const unknown = await runCli(['tokens', 'C0FFEE00-1111-4222-8333-444455556661', ...args(), '--json']);
    expect(unknown.code).toBe(1);
    const doc = jsonOf(unknown);
    expect(doc.token).toMatchObject({ status: 'unknown', acceptedToday: false, serverAction: 'UNKNOWN_TOKEN' });
    expect(doc.token.nearMatches).toEqual([expect.objectContaining({ token: ROWS[0]!.token, how: 're-cased' })]);
  });

  it('an unknown token: "not in the store" said once, in the token.unknown finding; --json keeps the whole explanation', async () => {
    const token = 'c0ffee00-0000-4000-8000-000000000000';
    const r = await runCli(['tokens', token, ...args()]);
    expect(r.code).toBe(1);
    expect(r.stdout.match(/didn't recognize it/g)).toHaveLength(1);
    expect(r.stdout).toContain(`✗ token.unknown  Token ${token} is not in the store: the server logs "found a token but didn't recognize it"`);
    expect(r.stdout).not.toContain('The store has no row with this exact token');
    // What only the explanation says stays (9.2: the 72-hour rule of 7.0 and later).
    if (name.startsWith('PostgreSQL')) expect(r.stdout).toContain(`${token}  ✗ not recognized (UNKNOWN_TOKEN)\n  From 7.0 a reply carrying an unknown token is deleted once it is older than 72 hours (UNKNOWN_TOKEN_OLD).\n`);
    else expect(r.stdout).toContain(`${token}  ✗ not recognized (UNKNOWN_TOKEN)\n\n✗ token.unknown`);
    const doc = jsonOf(await runCli(['tokens', token, ...args(), '--json']));
    expect(doc.token.explanation).toMatch(/^The store has no row with this exact token: the server logs "found a token but didn't recognize it" and the reply is not applied\./);
    expect(doc.findings.map((f: { id: string }) => f.id)).toEqual(['token.unknown']);
  });

  it('--attendee, --organizer, --uid list the matching tokens, newest first; no match exits 1', async () => {
    const ann = JSON.parse((await runCli(['tokens', '--attendee', 'ANN@remote.test', ...args(), '--json'])).stdout);
    expect(ann.rows.map((x: { uid: string }) => x.uid)).toEqual(['EV-A', 'EV-B']);
    const byUid = JSON.parse((await runCli(['tokens', '--uid', 'EV-A', ...args(), '--json'])).stdout);
    expect(byUid.rows).toHaveLength(2);
    const byOrg = await runCli(['tokens', '--organizer', 'urn:x-uid:9F8E', ...args()]);
    expect(byOrg.code).toBe(0);
    expect(byOrg.stdout).toContain(ROWS[2]!.token);
    const none = await runCli(['tokens', '--attendee', 'nobody@remote.test', ...args()]);
    expect(none.code).toBe(1);
    expect(none.stdout).toContain('no token for attendee nobody@remote.test');
  });

  it('no argument: counts, ages, and the next purge on 2.x-4.x only', async () => {
    const r = await runCli(['tokens', ...args(), '--json']);
    expect(r.code).toBe(0);
    const doc = jsonOf(r);
    expect(doc.stats).toMatchObject({ rows: 3, tokens: 3, organizers: 2, attendees: 2, events: 2 });
    expect(doc.stats.ages.find((a: { bucket: string }) => a.bucket === '91-365 days').rows).toBe(1);
    if (name.startsWith('SQLite')) expect(doc.stats.nextPurge).toMatchObject({ days: 90, rows: 1, tokens: 1 });
    else expect(doc.stats.nextPurge).toBeNull();
    expect(r.stdout).not.toContain(pg.password);
    const human = await runCli(['tokens', ...args()]);
    expect(human.stdout).toMatch(name.startsWith('SQLite') ? /Next purge .*: 1 row/ : /never deletes tokens/);
  });
});

describe('imip tokens on 2.x-4.x with a token held by two rows', () => {
  const dup = 'c0ffee00-1111-4222-8333-4444555566dd';
  let store: string;
  beforeAll(async () => {
    const twice = { token: dup, organizer: 'mailto:boss@example.test', attendee: 'mailto:ann@remote.test', uid: 'EV-D', date: day(1) };
    store = await writeSqliteStore(join(tempDir('imip-dup-'), 'mailgatewaytokens.sqlite'), [...ROWS, twice, twice]);
  });

  it('a listing marks the token the server does not recognize; every mode exits 1 for the duplicate-tokens warning', async () => {
    const list = await runCli(['tokens', '--attendee', 'ann@remote.test', '--token-store', store, '--server-version', '4.3']);
    expect(list.code).toBe(1);
    expect(list.stdout).toContain(`${dup}  held by 2 rows: the server does not recognize it (UNKNOWN_TOKEN)`);
    expect(list.stdout).toContain('3 tokens (4 rows) for attendee ann@remote.test');
    const json = jsonOf(await runCli(['tokens', '--attendee', 'ann@remote.test', '--token-store', store, '--server-version', '4.3', '--json']));
    expect(json.rows.filter((r: { heldByRows?: number }) => r.heldByRows === 2)).toHaveLength(2);
    expect(json.rows.find((r: { token: string }) => r.token === ROWS[0]!.token).heldByRows).toBeUndefined();
    const accepted = await runCli(['tokens', ROWS[0]!.token, '--token-store', store, '--server-version', '4.3']);
    expect(accepted.stdout).toContain('accepted today');
    expect(accepted.code).toBe(1);
    const stats = await runCli(['tokens', '--token-store', store, '--server-version', '4.3']);
    expect(stats.code).toBe(1);
    // 5.0+ takes the first row: no mark, no warning.
    const on9 = jsonOf(await runCli(['tokens', '--attendee', 'ann@remote.test', '--token-store', store, '--server-version', '9.2', '--json']));
    expect(on9.rows.some((r: { heldByRows?: number }) => r.heldByRows)).toBe(false);
    // The token asked about: why it is not recognized is said by token.unknown-duplicate, not again above it.
    const one = await runCli(['tokens', dup, '--token-store', store, '--server-version', '4.3']);
    expect(one.stdout).toContain(`✗ token.unknown-duplicate  Token ${dup} is in the store 2 times`);
    expect(one.stdout).not.toContain('2 rows hold this token');
  });

  it('--format nagios: the state from the findings, the first problem named; a store that cannot be read is UNKNOWN', async () => {
    const warn = await runCli(['tokens', '--token-store', store, '--server-version', '2.5', '--format', 'nagios']);
    const w = checkNagios(warn.stdout, warn.code);
    expect(w.state).toBe('WARNING');
    expect(w.text).toMatch(/^tokens: token-store\.duplicate-tokens: 1 token is held by more than one row/);
    const unknown = await runCli(['tokens', 'c0ffee00-0000-4000-8000-000000000000', '--token-store', store, '--server-version', '9.2', '--format', 'nagios']);
    const u = checkNagios(unknown.stdout, unknown.code);
    expect(u.state).toBe('CRITICAL');
    expect(u.text).toMatch(/^tokens: token\.unknown: Token c0ffee00-0000-4000-8000-000000000000 is not in the store/);
    expect(u.perf.get('errors')).toBe('1;;;0');
    const twice = checkNagios((await runCli(['tokens', dup, '--token-store', store, '--server-version', '4.3', '--format', 'nagios'])).stdout, 2);
    expect(twice.text).toMatch(/^tokens: token\.unknown-duplicate: Token c0ffee00-1111-4222-8333-4444555566dd is in the store 2 times/);
    const none = await runCli(['tokens', '--attendee', 'nobody@remote.test', '--token-store', sqlitePath, '--server-version', '4.3', '--format', 'nagios']);
    expect(checkNagios(none.stdout, none.code)).toMatchObject({ state: 'WARNING', text: expect.stringMatching(/^tokens: token\.no-match: No token in the store for attendee nobody@remote\.test/) });
    const ok = await runCli(['tokens', ROWS[0]!.token, '--token-store', sqlitePath, '--server-version', '4.3', '--format', 'nagios']);
    expect(checkNagios(ok.stdout, ok.code).state).toBe('OK');
    const missing = await runCli(['tokens', '--token-store', join(tempDir(), 'missing.sqlite'), '--server-version', '4.3', '--format', 'nagios']);
    const m = checkNagios(missing.stdout, missing.code);
    expect(m.state).toBe('UNKNOWN');
    expect(m.text).toMatch(/^tokens: could not run: the token store could not be read: no token store at .*missing\.sqlite/);
  });

  it('--format prometheus: an unknown token is an error finding; a store that cannot be read says why on stderr (exit 2)', async () => {
    const r = await runCli(['tokens', 'c0ffee00-0000-4000-8000-000000000000', '--token-store', sqlitePath, '--server-version', '4.3', '--format', 'prometheus']);
    expect(r.code).toBe(1);
    const f = checkPrometheus(r.stdout);
    expect(sample(f, 'imip_up', { command: 'tokens' })).toBe(0);
    expect(sample(f, 'imip_findings', { command: 'tokens', severity: 'error' })).toBe(1);
    const missing = await runCli(['tokens', '--token-store', join(tempDir(), 'missing.sqlite'), '--server-version', '4.3', '--format', 'prometheus']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/imip: the token store could not be read: no token store at/);
  });
});

describe('imip tokens on 5.0+ with a mailgatewaytokens.sqlite never migrated', () => {
  it('counts the file\'s distinct tokens, and a token only in that file is said to be there', async () => {
    const dataRoot = tempDir('imip-dr-');
    const old = 'c0ffee00-1111-4222-8333-4444555566ff';
    const oldRow = { token: old, organizer: 'mailto:boss@example.test', attendee: 'mailto:cy@remote.test', uid: 'EV-OLD', date: day(400) };
    await writeSqliteStore(join(dataRoot, 'mailgatewaytokens.sqlite'), [ROWS[0]!, oldRow, oldRow]);
    let cfg = withChange(baseConfig('9.2'), 'DBType', 'postgres');
    cfg = withChange(cfg, 'DatabaseConnection', { endpoint: `tcp:127.0.0.1:${pg.port}`, database: 'caldav', user: 'caldav', password: pg.password });
    const config = writePlist(tempDir(), 'caldavd.plist', withChange(cfg, 'DataRoot', dataRoot));
    const stats = await runCli(['tokens', '--config', config, '--server-version', '9.2', '--json']);
    const f = jsonOf(stats).findings.find((x: { id: string }) => x.id === 'token-store.not-migrated');
    expect(f.message).toMatch(/^A mailgatewaytokens\.sqlite holding 2 tokens in 3 rows is still in DataRoot\..*, and 1 of its tokens is not in IMIP_TOKENS, so replies to that invitation carry an unknown token\.$/);
    expect(f.evidence).toMatchObject({ rows: 3, tokens: 2, missingFromStore: 1 });
    const one = await runCli(['tokens', old, '--config', config, '--server-version', '9.2']);
    expect(one.code).toBe(1);
    // Said once, by its finding; --json keeps it in the explanation too.
    expect(one.stdout).toContain(`✗ token.unknown-not-migrated  Token ${old} is in the old ${join(dataRoot, 'mailgatewaytokens.sqlite')} but not in IMIP_TOKENS`);
    expect(one.stdout).not.toContain('which was never migrated into IMIP_TOKENS');
    const oneJson = jsonOf(await runCli(['tokens', old, '--config', config, '--server-version', '9.2', '--json']));
    expect(oneJson.token.explanation).toContain(`The token is in the old ${join(dataRoot, 'mailgatewaytokens.sqlite')}, which was never migrated into IMIP_TOKENS`);
  });
});

describe('imip tokens: errors', () => {
  it('a store that cannot be read exits 2 with the reason and the fix, never the password', async () => {
    let cfg = withChange(baseConfig('9.2'), 'DBType', 'postgres');
    cfg = withChange(cfg, 'DatabaseConnection', { endpoint: `tcp:127.0.0.1:${pg.port}`, database: 'caldav', user: 'caldav', password: 'not-the-password-41' });
    const r = await runCli(['tokens', '--config', writePlist(tempDir(), 'caldavd.plist', cfg)]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/PostgreSQL refused user "caldav"/);
    expect(r.stderr).toMatch(/fix: /);
    expect(r.stdout + r.stderr).not.toContain('not-the-password-41');
    const json = await runCli(['tokens', '--config', writePlist(tempDir(), 'caldavd.plist', cfg), '--json']);
    expect(json.code).toBe(2);
    expect(jsonOf(json).store).toMatchObject({ readable: false });
    expect(json.stdout).not.toContain('not-the-password-41');
  });

  it('--token-store works without a config; a TOKEN with a filter is a usage error (exit 2)', async () => {
    const r = await runCli(['tokens', ROWS[1]!.token, '--token-store', sqlitePath, '--server-version', '4.3', '--json'], { env: { IMIP_CONFIG: '/nonexistent/caldavd.plist' } });
    expect(r.code, r.stderr).toBe(0);
    expect(jsonOf(r).token.rows[0]).toMatchObject({ purgedAtNextGatewayStart: true });
    const url = await runCli(['tokens', '--token-store', `postgres://caldav:${pg.password}@127.0.0.1:${pg.port}/caldav`, '--server-version', '9.2'], { env: { IMIP_CONFIG: '/nonexistent/caldavd.plist' } });
    expect(url.code, url.stderr).toBe(0);
    expect(url.stdout).toContain(`postgres://caldav:***@127.0.0.1:${pg.port}/caldav`);
    expect(url.stdout).not.toContain(pg.password);
    const both = await runCli(['tokens', ROWS[0]!.token, '--uid', 'EV-A', '--token-store', sqlitePath]);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('either a TOKEN or');
  });

  it('an empty value for a flag or the TOKEN is a usage error (exit 2), never the statistics', async () => {
    for (const args of [['--attendee', ''], ['--organizer', ' '], ['--uid', ''], ['']]) {
      const r = await runCli(['tokens', ...args, '--token-store', sqlitePath, '--server-version', '4.3']);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(/is empty; give/);
      expect(r.stdout).not.toContain('Age (since');
    }
    const store = await runCli(['tokens', '--token-store', '', '--config', sqliteConfig]);
    expect(store.code).toBe(2);
    expect(store.stderr).toContain('--token-store is empty');
  });

  it('a --config that cannot be read is exit 2 with --token-store too; only no --config at all goes on without one', async () => {
    const dir = tempDir();
    const broken = join(dir, 'broken.plist');
    writeFileSync(broken, '<?xml version="1.0"?>\n<plist><dict><key>DataRoot</key>');
    for (const config of [join(dir, 'missing.plist'), broken]) {
      const r = await runCli(['tokens', '--config', config, '--token-store', sqlitePath, '--server-version', '4.3']);
      expect(r.code, config).toBe(2);
      expect(r.stderr).toContain(config);
      expect(r.stdout).not.toContain('(no config)');
      const json = await runCli(['tokens', '--config', config, '--token-store', sqlitePath, '--server-version', '4.3', '--json']);
      expect(jsonOf(json)).toMatchObject({ command: 'tokens', ok: false, exitCode: 2 });
    }
  });

  it.runIf(process.getuid?.() === 0)('run as a user who may not read the SQLite file: permission denied, with the fix (exit 2)', async (t) => {
    // The other user must be able to start this Node at all (a Node kept under root's home, as
    // `npm exec --package=node@24` does, is not executable by nobody): otherwise skip, visibly.
    const probe = spawnSync('runuser', ['-u', 'nobody', '--', process.execPath, '--version']);
    if (probe.status !== 0) t.skip(`nobody cannot run ${process.execPath}`);
    const dir = tempDir('imip-perm-');
    chmodSync(dir, 0o755);
    const path = await writeSqliteStore(join(dir, 'mailgatewaytokens.sqlite'), ROWS);
    chmodSync(path, 0o600);
    chownSync(path, 0, 0);
    const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = spawn('runuser', ['-u', 'nobody', '--', process.execPath, BIN, 'tokens', '--token-store', path, '--server-version', '4.3'], { env: { ...process.env, IMIP_CONFIG: '/nonexistent' } });
      let stderr = '';
      child.stderr.on('data', (d) => (stderr += d));
      child.on('close', (code) => resolve({ code, stderr }));
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/permission denied reading/);
    expect(r.stderr).toMatch(/Run as root or as the user the server runs as/);
  });
});
