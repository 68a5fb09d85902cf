/**
 * The sender with Calendar Server's semantics (Twisted `ESMTPSenderFactory`, as 2.x–4.x
 * `twistedcaldav/mail.py` `MailHandler.outbound` and 5.0+ `imip/smtpsender.py`
 * `SMTPSender.sendMessage` build it): the option mapping as a table, then real sends through the
 * stack's Postfix, and the ways a send fails, each without a password in any text.
 */
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import type { ConnectOptions, SendingSettings } from '../../src/config/settings.js';
import { parseFinalReply, queueIdFromReply, sendRaw, SmtpSendError, type SmtpSendResult } from '../../src/send/smtp-send.js';
import { mailClientsFor, smtpTransport } from '../../src/server/mail-clients.js';
import { parseServerVersion } from '../../src/server/release.js';
import { getStack } from '../helpers/stack.js';

function sending(over: Partial<SendingSettings> = {}): SendingSettings {
  const info = getStack();
  const cal = info.users.find((u) => u.local === 'calendar')!;
  return { server: info.host, port: info.ports.smtp, useSSL: true, address: cal.address, username: cal.address, password: cal.password, suppressionDays: null, ...over };
}

function conn(over: Partial<ConnectOptions> = {}): ConnectOptions {
  return { timeoutMs: 5000, ca: getStack().caPem, insecure: false, ...over };
}

function message(id: string): string {
  return [
    'From: "Calendar Server" <calendar@example.test>',
    'To: alice@example.test',
    'Subject: smtp-send test',
    `Message-ID: <${id}@imip.test>`,
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=us-ascii',
    '',
    '.a line that needs dot-stuffing',
    '',
  ].join('\r\n');
}

async function failure(p: Promise<SmtpSendResult>): Promise<SmtpSendError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(SmtpSendError);
    return e as SmtpSendError;
  }
  throw new Error('expected the send to fail');
}

function leaks(e: SmtpSendError | SmtpSendResult, secrets: string[]): string[] {
  const text = JSON.stringify({ ...e, message: (e as Error).message });
  return secrets.filter((s) => text.includes(s) || text.includes(Buffer.from(s).toString('base64').replace(/=+$/, '')));
}

describe('the transport comes from the server\'s client table, not from a mail library', () => {
  const table: [string, boolean, string, string][] = [
    ['UseSSL true: STARTTLS required, the best common TLS version', true, 'starttls-required', 'negotiate'],
    ['UseSSL false: STARTTLS whenever offered, TLS 1.0 only', false, 'starttls-when-offered', 'tls1.0-only'],
  ];
  for (const [name, useSSL, mode, versions] of table) {
    it(name, () => {
      for (const v of ['2.5', '4.3', '9.2']) {
        const t = smtpTransport(mailClientsFor(parseServerVersion(v)), useSSL);
        expect(t.mode).toBe(mode);
        expect(t.context.versions).toBe(versions);
      }
    });
  }
  it('AUTH order CRAM-MD5, LOGIN, PLAIN without fallback, in every release', () => {
    for (const v of ['2.5', '4.3', '9.2']) {
      const c = mailClientsFor(parseServerVersion(v));
      expect(c.smtp.authOrder).toEqual(['CRAM-MD5', 'LOGIN', 'PLAIN']);
      expect(c.smtp.authFallback).toBe(false);
    }
  });

  it('final replies and queue ids', () => {
    expect(parseFinalReply('250 2.0.0 Ok: queued as 4XyZ')).toEqual({ code: 250, text: '2.0.0 Ok: queued as 4XyZ' });
    expect(queueIdFromReply('250 2.0.0 Ok: queued as 4XyZ')).toBe('4XyZ');
    expect(queueIdFromReply('250 2.0.0 OK  1700000000 a1b2c3d4e5f6-123abc.1 - gsmtp')).toBe('a1b2c3d4e5f6-123abc.1');
    expect(queueIdFromReply('250 2.6.0 <DB9PR10@eurprd10.prod.outlook.com> [InternalId=1] Queued mail for delivery')).toBe('DB9PR10@eurprd10.prod.outlook.com');
    expect(queueIdFromReply('250 OK')).toBeNull();
  });
});

