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
import { TOKEN_STORE_FINDINGS } from './tokens/findings.js';
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
  meta('smtp.certificate-untrusted', 'warning', 'The SMTP certificate is not trusted (self-signed, expired, unknown issuer). The server never checks the chain, so mail flows; anyone on the path could read the password.'),
  meta('smtp.certificate-name-mismatch', 'error', 'The SMTP certificate does not name Sending.Server (or Server is an IP address): the connection breaks on 9.x (MailCertificateAlert); a warning before 9.x.'),
  meta('smtp.tls10-refused', 'error', 'UseSSL is false, the relay offers STARTTLS and refuses TLS 1.0: the server starts TLS 1.0 there and no invitation leaves.'),
  meta('smtp.auth-mechanism-rejected', 'error', 'The relay refused the first mechanism the server picks (CRAM-MD5, LOGIN, PLAIN order) and the server never tries another; a later one works.'),
  meta('smtp.auth-skipped', 'warning', 'No AUTH: Password empty, or no AUTH (or no mechanism the server knows) where it would log in; says whether the relay then refuses the mail at RCPT. On macOS with the password in the keychain: the login is untested (reason keychain).'),
  meta('smtp.auth-failed', 'error', 'The SMTP server rejected Sending.Username and Sending.Password (535).'),
  meta('smtp.basic-auth-disabled', 'error', 'The provider turned password authentication off (5.7.30, 5.7.139, app password required); the server cannot do OAuth2.'),
  meta('smtp.auth-cleartext', 'warning', 'The gateway would send the SMTP password without TLS.'),
  meta('mailbox.dns', 'error', 'The mailbox server name does not resolve.'),
  meta('mailbox.port-missing', 'error', 'Receiving.Port is 0: nothing to connect to.'),
  meta('mailbox.connect-failed', 'error', 'The IMAP/POP port refused the connection or is unreachable.'),
  meta('mailbox.timeout', 'error', 'A stage of the IMAP/POP exchange did not answer within --timeout.'),
  meta('mailbox.tls-mismatch', 'error', 'The port speaks the other TLS mode than Receiving.UseSSL says; the finding names the UseSSL that would work.'),
  meta('mailbox.certificate-untrusted', 'warning', 'The IMAP/POP certificate is not trusted. The server never checks the chain, so replies are read; anyone on the path could read the password.'),
  meta('mailbox.certificate-name-mismatch', 'error', 'The IMAP/POP certificate does not name Receiving.Server (or Server is an IP address): the connection breaks on 9.x; a warning before 9.x.'),
  meta('mailbox.tls10-refused', 'error', 'A clear receiving port where the server starts TLS itself (IMAP STARTTLS, POP3 STLS) with TLS 1.0 only, and the mail server refuses TLS 1.0: no login.'),
  meta('mailbox.cleartext-password', 'warning', 'A step of the server\'s login would send the mailbox password in clear text (AUTHENTICATE PLAIN or LOGIN before TLS, LOGIN without STARTTLS).'),
  meta('mailbox.session-failed', 'error', 'The IMAP/POP session failed after the connection (the server closed it, refused a command such as EXAMINE INBOX, or answered out of protocol) at a stage no other finding names.'),
  meta('mailbox.login-failed', 'error', 'The mailbox rejected Receiving.Username and Receiving.Password.'),
  meta('mailbox.in-use', 'error', 'POP3 -ERR [IN-USE]: the login was accepted, but another session holds the maildrop; while it does, the server reads nothing.'),
  meta('mailbox.imap-login-never-sent', 'error', 'IMAP on 4.1, 4.1.1 and 5.0 with UseSSL false, no STARTTLS and no known login mechanism: the server\'s logger raises before its clear-text LOGIN, so it never logs in ("IMAP login failed").', ['3.x-4.x', '5.0+']),
  meta('mailbox.imap-login-disabled', 'error', 'IMAP with UseSSL false on a server that says LOGINDISABLED and offers neither STARTTLS nor a mechanism Twisted knows: the server sends LOGIN anyway, in clear text, and is refused ("IMAP login failed").'),
  meta('mailbox.pop-cleartext-login', 'error', 'POP3 without TLS and without APOP: the gateway refuses to log in.'),
  meta('mailbox.seen-messages', 'warning', '5.1 and later read only unseen IMAP messages: messages already marked read are never processed.', ['5.0+']),
  meta('mailbox.not-dedicated', 'warning', 'The mailbox holds mail that is plainly not iMIP traffic; the server deletes what it processes.'),
  meta('tls.insecure', 'info', 'Certificate checks were off (--insecure).'),
];

/** poll and diagnose, per message (src/imip/classify.ts). */
const MESSAGE_FINDINGS: RuleMeta[] = [
  meta('message.seen', 'warning', 'A message already marked \\Seen: 5.1 and later on IMAP never read it.', ['5.0+']),
  meta('message.blocks-cycle', 'error', 'IMAP 2.x-5.0: the server fails on this message inside its processing and leaves it in the mailbox; every later poll meets it first and stops, so no message after it is ever processed (mailbox effect left-blocks-every-poll).'),
  meta('message.header-not-utf8', 'error', '8.0+: the Message-ID, From or To header holds bytes that are not UTF-8; the server fails logging it ("Failed to process message: \'utf8\' codec can\'t decode …") and never reads the reply (a bounce carrying the invitation fails later, inside its processing, where its Message-ID is logged).', ['5.0+']),
  meta('message.nested-too-deep', 'error', 'The MIME parts nest past the depth Python\'s email parser reaches inside the server (about 935 levels): it raises "maximum recursion depth exceeded" and the server fails on the message before reading the token.'),
  meta('message.to-unparsable', 'error', 'The To header nests comments past Python\'s recursion limit (about 480 levels): the server\'s parseaddr raises "maximum recursion depth exceeded" and it fails on the message before reading the token.'),
  meta('message.stops-cycle', 'warning', 'IMAP 5.1+: the server fails on this message, the poll stops there (later unseen messages wait for the next poll) and the message stays \\Seen, never processed.', ['5.0+']),
];

export const FINDING_CATALOG: RuleMeta[] = [
  ...PROBE_FINDINGS,
  ...Object.values(REQUEST_RULES).map((r) => meta(r.id, r.severity, r.description)),
  ...REPLY_RULES.map((r) => meta(r.id, r.severity, r.description, r.lines)),
  ...MESSAGE_FINDINGS,
  ...Object.entries(TOKEN_CAUSES).map(([id, text]) => meta(id, 'error', `${text}.`)),
  ...Object.values(SEND_TEST_FINDINGS).map((f) => meta(f.id, f.severity as RuleMeta['severity'], f.summary)),
  ...DIAGNOSE_FINDINGS,
  ...TOKEN_STORE_FINDINGS,
  ...Object.values(ROUNDTRIP_FINDINGS).map((f) => meta(f.id, f.severity, f.summary)),
];

export function catalogIds(): Set<string> {
  return new Set(FINDING_CATALOG.map((m) => m.id));
}
