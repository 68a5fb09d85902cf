/**
 * The receiving side's findings about how Calendar Server's own IMAP/POP3 client connects and logs
 * in (src/server/mail-clients.ts): the certificate as the release judges it, a password sent in
 * clear text, TLS 1.0 refused on the server's own STARTTLS/STLS, a POP3 server the client never
 * logs in to. Shared by `test-mailbox` and by the server-access check that `poll`, `diagnose` and
 * `send-test --wait-reply` run before they read.
 */
import type { ReceivingSettings } from '../config/settings.js';
import type { Finding } from '../report/finding.js';
import { pop3NeverLogsInText, type MailClients } from '../server/mail-clients.js';
import { dnsNames, type TlsInfo } from '../net/tls-info.js';
import type { LoginPlan } from './mailbox-login-plan.js';

const CONFIG = 'Scheduling.iMIP.Receiving';

function where(receiving: ReceivingSettings): string {
  return `${receiving.server}:${receiving.port}`;
}

/** With UseSSL false the server's STARTTLS/STLS offers TLS 1.0 only, and the mail server refuses it. */
export function tls10RefusedFinding(receiving: ReceivingSettings, evidence: Record<string, unknown>, steps: unknown): Finding {
  const pop = receiving.protocol === 'pop3';
  return {
    id: 'mailbox.tls10-refused',
    severity: 'error',
    path: `${CONFIG}.UseSSL`,
    message: `${where(receiving)} refuses TLS 1.0. With UseSSL false Calendar Server starts TLS itself (${pop ? 'STLS' : 'STARTTLS'}) offering TLS 1.0 only, so its login fails and no reply is read.`,
    evidence: { ...evidence, calendarServerSteps: steps },
    fix: `Set ${CONFIG}.UseSSL to true with the port that speaks TLS from the first byte (${pop ? 'POP3S 995' : 'IMAPS 993'}): Calendar Server then negotiates current TLS.`,
  };
}

/** POP3 with neither an APOP challenge nor STLS: the server's client refuses USER/PASS in clear. */
export function popNoLoginFinding(receiving: ReceivingSettings, evidence: Record<string, unknown>, hint?: string): Finding {
  return {
    id: 'mailbox.pop-cleartext-login',
    severity: 'error',
    path: `${CONFIG}.UseSSL`,
    message: `${where(receiving)} offers neither an APOP challenge nor STLS, and Calendar Server refuses to send a POP3 password in clear text: it never logs in, so no reply is ever processed.`,
    evidence,
    fix: hint ?? `Set ${CONFIG}.UseSSL to true with port 995.`,
  };
}

/** 5.0 over POP3: the server's reader fails at the greeting, whatever the mail server does (release.ts `pop3NeverLogsIn`). */
export function pop3NeverLogsInFinding(receiving: ReceivingSettings, versionText: string): Finding {
  const { message, fix } = pop3NeverLogsInText(versionText);
  return { id: 'receiving.pop-never-logs-in', severity: 'error', path: `${CONFIG}.Type`, message: `${message}.`, evidence: { server: receiving.server, port: receiving.port, serverVersion: versionText }, fix };
}

/**
 * IMAP with UseSSL false where the server's own login cannot succeed, whatever the password
 * (./mailbox-login-plan.ts), or null:
 * - `loginNeverSent`: 4.1, 4.1.1 and 5.0 with no STARTTLS and no mechanism Twisted knows: the only
 *   login left is LOGIN in clear text, which these releases never send (release.ts
 *   `imapCleartextLoginRaises`);
 * - `loginRefused`: the same server says LOGINDISABLED: the server's client sends LOGIN anyway,
 *   in clear text, and is refused.
 */
export function imapLoginBlockedFinding(receiving: ReceivingSettings, versionText: string, plan: Pick<LoginPlan, 'loginNeverSent' | 'loginRefused' | 'steps'>): Finding | null {
  if (!plan.loginNeverSent && !plan.loginRefused) return null;
  const failed = `every poll ends with "IMAP login failed for ${receiving.username}" whatever the password, and no reply is read.`;
  const [id, message, fix] = plan.loginNeverSent
    ? [
        'mailbox.imap-login-never-sent',
        `${where(receiving)} offers no STARTTLS and no login mechanism Calendar Server knows, so with UseSSL false its only way in is LOGIN in clear text. ` +
          `Calendar Server ${versionText} never sends it: its IMAP logger raises on Twisted's notice "Server has no TLS support. logging in over cleartext!", so ${failed}`,
        `Set ${CONFIG}.UseSSL to true with port 993, or offer STARTTLS on this port; 4.2 and 5.1 and later send the LOGIN.`,
      ]
    : [
        'mailbox.imap-login-disabled',
        `${where(receiving)} says LOGINDISABLED and offers no STARTTLS and no login mechanism Calendar Server knows. With UseSSL false, Calendar Server ${versionText} ` +
          `sends LOGIN anyway, with the password in clear text, and the server refuses it: ${failed}`,
        `Set ${CONFIG}.UseSSL to true with port 993, or offer STARTTLS on this port.`,
      ];
  return {
    id,
    severity: 'error',
    path: `${CONFIG}.UseSSL`,
    message,
    evidence: { server: receiving.server, port: receiving.port, useSSL: false, serverVersion: versionText, calendarServerSteps: plan.steps },
    fix,
  };
}

