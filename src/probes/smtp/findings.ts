/**
 * The findings of an SMTP session, from the server's side: what Calendar Server's sender would
 * get on this path (src/server/mail-clients.ts), and, apart from that, what stopped the tool's own
 * test. Shared by `test-smtp`, `check-config --connect` and `send-test`.
 */
import { keychainPasswordFix } from '../../config/keychain.js';
import type { SendingSettings } from '../../config/settings.js';
import type { Finding } from '../../report/finding.js';
import { dnsNames, type TlsInfo } from '../../net/tls-info.js';
import { RESOLVER_TIMEOUT_HINT } from '../../net/errors.js';
import { ipv6ServerText } from '../../server/mail-clients.js';
import { OAUTH_ONLY_HINT } from '../provider-auth.js';
import { CONFIG, type SmtpSessionResult } from './session.js';

function finding(id: string, severity: Finding['severity'], path: string, message: string, evidence: Record<string, unknown>, fix: string): Finding {
  return { id, severity, path, message: message.replace(/\s+$/, '').replace(/\.+$/, '') + '.', evidence, fix };
}

function pick(obj: Record<string, unknown>, keys: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of keys) if (obj[k] !== undefined) out[k] = obj[k];
  return out;
}

/** Said when the tool stopped after the handshake although the server would carry on. */
export const STOPPED_FOR_CERTIFICATE =
  'This test stopped before sending the password or any mail: Calendar Server would go on and log in. ' +
  'To test the login anyway, pass the CA that signed the certificate with --ca-file, or use --insecure (the output says so).';

