/**
 * `poll --once` over POP3 against the real Dovecot of a mail stack of this file's own (user
 * pollpop@example.test). Every message is RETRieved as the server does (`cbGotMessageSizes`),
 * streamed through the MIME parser; without --apply the session ends with QUIT and no DELE.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { ServerAction } from '../../src/imip/classify.js';
import type { MailboxEffect } from '../../src/server/poll-policy.js';
import { Pop3Client } from '../../src/clients/pop3/index.js';
import { purgeMailbox, seedMailbox, stopStack, type StackInfo } from '../mailstack/stack.js';
import { bigMessage, CASES, CutProxy, fixture, NOW, pollCore, smallReply, startOwnStack, TOKENS, tokenStateDir, writePollPlist } from './helpers.js';

const USER = { address: 'pollpop@example.test', password: 'PollPop-pw-6634' };
let stack: StackInfo;

beforeAll(async () => {
  stack = await startOwnStack([USER], 28700);
});

afterAll(async () => {
  if (stack) await stopStack(stack, { remove: process.env.MAILSTACK_KEEP !== '1' });
});

beforeEach(async () => {
  await purgeMailbox(stack, USER.address);
});

/** What a second POP3 session sees: STAT and the UIDL list. */
async function snapshot(): Promise<{ count: number; size: number; uidls: string[] }> {
  const c = await Pop3Client.connect({ host: stack.host, port: stack.ports.pop3s, implicitTls: true, ca: stack.caPem, rejectUnauthorized: true, timeoutMs: 5000 });
  try {
    await c.login(USER.address, USER.password);
    const st = await c.stat();
    const uidls = (await c.uidl()).map((u) => u.uid);
    return { count: st.count, size: st.size, uidls };
  } finally {
    await c.quit();
  }
}

function effect(release: string, action: ServerAction): MailboxEffect {
  if (['2.5', '4.3', '5.0'].includes(release)) return 'deleted';
  return action === 'INJECTION_SUBMITTED' ? 'deleted' : 'left-reread-every-poll';
}

