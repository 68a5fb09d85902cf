// The POP3 client against the real Dovecot of the project's mail stack (test/mailstack/).
//
// This file starts its own stack (with the harness in test/mailstack/stack.ts) with one user of
// its own, pop3@example.test: the shared stack's mailboxes are seeded, counted and delivered to by
// other test files running in parallel, and these tests purge and count a mailbox, so sharing one
// would make both sides flaky. Tests here run one after another and purge before use.
import { allText, rejection } from '../helpers/errors.js';
import { mkdtempSync } from 'node:fs';
import net from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { Pop3Client, Pop3Error, type Pop3ClientOptions, type TranscriptEntry } from '../../src/clients/pop3/index.js';
import { mailboxCount, purgeMailbox, seedMailbox, startStack, stopStack, type StackInfo } from '../mailstack/stack.js';

const USER = 'pop3@example.test';
const PASSWORD = 'Pop3-pw-5521-secret';
const TIMEOUT = 5000;

let stack: StackInfo;

beforeAll(async () => {
  // The global stack uses offsets 20000 + (pid % 40) * 100; stay clear of those.
  let lastError: unknown;
  for (let attempt = 0; attempt < 4; attempt++) {
    const offset = attempt === 0 ? 30000 + (process.pid % 40) * 100 : 24000 + Math.floor(Math.random() * 60) * 100;
    try {
      stack = await startStack({ dir: mkdtempSync('/tmp/ims.'), portOffset: offset, users: [{ address: USER, password: PASSWORD }] });
      return;
    } catch (err) {
      lastError = err;
    }
  }
  throw lastError;
});

afterAll(async () => {
  if (stack) await stopStack(stack, { remove: process.env.MAILSTACK_KEEP !== '1' });
});

beforeEach(async () => {
  await purgeMailbox(stack, USER);
});

function opts(extra: Partial<Pop3ClientOptions> = {}): Pop3ClientOptions {
  return {
    host: stack.host,
    port: stack.ports.pop3s,
    implicitTls: true,
    ca: stack.caPem,
    rejectUnauthorized: true,
    timeoutMs: TIMEOUT,
    ...extra,
  };
}

const plainPort = (extra: Partial<Pop3ClientOptions> = {}) => opts({ port: stack.ports.pop3, implicitTls: false, ...extra });


function message(i: number, extraBody: string[] = []): string {
  return [
    'From: Organizer <organizer@remote.test>',
    `To: ${USER}`,
    `Subject: message ${i}`,
    `Message-ID: <pop3-${i}-${process.pid}@remote.test>`,
    'Date: Tue, 24 Nov 2026 10:00:00 +0000',
    '',
    `Body of message ${i}.`,
    ...extraBody,
    '',
  ].join('\r\n');
}

const DOTTED = message(0, ['.', '..', '.starts with a dot', '...three', 'middle . dot', '. space', 'end.']);

