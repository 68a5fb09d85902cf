/**
 * Sending one raw message the way Calendar Server's sender does (calendarserver-imip.md §2.4,
 * §2.7): a plain TCP connection to `Sending.Server:Port`; `UseSSL` true means STARTTLS is
 * required, false means plain text that upgrades with STARTTLS when the server offers it; never
 * TLS from the first byte (port 465 is refused before any connection); AUTH only when
 * `Sending.Username` is set and the server offers it (`requireAuthentication=False`).
 * MAIL FROM and RCPT TO are given by the caller (the server: the organizer's address and the
 * attendee), the message goes out byte for byte as built.
 *
 * nodemailer is imported lazily. The password is used once, inside nodemailer; every text that
 * leaves this module (result, error, transcript) is passed through a {@link Redactor}.
 */
import { hostname } from 'node:os';
import { format } from 'node:util';
import type { ConnectOptions, SendingSettings } from '../config/settings.js';
import { loadCa, Redactor } from '../net/net-stage.js';
import { isBasicAuthDisabled, queueIdOf } from '../probes/smtp-probe.js';

/** The port of TLS from the first byte (SMTPS), which the server's sender cannot speak (§2.7). */
export const IMPLICIT_TLS_PORT = 465;

export type SmtpTlsMode = 'starttls-required' | 'starttls-opportunistic';

export interface SmtpSendInput {
  sending: SendingSettings;
  conn: ConnectOptions;
  envelope: { from: string; to: string[] };
  /** The whole message, CRLF line ends (nodemailer dot-stuffs it). */
  raw: string;
  /** EHLO name; default this machine's host name, as Twisted's sender uses. */
  heloName?: string;
  /** Keep the SMTP commands and replies (no message data, secrets redacted). */
  transcript?: boolean;
}

export interface SmtpSendResult {
  /** The server's final reply to the message data, such as `250 2.0.0 Ok: queued as 4XyZ`. */
  reply: string;
  code: number | null;
  /** The queue id when the final reply shows one (Postfix "queued as", Exchange, Gmail, ...). */
  queueId: string | null;
  accepted: string[];
  rejected: string[];
  server: { host: string; port: number };
  tlsMode: SmtpTlsMode;
  /** What actually happened on the wire: STARTTLS done, or the session stayed plain (UseSSL false only). */
  encrypted: boolean | null;
  authenticated: boolean;
  ms: number;
  transcript?: string[];
}

export type SmtpFailureKind =
  | 'implicit-tls-port'
  | 'no-server'
  | 'dns'
  | 'connect'
  | 'timeout'
  | 'tls'
  | 'certificate'
  | 'starttls-missing'
  | 'auth'
  | 'basic-auth-disabled'
  | 'rejected'
  | 'protocol';

/** A send that did not end with the server accepting the message. Never carries a password. */
export class SmtpSendError extends Error {
  readonly kind: SmtpFailureKind;
  /** The server's reply, when the failure was a reply. */
  readonly reply: string | null;
  readonly hint: string;
  readonly transcript: string[] | undefined;
  constructor(kind: SmtpFailureKind, message: string, hint: string, reply: string | null = null, transcript?: string[]) {
    super(message);
    this.name = 'SmtpSendError';
    this.kind = kind;
    this.hint = hint;
    this.reply = reply;
    this.transcript = transcript;
  }
}

/** `UseSSL` as the sender reads it (§2.7): require STARTTLS, or use it when offered. */
export function tlsModeOf(sending: Pick<SendingSettings, 'useSSL'>): SmtpTlsMode {
  return sending.useSSL ? 'starttls-required' : 'starttls-opportunistic';
}

/**
 * The nodemailer transport options with the server's semantics. Pure, so the mapping can be
 * tested without a network: `secure` is always false (no TLS from the first byte).
 */
export function transportOptions(sending: SendingSettings, conn: ConnectOptions, heloName?: string) {
  const ca = loadCa({ ca: conn.ca, caFile: conn.caFile });
  const host = sending.server.trim();
  return {
    host,
    port: sending.port,
    secure: false,
    requireTLS: sending.useSSL,
    opportunisticTLS: !sending.useSSL,
    ignoreTLS: false,
    name: heloName?.trim() || hostname() || 'localhost',
    auth: sending.username ? { user: sending.username, pass: sending.password } : undefined,
    forceAuth: false,
    tls: {
      rejectUnauthorized: !conn.insecure,
      ...(ca ? { ca } : {}),
    },
    connectionTimeout: conn.timeoutMs,
    greetingTimeout: conn.timeoutMs,
    socketTimeout: conn.timeoutMs,
    dnsTimeout: conn.timeoutMs,
    socketCloseTimeout: 1000,
  };
}

