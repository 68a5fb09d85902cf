/** Where each release keeps its tokens, from the config (pure; the sources are named in src/server/token-store.ts). */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parseServerVersion } from '../../src/server/release.js';
import { describeLocation, locateOverride, locateStore, parseDsn, parsePgUrl } from '../../src/tokens/locate.js';

const v = (t: string) => parseServerVersion(t);
const md5 = (s: string) => createHash('md5').update(s).digest('hex');

describe('locateStore', () => {
  it('2.x-4.x: mailgatewaytokens.sqlite in DataRoot (relative to ServerRoot from 3.0)', () => {
    expect(locateStore({ ServerRoot: '/srv/cal', DataRoot: 'Data' }, v('4.3'))).toMatchObject({ kind: 'sqlite', path: '/srv/cal/Data/mailgatewaytokens.sqlite' });
    expect(locateStore({}, v('4.3'))).toMatchObject({ kind: 'sqlite', path: '/var/db/caldavd/Data/mailgatewaytokens.sqlite' });
    expect(locateStore({}, v('2.5'))).toMatchObject({ kind: 'sqlite', path: '/Library/CalendarServer/Data/mailgatewaytokens.sqlite' });
  });

  it('5.0-5.1, DBType empty: RunRoot/ccs_postgres_<md5 of DatabaseRoot>, /tmp when that path is too long', () => {
    const loc = locateStore({ ServerRoot: '/srv/cal', RunRoot: '/run/cd' }, v('5.1'));
    expect(loc).toMatchObject({ kind: 'postgres', target: { host: `/run/cd/ccs_postgres_${md5('/srv/cal/Data/Database')}`, port: 5432, database: 'caldav', user: 'caldav' } });
    const long = locateStore({ RunRoot: '/a/very/long/run/root/directory/for/the/server' }, v('5.0'));
    expect(long).toMatchObject({ target: { host: `/tmp/ccs_postgres_${md5('/var/db/caldavd/Data/Database')}` } });
  });

  // CalendarServer-5.2 calendarserver/tap/util.py pgServiceFromConfig: socketDir=config.Postgres.SocketDirectory;
  // txdav/base/datastore/subpostgres.py: "/tmp/ccs_postgres_" + md5(DatabaseRoot) when empty (5.1: RunRoot).
  it('5.2+, DBType empty: Postgres.SocketDirectory, else /tmp/ccs_postgres_<md5>; user SpawnedDBUser, database Postgres.DatabaseName', () => {
    expect(locateStore({ ServerRoot: '/srv/cal', RunRoot: '/run/cd' }, v('5.2'))).toMatchObject({ target: { host: `/tmp/ccs_postgres_${md5('/srv/cal/Data/Database')}` } });
    expect(locateStore({ Postgres: { SocketDirectory: '/var/run/pg' } }, v('5.3'))).toMatchObject({ target: { host: '/var/run/pg' } });
    expect(locateStore({ Postgres: { SocketDirectory: '/var/run/caldavd/PostgresSocket', DatabaseName: 'cal' }, SpawnedDBUser: 'svc' }, v('9.2'))).toMatchObject({
      target: { host: '/var/run/caldavd/PostgresSocket', database: 'cal', user: 'svc' },
    });
    expect(locateStore({}, v('6.0'))).toMatchObject({ target: { host: `/tmp/ccs_postgres_${md5('/var/db/caldavd/Data/Database')}` } });
    expect(locateStore({ Postgres: { ListenAddresses: ['127.0.0.1:5433'] } }, v('7.0'))).toMatchObject({ target: { host: '127.0.0.1', port: 5433 } });
  });

  it('DBType postgres: DSN on 5.x-6.x, DatabaseConnection on 7.0+; oracle is not supported', () => {
    expect(locateStore({ DBType: 'postgres', DSN: 'db.example.com:caldav:cal:s3cret' }, v('6.0'))).toMatchObject({
      kind: 'postgres',
      target: { host: 'db.example.com', database: 'caldav', user: 'cal', password: 's3cret' },
    });
    expect(locateStore({ DBType: 'postgres', DatabaseConnection: { endpoint: 'tcp:db.example.com:6543', database: 'caldav', user: 'cal', password: 'x' } }, v('9.2'))).toMatchObject({
      target: { host: 'db.example.com', port: 6543, database: 'caldav', user: 'cal' },
    });
    expect(locateStore({ DBType: 'postgres', DatabaseConnection: { endpoint: 'unix:/var/run/pg:5433', database: 'caldav', user: 'cal' } }, v('7.0'))).toMatchObject({
      target: { host: '/var/run/pg', port: 5433 },
    });
    // The 7.0+ server ignores DSN: a config that still only has DSN has no usable connection.
    expect(locateStore({ DBType: 'postgres', DSN: 'h:caldav:u:p' }, v('7.0'))).toMatchObject({ kind: 'unsupported', how: 'DatabaseConnection' });
    const oracle = locateStore({ DBType: 'oracle' }, v('9.2'));
    expect(oracle).toMatchObject({ kind: 'unsupported' });
    expect(oracle.kind === 'unsupported' && oracle.reason).toMatch(/oracle.*PostgreSQL only/i);
  });

  it('--token-store: a file, a directory holding the file, or a PostgreSQL URL; never a password in the description', () => {
    const url = locateOverride('postgres://caldav:pw%40x@db.example.com:5433/caldav');
    expect(url).toMatchObject({ kind: 'postgres', target: { host: 'db.example.com', port: 5433, user: 'caldav', password: 'pw@x' } });
    expect(describeLocation(url)).toBe('postgres://caldav:***@db.example.com:5433/caldav');
    // A socket: the URL --token-store takes back as it is, no space, the directory in host=.
    const socket = locateOverride('postgres:///caldav?host=/tmp/ccs_postgres_ab12&user=caldav');
    expect(describeLocation(socket)).toBe('postgres:///caldav?host=/tmp/ccs_postgres_ab12&user=caldav');
    expect(describeLocation(locateOverride(describeLocation(socket)))).toBe(describeLocation(socket));
    // Spaces and such are percent-encoded, so the line stays one URL.
    const spaced = locateOverride('postgres:///my%20db?host=/tmp/a%20b&user=cal%20dav');
    expect(describeLocation(spaced)).toBe('postgres:///my%20db?host=/tmp/a%20b&user=cal%20dav');
    expect(describeLocation(locateOverride(describeLocation(spaced)))).toBe(describeLocation(spaced));
    expect(parsePgUrl('postgresql:///caldav?host=/tmp/ccs_postgres_ab&user=caldav')).toMatchObject({ host: '/tmp/ccs_postgres_ab', database: 'caldav', user: 'caldav' });
    expect(locateOverride('/tmp')).toMatchObject({ kind: 'sqlite', path: '/tmp/mailgatewaytokens.sqlite' });
    expect(parseDsn('/tmp/ccs_postgres_ab:dbname=caldav:caldav')).toMatchObject({ host: '/tmp/ccs_postgres_ab', database: 'caldav', user: 'caldav' });
  });

  it('--token-store: a URL of another scheme (a typo of postgres://) is refused, naming only the scheme', () => {
    for (const given of ['pgsql://caldav:Sup3r-pg-pw@127.0.0.1/caldav', 'postgress://caldav:Sup3r-pg-pw@db/caldav', 'mysql://root:Sup3r-pg-pw@db/x']) {
      const loc = locateOverride(given);
      expect(loc.kind).toBe('unsupported');
      expect(JSON.stringify(loc)).not.toContain('Sup3r-pg-pw');
      expect(loc.kind === 'unsupported' && loc.reason).toMatch(/^--token-store is a URL of the scheme "[a-z]+", and the token store is a PostgreSQL database/);
    }
  });
});