describe('logging in', () => {
  test('POP3S with USER/PASS: greeting, CAPA, TLS details', async () => {
    const client = await Pop3Client.connect(opts());
    expect(client.greeting).toMatch(/ready/i);
    expect(client.hasApopChallenge).toBe(false);
    expect(client.secure).toBe(true);
    expect(client.stlsUsed).toBe(false);
    const caps = client.capabilities;
    expect(caps).not.toBeNull();
    expect(caps?.stls).toBe(false); // already TLS: Dovecot does not offer STLS on 995
    expect(caps?.user).toBe(true);
    expect(caps?.pipelining).toBe(true);
    expect(caps?.sasl).toEqual(expect.arrayContaining(['PLAIN', 'LOGIN']));
    const tls = client.tls;
    expect(tls).toMatchObject({ via: 'implicit', authorized: true });
    expect(tls?.protocol).toMatch(/^TLSv1\.[23]$/);
    expect(tls?.cipher?.name).toBeTruthy();
    expect(tls?.servername).toBe(net.isIP(stack.host) ? undefined : stack.host); // no SNI for an IP
    expect(tls?.peerCertificate?.subjectAltNames).toEqual(expect.arrayContaining(['IP Address:127.0.0.1', 'DNS:mail.example.test']));
    expect(tls?.peerCertificate?.selfSigned).toBe(true);
    expect(Date.parse(tls?.peerCertificate?.validTo ?? '')).toBeGreaterThan(Date.now());

    expect(await client.login(USER, PASSWORD, { method: 'user' })).toBe('USER');
    expect(client.authMethod).toBe('USER');
    expect(client.connection.state).toBe('transaction');
    expect(await client.stat()).toEqual({ count: 0, size: 0 });
    await client.quit();
  });

  test('POP3S with AUTH PLAIN', async () => {
    const client = await Pop3Client.connect(opts());
    expect(await client.login(USER, PASSWORD, { method: 'plain' })).toBe('AUTH PLAIN');
    expect(await client.stat()).toEqual({ count: 0, size: 0 });
    await client.quit();
  });

  test('the plain port upgrades with STLS (the gateway\'s own order), SNI when a name is given', async () => {
    const transcript: TranscriptEntry[] = [];
    const client = await Pop3Client.connect(plainPort({ servername: 'mail.example.test', onTranscript: (e) => transcript.push(e) }));
    expect(client.secure).toBe(false);
    expect(client.initialCapabilities?.stls).toBe(true);
    expect(await client.login(USER, PASSWORD)).toBe('USER');
    expect(client.stlsUsed).toBe(true);
    expect(client.tls).toMatchObject({ via: 'stls', authorized: true, servername: 'mail.example.test' });
    expect(client.capabilities?.stls).toBe(false);
    const sent = transcript.filter((t) => t.direction === 'client').map((t) => t.text);
    expect(sent.slice(0, 5)).toEqual(['CAPA', 'STLS', 'CAPA', `USER ${USER}`, 'PASS <redacted>']);
    expect(JSON.stringify(transcript)).not.toContain(PASSWORD);
    await client.quit();
  });

  test('the plain port without STLS: Dovecot refuses the cleartext login, and so does the client', async () => {
    // Our own policy first: no APOP, STLS not used, so the password is never sent.
    const careful = await Pop3Client.connect(plainPort());
    const refused = await rejection(careful.login(USER, PASSWORD, { stls: false }), Pop3Error);
    expect(refused.kind).toBe('auth');
    expect(refused.message).toMatch(/refusing to send the password in cleartext/);
    await careful.quit();

    // Forced through: Dovecot (disable_plaintext_auth) refuses it with a clear text.
    const forced = await Pop3Client.connect(plainPort());
    const err = await rejection(forced.login(USER, PASSWORD, { stls: false, allowInsecure: true }), Pop3Error);
    expect(err.kind).toBe('auth');
    expect(err.serverText).toMatch(/Plaintext authentication disallowed on non-secure \(SSL\/TLS\) connections/);
    expect(err.message).toMatch(/POP3 login failed at (USER|PASS): .*Plaintext authentication disallowed/);
    expect(allText(err)).not.toContain(PASSWORD);
    forced.close();
  });

  test('a wrong password: kind auth with Dovecot\'s text, never the password', async () => {
    const wrong = 'Wrong-pw-0000-secret';
    const client = await Pop3Client.connect(opts());
    const err = await rejection(client.login(USER, wrong), Pop3Error);
    expect(err.kind).toBe('auth');
    expect(err.responseCode).toBe('AUTH');
    expect(err.serverText).toBe('Authentication failed.');
    expect(allText(err)).not.toContain(wrong);
    client.close();
  });

  test('a wrong password with AUTH PLAIN', async () => {
    const wrong = 'Wrong-pw-1111-secret';
    const client = await Pop3Client.connect(opts());
    const err = await rejection(client.login(USER, wrong, { method: 'plain' }), Pop3Error);
    expect(err.kind).toBe('auth');
    expect(err.command).toBe('AUTH PLAIN');
    expect(allText(err)).not.toContain(wrong);
    expect(allText(err)).not.toContain(Buffer.from(`\0${USER}\0${wrong}`).toString('base64'));
    client.close();
  });
});

