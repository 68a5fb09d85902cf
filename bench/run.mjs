#!/usr/bin/env node
// Every row of the performance table, each against its anchor in the same run, on the project's
// real test stack (Postfix + Dovecot on 127.0.0.1, test/mailstack/mailstack.sh). Prints each
// ratio. Medians of --runs runs (default 3); the machine may be shared and noisy, so the ratios
// (both sides measured back to back) matter more than the absolute times.
//
//   npm run build && node bench/run.mjs                    # everything (about 15 minutes)
//   node bench/run.mjs --only poll,rss                     # some sections
//   node bench/run.mjs --baseline ../imip-before           # "today" rows: another built checkout
//
// Sections: poll (IMAP and POP3 `poll --once` on the realistic 5,000-message mailbox against a bulk
// download), rss (peak RSS of `poll --once` at 1k/5k/10k/30k small replies), rate (messages per
// second on 5,000 small replies; with --baseline also the other checkout's, same mailbox, same
// run), probes (test-smtp against `swaks --quit-after AUTH`, test-mailbox against Python's poplib
// and imaplib), log (`diagnose --log` on a generated 1 GB log, plain and gzip, against grep -c and
// zcat | grep -c), startup (`check-config` on the example against `node -e 0`).
// Needs root, the mail stack's Debian packages, swaks (installed with apt-get if missing, and said
// so), python3, gzip and grep.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchArgs, namesIn } from './lib/args.mjs';
import { writeLog } from './lib/log.mjs';
import { plist, port, seed, startStack, stateDir, stopStack, USER } from './lib/stack.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SECTIONS = ['poll', 'rss', 'rate', 'probes', 'log', 'startup'];
const opts = benchArgs(
  import.meta.url,
  { runs: { count: 1 }, only: 'string', baseline: 'string', 'rss-baseline': 'boolean', 'log-mb': { count: 1 }, messages: { count: 1 }, json: 'boolean', keep: 'boolean' },
  namesIn('only', SECTIONS, 'section'),
);
const RUNS = opts.runs ?? 3;
const ONLY = new Set((opts.only ?? SECTIONS.join(',')).split(','));
const BASELINE = opts.baseline ?? null;
/** The RSS rows against the baseline too (doubles the longest section). */
const RSS_BASELINE = Boolean(opts['rss-baseline']);
const LOG_BYTES = (opts['log-mb'] ?? 1024) * 1024 * 1024;
const MESSAGES = opts.messages ?? 5000;
const JSON_OUT = Boolean(opts.json);
const KEEP = Boolean(opts.keep);

if (!existsSync(path.join(ROOT, 'dist/cli.js'))) {
  console.error('bench/run.mjs: build first (npm run build)');
  process.exit(2);
}

const results = { node: process.version, runs: RUNS, rows: [], nodeExtraCaCerts: process.env.NODE_EXTRA_CA_CERTS || null };
/** Progress and the table: stdout, or stderr with --json (stdout then carries only the JSON). */
const say = (...a) => {
  if (JSON_OUT) console.error(...a);
  else console.log(...a);
};

// Node 20 reads NODE_EXTRA_CA_CERTS, and with it its own root store, when it starts: every node
// process measured here (imip and `node -e 0` alike) pays for it, the Perl and Python anchors do
// not. The rows are measured with the environment as it is; say so, since it moves the ratios.
if (process.env.NODE_EXTRA_CA_CERTS) {
  say(
    `NODE_EXTRA_CA_CERTS is set (${process.env.NODE_EXTRA_CA_CERTS}): Node reads it and its own root certificates at ` +
      'start-up, in every node process measured here; the swaks and Python anchors do not. Unset it to measure a default install.',
  );
}

// ---------------------------------------------------------------- measuring

/**
 * Run a command under /usr/bin/time: wall time (our clock), user+sys CPU and peak RSS (the
 * kernel's, of the process and its waited-for children).
 */
