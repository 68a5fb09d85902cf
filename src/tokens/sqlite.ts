/**
 * Reading the 2.x–4.x SQLite store (`mailgatewaytokens.sqlite`, table TOKENS) strictly read-only:
 * the file's bytes are copied into memory and scanned there by our own reader of the SQLite file
 * format (`sqlite-file.ts`), so the tool takes none of SQLite's file locks and can never write.
 * Schema: CalendarServer-2.5/4.3.2 twistedcaldav/mail.py MailGatewayTokensDatabase._db_init_data_tables
 * (`TOKENS(TOKEN, ORGANIZER, ATTENDEE, ICALUID, DATESTAMP)`).
 */
import { readFileSync, statSync } from 'node:fs';
import { openSqlite, SqliteFormatError, type SqliteValue } from './sqlite-file.js';
import { StoreReadError, type StoreRow } from './types.js';

const COLUMNS = ['TOKEN', 'ORGANIZER', 'ATTENDEE', 'ICALUID', 'DATESTAMP'];

/** The SQLite file header ("SQLite format 3\0"). */
const MAGIC = 'SQLite format 3\u0000';

/**
 * What the file is for the release judged by: the 2.x–4.x store the mail gateway keeps in DataRoot,
 * or, from 5.0 (no mail gateway; tokens in IMIP_TOKENS in PostgreSQL), only what the upgrade
 * migrates from (CalendarServer-5.0 twistedcaldav/upgrade.py PostDBImportStep → imip/mailgateway.py
 * migrateTokensToStore, which copies the rows and deletes the file).
 */
export type SqliteRole = 'store' | 'migration-source';

function readBytes(path: string, role: SqliteRole): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new StoreReadError(
        role === 'store' ? `no token store at ${path}` : `no mailgatewaytokens.sqlite at ${path}`,
        role === 'store'
          ? 'The mail gateway creates this file when it starts. Check DataRoot in the config (or give --token-store PATH); if the gateway never ran, there are no tokens yet.'
          : 'From 5.0 the server keeps its tokens in IMIP_TOKENS in PostgreSQL, and the SQLite file exists only until the upgrade from 4.x migrates it: give --token-store postgres://USER@HOST/DATABASE (or the config) to read the server\'s store, or the path of the old file.',
        'missing',
      );
    }
    if (code === 'EACCES' || code === 'EPERM') {
      throw new StoreReadError(
        `permission denied reading ${path}`,
        'Run as root or as the user the server runs as (the file belongs to it), or copy the file and give the copy with --token-store.',
        'permission',
      );
    }
    if (code === 'EISDIR') throw new StoreReadError(`${path} is a directory, not a SQLite file`, 'Give the mailgatewaytokens.sqlite file itself, or the DataRoot directory holding it.', 'wrong-file');
    throw new StoreReadError(`cannot read ${path}: ${(e as Error).message}`, 'Check the path and its permissions.', 'unreadable');
  }
}

/** ISO form of a DATESTAMP as Python's sqlite3 stores `datetime.date` (text `YYYY-MM-DD`). */
function isoDate(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  const s = String(v).trim();
  const m = /^(\d{4}-\d{2}-\d{2})/.exec(s);
  return m ? m[1]! : null;
}

export interface SqliteRead {
  rows: StoreRow[];
  notes: string[];
}

/** Read every TOKENS row in one query. Throws {@link StoreReadError} with a fix for every failure. */
export async function readSqliteStore(path: string, role: SqliteRole = 'store'): Promise<SqliteRead> {
  const notes: string[] = [];
  let bytes = readBytes(path, role);
  // A hot journal means a write was in flight when the bytes were copied: read again once.
  const journal = `${path}-journal`;
  const hot = (): boolean => {
    try {
      return statSync(journal).size > 0;
    } catch {
      return false;
    }
  };
  if (hot()) {
    await new Promise((r) => setTimeout(r, 200));
    bytes = readBytes(path, role);
    if (hot()) notes.push('the server was writing to the store while it was read (a journal file was present): a token created this very moment may be missing');
  }
  if (bytes.length === 0) {
    throw new StoreReadError(
      `${path} is empty`,
      role === 'store'
        ? 'The gateway writes the tables when it starts; restart the mail gateway, or check that DataRoot names the right directory.'
        : 'An empty file holds no tokens to migrate: give the mailgatewaytokens.sqlite of the 4.x server (or its backup), or --token-store postgres://USER@HOST/DATABASE for the server\'s own store.',
      'corrupt',
    );
  }
  if (bytes.subarray(0, 16).toString('latin1') !== MAGIC) {
    throw new StoreReadError(
      `${path} is not a SQLite database`,
      role === 'store'
        ? 'Give the mailgatewaytokens.sqlite file from the server\'s DataRoot.'
        : 'Give the mailgatewaytokens.sqlite of the 4.x server (from its DataRoot, or a backup), or --token-store postgres://USER@HOST/DATABASE for the server\'s own store.',
      'corrupt',
    );
  }
  let file;
  let table: SqliteValue[][];
  let idx: number[];
  try {
    file = openSqlite(bytes);
    const cols = (file.columns('TOKENS') ?? []).map((c) => c.toUpperCase());
    idx = COLUMNS.map((c) => cols.indexOf(c));
    if (idx.some((i) => i < 0)) {
      throw new StoreReadError(
        `${path} has no TOKENS table with ${COLUMNS.join(', ')}${cols.length ? ` (its TOKENS has ${cols.join(', ')})` : ''}`,
        role === 'store'
          ? 'This is not the mail gateway\'s token store: give the mailgatewaytokens.sqlite from the server\'s DataRoot.'
          : 'This is not a 2.x-4.x mailgatewaytokens.sqlite: give that file (from DataRoot of the 4.x server, or a backup), or --token-store postgres://USER@HOST/DATABASE for the server\'s own store.',
        'schema',
      );
    }
    table = file.rows('TOKENS');
  } catch (e) {
    if (e instanceof StoreReadError) throw e;
    if (!(e instanceof SqliteFormatError) && !(e instanceof RangeError)) throw e;
    throw new StoreReadError(
      `${path} cannot be read as SQLite: ${e.message}`,
      role === 'store' ? 'The file is damaged; the gateway would fail on it too. Restore it from a backup.' : 'The file is damaged; the upgrade\'s migration would fail on it too. Restore it from a backup.',
      'corrupt',
    );
  }
  if (file.wal) notes.push('the file is in WAL mode: changes not yet copied from its -wal file are not seen');
  const str = (v: SqliteValue | undefined): string => (v === null || v === undefined ? '' : Buffer.isBuffer(v) ? v.toString('utf8') : String(v));
  const rows: StoreRow[] = table.map((r) => ({ token: str(r[idx[0]!]), organizer: str(r[idx[1]!]), attendee: str(r[idx[2]!]), uid: str(r[idx[3]!]), date: isoDate(r[idx[4]!]) }));
  return { rows, notes };
}
