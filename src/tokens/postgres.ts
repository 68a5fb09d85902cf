/**
 * Reading IMIP_TOKENS (5.0+) from the server's PostgreSQL, strictly read-only and briefly:
 * one connection, `BEGIN READ ONLY`, a short `statement_timeout`, ONE SELECT of the whole table,
 * `ROLLBACK`, close. Schema: CalendarServer-5.0/9.2 txdav/common/datastore/sql_schema/current.sql
 * (`IMIP_TOKENS(TOKEN, ORGANIZER, ATTENDEE, ICALUID, ACCESSED)`, unquoted, so lower-case names).
 * `pg` is loaded only when a PostgreSQL store is read. No error text carries the password.
 */
import { statSync } from 'node:fs';
import { describeLocation } from './locate.js';
import { StoreReadError, type PgTarget, type StoreRow } from './types.js';

export interface PgReadOptions {
  /** Connection and statement limit, milliseconds. */
  timeoutMs: number;
}

/** The statement limit inside the read-only transaction: the server is never held up long. */
const STATEMENT_TIMEOUT_MS = 5000;

function scrub(text: string, t: PgTarget): string {
  return t.password ? text.split(t.password).join('***') : text;
}

/** Who holds or waits for a lock on the table, for the admin to run in psql. */
const LOCK_QUERY = "SELECT l.pid, l.mode, l.granted, a.state, a.xact_start, a.query FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE l.relation = 'imip_tokens'::regclass";

/**
 * One sentence and a fix for what went wrong, per libpq/Node error. `QUERY_TIMEOUT` (this tool's
 * own code): the connection worked and the query got no answer within `limitMs`.
 */
export function pgError(err: unknown, t: PgTarget, limitMs = STATEMENT_TIMEOUT_MS): StoreReadError {
  const e = err as { code?: string; message?: string };
  const where = describeLocation({ kind: 'postgres', target: t, how: '' });
  const socket = t.host.startsWith('/');
  const msg = scrub(e?.message ?? String(err), t);
  switch (e?.code) {
    case 'ENOENT':
      return new StoreReadError(
        `no PostgreSQL socket at ${t.host}/.s.PGSQL.${t.port}`,
        socket
          ? `The server's own PostgreSQL runs only while Calendar Server runs, with its socket in ${t.host}. Start the server, check RunRoot / Postgres.SocketDirectory in the config, or give --token-store postgres:///DATABASE?host=/SOCKET/DIR.`
          : 'Check the host name.',
        'no-socket',
      );
    case 'EACCES':
    case 'EPERM':
      return new StoreReadError(
        `permission denied on the PostgreSQL socket ${t.host}/.s.PGSQL.${t.port}`,
        'The socket directory belongs to the server\'s user (mode 0770): run as root or as that user.',
        'permission',
      );
    case 'ECONNREFUSED':
      return new StoreReadError(`nothing accepts connections at ${where}`, 'Start PostgreSQL (or Calendar Server, whose PostgreSQL it is), or correct the host and port.', 'refused');
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new StoreReadError(`the host ${t.host} does not resolve`, 'Correct the host in the config or in --token-store.', 'dns');
    case '28P01':
    case '28000':
      return new StoreReadError(
        `PostgreSQL refused user "${t.user}" at ${where}: ${msg}`,
        socket
          ? 'Use the user the server uses (SpawnedDBUser, normally "caldav"), and run as root or the server\'s user.'
          : 'Check the user and password in DSN / DatabaseConnection (or --token-store), and pg_hba.conf on the database host.',
        'auth',
      );
    case '3D000':
      return new StoreReadError(`the database "${t.database}" does not exist at ${where}`, 'Check Postgres.DatabaseName / DSN / DatabaseConnection.database (normally "caldav").', 'no-database');
    case '42P01':
    case '42703':
      return new StoreReadError(
        `${where} has no IMIP_TOKENS table with TOKEN, ORGANIZER, ATTENDEE, ICALUID and ACCESSED (${msg})`,
        'This is not a Calendar Server 5.0+ database, or the server has not upgraded it yet: point the config (or --token-store) at the server\'s own database.',
        'schema',
      );
    case '57014':
    case 'QUERY_TIMEOUT': {
      // Connected and logged in, then no rows in time: a SELECT waits only for an ACCESS EXCLUSIVE
      // lock (LOCK TABLE, ALTER TABLE, VACUUM FULL, an upgrade in progress) or a very busy server.
      const limit = e.code === '57014' ? STATEMENT_TIMEOUT_MS : limitMs;
      return new StoreReadError(
        `the token query at ${where} did not finish: the connection worked; the query waited past the time limit (${limit / 1000} s), for example for a lock another session holds on IMIP_TOKENS, or the database is very busy`,
        `Try again later${e.code === 'QUERY_TIMEOUT' && limitMs < STATEMENT_TIMEOUT_MS ? `, or with --timeout ${STATEMENT_TIMEOUT_MS / 1000} (the longest the query may take)` : ''}. To see which session holds a lock on the table, run in psql: ${LOCK_QUERY};`,
        'timeout',
      );
    }
    case 'TIMEOUT':
      return new StoreReadError(`no answer from PostgreSQL at ${where} in time`, 'Check that PostgreSQL is up and reachable, or raise --timeout.', 'timeout');
    default:
      return new StoreReadError(`cannot read the token store at ${where}: ${msg}`, 'Check the database settings in the config, or give --token-store.', 'unreadable');
  }
}

