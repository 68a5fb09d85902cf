// The POP3 client against small scripted servers on 127.0.0.1: behaviour a real Dovecot cannot
// show on demand (APOP, hangs mid-session, STLS injection, servers without STLS or PIPELINING,
// password echoes). The real-server tests are in pop3.test.ts.
import { allText, rejection } from '../helpers/errors.js';
import net from 'node:net';
import { afterEach, describe, expect, test } from 'vitest';
import { Pop3Client, Pop3Error, type TranscriptEntry } from '../../src/clients/pop3/index.js';
import { apopDigest } from '../../src/clients/pop3/commands/apop.js';

const PASSWORD = 'S3cret-pass-word';

interface Fake {
  port: number;
  /** Every line the server received, in order. */
  lines: string[];
  /** Most commands received while earlier ones were still unanswered. */
  maxUnanswered: number;
  close(): Promise<void>;
}

type Reply = string | string[] | null | { raw: string } | { delay: number; reply: Reply };

interface FakeOptions {
  greeting?: string | null;
  capa?: string[] | null;
  /** Answer a command line; return null to stay silent. Default: a tiny maildrop. */
  on?: (line: string, fake: Fake, sock: net.Socket) => Reply | undefined;
  /** Delay every answer by this many ms (to let pipelined commands pile up). */
  delayMs?: number;
}

const servers: net.Server[] = [];
const sockets = new Set<net.Socket>();