describe.concurrent('sendRaw through the stack', () => {
  it('STARTTLS + AUTH on the submission port: the final reply and Postfix\'s queue id', async () => {
    const r = await sendRaw({ sending: sending(), conn: conn(), envelope: { from: 'calendar@example.test', to: ['alice@example.test'] }, raw: message(`a${Date.now()}`), transcript: true });
    expect(r.reply).toMatch(/^250 2\.0\.0 Ok: queued as [0-9A-Za-z]+$/);
    expect(r.queueId).toBe(/queued as (\S+)/.exec(r.reply)![1]);
    expect(r).toMatchObject({ code: 250, accepted: ['alice@example.test'], rejected: [], encrypted: true, authenticated: true, tlsMode: 'starttls-required' });
    expect(r.transcript!.some((l) => /^C: STARTTLS/.test(l))).toBe(true);
    expect(r.transcript!.some((l) => /^C: AUTH /.test(l))).toBe(true);
    expect(leaks(r, [sending().password])).toEqual([]);
  });

  it('UseSSL false on a port that offers STARTTLS starts TLS 1.0, which today\'s relays refuse (the MX port)', async () => {
    const e = await failure(sendRaw({ sending: sending({ port: getStack().ports.mx, useSSL: false, username: '', password: '' }), conn: conn(), envelope: { from: 'organizer@remote.test', to: ['alice@example.test'] }, raw: message(`b${Date.now()}`) }));
    expect(e.findings.map((f) => f.id)).toEqual(['smtp.tls10-refused']);
  });

  it('UseSSL false on a relay that accepts TLS 1.0: encrypted with TLS 1.0, as the server would', async () => {
    const v = getStack().clientVariants;
    const r = await sendRaw({ sending: sending({ port: v.smtpTls10, useSSL: false }), conn: conn(), envelope: { from: 'calendar@example.test', to: ['alice@example.test'] }, raw: message(`b2${Date.now()}`), transcript: true });
    expect(r).toMatchObject({ code: 250, encrypted: true, authenticated: true });
  });

  it('port 465 is refused before any connection', async () => {
    const e = await failure(sendRaw({ sending: sending({ server: '192.0.2.1', port: 465 }), conn: conn(), envelope: { from: 'a@example.test', to: ['b@example.test'] }, raw: message('c') }));
    expect(e.kind).toBe('implicit-tls-port');
    expect(e.message).toMatch(/only speaks STARTTLS/);
    expect(e.hint).toMatch(/587/);
  });

  it('a wrong password: auth, with the server\'s reply and no password', async () => {
    const wrong = 'Wrong-pw-6620-nope';
    const e = await failure(sendRaw({ sending: sending({ password: wrong }), conn: conn(), envelope: { from: 'calendar@example.test', to: ['alice@example.test'] }, raw: message('d'), transcript: true }));
    expect(e.kind).toBe('auth');
    expect(e.reply).toMatch(/^535 /);
    expect(e.message).toMatch(/rejected the user name or password/);
    expect(e.findings.map((f) => f.id)).toEqual(['smtp.auth-failed']);
    expect(leaks(e, [wrong])).toEqual([]);
    expect(e.transcript!.join('\n')).not.toContain(wrong);
  });

  it('an untrusted certificate: certificate, with a --ca-file hint', async () => {
    const e = await failure(sendRaw({ sending: sending(), conn: conn({ ca: undefined }), envelope: { from: 'calendar@example.test', to: ['alice@example.test'] }, raw: message('e') }));
    expect(e.kind).toBe('certificate');
    // The server would send anyway (a warning); the tool stopped before the password and says how to test.
    expect(e.findings.map((f) => [f.id, f.severity])).toEqual([['smtp.certificate-untrusted', 'warning']]);
    expect(e.findings[0]!.message).toMatch(/--ca-file/);
  });

  it('UseSSL true against implicit TLS (SMTPS): a timeout that names the cause', async () => {
    const e = await failure(sendRaw({ sending: sending({ port: getStack().ports.smtps }), conn: conn({ timeoutMs: 1500 }), envelope: { from: 'calendar@example.test', to: ['alice@example.test'] }, raw: message('f') }));
    expect(e.kind).toBe('implicit-tls-port');
    expect(e.message).toMatch(/TLS from the first byte/);
  });

  it('a refused recipient: rejected, with the reply', async () => {
    const e = await failure(sendRaw({ sending: sending(), conn: conn(), envelope: { from: 'calendar@example.test', to: ['nobody@example.test'] }, raw: message('g') }));
    expect(e.kind).toBe('rejected');
    expect(e.reply).toMatch(/^550 /);
  });

  it('nothing listening: connect', async () => {
    const srv = net.createServer();
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as net.AddressInfo).port;
    await new Promise<void>((r) => srv.close(() => r()));
    const e = await failure(sendRaw({ sending: sending({ port }), conn: conn(), envelope: { from: 'a@example.test', to: ['b@example.test'] }, raw: message('h') }));
    expect(e.kind).toBe('connect');
  });

  it('a provider that turned password authentication off (5.7.139): basic-auth-disabled', async () => {
    const srv = net.createServer((sock) => {
      sock.write('220 fake ESMTP\r\n');
      sock.on('data', (d) => {
        for (const line of d.toString('latin1').split('\r\n').filter(Boolean)) {
          if (/^EHLO/i.test(line)) sock.write('250-fake\r\n250 AUTH LOGIN PLAIN\r\n');
          else if (/^AUTH/i.test(line)) sock.write('535 5.7.139 Authentication unsuccessful, basic authentication is disabled.\r\n');
          else if (/^QUIT/i.test(line)) sock.end('221 bye\r\n');
          else sock.write('502 5.5.2 not implemented\r\n');
        }
      });
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    try {
      const port = (srv.address() as net.AddressInfo).port;
      const password = 'Provider-pw-5521-x';
      const e = await failure(sendRaw({ sending: sending({ port, useSSL: false, password }), conn: conn(), envelope: { from: 'a@example.test', to: ['b@example.test'] }, raw: message('j') }));
      expect(e.kind).toBe('basic-auth-disabled');
      expect(e.hint).toMatch(/OAuth2/);
      expect(leaks(e, [password])).toEqual([]);
    } finally {
      srv.close();
    }
  });

  it('no STARTTLS offered while UseSSL is true: refused before AUTH, password never sent', async () => {
    const seen: string[] = [];
    const srv = net.createServer((sock) => {
      sock.write('220 fake ESMTP\r\n');
      sock.on('data', (d) => {
        for (const line of d.toString('latin1').split('\r\n').filter(Boolean)) {
          seen.push(line);
          if (/^EHLO/i.test(line)) sock.write('250-fake\r\n250 AUTH PLAIN LOGIN\r\n');
          else if (/^QUIT/i.test(line)) sock.end('221 bye\r\n');
          else sock.write('502 5.5.2 not implemented\r\n');
        }
      });
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    try {
      const port = (srv.address() as net.AddressInfo).port;
      const e = await failure(sendRaw({ sending: sending({ port }), conn: conn(), envelope: { from: 'a@example.test', to: ['b@example.test'] }, raw: message('i') }));
      expect(e.kind).toBe('starttls-missing');
      expect(seen.some((l) => /^AUTH/i.test(l))).toBe(false);
    } finally {
      srv.close();
    }
  });
});
