// The build's last step (scripts/build.mjs): V8 code caches for dist/ (see src/code-cache.ts).
//
//   node scripts/code-cache.mjs           make them: runs the training below in a child process
//   node scripts/code-cache.mjs --train   (the child) record, run, write at exit
//
// The training runs what needs no network, in one process: `check-config` on the bundled example
// (human, --json, --verbose), `--help` and `--version`, and `diagnose --offline` on saved replies
// (the bundled one, and the client replies of the test fixtures in a clone; a 3.x-5.x and a 6.0+
// release), and `send-test --dry-run` (the invitation, printed). Then `test-smtp` and
// `test-mailbox` over IMAP and POP3, against servers of the training's own on 127.0.0.1
// (scripts/training-servers.mjs), so that what those commands run once connected is compiled too,
// imapflow's files among it (src/code-cache.ts): in clear text, and with TLS (STARTTLS for SMTP)
// when openssl can make a throwaway certificate for them (deleted with the state directory). Then
// it loads every other file of dist/ (their top level only), so each cache holds the functions
// those runs compiled. Their output goes nowhere; the state directory is a temporary one. Where
// no port can be opened on 127.0.0.1 the connected runs are left out. A failure here leaves dist/
// without caches, which only makes start-up slower: the build goes on.
//
// Those are the shared caches, which every command can take. Then each command the training runs
// is trained again alone, in a process of its own, into caches of its own
// (dist/code-cache/by-command/<command>/), which a run of that command takes first: a cache holds
// everything its file compiled in the training, and V8 takes all of it back at every load. The
// files that training loaded then go into one file, dist/packs/<command>.js, and the command is
// trained once more with it: one file and one cache to read instead of 17 for `check-config`.
//   node scripts/code-cache.mjs --train check-config   (the child) that command's runs only
//
// `poll` is not trained: it sets V8 flags once the mailbox is open (src/poll/v8-flags.ts), and every
// cache written after that would carry them, so that V8 refused each one at the next start.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const DIST = path.join(ROOT, 'dist');
const CACHE_DIR = path.join(DIST, 'code-cache');
const EXAMPLE = path.join(ROOT, 'examples', 'caldavd.plist');

/** Every .js file under dir, but the caches' own folder. */
function files(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return p === CACHE_DIR ? [] : files(p);
    return e.name.endsWith('.js') ? [p] : [];
  });
}

/** Saved replies to classify (diagnose --offline): the bundled example, and the test fixtures in a clone. */
function messages() {
  const fixtures = path.join(ROOT, 'test', 'fixtures', 'messages');
  const names = ['apple-mail-reply', 'iphone-reply', 'gmail-reply', 'outlook-reply', 'outlook-reply-no-organizer', 'thunderbird-reply', 'dsn-with-invitation', 'dsn-without-original', 'human-reply'];
  const found = names.map((n) => path.join(fixtures, `${n}.eml`)).filter((f) => existsSync(f));
  return [...found, ...readdirSync(path.join(ROOT, 'examples')).filter((f) => f.endsWith('.eml')).map((f) => path.join(ROOT, 'examples', f))];
}

/**
 * The connected runs, against the training servers: the bundled example with its Server, Port and
 * UseSSL pointed at them; with TLS (`ca`: the servers' certificate) by the name the certificate
 * has, as an admin's configuration would be.
 */
function connectedRuns(ports, ca) {
  const common = ['--config', EXAMPLE, '--server-version', '9.2', '--timeout', '5'];
  const at = (key, host, port, ssl) => ['--set', `${key}.Server=${host}`, '--set', `${key}.Port=${port}`, '--set', `${key}.UseSSL=${ssl}`];
  const runs = [
    ['test-smtp', ...common, ...at('Sending', '127.0.0.1', ports.smtp, false)],
    ['test-mailbox', ...common, ...at('Receiving', '127.0.0.1', ports.imap, false), '--set', 'Receiving.Type=imap'],
    ['test-mailbox', ...common, ...at('Receiving', '127.0.0.1', ports.imap, false), '--set', 'Receiving.Type=imap', '--json'],
    ['test-mailbox', ...common, ...at('Receiving', '127.0.0.1', ports.pop3, false), '--set', 'Receiving.Type=pop'],
  ];
  if (!ca) return runs;
  // As an admin runs them: the release inferred, the CA given.
  const secure = ['--config', EXAMPLE, '--timeout', '5', '--ca-file', ca];
  return [
    ['test-smtp', ...secure, ...at('Sending', 'localhost', ports.submission, true)],
    ['test-mailbox', ...secure, ...at('Receiving', 'localhost', ports.imaps, true), '--set', 'Receiving.Type=imap'],
    ['test-mailbox', ...secure, ...at('Receiving', 'localhost', ports.pop3s, true), '--set', 'Receiving.Type=pop'],
    ...runs,
  ];
}

/** A throwaway key and self-signed certificate for localhost in `dir`, or null without openssl. */
function throwawayCertificate(dir) {
  const key = path.join(dir, 'training-key.pem');
  const cert = path.join(dir, 'training-cert.pem');
  try {
    mkdirSync(dir, { recursive: true });
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost'], { stdio: 'ignore', timeout: 10_000 });
    return { key: readFileSync(key), cert: readFileSync(cert), certFile: cert };
  } catch {
    return null;
  }
}

