// The build's last step (scripts/build.mjs): V8 code caches for dist/ (see src/code-cache.ts).
//
//   node scripts/code-cache.mjs           make them: runs the training below in a child process
//   node scripts/code-cache.mjs --train   (the child) record, run, write at exit
//
// The training runs what needs no network, in one process: `check-config` on the bundled example
// (human, --json, --verbose), `--help` and `--version`, and `diagnose --offline` on saved replies
// (the bundled one, and the client replies of the test fixtures in a clone; a 3.x-5.x and a 6.0+
// release), and `send-test --dry-run` (the invitation, printed). Then it loads every other file
// of dist/ (their top level only), so each cache holds the functions those runs compiled. Their
// output goes nowhere; the state directory is a temporary one. A failure here leaves dist/
// without caches, which only makes start-up slower: the build goes on.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync } from 'node:fs';
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

/** What the training runs. */
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

if (process.argv[2] === '--train') {
  const require = createRequire(import.meta.url);
  const recorded = require(path.join(DIST, 'code-cache.js')).recordCodeCache(DIST);
  const { main } = require(path.join(DIST, 'cli.js'));
  for (const argv of runs()) await main(['node', 'imip', ...argv]);
  for (const f of files(DIST)) {
    if (f !== path.join(DIST, 'code-cache.js')) require(f);
  }
  process.exitCode = 0;
  process.stderr.write(`code cache: ${recorded()} files\n`);
} else {
  rmSync(CACHE_DIR, { recursive: true, force: true });
  const state = path.join(DIST, '.training-state');
  const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--train'], {
    cwd: ROOT,
    env: { ...process.env, NO_COLOR: '1', IMIP_CONFIG: EXAMPLE, XDG_STATE_HOME: state },
    stdio: ['ignore', 'ignore', 'pipe'],
    encoding: 'utf8',
    timeout: 60_000,
  });
  rmSync(state, { recursive: true, force: true });
  if (r.status !== 0) {
    rmSync(CACHE_DIR, { recursive: true, force: true });
    process.stderr.write(`build: no code cache (the training run ${r.error ? r.error.message : `exited ${r.status}`}): start-up will be slower\n${r.stderr ?? ''}`);
  }
}
