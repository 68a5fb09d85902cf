// Tests of the mail stack itself (test/mailstack/mailstack.sh), on the stack
// the global setup started for this run. The tests touch disjoint data (unique
// tokens and Message-IDs), so they run concurrently.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { promisify } from 'node:util';
import { ImapFlow } from 'imapflow';
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, describe, test } from 'vitest';
import { getStack } from '../helpers/stack.js';
import {
  deliver,
  findUser,
  freePortOffset,
  mailboxCount,
  mailboxFlags,
  markSeen,
  purgeMailbox,
  seedMailbox,
  startStack,
  stopStack,
  type StackInfo,
} from './stack.js';

const execFileP = promisify(execFile);

function uniq(): string {
  return randomBytes(6).toString('hex');
}

function message(opts: { to: string; subject: string; messageId: string; from?: string }): string {
  return [
    `From: ${opts.from ?? 'Organizer <organizer@remote.test>'}`,
    `To: ${opts.to}`,
    `Subject: ${opts.subject}`,
    `Message-ID: <${opts.messageId}>`,
    'Date: Tue, 24 Nov 2026 10:00:00 +0000',
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    '',
    'Hello.',
    '.a line that needs dot-stuffing',
    '',
  ].join('\r\n');
}

/** Header block of the message with this Message-ID in the user's INBOX, or null. */
async function headersOf(info: StackInfo, user: string, messageId: string): Promise<string | null> {
  const { stdout } = await execFileP('doveadm', [
    '-c', info.doveadmConf, '-f', 'flow', 'fetch', '-u', findUser(info, user).address,
    'hdr', 'mailbox', 'INBOX', 'header', 'Message-ID', messageId,
  ]);
  return stdout.trim() ? stdout : null;
}

