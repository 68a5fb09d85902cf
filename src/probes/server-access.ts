/**
 * Before `poll`, `diagnose` or `send-test --wait-reply` read the receiving mailbox: could
 * Calendar Server's own IMAP/POP3 client connect and log in here, and how must the tool's session
 * connect to do as it does (src/server/mail-clients.ts)? Checked on a connection of its own; no
 * password is sent.
 *
 * - `UseSSL` true: TLS from the first byte with the release's context. 2.x-8.x check nothing;
 *   9.x checks that the certificate names `Server` (twext `simpleClientContextFactory`), so a
 *   mismatch, or an IP address as `Server`, stops the server's poll.
 * - `UseSSL` false: the server's own login steps (./mailbox-login-plan.ts): Twisted starts TLS
 *   itself with its default context, TLS 1.0 only (imap4.py `IMAP4Client._getContextFactory`,
 *   pop3client.py `POP3Client._getContextFactory`, twisted-12.0.0 to -16.6.0). A server that
 *   refuses TLS 1.0 there, or a POP3 server with neither APOP nor STLS, is read by nobody.
 *
 * The tool's own session then upgrades with the same TLS 1.0 when the server's client would start
 * TLS itself, and with current TLS only where the server would log in before TLS (the tool does
 * not send a password in clear text; the server's verdict does not depend on that TLS). The tool
 * still verifies certificates: where the server would carry on regardless, the tool stops before
 * its login and says how to go on (`--ca-file`, `--insecure`).
 */
import type { ConnectOptions, ReceivingSettings } from '../config/settings.js';
import { Redactor, StageError, StageRunner, connectTcp, implicitTlsStage, resolveHost, secondsText, type ResolvedAddress } from '../net/net-stage.js';
import { MailboxOpenError } from '../mailbox/open-error.js';
import type { OfferedVersions } from '../net/tls-handshake.js';
import type { TlsInfo } from '../net/tls-info.js';
import type { Finding } from '../report/finding.js';
import { addressRule, mailClientsFor } from '../server/mail-clients.js';
import { featuresOf, type ServerVersion } from '../server/release.js';
import { checkLoginPlan, type LoginPlan } from './mailbox-login-plan.js';
import { maybeInsecure } from './probe-report.js';
import { certificateFindings, cleartextFindings, imapLoginBlockedFinding, pop3NeverLogsInFinding, popNoLoginFinding, tls10RefusedFinding } from './mailbox-findings.js';

const CONFIG = 'Scheduling.iMIP.Receiving';

export interface ServerAccess {
  /** What the check found about the server's own connection and login (`mailbox.*` ids). */
  findings: Finding[];
  /** Calendar Server's own client cannot connect or log in here: it reads no message at all. */
  serverBlocked: boolean;
  /** The certificate does not verify for the tool: it stopped before sending the password. */
  toolStopped: boolean;
  /** What the tool's STARTTLS/STLS offers, so its session connects as the server's does. */
  upgrade: OfferedVersions;
  /** The server's login steps here, in words (for --verbose and JSON). */
  steps: string[];
  /** The certificate seen, when TLS was reached. */
  tls?: TlsInfo;
}

/**
 * Checks how the server's client would connect to the receiving mailbox. Throws a
 * MailboxOpenError, as the readers do, when the mail server cannot be reached or stops answering:
 * its message names the protocol and the stage, and it carries the failing stage as the probes
 * judge it.
 */
export async function checkServerAccess(receiving: ReceivingSettings, connect: ConnectOptions, version: ServerVersion): Promise<ServerAccess> {
  const clients = mailClientsFor(version);
  if (receiving.protocol === 'pop3' && featuresOf(version).pop3NeverLogsIn) {
    // Whatever the mail server does: the server's reader fails at its greeting (release.ts).
    return { findings: [pop3NeverLogsInFinding(receiving, version.text)], serverBlocked: true, toolStopped: false, upgrade: 'negotiate', steps: ['the greeting, then AttributeError before USER'] };
  }
  const proto = receiving.protocol === 'pop3' ? 'POP3' : 'IMAP';
  const host = receiving.server.trim();
  const endpoint = { host, port: receiving.port };
  const where = `${host}:${receiving.port}`;
  const runner = new StageRunner(connect.timeoutMs, new Redactor([receiving.password]));
  const fail = (): never => {
    const f = runner.failure!;
    const message = /timed out after/.test(f.error) ? `${f.error} (${where})` : `${proto} ${where}: ${f.error}`;
    throw new MailboxOpenError(message, { protocol: receiving.protocol === 'pop3' ? 'pop3' : 'imap', stage: f.stage, failure: f });
  };

  const addresses = await runner.run('resolve', (s) => resolveHost(host, s, `${CONFIG}.Server`, addressRule(clients, 'receiving')), {
    onTimeout: (ms) => new StageError('timeout', `${proto} name lookup timed out after ${secondsText(ms)}`),
  });
  if (!addresses) return fail();

  let access: ServerAccess;
  if (receiving.useSSL) access = await implicitAccess(receiving, connect, clients, runner, endpoint, addresses, proto, fail);
  else {
    const plan = await runner.run('server-login', (s) => checkLoginPlan(receiving, clients, version, addresses, connect, s), {
      onTimeout: (ms) => new StageError('timeout', `${proto} login check timed out after ${secondsText(ms)}`),
    });
    if (!plan) return fail();
    access = clearPortAccess(receiving, connect, clients, version, plan);
  }
  // --insecure is said first, before the results it concerns.
  access.findings.unshift(...maybeInsecure(connect, `${CONFIG}.Server`, access.tls ?? null));
  return access;
}

