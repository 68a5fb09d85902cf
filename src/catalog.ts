/**
 * Finding ids raised outside the config rules (probes, message checks, diagnose), with their
 * usual severity and a one-line summary. With the config rules' own metadata this is the list
 * the man page is generated from; a test scans the source so no id is missing here.
 * Only the man page generator and tests load this module (it pulls in the message checks).
 */
import type { RuleMeta } from './checks/rule.js';
import type { ReleaseLine } from './server/release.js';
import { REQUEST_RULES } from './imip/checklist.js';
import { REPLY_RULES } from './imip/reply-checks.js';
import { TOKEN_CAUSES } from './imip/token-causes.js';
import { SEND_TEST_FINDINGS } from './send/render.js';
import { DIAGNOSE_FINDINGS } from './diagnose/findings.js';
import { ROUNDTRIP_FINDINGS } from './roundtrip/findings.js';

const ALL: readonly ReleaseLine[] = ['2.x', '3.x-4.x', '5.0+'];
const meta = (id: string, severity: RuleMeta['severity'], summary: string, lines: readonly ReleaseLine[] = ALL): RuleMeta => ({ id, severity, lines, summary });

/** test-smtp, test-mailbox and check-config --connect (src/probes/). */
const PROBE_FINDINGS: RuleMeta[] = [
  meta('smtp.dns', 'error', 'The SMTP server name does not resolve.'),
  meta('smtp.connect-failed', 'error', 'The SMTP port refused the connection or is unreachable.'),
  meta('smtp.timeout', 'error', 'A stage of the SMTP exchange did not answer within --timeout.'),
  meta('smtp.implicit-tls-port', 'error', 'The sending port speaks TLS from the first byte (465); the server only speaks STARTTLS when sending.'),
  meta('smtp.starttls-missing', 'error', 'UseSSL is true but the SMTP server does not offer STARTTLS: the server refuses to send.'),
  meta('smtp.certificate-untrusted', 'error', 'The SMTP certificate is not trusted (self-signed, expired, wrong name, unknown issuer).'),
  meta('smtp.auth-failed', 'error', 'The SMTP server rejected Sending.Username and Sending.Password (535).'),
  meta('smtp.basic-auth-disabled', 'error', 'The provider turned password authentication off (5.7.30, 5.7.139, app password required); the server cannot do OAuth2.'),
  meta('smtp.auth-not-offered', 'error', 'A sending username is set but the server offers no AUTH mechanism the gateway can use.'),
  meta('smtp.auth-cleartext', 'warning', 'The gateway would send the SMTP password without TLS.'),
  meta('mailbox.dns', 'error', 'The mailbox server name does not resolve.'),
  meta('mailbox.port-missing', 'error', 'Receiving.Port is 0: nothing to connect to.'),
  meta('mailbox.connect-failed', 'error', 'The IMAP/POP port refused the connection or is unreachable.'),
  meta('mailbox.timeout', 'error', 'A stage of the IMAP/POP exchange did not answer within --timeout.'),
  meta('mailbox.tls-mismatch', 'error', 'The port speaks the other TLS mode than Receiving.UseSSL says; the finding names the UseSSL that would work.'),
  meta('mailbox.certificate-untrusted', 'error', 'The IMAP/POP certificate is not trusted.'),
  meta('mailbox.login-failed', 'error', 'The mailbox rejected Receiving.Username and Receiving.Password.'),
  meta('mailbox.pop-cleartext-login', 'error', 'POP3 without TLS and without APOP: the gateway refuses to log in.'),
  meta('mailbox.auth-cleartext', 'warning', 'The gateway would send the mailbox password before TLS.'),
  meta('mailbox.seen-messages', 'warning', '5.1 and later read only unseen IMAP messages: messages already marked read are never processed.', ['5.0+']),
  meta('mailbox.not-dedicated', 'warning', 'The mailbox holds mail that is plainly not iMIP traffic; the server deletes what it processes.'),
  meta('tls.insecure', 'info', 'Certificate checks were off (--insecure).'),
];

/** poll and diagnose, per message (src/imip/classify.ts). */
const MESSAGE_FINDINGS: RuleMeta[] = [
  meta('message.seen', 'warning', 'A message already marked \\Seen: 5.1 and later on IMAP never read it.', ['5.0+']),
  meta('message.blocks-cycle', 'error', 'IMAP 2.x-5.0: the server fails on this message inside its processing and leaves it in the mailbox; every later poll meets it first and stops, so no message after it is ever processed (mailbox effect left-blocks-every-poll).'),
  meta('message.stops-cycle', 'warning', 'IMAP 5.1+: the server fails on this message, the poll stops there (later unseen messages wait for the next poll) and the message stays \\Seen, never processed.', ['5.0+']),
];

export const FINDING_CATALOG: RuleMeta[] = [
  ...PROBE_FINDINGS,
  ...Object.values(REQUEST_RULES).map((r) => meta(r.id, r.severity, r.description)),
  ...REPLY_RULES.map((r) => meta(r.id, r.severity, r.description)),
  ...MESSAGE_FINDINGS,
  ...Object.entries(TOKEN_CAUSES).map(([id, text]) => meta(id, 'error', `${text}.`)),
  ...Object.values(SEND_TEST_FINDINGS).map((f) => meta(f.id, f.severity as RuleMeta['severity'], f.summary)),
  ...DIAGNOSE_FINDINGS,
  ...Object.values(ROUNDTRIP_FINDINGS).map((f) => meta(f.id, f.severity, f.summary)),
];

export function catalogIds(): Set<string> {
  return new Set(FINDING_CATALOG.map((m) => m.id));
}