export function smtpFindings(sending: SendingSettings, res: SmtpSessionResult): Finding[] {
  const out: Finding[] = [];
  const f = res.runner.failure;
  const where = `${sending.server}:${sending.port}`;
  const base = { server: sending.server, port: sending.port, useSSL: sending.useSSL };
  if (f) {
    const ev = { ...base, stage: f.stage, error: f.error, ...pick(f.evidence, ['code', 'reply', 'greeting', 'portSpeaks', 'addresses', 'offered', 'mechanism']) };
    const err = (id: string, path: string, message: string, fix: string, extra: Record<string, unknown> = {}): void => {
      out.push(finding(id, 'error', path, message, { ...ev, ...extra }, fix));
    };
    switch (f.kind) {
      case 'dns':
        if (f.evidence.ipv4Only && f.evidence.literal) {
          // The config rule's own finding (checks/server-address.ts), so check-config --connect says it once.
          const t = ipv6ServerText('Sending', sending.server.trim(), String(f.evidence.releases));
          err('sending.server-ipv6-address', `${CONFIG}.Server`, t.message, t.fix);
          break;
        }
        if (f.evidence.ipv4Only) {
          // The name resolves, to IPv6 addresses only: the release's lookup finds nothing it can use.
          err('smtp.dns', `${CONFIG}.Server`, `${f.error}, so no invitation goes out`, f.hint ?? `Fix ${CONFIG}.Server.`);
          break;
        }
        err('smtp.dns', `${CONFIG}.Server`, `The SMTP server name does not resolve: ${f.error}`, f.hint ?? `Fix ${CONFIG}.Server.`);
        break;
      case 'config':
        if (f.stage === 'resolve') err('smtp.dns', `${CONFIG}.Server`, `No SMTP server is configured: ${f.error}`, f.hint ?? `Set ${CONFIG}.Server.`);
        else if (f.stage === 'connect') err('smtp.connect-failed', `${CONFIG}.Port`, `Cannot connect: ${f.error}`, f.hint ?? `Set ${CONFIG}.Port.`);
        else err('smtp.connect-failed', `${CONFIG}.Server`, `The SMTP test could not run: ${f.error}`, f.hint ?? 'Check the options given.');
        break;
      case 'refused':
      case 'unreachable':
        err('smtp.connect-failed', `${CONFIG}.Port`, `Cannot connect to the SMTP server ${where}: ${f.error}`, f.hint ?? 'Check the server name, the port and firewalls.');
        break;
      case 'closed':
        if (f.stage === 'connect' || f.stage === 'greeting') {
          err('smtp.connect-failed', `${CONFIG}.Port`, `The SMTP server ${where} dropped the connection (${f.stage}): ${f.error}`, f.hint ?? "Check the port and the server's log.");
        } else {
          err('smtp.connect-failed', `${CONFIG}.Server`, `The SMTP server ${where} closed the connection at the ${f.stage} stage: ${f.error}`, f.hint ?? "Read the server's log.");
        }
        break;
      case 'timeout':
        // Before any connection, only this machine's resolver was waited for.
        if (f.stage === 'resolve') err('smtp.timeout', `${CONFIG}.Server`, `The name ${sending.server} did not resolve in time: ${f.error}`, RESOLVER_TIMEOUT_HINT);
        else err('smtp.timeout', `${CONFIG}.Server`, `The SMTP server ${where} did not answer in time: ${f.error}`, f.hint ?? 'Check firewalls and the port; raise --timeout for a slow server.');
        break;
      case 'tls-mismatch':
        err(
          'smtp.implicit-tls-port',
          `${CONFIG}.Port`,
          `Port ${sending.port} expects TLS from the first byte (SMTPS); Calendar Server only speaks STARTTLS when sending, so it would wait forever here`,
          `Set ${CONFIG}.Port to the submission port (587) with ${CONFIG}.UseSSL true.`,
        );
        break;
      case 'starttls-missing':
        err('smtp.starttls-missing', `${CONFIG}.UseSSL`, `${where} does not offer STARTTLS; with UseSSL true Calendar Server refuses to send any mail`, f.hint ?? 'Use a port that offers STARTTLS.');
        break;
      case 'tls10-refused':
        err(
          'smtp.tls10-refused',
          `${CONFIG}.UseSSL`,
          `${where} offers STARTTLS and refuses TLS 1.0. With UseSSL false Calendar Server still starts TLS there, offering TLS 1.0 only, so the handshake fails and no invitation leaves`,
          `Set ${CONFIG}.UseSSL to true: Calendar Server then negotiates current TLS. (Allowing TLS 1.0 on the relay also works, but weakens it for everyone.)`,
          { openssl: f.evidence.openssl },
        );
        break;
      case 'tls':
        err('smtp.connect-failed', `${CONFIG}.Server`, `The TLS handshake with ${where} failed: ${f.error}`, f.hint ?? 'Compare the TLS versions and ciphers the relay allows with current clients.');
        break;
      case 'certificate-name':
        out.push(nameMismatch(sending, res, 'error'));
        break;
      case 'auth-mechanism': {
        const works = String(f.evidence.worksWith ?? '');
        err(
          'smtp.auth-mechanism-rejected',
          `${CONFIG}.Password`,
          `The relay refused ${String(f.evidence.mechanism)} for ${sending.username}, the first mechanism Calendar Server picks from what the relay offers, and the server never tries another. ${works} works with the same password (tried by imip only to explain), so every invitation fails at AUTH`,
          `Turn ${String(f.evidence.mechanism)} off for this account on the relay (it cannot check that mechanism, for example because the password is stored hashed), or store the password so the relay can check ${String(f.evidence.mechanism)}.`,
          { worksWith: works },
        );
        break;
      }
      case 'auth':
        err('smtp.auth-failed', `${CONFIG}.Password`, `SMTP login as ${sending.username} failed: ${f.error}`, f.hint ?? `Check ${CONFIG}.Username and ${CONFIG}.Password.`);
        break;
      case 'basic-auth-disabled':
        err('smtp.basic-auth-disabled', `${CONFIG}.Username`, `The provider does not accept password logins for ${sending.username} (${f.error}); Calendar Server cannot do OAuth2`, OAUTH_ONLY_HINT);
        break;
      case 'certificate':
        // Judged below from the certificate seen, as the server's client judges it.
        if (!res.tls) err('smtp.connect-failed', `${CONFIG}.Server`, `The TLS handshake with ${where} failed: ${f.error}`, f.hint ?? 'Check the certificate the relay presents.');
        break;
      default:
        // A refusal at MAIL FROM, RCPT TO or DATA shows in its stage (send-test names it as its
        // own finding); before that, any other failure means the relay does not speak to this
        // client, and it gets a finding: the failed stage alone is no id to act on.
        if (f.stage !== 'mail-from' && f.stage !== 'rcpt-to' && f.stage !== 'data' && f.stage !== 'relay-check') {
          const what = f.stage === 'internal' ? 'stopped on an unexpected error' : `failed at the ${f.stage} stage`;
          err('smtp.connect-failed', `${CONFIG}.Server`, `The SMTP exchange with ${where} ${what}: ${f.error}`, f.hint ?? "Read the relay's reply.");
        }
        break;
    }
  }

  // The certificate, judged as the server's client judges it. The note that the tool stopped is
  // said once, on the first of these findings.
  if (res.tls) {
    const cert: Finding[] = [];
    // With UseSSL false the server's own STARTTLS never checks the name, in any release.
    if (!res.tls.nameMatches && sending.useSSL && f?.kind !== 'certificate-name') cert.push(nameMismatch(sending, res, res.context.certificate === 'host-name' ? 'error' : 'warning'));
    if (!res.tls.chainTrusted || (res.stoppedForCertificate && !cert.length)) cert.push(untrusted(sending, res, res.tls));
    if (res.stoppedForCertificate && cert[0]) cert[0] = { ...cert[0], message: `${cert[0].message.replace(/\.$/, '')}. ${STOPPED_FOR_CERTIFICATE}` };
    out.push(...cert);
  }

  if (res.authSkipped && !f) out.push(authSkipped(sending, res));
  else if (res.authSkipped && f && (f.stage === 'mail-from' || f.stage === 'rcpt-to')) out.push(authSkipped(sending, res));

  if (res.authenticated && res.authInClear) {
    out.push(
      finding(
        'smtp.auth-cleartext',
        'warning',
        `${CONFIG}.UseSSL`,
        `${where} offers no STARTTLS, so Calendar Server logs in without TLS: the password crosses the network in clear text`,
        { ...base, mechanism: res.mechanism },
        'Enable STARTTLS on the relay and set Sending.UseSSL to true, or use a relay on the local host.',
      ),
    );
  }
  return out;
}

