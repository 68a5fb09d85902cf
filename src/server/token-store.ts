/**
 * Where each release keeps its iMIP tokens and how it reads them, as data (one row per release
 * range, the tagged source beside each). `src/tokens/` finds, reads and judges the store by
 * these rows; nothing there branches on a version number itself.
 */
import type { ServerVersion } from './release.js';

export interface TokenStoreRules {
  /** First release (major, minor) the row covers; rows are matched newest first. */
  since: readonly [number, number];
  kind: 'sqlite' | 'postgres';
  /** Table the tokens live in. */
  table: 'TOKENS' | 'IMIP_TOKENS';
  /** Column with the token's date: refreshed whenever an invitation reuses the token. */
  dateColumn: 'DATESTAMP' | 'ACCESSED';
  /**
   * `exactly-one`: a token matches only when exactly one row has it (several rows: unknown).
   * `first`: the first row of any number.
   */
  lookup: 'exactly-one' | 'first';
  /** Rows older than InvitationDaysToLive days are deleted when the mail gateway starts. */
  purgeAtGatewayStart: boolean;
  /** The spawned PostgreSQL's Unix socket directory (DBType empty). */
  spawnedSocket: 'runroot-hash' | 'socket-directory' | null;
  /** How an external PostgreSQL (DBType "postgres") is named in the config. */
  external: 'DSN' | 'DatabaseConnection' | null;
  /** Where this was read, for a reviewer. */
  source: string;
}

/** The SQLite file name, in DataRoot (2.x–4.x store; on 5.0+ only the source of the one-time migration). */
export const SQLITE_FILE = 'mailgatewaytokens.sqlite';

export const TOKEN_STORE_RULES: readonly TokenStoreRules[] = [
  {
    // CalendarServer-7.0 twistedcaldav/stdconfig.py DatabaseConnection {endpoint, database, user, password};
    // txdav/base/datastore/dbapiclient.py DBAPIParameters (endpoint "unix:/dir[:port]" or "tcp:host[:port]");
    // txdav/caldav/datastore/scheduling/imip/inbound.py MailReceiver.processReply: records[0].
    since: [7, 0],
    kind: 'postgres',
    table: 'IMIP_TOKENS',
    dateColumn: 'ACCESSED',
    lookup: 'first',
    purgeAtGatewayStart: false,
    spawnedSocket: 'socket-directory',
    external: 'DatabaseConnection',
    source: 'CalendarServer-7.0..9.2 stdconfig.py, dbapiclient.py DBAPIParameters, subpostgres.py PostgresService.__init__, sql_imip.py imipLookupByToken',
  },
  {
    // CalendarServer-5.2..6.2 txdav/base/datastore/subpostgres.py PostgresService.__init__: socketDir =
    // Postgres.SocketDirectory or "/tmp/ccs_postgres_" + md5(DatabaseRoot); calendarserver/tap/util.py
    // pgServiceFromConfig (socketDir=config.Postgres.SocketDirectory from 5.2), pgConnectorFromConfig:
    // DBAPIConnector(pgdb, ..., config.DSN).
    since: [5, 2],
    kind: 'postgres',
    table: 'IMIP_TOKENS',
    dateColumn: 'ACCESSED',
    lookup: 'first',
    purgeAtGatewayStart: false,
    spawnedSocket: 'socket-directory',
    external: 'DSN',
    source: 'CalendarServer-5.2/6.0 subpostgres.py PostgresService.__init__, tap/util.py pgServiceFromConfig and pgConnectorFromConfig',
  },
  {
    // CalendarServer-5.0/5.1 calendarserver/tap/util.py pgServiceFromConfig: socketDir=config.RunRoot;
    // subpostgres.py PostgresService.__init__: "<RunRoot>/ccs_postgres_<md5(DatabaseRoot)>/", /tmp
    // instead when that path is longer than 64 characters; txdav/common/datastore/sql.py
    // imipLookupByToken, imip/inbound.py MailReceiver.processReply: result[0].
    since: [5, 0],
    kind: 'postgres',
    table: 'IMIP_TOKENS',
    dateColumn: 'ACCESSED',
    lookup: 'first',
    purgeAtGatewayStart: false,
    spawnedSocket: 'runroot-hash',
    external: 'DSN',
    source: 'CalendarServer-5.0/5.1 subpostgres.py PostgresService.__init__, tap/util.py pgServiceFromConfig, sql.py imipLookupByToken',
  },
  {
    // CalendarServer-3.2/4.3.2 twistedcaldav/mail.py MailGatewayTokensDatabase.lookupByToken
    // ("if len(results) != 1: return None"); MailGatewayService.startService → purgeOldTokens(today − InvitationDaysToLive).
    since: [3, 0],
    kind: 'sqlite',
    table: 'TOKENS',
    dateColumn: 'DATESTAMP',
    lookup: 'exactly-one',
    purgeAtGatewayStart: true,
    spawnedSocket: null,
    external: null,
    source: 'CalendarServer-4.3.2 twistedcaldav/mail.py MailGatewayTokensDatabase.lookupByToken, getToken, purgeOldTokens; MailGatewayService.startService',
  },
  {
    // CalendarServer-2.5 twistedcaldav/mail.py MailGatewayTokensDatabase.lookupByToken; MailHandler.__init__
    // purges rows with DATESTAMP < today − InvitationDaysToLive.
    since: [0, 0],
    kind: 'sqlite',
    table: 'TOKENS',
    dateColumn: 'DATESTAMP',
    lookup: 'exactly-one',
    purgeAtGatewayStart: true,
    spawnedSocket: null,
    external: null,
    source: 'CalendarServer-2.5 twistedcaldav/mail.py MailGatewayTokensDatabase.lookupByToken, MailHandler.__init__',
  },
];

export function tokenStoreRules(v: Pick<ServerVersion, 'major' | 'minor'>): TokenStoreRules {
  return TOKEN_STORE_RULES.find((r) => v.major > r.since[0] || (v.major === r.since[0] && v.minor >= r.since[1])) ?? TOKEN_STORE_RULES[TOKEN_STORE_RULES.length - 1]!;
}

/**
 * Config defaults the store needs, per release (the `twistedcaldav/stdconfig.py` of each tag; 2.x
 * `twistedcaldav/config.py`): DataRoot, DatabaseRoot, RunRoot, SpawnedDBUser, Postgres.DatabaseName.
 * ServerRoot and DataRoot themselves come from `keys.ts` TOP_LEVEL_DEFAULTS.
 */
export const STORE_CONFIG_DEFAULTS = {
  DatabaseRoot: 'Database',
  RunRoot: '/var/run/caldavd',
  SpawnedDBUser: 'caldav',
  DatabaseName: 'caldav',
  /** 5.x: a socket path longer than this falls back to /tmp (subpostgres.py, "Unix socket length path limit"). */
  socketPathLimit: 64,
} as const;
