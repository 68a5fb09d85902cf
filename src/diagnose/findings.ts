/**
 * Every finding id `imip diagnose` raises itself, with its area, severity, release lines and a
 * one-line summary, in one table (the log ids come from the log-pattern table in
 * src/diagnose/log-patterns.ts). The man page and the finding catalog can be generated from
 * {@link DIAGNOSE_FINDINGS}; the ids are part of the public contract.
 */
import type { RuleMeta } from '../checks/rule.js';
import type { Finding, Severity } from '../report/finding.js';
import type { ReleaseLine } from '../server/release.js';
import { LOG_PATTERNS } from './log-patterns.js';

export { AREAS, AREA_TITLES, type AreaId, type DiagnoseFinding } from './types.js';
import type { AreaId, DiagnoseFinding } from './types.js';

const ALL: readonly ReleaseLine[] = ['2.x', '3.x-4.x', '5.0+'];
const GATEWAY: readonly ReleaseLine[] = ['2.x', '3.x-4.x'];

interface DiagnoseMeta extends RuleMeta {
  area: AreaId;
}

const meta = (id: string, area: AreaId, severity: Severity, summary: string, lines: readonly ReleaseLine[] = ALL): DiagnoseMeta => ({
  id,
  area,
  severity,
  lines,
  summary,
});

/** Injection causes (injection-causes.ts) and the two live probes. */
const OWN: DiagnoseMeta[] = [
  meta('injection.principal-not-found', 'injection', 'error', '2.x: the server looked for the injection user in its directory and did not find it ("iMIP injection principal not found: NAME"); compared with the configured Username.', ['2.x']),
  meta('injection.user-not-in-directory', 'injection', 'error', '2.x: the XML accounts file the config names has no user with the injection Username; a ready record to add is printed.', ['2.x']),
  meta('injection.credentials-rejected', 'injection', 'error', 'The injection probe\'s request with the configured credentials was refused with 401 (2.x: Username/Password; 3.x-4.x: the shared secret).', GATEWAY),
  meta('injection.not-allowed', 'injection', 'error', 'The injection probe authenticated but the server answered 403: another user than its ACL names, or a host other than MailGatewayServer.', GATEWAY),
  meta('injection.not-this-version', 'injection', 'error', 'The log holds "iMIP injection principal not found", which only 2.x writes, while the configured release line has no injection principal: a stale log, another server, or a wrong --server-version.', ['3.x-4.x', '5.0+']),
  meta('injection.directory-offline', 'injection', 'info', 'The directory is Open Directory or LDAP, which cannot be read offline: the command that checks the injection user on that system.', ['2.x']),
  meta('injection.probe-failed', 'injection', 'warning', 'The injection probe could not judge the credentials: no /inbox/ answered (unreachable, 404/405, unexpected status).', GATEWAY),
  meta('plus.rejected', 'plus', 'error', 'The plus-address probe was refused at RCPT TO (e.g. 550) while the bare Sending.Address was accepted in the same session: the mail system does not accept local+detail@ addresses.'),
  meta('plus.address-refused', 'sending', 'error', 'The relay refused the plus-address probe at RCPT TO and the bare Sending.Address too (unknown user, relay access denied): it refuses the recipient itself, not plus addressing; its replies are the evidence.'),
  meta('plus.lost', 'plus', 'error', 'The plus-address probe was accepted but never reached the mailbox, while a control message to the bare Sending.Address did: the mail system loses plus addresses.'),
  meta('plus.wrong-mailbox', 'plus', 'error', 'Neither the plus-address probe nor a control message to the bare Sending.Address reached the receiving mailbox: it is not the mailbox of Sending.Address.'),
  meta('plus.detail-stripped', 'plus', 'error', 'The probe arrived but its To header no longer carries the +detail: the server cannot read a token from such mail.'),
  meta('plus.delivered-to-stripped', 'plus', 'info', 'The probe arrived with +detail in To, but Delivered-To/X-Original-To show the base address: harmless for the server, which reads To only.'),
  meta('plus.not-verified', 'plus', 'warning', 'The plus-address probe could not run to the end (sending failed for another reason, or the mailbox could not be read); nothing is known about plus addresses.'),
  meta('plus.probe-left', 'plus', 'warning', 'The probe message could not be removed exactly (no UIDPLUS, or the server refused): it is left in the mailbox, flagged \\Deleted where possible.'),
  meta('diagnose.not-a-reply', 'replies', 'warning', 'A saved message is an invitation as the server sends it (a METHOD other than REPLY, the tokenized address as ORGANIZER), not an attendee\'s reply: its token causes are not judged.'),
  meta('diagnose.input-unreadable', 'config', 'error', 'An input given or named by the config could not be examined: missing, unreadable, binary, not a mail message, not XML; the rest of the diagnosis still runs.'),
];

/** Log-derived ids, from the log-pattern table. */
const LOG_META: DiagnoseMeta[] = LOG_PATTERNS.map((p) => meta(p.id, p.area, p.severity, p.summary, p.lines));

/** Every id diagnose raises itself (config, probe, token and reply ids are documented elsewhere). */
export const DIAGNOSE_FINDINGS: RuleMeta[] = [...OWN, ...LOG_META].map(({ id, severity, lines, summary }) => ({ id, severity, lines, summary }));

const AREA_BY_ID = new Map<string, AreaId>([...OWN, ...LOG_META].map((m) => [m.id, m.area]));

/** The area of any finding id: diagnose's own table first, then by family. */
export function areaOf(id: string): AreaId {
  const own = AREA_BY_ID.get(id);
  if (own) return own;
  if (id === 'sending.address-plus') return 'plus';
  const family = id.slice(0, id.indexOf('.'));
  switch (family) {
    case 'sending':
    case 'smtp':
    case 'request':
      return 'sending';
    case 'receiving':
    case 'mailbox':
      return 'receiving';
    case 'token':
    case 'reply':
    case 'message':
      return 'replies';
    case 'injection':
    case 'gateway':
      return 'injection';
    case 'plus':
      return 'plus';
    default:
      return 'config';
  }
}

export function withArea(f: Finding, source: string, area: AreaId = areaOf(f.id)): DiagnoseFinding {
  return { ...f, area, source };
}
