#!/usr/bin/env node
// What reading the server's token store adds to one `imip poll --once` cycle: the same mailbox of N
// replies (default 5,000, each with its own token, half of them in the store) polled read-only
// with the store (ONE query, then an in-memory lookup per message) and without it (the store's path
// points nowhere, so every token stays "unchecked"). Stores: a SQLite mailgatewaytokens.sqlite
// (judged as 4.3) and, when PostgreSQL's server binaries are installed, IMIP_TOKENS in a PostgreSQL
// started here as an unprivileged user (judged as 9.2). The store holds N/2 + --extra-rows rows.
// Needs root (the mail stack and PostgreSQL run as other users), the mail stack's Debian packages
// and `npm run build`.
//
// Usage: node bench/tokens.mjs [--messages 5000] [--extra-rows 20000] [--runs 3] [--store sqlite|postgres|both] [--json]
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchArgs } from './lib/args.mjs';
import { fillInbox, startStack, stopStack } from './lib/stack.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const USER = { address: 'benchtok@example.test', password: 'BenchTok-pw-2026' };

const opts = benchArgs(import.meta.url, { messages: { count: 1 }, 'extra-rows': { count: 0 }, runs: { count: 1 }, store: 'string', json: 'boolean' }, (v) =>
  v.store === undefined || ['sqlite', 'postgres', 'both'].includes(v.store) ? null : `--store takes sqlite, postgres or both, not ${JSON.stringify(v.store)}`,
);
const N = opts.messages ?? 5000;
const EXTRA = opts['extra-rows'] ?? 20000;
const RUNS = opts.runs ?? 3;
const STORES = (opts.store ?? 'both') === 'both' ? ['sqlite', 'postgres'] : [opts.store];
const JSON_OUT = Boolean(opts.json);
if (!existsSync(path.join(ROOT, 'dist/cli.js'))) {
  console.error('bench/tokens.mjs: build first (npm run build)');
  process.exit(2);
}

const token = (i) => `b3c4d5e6-0000-4000-8000-${String(i).padStart(12, '0')}`;
const uid = (i) => `BENCH-EVENT-${i}`;
const rows = () => {
  const out = [];
  for (let i = 0; i < N; i += 2) out.push([token(i), 'mailto:organizer@example.test', 'mailto:attendee@remote.test', uid(i)]);
  for (let i = 0; i < EXTRA; i++) out.push([token(1_000_000 + i), 'mailto:organizer@example.test', `mailto:guest${i}@remote.test`, `OTHER-${i}`]);
  return out;
};

// ---------------------------------------------------------------- mail stack and mailbox

/** The INBOX: N replies, each with its own token. */
function seed(stack) {
  function* raws() {
    for (let i = 0; i < N; i++) {
      yield Buffer.from(
        [
          `Message-ID: <benchtok-${i}@remote.test>`,
          'Date: Mon, 2 Mar 2026 10:00:00 +0000',
          'From: Attendee Person <attendee@remote.test>',
          `To: calendar+${token(i)}@example.test`,
          `Subject: Accepted: bench ${i}`,
          'MIME-Version: 1.0',
          'Content-Type: text/calendar; method=REPLY; charset=UTF-8',
          '',
          'BEGIN:VCALENDAR',
          'PRODID:-//Bench//EN',
          'VERSION:2.0',
          'METHOD:REPLY',
          'BEGIN:VEVENT',
          `ORGANIZER:mailto:calendar+${token(i)}@example.test`,
          'ATTENDEE;PARTSTAT=ACCEPTED:mailto:attendee@remote.test',
          `UID:${uid(i)}`,
          'DTSTAMP:20260302T100000Z',
          'DTSTART:20260305T100000Z',
          'END:VEVENT',
          'END:VCALENDAR',
          '',
        ].join('\r\n'),
      );
    }
  }
  fillInbox(stack, raws(), USER);
}

// ---------------------------------------------------------------- stores

