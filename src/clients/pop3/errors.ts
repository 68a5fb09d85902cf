/**
 * The one error type the POP3 client throws. `kind` says which step failed so probes can map it to
 * a finding without parsing messages; `serverText` is the server's own `-ERR` text, if any.
 *
 * Nothing here ever holds a password: commands carry a redacted display form (`PASS <redacted>`),
 * and login errors scrub the password from any server text before it is stored.
 */
export type Pop3ErrorKind = 'timeout' | 'connect' | 'tls' | 'protocol' | 'auth' | 'closed';

export interface Pop3ErrorDetails {
  /** The command that failed, as shown in transcripts (secrets redacted). */
  command?: string;
  /** Text after `-ERR` (without the response code). */
  serverText?: string;
  /** RFC 2449 response code, such as `AUTH`, `IN-USE`, `SYS/TEMP`. */
  responseCode?: string;
  /** For a time-out, the step that went silent: `connect`, `TLS handshake`, `greeting`, or the command's verb. */
  step?: string;
  /** Node's error code for socket and TLS failures, such as `ECONNREFUSED` or `DEPTH_ZERO_SELF_SIGNED_CERT`. */
  code?: string;
  cause?: unknown;
}

export class Pop3Error extends Error {
  override readonly name = 'Pop3Error';
  readonly kind: Pop3ErrorKind;
  readonly command?: string;
  readonly serverText?: string;
  readonly responseCode?: string;
  readonly code?: string;
  readonly step?: string;

  constructor(kind: Pop3ErrorKind, message: string, details: Pop3ErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.kind = kind;
    if (details.command !== undefined) this.command = details.command;
    if (details.serverText !== undefined) this.serverText = details.serverText;
    if (details.responseCode !== undefined) this.responseCode = details.responseCode;
    if (details.code !== undefined) this.code = details.code;
    if (details.step !== undefined) this.step = details.step;
  }
}

export function isPop3Error(err: unknown): err is Pop3Error {
  return err instanceof Pop3Error;
}

/** Replaces every occurrence of `secret` in `text` (used on server text seen during login). */
export function scrub(text: string, secret: string | undefined): string {
  if (!secret) return text;
  return text.split(secret).join('<redacted>');
}