export function cleartextFindings(receiving: ReceivingSettings, plan: LoginPlan | undefined): Finding[] {
  if (!plan?.cleartext) return [];
  const at = where(receiving);
  return [
    {
      id: 'mailbox.cleartext-password',
      severity: 'warning',
      path: `${CONFIG}.UseSSL`,
      message:
        `With UseSSL false, Calendar Server logs in to ${at} with ${plan.cleartext}: the password crosses the network unencrypted. ` +
        '(Twisted starts TLS only when none of its mechanisms is offered before TLS.)',
      evidence: { server: receiving.server, port: receiving.port, calendarServerSteps: plan.steps },
      fix:
        `Set ${CONFIG}.UseSSL to true with the port that speaks TLS from the first byte (IMAPS 993, POP3S 995), or make the mail server offer ` +
        'authentication only after STARTTLS (Dovecot: disable_plaintext_auth = yes; it exempts connections from localhost).',
    },
  ];
}

/**
 * The certificate as the server's client judges it: the chain never (a warning: the password
 * could be read); the name on 9.x with UseSSL true (an error: the connection breaks), a warning
 * before. `stoppedBecause` is set when the tool stopped before its own login.
 */
export function certificateFindings(
  receiving: ReceivingSettings,
  tls: TlsInfo | undefined,
  clients: MailClients,
  stoppedBecause?: string,
  /** Who stopped, for the message: `This test` (test-mailbox) or `This run` (poll, diagnose, send-test). */
  who = 'This test',
): Finding[] {
  const at = where(receiving);
  const out: Finding[] = [];
  const ev = { server: receiving.server, port: receiving.port, useSSL: receiving.useSSL, protocol: receiving.protocol };
  const checksName = receiving.useSSL && clients.imap.useSSL.context.certificate === 'host-name';
  const isIp = /^[0-9.]+$|:/.test(receiving.server.trim());
  // With UseSSL false the server's own STARTTLS/STLS never checks the name, in any release.
  if (tls && !tls.nameMatches && receiving.useSSL) {
    const names = tls.sans.length ? tls.sans.join(', ') : `CN=${tls.subjectCN ?? '?'}`;
    out.push({
      id: 'mailbox.certificate-name-mismatch',
      severity: checksName ? 'error' : 'warning',
      path: `${CONFIG}.Server`,
      message: checksName
        ? isIp
          ? `Receiving.Server is the IP address ${receiving.server}, and this release checks the certificate against Server as a DNS name, which an address never matches: the TLS connection breaks whatever the certificate names (${names}) and no reply is read.`
          : `The certificate of ${at} does not name ${receiving.server} (it names ${names}). This release checks the host name: the TLS connection breaks and no reply is read.`
        : `The certificate of ${at} does not name ${receiving.server} (it names ${names}). This release does not check it, so replies are read, but from 9.0 on the connection breaks.`,
      evidence: { ...ev, names: tls.sans, subjectCN: tls.subjectCN },
      fix:
        checksName && isIp
          ? `Set ${CONFIG}.Server to a host name the certificate names as a DNS name${dnsNames(tls.sans)}; a certificate cannot help while Server is an address.`
          : `Set ${CONFIG}.Server to a host name the certificate names, or give the mail server a certificate for ${receiving.server}.`,
    });
  }
  if (!tls || !tls.chainTrusted || (stoppedBecause && !out.length)) {
    out.push({
      id: 'mailbox.certificate-untrusted',
      severity: 'warning',
      path: `${CONFIG}.Server`,
      message: `The certificate of ${at} is not trusted (${tls?.reason ?? stoppedBecause?.replace(/^the server certificate is not trusted: /, '') ?? 'it does not verify'}). Calendar Server does not check the chain and reads the mailbox anyway, so this never stops replies, but anyone on the network path could pose as the mail server and read the password.`,
      evidence: { ...ev, ...(tls ? { certificate: { subjectCN: tls.subjectCN, issuer: tls.issuer, sans: tls.sans, verifyCode: tls.verifyCode } } : {}) },
      fix: "Give the mail server a certificate from a CA the host trusts (for example Let's Encrypt).",
    });
  }
  const serverBreaks = out.some((x) => x.severity === 'error');
  if (stoppedBecause && !serverBreaks && out[0]) {
    out[0] = {
      ...out[0],
      message:
        `${out[0].message} ${who} stopped before sending the password: Calendar Server would go on and log in. ` +
        'To test the login anyway, pass the CA that signed the certificate with --ca-file, or use --insecure (the output says so).',
    };
  }
  return out;
}