function untrusted(sending: SendingSettings, res: SmtpSessionResult, tls: TlsInfo): Finding {
  const where = `${sending.server}:${sending.port}`;
  return finding(
    'smtp.certificate-untrusted',
    'warning',
    `${CONFIG}.Server`,
    `The certificate of ${where} is not trusted (${tls.reason ?? tls.verifyCode ?? 'it does not verify'}). Calendar Server does not check the chain and sends anyway, so this never stops mail, but anyone on the network path could pose as the relay and read the password` +
      '',
    { server: sending.server, port: sending.port, certificate: { subjectCN: tls.subjectCN, issuer: tls.issuer, sans: tls.sans, verifyCode: tls.verifyCode } },
    'Give the relay a certificate from a CA the host trusts (for example Let\'s Encrypt), or use a relay on the local host.',
  );
}

function nameMismatch(sending: SendingSettings, res: SmtpSessionResult, severity: Finding['severity']): Finding {
  const where = `${sending.server}:${sending.port}`;
  const tls = res.tls;
  const names = tls ? (tls.sans.length ? tls.sans.join(', ') : `CN=${tls.subjectCN ?? '?'}`) : 'unknown';
  const isIp = /^[0-9.]+$|:/.test(sending.server.trim());
  const message = isIp && severity === 'error'
    ? `Sending.Server is the IP address ${sending.server}, and this release checks the certificate against Server as a DNS name, which an address never matches: the TLS connection breaks whatever the certificate names (${names}), no invitation leaves, and the server posts a MailCertificateAlert`
    : severity === 'error'
      ? `The certificate of ${where} does not name ${sending.server} (it names ${names}). This release checks the host name: the TLS connection breaks, no invitation leaves, and the server posts a MailCertificateAlert`
      : `The certificate of ${where} does not name ${sending.server} (it names ${names}). This release does not check it, so mail flows, but from 9.0 on the connection breaks`;
  return finding(
    'smtp.certificate-name-mismatch',
    severity,
    `${CONFIG}.Server`,
    message,
    { server: sending.server, port: sending.port, names: tls?.sans ?? [], subjectCN: tls?.subjectCN ?? null },
    isIp && severity === 'error'
      ? `Set ${CONFIG}.Server to a host name the certificate names as a DNS name${dnsNames(tls?.sans ?? [])}; a certificate cannot help while Server is an address.`
      : `Set ${CONFIG}.Server to a host name the certificate names, or give the relay a certificate for ${sending.server}.`,
  );
}