describe('certificates', () => {
  test('POP3S without the CA: not trusted (kind tls)', async () => {
    const err = await rejection(Pop3Client.connect(opts({ ca: undefined })), Pop3Error);
    expect(err.kind).toBe('tls');
    expect(err.code).toMatch(/SELF_SIGNED|UNABLE_TO_VERIFY/);
    expect(err.message).toMatch(/certificate not trusted/);
  });

  test('STLS without the CA: not trusted (kind tls), nothing sent after STLS', async () => {
    const transcript: TranscriptEntry[] = [];
    const client = await Pop3Client.connect(plainPort({ ca: undefined, onTranscript: (e) => transcript.push(e) }));
    const err = await rejection(client.login(USER, PASSWORD), Pop3Error);
    expect(err.kind).toBe('tls');
    expect(err.message).toMatch(/certificate not trusted/);
    expect(transcript.filter((t) => t.direction === 'client').map((t) => t.text)).toEqual(['CAPA', 'STLS']);
  });

  test('a name the certificate does not carry (kind tls)', async () => {
    const err = await rejection(Pop3Client.connect(opts({ servername: 'wrong.example.test' })), Pop3Error);
    expect(err.kind).toBe('tls');
    expect(err.code).toBe('ERR_TLS_CERT_ALTNAME_INVALID');
  });

  test('insecure on request: connects, and says why it would not verify', async () => {
    const client = await Pop3Client.connect(opts({ ca: undefined, rejectUnauthorized: false }));
    expect(client.tls?.authorized).toBe(false);
    expect(client.tls?.authorizationError).toMatch(/SELF_SIGNED/);
    client.close();
  });
});

