#!/usr/bin/env node
// `imip poll --once` on a big mailbox, against a plain bulk download of the same mailbox over one
// connection. Seeds N messages (default 5,000; 5% with a 5 MB attachment) into the test Dovecot
// (test/mailstack/mailstack.sh, a stack of its own in /dev/shm when it is writable), then, per
// protocol, times the read-only cycle (the built CLI, `--json`) and the bulk download
// (IMAP: one `UID FETCH 1:* BODY.PEEK[]`; POP3: RETR of every message, pipelined), each in a child
// process of its own so peak RSS is its own. Needs root and the mail stack's Debian packages, and
// a build (`npm run build`).
//
// Usage: node bench/poll.mjs [--messages N] [--big-ratio 0.05] [--big-mb 5] [--protocol imap|pop3|both]
//                            [--runs 1] [--json] [--keep]
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, fchownSync, existsSync, mkdtempSync, openSync, readFileSync, renameSync, rmSync, writeFileSync, writeSync, accessSync, constants } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = path.join(ROOT, 'bin/imip');
const HARNESS = path.join(ROOT, 'test/mailstack/mailstack.sh');
const TOKEN = '3f2b8c1e-7d4a-4e9b-a6c2-5b1d9e0f7a21';
const EVENT_UID = '6F1C2A3B-4000-4C5D-9E8F-000000000001';
const USER = { address: 'bench@example.test', password: 'Bench-pw-2024' };

// ---------------------------------------------------------------- child modes (measured processes)

if (process.argv[2] === '--child-bulk') {
  await bulkChild(JSON.parse(process.argv[3]));
  process.exit(0);
}

async function bulkChild({ protocol, host, port, ca }) {
  const started = process.hrtime.bigint();
  let messages = 0;
  let bytes = 0;
  if (protocol === 'imap') {
    const { ImapFlow } = await import(path.join(ROOT, 'node_modules/imapflow/dist/esm/imap-flow.js'));
    const c = new ImapFlow({ host, port, secure: true, tls: { ca: [ca] }, auth: { user: USER.address, pass: USER.password }, logger: false, disableAutoIdle: true });
    c.on('error', () => undefined);
    await c.connect();
    await c.mailboxOpen('INBOX', { readOnly: true });
    for await (const m of c.fetch('1:*', { uid: true, source: true }, { uid: true })) {
      messages++;
      bytes += m.source.length;
    }
    const s = c.socket;
    const wire = s ? s.bytesRead + s.bytesWritten : bytes;
    await c.logout();
    report({ messages, bytes: wire });
  } else {
    const { Pop3Client } = await import(path.join(ROOT, 'dist/clients/pop3/index.js'));
    const c = await Pop3Client.connect({ host, port, implicitTls: true, ca, rejectUnauthorized: true, timeoutMs: 60000 });
    await c.login(USER.address, USER.password);
    const list = await c.list();
    await Promise.all(list.map((e) => c.retr(e.n, (chunk) => (bytes += chunk.length)).then(() => messages++)));
    await c.quit();
    report({ messages, bytes });
  }
  function report(r) {
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    process.stdout.write(JSON.stringify({ ...r, ms, maxRss: process.resourceUsage().maxRSS * 1024 }));
  }
}

// ---------------------------------------------------------------- options

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const N = Number(opt('messages', 5000));
const BIG_RATIO = Number(opt('big-ratio', 0.05));
const BIG_MB = Number(opt('big-mb', 5));
const PROTOCOLS = opt('protocol', 'both') === 'both' ? ['imap', 'pop3'] : [opt('protocol', 'both')];
const RUNS = Number(opt('runs', 1));
const JSON_OUT = args.includes('--json');
const KEEP = args.includes('--keep');

if (!existsSync(path.join(ROOT, 'dist/cli.js'))) {
  console.error('bench/poll.mjs: build first (npm run build)');
  process.exit(2);
}

// ---------------------------------------------------------------- the stack

function stackParent() {
  try {
    accessSync('/dev/shm', constants.W_OK);
    return '/dev/shm';
  } catch {
    return tmpdir();
  }
}

function parseEnv(text) {
  const env = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line);
    if (!m) continue;
    let v = m[2];
    if (v.length >= 2 && v.startsWith("'") && v.endsWith("'")) v = v.slice(1, -1).replace(/'\\''/g, "'");
    env[m[1]] = v;
  }
  return env;
}

