/**
 * Reading the server's token store for real: a SQLite file with the 2.x-4.x gateway's schema and a
 * PostgreSQL started by the test (as an unprivileged user, private socket directory, high port)
 * with IMIP_TOKENS, reached over the Unix socket and over TCP with a password; and every way the
 * store can be unreadable, each with a clear message and fix, never the password.
 */
import { mkdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg_ from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseServerVersion } from '../../src/server/release.js';
import { loadServerStore } from '../../src/tokens/load.js';
import { readPgStore } from '../../src/tokens/postgres.js';
import { readSqliteStore } from '../../src/tokens/sqlite.js';
import { StoreReadError } from '../../src/tokens/types.js';
import { tempDir } from '../helpers/plist.js';
import { createImipDatabase, startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { writeSqliteStore, type Row } from '../helpers/token-store.js';

const ROWS: Row[] = [
  { token: 'a1b2c3d4-0000-4000-8000-000000000001', organizer: 'mailto:org@example.test', attendee: 'mailto:one@remote.test', uid: 'EV-1', date: '2026-03-01T08:00:00Z' },
  { token: 'a1b2c3d4-0000-4000-8000-000000000002', organizer: 'urn:x-uid:ORG', attendee: 'mailto:two@remote.test', uid: 'EV-2', date: '2025-01-01T08:00:00Z' },
];
const v = (t: string) => parseServerVersion(t);

async function storeError(p: Promise<unknown>): Promise<StoreReadError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(StoreReadError);
    return e as StoreReadError;
  }
  throw new Error('expected a StoreReadError');
}

describe('SQLite store (2.x-4.x)', () => {
  it('reads TOKENS in one pass and leaves the file exactly as it was', async () => {
    const path = await writeSqliteStore(join(tempDir(), 'mailgatewaytokens.sqlite'), ROWS);
    const before = { bytes: readFileSync(path), mtime: statSync(path).mtimeMs };
    const { rows } = await readSqliteStore(path);
    expect(rows).toEqual([
      { token: ROWS[0]!.token, organizer: 'mailto:org@example.test', attendee: 'mailto:one@remote.test', uid: 'EV-1', date: '2026-03-01' },
      { token: ROWS[1]!.token, organizer: 'urn:x-uid:ORG', attendee: 'mailto:two@remote.test', uid: 'EV-2', date: '2025-01-01' },
    ]);
    expect(readFileSync(path).equals(before.bytes)).toBe(true);
    expect(statSync(path).mtimeMs).toBe(before.mtime);
    expect(() => statSync(`${path}-journal`)).toThrow();
  });

  it('reads while the server is writing (a journal is present) and says so', async () => {
    const path = await writeSqliteStore(join(tempDir(), 'mailgatewaytokens.sqlite'), ROWS);
    writeFileSync(`${path}-journal`, 'x'.repeat(512));
    const { rows, notes } = await readSqliteStore(path);
    expect(rows).toHaveLength(2);
    expect(notes.join(' ')).toMatch(/writing to the store/);
  });

  it.each([
    ['missing file', (d: string) => join(d, 'nope.sqlite'), /no token store at/, 'missing'],
    ['not SQLite', (d: string) => (writeFileSync(join(d, 'x.sqlite'), 'hello, not a database\n'.repeat(20)), join(d, 'x.sqlite')), /is not a SQLite database/, 'corrupt'],
    ['empty file', (d: string) => (writeFileSync(join(d, 'e.sqlite'), ''), join(d, 'e.sqlite')), /is empty/, 'corrupt'],
  ] as const)('%s: a clear error and fix', async (_name, make, message, code) => {
    const e = await storeError(readSqliteStore(make(tempDir())));
    expect(e.message).toMatch(message);
    expect(e.code).toBe(code);
    expect(e.fix.length).toBeGreaterThan(20);
  });

  it('a damaged file (SQLite header, garbage after) and a file without TOKENS are reported, not thrown at the user', async () => {
    const d = tempDir();
    const good = readFileSync(await writeSqliteStore(join(d, 'g.sqlite'), ROWS));
    const bad = Buffer.concat([good.subarray(0, 100), Buffer.alloc(good.length - 100, 0xa5)]);
    writeFileSync(join(d, 'bad.sqlite'), bad);
    expect((await storeError(readSqliteStore(join(d, 'bad.sqlite')))).code).toMatch(/corrupt|schema/);
    const initSqlJs = (await import('sql.js')).default;
    const SQL = await initSqlJs();
    const db = new SQL.Database();
    db.run('create table OTHER (X text)');
    writeFileSync(join(d, 'other.sqlite'), Buffer.from(db.export()));
    const e = await storeError(readSqliteStore(join(d, 'other.sqlite')));
    expect(e.code).toBe('schema');
    expect(e.message).toMatch(/no TOKENS table/);
  });

  it('the lookup needs exactly one row (2.x-4.x); the next purge is counted from InvitationDaysToLive', async () => {
    const dir = tempDir();
    await writeSqliteStore(join(dir, 'mailgatewaytokens.sqlite'), [...ROWS, { ...ROWS[0]!, uid: 'EV-1b' }]);
    const store = await loadServerStore({ effective: { DataRoot: dir, Scheduling: { iMIP: { InvitationDaysToLive: 30 } } }, version: v('4.3'), timeoutMs: 5000 });
    expect(store.info).toMatchObject({ kind: 'sqlite', readable: true, rows: 3, table: 'TOKENS' });
    expect(store.snapshot!.lookup(ROWS[0]!.token).status).toBe('ambiguous');
    expect(store.snapshot!.lookup(ROWS[1]!.token).status).toBe('known');
    expect(store.findings.map((f) => f.id)).toEqual(['token-store.duplicate-tokens']);
    const stats = store.snapshot!.stats(new Date('2026-03-02T12:00:00Z'), 30);
    expect(stats.nextPurge).toEqual({ days: 30, before: '2026-01-31', rows: 1, tokens: 1 });
  });
});

