/**
 * Read-only means no change: every command that reads the mailbox without `--apply` leaves it as
 * it was, seen from a second session over IMAP (count, UIDs and flags identical), on POP3 and IMAP.
 *
 * On POP3 the trap is QUIT: Dovecot, like many servers, stores `\Seen` on every message retrieved
 * (RETR or TOP) when the session ends with QUIT. Every read path ends with the POP3 client's
 * read-only end instead (RSET, then QUIT). The first test shows the trap on this very Dovecot, so
 * the rest cannot pass by accident.
 *
 * Own stack with own users (nothing another test file reads).
 */
import { ImapFlow } from 'imapflow';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Pop3Client } from '../../src/clients/pop3/index.js';
import { markSeen, purgeMailbox, seedMailbox, stopStack, type StackInfo } from '../mailstack/stack.js';
import { startOwnStack } from '../poll/helpers.js';
import { config, writeConfig } from '../fixtures/diagnose/helpers.js';
import { runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/plist.js';

const USER = { address: 'readonly@example.test', password: 'Read-only-pw-8812' };
const OTHER = { address: 'attendee-ro@example.test', password: 'Attendee-ro-pw-2290' };
let stack: StackInfo;

beforeAll(async () => {
  stack = await startOwnStack([USER, OTHER], 25000, 10);
}, 60_000);

afterAll(async () => {
  if (stack) await stopStack(stack, { remove: process.env.MAILSTACK_KEEP !== '1' });
}, 60_000);

const msg = (i: number): string =>
  `From: someone${i}@remote.test\r\nTo: readonly@example.test\r\nSubject: message ${i}\r\nMessage-ID: <ro-${i}@remote.test>\r\nDate: Tue, 03 Mar 2026 10:00:00 +0000\r\n\r\nbody ${i}\r\n`;

beforeEach(async () => {
  await purgeMailbox(stack, USER.address);
  await seedMailbox(stack, USER.address, [1, 2, 3, 4].map(msg));
  // One message already \Seen, so a lost flag would show as well as a new one.
  await markSeen(stack, USER.address, 1);
});

/** What a second session sees over IMAP: UIDVALIDITY, and UID → flags (sorted). */
async function imapView(): Promise<{ uidValidity: string; messages: Array<[number, string[]]> }> {
  const c = new ImapFlow({ host: stack.host, port: stack.ports.imaps, secure: true, tls: { ca: [stack.caPem] }, auth: { user: USER.address, pass: USER.password }, logger: false });
  await c.connect();
  try {
    const box = await c.mailboxOpen('INBOX', { readOnly: true });
    const messages: Array<[number, string[]]> = [];
    if (box.exists > 0) {
      for await (const m of c.fetch('1:*', { uid: true, flags: true }, { uid: true })) {
        messages.push([m.uid, [...(m.flags ?? [])].filter((f) => f !== '\\Recent').sort()]);
      }
    }
    return { uidValidity: String(box.uidValidity), messages: messages.sort((a, b) => a[0] - b[0]) };
  } finally {
    await c.logout();
  }
}

function stackConfig(protocol: 'imap' | 'pop3', implicit: boolean): string {
  const pop = protocol === 'pop3';
  const port = pop ? (implicit ? stack.ports.pop3s : stack.ports.pop3) : implicit ? stack.ports.imaps : stack.ports.imap;
  return writeConfig(
    config('9.2', {
      'Scheduling.iMIP.Sending.Server': '127.0.0.1',
      'Scheduling.iMIP.Sending.Port': stack.ports.smtp,
      'Scheduling.iMIP.Sending.UseSSL': false,
      'Scheduling.iMIP.Sending.Address': `Calendar <${USER.address}>`,
      'Scheduling.iMIP.Sending.Username': USER.address,
      'Scheduling.iMIP.Sending.Password': USER.password,
      'Scheduling.iMIP.Receiving.Server': '127.0.0.1',
      'Scheduling.iMIP.Receiving.Port': port,
      'Scheduling.iMIP.Receiving.UseSSL': implicit,
      'Scheduling.iMIP.Receiving.Type': pop ? 'pop' : 'imap',
      'Scheduling.iMIP.Receiving.Username': USER.address,
      'Scheduling.iMIP.Receiving.Password': USER.password,
    }),
  );
}

describe('the trap this guards against', () => {
  it('on this Dovecot, QUIT after RETR marks the message \\Seen; RSET before QUIT does not', async () => {
    const before = await imapView();
    const session = async (end: (c: Pop3Client) => Promise<void>): Promise<void> => {
      const c = await Pop3Client.connect({ host: stack.host, port: stack.ports.pop3s, implicitTls: true, ca: stack.caPem, rejectUnauthorized: true, timeoutMs: 5000 });
      await c.login(USER.address, USER.password);
      await c.retrBuffer(2);
      await end(c);
    };
    await session((c) => c.endReadOnly());
    expect(await imapView()).toEqual(before);
    await session((c) => c.quit());
    const after = await imapView();
    expect(after.messages.find(([uid]) => uid === before.messages[1]![0])![1]).toContain('\\Seen');
  });
});

// Every command that reads the mailbox, without --apply. send-test sends to another mailbox and
// watches this one; the plus-address probe removes only its own probe message.
const COMMANDS: Array<[string, (cfg: string) => string[]]> = [
  ['poll --once', (cfg) => ['poll', '--once', '--config', cfg, '--state-dir', tempDir('imip-ro-state-')]],
  ['test-mailbox', (cfg) => ['test-mailbox', '--config', cfg]],
  ['check-config --connect', (cfg) => ['check-config', '--connect', '--config', cfg]],
  ['diagnose', (cfg) => ['diagnose', '--config', cfg, '--state-dir', tempDir('imip-ro-state-')]],
  ['diagnose --probe plus-address', (cfg) => ['diagnose', '--probe', 'plus-address', '--config', cfg, '--state-dir', tempDir('imip-ro-state-')]],
  ['send-test --wait-reply', (cfg) => ['send-test', '--to', OTHER.address, '--force', '--wait-reply', '4', '--config', cfg, '--state-dir', tempDir('imip-ro-state-')]],
];

describe.each([
  ['POP3 (POP3S)', 'pop3', true],
  ['POP3 (STLS)', 'pop3', false],
  ['IMAP (IMAPS)', 'imap', true],
] as const)('read-only over %s: count, UIDs and flags unchanged', (_name, protocol, implicit) => {
  it.each(COMMANDS)('%s', async (_cmd, args) => {
    const before = await imapView();
    expect(before.messages).toHaveLength(4);
    const r = await runCli([...args(stackConfig(protocol, implicit)), '--ca-file', stack.ca, '--server-version', '9.2', '--timeout', '5', '--json'], { timeoutMs: 60_000 });
    expect(r.stderr).not.toMatch(/at .*\.js:\d+/); // no stack trace
    expect([0, 1]).toContain(r.code);
    expect(await imapView()).toEqual(before);
  }, 60_000);
});