async function implicitAccess(
  receiving: ReceivingSettings,
  connect: ConnectOptions,
  clients: ReturnType<typeof mailClientsFor>,
  runner: StageRunner,
  endpoint: { host: string; port: number },
  addresses: ResolvedAddress[],
  proto: string,
  fail: () => never,
): Promise<ServerAccess> {
  const socket = await runner.run('connect', (s) => connectTcp(endpoint, addresses, s), {
    onTimeout: (ms) => new StageError('timeout', `${proto} connect timed out after ${secondsText(ms)}`),
  });
  if (!socket) return fail();
  const done = await runner.run(
    'tls',
    (s) =>
      implicitTlsStage({
        socket,
        endpoint,
        address: socket.remoteAddress,
        connect,
        scope: s,
        // The tool's reader reports a UseSSL that does not match the port in its own words.
        onPlain: () => new StageError('tls-mismatch', `port ${endpoint.port} greets in plain text, but UseSSL true starts TLS from the first byte`),
      }),
    { onTimeout: (ms) => new StageError('timeout', `${proto} TLS handshake timed out after ${secondsText(ms)}`) },
  );
  const steps = [`TLS from the first byte (${clients.imap.useSSL.context.source})`, 'then the login over TLS'];
  if (done) {
    done.secure.destroy();
    return judgeCertificate(receiving, clients, done.info, undefined, steps);
  }
  const f = runner.failure!;
  // The certificate did not verify for the tool: judged as the server's client judges it.
  if (f.kind === 'certificate') {
    const info = f.evidence.tls as TlsInfo | undefined;
    return judgeCertificate(receiving, clients, info, f.error, steps);
  }
  socket.destroy();
  return fail();
}

function judgeCertificate(
  receiving: ReceivingSettings,
  clients: ReturnType<typeof mailClientsFor>,
  info: TlsInfo | undefined,
  stoppedBecause: string | undefined,
  steps: string[],
): ServerAccess {
  const problem = !info || !info.chainTrusted || !info.nameMatches;
  const findings = problem || stoppedBecause ? certificateFindings(receiving, info, clients, stoppedBecause, 'This run') : [];
  const serverBlocked = findings.some((f) => f.severity === 'error');
  return { findings, serverBlocked, toolStopped: !serverBlocked && stoppedBecause !== undefined, upgrade: 'negotiate', steps, ...(info ? { tls: info } : {}) };
}

function clearPortAccess(receiving: ReceivingSettings, connect: ConnectOptions, clients: ReturnType<typeof mailClientsFor>, version: ServerVersion, plan: LoginPlan): ServerAccess {
  const ev = { server: receiving.server, port: receiving.port, useSSL: receiving.useSSL, protocol: receiving.protocol };
  const base = { steps: plan.steps, toolStopped: false, ...(plan.tls ? { tls: plan.tls } : {}) };
  if (plan.noLogin) return { ...base, findings: [popNoLoginFinding(receiving, ev)], serverBlocked: true, upgrade: 'negotiate' };
  const blocked = imapLoginBlockedFinding(receiving, version.text, plan);
  if (blocked) return { ...base, findings: [blocked], serverBlocked: true, upgrade: 'negotiate' };
  if (plan.tls10 === 'refused') return { ...base, findings: [tls10RefusedFinding(receiving, ev, plan.steps)], serverBlocked: true, upgrade: 'negotiate' };
  const findings = cleartextFindings(receiving, plan);
  if (plan.tls10 === 'accepted') {
    // The server's own upgrade (TLS 1.0, nothing checked) got through; the tool's session makes the
    // same upgrade and still checks the certificate, stopping before the password when it does not verify.
    const info = plan.tls;
    if (info && !info.verified && !connect.insecure) {
      const why = `the server certificate is not trusted: ${info.reason ?? info.verifyCode ?? 'it does not verify'}`;
      findings.push(...certificateFindings(receiving, info, clients, why, 'This run'));
      return { ...base, findings, serverBlocked: false, toolStopped: true, upgrade: 'tls1.0-only' };
    }
    if (info && !info.chainTrusted) findings.push(...certificateFindings(receiving, info, clients));
    return { ...base, findings, serverBlocked: false, upgrade: 'tls1.0-only' };
  }
  return { ...base, findings, serverBlocked: false, upgrade: 'negotiate' };
}