function startStack() {
  const dir = mkdtempSync(path.join(stackParent(), 'ims.'));
  for (let attempt = 0; attempt < 5; attempt++) {
    const offset = 34000 + ((process.pid + attempt) % 20) * 100;
    try {
      execFileSync('bash', [HARNESS, 'start', dir], {
        env: { ...process.env, MAILSTACK_PORT_OFFSET: String(offset), MAILSTACK_USERS: `${USER.address}:${USER.password}` },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      const env = parseEnv(readFileSync(path.join(dir, 'env'), 'utf8'));
      return { dir, env, conf: env.MAILSTACK_DOVECOT_CONF };
    } catch (err) {
      if (attempt === 4) throw err;
    }
  }
}

function stopStack(stack) {
  execFileSync('bash', [HARNESS, 'stop', stack.dir], { stdio: 'ignore' });
  if (!KEEP) rmSync(stack.dir, { recursive: true, force: true });
}

// ---------------------------------------------------------------- the mailbox

function reply(i, big) {
  const b = `=_bench_${i}`;
  const cal = [
    'BEGIN:VCALENDAR',
    'PRODID:-//Bench//EN',
    'VERSION:2.0',
    'METHOD:REPLY',
    'BEGIN:VEVENT',
    `ORGANIZER:mailto:calendar+${TOKEN}@example.test`,
    'ATTENDEE;PARTSTAT=ACCEPTED:mailto:attendee@remote.test',
    `UID:${EVENT_UID}`,
    'DTSTAMP:20260302T100000Z',
    'DTSTART:20260305T100000Z',
    'DTEND:20260305T110000Z',
    'END:VEVENT',
    'END:VCALENDAR',
    '',
  ].join('\n');
  const head = [
    `Message-ID: <bench-${i}@remote.test>`,
    'Date: Mon, 2 Mar 2026 10:00:00 +0000',
    'From: Attendee Person <attendee@remote.test>',
    `To: calendar+${TOKEN}@example.test`,
    `Subject: Accepted: bench ${i}`,
    'MIME-Version: 1.0',
    `Content-Type: multipart/mixed; boundary="${b}"`,
    '',
    `--${b}`,
    'Content-Type: text/plain; charset=utf-8',
    '',
    'Accepted.',
    `--${b}`,
    'Content-Type: text/calendar; method=REPLY; charset=UTF-8',
    '',
    cal,
  ];
  if (!big) return Buffer.from(`${head.join('\n')}--${b}--\n`);
  const line = `${'QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0MjQyNDI0MjQyNDI0MjQyNDI0MjQyNDI0MjQyNDI0'.slice(0, 76)}\n`;
  const body = line.repeat(Math.ceil((BIG_MB * 1024 * 1024) / line.length));
  return Buffer.from(
    `${head.join('\n')}--${b}\nContent-Type: application/pdf; name="slides.pdf"\nContent-Disposition: attachment; filename="slides.pdf"\nContent-Transfer-Encoding: base64\n\n${body}--${b}--\n`,
  );
}

/** Files straight into the Maildir, then one `doveadm force-resync` (as test/mailstack/stack.ts seedMailbox). */
function seed(stack) {
  const [local, domain] = USER.address.split('@');
  const maildir = path.join(stack.dir, 'mail', domain, local, 'Maildir');
  const sec = Math.floor(Date.now() / 1000);
  const every = BIG_RATIO > 0 ? Math.round(1 / BIG_RATIO) : 0;
  let total = 0;
  let bigCount = 0;
  const names = [];
  for (let i = 0; i < N; i++) {
    const big = every > 0 && i % every === every - 1;
    const raw = reply(i, big);
    if (big) bigCount++;
    total += raw.length;
    const name = `${sec}.M${String(i).padStart(6, '0')}P${process.pid}.bench`;
    const fd = openSync(path.join(maildir, 'tmp', name), 'wx', 0o600);
    writeSync(fd, raw);
    fchownSync(fd, 8, 8);
    closeSync(fd);
    names.push([name, raw.length]);
  }
  for (const [name, size] of names) renameSync(path.join(maildir, 'tmp', name), path.join(maildir, 'cur', `${name},S=${size}:2,`));
  execFileSync('doveadm', ['-c', stack.conf, 'force-resync', '-u', USER.address, 'INBOX']);
  return { total, bigCount };
}

function plist(stack, protocol) {
  const port = protocol === 'imap' ? stack.env.MAILSTACK_IMAPS_PORT : stack.env.MAILSTACK_POP3S_PORT;
  const file = path.join(stack.dir, `bench-${protocol}.plist`);
  writeFileSync(
    file,
    `<?xml version="1.0" encoding="UTF-8"?>
<plist version="1.0"><dict>
<key>ServerHostName</key><string>cal.example.test</string>
<key>Scheduling</key><dict><key>iMIP</key><dict>
<key>Enabled</key><true/>
<key>Sending</key><dict><key>Server</key><string>127.0.0.1</string><key>Port</key><integer>587</integer><key>Address</key><string>calendar@example.test</string></dict>
<key>Receiving</key><dict><key>Server</key><string>127.0.0.1</string><key>Port</key><integer>${port}</integer><key>UseSSL</key><true/><key>Type</key><string>${protocol === 'imap' ? 'imap' : 'pop'}</string><key>Username</key><string>${USER.address}</string><key>Password</key><string>${USER.password}</string></dict>
</dict></dict></dict></plist>
`,
  );
  return file;
}

function stateDir(stack) {
  const dir = path.join(stack.dir, 'state');
  execFileSync('mkdir', ['-p', dir]);
  writeFileSync(
    path.join(dir, 'sent-tokens.jsonl'),
    `${JSON.stringify({ token: TOKEN, organizer: 'mailto:organizer@example.test', attendee: 'mailto:attendee@remote.test', uid: EVENT_UID, sentAt: '2026-03-01T09:00:00Z' })}\n`,
  );
  return dir;
}

// ---------------------------------------------------------------- measured runs

function child(argv) {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const c = spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
    let out = '';
    let err = '';
    c.stdout.on('data', (d) => (out += d));
    c.stderr.on('data', (d) => (err += d));
    c.on('error', reject);
    c.on('close', (code) => resolve({ code, out, err, ms: Number(process.hrtime.bigint() - started) / 1e6 }));
  });
}

