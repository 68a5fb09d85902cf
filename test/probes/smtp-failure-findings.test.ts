/**
 * A failed SMTP session always ends in a finding (test-smtp, check-config --connect, send-test):
 * before, a failure of a kind the findings did not list (an unexpected error, a certificate
 * failure before any certificate was seen) left only the failed stage, with no id to act on.
 */
import { describe, expect, it } from 'vitest';
import type { SendingSettings } from '../../src/config/settings.js';
import type { FailureKind } from '../../src/net/errors.js';
import { Redactor, StageRunner } from '../../src/net/net-stage.js';
import { smtpFindings } from '../../src/probes/smtp/findings.js';
import type { SmtpSessionResult } from '../../src/probes/smtp/session.js';

// Every kind, checked by the compiler: a kind added later must be listed here.
const KINDS: Record<FailureKind, true> = {
  config: true,
  dns: true,
  refused: true,
  unreachable: true,
  timeout: true,
  closed: true,
  tls: true,
  certificate: true,
  'tls-mismatch': true,
  'starttls-missing': true,
  protocol: true,
  rejected: true,
  auth: true,
  'basic-auth-disabled': true,
  'auth-not-offered': true,
  'cleartext-login': true,
  'in-use': true,
  'tls10-refused': true,
  'certificate-name': true,
  'auth-mechanism': true,
  internal: true,
};

// The stages before any mail is given to the relay; a refusal from MAIL FROM on is send-test's own finding.
const STAGES = ['resolve', 'connect', 'greeting', 'ehlo', 'starttls', 'ehlo-tls', 'auth', 'quit', 'internal'];

const sending = { server: 'smtp.example.test', port: 587, useSSL: true, username: 'calendar@example.test', password: 'Pw-1181-secret', address: 'calendar@example.test' } as unknown as SendingSettings;

function result(stage: string, kind: FailureKind): SmtpSessionResult {
  const runner = new StageRunner(5000, new Redactor([]));
  runner.record({ stage, ok: false, ms: 1, evidence: {}, error: 'the server closed the connection' }, kind);
  return {
    runner,
    redactor: new Redactor([]),
    transcript: [],
    host: sending.server,
    port: sending.port,
    mode: 'starttls-required',
    context: { versions: 'tls1.0-only', certificate: 'none', source: 'test' },
    tls: null,
    starttlsOffered: null,
    authBeforeTls: null,
    authAfterTls: null,
    authenticated: false,
    mechanism: null,
    authSkipped: null,
    authInClear: false,
    stoppedForCertificate: false,
    relayCheck: null,
    final: null,
    queueId: null,
    accepted: [],
    rejected: [],
    ms: 1,
  } as unknown as SmtpSessionResult;
}

describe('every failure of an SMTP session before the mail is a finding', () => {
  it('each kind at each stage gives an error finding', () => {
    const missing: string[] = [];
    for (const kind of Object.keys(KINDS) as FailureKind[]) {
      for (const stage of STAGES) {
        const findings = smtpFindings(sending, result(stage, kind));
        if (!findings.some((f) => f.severity === 'error')) missing.push(`${kind} at ${stage}`);
      }
    }
    expect(missing).toEqual([]);
  });

  it('an unexpected error says so, with the stage it stopped', () => {
    const [f] = smtpFindings(sending, result('internal', 'internal'));
    expect(f).toMatchObject({ id: 'smtp.connect-failed', severity: 'error' });
    expect(f!.message).toBe('The SMTP exchange with smtp.example.test:587 stopped on an unexpected error: the server closed the connection.');
  });
});
