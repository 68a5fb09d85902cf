/**
 * A real SQLite token store for tests: `mailgatewaytokens.sqlite` with the 2.x–4.x gateway's schema
 * (CalendarServer-2.5/4.3.2 twistedcaldav/sql.py AbstractSQLDatabase._db_init: CALDAV table with
 * SCHEMA_VERSION and TYPE; twistedcaldav/mail.py MailGatewayTokensDatabase._db_init_data_tables:
 * TOKENS and TOKENSINDEX), written by SQLite itself (sql.js). The PostgreSQL store: helpers/postgres.ts.
 */
import { writeFileSync } from 'node:fs';
import initSqlJs from 'sql.js';

export interface Row {
  token: string;
  organizer: string;
  attendee: string;
  uid: string;
  /** DATESTAMP (YYYY-MM-DD) or ACCESSED (ISO timestamp, UTC). */
  date: string;
}

/** Write `mailgatewaytokens.sqlite` as the 2.x–4.x gateway creates it. */
export async function writeSqliteStore(path: string, rows: Row[]): Promise<string> {
  const SQL = await initSqlJs();
  const db = new SQL.Database();
  db.run("create table CALDAV (KEY text unique, VALUE text unique)");
  db.run("insert into CALDAV (KEY, VALUE) values ('SCHEMA_VERSION', '1')");
  db.run("insert into CALDAV (KEY, VALUE) values ('TYPE', 'MAILGATEWAYTOKENS')");
  db.run('create table TOKENS (TOKEN text, ORGANIZER text, ATTENDEE text, ICALUID text, DATESTAMP date)');
  db.run('create index TOKENSINDEX on TOKENS (TOKEN)');
  const ins = db.prepare('insert into TOKENS (TOKEN, ORGANIZER, ATTENDEE, ICALUID, DATESTAMP) values (?, ?, ?, ?, ?)');
  for (const r of rows) ins.run([r.token, r.organizer, r.attendee, r.uid, r.date.slice(0, 10)]);
  ins.free();
  writeFileSync(path, Buffer.from(db.export()));
  db.close();
  return path;
}