async function runCycle(stack, protocol, state) {
  const cli = path.join(ROOT, 'dist/cli.js');
  const script = `process.on('exit', () => process.stderr.write('\\nMAXRSS=' + process.resourceUsage().maxRSS + '\\n'));
import(${JSON.stringify(cli)}).then((m) => m.main([process.argv[0], 'imip', 'poll', '--once', '--json', '--server-version', '4.3', '--config', ${JSON.stringify(plist(stack, protocol))}, '--ca-file', ${JSON.stringify(stack.env.MAILSTACK_CA)}, '--state-dir', ${JSON.stringify(state)}, '--timeout', '120']));`;
  const r = await child(['--input-type=module', '-e', script]);
  if (r.code !== 0 && r.code !== 1) throw new Error(`poll exited ${r.code}: ${r.err.slice(0, 500)}`);
  const doc = JSON.parse(r.out);
  const maxRss = Number(/MAXRSS=(\d+)/.exec(r.err)?.[1] ?? NaN) * 1024;
  return { messages: doc.messages.length, bytes: doc.stats.bytesIn + doc.stats.bytesOut, ms: r.ms, cycleMs: doc.stats.ms, roundTrips: doc.stats.roundTrips, maxRss, actions: doc.summary.byServerAction };
}

async function runBulk(stack, protocol) {
  const port = Number(protocol === 'imap' ? stack.env.MAILSTACK_IMAPS_PORT : stack.env.MAILSTACK_POP3S_PORT);
  const r = await child([fileURLToPath(import.meta.url), '--child-bulk', JSON.stringify({ protocol, host: '127.0.0.1', port, ca: readFileSync(stack.env.MAILSTACK_CA, 'utf8') })]);
  if (r.code !== 0) throw new Error(`bulk download exited ${r.code}: ${r.err.slice(0, 500)}`);
  return { ...JSON.parse(r.out), ms: r.ms };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const mb = (b) => (b / 1024 / 1024).toFixed(1);

const stack = startStack();
const results = { messages: N, bigRatio: BIG_RATIO, bigMb: BIG_MB, node: process.version, rows: [] };
try {
  const t = Date.now();
  const seeded = seed(stack);
  results.mailboxBytes = seeded.total;
  results.bigMessages = seeded.bigCount;
  results.seedMs = Date.now() - t;
  if (!JSON_OUT) console.log(`seeded ${N} messages (${seeded.bigCount} with a ${BIG_MB} MB attachment, ${mb(seeded.total)} MB) in ${results.seedMs} ms; stack in ${stack.dir}`);
  const state = stateDir(stack);
  for (const protocol of PROTOCOLS) {
    for (const [what, fn] of [
      ['poll --once', () => runCycle(stack, protocol, state)],
      ['bulk download', () => runBulk(stack, protocol)],
    ]) {
      const runs = [];
      for (let i = 0; i < RUNS; i++) runs.push(await fn());
      const pick = runs.find((r) => r.ms === median(runs.map((x) => x.ms)));
      results.rows.push({ protocol, what, ...pick, msgsPerSec: Math.round((pick.messages / pick.ms) * 1000) });
    }
  }
} finally {
  stopStack(stack);
}

if (JSON_OUT) {
  console.log(JSON.stringify(results, null, 2));
} else {
  console.log(`\n${'protocol'.padEnd(9)} ${'run'.padEnd(14)} ${'messages'.padStart(8)} ${'wall ms'.padStart(9)} ${'msg/s'.padStart(8)} ${'MB moved'.padStart(9)} ${'peak RSS MB'.padStart(12)}`);
  for (const r of results.rows) {
    console.log(
      `${r.protocol.padEnd(9)} ${r.what.padEnd(14)} ${String(r.messages).padStart(8)} ${String(Math.round(r.ms)).padStart(9)} ${String(r.msgsPerSec).padStart(8)} ${mb(r.bytes).padStart(9)} ${mb(r.maxRss).padStart(12)}`,
    );
  }
  console.log('\nwall ms includes starting Node and the CLI; MB moved counts both directions on the mailbox connection (POP3 bulk: message octets).');
}