async function sqliteStore(dir) {
  const { default: initSqlJs } = await import(path.join(ROOT, 'node_modules/sql.js/dist/sql-wasm.js'));
  const SQL = await initSqlJs();
  const db = new SQL.Database();
  db.run('create table TOKENS (TOKEN text, ORGANIZER text, ATTENDEE text, ICALUID text, DATESTAMP date)');
  db.run('create index TOKENSINDEX on TOKENS (TOKEN)');
  db.run('begin');
  const ins = db.prepare('insert into TOKENS values (?, ?, ?, ?, ?)');
  for (const r of rows()) ins.run([...r, '2026-03-01']);
  ins.free();
  db.run('commit');
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'mailgatewaytokens.sqlite'), Buffer.from(db.export()));
  return { version: '4.3', store: path.join(dir, 'mailgatewaytokens.sqlite'), none: path.join(dir, 'absent.sqlite'), stop: () => undefined };
}

async function postgresStore() {
  const root = '/usr/lib/postgresql';
  const v = existsSync(root) ? readdirSync(root).filter((x) => existsSync(path.join(root, x, 'bin/initdb'))).sort((a, b) => b - a)[0] : null;
  if (!v) return null;
  const bin = path.join(root, v, 'bin');
  const base = mkdtempSync('/tmp/imip-pgb-');
  const data = path.join(base, 'data');
  const sock = path.join(base, 'sock');
  mkdirSync(data);
  mkdirSync(sock);
  const root_ = process.getuid() === 0;
  if (root_) {
    chmodSync(base, 0o755);
    chownSync(data, 65534, 65534);
    chownSync(sock, 65534, 65534);
  }
  const run = (cmd, a) => execFileSync(root_ ? 'runuser' : cmd, root_ ? ['-u', 'nobody', '--', cmd, ...a] : a, { cwd: base, stdio: 'ignore', env: { ...process.env, LC_ALL: 'C' } });
  const port = 45000 + (process.pid % 1000);
  run(path.join(bin, 'initdb'), ['-D', data, '-U', 'caldav', '--auth-local=trust', '--no-sync']);
  run(path.join(bin, 'pg_ctl'), ['-D', data, '-l', path.join(data, 'log'), '-w', '-o', `-k ${sock} -p ${port} -c listen_addresses='' -c fsync=off`, 'start']);
  const { default: pg } = await import(path.join(ROOT, 'node_modules/pg/lib/index.js'));
  const c = new pg.Client({ host: sock, port, user: 'caldav', database: 'postgres' });
  await c.connect();
  await c.query(
    "create table IMIP_TOKENS (TOKEN varchar(255) not null, ORGANIZER varchar(255) not null, ATTENDEE varchar(255) not null, ICALUID varchar(255) not null, ACCESSED timestamp default timezone('UTC', CURRENT_TIMESTAMP), primary key (ORGANIZER, ATTENDEE, ICALUID))",
  );
  await c.query('create index IMIP_TOKENS_TOKEN on IMIP_TOKENS(TOKEN)');
  const all = rows();
  for (let i = 0; i < all.length; i += 1000) {
    const chunk = all.slice(i, i + 1000);
    await c.query(`insert into IMIP_TOKENS (TOKEN, ORGANIZER, ATTENDEE, ICALUID) values ${chunk.map((_, j) => `($${j * 4 + 1}, $${j * 4 + 2}, $${j * 4 + 3}, $${j * 4 + 4})`).join(',')}`, chunk.flat());
  }
  await c.end();
  return {
    version: '9.2',
    store: `postgres:///postgres?host=${sock}&port=${port}&user=caldav`,
    none: `postgres:///postgres?host=${path.join(base, 'nowhere')}&port=${port}&user=caldav`,
    stop: () => {
      try {
        run(path.join(bin, 'pg_ctl'), ['-D', data, '-m', 'immediate', '-w', 'stop']);
      } catch {}
      rmSync(base, { recursive: true, force: true });
    },
  };
}

// ---------------------------------------------------------------- measured runs