const CERT_CODES = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER|ERR_TLS_CERT_ALTNAME_INVALID|HOSTNAME_MISMATCH/;

interface NodemailerError extends Error {
  code?: string;
  response?: string;
  responseCode?: number;
  command?: string;
  rejected?: string[];
  cause?: unknown;
}

function describeFailure(err: NodemailerError, sending: SendingSettings, conn: ConnectOptions, r: Redactor, transcript?: string[]): SmtpSendError {
  const where = `${sending.server.trim()}:${sending.port}`;
  const response = err.response ? r.text(String(err.response).trim()) : null;
  const text = r.text(err.message || String(err));
  const inner = (err.cause as NodeJS.ErrnoException | undefined)?.code;
  const sysCode = [err.code, inner, (err as NodeJS.ErrnoException).errno].filter(Boolean).map(String).join(' ');
  const make = (kind: SmtpFailureKind, message: string, hint: string): SmtpSendError => new SmtpSendError(kind, message, hint, response, transcript);

  if (CERT_CODES.test(sysCode) || /certificate|self[- ]signed|altnames|unable to verify/i.test(text)) {
    return make(
      'certificate',
      `the certificate of ${where} did not verify after STARTTLS: ${text}`,
      conn.caFile
        ? `The certificate is not signed by the CA in ${conn.caFile} or does not name "${sending.server.trim()}"; check Sending.Server is the name on the certificate.`
        : 'Give the CA that signed the server\'s certificate with --ca-file, or fix the certificate; --insecure skips the check (the output says so). Calendar Server checks it too.',
    );
  }
  if (err.code === 'EDNS' || /ENOTFOUND|EAI_AGAIN/.test(sysCode)) {
    return make('dns', `the name "${sending.server.trim()}" does not resolve: ${text}`, 'Check Sending.Server for a typo, and the DNS of this machine.');
  }
  if (/ECONNREFUSED/.test(sysCode) || /ECONNREFUSED/.test(text)) {
    return make('connect', `nothing accepts connections on ${where}: ${text}`, 'Check Sending.Server and Sending.Port (587 for submission with STARTTLS, 25 for relaying); is the mail server running and reachable from here?');
  }
  if (err.code === 'ETIMEDOUT' || /timeout|timed out/i.test(text)) {
    const greeting = /greeting/i.test(text);
    return make(
      'timeout',
      `${where} did not answer within ${Math.round(conn.timeoutMs / 1000)} s${greeting ? ' with an SMTP greeting' : ''}: ${text}`,
      greeting
        ? 'A port that waits silently usually expects TLS from the first byte (like 465); Calendar Server cannot speak that either. Use the submission port 587 with UseSSL true.'
        : 'A firewall may drop the connection, or the server is slow; raise --timeout to wait longer.',
    );
  }
  if (err.code === 'ETLS') {
    if (/STARTTLS/i.test(text) && (err.command === 'STARTTLS' || /upgrading|support/i.test(text))) {
      return make(
        'starttls-missing',
        `${where} did not let the session start TLS (STARTTLS), which UseSSL true requires: ${response ?? text}`,
        'Offer STARTTLS on that port, or set Sending.UseSSL to false to send without requiring it (the password would then cross in clear if the server offers no STARTTLS).',
      );
    }
    return make('tls', `the TLS handshake after STARTTLS failed on ${where}: ${text}`, 'Check the TLS setup of the mail server (protocol versions, ciphers).');
  }
  if (err.code === 'EAUTH' && isBasicAuthDisabled(`${response ?? ''} ${text}`)) {
    return make(
      'basic-auth-disabled',
      `${where} refused password authentication: ${response ?? text}`,
      'The provider has turned off password ("basic") authentication, and Calendar Server cannot do OAuth2. Use an app password, another SMTP relay that accepts passwords, or a local OAuth proxy that the server logs in to with a password.',
    );
  }
  if (err.code === 'EAUTH') {
    return make(
      'auth',
      `${where} refused the login as "${sending.username}": ${response ?? text}`,
      'Check Sending.Username and Sending.Password (many providers want the full address as user name; some need an app password). On macOS the server may read the password from the keychain instead of the plist.',
    );
  }
  if (err.code === 'EENVELOPE') {
    const rejected = err.rejected?.length ? ` (rejected: ${err.rejected.join(', ')})` : '';
    return make(
      'rejected',
      `${where} refused the envelope${rejected}: ${response ?? text}`,
      'MAIL FROM is the organizer\'s address, as Calendar Server sends it: relays that check the sender (SPF, sender login maps) may refuse it; a refused RCPT means the relay will not deliver to the attendee.',
    );
  }
  if (err.code === 'EMESSAGE' || (err.responseCode !== undefined && err.responseCode >= 400)) {
    return make('rejected', `${where} refused the message: ${response ?? text}`, 'Read the reply: a content filter, size limit or policy refused it.');
  }
  if (err.code === 'ECONNECTION' || err.code === 'ESOCKET' || /ECONNRESET|EPIPE|EHOSTUNREACH|ENETUNREACH/.test(sysCode)) {
    return make('connect', `the connection to ${where} failed: ${text}`, 'Check Sending.Server and Sending.Port, and that nothing in between closes the connection.');
  }
  return make('protocol', `sending through ${where} failed: ${response ?? text}`, 'Run "imip test-smtp" for a stage-by-stage view of this SMTP path.');
}