function measure(cmd, argv, { env = {}, shell = false, okCodes = [0, 1] } = {}) {
  const t0 = process.hrtime.bigint();
  const r = shell
    ? spawnSync('/usr/bin/time', ['-f', '\n@@%U %S %M', 'bash', '-c', cmd], { env: { ...process.env, NO_COLOR: '1', ...env }, encoding: 'utf8', maxBuffer: 1 << 30 })
    : spawnSync('/usr/bin/time', ['-f', '\n@@%U %S %M', cmd, ...argv], { env: { ...process.env, NO_COLOR: '1', ...env }, encoding: 'utf8', maxBuffer: 1 << 30 });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  const m = /@@([\d.]+) ([\d.]+) (\d+)\s*$/.exec(r.stderr ?? '');
  if (!okCodes.includes(r.status)) throw new Error(`${shell ? cmd : [cmd, ...argv].join(' ')} exited ${r.status}: ${(r.stderr ?? '').slice(0, 600)}`);
  return { ms, cpuMs: m ? (Number(m[1]) + Number(m[2])) * 1000 : NaN, rssMb: m ? Number(m[3]) / 1024 : NaN, stdout: r.stdout };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** Run `fn` RUNS times, alternating with `anchor` so both see the same machine; medians. */
function sideBySide(fn, anchor, runs = RUNS) {
  const a = [];
  const b = [];
  for (let i = 0; i < runs; i++) {
    a.push(fn());
    if (anchor) b.push(anchor());
  }
  const med = (xs) => (xs.length ? { ms: median(xs.map((x) => x.ms)), cpuMs: median(xs.map((x) => x.cpuMs)), rssMb: median(xs.map((x) => x.rssMb)), runs: xs.map((x) => Math.round(x.ms)) } : null);
  return { ours: med(a), anchor: med(b) };
}

function row(what, r, extra = {}) {
  const ratio = r.anchor ? r.ours.ms / r.anchor.ms : null;
  const out = { what, ms: Math.round(r.ours.ms), cpuMs: Math.round(r.ours.cpuMs), rssMb: Math.round(r.ours.rssMb), runs: r.ours.runs, ...extra };
  if (r.anchor) Object.assign(out, { anchorMs: Math.round(r.anchor.ms), anchorCpuMs: Math.round(r.anchor.cpuMs), anchorRuns: r.anchor.runs, ratio: +ratio.toFixed(2) });
  results.rows.push(out);
  say(
    `${what.padEnd(44)} ${String(out.ms).padStart(7)} ms  cpu ${String(out.cpuMs).padStart(6)} ms  rss ${String(out.rssMb).padStart(4)} MB` +
      (r.anchor ? `  | ${(extra.anchor ?? 'anchor').padEnd(34)} ${String(out.anchorMs).padStart(7)} ms  ratio ${out.ratio.toFixed(2)}×` : ''),
  );
  return out;
}

const node = process.execPath;
/**
 * The program as admins start it: bin/imip run itself (its shell lines start Node with a pool of V8
 * threads sized to the machine), not `node bin/imip`. Every command is run so, a baseline's too.
 */
const imip = (checkout = ROOT) => path.join(checkout, 'bin/imip');
/** `imip <args>` under measure(). */
const run = (args, opts, checkout = ROOT) => measure(imip(checkout), args, opts);

// ---------------------------------------------------------------- the stack

const needStack = ['poll', 'rss', 'rate', 'probes'].some((s) => ONLY.has(s));
const stack = needStack ? startStack() : null;
try {
  if (stack) {
    const st = stateDir(stack);
    const imapPlist = plist(stack, 'imap');
    const pop3Plist = plist(stack, 'pop3');
    const poll = (config, checkout = ROOT) => () =>
      run(['poll', '--once', '--json', '--server-version', '4.3', '--config', config, '--ca-file', stack.ca, '--state-dir', st, '--timeout', '120'], {}, checkout);
    const bulk = (protocol) => () => measure(node, [fileURLToPath(new URL('./lib/bulk.mjs', import.meta.url)), JSON.stringify({ protocol, host: stack.host, port: port(stack, protocol === 'imap' ? 'imaps' : 'pop3s'), ca: stack.ca, user: USER })], { okCodes: [0] });

    if (ONLY.has('poll') || ONLY.has('probes')) {
      const s = seed(stack, MESSAGES, { bigRatio: 0.05, mix: 'realistic' });
      say(`\nRealistic mailbox: ${MESSAGES} messages (${JSON.stringify(s.kinds)}), ${(s.total / 1048576).toFixed(0)} MB`);
      results.mailbox = { messages: MESSAGES, kinds: s.kinds, bytes: s.total };
    }
    if (ONLY.has('poll')) {
      say('\n== poll --once on the realistic mailbox, against a bulk download of it');
      row('IMAP poll --once', sideBySide(poll(imapPlist), bulk('imap')), { anchor: 'IMAP bulk download (UID FETCH 1:* BODY.PEEK[])' });
      row('POP3 poll --once', sideBySide(poll(pop3Plist), bulk('pop3')), { anchor: 'POP3 bulk download (RETR all, pipelined)' });
      if (BASELINE) row('IMAP poll --once, baseline checkout', sideBySide(poll(imapPlist, BASELINE), bulk('imap')), { anchor: 'IMAP bulk download (UID FETCH 1:* BODY.PEEK[])' });
    }
    if (ONLY.has('probes')) {
      say('\n== connection tests (these rows measure the probes), against swaks and Python');
      // swaks and the Perl TLS modules it needs for STARTTLS (Debian: libnet-ssleay-perl).
      const swaksTls = () => spawnSync('swaks', ['--version']).status === 0 && spawnSync('perl', ['-MNet::SSLeay', '-MIO::Socket::SSL', '-e', '1']).status === 0;
      let swaks = swaksTls();
      if (!swaks) {
        say('swaks (or its TLS support) is not installed: installing swaks libnet-ssleay-perl libio-socket-ssl-perl with apt-get (the SMTP anchor)');
        spawnSync('apt-get', ['install', '-y', '-qq', 'swaks', 'libnet-ssleay-perl', 'libio-socket-ssl-perl'], { stdio: 'ignore' });
        swaks = swaksTls();
      }
      const smtpPort = port(stack, 'smtp');
      if (swaks) {
        row(
          'test-smtp',
          sideBySide(
            // okCodes [0]: every stage must pass, so both sides go through STARTTLS, EHLO and AUTH.
            () => run(['test-smtp', '--config', imapPlist, '--ca-file', stack.ca], { okCodes: [0] }),
            () => measure('swaks', ['--server', `${stack.smtpHost}:${smtpPort}`, '--tls', '--tls-verify', '--tls-ca-path', stack.ca, '--quit-after', 'AUTH', '--auth', 'PLAIN', '--auth-user', USER.address, '--auth-password', USER.password, '--from', USER.address, '--to', USER.address], { okCodes: [0] }),
          ),
          { anchor: 'swaks --quit-after AUTH' },
        );
      } else say('swaks could not be installed: the test-smtp row is left out');
      const py = (code) => () => measure('python3', ['-c', code], { okCodes: [0] });
      const pop3s = port(stack, 'pop3s');
      const imaps = port(stack, 'imaps');
      const ctx = `ssl.create_default_context(cafile=${JSON.stringify(stack.ca)})`;
      row(
        'test-mailbox POP3',
        sideBySide(
          () => run(['test-mailbox', '--config', pop3Plist, '--ca-file', stack.ca]),
          py(`import poplib, ssl\np = poplib.POP3_SSL(${JSON.stringify(stack.host)}, ${pop3s}, context=${ctx})\np.user(${JSON.stringify(USER.address)}); p.pass_(${JSON.stringify(USER.password)}); p.stat(); p.quit()`),
        ),
        { anchor: 'Python poplib: TLS, login, STAT' },
      );
      row(
        'test-mailbox IMAP',
        sideBySide(
          () => run(['test-mailbox', '--config', imapPlist, '--ca-file', stack.ca]),
          py(`import imaplib, ssl\nm = imaplib.IMAP4_SSL(${JSON.stringify(stack.host)}, ${imaps}, ssl_context=${ctx})\nm.login(${JSON.stringify(USER.address)}, ${JSON.stringify(USER.password)}); m.select('INBOX', readonly=True); m.logout()`),
        ),
        { anchor: 'Python imaplib: TLS, login, EXAMINE' },
      );
    }
    if (ONLY.has('rate')) {
      say(`\n== messages per second, ${MESSAGES} small replies${BASELINE ? `, against ${BASELINE} on the same mailbox` : ''}`);
      seed(stack, MESSAGES, { bigRatio: 0, mix: 'replies' });
      const r = sideBySide(poll(imapPlist), BASELINE ? poll(imapPlist, BASELINE) : null);
      const perSec = Math.round(MESSAGES / (r.ours.ms / 1000));
      const out = row('IMAP poll --once, small replies', r, { anchor: 'the same poll, baseline checkout', msgsPerSec: perSec, ...(r.anchor ? { anchorMsgsPerSec: Math.round(MESSAGES / (r.anchor.ms / 1000)) } : {}) });
      say(`  ${perSec} messages/s${r.anchor ? ` against ${out.anchorMsgsPerSec} (${(out.anchorMs / out.ms).toFixed(2)}× faster)` : ''}`);
    }
    if (ONLY.has('rss')) {
      say('\n== peak RSS of poll --once by mailbox size (small replies)');
      const sizes = [1000, 5000, 10000, 30000];
      const peaks = {};
      for (const n of sizes) {
        seed(stack, n, { bigRatio: 0, mix: 'replies' });
        const r = sideBySide(poll(imapPlist), BASELINE && RSS_BASELINE ? poll(imapPlist, BASELINE) : null);
        peaks[n] = row(`IMAP poll --once, ${n} small replies`, r, { anchor: 'baseline checkout', messages: n, anchorRssMb: r.anchor ? Math.round(r.anchor.rssMb) : undefined });
        if (r.anchor) say(`  peak RSS ${Math.round(r.ours.rssMb)} MB against ${Math.round(r.anchor.rssMb)} MB`);
      }
      const growth = peaks[30000].rssMb / peaks[1000].rssMb;
      results.rssGrowth = +growth.toFixed(2);
      say(`  30k / 1k peak RSS: ${growth.toFixed(2)}×`);
    }
  }
} finally {
  if (stack) stopStack(stack, KEEP);
}

// ---------------------------------------------------------------- the log

if (ONLY.has('log')) {
  const dir = existsSync('/dev/shm') ? '/dev/shm' : '/tmp';
  const file = path.join(dir, `imip-bench-${process.pid}.log`);
  try {
    say(`\n== diagnose --log on a generated ${(LOG_BYTES / 1048576).toFixed(0)} MB log`);
    const g = await writeLog(file, LOG_BYTES);
    execFileSync('bash', ['-c', `gzip -6 -c ${file} > ${file}.gz`]);
    say(`  ${g.lines} lines, ${g.imipLines} of them iMIP lines; gzip ${(statSync(`${file}.gz`).size / 1048576).toFixed(0)} MB`);
    const needles = path.join(dir, `imip-bench-${process.pid}.needles`);
    const { LOG_PATTERNS } = await import(path.join(ROOT, 'dist/diagnose/log-patterns.js'));
    writeFileSync(needles, `${[...new Set(LOG_PATTERNS.flatMap((p) => p.needles))].join('\n')}\n`);
    // A config whose mailbox is not usable: diagnose reads only the log.
    const cfg = path.join(dir, `imip-bench-${process.pid}.plist`);
    writeFileSync(
      cfg,
      '<?xml version="1.0" encoding="UTF-8"?>\n<plist version="1.0"><dict><key>Scheduling</key><dict><key>iMIP</key><dict><key>Enabled</key><true/><key>Receiving</key><dict><key>Server</key><string></string></dict></dict></dict></dict></plist>\n',
    );
    const diag = (f) => () => run(['diagnose', '--json', '--config', cfg, '--log', f]);
    const grepAll = (f) => () => measure(`grep -c -F -f ${needles} ${f}`, [], { shell: true, okCodes: [0, 1] });
    const grepOne = (f) => () => measure(`grep -c 'Mail gateway' ${f}`, [], { shell: true, okCodes: [0, 1] });
    row('diagnose --log, plain', sideBySide(diag(file), grepAll(file)), { anchor: 'grep -c -F -f <every server text>' });
    row('  (same, against one text)', sideBySide(diag(file), grepOne(file)), { anchor: "grep -c 'Mail gateway'" });
    row('diagnose --log, gzip', sideBySide(diag(`${file}.gz`), () => measure(`zcat ${file}.gz | grep -c -F -f ${needles}`, [], { shell: true, okCodes: [0, 1] })), { anchor: 'zcat | grep -c -F -f <every server text>' });
    rmSync(needles, { force: true });
    rmSync(cfg, { force: true });
  } finally {
    rmSync(file, { force: true });
    rmSync(`${file}.gz`, { force: true });
  }
}

// ---------------------------------------------------------------- start-up

if (ONLY.has('startup')) {
  say('\n== start-up: check-config on the example, against node -e 0 (10 runs)');
  const r = sideBySide(
    () => run(['check-config', '--config', path.join(ROOT, 'examples/caldavd.plist')]),
    () => measure(node, ['-e', '0'], { okCodes: [0] }),
    Math.max(10, RUNS),
  );
  const out = row('check-config examples/caldavd.plist', r, { anchor: 'node -e 0' });
  out.cpuRatio = +(r.ours.cpuMs / r.anchor.cpuMs).toFixed(2);
  say(`  CPU ${out.cpuRatio.toFixed(2)}× node -e 0`);
}

if (JSON_OUT) console.log(JSON.stringify(results, null, 2));