describe('poll --once over POP3 (read-only)', () => {
  it.each(['2.5', '4.3', '5.1', '7.0'])('every fixture gets its verdict on %s, and the maildrop is untouched', async (release) => {
    await seedMailbox(stack, USER.address, CASES.map((c) => fixture(c.fixture)));
    const before = await snapshot();
    const plist = writePollPlist(stack, { version: release, protocol: 'pop3', user: USER });
    const report = await pollCore(plist, { version: release, caFile: stack.ca, stateDir: tokenStateDir(), now: NOW });
    expect(report.error).toBeUndefined();
    expect(report.mailbox).toMatchObject({ protocol: 'pop3', readOnly: true, tls: 'implicit' });
    expect(report.messages.map((m) => m.number)).toEqual(CASES.map((_, i) => i + 1));
    CASES.forEach((c, i) => {
      const m = report.messages[i]!;
      const action = c.by?.[release] ?? c.action;
      expect({ fixture: c.fixture, action: m.serverAction, effect: m.mailboxEffect, findings: m.findings.map((f) => f.id), token: m.tokenStatus }).toEqual({
        fixture: c.fixture,
        action,
        effect: effect(release, action),
        findings: c.findings,
        token: c.token,
      });
      // POP3 has no \Seen and no cycle stop: every message is read at every poll (cbGotMessageSizes).
      expect(m.stopsCycle).toBe(false);
      expect(m.thisCycle).toBe(true);
      expect(m.uidl).toBe(before.uidls[i]);
    });
    // On POP3 5.1+ a reply without calendar is forwarded again at every poll (issue #500; on
    // 5.1-6.0 the forward fails, again at every poll).
    const human = report.messages[CASES.findIndex((c) => c.fixture === 'human-reply')]!;
    if (['5.1', '7.0'].includes(release)) expect(human.findings[0]).toMatchObject({ id: 'reply.no-calendar', severity: 'error' });
    // No DELE was sent: a second session sees the same messages.
    expect(await snapshot()).toEqual(before);
  });

  it('STLS on the plain port when UseSSL is false (Twisted\'s login order)', async () => {
    await seedMailbox(stack, USER.address, [fixture('thunderbird-reply')]);
    const plist = writePollPlist(stack, { version: '4.3', protocol: 'pop3', tls: 'starttls', user: USER });
    const r = await pollCore(plist, { version: '4.3', caFile: stack.ca, stateDir: tokenStateDir(), now: NOW });
    expect(r.mailbox.tls).toBe('stls');
    expect(r.messages[0]!.serverAction).toBe('INJECTION_SUBMITTED');
  });

  // The server parses the whole calendar part; so does the cycle, up to 32 MB of a message's
  // calendars (it kept 2 MB, and judged a broken 3 MB calendar as one that parses).
  it('a 3 MB calendar part is read whole: a broken line past the first 2 MB gives the verdict IMAP gives', async () => {
    const token = '3f2b8c1e-7d4a-4e9b-a6c2-5b1d9e0f7a21';
    const pad = `DESCRIPTION:${'x'.repeat(3 * 1024 * 1024)}\r\n`;
    const broken = smallReply(2, token, 'big-broken').replace('DTSTAMP:20260302T100000Z\r\n', `DTSTAMP:20260302T100000Z\r\n${pad}DTSTART:notadate\r\n`);
    await seedMailbox(stack, USER.address, [broken]);
    const plist = writePollPlist(stack, { version: '9.2', protocol: 'pop3', user: USER });
    const r = await pollCore(plist, { version: '9.2', caFile: stack.ca, stateDir: tokenStateDir(), now: NOW });
    const row = r.messages[0]!;
    expect(row.findings.map((f) => f.id)).toContain('reply.invalid-icalendar');
    expect(row.findings.map((f) => f.id)).not.toContain('reply.calendar-not-checked');
    expect(row.serverAction).toBe('UNKNOWN_FAILURE');
  });

  // Over IMAP only the fields the verdict reads are fetched (HEADER.FIELDS); over POP3 the whole
  // header block streams through the parser, which kept 1 MiB of it and so lost From and To after a
  // huge X- header (MALFORMED_TO_ADDRESS).
  it('a 1,030 KiB X- header before the reply\'s own fields: the verdict IMAP gives', async () => {
    const token = '3f2b8c1e-7d4a-4e9b-a6c2-5b1d9e0f7a21';
    const reply = smallReply(1, token, TOKENS[token]!.uid);
    await seedMailbox(stack, USER.address, [`X-Long: ${'a'.repeat(1030 * 1024)}\r\n${reply}`, reply]);
    const plist = writePollPlist(stack, { version: '9.2', protocol: 'pop3', user: USER });
    const r = await pollCore(plist, { version: '9.2', caFile: stack.ca, stateDir: tokenStateDir(), now: NOW });
    const row = (m: (typeof r.messages)[number]): unknown => [m.serverAction, m.token, m.findings.map((f) => f.id), m.problems];
    expect(r.messages.map(row)).toEqual([row(r.messages[1]!), row(r.messages[1]!)]);
    expect(r.messages[0]!.serverAction).toBe('INJECTION_SUBMITTED');
  });

  it('pipelines RETR when CAPA offers PIPELINING', async () => {
    const token = '3f2b8c1e-7d4a-4e9b-a6c2-5b1d9e0f7a21';
    const n = 300;
    await seedMailbox(stack, USER.address, Array.from({ length: n }, (_, i) => smallReply(i, token, TOKENS[token]!.uid)));
    const plist = writePollPlist(stack, { version: '9.2', protocol: 'pop3', user: USER });
    const r = await pollCore(plist, { version: '9.2', caFile: stack.ca, stateDir: tokenStateDir(), now: NOW });
    expect(r.messages).toHaveLength(n);
    expect(r.summary.byServerAction.INJECTION_SUBMITTED).toBe(n);
    expect(r.commands.join(' ')).toMatch(/pipelined/);
    expect(r.stats.roundTrips).toBeLessThan(20);
  });

  it('the connection is cut mid-cycle: a partial report that says so, nothing deleted', async () => {
    const token = '3f2b8c1e-7d4a-4e9b-a6c2-5b1d9e0f7a21';
    await seedMailbox(stack, USER.address, Array.from({ length: 400 }, (_, i) => smallReply(i, token, TOKENS[token]!.uid)));
    const before = await snapshot();
    const proxy = await new CutProxy({ host: stack.host, port: stack.ports.pop3s }).start();
    proxy.cutAfterBytes = 100_000;
    try {
      const plist = writePollPlist(stack, { version: '4.3', protocol: 'pop3', user: USER, changes: [['Scheduling.iMIP.Receiving.Port', proxy.port]] });
      const r = await pollCore(plist, { version: '4.3', caFile: stack.ca, stateDir: tokenStateDir(), now: NOW });
      expect(r.error).toMatch(/POP3 session ended early after \d+ messages/);
      expect(r.messages.length).toBeLessThan(400);
    } finally {
      await proxy.close();
    }
    expect(await snapshot()).toEqual(before);
  });

  it('a 50 MB message is streamed: the CLI stays small in memory', async () => {
    const token = '3f2b8c1e-7d4a-4e9b-a6c2-5b1d9e0f7a21';
    const plist = writePollPlist(stack, { version: '9.2', protocol: 'pop3', user: USER });
    const args = ['poll', '--once', '--json', '--config', plist, '--server-version', '9.2', '--ca-file', stack.ca, '--state-dir', tokenStateDir()];
    // The same poll over one small reply: Node's own memory and the tool's, without the message.
    await seedMailbox(stack, USER.address, [fixture('thunderbird-reply')]);
    const small = await cliWithRss(args);
    expect(small.code).toBe(0);
    await purgeMailbox(stack, USER.address);
    await seedMailbox(stack, USER.address, [Buffer.concat([...bigMessage(token)]), fixture('thunderbird-reply')]);
    const { code, stdout, maxRss } = await cliWithRss(args);
    const doc = JSON.parse(stdout);
    expect(code).toBe(0);
    expect(doc.messages.map((m: { serverAction: string }) => m.serverAction)).toEqual(['INJECTION_SUBMITTED', 'INJECTION_SUBMITTED']);
    expect(doc.messages[0].size).toBeGreaterThan(50 * 1024 * 1024);
    // The 50 MB message adds the chunks in flight, never itself: 5 MB over the small poll on Node 20,
    // 16 MB on Node 24. A reader that kept the message whole added 57 and 72 MB.
    expect(maxRss - small.maxRss).toBeLessThan(32 * 1024 * 1024);
  });
});

const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));

/**
 * Run the built CLI and report its peak resident set, in bytes: the kernel's high-water mark of the
 * process's own memory (VmHWM in /proc/self/status), read as it exits.
 *
 * Not `process.resourceUsage().maxRSS`: getrusage's figure also keeps the peak of the image the
 * process replaced at exec, and Node's child_process forks the test worker before exec. That was
 * the worker's size, not the CLI's: 106 MB here, 184 MB late in a full CI run, for a CLI whose own
 * peak was 65 MB.
 */
function cliWithRss(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string; maxRss: number }> {
  const script = `import { readFileSync } from 'node:fs';
process.on('exit', () => process.stderr.write('\\nVMHWM=' + /VmHWM:\\s*(\\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))[1] + '\\n'));
import(${JSON.stringify(CLI)}).then((m) => m.main([process.argv[0], 'imip', ...${JSON.stringify(args)}]));`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      const m = /VMHWM=(\d+)/.exec(stderr);
      resolve({ code, stdout, stderr, maxRss: m ? Number(m[1]) * 1024 : NaN });
    });
  });
}
