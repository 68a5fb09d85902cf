/**
 * Socket, DNS and TLS errors in plain words: one sentence and a hint per failure, and the
 * StageError type every network stage throws.
 */
import { describeCertificateProblem, isCertificateErrorCode } from './tls-info.js';

/**
 * `3 s`, `0.5 s`: how the tool states a timeout, the same in every protocol's message
 * (`IMAP FETCH timed out after 3 s`). The POP3 client, which imports nothing of ours, has its own copy.
 */
export function secondsText(ms: number): string {
  const s = ms / 1000;
  return `${Number.isInteger(s) ? s : Number(s.toFixed(2))} s`;
}

/** A name lookup that ran out of time: this machine's resolver is at fault, not the mail server or a firewall. */
export const RESOLVER_TIMEOUT_HINT = "Check this machine's resolver (/etc/resolv.conf and the DNS servers it names); raise --timeout if it is only slow.";

/** What went wrong, coarse enough for a probe to pick its finding. */
export type FailureKind =
  | 'config'
  | 'dns'
  | 'refused'
  | 'unreachable'
  | 'timeout'
  | 'closed'
  | 'tls'
  | 'certificate'
  | 'tls-mismatch'
  | 'starttls-missing'
  | 'protocol'
  | 'rejected'
  | 'auth'
  | 'basic-auth-disabled'
  | 'auth-not-offered'
  | 'cleartext-login'
  /** POP3 `-ERR [IN-USE]` (RFC 2449): the login was accepted, another session holds the maildrop. */
  | 'in-use'
  /** The server's client offers TLS 1.0 only here, and the server refused it. */
  | 'tls10-refused'
  /** The server's client checks the host name (9.x) and the certificate does not name it. */
  | 'certificate-name'
  /** The first SMTP mechanism was refused, a later one works: the server has no fallback. */
  | 'auth-mechanism'
  | 'internal';

/** A stage's failure as the stage function reports it: one sentence, a hint, what was seen. */
export class StageError extends Error {
  override readonly name = 'StageError';
  readonly kind: FailureKind;
  readonly hint?: string;
  readonly evidence: Record<string, unknown>;

  constructor(kind: FailureKind, message: string, opts: { hint?: string; evidence?: Record<string, unknown>; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.kind = kind;
    if (opts.hint !== undefined) this.hint = opts.hint;
    this.evidence = opts.evidence ?? {};
  }
}

export function isStageError(err: unknown): err is StageError {
  return err instanceof StageError;
}

// ---------------------------------------------------------------------------------------------
// Errors in plain words

interface NetErrorContext {
  host?: string;
  port?: number;
  /** What the error interrupted, for the message: `connecting`, `the TLS handshake`, ... */
  during?: string;
}

export function errCode(err: unknown): string | undefined {
  if (err && typeof err === 'object') {
    const c = (err as { code?: unknown }).code;
    if (typeof c === 'string') return c;
  }
  return undefined;
}

export function errMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

/** Any error from a socket, DNS or TLS, as a StageError with a sentence and a hint. */
export function toStageError(err: unknown, ctx: NetErrorContext = {}): StageError {
  if (isStageError(err)) return err;
  const code = errCode(err);
  const msg = errMessage(err);
  const where = ctx.host ? `${ctx.host}${ctx.port !== undefined ? `:${ctx.port}` : ''}` : 'the server';
  const evidence: Record<string, unknown> = code ? { code } : {};
  switch (code) {
    case 'ENOTFOUND':
      return new StageError('dns', `${ctx.host ?? 'the server name'} does not resolve (NXDOMAIN: no such name in DNS)`, {
        hint: 'Check the spelling of the server name in the configuration, and that this machine uses the same DNS as the Calendar Server host.',
        evidence,
      });
    case 'EAI_AGAIN':
      return new StageError('dns', `the DNS lookup of ${ctx.host ?? 'the server name'} failed for now (the DNS server did not answer)`, {
        hint: 'Check this machine\'s resolver (/etc/resolv.conf) and try again.',
        evidence,
      });
    case 'ENODATA':
      return new StageError('dns', `${ctx.host ?? 'the server name'} exists in DNS but has no address (no A or AAAA record)`, {
        hint: 'Use the mail server\'s real host name; an MX record alone is not enough for Calendar Server.',
        evidence,
      });
    case 'ECONNREFUSED':
      return new StageError('refused', `connection refused: nothing listens on ${where}`, {
        hint: 'Check the port number and that the mail service is running there; a firewall that rejects also looks like this.',
        evidence,
      });
    case 'ETIMEDOUT':
      return new StageError('timeout', `the TCP connection to ${where} timed out`, {
        hint: 'A firewall is probably dropping the packets, or the host is down; check the port and any firewall between this machine and the server.',
        evidence,
      });
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'EHOSTDOWN':
    case 'ENETDOWN':
      return new StageError('unreachable', `no route to ${where} (${code})`, {
        hint: 'The host is unreachable from this machine: check the address, the network and routing, or a firewall answering with "unreachable".',
        evidence,
      });
    case 'EADDRNOTAVAIL':
      return new StageError('unreachable', `cannot connect to ${where} from this machine (${code})`, { evidence });
    case 'ECONNRESET':
    case 'EPIPE':
      return new StageError('closed', `the server reset the connection${ctx.during ? ` during ${ctx.during}` : ''}`, {
        hint: 'The server (or a firewall) dropped the connection; its logs say why. A TLS/plain-text mismatch also looks like this.',
        evidence,
      });
    case 'ERR_SSL_WRONG_VERSION_NUMBER':
    case 'ERR_SSL_PACKET_LENGTH_TOO_LONG':
    case 'ERR_SSL_HTTP_REQUEST':
    case 'ERR_SSL_UNEXPECTED_EOF_WHILE_READING':
      return new StageError('tls', `the TLS handshake failed: the server did not answer in TLS (${code})`, {
        hint: 'The port probably expects plain text first (STARTTLS) rather than TLS from the first byte.',
        evidence,
      });
    default:
      break;
  }
  if (isCertificateErrorCode(code)) {
    const v = describeCertificateProblem(code!, { host: ctx.host ?? 'the server' });
    return new StageError('certificate', `the server certificate is not trusted: ${v.reason}`, { hint: v.hint, evidence });
  }
  if (code && (code.startsWith('ERR_SSL') || code.startsWith('ERR_TLS') || /ssl|tls/i.test(msg))) {
    return new StageError('tls', `the TLS handshake failed: ${msg}`, {
      hint: 'Compare the TLS versions and ciphers the server allows with what this machine supports (openssl s_client shows them).',
      evidence,
    });
  }
  return new StageError('internal', msg || 'unexpected failure', { evidence });
}

