/**
 * Reading the 2.x–4.x SQLite store (`mailgatewaytokens.sqlite`, table TOKENS) strictly read-only:
 * the file's bytes are copied into memory and opened there with sql.js (SQLite compiled to
 * WebAssembly), so the tool takes none of SQLite's file locks and can never write to the file.
 * Schema: CalendarServer-2.5/4.3.2 twistedcaldav/mail.py MailGatewayTokensDatabase._db_init_data_tables
 * (`TOKENS(TOKEN, ORGANIZER, ATTENDEE, ICALUID, DATESTAMP)`).
 * sql.js is loaded only when a SQLite store is read.
 */
import { readFileSync, statSync } from 'node:fs';
import { StoreReadError, type StoreRow } from './types.js';

/** The SQLite file header ("SQLite format 3\0"). */
const MAGIC = 'SQLite format 3\u0000';

function readBytes(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new StoreReadError(
        `no token store at ${path}`,
        'The mail gateway creates this file when it starts. Check DataRoot in the config (or give --token-store PATH); if the gateway never ran, there are no tokens yet.',
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
export async function readSqliteStore(path: string): Promise<SqliteRead> {
  const notes: string[] = [];
  let bytes = readBytes(path);
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
    bytes = readBytes(path);
    if (hot()) notes.push('the server was writing to the store while it was read (a journal file was present): a token created this very moment may be missing');
  }
  if (bytes.length === 0) {
    throw new StoreReadError(`${path} is empty`, 'The gateway writes the tables when it starts; restart the mail gateway, or check that DataRoot names the right directory.', 'corrupt');
  }
  if (bytes.subarray(0, 16).toString('latin1') !== MAGIC) {
    throw new StoreReadError(`${path} is not a SQLite database`, 'Give the mailgatewaytokens.sqlite file from the server\'s DataRoot.', 'corrupt');
  }
  const { default: initSqlJs } = await import('sql.js');
  const SQL = await initSqlJs();
  let db;
  try {
    db = new SQL.Database(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  } catch (e) {
    throw new StoreReadError(`${path} cannot be opened as SQLite: ${(e as Error).message}`, 'The file is damaged; the server would fail to start its mail gateway too. Restore it from a backup.', 'corrupt');
  }
  try {
    // ONE query, stepped row by row (much faster in sql.js than exec(), which converts every value
    // into a result table first).
    let stmt;
    try {
      stmt = db.prepare('SELECT TOKEN, ORGANIZER, ATTENDEE, ICALUID, DATESTAMP FROM TOKENS');
    } catch (e) {
      const msg = (e as Error).message;
      if (/no such table|no such column/i.test(msg)) {
        throw new StoreReadError(
          `${path} has no TOKENS table with TOKEN, ORGANIZER, ATTENDEE, ICALUID and DATESTAMP (${msg})`,
          'This is not the mail gateway\'s token store: give the mailgatewaytokens.sqlite from the server\'s DataRoot.',
          'schema',
        );
      }
      throw new StoreReadError(`${path}: ${msg}`, 'The file is damaged; restore it from a backup.', 'corrupt');
    }
    const str = (v: unknown): string => (v === null || v === undefined ? '' : String(v));
    const rows: StoreRow[] = [];
    try {
      while (stmt.step()) {
        const r = stmt.get();
        rows.push({ token: str(r[0]), organizer: str(r[1]), attendee: str(r[2]), uid: str(r[3]), date: isoDate(r[4]) });
      }
    } catch (e) {
      throw new StoreReadError(`${path}: ${(e as Error).message}`, 'The file is damaged; restore it from a backup.', 'corrupt');
    } finally {
      stmt.free();
    }
    return { rows, notes };
  } finally {
    db.close();
  }
}