/** The code and text of a final reply line such as `250 2.0.0 Ok: queued as X`. */
export function parseFinalReply(reply: string): { code: number | null; text: string } {
  const m = /^(\d{3})[ -]?(.*)$/s.exec(reply.trim());
  return m ? { code: Number(m[1]), text: m[2]!.trim() } : { code: null, text: reply.trim() };
}

/** The queue id the final reply names, if any. */
export function queueIdFromReply(reply: string): string | null {
  return queueIdOf(parseFinalReply(reply).text) ?? null;
}

/** Send the message; resolves with the server's final reply, or throws {@link SmtpSendError}. */
export async function sendRaw(input: SmtpSendInput): Promise<SmtpSendResult> {
  const { sending, conn } = input;
  const redactor = new Redactor([sending.password]);
  const host = sending.server.trim();
  if (!host) throw new SmtpSendError('no-server', 'Sending.Server is empty: there is no SMTP server to send through', 'Set Scheduling.iMIP.Sending.Server.');
  if (sending.port === IMPLICIT_TLS_PORT) {
    throw new SmtpSendError(
      'implicit-tls-port',
      'Sending.Port is 465, which expects TLS from the first byte; Calendar Server only speaks STARTTLS when sending, so it cannot send through this port',
      'Use the submission port 587 with UseSSL true (STARTTLS), or port 25 if your relay accepts it.',
    );
  }
  const lines: string[] = [];
  let upgraded: boolean | null = sending.useSSL ? null : false;
  let authenticated = false;
  const note = (entry: unknown, message: unknown, ...args: unknown[]): void => {
    const text = format(message, ...args);
    if (/^Connection upgraded with STARTTLS/.test(text)) upgraded = true;
    if (/^Failed STARTTLS upgrade/.test(text)) upgraded = false;
    if (/^User .* authenticated$/.test(text)) authenticated = true;
    const tnx = (entry as { tnx?: string } | undefined)?.tnx;
    if (input.transcript && (tnx === 'client' || tnx === 'server' || tnx === 'network')) {
      const prefix = tnx === 'client' ? 'C:' : tnx === 'server' ? 'S:' : '*';
      for (const l of text.split(/\r?\n/)) if (l) lines.push(redactor.text(`${prefix} ${l}`));
    }
  };
  const logger = { trace: note, debug: note, info: note, warn: note, error: note, fatal: note };
  const { createTransport } = await import('nodemailer');
  const options = { ...transportOptions(sending, conn, input.heloName), logger, transactionLog: true, debug: false };
  const transport = createTransport(options);
  const started = performance.now();
  try {
    const info = await transport.sendMail({ envelope: { from: input.envelope.from, to: input.envelope.to }, raw: input.raw });
    const reply = redactor.text(String(info.response ?? '').trim());
    const { code } = parseFinalReply(reply);
    if (sending.useSSL) upgraded = true;
    return {
      reply,
      code,
      queueId: queueIdFromReply(reply),
      accepted: (info.accepted ?? []).map(String),
      rejected: (info.rejected ?? []).map(String),
      server: { host, port: sending.port },
      tlsMode: tlsModeOf(sending),
      encrypted: upgraded,
      authenticated,
      ms: performance.now() - started,
      ...(input.transcript ? { transcript: lines } : {}),
    };
  } catch (e) {
    throw describeFailure(e as NodemailerError, sending, conn, redactor, input.transcript ? lines : undefined);
  } finally {
    transport.close();
  }
}
