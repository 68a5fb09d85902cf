/** Why a mailbox could not be read, in the admin's words, with the password scrubbed. */
import type { ConnectOptions, MailboxProtocol, ReceivingSettings } from '../config/settings.js';
import type { Redactor } from '../net/net-stage.js';

export type MailboxFailureKind = 'auth' | 'certificate' | 'connect' | 'dns' | 'timeout' | 'cleartext-login' | 'type' | 'other';

/** A mailbox failure, with the password scrubbed. */
export class MailboxError extends Error {
  readonly kind: MailboxFailureKind;
  readonly hint: string;
  constructor(kind: MailboxFailureKind, message: string, hint: string) {
    super(message);
    this.name = 'MailboxError';
    this.kind = kind;
    this.hint = hint;
  }
}


export function describeMailboxError(err: unknown, receiving: ReceivingSettings, conn: ConnectOptions, redactor: Redactor, protocol: MailboxProtocol): MailboxError {
  const e = err as Error & { code?: string; authenticationFailed?: boolean; responseText?: string; kind?: string; serverText?: string };
  const where = `${protocol.toUpperCase()} ${receiving.server.trim()}:${receiving.port}`;
  const text = redactor.text([e?.message, e?.responseText, e?.serverText].filter(Boolean).join(': ') || String(err));
  const all = `${e?.code ?? ''} ${e?.kind ?? ''} ${text}`;
  if (e?.authenticationFailed || e?.kind === 'auth' || /AUTHENTICATIONFAILED|authentication failed|invalid credentials|login failed/i.test(all)) {
    return new MailboxError(
      'auth',
      `${where} refused the login as "${receiving.username}": ${text}`,
      'Check Scheduling.iMIP.Receiving.Username and Password (on macOS the server may read the password from the keychain instead).',
    );
  }
  if (/CERT|self[- ]signed|unable to verify|altnames|certificate/i.test(all)) {
    return new MailboxError(
      'certificate',
      `the certificate of ${where} did not verify: ${text}`,
      conn.caFile ? `It is not signed by the CA in ${conn.caFile}, or does not name ${receiving.server.trim()}.` : 'Give the CA with --ca-file, or --insecure to skip the check (the output says so).',
    );
  }
  if (/ECONNREFUSED/.test(all)) return new MailboxError('connect', `nothing accepts connections on ${where}: ${text}`, 'Check Receiving.Server, Receiving.Port and Receiving.UseSSL (TLS from the first byte when true).');
  if (/ENOTFOUND|EAI_AGAIN/.test(all)) return new MailboxError('dns', `the name "${receiving.server.trim()}" does not resolve: ${text}`, 'Check Receiving.Server.');
  if (/timeout|timed out|ETIMEDOUT/i.test(all)) {
    return new MailboxError(
      'timeout',
      `${where} did not answer within ${Math.round(conn.timeoutMs / 1000)} s: ${text}`,
      receiving.useSSL ? 'Is it a port with TLS from the first byte (993/995)? UseSSL true means exactly that.' : 'A port with TLS from the first byte needs UseSSL true; raise --timeout for a slow server.',
    );
  }
  if (/refusing to send the password in cleartext/i.test(text)) {
    return new MailboxError('cleartext-login', `${where}: ${text}`, 'Calendar Server refuses this too: offer STLS, or use POP3S with Receiving.UseSSL true.');
  }
  return new MailboxError('other', `reading ${where} failed: ${text}`, 'Run "imip test-mailbox" for a stage-by-stage view of the mailbox.');
}