/** What the training runs (each command's own training takes its part of it, {@link ownRuns}). */
function runs() {
  const diagnose = (version) => ['diagnose', '--offline', '--server-version', version, '--config', EXAMPLE, '--message', ...messages()];
  return [
    ['check-config', EXAMPLE],
    ['check-config', '--json', EXAMPLE],
    ['check-config', '--verbose', EXAMPLE],
    ['check-config', '--list-checks'],
    ['--help'],
    ['check-config', '--help'],
    ['--version'],
    diagnose('4.3'),
    diagnose('9.2'),
    ['send-test', '--config', EXAMPLE, '--to', 'attendee@example.org', '--dry-run'],
  ];
}

/**
 * The commands trained alone as well, each in a process of its own, into caches of their own
 * (dist/code-cache/by-command/<command>/, src/code-cache.ts `COMMAND_DIR`): a run of one of them
 * then takes back only the code that command ran, not what every other command compiled in the
 * files they share.
 */
const OWN = ['check-config', 'diagnose', 'send-test', 'test-smtp', 'test-mailbox'];

/**
 * The runs of `command` in its own training: its runs above, without the help and the listing
 * (`check-config --help`, `--list-checks`), which run code of their own that its reports never do
 * and which take the shared caches for what they need.
 */
function ownRuns(list, command) {
  return list.filter((argv) => argv[0] === command && !argv.includes('--help') && !argv.includes('--list-checks'));
}

if (process.argv[2] === '--train') {
  // `--train`: every run, the shared caches; `--train <command>`: that command's runs, its own.
  const command = process.argv[3];
  const require = createRequire(import.meta.url);
  const recorded = require(path.join(DIST, 'code-cache.js')).recordCodeCache(DIST, command);
  const { main } = require(path.join(DIST, 'cli.js'));
  for (const argv of command ? ownRuns(runs(), command) : runs()) await main(['node', 'imip', ...argv]);
  // In the training's state directory (XDG_STATE_HOME), which the parent deletes.
  const state = process.env.XDG_STATE_HOME;
  // (Only the runs' command names are read here: no ports yet.)
  const wantsServers = !command || connectedRuns({}, null).some((argv) => argv[0] === command);
  const secure = state && wantsServers ? throwawayCertificate(path.join(state, 'tls')) : null;
  let servers = null;
  let connected = 'no connected runs (no port on 127.0.0.1)';
  try {
    if (wantsServers) servers = await (await import('./training-servers.mjs')).startTrainingServers(secure);
  } catch {
    // The connection tests compile from source at their first run, as before.
  }
  if (servers) {
    try {
      const all = connectedRuns(servers.ports, secure?.certFile);
      const list = command ? ownRuns(all, command) : all;
      for (const argv of list) await main(['node', 'imip', ...argv]);
      connected = `${list.length} connected runs, ${secure ? 'in clear text and with TLS' : 'in clear text only (no openssl for a certificate)'}`;
    } finally {
      servers.close();
    }
  }
  if (!command) {
    // Not the packs: a run takes a pack only with its command's own caches.
    for (const f of files(DIST)) {
      if (f !== path.join(DIST, 'code-cache.js') && !f.startsWith(path.join(DIST, 'packs') + path.sep)) require(f);
    }
  }
  process.exitCode = 0;
  process.stderr.write(`code cache: ${recorded()} files; ${connected}\n`);
} else {
  rmSync(CACHE_DIR, { recursive: true, force: true });
  const state = path.join(DIST, '.training-state');
  /** One training process (`--train`, or `--train <command>`). */
  const train = (...args) => {
    const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--train', ...args], {
      cwd: ROOT,
      env: { ...process.env, NO_COLOR: '1', IMIP_CONFIG: EXAMPLE, XDG_STATE_HOME: state },
      stdio: ['ignore', 'ignore', 'pipe'],
      encoding: 'utf8',
      timeout: 60_000,
    });
    rmSync(state, { recursive: true, force: true });
    return r;
  };
  const r = train();
  if (r.status === 0) {
    // One line: how many files, and whether the connection tests were trained.
    process.stderr.write(/^code cache: .*\n/m.exec(r.stderr)?.[0] ?? '');
    const failed = [];
    const { writePack } = createRequire(import.meta.url)(path.join(DIST, 'code-cache.js'));
    rmSync(path.join(DIST, 'packs'), { recursive: true, force: true });
    for (const command of OWN) {
      const ownDir = path.join(CACHE_DIR, 'by-command', command);
      // Trained once to learn which files it loads; those go into its pack (src/code-cache.ts
      // `writePack`); trained again with the pack, whose cache then holds what the runs compiled.
      let own = train(command);
      if (own.status === 0) {
        try {
          writePack(DIST, command);
        } catch (err) {
          own = { status: 1, error: err };
        }
        rmSync(ownDir, { recursive: true, force: true });
        if (own.status === 0) own = train(command);
      }
      if (own.status !== 0) {
        // That command takes the shared caches and loads its files one by one, as before.
        rmSync(ownDir, { recursive: true, force: true });
        rmSync(path.join(DIST, 'packs', `${command}.js`), { force: true });
        failed.push(`${command} (${own.error ? own.error.message : `exited ${own.status}`})`);
      }
    }
    process.stderr.write(
      failed.length
        ? `code cache: no caches of their own for ${failed.join(', ')}: they take the shared ones\n`
        : `code cache: ${OWN.join(', ')} also trained alone, each with caches and a pack of its own\n`,
    );
  } else {
    rmSync(CACHE_DIR, { recursive: true, force: true });
    process.stderr.write(`build: no code cache (the training run ${r.error ? r.error.message : `exited ${r.status}`}): start-up will be slower\n${r.stderr ?? ''}`);
  }
}
