/**
 * The probe behind `imip test-smtp` (and the sending half of `check-config --connect`): one SMTP
 * session made exactly as Calendar Server's sender makes it for the release judged by (see
 * src/probes/smtp/session.ts and src/server/mail-clients.ts), reported stage by stage.
 *
 * resolve → connect → greeting → ehlo → starttls → ehlo-tls → auth → (mail-from → rcpt-to → data | relay-check) → quit
 */
import type { ConnectOptions, SendingSettings } from '../config/settings.js';
import { mailClientsFor } from '../server/mail-clients.js';
import { defaultServerVersion, type ServerVersion } from '../server/release.js';
import { finishReport, maybeInsecure, type ProbeReport } from './probe-report.js';
import { smtpFindings } from './smtp/findings.js';
import { testMessage } from './smtp/message.js';
import { CONFIG, runSmtpSession } from './smtp/session.js';
import { hostname } from 'node:os';

export { parseEhlo, type SmtpExtensions } from './smtp/extensions.js';
export { queueIdOf, testMessage } from './smtp/message.js';
export { isBasicAuthDisabled } from './provider-auth.js';

export interface SmtpProbeOptions extends ConnectOptions {
  /** Send a short test message to this address (MAIL FROM is `Sending.Address`). */
  sendTo?: string;
  /** Name given in EHLO; defaults to this machine's host name. */
  heloName?: string;
}

export async function probeSmtp(sending: SendingSettings, opts: SmtpProbeOptions, version: ServerVersion = defaultServerVersion()): Promise<ProbeReport> {
  const clients = mailClientsFor(version);
  const helo = opts.heloName?.trim() || hostname() || 'localhost';
  const from = sending.address.trim();
  let mail: { from: string; to: string[]; data: string; shown: string } | undefined;
  if (opts.sendTo) {
    const msg = testMessage(from || `imip@${helo}`, opts.sendTo, helo);
    mail = { from, to: [opts.sendTo], data: msg.text, shown: `<message ${msg.messageId}, ${Buffer.byteLength(msg.text)} bytes>` };
  }
  const res = await runSmtpSession(sending, {
    ...opts,
    clients,
    heloName: helo,
    ...(mail ? { mail } : {}),
    ...(from ? { relayCheckFrom: from } : {}),
  });
  const findings = [...maybeInsecure(opts, `${CONFIG}.Server`, res.tls), ...smtpFindings(sending, res)];
  return finishReport(
    {
      target: { host: res.host, port: sending.port, protocol: 'smtp', tls: res.mode === 'starttls-required' || res.starttlsOffered ? 'starttls' : 'none' },
      stages: res.runner.stages,
      findings,
      transcript: res.transcript,
    },
    res.redactor,
  );
}
