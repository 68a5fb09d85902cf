/**
 * The probe behind `imip test-smtp`: a small SMTP client on node:net/node:tls so every step is a
 * visible stage, judged the way Calendar Server's sender behaves (calendarserver-imip.md §2.7):
 * plain TCP, then STARTTLS required when `UseSSL` is true, never TLS from the first byte; AUTH
 * with CRAM-MD5, LOGIN or PLAIN (Twisted's order) when `Sending.Username` is set.
 *
 * resolve → connect → greeting → ehlo → starttls → ehlo-tls → auth → mail-from → rcpt-to → data → quit
 */
import { createHmac, randomBytes } from 'node:crypto';
import type net from 'node:net';
import { hostname } from 'node:os';
import type tls from 'node:tls';
import type { ConnectOptions, SendingSettings } from '../config/settings.js';
import type { Finding } from '../report/finding.js';
import {
  Redactor,
  StageError,
  StageRunner,
  checkPort,
  connectTcp,
  loadCa,
  resolveHost,
  sniffDelay,
  tlsHandshake,
  toStageError,
  waitExplainingSilence,
  type ResolvedAddress,
  type StageScope,
} from '../net/net-stage.js';
import { finishReport, maybeInsecure, type ProbeReport } from './probe-report.js';
import { tlsInfo, type TlsInfo } from '../net/tls-info.js';

export interface SmtpProbeOptions extends ConnectOptions {
  /** Send a short test message to this address (MAIL FROM is `Sending.Address`). */
  sendTo?: string;
  /** Name given in EHLO; defaults to this machine's host name. */
  heloName?: string;
}

const CONFIG = 'Scheduling.iMIP.Sending';
/** Twisted's ESMTPSender registers its authenticators in this order and uses the first offered. */
const SERVER_MECHANISMS = ['CRAM-MD5', 'LOGIN', 'PLAIN'] as const;
type Mechanism = (typeof SERVER_MECHANISMS)[number];

// ---------------------------------------------------------------------------------------------
// Wire: replies, commands, transcript

export interface SmtpReply {
  code: number;
  /** Text of each line, without the code. */
  lines: string[];
  /** The lines joined with a space. */
  text: string;
  /** RFC 3463 enhanced status code, such as `5.7.8`, when the reply starts with one. */
  enhanced?: string;
}

const MAX_LINE = 8192;

/** Reads replies from whichever socket carries the session; writes commands; keeps a transcript. */
class SmtpWire {
  private socket: net.Socket;
  private buf = '';
  private partial: string[] = [];
  private partialCode = 0;
  private readonly replies: SmtpReply[] = [];
  private waiter: { resolve: (r: SmtpReply) => void; reject: (e: Error) => void } | null = null;
  private broken: StageError | null = null;

  constructor(
    socket: net.Socket,
    readonly transcript: string[],
  ) {
    this.socket = socket;
    this.attach(socket);
  }

  private readonly onData = (chunk: Buffer): void => {
    if (!this.buf && !this.replies.length && !this.partial.length && chunk.length && !looksTextual(chunk)) {
      this.fail(
        new StageError('protocol', 'the server answered with binary data, not an SMTP greeting', {
          hint: 'The port seems to speak TLS from the first byte or another protocol; check Sending.Port.',
        }),
      );
      return;
    }
    this.buf += chunk.toString('latin1');
    let nl: number;
    while ((nl = this.buf.indexOf('\n')) >= 0) {
      const line = this.buf.slice(0, nl).replace(/\r$/, '');
      this.buf = this.buf.slice(nl + 1);
      this.line(line);
    }
    if (this.buf.length > MAX_LINE) this.fail(new StageError('protocol', 'the server sent a line longer than 8 KB'));
  };

  private readonly onClose = (): void => {
    this.fail(new StageError('closed', 'the server closed the connection'));
  };

  private readonly onError = (err: Error): void => {
    this.fail(toStageError(err));
  };

