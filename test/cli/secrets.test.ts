/**
 * The password never appears in any output or written file: every command, run with a
 * password-bearing config in each failure mode (a config that is not XML, an unreachable server,
 * a wrong password, a stalled server, a certificate that does not verify), in human --verbose and
 * in --json; the files a command writes (send-test --save, the state directory) are read too.
 * Each is searched for the password in plain, in base64 (alone and as the SASL PLAIN response),
 * and URL-encoded.
 */
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStallingServer, type StallingServer } from '../doubles/stalling-server.js';
import { config, writeConfig } from '../fixtures/diagnose/helpers.js';
import { runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/plist.js';
import { getStack } from '../helpers/stack.js';

/** A password with characters that URL and base64 encodings change. */
const PASSWORD = 'Leak/Me+Not=93 &Zq';
const USER = 'calendar@example.test';

const forms = (): string[] => [
  PASSWORD,
  Buffer.from(PASSWORD).toString('base64'),
  Buffer.from(`\0${USER}\0${PASSWORD}`).toString('base64'),
  Buffer.from(`${USER}\0${USER}\0${PASSWORD}`).toString('base64'),
  encodeURIComponent(PASSWORD),
  encodeURIComponent(PASSWORD).replace(/%20/g, '+'),
];

let stalled: StallingServer;
let stack: ReturnType<typeof getStack>;

beforeAll(async () => {
  stack = getStack();
  stalled = await startStallingServer({
    protocol: 'imap',
    implicitTls: false,
    offerStartTls: false,
    stallAt: 'greeting',
    key: readFileSync(join(stack.dir, 'tls', 'key.pem'), 'utf8'),
    cert: readFileSync(join(stack.dir, 'tls', 'cert.pem'), 'utf8'),
  });
});

afterAll(async () => {
  await stalled?.close();
});

type Mode = { name: string; config: () => string; extra?: string[] };

/** Sending and Receiving at `host:ports`, both with PASSWORD. */
function cfg(o: { smtpPort: number; mailboxPort: number; type?: 'imap' | 'pop'; useSSL?: boolean }): string {
  return writeConfig(
    config('9.2', {
      'Scheduling.iMIP.Sending.Server': '127.0.0.1',
      'Scheduling.iMIP.Sending.Port': o.smtpPort,
      'Scheduling.iMIP.Sending.UseSSL': true,
      'Scheduling.iMIP.Sending.Address': `Calendar <${USER}>`,
      'Scheduling.iMIP.Sending.Username': USER,
      'Scheduling.iMIP.Sending.Password': PASSWORD,
      'Scheduling.iMIP.Receiving.Server': '127.0.0.1',
      'Scheduling.iMIP.Receiving.Port': o.mailboxPort,
      'Scheduling.iMIP.Receiving.UseSSL': o.useSSL ?? true,
      'Scheduling.iMIP.Receiving.Type': o.type ?? 'imap',
      'Scheduling.iMIP.Receiving.Username': USER,
      'Scheduling.iMIP.Receiving.Password': PASSWORD,
    }),
  );
}

const MODES: Mode[] = [
  {
    name: 'a config that is not XML, the password near the top',
    config: () => {
      const dir = tempDir('imip-secret-');
      const path = join(dir, 'caldavd.plist');
      writeFileSync(path, `{ Password = "${PASSWORD}"; Scheduling = { iMIP = { Enabled = true; }; }; }\n`, { mode: 0o600 });
      return path;
    },
  },
  { name: 'an unreachable server', config: () => cfg({ smtpPort: 1, mailboxPort: 1 }) },
  { name: 'a wrong password (the real Postfix and Dovecot)', config: () => cfg({ smtpPort: stack.ports.smtp, mailboxPort: stack.ports.imaps }), extra: ['--ca-file'] },
  { name: 'a wrong password over POP3', config: () => cfg({ smtpPort: stack.ports.smtp, mailboxPort: stack.ports.pop3s, type: 'pop' }), extra: ['--ca-file'] },
  { name: 'a stalled server', config: () => cfg({ smtpPort: stalled.port, mailboxPort: stalled.port, useSSL: false }) },
  { name: 'a certificate that does not verify', config: () => cfg({ smtpPort: stack.ports.smtp, mailboxPort: stack.ports.imaps }) },
];

const COMMANDS: Array<{ name: string; args: (files: { dir: string; state: string }) => string[] }> = [
  { name: 'check-config', args: () => ['check-config'] },
  { name: 'check-config --connect', args: () => ['check-config', '--connect'] },
  { name: 'test-smtp', args: () => ['test-smtp'] },
  { name: 'test-mailbox', args: () => ['test-mailbox'] },
  { name: 'send-test --save', args: (f) => ['send-test', '--to', 'attendee@remote.test', '--force', '--save', join(f.dir, 'invite.eml'), '--state-dir', f.state] },
  { name: 'send-test', args: (f) => ['send-test', '--to', 'attendee@remote.test', '--force', '--state-dir', f.state] },
  { name: 'poll --once', args: (f) => ['poll', '--once', '--state-dir', f.state] },
  { name: 'diagnose', args: (f) => ['diagnose', '--state-dir', f.state] },
];

/** Every file under `dir`, read. */
function filesUnder(dir: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...filesUnder(p));
    else out.push([p, readFileSync(p, 'latin1')]);
  }
  return out;
}

const cases = MODES.flatMap((mode) => COMMANDS.flatMap((command) => [['--verbose'], ['--json']].map((output) => ({ mode, command, output, title: `${command.name} ${output.join(' ')}: ${mode.name}` }))));

describe.concurrent('the password appears in no output and no written file', () => {
  it.each(cases)('$title', async ({ mode, command, output }) => {
    const dir = tempDir('imip-secret-out-');
    const state = join(dir, 'state');
    const configPath = mode.config();
    const extra = mode.extra?.includes('--ca-file') ? ['--ca-file', stack.ca] : [];
    const r = await runCli([...command.args({ dir, state }), '--config', configPath, '--timeout', '2', '--server-version', '9.2', ...extra, ...output], { timeoutMs: 60_000 });
    // Wrong password: the config's password is not the account's, so the servers refuse it.
    const texts: Array<[string, string]> = [
      ['stdout', r.stdout],
      ['stderr', r.stderr],
      ...filesUnder(dir),
    ];
    for (const [where, text] of texts) {
      for (const form of forms()) expect(text.includes(form), `${where} holds the password (${form})`).toBe(false);
    }
    expect(r.code).not.toBeNull();
  }, 60_000);
});
