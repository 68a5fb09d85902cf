/**
 * The receiving mailbox could not be opened: the mail server could not be reached, stalled, or
 * refused the login or INBOX. Still a CannotRunError for a caller that only reads mail (its
 * message names the protocol and the step), but `poll` turns it into findings with the same ids
 * `test-mailbox` gives, since a mailbox that cannot be opened is a problem found, not a mistake
 * on the command line.
 */
import { Redactor, type StageFailure } from '../net/stage.js';
import { CannotRunError } from '../report/exit.js';

/** What failed and where, before it is judged (the caller maps `cause` to a stage failure). */
export interface MailboxOpenFailure {
  protocol: 'imap' | 'pop3';
  /** The stage in `test-mailbox`'s words: `resolve`, `connect`, `tls`, `greeting`, `starttls`, `login`, `inbox` ({@link probeStage}). */
  stage: string;
  /** The library's error as it was thrown. */
  cause?: unknown;
  /** Already judged: the stage runner's failure (the access check). */
  failure?: StageFailure;
}

export class MailboxOpenError extends CannotRunError {
  constructor(
    message: string,
    readonly detail: MailboxOpenFailure,
  ) {
    super(message);
    this.name = 'MailboxOpenError';
  }
}

export function isMailboxOpenError(err: unknown): err is MailboxOpenError {
  return err instanceof MailboxOpenError;
}

/**
 * A step's name (`TLS handshake`, `STARTTLS`, `LOGIN`, `EXAMINE`, ...) as the stage `test-mailbox`
 * reports for it, so that the same failure gives the same finding in both commands.
 */
export function probeStage(step: string): string {
  const s = step.trim().toUpperCase();
  if (s === 'CONNECT' || s === 'RESOLVE') return s.toLowerCase();
  if (s === 'TLS HANDSHAKE' || s === 'TLS') return 'tls';
  if (s === 'GREETING') return 'greeting';
  if (s === 'STARTTLS' || s === 'STLS') return 'starttls';
  if (s === 'EXAMINE' || s === 'SELECT') return 'inbox';
  return 'login';
}

/**
 * The error with the password masked in its message: a server may quote back what it was sent
 * (a SASL PLAIN blob in a NO answer), and the message is shown as it is by every reader's caller.
 */
export function maskOpenError(err: unknown, secret: string): unknown {
  if (!(err instanceof MailboxOpenError)) return err;
  const text = new Redactor([secret]).text(err.message);
  return text === err.message ? err : new MailboxOpenError(text, err.detail);
}
