/**
 * A receiving mailbox that `poll` could not open, judged as `test-mailbox` judges it: the same
 * stage names, the same failure kinds, the same finding ids (`mailbox.login-failed`,
 * `mailbox.connect-failed`, `mailbox.timeout`, `mailbox.dns`, ...). Secrets are masked in
 * everything it returns, as the stage runner masks them.
 */
import type { ReceivingSettings } from '../config/settings.js';
import type { MailboxOpenError } from '../mailbox/open-error.js';
import { Redactor, StageError, type StageFailure } from '../net/net-stage.js';
import type { Finding } from '../report/finding.js';
import { mailClientsFor } from '../server/mail-clients.js';
import type { ServerVersion } from '../server/release.js';
import { imapError, pop3Error } from './mailbox-errors.js';
import { failureFindings } from './mailbox-probe.js';

export interface MailboxOpenVerdict {
  /** The failing stage, as `test-mailbox` would report it. */
  failure: StageFailure;
  findings: Finding[];
}

export function mailboxOpenFindings(receiving: ReceivingSettings, version: ServerVersion, err: MailboxOpenError): MailboxOpenVerdict {
  const redactor = new Redactor([receiving.password]);
  const d = err.detail;
  let failure = d.failure;
  if (!failure) {
    const host = receiving.server.trim();
    const se =
      // The tool's own time-outs already say the protocol, the step and the limit.
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
  const findings = failureFindings(receiving, failure, { tlsMode: receiving.useSSL ? 'implicit' : 'starttls' }, mailClientsFor(version));
  return { failure, findings: redactor.deep(findings) };
}
