#!/usr/bin/env node
// `npm run mailstack`: start a real mail stack (Postfix + Dovecot on 127.0.0.1)
// for trying imip by hand, print how to use it and a ready caldavd.plist, and
// stop it on Ctrl-C (SIGINT) or SIGTERM.
//
// Environment: MAILSTACK_PORT_OFFSET (default 0), MAILSTACK_PLUS (default 1),
// MAILSTACK_USERS ("user@dom:pw ..."), MAILSTACK_TMPDIR (parent of the state
// dir, default /tmp), MAILSTACK_KEEP=1 keeps the state dir after the stop.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseEnv } from './env.mjs';

const SH = path.join(path.dirname(fileURLToPath(import.meta.url)), 'mailstack.sh');

function harness(args) {
  return new Promise((resolve) => {
    const child = spawn('bash', [SH, ...args], { stdio: ['ignore', 'inherit', 'inherit'] });
    child.on('close', (code) => resolve(code ?? 1));
    child.on('error', () => resolve(1));
  });
}

function xml(s) {
  return String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function plist({ host, smtpPort, imapsPort, user }) {
  return `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
  <key>Scheduling</key>
  <dict>
    <key>iMIP</key>
    <dict>
      <key>Enabled</key>
      <true/>
      <key>Sending</key>
      <dict>
        <key>Server</key>
        <string>${xml(host)}</string>
        <key>Port</key>
        <integer>${smtpPort}</integer>
        <key>UseSSL</key>
        <true/>
        <key>Address</key>
        <string>${xml(user.address)}</string>
        <key>Username</key>
        <string>${xml(user.address)}</string>
        <key>Password</key>
        <string>${xml(user.password)}</string>
      </dict>
      <key>Receiving</key>
      <dict>
        <key>Server</key>
        <string>${xml(host)}</string>
        <key>Port</key>
        <integer>${imapsPort}</integer>
        <key>UseSSL</key>
        <true/>
        <key>Type</key>
        <string>imap</string>
        <key>Username</key>
        <string>${xml(user.address)}</string>
        <key>Password</key>
        <string>${xml(user.password)}</string>
        <key>PollingSeconds</key>
        <integer>30</integer>
      </dict>
      <key>AddressPatterns</key>
      <array>
        <string>mailto:.*</string>
      </array>
    </dict>
  </dict>
</dict>
</plist>
`;
}

async function main() {
  // A closed stdout (e.g. `| head`) must not crash us before the stack is stopped.
  process.stdout.on('error', () => {});
  const check = spawnSync('bash', [SH, 'check'], { encoding: 'utf8' });
  if (check.status !== 0) {
    process.stderr.write(check.stdout || check.stderr);
    process.exit(1);
  }
  const dir = mkdtempSync(path.join(process.env.MAILSTACK_TMPDIR || '/tmp', 'ims.'));
  const t0 = Date.now();
  if ((await harness(['start', dir])) !== 0) {
    console.error(`mailstack: start failed; state left in ${dir}`);
    process.exit(1);
  }
  const env = parseEnv(readFileSync(path.join(dir, 'env'), 'utf8'));
  const users = env.MAILSTACK_USERS.split(/\s+/)
    .filter(Boolean)
    .map((e) => ({ address: e.slice(0, e.indexOf(':')), password: e.slice(e.indexOf(':') + 1) }));
  const calendar = users.find((u) => u.address === 'calendar@example.test') ?? users[0];
  const host = env.MAILSTACK_HOST;
  const ca = env.MAILSTACK_CA;
  const plistPath = path.join(dir, 'caldavd.plist');
  const plistText = plist({ host, smtpPort: env.MAILSTACK_SMTP_PORT, imapsPort: env.MAILSTACK_IMAPS_PORT, user: calendar });
  writeFileSync(plistPath, plistText, { mode: 0o600 });
  chmodSync(plistPath, 0o600);

  const w = (s = '') => process.stdout.write(s + '\n');
  w(`Mail stack running (started in ${Date.now() - t0} ms). State: ${dir}`);
  w();
  w(`  SMTP submission  ${host}:${env.MAILSTACK_SMTP_PORT}   STARTTLS, AUTH only after TLS`);
  w(`  SMTPS            ${host}:${env.MAILSTACK_SMTPS_PORT}   implicit TLS + AUTH`);
  w(`  MX (inbound)     ${host}:${env.MAILSTACK_MX_PORT}   no AUTH, local domains only (inject "external" mail)`);
  w(`  IMAP             ${host}:${env.MAILSTACK_IMAP_PORT}   STARTTLS`);
  w(`  IMAPS            ${host}:${env.MAILSTACK_IMAPS_PORT}`);
  w(`  POP3             ${host}:${env.MAILSTACK_POP3_PORT}   STLS`);
  w(`  POP3S            ${host}:${env.MAILSTACK_POP3S_PORT}`);
  w(`  plus-addressing  ${env.MAILSTACK_PLUS === '1' ? 'on (user+token@domain)' : 'off'}`);
  w();
  w('  How Calendar Server\'s own mail clients meet servers (variants):');
  w(`  SMTP TLS 1.0     ${host}:${env.MAILSTACK_SMTP_TLS10_PORT}   submission that also accepts TLS 1.0 (the others refuse it)`);
  w(`  SMTP CRAM-MD5    ${host}:${env.MAILSTACK_SMTP_CRAM_PORT}   lists CRAM-MD5; ${env.MAILSTACK_HASHED_USER.split(':')[0]} has a hashed password`);
  w(`  SMTP other name  ${host}:${env.MAILSTACK_SMTP_OTHER_PORT}   certificate for other.example.test (${env.MAILSTACK_OTHER_CA})`);
  w(`  IMAP/POP3        ${env.MAILSTACK_LEGACY_HOST}:${env.MAILSTACK_IMAP_PORT}/${env.MAILSTACK_POP3_PORT}   LOGINDISABLED before TLS, accepts TLS 1.0`);
  w(`  IMAP/POP3        ${env.MAILSTACK_MODERN_REMOTE_HOST}:${env.MAILSTACK_IMAP_PORT}/${env.MAILSTACK_POP3_PORT}   LOGINDISABLED before TLS, TLS 1.2 at least`);
  w(`  IMAP             ${env.MAILSTACK_NOTLS_HOST}:${env.MAILSTACK_IMAP_PORT}         no STARTTLS, LOGINDISABLED: no way to log in`);
  w();
  w(`CA certificate (verifies every TLS port): ${ca}`);
  w();
  w('Users:');
  for (const u of users) w(`  ${u.address}  password: ${u.password}`);
  w();
  w(`caldavd.plist (written to ${plistPath}):`);
  w();
  w(plistText);
  w('Try:');
  w(`  IMIP_CONFIG=${plistPath} imip check-config`);
  w(`  imip test-smtp --config ${plistPath} --ca-file ${ca}`);
  w(`  swaks --server ${host}:${env.MAILSTACK_MX_PORT} --from organizer@remote.test --to calendar+token@example.test`);
  w(`  curl --cacert ${ca} 'imaps://${host}:${env.MAILSTACK_IMAPS_PORT}/INBOX' -u '${calendar.address}:${calendar.password}'`);
  w(`  doveadm -c ${env.MAILSTACK_DOVECOT_CONF} mailbox status -u ${calendar.address} messages INBOX`);
  w(`  logs: ${dir}/log/`);
  w();
  w('Press Ctrl-C to stop.');

  // `npm run` wraps us in `sh -c`: when npm or that shell is killed (e.g. by
  // `kill <npm pid>` or `timeout --foreground`), the signal may never reach us
  // and we are reparented. Stop the stack then too, instead of leaking it.
  const parent = process.ppid;
  const keepAlive = setInterval(() => {
    if (process.ppid !== parent) stop('parent exited');
  }, 250);
  let stopping = false;
  const stop = async (sig) => {
    if (stopping) return;
    stopping = true;
    w(`\n${sig}: stopping the mail stack...`);
    const code = await harness(['stop', dir]);
    if (process.env.MAILSTACK_KEEP !== '1') rmSync(dir, { recursive: true, force: true });
    clearInterval(keepAlive);
    w(code === 0 ? 'stopped.' : `stop exited ${code}`);
    process.exit(code === 0 ? 0 : 1);
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGHUP', () => stop('SIGHUP'));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