afterEach(async () => {
  for (const s of sockets) s.destroy();
  sockets.clear();
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

const MESSAGES = ['Subject: one\r\n\r\nbody one\r\n', 'Subject: two\r\n\r\n.dotted\r\n'];

function stuff(text: string): string {
  return text.replace(/^\./gm, '..');
}

function defaultAnswer(line: string, capa: string[] | null): Reply | undefined {
  const [verb, arg, arg2] = line.split(' ');
  switch ((verb ?? '').toUpperCase()) {
    case 'CAPA':
      return capa ? ['+OK', ...capa, '.'] : '-ERR unknown command';
    case 'USER':
      return '+OK';
    case 'PASS':
      return arg === PASSWORD ? '+OK logged in' : '-ERR [AUTH] Authentication failed.';
    case 'STAT':
      return `+OK ${MESSAGES.length} ${MESSAGES.reduce((n, m) => n + m.length, 0)}`;
    case 'UIDL':
      return ['+OK', ...MESSAGES.map((_, i) => `${i + 1} uid-${i + 1}`), '.'];
    case 'TOP': {
      const m = MESSAGES[Number(arg) - 1];
      if (!m) return '-ERR no such message';
      const header = m.slice(0, m.indexOf('\r\n\r\n') + 4);
      void arg2;
      return ['+OK', stuff(header).replace(/\r\n$/, ''), '.'];
    }
    case 'RETR': {
      const m = MESSAGES[Number(arg) - 1];
      if (!m) return '-ERR no such message';
      return ['+OK', stuff(m).replace(/\r\n$/, ''), '.'];
    }
    case 'NOOP':
      return '+OK';
    case 'QUIT':
      return '+OK bye';
    default:
      return '-ERR unknown command';
  }
}

async function fakeServer(opts: FakeOptions = {}): Promise<Fake> {
  const capa = opts.capa === undefined ? ['TOP', 'UIDL', 'USER', 'PIPELINING'] : opts.capa;
  const fake: Fake = { port: 0, lines: [], maxUnanswered: 0, close: async () => undefined };
  const server = net.createServer((sock) => {
    sockets.add(sock);
    sock.on('error', () => undefined);
    let unanswered = 0;
    let buf = '';
    const send = (reply: Reply, done: () => void): void => {
      if (reply === null) return;
      if (typeof reply === 'object' && 'delay' in reply) {
        setTimeout(() => send(reply.reply, done), reply.delay);
        return;
      }
      if (!sock.destroyed) {
        if (typeof reply === 'object' && 'raw' in reply) sock.write(reply.raw);
        else sock.write((Array.isArray(reply) ? reply : [reply]).map((l) => `${l}\r\n`).join(''));
      }
      done();
      if (reply === '+OK bye') sock.end();
    };
    sock.on('data', (d) => {
      buf += d.toString('latin1');
      let i: number;
      while ((i = buf.indexOf('\r\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 2);
        fake.lines.push(line);
        unanswered++;
        fake.maxUnanswered = Math.max(fake.maxUnanswered, unanswered);
        const custom = opts.on?.(line, fake, sock);
        const reply = custom !== undefined ? custom : defaultAnswer(line, capa);
        const r: Reply = opts.delayMs ? { delay: opts.delayMs, reply: reply ?? null } : (reply ?? null);
        send(r, () => unanswered--);
      }
    });
    const greeting = opts.greeting === undefined ? '+OK fake POP3 ready' : opts.greeting;
    if (greeting !== null) sock.write(`${greeting}\r\n`);
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  fake.port = (server.address() as net.AddressInfo).port;
  return fake;
}

function connect(fake: Fake, extra: Partial<Parameters<typeof Pop3Client.connect>[0]> = {}) {
  return Pop3Client.connect({
    host: '127.0.0.1',
    port: fake.port,
    implicitTls: false,
    rejectUnauthorized: true,
    timeoutMs: 1000,
    ...extra,
  });
}

describe('login policy (the gateway: APOP, else STLS, else no cleartext)', () => {
  test('APOP is used when the greeting has a challenge, even without TLS', async () => {
    const challenge = '<4711.1700000000@fake.test>';
    const fake = await fakeServer({
      greeting: `+OK fake ready ${challenge}`,
      capa: ['TOP', 'UIDL', 'STLS', 'USER'],
      on: (line) => (line.startsWith('APOP ') ? (line === `APOP bob ${apopDigest(challenge, PASSWORD)}` ? '+OK' : '-ERR [AUTH] bad digest') : undefined),
    });
    const client = await connect(fake);
    expect(client.hasApopChallenge).toBe(true);
    expect(client.apopChallenge).toBe(challenge);
    expect(await client.login('bob', PASSWORD)).toBe('APOP');
    expect(client.authMethod).toBe('APOP');
    expect(client.stlsUsed).toBe(false);
    expect(fake.lines.some((l) => l.includes(PASSWORD))).toBe(false);
    await client.quit();
  });

  test('without APOP challenge or STLS the password is not sent in cleartext', async () => {
    const fake = await fakeServer({ capa: ['TOP', 'UIDL', 'USER'] });
    const client = await connect(fake);
    const err = await rejection(client.login('bob', PASSWORD), Pop3Error);
    expect(err.kind).toBe('auth');
    expect(err.message).toMatch(/refusing to send the password in cleartext.*no APOP challenge.*offers no STLS/);
    expect(allText(err)).not.toContain(PASSWORD);
    expect(fake.lines).toEqual(['CAPA']);
    await client.quit();
  });

  test('a server without CAPA: refused too, with the reason', async () => {
    const fake = await fakeServer({ capa: null });
    const client = await connect(fake);
    expect(client.capabilities).toBeNull();
    const err = await rejection(client.login('bob', PASSWORD, { method: 'plain' }), Pop3Error);
    expect(err.message).toMatch(/the server has no CAPA/);
    client.close();
  });

  test('allowInsecure: USER/PASS in cleartext when the caller says so', async () => {
    const fake = await fakeServer({ capa: ['USER'] });
    const client = await connect(fake);
    expect(await client.login('bob', PASSWORD, { allowInsecure: true })).toBe('USER');
    expect(fake.lines).toEqual(['CAPA', 'USER bob', `PASS ${PASSWORD}`, 'CAPA']);
    await client.quit();
  });

  test('a wrong password: kind auth, server text and code, never the password (even if echoed)', async () => {
    const fake = await fakeServer({
      capa: ['USER'],
      on: (line) => (line.startsWith('PASS ') ? `-ERR [AUTH] wrong password ${line.slice(5)} for bob` : undefined),
    });
    const transcript: TranscriptEntry[] = [];
    const client = await connect(fake, { onTranscript: (e) => transcript.push(e) });
    const err = await rejection(client.login('bob', PASSWORD, { allowInsecure: true }), Pop3Error);
    expect(err.kind).toBe('auth');
    expect(err.responseCode).toBe('AUTH');
    expect(err.command).toBe('PASS');
    expect(err.serverText).toBe('wrong password <redacted> for bob');
    expect(allText(err)).not.toContain(PASSWORD);
    expect(transcript.map((t) => t.text)).toContain('PASS <redacted>');
    // The transcript shows server lines as sent; the client's own lines never carry the password.
    expect(transcript.filter((t) => t.direction === 'client').map((t) => t.text).join('\n')).not.toContain(PASSWORD);
    client.close();
  });

  test('AUTH PLAIN waits for the continuation, then sends the credentials', async () => {
    const expected = Buffer.from(`\0bob\0${PASSWORD}`).toString('base64');
    const fake = await fakeServer({
      capa: ['SASL PLAIN'],
      on: (line) => {
        if (line === 'AUTH PLAIN') return '+ ';
        if (line === expected) return '+OK logged in';
        return undefined;
      },
    });
    const transcript: TranscriptEntry[] = [];
    const client = await connect(fake, { onTranscript: (e) => transcript.push(e) });
    expect(await client.login('bob', PASSWORD, { method: 'plain', allowInsecure: true })).toBe('AUTH PLAIN');
    expect(JSON.stringify(transcript)).not.toContain(expected);
    await client.quit();
  });

  test('a CR/LF in the user name is refused before anything is sent', async () => {
    const fake = await fakeServer({ capa: ['USER'] });
    const client = await connect(fake);
    const err = await rejection(client.login('bob\r\nDELE 1', PASSWORD, { allowInsecure: true }), Pop3Error);
    expect(err.kind).toBe('protocol');
    expect(fake.lines).toEqual(['CAPA']);
    client.close();
  });
});

describe('pipelining', () => {
  test('with PIPELINING in CAPA, TOPs go out without waiting, answers match in order', async () => {
    const fake = await fakeServer({ delayMs: 2 });
    const client = await connect(fake);
    await client.login('bob', PASSWORD, { allowInsecure: true });
    expect(client.pipelining).toBe(true);
    const ns = Array.from({ length: 40 }, (_, i) => (i % 2) + 1);
    const tops = await client.topMany(ns, 0);
    expect(tops.map((t) => t.toString())).toEqual(ns.map((n) => (n === 1 ? 'Subject: one\r\n\r\n' : 'Subject: two\r\n\r\n')));
    expect(fake.maxUnanswered).toBeGreaterThan(10);
    expect(client.connection.peakInFlight).toBeGreaterThan(10);
    await client.quit();
  });

  test('without PIPELINING, one command at a time', async () => {
    const fake = await fakeServer({ capa: ['TOP', 'UIDL', 'USER'], delayMs: 2 });
    const client = await connect(fake);
    await client.login('bob', PASSWORD, { allowInsecure: true });
    expect(client.pipelining).toBe(false);
    const tops = await client.topMany([1, 2, 1, 2, 1, 2], 0);
    expect(tops).toHaveLength(6);
    expect(fake.maxUnanswered).toBe(1);
    expect(client.connection.peakInFlight).toBe(1);
    await client.quit();
  });

  test('pipelining: false in the options is honoured', async () => {
    const fake = await fakeServer({ delayMs: 2 });
    const client = await connect(fake, { pipelining: false });
    await client.login('bob', PASSWORD, { allowInsecure: true });
    await client.topMany([1, 2, 1, 2], 0);
    expect(fake.maxUnanswered).toBe(1);
    await client.quit();
  });

  test('a -ERR in a pipelined batch fails only that command', async () => {
    const fake = await fakeServer();
    const client = await connect(fake);
    await client.login('bob', PASSWORD, { allowInsecure: true });
    const results = await Promise.allSettled([client.top(1, 0), client.top(9, 0), client.top(2, 0)]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    const err = (results[1] as PromiseRejectedResult).reason as Pop3Error;
    expect(err.kind).toBe('protocol');
    expect(err.serverText).toBe('no such message');
    expect(err.command).toBe('TOP 9 0');
    await client.quit();
  });
});

describe('streaming RETR', () => {
  test('chunks arrive unstuffed; a throwing consumer fails that RETR only', async () => {
    const fake = await fakeServer();
    const client = await connect(fake);
    await client.login('bob', PASSWORD, { allowInsecure: true });
    expect((await client.retrBuffer(2)).toString()).toBe('Subject: two\r\n\r\n.dotted\r\n');
    const err = await rejection(
      client.retr(1, () => {
        throw new Error('disk full');
      }),
      Pop3Error,
    );
    expect(err.kind).toBe('protocol');
    expect(err.message).toMatch(/disk full/);
    expect(await client.stat()).toEqual({ count: 2, size: MESSAGES[0]!.length + MESSAGES[1]!.length });
    await client.quit();
  });
});

describe('timeouts and failures', () => {
  test('a server that goes silent after login: the command times out within timeoutMs + 1 s', async () => {
    const fake = await fakeServer({ on: (line) => (line === 'STAT' ? null : undefined) });
    const client = await connect(fake, { timeoutMs: 300 });
    await client.login('bob', PASSWORD, { allowInsecure: true });
    const started = Date.now();
    const err = await rejection(client.stat(), Pop3Error);
    const elapsed = Date.now() - started;
    expect(err.kind).toBe('timeout');
    expect(err.command).toBe('STAT');
    expect(err.message).toMatch(/POP3 STAT timed out after 0.3 s/);
    expect(elapsed).toBeGreaterThanOrEqual(250);
    expect(elapsed).toBeLessThan(1300);
    // The connection is dead afterwards: further commands fail at once.
    expect((await rejection(client.noop(), Pop3Error)).kind).toBe('timeout');
  });

  test('a server that stops in the middle of a body times out too', async () => {
    const fake = await fakeServer({ on: (line) => (line === 'RETR 1' ? { raw: '+OK\r\npart of a line' } : undefined) });
    const client = await connect(fake, { timeoutMs: 300 });
    await client.login('bob', PASSWORD, { allowInsecure: true });
    const chunks: Buffer[] = [];
    const err = await rejection(client.retr(1, (c) => chunks.push(c)), Pop3Error);
    expect(err.kind).toBe('timeout');
    expect(Buffer.concat(chunks).toString()).toBe('part of a line');
  });

  test('implicit TLS to a server that never answers the handshake: timeout', async () => {
    // Silent in every way: the ClientHello is random bytes and may hold a CR LF, which the
    // line-based fake would otherwise answer with a plain-text -ERR (a TLS error, not a stall).
    const fake = await fakeServer({ greeting: null, on: () => null });
    const started = Date.now();
    const err = await rejection(connect(fake, { implicitTls: true, timeoutMs: 300 }), Pop3Error);
    expect(err.kind).toBe('timeout');
    expect(err.message).toMatch(/POP3 TLS handshake timed out after 0.3 s/);
    expect(Date.now() - started).toBeLessThan(1300);
  });

  test('the server closes mid-session: kind closed, naming the command', async () => {
    const fake = await fakeServer({
      on: (line, _f, sock) => {
        if (line === 'RETR 1') {
          sock.end('+OK\r\nhalf a mess');
          return null;
        }
        return undefined;
      },
    });
    const client = await connect(fake);
    await client.login('bob', PASSWORD, { allowInsecure: true });
    const err = await rejection(client.retr(1, () => undefined), Pop3Error);
    expect(err.kind).toBe('closed');
    expect(err.message).toMatch(/closed the connection while waiting for the answer to RETR 1/);
  });

  test('nothing listening: kind connect', async () => {
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    await new Promise((r) => server.close(r));
    const err = await rejection(
      Pop3Client.connect({ host: '127.0.0.1', port, implicitTls: false, rejectUnauthorized: true, timeoutMs: 1000 }),
      Pop3Error,
    );
    expect(err.kind).toBe('connect');
    expect(err.code).toBe('ECONNREFUSED');
  });

  test('a greeting that is not POP3 (an IMAP server on the port): protocol error', async () => {
    const fake = await fakeServer({ greeting: '* OK [CAPABILITY IMAP4rev1] ready' });
    const err = await rejection(connect(fake), Pop3Error);
    expect(err.kind).toBe('protocol');
    expect(err.message).toMatch(/not a POP3 status line/);
  });

  test('a -ERR greeting: kind connect with the server text', async () => {
    const fake = await fakeServer({ greeting: '-ERR [SYS/TEMP] too many connections' });
    const err = await rejection(connect(fake), Pop3Error);
    expect(err.kind).toBe('connect');
    expect(err.responseCode).toBe('SYS/TEMP');
    expect(err.serverText).toBe('too many connections');
  });

  test('STLS answered together with injected plaintext: refused before TLS', async () => {
    const fake = await fakeServer({
      capa: ['STLS', 'USER'],
      on: (line) => (line === 'STLS' ? { raw: '+OK begin TLS\r\n+OK injected\r\n' } : undefined),
    });
    const client = await connect(fake);
    const err = await rejection(client.login('bob', PASSWORD), Pop3Error);
    expect(err.kind).toBe('protocol');
    expect(err.message).toMatch(/possible injection/);
    expect(fake.lines).toEqual(['CAPA', 'STLS']);
  });

  test('STLS refused by the server: kind tls, and no password sent', async () => {
    const fake = await fakeServer({ capa: ['STLS', 'USER'], on: (line) => (line === 'STLS' ? '-ERR TLS not available' : undefined) });
    const client = await connect(fake);
    const err = await rejection(client.login('bob', PASSWORD), Pop3Error);
    expect(err.kind).toBe('tls');
    expect(err.serverText).toBe('TLS not available');
    expect(fake.lines).toEqual(['CAPA', 'STLS']);
    client.close();
  });
});

describe('QUIT', () => {
  test('quit() sends QUIT (never DELE) and closes; later commands fail as closed', async () => {
    const fake = await fakeServer();
    const client = await connect(fake);
    await client.login('bob', PASSWORD, { allowInsecure: true });
    await client.uidl();
    await client.quit();
    expect(fake.lines.filter((l) => /^DELE/i.test(l))).toEqual([]);
    expect(fake.lines.at(-1)).toBe('QUIT');
    expect(client.connection.state).toBe('closed');
    expect((await rejection(client.stat(), Pop3Error)).kind).toBe('closed');
    await client.quit(); // idempotent
  });
});