describe('reading the maildrop', () => {
  test('STAT, LIST, UIDL, TOP and RETR on seeded messages, including lines starting with "."', async () => {
    const raws = [message(1), DOTTED, message(2, ['second line', 'third line'])];
    await seedMailbox(stack, USER, raws);
    const client = await Pop3Client.connect(opts());
    await client.login(USER, PASSWORD);

    const sizes = raws.map((r) => Buffer.byteLength(r));
    expect(await client.stat()).toEqual({ count: 3, size: sizes.reduce((a, b) => a + b, 0) });
    expect(await client.list()).toEqual(sizes.map((size, i) => ({ n: i + 1, size })));
    expect(await client.listOne(2)).toEqual({ n: 2, size: sizes[1] });

    const uids = await client.uidl();
    expect(uids.map((u) => u.n)).toEqual([1, 2, 3]);
    expect(new Set(uids.map((u) => u.uid)).size).toBe(3);
    for (const u of uids) expect(u.uid).toMatch(/^[0-9a-f]{16}$/); // pop3_uidl_format = %08Xu%08Xv: Dovecot 2.3 prints lower-case hex
    expect(await client.uidlOne(3)).toEqual(uids[2]);

    const header = (r: string) => r.slice(0, r.indexOf('\r\n\r\n') + 4);
    expect((await client.top(2, 0)).toString()).toBe(header(DOTTED));
    expect((await client.top(3, 1)).toString()).toBe(`${header(raws[2]!)}Body of message 2.\r\n`);

    for (let n = 1; n <= 3; n++) {
      const chunks: Buffer[] = [];
      const result = await client.retr(n, (c) => chunks.push(c));
      expect(Buffer.concat(chunks).toString()).toBe(raws[n - 1]);
      expect(result.size).toBe(sizes[n - 1]);
    }
    expect((await client.retrBuffer(2)).toString()).toContain('\r\n.\r\n..\r\n.starts with a dot\r\n...three\r\n');

    const missing = await rejection(client.retr(9, () => undefined), Pop3Error);
    expect(missing.kind).toBe('protocol');
    expect(missing.serverText).toBe("There's no message 9.");
    await client.noop(); // still usable after a -ERR
    await client.quit();
  });

  test('pipelined UIDL + TOP over 500 messages equals the one-at-a-time answers', async () => {
    const raws = Array.from({ length: 500 }, (_, i) => message(i, i % 10 === 0 ? ['.dot line', 'x'] : ['x']));
    await seedMailbox(stack, USER, raws);
    const ns = raws.map((_, i) => i + 1);

    const piped = await Pop3Client.connect(opts());
    await piped.login(USER, PASSWORD);
    expect(piped.pipelining).toBe(true);
    const t0 = Date.now();
    const [uidsP, topsP] = await Promise.all([piped.uidl(), piped.topMany(ns, 0)]);
    const pipedMs = Date.now() - t0;
    expect(piped.connection.peakInFlight).toBeGreaterThan(1);
    await piped.quit();

    const serial = await Pop3Client.connect(opts({ pipelining: false }));
    await serial.login(USER, PASSWORD);
    expect(serial.pipelining).toBe(false);
    const t1 = Date.now();
    const uidsS = await serial.uidl();
    const topsS: Buffer[] = [];
    for (const n of ns) topsS.push(await serial.top(n, 0));
    const serialMs = Date.now() - t1;
    expect(serial.connection.peakInFlight).toBe(1);
    await serial.quit();

    expect(uidsP).toHaveLength(500);
    expect(uidsP).toEqual(uidsS);
    expect(topsP.map(String)).toEqual(topsS.map(String));
    expect(String(topsP[499])).toContain('Subject: message 499\r\n');
    // Not asserted (timing), but visible when run with --reporter=verbose and DEBUG_POP3=1.
    if (process.env.DEBUG_POP3) console.log(`500 × TOP: pipelined ${pipedMs} ms, one at a time ${serialMs} ms`);
  });

  test('QUIT without DELE leaves every message; DELE + QUIT removes; DELE without QUIT does not', async () => {
    await seedMailbox(stack, USER, [message(1), message(2), message(3)]);
    expect(await mailboxCount(stack, USER)).toBe(3);

    const reader = await Pop3Client.connect(opts());
    await reader.login(USER, PASSWORD);
    await reader.uidl();
    for (let n = 1; n <= 3; n++) await reader.retrBuffer(n);
    await reader.quit();
    expect(await mailboxCount(stack, USER)).toBe(3);

    const dropped = await Pop3Client.connect(opts());
    await dropped.login(USER, PASSWORD);
    await dropped.dele(1);
    dropped.close(); // no QUIT: the server must not commit the DELE
    await new Promise((r) => setTimeout(r, 200));
    expect(await mailboxCount(stack, USER)).toBe(3);

    const applier = await Pop3Client.connect(opts());
    await applier.login(USER, PASSWORD);
    await applier.dele(1);
    await applier.quit();
    expect(await mailboxCount(stack, USER)).toBe(2);
  });
});

describe('timeouts', () => {
  test('a server that accepts and never answers: timeout within timeoutMs + 1 s', async () => {
    const held: net.Socket[] = [];
    const server = net.createServer((s) => held.push(s));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    try {
      const timeoutMs = 500;
      const started = Date.now();
      const err = await rejection(Pop3Client.connect(opts({ port, implicitTls: false, timeoutMs })), Pop3Error);
      const elapsed = Date.now() - started;
      expect(err.kind).toBe('timeout');
      expect(err.message).toMatch(/POP3 greeting timed out after 0.5 s/);
      expect(elapsed).toBeGreaterThanOrEqual(timeoutMs - 50);
      expect(elapsed).toBeLessThan(timeoutMs + 1000);
    } finally {
      for (const s of held) s.destroy();
      await new Promise((r) => server.close(r));
    }
  });
});