  private line(line: string): void {
    this.transcript.push(`S: ${line}`);
    const m = /^(\d{3})([ -]?)(.*)$/.exec(line);
    if (!m) {
      this.fail(protocolError(line));
      return;
    }
    const code = Number(m[1]);
    if (this.partial.length && code !== this.partialCode) {
      this.fail(new StageError('protocol', `the server mixed reply codes in one reply (${this.partialCode} then ${code})`));
      return;
    }
    this.partialCode = code;
    this.partial.push(m[3] ?? '');
    if (m[2] !== '-') {
      const lines = this.partial;
      this.partial = [];
      const text = lines.join(' ').trim();
      const enh = /^([245]\.\d{1,3}\.\d{1,3})\b/.exec(lines[0] ?? '');
      const reply: SmtpReply = { code, lines, text, ...(enh ? { enhanced: enh[1] } : {}) };
      if (this.waiter) {
        const w = this.waiter;
        this.waiter = null;
        w.resolve(reply);
      } else {
        this.replies.push(reply);
      }
    }
  }

  private fail(err: StageError): void {
    if (this.broken) return;
    this.broken = err;
    this.detach();
    this.socket.destroy();
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = null;
      w.reject(err);
    }
  }

  private attach(socket: net.Socket): void {
    socket.on('data', this.onData);
    socket.on('close', this.onClose);
    socket.on('error', this.onError);
  }

  detach(): void {
    this.socket.off('data', this.onData);
    this.socket.off('close', this.onClose);
    this.socket.off('error', this.onError);
  }

  /** Data received but not yet consumed (must be none right after the STARTTLS reply). */
  hasUnread(): boolean {
    return this.buf.length > 0 || this.replies.length > 0 || this.partial.length > 0;
  }

  read(signal: AbortSignal): Promise<SmtpReply> {
    const queued = this.replies.shift();
    if (queued) return Promise.resolve(queued);
    if (this.broken) return Promise.reject(this.broken);
    return new Promise((resolve, reject) => {
      const onAbort = (): void => {
        this.waiter = null;
        reject(signal.reason instanceof Error ? signal.reason : new StageError('timeout', 'aborted'));
      };
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiter = {
        resolve: (r) => {
          signal.removeEventListener('abort', onAbort);
          resolve(r);
        },
        reject: (e) => {
          signal.removeEventListener('abort', onAbort);
          reject(e);
        },
      };
    });
  }

  /** Writes one command line; `shown` replaces it in the transcript (credentials). */
  send(line: string, shown?: string): void {
    if (this.broken) throw this.broken;
    this.transcript.push(`C: ${shown ?? line}`);
    this.socket.write(`${line}\r\n`);
  }

  async command(line: string, signal: AbortSignal, shown?: string): Promise<SmtpReply> {
    this.send(line, shown);
    return this.read(signal);
  }

  /** Raw bytes (the message body), not shown line by line. */
  writeRaw(data: string, shown: string): void {
    if (this.broken) throw this.broken;
    this.transcript.push(`C: ${shown}`);
    this.socket.write(data);
  }

  /** Continues the session on the TLS socket that now wraps the old one. */
  upgrade(secure: tls.TLSSocket): void {
    this.detach();
    this.socket = secure;
    this.attach(secure);
    this.transcript.push('-- TLS established --');
  }

  get current(): net.Socket {
    return this.socket;
  }

  close(): void {
    this.detach();
    this.socket.on('error', () => undefined);
    this.socket.destroy();
  }
}

function looksTextual(chunk: Buffer): boolean {
  const n = Math.min(chunk.length, 32);
  let ok = 0;
  for (let i = 0; i < n; i++) {
    const b = chunk[i]!;
    if ((b >= 0x20 && b < 0x7f) || b === 0x0d || b === 0x0a || b === 0x09) ok++;
  }
  return ok / n > 0.9;
}

