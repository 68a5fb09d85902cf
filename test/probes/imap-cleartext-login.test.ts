/**
 * IMAP with UseSSL false on a server that offers neither STARTTLS nor a mechanism Twisted knows:
 * Calendar Server's only way in is LOGIN in clear text, which 4.1, 4.1.1 and 5.0 never send (their
 * IMAP logger raises on Twisted's "Server has no TLS support. logging in over cleartext!" notice:
 * CalendarServer-4.1 twistedcaldav/mail.py and CalendarServer-5.0 imip/inbound.py `IMAPLogger`;
 * twisted-12.0.0/12.3.0 mail/imap4.py `IMAP4Client.__cbLoginCaps`).
 *
 * The server below is a test double: no real server here can be set up that way. Dovecot lists
 * AUTH=PLAIN wherever it would take a clear-text LOGIN, and hides both (LOGINDISABLED) where it
 * would not; its mechanisms cannot be set per address. Servers that take LOGIN without listing any
 * AUTH= (Courier without authmodulelist, some appliances) exist elsewhere. It answers as RFC 3501
 * says: a greeting, then CAPABILITY with no STARTTLS and no AUTH=, and LOGOUT. (A server that
 * also says LOGINDISABLED is the real stack's no-TLS listener: test/probes/mailbox-server-clients.test.ts.)
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ReceivingSettings } from '../../src/config/settings.js';
import { checkLoginPlan } from '../../src/probes/mailbox-login-plan.js';
import { checkServerAccess } from '../../src/probes/server-access.js';
import { StageRunner } from '../../src/net/stage.js';
import { mailClientsFor } from '../../src/server/mail-clients.js';
import { parseServerVersion } from '../../src/server/release.js';

let server: net.Server;
let port = 0;
const received: string[] = [];

/** A server whose CAPABILITY lists `caps`: no STARTTLS, no AUTH=. */
function imapDouble(caps: string): net.Server {
  return net.createServer((s) => {
    s.write(`* OK [CAPABILITY ${caps}] ready\r\n`);
    let buf = '';
    s.on('data', (d) => {
      buf += d.toString('latin1');
      let i: number;
      while ((i = buf.indexOf('\r\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 2);
        received.push(line);
        const [tag, verb] = line.split(' ');
        if (/^capability$/i.test(verb ?? '')) s.write(`* CAPABILITY ${caps}\r\n${tag} OK done\r\n`);
        else if (/^logout$/i.test(verb ?? '')) s.end(`* BYE\r\n${tag} OK bye\r\n`);
        else s.write(`${tag} BAD unexpected\r\n`);
      }
    });
    s.on('error', () => undefined);
  });
}

beforeAll(async () => {
  server = imapDouble('IMAP4rev1 IDLE');
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as net.AddressInfo).port;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

function receiving(): ReceivingSettings {
  return { server: '127.0.0.1', port, useSSL: false, type: 'imap', protocol: 'imap', username: 'calendar@example.test', password: 'Pw-9917-never-sent', pollingSeconds: 30 };
}

async function plan(release: string) {
  const v = parseServerVersion(release);
  const runner = new StageRunner(5000);
  const out = await runner.run('server-login', (s) => checkLoginPlan(receiving(), mailClientsFor(v), v, [{ address: '127.0.0.1', family: 4 }], { timeoutMs: 5000, insecure: false }, s));
  expect(runner.failure).toBeNull();
  return out!;
}

describe('IMAP LOGIN in clear text, by release', () => {
  it('4.1, 4.1.1 and 5.0 never send it', async () => {
    for (const release of ['4.1', '4.1.1', '5.0']) {
      const p = await plan(release);
      expect(p.loginNeverSent, release).toBe(true);
      expect(p.cleartext, release).toBeNull();
      expect(p.steps.at(-1)).toMatch(/^never sent: .* IMAP logger raises on Twisted's notice "Server has no TLS support\. logging in over cleartext!"$/);
    }
  });

  it('2.5, 3.2, 4.2, 5.1 and 9.2 send it, in clear text', async () => {
    for (const release of ['2.5', '3.2', '4.2', '5.1', '9.2']) {
      const p = await plan(release);
      expect([p.loginNeverSent, p.cleartext], release).toEqual([false, 'LOGIN without STARTTLS']);
    }
  });

  it('the check before poll stops there on 5.0, with the log line the server writes', async () => {
    const access = await checkServerAccess(receiving(), { timeoutMs: 5000, insecure: false }, parseServerVersion('5.0'));
    expect(access.serverBlocked).toBe(true);
    expect(access.findings.map((f) => f.id)).toEqual(['mailbox.imap-login-never-sent']);
    expect(access.findings[0]!.message).toMatch(/every poll ends with "IMAP login failed for calendar@example\.test" whatever the password/);
    // The check sends no password, and no LOGIN at all.
    expect(received.some((l) => /LOGIN|Pw-9917/i.test(l))).toBe(false);
  });
});
