/**
 * Passwords never leave the tool, even when a server quotes back what it was sent: the password
 * itself, and the base64 blobs that carry it (SASL PLAIN "\0user\0password", HTTP Basic
 * "user:password"), which do not contain the password's own base64.
 */
import net from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import type { ReceivingSettings } from '../../src/config/settings.js';
import { ImapReader } from '../../src/mailbox/imap-reader.js';
import { Redactor } from '../../src/net/net-stage.js';

const PASSWORD = 'Cal-pw-4412-secret';
const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');

describe('Redactor', () => {
  const r = new Redactor([PASSWORD]);

  it('masks the password, and any base64 run that holds it', () => {
    expect(r.text(`NO you said ${PASSWORD}`)).toBe('NO you said <redacted>');
    const plain = b64(`\0calendar@example.test\0${PASSWORD}`);
    // Not a substring match: the password's own base64 is not inside the PLAIN blob.
    expect(plain.includes(b64(PASSWORD).replace(/=+$/, ''))).toBe(false);
    expect(r.text(`535 5.7.8 you said AUTH PLAIN ${plain}`)).toBe('535 5.7.8 you said AUTH PLAIN <redacted>');
    expect(r.text(`Authorization: Basic ${b64(`com.apple.calendarserver:${PASSWORD}`)}`)).toBe('Authorization: Basic <redacted>');
    // Glued to base64-like text before it (no separator), whatever the offset.
    for (const glue of ['x', 'ab', 'path/', 'abc/x']) expect(r.text(`${glue}${plain}`), glue).toBe('<redacted>');
  });

  it('leaves other base64 alone', () => {
    const other = b64('\0calendar@example.test\0another-password');
    expect(r.text(`AUTH PLAIN ${other}`)).toBe(`AUTH PLAIN ${other}`);
    expect(new Redactor([]).text(`AUTH PLAIN ${b64(`\0u\0${PASSWORD}`)}`)).toContain('AUTH PLAIN A');
  });
});

describe('a mailbox server that quotes the login back', () => {
  const sockets = new Set<net.Socket>();
  // No real IMAP server echoes the SASL blob; this one answers the AUTHENTICATE PLAIN line with
  // a NO that quotes it, as a misbehaving proxy might.
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('error', () => undefined);
    s.write('* OK echo ready\r\n');
    let buf = '';
    let continued: string | null = null;
    s.on('data', (d) => {
      buf += d.toString('latin1');
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i).replace(/\r$/, '');
        buf = buf.slice(i + 1);
        if (continued) {
          s.write(`${continued} NO you said ${line}\r\n`);
          continued = null;
          continue;
        }
        const [tag, cmd] = line.split(' ');
        const c = (cmd ?? '').toUpperCase();
        if (c === 'CAPABILITY') s.write(`* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n${tag} OK done\r\n`);
        else if (c === 'AUTHENTICATE') {
          continued = tag!;
          s.write('+ \r\n');
        } else if (c === 'LOGIN') s.write(`${tag} NO you said ${line}\r\n`);
        else if (c === 'LOGOUT') s.end(`* BYE\r\n${tag} OK bye\r\n`);
        else s.write(`${tag} BAD what\r\n`);
      }
    });
  });
  afterAll(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });

  it('the reader\'s error, shown by poll and diagnose as it is, never holds the password', async () => {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    const receiving: ReceivingSettings = { server: '127.0.0.1', port, useSSL: false, type: 'imap', protocol: 'imap', username: 'calendar@example.test', password: PASSWORD, pollingSeconds: 30 };
    const err = await ImapReader.open(receiving, { timeoutMs: 3000, insecure: false }, { readOnly: true }).then(
      () => null,
      (e: unknown) => e as Error,
    );
    expect(err?.message).toMatch(/the server rejected the login: you said .*<redacted>/);
    expect(err?.message).not.toContain(b64(`\0calendar@example.test\0${PASSWORD}`));
    expect(err?.message).not.toContain(PASSWORD);
  });
});
