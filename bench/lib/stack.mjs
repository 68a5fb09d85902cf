// The project's test mail stack (Postfix + Dovecot on 127.0.0.1, test/mailstack/mailstack.sh) for
// the benchmarks: start it in /dev/shm when writable, seed a mailbox straight into its Maildir,
// write a plist and a token store pointing at it, stop it.
import { execFileSync } from 'node:child_process';
import { accessSync, closeSync, constants, existsSync, fchownSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, renameSync, rmSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseEnv } from '../../test/mailstack/env.mjs';
import { message, tokenStoreLines } from './mailbox.mjs';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const HARNESS = path.join(ROOT, 'test/mailstack/mailstack.sh');
export const USER = { address: 'bench@example.test', password: 'Bench-pw-2024' };

function stackParent() {
  try {
    accessSync('/dev/shm', constants.W_OK);
    return '/dev/shm';
  } catch {
    return tmpdir();
  }
}

/** `portBase`: where its ports start (the benchmarks use bases of their own, to run side by side). */
export function startStack({ portBase = 34000, user = USER } = {}) {
  const dir = mkdtempSync(path.join(stackParent(), 'ims.'));
  for (let attempt = 0; attempt < 5; attempt++) {
    const offset = portBase + ((process.pid + attempt) % 20) * 100;
    try {
      execFileSync('bash', [HARNESS, 'start', dir], {
        env: { ...process.env, MAILSTACK_PORT_OFFSET: String(offset), MAILSTACK_USERS: `${user.address}:${user.password}` },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      const env = parseEnv(readFileSync(path.join(dir, 'env'), 'utf8'));
      // smtpHost: the relay by name, as admins configure it and as the test certificate names it.
      // By address, 9.x stops at the certificate's name (it checks Server as a DNS name), so
      // test-smtp would skip the second EHLO and AUTH that its anchor, swaks, goes through.
      return { dir, env, conf: env.MAILSTACK_DOVECOT_CONF, host: '127.0.0.1', smtpHost: 'localhost', ca: env.MAILSTACK_CA };
    } catch (err) {
      if (attempt === 4) throw err;
    }
  }
}

export function stopStack(stack, keep = false) {
  execFileSync('bash', [HARNESS, 'stop', stack.dir], { stdio: 'ignore' });
  if (!keep) rmSync(stack.dir, { recursive: true, force: true });
}

function maildir(stack, user = USER) {
  const [local, domain] = user.address.split('@');
  return path.join(stack.dir, 'mail', domain, local, 'Maildir');
}

/**
 * Replace the user's INBOX with `raws` (Buffers, in order): files straight into the Maildir, then
 * one `doveadm force-resync`, as test/mailstack/stack.ts seedMailbox does. Returns the bytes written.
 */
export function fillInbox(stack, raws, user = USER) {
  const dir = maildir(stack, user);
  for (const sub of ['cur', 'new', 'tmp']) for (const f of existsSync(path.join(dir, sub)) ? readdirSync(path.join(dir, sub)) : []) unlinkSync(path.join(dir, sub, f));
  for (const f of readdirSync(dir)) if (f.startsWith('dovecot')) rmSync(path.join(dir, f), { recursive: true, force: true });
  const sec = Math.floor(Date.now() / 1000);
  let total = 0;
  let i = 0;
  const names = [];
  for (const raw of raws) {
    total += raw.length;
    const name = `${sec}.M${String(i++).padStart(6, '0')}P${process.pid}.bench`;
    const fd = openSync(path.join(dir, 'tmp', name), 'wx', 0o600);
    writeSync(fd, raw);
    fchownSync(fd, 8, 8);
    closeSync(fd);
    names.push([name, raw.length]);
  }
  for (const [name, size] of names) renameSync(path.join(dir, 'tmp', name), path.join(dir, 'cur', `${name},S=${size}:2,`));
  execFileSync('doveadm', ['-c', stack.conf, 'force-resync', '-u', user.address, 'INBOX']);
  return total;
}

/** Replace the INBOX with `n` messages of bench/lib/mailbox.mjs; their bytes and kinds. */
export function seed(stack, n, opts = {}) {
  const kinds = {};
  function* raws() {
    for (let i = 0; i < n; i++) {
      const { kind, raw } = message(i, opts);
      kinds[kind] = (kinds[kind] ?? 0) + 1;
      yield raw;
    }
  }
  const total = fillInbox(stack, raws());
  return { total, kinds };
}

export function port(stack, which) {
  return Number(stack.env[`MAILSTACK_${which.toUpperCase()}_PORT`]);
}

/** A caldavd.plist whose Scheduling → iMIP points at the stack (receiving over TLS from the first byte). */
export function plist(stack, protocol) {
  const p = protocol === 'imap' ? port(stack, 'imaps') : port(stack, 'pop3s');
  const file = path.join(stack.dir, `bench-${protocol}.plist`);
  writeFileSync(
    file,
    `<?xml version="1.0" encoding="UTF-8"?>
<plist version="1.0"><dict>
<key>ServerHostName</key><string>cal.example.test</string>
<key>Scheduling</key><dict><key>iMIP</key><dict>
<key>Enabled</key><true/>
<key>Sending</key><dict><key>Server</key><string>${stack.smtpHost}</string><key>Port</key><integer>${port(stack, 'smtp')}</integer><key>UseSSL</key><true/><key>Address</key><string>calendar@example.test</string><key>Username</key><string>${USER.address}</string><key>Password</key><string>${USER.password}</string></dict>
<key>Receiving</key><dict><key>Server</key><string>127.0.0.1</string><key>Port</key><integer>${p}</integer><key>UseSSL</key><true/><key>Type</key><string>${protocol === 'imap' ? 'imap' : 'pop'}</string><key>Username</key><string>${USER.address}</string><key>Password</key><string>${USER.password}</string></dict>
</dict></dict></dict></plist>
`,
  );
  return file;
}

/** A state directory whose token store knows the fixtures' tokens. */
export function stateDir(stack) {
  const dir = path.join(stack.dir, 'state');
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'sent-tokens.jsonl'), tokenStoreLines());
  return dir;
}