function authSkipped(sending: SendingSettings, res: SmtpSessionResult): Finding {
  if (res.authSkipped === 'keychain') return keychainAuthUntested(sending, res);
  const where = `${sending.server}:${sending.port}`;
  const why =
    res.authSkipped === 'no-password'
      ? 'Sending.Password is empty, so Calendar Server does not log in'
      : res.authSkipped === 'not-offered'
        ? `${where} lists no AUTH ${res.tls ? 'after STARTTLS' : 'in clear text (no STARTTLS offered)'}, so Calendar Server does not log in`
        : `${where} offers only ${(res.authAfterTls ?? res.authBeforeTls ?? []).join(', ')}; Calendar Server knows CRAM-MD5, LOGIN and PLAIN, so it does not log in`;
  const rcpt = res.runner.failure && res.runner.failure.stage !== 'data' ? res.runner.failure : null;
  const check = res.relayCheck;
  let outcome = 'it sends the invitations unauthenticated';
  let severity: Finding['severity'] = sending.password ? 'warning' : 'info';
  if (rcpt || (check && !check.accepted)) {
    outcome = `it sends unauthenticated and the relay refuses that at RCPT (${rcpt ? rcpt.error : check!.reply}): no invitation leaves`;
    severity = 'error';
  } else if (check?.accepted) {
    outcome = 'it sends unauthenticated, and the relay accepts that for outside recipients';
  }
  const fix =
    res.authSkipped === 'no-password'
      ? `Set ${CONFIG}.Username and ${CONFIG}.Password if the relay wants a login.`
      : res.authSkipped === 'not-offered'
        ? 'Use the relay\'s submission port (587) with UseSSL true, where AUTH is offered after STARTTLS, or let the relay accept this host without login.'
        : (res.authAfterTls ?? res.authBeforeTls ?? []).some((m) => /OAUTH/.test(m))
          ? OAUTH_ONLY_HINT
          : 'Enable PLAIN or LOGIN (over TLS) on the relay for this account.';
  return finding('smtp.auth-skipped', severity, `${CONFIG}.Password`, `${why}; ${outcome}`, { server: sending.server, port: sending.port, reason: res.authSkipped, offered: res.authAfterTls ?? res.authBeforeTls ?? [], ...(check ? { relayCheck: check } : {}) }, fix);
}

/**
 * macOS, an empty Sending.Password that the server takes from the System keychain: it logs in
 * with that password if the keychain holds one; this test could not. What the relay does with
 * mail sent without a login is said, as it is what happens when the keychain has no password.
 */
function keychainAuthUntested(sending: SendingSettings, res: SmtpSessionResult): Finding {
  const account = sending.keychainAccount ?? `${sending.username}@${sending.server}`;
  const rcpt = res.runner.failure && res.runner.failure.stage !== 'data' ? res.runner.failure : null;
  const check = res.relayCheck;
  const without =
    rcpt || (check && !check.accepted)
      ? `; without a login the relay refuses mail (${rcpt ? rcpt.error : check!.reply}), so invitations leave only if the keychain holds the right password`
      : check?.accepted
        ? '; without a login the relay still takes mail for outside recipients'
        : '';
  return finding(
    'smtp.auth-skipped',
    'warning',
    `${CONFIG}.Password`,
    `${CONFIG}.Password is empty; on macOS Calendar Server takes it from the System keychain (account "${account}") and logs in with it if it is there. imip does not read the keychain, so the login was not tested${without}`,
    { server: sending.server, port: sending.port, reason: 'keychain', keychainAccount: account, offered: res.authAfterTls ?? res.authBeforeTls ?? [], ...(check ? { relayCheck: check } : {}) },
    keychainPasswordFix('Sending', account),
  );
}
