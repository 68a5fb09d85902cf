/**
 * How Calendar Server's own IMAP or POP3 client would log in on a clear receiving port
 * (`Receiving.UseSSL` false), checked on a connection of its own before the mailbox session:
 * which step sends the password in clear text, and whether the TLS 1.0 that Twisted's own
 * STARTTLS/STLS offers is accepted. Sends no credentials.
 *
 * IMAP (src/server/mail-clients.ts, twisted imap4.py `IMAP4Client.__cbAuthenticate`,
 * `__cbLoginCaps`): AUTHENTICATE with the first mechanism of the server's AUTH= list that Twisted
 * knows, before TLS; none known: STARTTLS (TLS 1.0 only) and again; that failing: LOGIN, after
 * STARTTLS when offered, else in clear text.
 * POP3 (twisted pop3client.py `POP3Client._login`): APOP with a greeting challenge; else STLS
 * (TLS 1.0 only) when offered, then USER/PASS; else no login at all.
 */
import type net from 'node:net';
import type { ConnectOptions, ReceivingSettings } from '../config/settings.js';
import { StageError, connectTcp, loadCaPem, tlsHandshake, toStageError, type ResolvedAddress, type StageScope } from '../net/net-stage.js';
import type { MailClients } from '../server/mail-clients.js';
import { featuresOf, type ServerVersion } from '../server/release.js';
import { tlsInfo, type TlsInfo } from '../net/tls-info.js';
import { upgradeRefused } from './upgrade-refused.js';

export interface LoginPlan {
  /** The steps the server's client takes here, in words. */
  steps: string[];
  /** The step that sends the password in clear text, if any. */
  cleartext: string | null;
  /** Whether the server's client starts TLS (1.0 only) itself, and how that went. */
  tls10: 'not-used' | 'accepted' | 'refused';
  /** POP3: no APOP, no STLS; the server refuses to log in. */
  noLogin: boolean;
  /**
   * IMAP on 4.1, 4.1.1 and 5.0 (release.ts `imapCleartextLoginRaises`): the server's only way in
   * here is LOGIN in clear text, which those releases never send.
   */
  loginNeverSent: boolean;
  /**
   * IMAP: the server's only way in here is LOGIN in clear text, and the server says LOGINDISABLED
   * (RFC 3501 7.2.1): Twisted's `__cbLoginCaps` sends it anyway and it is refused.
   */
  loginRefused: boolean;
  /** The certificate seen on the server's own TLS 1.0 upgrade, when it got through. */
  tls?: TlsInfo;
}

/** Reads CRLF lines from a socket; `onLine` hears of each as it arrives. */
function lineReader(socket: net.Socket, signal: AbortSignal, onLine: () => void): () => Promise<string> {
  let buf = '';
  const queue: string[] = [];
  let waiter: ((l: string) => void) | null = null;
  let failer: ((e: Error) => void) | null = null;
  const fail = (e: Error): void => {
    failer?.(e);
    waiter = null;
    failer = null;
  };
  socket.on('data', (d: Buffer) => {
    buf += d.toString('latin1');
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i).replace(/\r$/, '');
      buf = buf.slice(i + 1);
      onLine();
      if (waiter) {
        const w = waiter;
        waiter = null;
        failer = null;
        w(line);
      } else queue.push(line);
    }
  });
  socket.on('close', () => fail(new StageError('closed', 'the server closed the connection')));
  signal.addEventListener('abort', () => fail(signal.reason instanceof Error ? signal.reason : new StageError('timeout', 'aborted')), { once: true });
  return () => {
    const q = queue.shift();
    if (q !== undefined) return Promise.resolve(q);
    return new Promise((resolve, reject) => {
      waiter = resolve;
      failer = reject;
    });
  };
}

async function untilTagged(read: () => Promise<string>, tag: string): Promise<{ untagged: string[]; done: string }> {
  const untagged: string[] = [];
  for (;;) {
    const l = await read();
    if (l.startsWith(`${tag} `)) return { untagged, done: l };
    untagged.push(l);
  }
}

async function upgrade10(socket: net.Socket, host: string, opts: ConnectOptions, scope: StageScope, plan: LoginPlan): Promise<'accepted' | 'refused'> {
  socket.removeAllListeners('data');
  socket.removeAllListeners('close');
  const pem = loadCaPem(opts);
  try {
    const secure = await tlsHandshake({ socket, host, ...(pem ? { pem } : {}), versions: 'tls1.0-only', signal: scope.signal });
    scope.evidence.tls10 = secure.getProtocol();
    plan.tls = tlsInfo(secure, { host, insecure: opts.insecure, caGiven: !!(opts.ca || opts.caFile) });
    setImmediate(() => secure.destroy());
    return 'accepted';
  } catch (err) {
    if (scope.signal.aborted) throw err;
    scope.evidence.tls10Error = toStageError(err).message;
    return 'refused';
  }
}

