/**
 * Sending one raw message the way Calendar Server's sender does, for `send-test` and the
 * plus-address probe: the same SMTP session as `test-smtp` (src/probes/smtp/session.ts), carried
 * out from the server's client table (src/server/mail-clients.ts): STARTTLS required with
 * `UseSSL` true and started whenever offered with `UseSSL` false (then TLS 1.0 only), AUTH only
 * with a password and only with the first of CRAM-MD5, LOGIN, PLAIN the relay lists, no fallback.
 * So its result is the result the server would get. nodemailer may compose a message elsewhere;
 * it never chooses how one is transported.
 *
 * Every text that leaves this module (result, error, transcript) is passed through the session's
 * redactor: the password never appears.
 */
import type { ConnectOptions, SendingSettings } from '../config/settings.js';
import type { Finding } from '../report/finding.js';
import { smtpFindings } from '../probes/smtp/findings.js';
import { dataOf, queueIdOf } from '../probes/smtp/message.js';
import { runSmtpSession } from '../probes/smtp/session.js';
import { replyText } from '../probes/smtp/wire.js';
import type { FailureKind } from '../net/net-stage.js';
import { mailClientsFor } from '../server/mail-clients.js';
import { defaultServerVersion, type ServerVersion } from '../server/release.js';

/** The port of TLS from the first byte (SMTPS), which the server's sender cannot speak. */
export const IMPLICIT_TLS_PORT = 465;

export type SmtpTlsMode = 'starttls-required' | 'starttls-opportunistic';

export interface SmtpSendInput {
  sending: SendingSettings;
  conn: ConnectOptions;
  envelope: { from: string; to: string[] };
  /** The whole message (CRLF or LF line ends; dot-stuffed here). */
  raw: string;
  /** The release judged by (default 9.2): decides TLS versions and the certificate check. */
  version?: ServerVersion;
  /** EHLO name; default this machine's host name, as Twisted's sender uses. */
  heloName?: string;
  /** Keep the SMTP commands and replies (no message data, secrets redacted). */
  transcript?: boolean;
  /**
   * When every recipient is refused, ask whether this address is refused too, in the same
   * transaction (RCPT TO, then RSET; nothing is sent); the answer is the error's `recipientCheck`.
   */
  recipientCheck?: string;
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
  /** STARTTLS was done. */
  encrypted: boolean | null;
  authenticated: boolean;
  ms: number;
  /** What the server's sender would meet on this path that did not stop the send (warnings). */
  findings: Finding[];
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
  /** The session's findings (`smtp.*`), the same `test-smtp` reports for this path. */
  readonly findings: Finding[];
  /** The answer to {@link SmtpSendInput.recipientCheck}, when it was asked (every recipient refused). */
  recipientCheck: { to: string; reply: string; accepted: boolean } | null = null;
  constructor(kind: SmtpFailureKind, message: string, hint: string, reply: string | null = null, transcript?: string[], findings: Finding[] = []) {
    super(message);
    this.name = 'SmtpSendError';
    this.kind = kind;
    this.hint = hint;
    this.reply = reply;
    this.transcript = transcript;
    this.findings = findings;
  }
}

/** `UseSSL` as the sender reads it (Twisted `twisted.mail.smtp.ESMTPClient.tryTLS`): require STARTTLS, or use it when offered. */
export function tlsModeOf(sending: Pick<SendingSettings, 'useSSL'>): SmtpTlsMode {
  return sending.useSSL ? 'starttls-required' : 'starttls-opportunistic';
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

const KIND: Partial<Record<FailureKind, SmtpFailureKind>> = {
  config: 'no-server',
  dns: 'dns',
  refused: 'connect',
  unreachable: 'connect',
  closed: 'connect',
  timeout: 'timeout',
  tls: 'tls',
  'tls10-refused': 'tls',
  'tls-mismatch': 'implicit-tls-port',
  certificate: 'certificate',
  'certificate-name': 'certificate',
  'starttls-missing': 'starttls-missing',
  auth: 'auth',
  'auth-mechanism': 'auth',
  'basic-auth-disabled': 'basic-auth-disabled',
  'auth-not-offered': 'auth',
  rejected: 'rejected',
  protocol: 'protocol',
};

/** Send the message; resolves with the server's final reply, or throws {@link SmtpSendError}. */
export async function sendRaw(input: SmtpSendInput): Promise<SmtpSendResult> {
  const { sending, conn } = input;
  const host = sending.server.trim();
  if (!host) throw new SmtpSendError('no-server', 'Sending.Server is empty: there is no SMTP server to send through', 'Set Scheduling.iMIP.Sending.Server.');
  if (sending.port === IMPLICIT_TLS_PORT) {
    throw new SmtpSendError(
      'implicit-tls-port',
      'Sending.Port is 465, which expects TLS from the first byte; Calendar Server only speaks STARTTLS when sending, so it cannot send through this port',
      'Use the submission port 587 with UseSSL true (STARTTLS), or port 25 if your relay accepts it.',
    );
  }
  const data = dataOf(input.raw);
  const res = await runSmtpSession(sending, {
    ...conn,
    clients: mailClientsFor(input.version ?? defaultServerVersion()),
    ...(input.heloName ? { heloName: input.heloName } : {}),
    mail: { from: input.envelope.from, to: input.envelope.to, data, shown: `<message, ${Buffer.byteLength(data)} bytes>`, ...(input.recipientCheck ? { recipientCheck: input.recipientCheck } : {}) },
  });
  const findings = res.redactor.deep(smtpFindings(sending, res));
  const transcript = input.transcript ? res.transcript.map((l) => res.redactor.text(l)) : undefined;
  const f = res.runner.failure;
  const stopped = res.runner.stages.find((st) => st.skipped && st.evidence.reason);
  if (f || !res.final) {
    const first = findings.find((x) => x.severity === 'error') ?? findings[0];
    const kind: SmtpFailureKind = f ? (KIND[f.kind] ?? 'protocol') : 'certificate';
    const message = f ? `${f.stage}: ${f.error}` : String(stopped?.evidence.reason ?? 'the session ended before the message was sent');
    const hint = first?.fix ?? f?.hint ?? 'Run "imip test-smtp" for a stage-by-stage view of this SMTP path.';
    const error = new SmtpSendError(kind, res.redactor.text(message), res.redactor.text(hint), f?.evidence.reply ? String(f.evidence.reply) : null, transcript, findings);
    if (res.recipientCheck) error.recipientCheck = { ...res.recipientCheck, reply: res.redactor.text(res.recipientCheck.reply) };
    throw error;
  }
  const reply = res.redactor.text(replyText(res.final));
  return {
    reply,
    code: res.final.code,
    queueId: queueIdOf(res.final.text) ?? null,
    accepted: res.accepted,
    rejected: res.rejected,
    server: { host, port: sending.port },
    tlsMode: tlsModeOf(sending),
    encrypted: !!res.tls,
    authenticated: res.authenticated,
    ms: res.ms,
    findings,
    ...(transcript ? { transcript } : {}),
  };
}