/** Read every IMIP_TOKENS row in one query. Throws {@link StoreReadError}. */
export async function readPgStore(t: PgTarget, opts: PgReadOptions): Promise<StoreRow[]> {
  if (t.host.startsWith('/')) {
    // pg would say only "connect ENOENT"; name the socket (and a permission problem) instead.
    try {
      statSync(`${t.host}/.s.PGSQL.${t.port}`);
    } catch (e) {
      throw pgError({ code: (e as NodeJS.ErrnoException).code ?? 'ENOENT' }, t);
    }
  }
  const { default: pg } = await import('pg');
  const client = new pg.Client({
    host: t.host,
    port: t.port,
    database: t.database,
    user: t.user || undefined,
    password: t.password ?? '',
    ssl: t.ssl ? { rejectUnauthorized: true } : false,
    connectionTimeoutMillis: opts.timeoutMs,
    query_timeout: opts.timeoutMs,
    application_name: 'imip tokens (read-only)',
  } as ConstructorParameters<typeof pg.Client>[0]);
  client.on('error', () => undefined);
  try {
    try {
      await client.connect();
    } catch (e) {
      const err = e as { message?: string; code?: string };
      if (!err.code && /timeout/i.test(err.message ?? '')) throw pgError({ code: 'TIMEOUT' }, t);
      throw pgError(e, t);
    }
    try {
      await client.query('BEGIN TRANSACTION READ ONLY');
      await client.query(`SET LOCAL statement_timeout = ${STATEMENT_TIMEOUT_MS}`);
      // Rows as arrays and ACCESSED as text (UTC, as the server writes it): no object or Date per row.
      const res = await client.query<[string | null, string | null, string | null, string | null, string | null]>({
        text: `SELECT token, organizer, attendee, icaluid, to_char(accessed, 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') FROM imip_tokens`,
        rowMode: 'array',
      });
      await client.query('ROLLBACK');
      return res.rows.map((r) => ({ token: r[0] ?? '', organizer: r[1] ?? '', attendee: r[2] ?? '', uid: r[3] ?? '', date: r[4] ?? null }));
    } catch (e) {
      // Connected: a time-out here is the query waiting, not PostgreSQL unreachable.
      const err = e as { message?: string; code?: string };
      if (!err.code && /timeout/i.test(err.message ?? '')) throw pgError({ code: 'QUERY_TIMEOUT' }, t, opts.timeoutMs);
      throw pgError(e, t);
    }
  } finally {
    await client.end().catch(() => undefined);
  }
}
