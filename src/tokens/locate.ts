/**
 * Where the server keeps its tokens, from the effective config and the release's row in
 * `server/token-store.ts`, or from `--token-store PATH|URL`. Pure: no file or network access
 * (except `statSync` to tell a directory from a file given on the command line).
 */
import { createHash } from 'node:crypto';
import { statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { getPath } from '../config/load.js';
import { fullServerPath, serverRoots } from '../config/paths.js';
import type { PlistDict, PlistValue } from '../config/plist-xml.js';
import type { ServerVersion } from '../server/release.js';
import { SQLITE_FILE, STORE_CONFIG_DEFAULTS, tokenStoreRules } from '../server/token-store.js';
import type { PgTarget, StoreLocation } from './types.js';

const str = (v: PlistValue | undefined): string | undefined => (typeof v === 'string' ? v : undefined);


export interface StoreRoots {
  serverRoot: string;
  dataRoot: string;
  databaseRoot: string;
  runRoot: string;
}

/** ServerRoot, DataRoot (under ServerRoot), DatabaseRoot (under DataRoot), RunRoot (under ServerRoot). */
export function storeRoots(eff: PlistDict, v: ServerVersion): StoreRoots {
  const { serverRoot, dataRoot } = serverRoots(eff, v);
  const databaseRoot = fullServerPath(dataRoot, str(getPath(eff, 'DatabaseRoot')) || STORE_CONFIG_DEFAULTS.DatabaseRoot, v);
  const runRoot = fullServerPath(serverRoot, str(getPath(eff, 'RunRoot')) || STORE_CONFIG_DEFAULTS.RunRoot, v);
  return { serverRoot, dataRoot, databaseRoot, runRoot };
}

/** The SQLite file of 2.x–4.x (on 5.0+ the file the migration reads and then deletes). */
export function sqlitePath(eff: PlistDict, v: ServerVersion): string {
  return join(storeRoots(eff, v).dataRoot, SQLITE_FILE);
}

/** subpostgres.py: md5 of the DatabaseRoot path names the spawned server's socket directory. */
function socketDigest(databaseRoot: string): string {
  return createHash('md5').update(databaseRoot).digest('hex');
}

/** pgdb DSN `host:database:user:password[:opt:tty]`; the spawned form writes `dbname=caldav`. */
export function parseDsn(dsn: string): PgTarget | null {
  const parts = dsn.split(':');
  if (parts.length < 2) return null;
  const [host = '', database = '', user = '', password = ''] = parts;
  const db = database.replace(/^dbname=/, '');
  if (!db) return null;
  return { host: host || 'localhost', port: 5432, database: db, user, ...(password ? { password } : {}) };
}

/** 7.0+ DatabaseConnection.endpoint: `unix:/dir[:port]` or `tcp:host[:port]` (dbapiclient.py DBAPIParameters). */
export function parseEndpoint(endpoint: string): { host: string; port: number } | null {
  const m = /^(unix|tcp):([^:]+)(?::(\d+))?$/.exec(endpoint.trim());
  if (!m) return null;
  return { host: m[2]!, port: m[3] ? Number(m[3]) : 5432 };
}

/** `postgres://user:password@host:port/db`, `postgresql:///db?host=/socket/dir&user=caldav`. */
export function parsePgUrl(text: string): PgTarget | null {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    return null;
  }
  if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:') return null;
  const q = u.searchParams;
  const host = q.get('host') ?? (u.hostname ? decodeURIComponent(u.hostname) : 'localhost');
  const database = decodeURIComponent(u.pathname.replace(/^\//, '')) || q.get('dbname') || STORE_CONFIG_DEFAULTS.DatabaseName;
  const user = decodeURIComponent(u.username) || q.get('user') || STORE_CONFIG_DEFAULTS.SpawnedDBUser;
  const password = u.password ? decodeURIComponent(u.password) : (q.get('password') ?? undefined);
  const port = Number(u.port || q.get('port') || 5432);
  const sslmode = q.get('sslmode');
  return { host, port, database, user, ...(password ? { password } : {}), ...(sslmode && sslmode !== 'disable' ? { ssl: true } : {}) };
}

/**
 * The store as a line an admin can read, never a password (shown as `***`): a URL `--token-store`
 * takes back as it is when no password is involved (a Unix socket as libpq writes it, its
 * directory in `host=`, each part percent-encoded).
 */
export function describeLocation(loc: StoreLocation): string {
  if (loc.kind === 'sqlite') return loc.path;
  if (loc.kind === 'unsupported') return '(unsupported)';
  const t = loc.target;
  const user = t.user ? `${t.user}${t.password ? ':***' : ''}@` : '';
  if (t.host.startsWith('/')) {
    const q = (k: string, v: string): string => `${k}=${encodeURIComponent(v).replace(/%2F/g, '/')}`;
    const params = [q('host', t.host), ...(t.port !== 5432 ? [`port=${t.port}`] : []), ...(t.user ? [q('user', t.user)] : []), ...(t.password ? ['password=***'] : [])];
    return `postgres:///${encodeURIComponent(t.database)}?${params.join('&')}`;
  }
  return `postgres://${user}${t.host}:${t.port}/${t.database}`;
}

/** `--token-store`: a SQLite file (or the directory holding mailgatewaytokens.sqlite), or a PostgreSQL URL. */
export function locateOverride(given: string): StoreLocation {
  if (/^postgres(ql)?:/i.test(given)) {
    const target = parsePgUrl(given);
    if (!target) {
      return {
        kind: 'unsupported',
        how: '--token-store',
        reason: '--token-store is not a PostgreSQL URL this tool can read',
        fix: 'Write it as postgres://USER:PASSWORD@HOST:PORT/DATABASE, or postgres:///DATABASE?host=/SOCKET/DIR&user=USER for a Unix socket.',
      };
    }
    return { kind: 'postgres', target, how: '--token-store' };
  }
  // Another scheme (a typo such as postgress://, or mysql://) is no file name: refused, and only
  // the scheme is repeated, as the rest may hold a password.
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(given);
  if (scheme) {
    return {
      kind: 'unsupported',
      how: '--token-store',
      reason: `--token-store is a URL of the scheme "${scheme[1]}", and the token store is a PostgreSQL database (postgres://) or a SQLite file`,
      fix: 'Write it as postgres://USER:PASSWORD@HOST:PORT/DATABASE, postgres:///DATABASE?host=/SOCKET/DIR&user=USER for a Unix socket, or the path of the SQLite file.',
    };
  }
  let path = resolve(given);
  try {
    if (statSync(path).isDirectory()) path = join(path, SQLITE_FILE);
  } catch {
    // A missing path is reported when it is read.
  }
  return { kind: 'sqlite', path, how: '--token-store' };
}

/** The store the configured release reads, from the config. */
export function locateStore(eff: PlistDict, v: ServerVersion): StoreLocation {
  const rules = tokenStoreRules(v);
  if (rules.kind === 'sqlite') return { kind: 'sqlite', path: sqlitePath(eff, v), how: `DataRoot/${SQLITE_FILE}` };
  const dbType = (str(getPath(eff, 'DBType')) ?? '').trim();
  if (dbType === '') return spawned(eff, v, rules.spawnedSocket ?? 'socket-directory');
  if (dbType.toLowerCase() === 'oracle') {
    return {
      kind: 'unsupported',
      how: 'DBType',
      reason: 'DBType is "oracle": this tool reads the token store from PostgreSQL only, so token lookups are not checked',
      fix: 'Look a token up in Oracle yourself: SELECT ORGANIZER, ATTENDEE, ICALUID FROM IMIP_TOKENS WHERE TOKEN = \'<token>\'.',
    };
  }
  if (dbType.toLowerCase() !== 'postgres') {
    return {
      kind: 'unsupported',
      how: 'DBType',
      reason: `DBType is "${dbType}", which Calendar Server does not know ("postgres", "oracle" or empty)`,
      fix: 'Set DBType to "" (the server runs its own PostgreSQL) or "postgres" (an external one), or give --token-store.',
    };
  }
  if (rules.external === 'DSN') {
    const dsn = str(getPath(eff, 'DSN')) ?? '';
    const target = parseDsn(dsn);
    if (!target) {
      return {
        kind: 'unsupported',
        how: 'DSN',
        reason: 'DBType is "postgres" but DSN is empty or not "host:database:user:password"',
        fix: 'Set DSN as the server expects it (host:database:user:password), or give --token-store postgres://USER@HOST/DATABASE.',
      };
    }
    return { kind: 'postgres', target, how: 'DBType postgres, DSN' };
  }
  const conn = getPath(eff, 'DatabaseConnection');
  const c = (k: string): string => str(getPath(eff, `DatabaseConnection.${k}`)) ?? '';
  const ep = parseEndpoint(c('endpoint'));
  if (conn === undefined || !ep || !c('database')) {
    return {
      kind: 'unsupported',
      how: 'DatabaseConnection',
      reason: 'DBType is "postgres" but DatabaseConnection has no usable endpoint ("unix:/dir" or "tcp:host:port") and database',
      fix: 'Set DatabaseConnection.endpoint and .database as the server expects them, or give --token-store postgres://USER@HOST/DATABASE.',
    };
  }
  const sslValue = getPath(eff, 'DatabaseConnection.ssl');
  return {
    kind: 'postgres',
    target: {
      host: ep.host,
      port: ep.port,
      database: c('database'),
      user: c('user'),
      ...(c('password') ? { password: c('password') } : {}),
      ...(sslValue === true ? { ssl: true } : {}),
    },
    how: 'DBType postgres, DatabaseConnection',
  };
}

/** DBType empty: the server's own PostgreSQL (subpostgres.py PostgresService). */
function spawned(eff: PlistDict, v: ServerVersion, socket: 'runroot-hash' | 'socket-directory'): StoreLocation {
  const roots = storeRoots(eff, v);
  const user = str(getPath(eff, 'SpawnedDBUser')) || STORE_CONFIG_DEFAULTS.SpawnedDBUser;
  const database = str(getPath(eff, 'Postgres.DatabaseName')) || STORE_CONFIG_DEFAULTS.DatabaseName;
  const listen = getPath(eff, 'Postgres.ListenAddresses');
  const first = Array.isArray(listen) && typeof listen[0] === 'string' ? listen[0] : null;
  if (first) {
    const [host = 'localhost', port] = first.split(':');
    return { kind: 'postgres', target: { host, port: port ? Number(port) : 5432, database, user }, how: 'DBType empty, Postgres.ListenAddresses' };
  }
  const digest = socketDigest(roots.databaseRoot);
  let dir: string;
  let how: string;
  if (socket === 'runroot-hash') {
    dir = join(roots.runRoot, `ccs_postgres_${digest}`);
    how = 'DBType empty: RunRoot/ccs_postgres_<md5 of DatabaseRoot>';
    if (dir.length > STORE_CONFIG_DEFAULTS.socketPathLimit) {
      dir = `/tmp/ccs_postgres_${digest}`;
      how = 'DBType empty: /tmp/ccs_postgres_<md5 of DatabaseRoot> (RunRoot is too long for a socket path)';
    }
  } else {
    const configured = str(getPath(eff, 'Postgres.SocketDirectory'));
    dir = configured || `/tmp/ccs_postgres_${digest}`;
    how = configured ? 'DBType empty, Postgres.SocketDirectory' : 'DBType empty: /tmp/ccs_postgres_<md5 of DatabaseRoot>';
  }
  return { kind: 'postgres', target: { host: dir, port: 5432, database, user }, how };
}

export { tokenStoreRules };