function plist(stack) {
  const file = path.join(stack.dir, 'benchtok.plist');
  writeFileSync(
    file,
    `<?xml version="1.0" encoding="UTF-8"?>
<plist version="1.0"><dict>
<key>ServerHostName</key><string>cal.example.test</string>
<key>Scheduling</key><dict><key>iMIP</key><dict>
<key>Enabled</key><true/>
<key>Sending</key><dict><key>Server</key><string>127.0.0.1</string><key>Port</key><integer>587</integer><key>Address</key><string>calendar@example.test</string></dict>
<key>Receiving</key><dict><key>Server</key><string>127.0.0.1</string><key>Port</key><integer>${stack.env.MAILSTACK_IMAPS_PORT}</integer><key>UseSSL</key><true/><key>Type</key><string>imap</string><key>Username</key><string>${USER.address}</string><key>Password</key><string>${USER.password}</string></dict>
</dict></dict></dict></plist>
`,
  );
  return file;
}

function cycle(stack, version, store) {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    // bin/imip itself, as admins run it (its launcher starts Node).
    const c = spawn(
      path.join(ROOT, 'bin/imip'),
      ['poll', '--once', '--json', '--server-version', version, '--config', plist(stack), '--ca-file', stack.env.MAILSTACK_CA, '--state-dir', path.join(stack.dir, 'state'), '--token-store', store, '--timeout', '120'],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } },
    );
    let out = '';
    let err = '';
    c.stdout.on('data', (d) => (out += d));
    c.stderr.on('data', (d) => (err += d));
    c.on('error', reject);
    c.on('close', (code) => {
      if (code !== 0 && code !== 1) return reject(new Error(`poll exited ${code}: ${err.slice(0, 400)}`));
      const doc = JSON.parse(out);
      const known = doc.messages.filter((m) => m.tokenStatus === 'known').length;
      resolve({ ms: Number(process.hrtime.bigint() - started) / 1e6, messages: doc.messages.length, known, storeMs: doc.tokenStore.server.ms ?? null, readable: doc.tokenStore.server.readable });
    });
  });
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const stack = startStack({ portBase: 36000, user: USER });
const results = [];
try {
  seed(stack);
  for (const kind of STORES) {
    const s = kind === 'sqlite' ? await sqliteStore(path.join(stack.dir, 'data')) : await postgresStore();
    if (!s) {
      console.error(`bench/tokens.mjs: no PostgreSQL server binaries (apt-get install -y postgresql); skipping the ${kind} store`);
      continue;
    }
    try {
      await cycle(stack, s.version, s.store); // warm the page cache and Dovecot's index
      const withStore = [];
      const without = [];
      for (let r = 0; r < RUNS; r++) {
        without.push(await cycle(stack, s.version, s.none));
        withStore.push(await cycle(stack, s.version, s.store));
      }
      const a = median(without.map((x) => x.ms));
      const b = median(withStore.map((x) => x.ms));
      const last = withStore[withStore.length - 1];
      results.push({ store: kind, version: s.version, messages: last.messages, known: last.known, storeRows: Math.ceil(N / 2) + EXTRA, withoutMs: Math.round(a), withMs: Math.round(b), storeQueryMs: median(withStore.map((x) => x.storeMs)), overheadPct: Math.round(((b - a) / a) * 1000) / 10, readableWithout: without[0].readable });
    } finally {
      s.stop();
    }
  }
} finally {
  stopStack(stack);
}

if (JSON_OUT) process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
else {
  console.log(`poll --once over ${N} messages (IMAP), median of ${RUNS}; the store holds ${Math.ceil(N / 2) + EXTRA} rows`);
  console.log('store     release  without store  with store  store query  overhead  known');
  for (const r of results) {
    console.log(`${r.store.padEnd(9)} ${r.version.padEnd(8)} ${`${r.withoutMs} ms`.padStart(13)}  ${`${r.withMs} ms`.padStart(10)}  ${`${r.storeQueryMs} ms`.padStart(11)}  ${`${r.overheadPct}%`.padStart(8)}  ${r.known}/${r.messages}`);
  }
}
process.exitCode = results.every((r) => r.overheadPct < 10) ? 0 : 1;