describe('a SQLite file given for 5.0+ (the store is IMIP_TOKENS in PostgreSQL there)', () => {
  it('is read with a note that it is not the running server\'s store; its errors speak of the migration, never of a mail gateway', async () => {
    const path = await writeSqliteStore(join(tempDir(), 'mailgatewaytokens.sqlite'), ROWS);
    const read = await loadServerStore({ effective: null, version: v('9.2'), override: path, timeoutMs: 5000 });
    expect(read.info).toMatchObject({ kind: 'sqlite', readable: true, rows: 2 });
    expect(read.info.notes?.[0]).toMatch(/9\.2 keeps its tokens in IMIP_TOKENS in PostgreSQL, not in this SQLite file, which is only what the upgrade from 4\.x migrates from/);
    const d = tempDir();
    writeFileSync(join(d, 'empty.sqlite'), '');
    for (const given of [join(d, 'missing.sqlite'), join(d, 'empty.sqlite')]) {
      const on5 = await loadServerStore({ effective: null, version: v('9.2'), override: given, timeoutMs: 5000 });
      expect(on5.info.readable).toBe(false);
      expect(`${on5.info.error} ${on5.info.fix}`).not.toMatch(/mail gateway|the gateway/);
      expect(on5.info.fix).toMatch(/postgres:\/\//);
      const on4 = await loadServerStore({ effective: null, version: v('4.3'), override: given, timeoutMs: 5000 });
      expect(on4.info.fix).toMatch(/mail gateway|the gateway/);
      expect(on4.info.notes).toBeUndefined();
    }
  });
});

describe('PostgreSQL store (5.0+)', () => {
  let pg: TestPostgres;
  beforeAll(async () => {
    pg = await startPostgres();
    await createImipDatabase(pg, 'caldav', ROWS);
    await pg.sql('postgres', 'create database notcaldav');
  }, 120_000);
  afterAll(async () => {
    await pg?.stop();
  });

  it('over the Unix socket (DatabaseConnection unix:DIR:PORT) and over TCP with a password: the same rows', async () => {
    const viaSocket = await loadServerStore({
      effective: { DBType: 'postgres', DatabaseConnection: { endpoint: `unix:${pg.socketDir}:${pg.port}`, database: 'caldav', user: 'caldav' } },
      version: v('9.2'),
      timeoutMs: 5000,
    });
    const viaTcp = await loadServerStore({
      effective: { DBType: 'postgres', DatabaseConnection: { endpoint: `tcp:127.0.0.1:${pg.port}`, database: 'caldav', user: 'caldav', password: pg.password } },
      version: v('9.2'),
      timeoutMs: 5000,
    });
    for (const s of [viaSocket, viaTcp]) {
      expect(s.info).toMatchObject({ kind: 'postgres', readable: true, rows: 2, table: 'IMIP_TOKENS' });
      expect(s.snapshot!.lookup(ROWS[1]!.token)).toMatchObject({ status: 'known', row: { organizer: 'urn:x-uid:ORG', uid: 'EV-2', date: '2025-01-01T08:00:00.000Z' } });
    }
    expect(viaTcp.info.location).toBe(`postgres://caldav:***@127.0.0.1:${pg.port}/caldav`);
    expect(JSON.stringify(viaTcp)).not.toContain(pg.password);
  });

  it('5.x, DBType empty: the server\'s own socket under RunRoot/ccs_postgres_<md5 of DatabaseRoot>', async () => {
    const serverRoot = tempDir('imip-sr-');
    const runRoot = join(serverRoot, 'r');
    const { locateStore } = await import('../../src/tokens/locate.js');
    const loc = locateStore({ ServerRoot: serverRoot, RunRoot: 'r', Postgres: { DatabaseName: 'caldav' } }, v('5.1'));
    if (loc.kind !== 'postgres') throw new Error('expected postgres');
    mkdirSync(loc.target.host, { recursive: true });
    try {
      expect(loc.target.host.startsWith(runRoot) || loc.target.host.startsWith('/tmp/ccs_postgres_')).toBe(true);
      symlinkSync(join(pg.socketDir, `.s.PGSQL.${pg.port}`), join(loc.target.host, '.s.PGSQL.5432'));
      const store = await loadServerStore({ effective: { ServerRoot: serverRoot, RunRoot: 'r' }, version: v('5.1'), timeoutMs: 5000 });
      expect(store.info).toMatchObject({ readable: true, rows: 2 });
    } finally {
      // 5.1 puts the socket directory in /tmp itself, named from the (random) ServerRoot.
      if (loc.target.host.startsWith('/tmp/ccs_postgres_')) rmSync(loc.target.host, { recursive: true, force: true });
    }
  });

  it('unreachable: no socket, nothing listening, refused password, no database, no IMIP_TOKENS — each with its fix, never the password', async () => {
    const target = { host: pg.socketDir, port: pg.port, database: 'caldav', user: 'caldav' };
    const cases: Array<[Parameters<typeof readPgStore>[0], string, RegExp]> = [
      [{ ...target, host: '/nonexistent/ccs_postgres_0', port: 5432 }, 'no-socket', /no PostgreSQL socket at \/nonexistent\/ccs_postgres_0\/\.s\.PGSQL\.5432/],
      [{ ...target, host: '127.0.0.1', port: 1 }, 'refused', /nothing accepts connections/],
      [{ ...target, host: '127.0.0.1', password: 'wrong-password-77' }, 'auth', /refused user "caldav"/],
      [{ ...target, database: 'nosuchdb' }, 'no-database', /"nosuchdb" does not exist/],
      [{ ...target, database: 'notcaldav' }, 'schema', /no IMIP_TOKENS table/],
    ];
    for (const [t, code, message] of cases) {
      const e = await storeError(readPgStore(t, { timeoutMs: 5000 }));
      expect({ code: e.code, message: e.message }).toMatchObject({ code, message: expect.stringMatching(message) });
      expect(e.message + e.fix).not.toContain('wrong-password-77');
      expect(e.fix.length).toBeGreaterThan(20);
    }
  });

  it('runs in a read-only transaction with a short statement timeout', async () => {
    // A database whose IMIP_TOKENS writes when read: the read-only transaction refuses.
    await pg.sql('postgres', 'create database writes');
    await pg.sql('writes', 'create table log (x int)');
    await pg.sql(
      'writes',
      "create function touch() returns setof record language plpgsql as $$ begin insert into log values (1); return; end $$",
    );
    await pg.sql('writes', 'create view imip_tokens as select null::text as token, null::text as organizer, null::text as attendee, null::text as icaluid, null::timestamp as accessed from touch() as t(x int)');
    const e = await storeError(readPgStore({ host: pg.socketDir, port: pg.port, database: 'writes', user: 'caldav' }, { timeoutMs: 10000 }));
    expect(e.message).toMatch(/read-only transaction/);
    // A query that would run for a minute is cancelled after the statement timeout.
    await pg.sql('postgres', 'create database slow');
    await pg.sql('slow', "create view imip_tokens as select 'x'::text as token, 'o'::text as organizer, 'a'::text as attendee, 'u'::text as icaluid, now()::timestamp as accessed from pg_sleep(60)");
    const started = Date.now();
    const slow = await storeError(readPgStore({ host: pg.socketDir, port: pg.port, database: 'slow', user: 'caldav' }, { timeoutMs: 30000 }));
    expect(slow.code).toBe('timeout');
    expect(Date.now() - started).toBeLessThan(15000);
  }, 40_000);

  it('a query kept waiting by another session\'s lock says so (the connection worked), whichever time limit ends it', async () => {
    const holder = new pg_.Client({ host: pg.socketDir, port: pg.port, user: 'caldav', database: 'caldav' });
    await holder.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('LOCK TABLE imip_tokens IN ACCESS EXCLUSIVE MODE');
      const target = { host: pg.socketDir, port: pg.port, database: 'caldav', user: 'caldav' };
      // --timeout 1: the client's limit comes first; --timeout 10: the 5-second statement limit.
      for (const timeoutMs of [1000, 10_000]) {
        const e = await storeError(readPgStore(target, { timeoutMs }));
        expect(e.code).toBe('timeout');
        expect(e.message).toMatch(/the connection worked; the query waited past the time limit \(\d+ s\), for example for a lock another session holds on IMIP_TOKENS/);
        expect(e.fix).not.toMatch(/up and reachable/);
        expect(e.fix).toMatch(/pg_locks/);
      }
    } finally {
      await holder.query('ROLLBACK').catch(() => undefined);
      await holder.end();
    }
  }, 30_000);

  it('oracle: said clearly, the rest carries on', async () => {
    const store = await loadServerStore({ effective: { DBType: 'oracle' }, version: v('9.2'), timeoutMs: 5000 });
    expect(store.snapshot).toBeNull();
    expect(store.findings.map((f) => f.id)).toEqual(['token-store.unsupported']);
    expect(store.findings[0]!.message).toMatch(/oracle/i);
  });

  it('5.0+: a mailgatewaytokens.sqlite left in DataRoot is the never-run migration, with the tokens it still holds', async () => {
    const dataRoot = tempDir('imip-dr-');
    await writeSqliteStore(join(dataRoot, 'mailgatewaytokens.sqlite'), [...ROWS, { ...ROWS[0]!, token: 'a1b2c3d4-0000-4000-8000-00000000ffff', uid: 'EV-OLD' }]);
    const store = await loadServerStore({
      effective: { DataRoot: dataRoot, DBType: 'postgres', DatabaseConnection: { endpoint: `unix:${pg.socketDir}:${pg.port}`, database: 'caldav', user: 'caldav' } },
      version: v('9.2'),
      timeoutMs: 5000,
    });
    const f = store.findings.find((x) => x.id === 'token-store.not-migrated')!;
    expect(f.evidence).toMatchObject({ rows: 3, missingFromStore: 1 });
    expect(store.leftover?.rows).toHaveLength(3);
  });
});
