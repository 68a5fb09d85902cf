/**
 * A receiving mailbox that `poll` could not open, judged as `test-mailbox` judges it: the same
 * stage names, the same failure kinds, the same finding ids (`mailbox.login-failed`,
 * `mailbox.connect-failed`, `mailbox.timeout`, `mailbox.dns`, ...). The library's error is masked
 * for secrets, as the stage runner masks what it records.
 */
import type { ReceivingSettings } from '../config/settings.js';
import type { MailboxOpenError } from '../mailbox/open-error.js';
import { Redactor, StageError } from '../net/net-stage.js';
import type { Finding } from '../report/finding.js';
import { mailClientsFor } from '../server/mail-clients.js';
import type { ServerVersion } from '../server/release.js';
import { imapError, missingCredentials, pop3Error } from './mailbox-errors.js';
import { failureFindings } from './mailbox-probe.js';

/** The findings `test-mailbox` gives for the stage where opening the mailbox failed. */
export function mailboxOpenFindings(receiving: ReceivingSettings, version: ServerVersion, err: MailboxOpenError): Finding[] {
  const d = err.detail;
  let failure = d.failure;
  if (!failure) {
    // Judged here, not by a stage runner: masked here as the runner masks what it records.
    const redactor = new Redactor([receiving.password]);
    const host = receiving.server.trim();
    // An empty user name or password: the login sent nothing (the library refuses it first).
    const missing = d.stage === 'login' ? missingCredentials(receiving) : null;
    const se = missing
      ? missing
      : // The tool's own time-outs already say the protocol, the step and the limit.
      d.cause instanceof Error && / timed out after /.test(d.cause.message)
        ? new StageError('timeout', d.cause.message)
        : d.protocol === 'imap'
          ? imapError(d.cause, { user: receiving.username, certificate: null })
          : pop3Error(d.cause, { user: receiving.username, host, port: receiving.port });
    failure = {
      stage: d.stage,
      kind: se.kind,
      error: redactor.text(se.message),
      evidence: redactor.deep(se.evidence),
      ...(se.hint ? { hint: redactor.text(se.hint) } : {}),
    };
  }
  // The findings hold only that failure and the settings' names, never the password.
  return failureFindings(receiving, failure, { tlsMode: receiving.useSSL ? 'implicit' : 'starttls' }, mailClientsFor(version));
}