export async function checkLoginPlan(
  receiving: ReceivingSettings,
  clients: MailClients,
  version: ServerVersion,
  addresses: ResolvedAddress[],
  opts: ConnectOptions,
  scope: StageScope,
): Promise<LoginPlan> {
  const host = receiving.server.trim();
  const socket = await connectTcp({ host, port: receiving.port }, addresses, scope);
  // Several round trips in one stage: the limit bounds each answer (the server's silence), as on
  // every other step, not their sum.
  scope.progress();
  const read = lineReader(socket, scope.signal, () => scope.progress());
  const send = (l: string): void => {
    socket.write(`${l}\r\n`);
  };
  const plan: LoginPlan = { steps: [], cleartext: null, tls10: 'not-used', noLogin: false, loginNeverSent: false, loginRefused: false };
  const loginRaises = featuresOf(version).imapCleartextLoginRaises;
  try {
    if (receiving.protocol === 'pop3') {
      const greeting = await read();
      const apop = /<[^>]+@[^>]+>/.test(greeting);
      send('CAPA');
      const first = await read();
      const caps: string[] = [];
      if (first.startsWith('+OK')) for (let l = await read(); l !== '.'; l = await read()) caps.push(l.trim().toUpperCase());
      scope.evidence.capabilities = caps;
      if (apop) {
        plan.steps.push('APOP (the password itself is not sent)');
      } else if (caps.some((c) => c === 'STLS')) {
        plan.steps.push(`STLS, offering ${clients.pop3.stls.versions === 'tls1.0-only' ? 'TLS 1.0 only' : 'current TLS'}`, 'USER/PASS over TLS');
        send('STLS');
        const ok = await read();
        if (!ok.startsWith('+OK')) throw upgradeRefused('STLS', ok, { steps: plan.steps });
        plan.tls10 = await upgrade10(socket, host, opts, scope, plan);
      } else {
        plan.steps.push('no APOP and no STLS: Calendar Server refuses to send USER/PASS in clear text and does not log in');
        plan.noLogin = true;
      }
    } else {
      await read(); // greeting
      send('a CAPABILITY');
      const { untagged } = await untilTagged(read, 'a');
      const capLine = untagged.find((l) => /^\* CAPABILITY /i.test(l)) ?? '';
      const caps = capLine.replace(/^\* CAPABILITY /i, '').toUpperCase().split(/\s+/).filter(Boolean);
      scope.evidence.capabilities = caps;
      const auths = caps.filter((c) => c.startsWith('AUTH=')).map((c) => c.slice(5));
      const known = auths.find((m) => (clients.imap.known as readonly string[]).includes(m));
      if (known) {
        plan.steps.push(`AUTHENTICATE ${known} before TLS`);
        if (known !== 'CRAM-MD5') plan.cleartext = `AUTHENTICATE ${known} before TLS`;
        if (loginRaises && !caps.includes('STARTTLS')) {
          plan.steps.push(`if AUTHENTICATE is refused, the LOGIN that follows is never sent (${version.text}'s IMAP logger raises first)`);
        }
      } else if (caps.includes('STARTTLS')) {
        plan.steps.push(
          `no mechanism it knows in the server's list before TLS: STARTTLS, offering ${clients.imap.starttls.versions === 'tls1.0-only' ? 'TLS 1.0 only' : 'current TLS'}`,
          'AUTHENTICATE (or LOGIN) over TLS',
        );
        send('b STARTTLS');
        const { done } = await untilTagged(read, 'b');
        if (!/^b OK/i.test(done)) throw upgradeRefused('STARTTLS', done.replace(/^b /, ''), { steps: plan.steps });
        plan.tls10 = await upgrade10(socket, host, opts, scope, plan);
      } else if (loginRaises) {
        plan.steps.push(
          'LOGIN in clear text (no STARTTLS offered)',
          `never sent: ${version.text}'s IMAP logger raises on Twisted's notice "Server has no TLS support. logging in over cleartext!"`,
        );
        plan.loginNeverSent = true;
      } else if (caps.includes('LOGINDISABLED')) {
        // twisted imap4.py `__cbLoginCaps` does not look at LOGINDISABLED: the LOGIN goes, in clear.
        // Its finding says the password goes in clear: no second one for that.
        plan.steps.push('LOGIN in clear text (no STARTTLS offered)', 'refused: the server says LOGINDISABLED');
        plan.loginRefused = true;
      } else {
        plan.steps.push('LOGIN in clear text (no STARTTLS offered)');
        plan.cleartext = 'LOGIN without STARTTLS';
      }
    }
  } finally {
    // Closed here unless the TLS upgrade went through (its TLS socket is closed then): a server that
    // keeps the connection open after a failed step would otherwise keep the process alive.
    if (plan.tls10 !== 'accepted') {
      socket.on('error', () => undefined);
      socket.destroy();
    }
  }
  scope.evidence.calendarServerSteps = plan.steps;
  return plan;
}