async function waitForHeaders(info: StackInfo, user: string, messageId: string): Promise<string> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const h = await headersOf(info, user, messageId);
    if (h) return h;
    if (Date.now() > deadline) throw new Error(`no message ${messageId} for ${user}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Read SMTP replies line by line from a plain or TLS socket. */
function smtpReader(sock: net.Socket) {
  let buf = '';
  const waiting: (() => void)[] = [];
  sock.setEncoding('latin1');
  sock.on('data', (d: string) => {
    buf += d;
    waiting.splice(0).forEach((w) => w());
  });
  return async function reply(): Promise<string> {
    for (;;) {
      const m = /(^|\n)\d{3} [^\n]*\r?\n/.exec(buf);
      if (m) {
        const end = m.index + m[0].length;
        const r = buf.slice(0, end);
        buf = buf.slice(end);
        return r;
      }
      await new Promise<void>((resolve, reject) => {
        waiting.push(resolve);
        sock.once('error', reject);
        sock.once('close', () => reject(new Error('closed')));
      });
    }
  };
}

describe.concurrent('mail stack', () => {
  test('mail to calendar+abc123@ over MX lands in calendar INBOX with To and Delivered-To intact', async ({ expect }) => {
    const info = getStack();
    const id = `${uniq()}@remote.test`;
    const rcpt = 'calendar+abc123@example.test';
    await deliver(info, { from: 'organizer@remote.test', to: [rcpt], raw: message({ to: rcpt, subject: 'plus', messageId: id }) });
    const hdr = await headersOf(info, 'calendar', id);
    expect(hdr).not.toBeNull();
    expect(hdr).toMatch(/^To: calendar\+abc123@example\.test$/m);
    expect(hdr).toMatch(/^Delivered-To: calendar\+abc123@example\.test$/m);
    expect(hdr).toMatch(/for <calendar\+abc123@example\.test>/);
  });

  test('two plus recipients of one mail each get their own Delivered-To', async ({ expect }) => {
    const info = getStack();
    const id = `${uniq()}@remote.test`;
    const to = ['calendar+aaa@example.test', 'calendar+bbb@example.test'];
    await deliver(info, { from: 'organizer@remote.test', to, raw: message({ to: to.join(', '), subject: 'two', messageId: id }) });
    const { stdout } = await execFileP('doveadm', [
      '-c', info.doveadmConf, '-f', 'flow', 'fetch', '-u', 'calendar@example.test',
      'hdr.delivered-to', 'mailbox', 'INBOX', 'header', 'Message-ID', id,
    ]);
    expect(stdout).toContain('calendar+aaa@example.test');
    expect(stdout).toContain('calendar+bbb@example.test');
  });

  test('unknown users and foreign domains are rejected on the MX port', async ({ expect }) => {
    const info = getStack();
    const raw = message({ to: 'x', subject: 'x', messageId: `${uniq()}@remote.test` });
    await expect(deliver(info, { from: 'a@remote.test', to: ['nobody@example.test'], raw })).rejects.toThrow(/550 5\.1\.1/);
    await expect(deliver(info, { from: 'a@remote.test', to: ['someone@elsewhere.test'], raw })).rejects.toThrow(/554 5\.7\.1/);
  });

  test('submission port: STARTTLS, AUTH only after TLS, unauthenticated RCPT refused', async ({ expect }) => {
    const info = getStack();
    const sock = net.connect({ host: info.host, port: info.ports.smtp });
    try {
      const reply = smtpReader(sock);
      expect(await reply()).toMatch(/^220 /);
      sock.write('EHLO client.test\r\n');
      const ehlo = await reply();
      expect(ehlo).toMatch(/^250[- ]STARTTLS\r?$/m);
      expect(ehlo).not.toMatch(/^250[- ]AUTH/m);
      sock.write('MAIL FROM:<calendar@example.test>\r\n');
      expect(await reply()).toMatch(/^250 /);
      sock.write('RCPT TO:<alice@example.test>\r\n');
      expect(await reply()).toMatch(/^554 /);
      sock.write('RSET\r\n');
      expect(await reply()).toMatch(/^250 /);
      sock.write('STARTTLS\r\n');
      expect(await reply()).toMatch(/^220 /);
      const secure = tls.connect({ socket: sock, ca: info.caPem, servername: 'localhost' });
      await new Promise<void>((resolve, reject) => secure.once('secureConnect', resolve).once('error', reject));
      const reply2 = smtpReader(secure);
      secure.write('EHLO client.test\r\n');
      expect(await reply2()).toMatch(/^250[- ]AUTH PLAIN LOGIN\r?$/m);
      secure.end('QUIT\r\n');
    } finally {
      sock.destroy();
    }
  });

  test('nodemailer sends on submission (requireTLS) and SMTPS (secure) with the CA', async ({ expect }) => {
    const info = getStack();
    const cal = findUser(info, 'calendar');
    const cases = [
      { port: info.ports.smtp, secure: false, requireTLS: true },
      { port: info.ports.smtps, secure: true, requireTLS: false },
    ];
    for (const c of cases) {
      const transport = nodemailer.createTransport({
        host: info.host,
        port: c.port,
        secure: c.secure,
        requireTLS: c.requireTLS,
        auth: { user: cal.address, pass: cal.password },
        tls: { ca: info.caPem },
      });
      const id = `${uniq()}@example.test`;
      const sent = await transport.sendMail({
        from: cal.address,
        to: 'alice@example.test',
        subject: `via ${c.port}`,
        text: 'hi',
        messageId: `<${id}>`,
      });
      transport.close();
      expect(sent.accepted).toEqual(['alice@example.test']);
      expect(await waitForHeaders(info, 'alice', id)).toMatch(/^Delivered-To: alice@example\.test$/m);
    }
  });

  test('nodemailer without the CA fails with a certificate error', async ({ expect }) => {
    const info = getStack();
    const cal = findUser(info, 'calendar');
    const transport = nodemailer.createTransport({
      host: info.host,
      port: info.ports.smtps,
      secure: true,
      auth: { user: cal.address, pass: cal.password },
      connectionTimeout: 5000,
    });
    await expect(
      transport.sendMail({ from: cal.address, to: 'alice@example.test', subject: 'x', text: 'x' }),
    ).rejects.toThrow(/self[- ]signed certificate|unable to verify|certificate/i);
    transport.close();
  });

  test('imapflow logs in over IMAPS and over IMAP+STARTTLS with the CA; a wrong password is rejected', async ({ expect }) => {
    const info = getStack();
    const cal = findUser(info, 'calendar');
    for (const secure of [true, false]) {
      const client = new ImapFlow({
        host: info.host,
        port: secure ? info.ports.imaps : info.ports.imap,
        secure,
        doSTARTTLS: secure ? undefined : true,
        auth: { user: cal.address, pass: cal.password },
        tls: { ca: info.caPem },
        logger: false,
        disableAutoIdle: true,
      });
      await client.connect();
      expect(client.secureConnection).toBe(true);
      const status = await client.status('INBOX', { messages: true });
      expect(status && typeof status.messages).toBe('number');
      await client.logout();
    }
    const bad = new ImapFlow({
      host: info.host,
      port: info.ports.imaps,
      secure: true,
      auth: { user: cal.address, pass: 'wrong-password' },
      tls: { ca: info.caPem },
      logger: false,
      disableAutoIdle: true,
    });
    const err = await bad.connect().then(
      () => null,
      (e: unknown) => e as { authenticationFailed?: boolean },
    );
    bad.close();
    expect(err?.authenticationFailed).toBe(true);
  });

  test('plaintext login is refused before STLS/STARTTLS; the POP3 greeting has no APOP challenge', async ({ expect }) => {
    const info = getStack();
    const cal = findUser(info, 'calendar');
    const talk = (port: number, lines: string[]) =>
      new Promise<string>((resolve, reject) => {
        const sock = net.connect({ host: info.host, port }, () => sock.write(lines.join('\r\n') + '\r\n'));
        let out = '';
        sock.setEncoding('latin1');
        sock.on('data', (d) => (out += d));
        sock.on('error', reject);
        sock.on('close', () => resolve(out));
        setTimeout(() => sock.destroy(), 3000);
      });
    const pop = await talk(info.ports.pop3, [`USER ${cal.address}`, `PASS ${cal.password}`, 'QUIT']);
    const greeting = pop.split('\r\n')[0];
    expect(greeting).toMatch(/^\+OK /);
    expect(greeting).not.toMatch(/<[^>]*@[^>]*>/);
    expect(pop).toMatch(/^-ERR \[AUTH\] Plaintext authentication disallowed/m);
    expect(pop).not.toMatch(/Logged in/);
    const imap = await talk(info.ports.imap, [`a LOGIN ${cal.address} ${cal.password}`, 'b LOGOUT']);
    expect(imap).toMatch(/^a NO .*Plaintext authentication disallowed/m);
  });

  test('every listener is bound to 127.0.0.1 only', async ({ expect }) => {
    const info = getStack();
    const ports = Object.values(info.ports);
    const listening = (file: string) =>
      readFileSync(file, 'utf8')
        .split('\n')
        .slice(1)
        .map((l) => l.trim().split(/\s+/))
        .filter((f) => f[3] === '0A')
        .map((f) => ({ addr: f[1]!.split(':')[0], port: parseInt(f[1]!.split(':')[1]!, 16) }));
    // The client-behaviour variants add IMAP and POP3 on 127.0.0.2 and 127.0.0.3, and IMAP on
    // 127.0.0.4 (other loopback addresses, so Dovecot does not treat them as secured); everything
    // stays on loopback.
    const v4 = listening('/proc/net/tcp').filter((s) => ports.includes(s.port));
    const on127001 = v4.filter((s) => s.addr === '0100007F');
    expect(on127001.map((s) => s.port).sort()).toEqual([...ports].sort());
    for (const s of v4) expect(['0100007F', '0200007F', '0300007F', '0400007F']).toContain(s.addr);
    const v6 = listening('/proc/net/tcp6').filter((s) => ports.includes(s.port));
    expect(v6).toEqual([]);
  });

  // A private stack: nothing else in the run touches its mailboxes.
  describe('a second stack with MAILSTACK_PLUS=0', () => {
    let second: StackInfo;
    beforeAll(async () => {
      // 24000.. is outside the global stacks' 20000..23900 range.
      second = await startStack({ plus: false, portOffset: await freePortOffset(24000, process.pid % 40) });
    });
    afterAll(async () => {
      if (second) await stopStack(second, { remove: true });
    });

    test('rejects calendar+x@ with 550 and still delivers to calendar@', async ({ expect }) => {
      expect(second.plus).toBe(false);
      const raw = message({ to: 'calendar+x@example.test', subject: 'x', messageId: `${uniq()}@remote.test` });
      await expect(deliver(second, { from: 'a@remote.test', to: ['calendar+x@example.test'], raw })).rejects.toThrow(/550/);
      await deliver(second, { from: 'a@remote.test', to: ['calendar@example.test'], raw });
      expect(await mailboxCount(second, 'calendar')).toBe(1);
    });

    test('seedMailbox, mailboxCount, mailboxFlags, markSeen and purgeMailbox', async ({ expect }) => {
      const raws = Array.from({ length: 300 }, (_, i) =>
        message({ to: 'personal@example.test', subject: `seed ${i}`, messageId: `seed-${i}-${uniq()}@remote.test` }),
      );
      const uids = await seedMailbox(second, 'personal', raws);
      expect(uids).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
      expect(await mailboxCount(second, 'personal')).toBe(300);
      // UIDs follow the order of the raws.
      const { stdout } = await execFileP('doveadm', [
        '-c', second.doveadmConf, '-f', 'tab', 'fetch', '-u', 'personal@example.test',
        'uid hdr.subject', 'mailbox', 'INBOX', 'all',
      ]);
      const subjects = stdout.trim().split('\n').slice(1).map((l) => (l.split('\t')[1] ?? '').trim());
      expect(subjects).toEqual(raws.map((_, i) => `seed ${i}`));
      await markSeen(second, 'personal', uids[5]);
      let flags = await mailboxFlags(second, 'personal');
      expect(flags.size).toBe(300);
      expect(flags.get(uids[5]!)).toEqual(['\\Seen']);
      expect(flags.get(uids[6]!)).toEqual([]);
      await markSeen(second, 'personal');
      flags = await mailboxFlags(second, 'personal');
      expect([...flags.values()].every((f) => f.includes('\\Seen'))).toBe(true);
      await purgeMailbox(second, 'personal');
      expect(await mailboxCount(second, 'personal')).toBe(0);
    });
  });
});
