/**
 * A real PostgreSQL for tests (Debian's `postgresql` server binaries), started by the test as an
 * unprivileged user (`nobody` when the suite runs as root: initdb refuses root) on a private socket
 * directory and a high port, with IMIP_TOKENS as CalendarServer-5.0 and -9.2
 * txdav/common/datastore/sql_schema/current.sql define it. Stopped and removed by `stop()`.
 */
import { execFile } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import type { Row } from './token-store.js';

export type { Row } from './token-store.js';

const execFileP = promisify(execFile);

/** IMIP_TOKENS, CalendarServer-5.0 and -9.2 current.sql (the same definition in both). */
export const IMIP_TOKENS_DDL = `
create table IMIP_TOKENS (
  TOKEN                         varchar(255) not null,
  ORGANIZER                     varchar(255) not null,
  ATTENDEE                      varchar(255) not null,
  ICALUID                       varchar(255) not null,
  ACCESSED                      timestamp    default timezone('UTC', CURRENT_TIMESTAMP),
  primary key (ORGANIZER, ATTENDEE, ICALUID)
);
create index IMIP_TOKENS_TOKEN on IMIP_TOKENS(TOKEN);
`;

function pgBin(): string {
  const root = '/usr/lib/postgresql';
  if (existsSync(root)) {
    const versions = readdirSync(root).filter((v) => existsSync(join(root, v, 'bin', 'initdb'))).sort((a, b) => Number(b) - Number(a));
    if (versions[0]) return join(root, versions[0], 'bin');
  }
  throw new Error('PostgreSQL server binaries not found: install them with "apt-get install -y postgresql" (Debian)');
}

async function freePort(): Promise<number> {
  for (let i = 0; i < 20; i++) {
    const port = 40000 + Math.floor(Math.random() * 9000);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.createServer();
      s.once('error', () => resolve(false));
      s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
    });
    if (ok) return port;
  }
  throw new Error('no free port for PostgreSQL');
}

export interface TestPostgres {
  socketDir: string;
  port: number;
  /** Superuser "caldav": trust over the socket, this password over TCP (scram-sha-256). */
  user: string;
  password: string;
  /** Run SQL as the superuser over the socket. */
  sql(database: string, text: string, values?: unknown[]): Promise<void>;
  stop(): Promise<void>;
}

/** initdb + pg_ctl start as `nobody` when running as root (initdb refuses root), else as this user. */
export async function startPostgres(): Promise<TestPostgres> {
  const bin = pgBin();
  const base = mkdtempSync('/tmp/imip-pg-');
  const data = join(base, 'data');
  const socketDir = join(base, 'sock');
  mkdirSync(data);
  mkdirSync(socketDir);
  const password = `pg-secret-${process.pid}`;
  writeFileSync(join(base, 'pw'), `${password}\n`);
  const root = process.getuid?.() === 0;
  if (root) {
    chmodSync(base, 0o755);
    for (const p of [data, socketDir, join(base, 'pw')]) chownSync(p, 65534, 65534);
  }
  const as = (cmd: string, args: string[]): [string, string[]] => (root ? ['runuser', ['-u', 'nobody', '--', cmd, ...args]] : [cmd, args]);
  const port = await freePort();
  const run = async (cmd: string, args: string[]): Promise<void> => {
    const [c, a] = as(cmd, args);
    await execFileP(c, a, { cwd: base, env: { ...process.env, LC_ALL: 'C' } });
  };
  await run(join(bin, 'initdb'), ['-D', data, '-U', 'caldav', '-E', 'UTF8', '--auth-local=trust', '--auth-host=scram-sha-256', `--pwfile=${join(base, 'pw')}`, '--no-sync']);
  await run(join(bin, 'pg_ctl'), ['-D', data, '-l', join(socketDir, '..', 'data', 'log'), '-w', '-o', `-k ${socketDir} -p ${port} -c listen_addresses=127.0.0.1 -c fsync=off`, 'start']);
  const sql = async (database: string, text: string, values: unknown[] = []): Promise<void> => {
    const c = new pg.Client({ host: socketDir, port, user: 'caldav', database });
    await c.connect();
    try {
      await c.query(text, values);
    } finally {
      await c.end();
    }
  };
  return {
    socketDir,
    port,
    user: 'caldav',
    password,
    sql,
    async stop() {
      await run(join(bin, 'pg_ctl'), ['-D', data, '-m', 'immediate', '-w', 'stop']).catch(() => undefined);
      rmSync(base, { recursive: true, force: true });
    },
  };
}

/** A database with IMIP_TOKENS holding these rows. */
export async function createImipDatabase(p: TestPostgres, name: string, rows: Row[]): Promise<void> {
  await p.sql('postgres', `create database ${name}`);
  await p.sql(name, IMIP_TOKENS_DDL);
  for (const r of rows) {
    await p.sql(name, 'insert into IMIP_TOKENS (TOKEN, ORGANIZER, ATTENDEE, ICALUID, ACCESSED) values ($1, $2, $3, $4, $5)', [r.token, r.organizer, r.attendee, r.uid, r.date.replace('T', ' ').replace('Z', '')]);
  }
}