function protocolError(line: string): StageError {
  const shown = line.slice(0, 120);
  let hint = 'Check Sending.Server and Sending.Port: this port does not speak SMTP.';
  if (/^\* (OK|PREAUTH|BYE)/i.test(line)) hint = 'This is an IMAP server; Sending.Port must be the SMTP submission port (usually 587).';
  else if (/^[+-](OK|ERR)/i.test(line)) hint = 'This is a POP3 server; Sending.Port must be the SMTP submission port (usually 587).';
  else if (/^HTTP\//i.test(line) || /^SSH-/i.test(line)) hint = 'This port runs another service; Sending.Port must be the SMTP submission port (usually 587).';
  return new StageError('protocol', `the server's answer is not SMTP: "${shown}"`, { hint });
}

function replyText(r: SmtpReply): string {
  return `${r.code} ${r.text}`.trim();
}

// ---------------------------------------------------------------------------------------------
// EHLO extensions

export interface SmtpExtensions {
  /** Keyword → parameters, keywords upper-cased. */
  keywords: Map<string, string>;
  /** AUTH mechanisms, upper-cased, in the server's order. */
  auth: string[];
  starttls: boolean;
}

export function parseEhlo(reply: SmtpReply): SmtpExtensions {
  const keywords = new Map<string, string>();
  const auth: string[] = [];
  for (const line of reply.lines.slice(1)) {
    const m = /^([A-Za-z0-9][A-Za-z0-9-]*)(?:[ =](.*))?$/.exec(line.trim());
    if (!m) continue;
    const key = m[1]!.toUpperCase();
    const params = (m[2] ?? '').trim();
    keywords.set(key, params);
    if (key === 'AUTH') for (const mech of params.split(/\s+/)) if (mech && !auth.includes(mech.toUpperCase())) auth.push(mech.toUpperCase());
  }
  return { keywords, auth, starttls: keywords.has('STARTTLS') };
}

function extensionEvidence(ext: SmtpExtensions): Record<string, unknown> {
  return {
    extensions: [...ext.keywords.entries()].map(([k, v]) => (v ? `${k} ${v}` : k)),
    authMechanisms: ext.auth,
    starttls: ext.starttls,
    ...(ext.keywords.has('SIZE') && ext.keywords.get('SIZE') ? { maxSize: Number(ext.keywords.get('SIZE')) } : {}),
  };
}

// ---------------------------------------------------------------------------------------------
// Reply classification

const BASIC_AUTH_DISABLED = [/\b5\.7\.30\b/, /\b5\.7\.139\b/, /application-specific password required/i, /basic authentication/i];

export function isBasicAuthDisabled(text: string): boolean {
  return BASIC_AUTH_DISABLED.some((re) => re.test(text));
}

const OAUTH_ONLY_HINT =
  'The provider has turned off password ("basic") authentication, and Calendar Server cannot do OAuth2. Use an app password ' +
  '(Google and Microsoft accounts with 2-step verification), another SMTP relay that accepts passwords, or a local OAuth proxy ' +
  'such as email-oauth2-proxy that Calendar Server logs in to with a password.';

function authFailure(r: SmtpReply, mech: string): StageError {
  const text = replyText(r);
  const evidence = { reply: text, mechanism: mech };
  if (isBasicAuthDisabled(text)) {
    return new StageError('basic-auth-disabled', `the provider refused password authentication: ${text}`, { hint: OAUTH_ONLY_HINT, evidence });
  }
  if (r.code === 535 || r.enhanced === '5.7.8' || r.code === 534 && /invalid|incorrect|bad/i.test(text)) {
    return new StageError('auth', `the server rejected the user name or password (${text})`, {
      hint:
        'Check Sending.Username and Sending.Password (many providers want the full address as user name). ' +
        'On macOS, Calendar Server may take the password from the keychain account "<Username>@<Server>" instead of the plist.',
      evidence,
    });
  }
  if (r.code === 538 || r.enhanced === '5.7.11') {
    return new StageError('auth-not-offered', `the server requires an encrypted connection for ${mech} (${text})`, {
      hint: 'Set Sending.UseSSL to true so Calendar Server starts TLS (STARTTLS) before AUTH.',
      evidence,
    });
  }
  if (r.code >= 400 && r.code < 500) {
    return new StageError('rejected', `the server could not authenticate right now (${text})`, {
      hint: 'A temporary failure on the server (its authentication backend); try again, and read the server\'s log.',
      evidence,
    });
  }
  return new StageError('auth', `authentication failed (${text})`, {
    hint: 'Check Sending.Username and Sending.Password, and whether the account may use SMTP AUTH.',
    evidence,
  });
}

function rejected(step: string, r: SmtpReply, hint?: string): StageError {
  return new StageError('rejected', `the server refused ${step}: ${replyText(r)}`, {
    evidence: { reply: replyText(r) },
    ...(hint ? { hint } : {}),
  });
}

/** A queue id from a final DATA reply: Postfix "queued as X", Exchange/others "<id>", Gmail "OK <t> <id> - gsmtp". */
export function queueIdOf(text: string): string | undefined {
  const patterns = [
    /queued as\s+([A-Za-z0-9._-]+)/i,
    /\bid=([A-Za-z0-9._-]+)/i,
    /^(?:2\.\d\.\d\s+)?<([^>\s]+)>/,
    /\bOK\s+\d+\s+(\S+)\s+-\s+gsmtp/i,
    /^(?:2\.\d\.\d\s+)?(?:Ok|OK)[:\s]+(?:queued\s+)?([A-Za-z0-9]{6,})\b/,
  ];
  for (const re of patterns) {
    const m = re.exec(text.trim());
    if (m) return m[1];
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// The message

function rfc2822Date(d = new Date()): string {
  const days = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${days[d.getUTCDay()]}, ${d.getUTCDate()} ${months[d.getUTCMonth()]} ${d.getUTCFullYear()} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}

export function testMessage(from: string, to: string, helo: string): { text: string; messageId: string } {
  const domain = from.includes('@') ? from.slice(from.lastIndexOf('@') + 1) : helo;
  const messageId = `<imip-test-smtp.${Date.now().toString(36)}.${randomBytes(6).toString('hex')}@${domain || 'localhost'}>`;
  const lines = [
    `Date: ${rfc2822Date()}`,
    `Message-ID: ${messageId}`,
    `From: ${from}`,
    `To: ${to}`,
    'Subject: imip test-smtp: test message',
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=us-ascii',
    'Content-Transfer-Encoding: 7bit',
    'Auto-Submitted: auto-generated',
    '',
    'This is a test message sent by "imip test-smtp" with the SMTP settings of',
    `Calendar Server's iMIP mail gateway (Scheduling.iMIP.Sending), from ${helo}.`,
    'It needs no answer.',
  ];
  // Dot-stuffing (RFC 5321 4.5.2), CRLF line ends, and the end-of-data line.
  const text = lines.map((l) => (l.startsWith('.') ? `.${l}` : l)).join('\r\n') + '\r\n.\r\n';
  return { text, messageId };
}

// ---------------------------------------------------------------------------------------------
// The probe

export async function probeSmtp(sending: SendingSettings, opts: SmtpProbeOptions): Promise<ProbeReport> {
  const redactor = new Redactor([sending.password]);
  const runner = new StageRunner(opts.timeoutMs, redactor);
  const transcript: string[] = [];
  const findings: Finding[] = [];
  const host = sending.server.trim();
  const port = sending.port;
  const endpoint = { host, port };
  const helo = opts.heloName?.trim() || hostname() || 'localhost';
  let wire: SmtpWire | null = null;
  // Assigned inside stage callbacks; a holder keeps TypeScript from narrowing it to null.
  const seen: { tls: TlsInfo | null } = { tls: null };
  let addresses: ResolvedAddress[] | undefined;
  let connectedTo: string | undefined;

  try {
    addresses = await runner.run('resolve', (s) => resolveHost(host, s, `${CONFIG}.Server`));

    const socket = await runner.run('connect', async (s) => {
      checkPort(port, `${CONFIG}.Port`, 'usually 587 (submission with STARTTLS) or 25');
      const sock = await connectTcp(endpoint, addresses!, s);
      connectedTo = sock.remoteAddress;
      return sock;
    });
    if (socket) wire = new SmtpWire(socket, transcript);

    await runner.run(
      'greeting',
      async (s) => {
        const reply = await waitExplainingSilence(wire!.read(s.signal), {
          endpoint,
          address: connectedTo,
          expecting: 'plain',
          delayMs: sniffDelay(opts.timeoutMs),
          scope: s,
          onMismatch: () =>
            new StageError('tls-mismatch', `port ${port} expects TLS from the first byte; Calendar Server only speaks STARTTLS when sending`, {
              hint:
                `Calendar Server opens plain TCP and upgrades with STARTTLS; on a port with TLS from the first byte it waits forever. ` +
                `Use the submission port 587 (STARTTLS) with UseSSL true.`,
            }),
        });
        s.evidence.greeting = replyText(reply);
        if (reply.code !== 220) throw rejected('the session', reply, 'The server does not accept mail from this machine right now; its reply says why.');
      },
      {
        onTimeout: (ms) =>
          new StageError('timeout', `the server accepted the connection but sent no greeting within ${ms} ms`, {
            hint: 'The server is overloaded, or something in between (a proxy, a firewall doing inspection) holds the connection; raise --timeout to wait longer.',
          }),
      },
    );

    let ext = await runner.run('ehlo', (s) => ehlo(wire!, helo, s));

    // STARTTLS: required with UseSSL true (requireTransportSecurity). With UseSSL false the server
    // stays in clear text; the upgrade is then done only to see what the server offers after TLS
    // when it offers no AUTH before it.
    const wantDiagnosticTls =
      !sending.useSSL && !!sending.username && !!ext && ext.starttls && ext.auth.length === 0;
    const preTlsAuth = ext?.auth ?? [];
    if (sending.useSSL || wantDiagnosticTls) {
      const secured = await runner.run('starttls', async (s) => {
        if (wantDiagnosticTls) {
          s.evidence.diagnosticOnly =
            'UseSSL is false, so Calendar Server would not start TLS here; done only to see whether the server offers AUTH after TLS';
        }
        if (!ext!.starttls) {
          throw new StageError(
            'starttls-missing',
            'the server does not offer STARTTLS, and with UseSSL true Calendar Server refuses to send without it',
            {
              hint:
                'Use the server\'s submission port (587) or enable STARTTLS on it; set Sending.UseSSL to false only for a relay on a trusted network (mail and password then travel in clear text).',
              evidence: { offered: [...ext!.keywords.keys()] },
            },
          );
        }
        const reply = await wire!.command('STARTTLS', s.signal);
        if (reply.code !== 220) throw rejected('STARTTLS', reply, 'The server advertises STARTTLS but does not start it; check its TLS configuration (certificate, key).');
        if (wire!.hasUnread()) {
          throw new StageError('protocol', 'the server sent data after its STARTTLS reply, before the TLS handshake', {
            hint: 'Something between this machine and the server tampers with the connection (or the server is broken).',
          });
        }
        const plain = wire!.current;
        wire!.detach();
        const secure = await tlsHandshake({ socket: plain, host, ca: loadCa(opts), signal: s.signal });
        const info = tlsInfo(secure, { host, insecure: opts.insecure, caGiven: !!(opts.ca || opts.caFile) });
        seen.tls = info;
        s.evidence.tls = info;
        if (!info.verified && !opts.insecure) {
          secure.destroy();
          throw new StageError('certificate', `the server certificate is not trusted: ${info.reason}`, { hint: info.hint });
        }
        wire!.upgrade(secure);
        return true;
      });
      if (secured) ext = await runner.run('ehlo-tls', (s) => ehlo(wire!, helo, s));
    }
    const tlsActive = !!seen.tls && !runner.failed;

    if (sending.username) {
      await runner.run('auth', (s) =>
        authenticate(wire!, sending, ext!, s, { tlsActive, diagnosticTls: wantDiagnosticTls, preTlsAuth }),
      );
    }

    if (opts.sendTo) {
      const from = sending.address.trim();
      await runner.run('mail-from', async (s) => {
        if (!from) {
          throw new StageError('config', `${CONFIG}.Address is empty, so there is no sender for MAIL FROM`, {
            hint: `Set ${CONFIG}.Address to the calendar server's own mail address (the plus-address base).`,
          });
        }
        s.evidence.from = from;
        const r = await wire!.command(`MAIL FROM:<${from}>`, s.signal);
        s.evidence.reply = replyText(r);
        if (r.code !== 250) {
          let hint = `The relay does not let this account send as ${from}; use an address the account owns in ${CONFIG}.Address.`;
          if (r.code === 530 || r.enhanced === '5.7.0' || /auth/i.test(r.text)) {
            hint = sending.username
              ? 'The relay wants authentication before MAIL FROM; check the auth stage.'
              : `The relay wants authentication: set ${CONFIG}.Username and ${CONFIG}.Password.`;
          }
          throw rejected('the sender', r, hint);
        }
      });
      await runner.run('rcpt-to', async (s) => {
        s.evidence.to = opts.sendTo;
        const r = await wire!.command(`RCPT TO:<${opts.sendTo}>`, s.signal);
        s.evidence.reply = replyText(r);
        if (r.code !== 250 && r.code !== 251) {
          const hint = /relay/i.test(r.text) || r.code === 554
            ? 'The server does not relay for this client: authenticate (Sending.Username/Password) or send through the relay meant for this host.'
            : 'The recipient was refused; check the address, or the relay\'s restrictions.';
          throw rejected('the recipient', r, hint);
        }
      });
      await runner.run('data', async (s) => {
        const go = await wire!.command('DATA', s.signal);
        if (go.code !== 354) throw rejected('DATA', go);
        const msg = testMessage(from, opts.sendTo!, helo);
        s.evidence.messageId = msg.messageId;
        s.evidence.bytes = Buffer.byteLength(msg.text);
        wire!.writeRaw(msg.text, `<message ${msg.messageId}, ${Buffer.byteLength(msg.text)} bytes>`);
        const done = await wire!.read(s.signal);
        s.evidence.reply = replyText(done);
        const qid = queueIdOf(done.text);
        if (qid) s.evidence.queueId = qid;
        if (done.code !== 250) throw rejected('the message', done);
      });
    }

    if (!runner.failed) {
      await runner.run('quit', async (s) => {
        const r = await wire!.command('QUIT', s.signal).catch((err: unknown) => {
          // Some servers close without answering QUIT; that is not a problem.
          if (err instanceof StageError && err.kind === 'closed') return null;
          throw err;
        });
        s.evidence.reply = r ? replyText(r) : 'connection closed without a reply';
      });
    }
  } catch (err) {
    // Stage functions report their own failures; this is a bug net so a probe never throws.
    runner.record({ stage: 'internal', ok: false, ms: 0, evidence: {}, error: redactor.text(toStageError(err).message) });
  } finally {
    if (wire) {
      try {
        if (runner.failed && !wire.current.destroyed) wire.send('QUIT');
      } catch {
        // the connection is gone already
      }
      wire.close();
    }
  }

  findings.push(...smtpFindings(sending, runner, seen.tls));
  findings.push(...maybeInsecure(opts, `${CONFIG}.Server`, seen.tls));
  return finishReport(
    {
      target: { host, port, protocol: 'smtp', tls: sending.useSSL ? 'starttls' : 'none' },
      stages: runner.stages,
      findings,
      transcript,
    },
    redactor,
  );
}

async function ehlo(wire: SmtpWire, helo: string, s: StageScope): Promise<SmtpExtensions> {
  const r = await wire.command(`EHLO ${helo}`, s.signal);
  if (r.code === 250) {
    const ext = parseEhlo(r);
    Object.assign(s.evidence, { server: r.lines[0] ?? '' }, extensionEvidence(ext));
    return ext;
  }
  // Twisted falls back to HELO when EHLO is refused (heloFallback): no extensions at all then.
  s.evidence.ehloRefused = replyText(r);
  const h = await wire.command(`HELO ${helo}`, s.signal);
  if (h.code !== 250) throw rejected('EHLO and HELO', h);
  s.evidence.helo = replyText(h);
  const ext: SmtpExtensions = { keywords: new Map(), auth: [], starttls: false };
  Object.assign(s.evidence, extensionEvidence(ext));
  return ext;
}

async function authenticate(
  wire: SmtpWire,
  sending: SendingSettings,
  ext: SmtpExtensions,
  s: StageScope,
  ctx: { tlsActive: boolean; diagnosticTls: boolean; preTlsAuth: string[] },
): Promise<void> {
  s.evidence.username = sending.username;
  s.evidence.offered = ext.auth;
  s.evidence.overTls = ctx.tlsActive;
  if (ctx.diagnosticTls) {
    throw new StageError(
      'auth-not-offered',
      ext.auth.length
        ? 'the server offers AUTH only after STARTTLS, but with UseSSL false Calendar Server does not start TLS: it cannot log in, and sends without authentication'
        : 'the server offers no AUTH, before or after STARTTLS: Calendar Server sends without logging in',
      {
        hint: ext.auth.length
          ? `Set ${CONFIG}.UseSSL to true: Calendar Server then starts TLS before AUTH.`
          : `Leave ${CONFIG}.Username empty if the relay accepts mail from this host without login, or use a relay that offers AUTH.`,
        evidence: { offeredBeforeTls: ctx.preTlsAuth, offeredAfterTls: ext.auth },
      },
    );
  }
  if (!ext.auth.length) {
    throw new StageError('auth-not-offered', 'the server offers no AUTH: Calendar Server would send without logging in, as it does not require authentication', {
      hint: `Use the relay's submission port (587) where AUTH is offered, or leave ${CONFIG}.Username empty if the relay accepts this host without login.`,
    });
  }
  const mech = SERVER_MECHANISMS.find((m) => ext.auth.includes(m));
  if (!mech) {
    const oauth = ext.auth.filter((m) => /XOAUTH|OAUTHBEARER/.test(m));
    if (oauth.length) {
      throw new StageError('basic-auth-disabled', `the server offers only ${ext.auth.join(', ')}; Calendar Server can log in only with CRAM-MD5, LOGIN or PLAIN`, {
        hint: OAUTH_ONLY_HINT,
      });
    }
    throw new StageError('auth-not-offered', `the server offers only ${ext.auth.join(', ')}; Calendar Server can log in only with CRAM-MD5, LOGIN or PLAIN`, {
      hint: 'Enable PLAIN or LOGIN (over TLS) on the server for this account, or use another relay.',
    });
  }
  s.evidence.mechanism = mech;
  s.evidence.calendarServerWouldUse = mech;
  const r = await authExchange(wire, mech, sending.username, sending.password, s.signal);
  s.evidence.reply = replyText(r);
  if (r.code !== 235) throw authFailure(r, mech);
}

const b64 = (v: string): string => Buffer.from(v, 'utf8').toString('base64');

async function authExchange(wire: SmtpWire, mech: Mechanism, user: string, pass: string, signal: AbortSignal): Promise<SmtpReply> {
  switch (mech) {
    case 'PLAIN': {
      let r = await wire.command('AUTH PLAIN', signal);
      if (r.code !== 334) return r;
      r = await wire.command(b64(`\0${user}\0${pass}`), signal, '<credentials hidden>');
      return r;
    }
    case 'LOGIN': {
      let r = await wire.command('AUTH LOGIN', signal);
      if (r.code !== 334) return r;
      r = await wire.command(b64(user), signal, `<user name ${user}, base64>`);
      if (r.code !== 334) return r;
      return wire.command(b64(pass), signal, '<password hidden>');
    }
    case 'CRAM-MD5': {
      const r = await wire.command('AUTH CRAM-MD5', signal);
      if (r.code !== 334) return r;
      const challenge = Buffer.from(r.text, 'base64').toString('latin1');
      const digest = createHmac('md5', pass).update(challenge, 'latin1').digest('hex');
      return wire.command(b64(`${user} ${digest}`), signal, '<CRAM-MD5 response hidden>');
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Findings

function smtpFindings(sending: SendingSettings, runner: StageRunner, tlsEv: TlsInfo | null): Finding[] {
  const out: Finding[] = [];
  const f = runner.failure;
  const where = `${sending.server}:${sending.port}`;
  const base = { server: sending.server, port: sending.port, useSSL: sending.useSSL };
  if (f) {
    const ev = { ...base, stage: f.stage, error: f.error, ...pick(f.evidence, ['code', 'reply', 'greeting', 'portSpeaks', 'addresses', 'offered', 'mechanism']) };
    switch (f.kind) {
      case 'dns':
        out.push(finding('smtp.dns', `${CONFIG}.Server`, `The SMTP server name does not resolve: ${f.error}.`, ev, f.hint ?? `Fix ${CONFIG}.Server.`));
        break;
      case 'config':
        if (f.stage === 'resolve') out.push(finding('smtp.dns', `${CONFIG}.Server`, `No SMTP server is configured: ${f.error}.`, ev, f.hint ?? `Set ${CONFIG}.Server.`));
        else if (f.stage === 'connect' && !(Number.isInteger(sending.port) && sending.port > 0 && sending.port <= 65535)) out.push(finding('smtp.connect-failed', `${CONFIG}.Port`, `Cannot connect: ${f.error}.`, ev, f.hint ?? `Set ${CONFIG}.Port.`));
        break;
      case 'refused':
      case 'unreachable':
        out.push(finding('smtp.connect-failed', `${CONFIG}.Port`, `Cannot connect to the SMTP server ${where}: ${f.error}.`, ev, f.hint ?? 'Check the server name, the port and firewalls.'));
        break;
      case 'closed':
        if (f.stage === 'connect' || f.stage === 'greeting') {
          out.push(finding('smtp.connect-failed', `${CONFIG}.Port`, `The SMTP server ${where} dropped the connection (${f.stage}): ${f.error}.`, ev, f.hint ?? 'Check the port and the server\'s log.'));
        }
        break;
      case 'timeout':
        out.push(
          finding(
            'smtp.timeout',
            `${CONFIG}.Server`,
            `The SMTP server ${where} did not answer in time at the ${f.stage} stage: ${f.error}.`,
            ev,
            f.hint ?? 'Check firewalls and the port; raise --timeout for a slow server.',
          ),
        );
        break;
      case 'tls-mismatch':
        out.push(
          finding(
            'smtp.implicit-tls-port',
            `${CONFIG}.Port`,
            `Port ${sending.port} expects TLS from the first byte (SMTPS); Calendar Server only speaks STARTTLS when sending, so it would wait forever here.`,
            ev,
            `Set ${CONFIG}.Port to the submission port (587) with ${CONFIG}.UseSSL true.`,
          ),
        );
        break;
      case 'starttls-missing':
        out.push(
          finding(
            'smtp.starttls-missing',
            `${CONFIG}.UseSSL`,
            `${where} does not offer STARTTLS; with UseSSL true Calendar Server refuses to send any mail.`,
            ev,
            f.hint ?? 'Use a port that offers STARTTLS.',
          ),
        );
        break;
      case 'certificate':
        out.push(
          finding(
            'smtp.certificate-untrusted',
            `${CONFIG}.Server`,
            `The certificate of ${where} is not trusted: ${tlsEv?.reason ?? f.error}.`,
            { ...ev, ...(tlsEv ? { certificate: tlsEv } : {}) },
            f.hint ?? 'Pass the CA with --ca-file, or fix the certificate.',
          ),
        );
        break;
      case 'auth':
        out.push(finding('smtp.auth-failed', `${CONFIG}.Password`, `SMTP login as ${sending.username} failed: ${f.error}.`, ev, f.hint ?? `Check ${CONFIG}.Username and ${CONFIG}.Password.`));
        break;
      case 'basic-auth-disabled':
        out.push(
          finding(
            'smtp.basic-auth-disabled',
            `${CONFIG}.Username`,
            `The provider does not accept password logins for ${sending.username} (${f.error}); Calendar Server cannot do OAuth2.`,
            ev,
            OAUTH_ONLY_HINT,
          ),
        );
        break;
      case 'auth-not-offered':
        out.push(
          finding(
            'smtp.auth-not-offered',
            f.evidence.offeredAfterTls ? `${CONFIG}.UseSSL` : `${CONFIG}.Username`,
            `Calendar Server cannot log in to ${where}: ${f.error}.`,
            { ...ev, ...pick(f.evidence, ['offeredBeforeTls', 'offeredAfterTls']) },
            f.hint ?? `Set ${CONFIG}.UseSSL to true.`,
          ),
        );
        break;
      default:
        break;
    }
  }
  // AUTH before TLS with UseSSL false: the password would cross the network in clear text.
  const authStage = runner.stages.find((s) => s.stage === 'auth' && s.ok);
  if (!sending.useSSL && authStage && authStage.evidence.overTls === false) {
    out.push({
      id: 'smtp.auth-cleartext',
      severity: 'warning',
      path: `${CONFIG}.UseSSL`,
      message: `With UseSSL false, Calendar Server logs in to ${where} without TLS: the password crosses the network in clear text.`,
      evidence: { ...base, mechanism: authStage.evidence.mechanism },
      fix: `Set ${CONFIG}.UseSSL to true (the server must offer STARTTLS), or use a relay on the local host.`,
    });
  }
  return out;
}

function finding(id: string, path: string, message: string, evidence: Record<string, unknown>, fix: string): Finding {
  return { id, severity: 'error', path, message: message.replace(/\s+$/, '').replace(/\.+$/, '') + '.', evidence, fix };
}

function pick(obj: Record<string, unknown>, keys: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of keys) if (obj[k] !== undefined) out[k] = obj[k];
  return out;
}

