/**
 * A failed SMTP session always ends in a finding (test-smtp, check-config --connect, send-test):
 * before, a failure of a kind the findings did not list (an unexpected error, a certificate
 * failure before any certificate was seen) left only the failed stage, with no id to act on.
 */
import net from 'node:net';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import type { SendingSettings } from '../../src/config/settings.js';
import type { FailureKind } from '../../src/net/errors.js';
import { Redactor, StageRunner } from '../../src/net/net-stage.js';
import { smtpFindings } from '../../src/probes/smtp/findings.js';
import type { SmtpSessionResult } from '../../src/probes/smtp/session.js';
import { jsonOf, runCli } from '../helpers/cli.js';
import { tempDir, writePlist } from '../helpers/plist.js';

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

// --timeout bounds each answer, as the README says, also within a stage of several round trips.
// Postfix cannot be slowed on demand: this relay answers as RFC 5321 and RFC 4954 say (AUTH LOGIN
// with its two 334 challenges), each answer 0.7 s after the command, with a 1-second limit: the
// auth stage takes about 2.1 s in all. Before, the limit bounded the whole stage: smtp.timeout.
describe('a slow relay that answers every step within --timeout', () => {
  it('test-smtp logs in; no time-out', async () => {
    const server = net.createServer((s) => {
      s.on('error', () => undefined);
      const answer = (text: string): void => {
        setTimeout(() => s.write(text), 700);
      };
      answer('220 relay.example.test ESMTP\r\n');
      let buf = '';
      let step = 'command';
      s.on('data', (d: Buffer) => {
        buf += d.toString('latin1');
        for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
          const line = buf.slice(0, i).trim();
          buf = buf.slice(i + 1);
          if (step === 'user') {
            step = 'pass';
            answer('334 UGFzc3dvcmQ6\r\n');
          } else if (step === 'pass') {
            step = 'command';
            answer('235 2.7.0 Authentication successful\r\n');
          } else if (/^EHLO /i.test(line)) answer('250-relay.example.test\r\n250 AUTH LOGIN\r\n');
          else if (/^AUTH LOGIN$/i.test(line)) {
            step = 'user';
            answer('334 VXNlcm5hbWU6\r\n');
          } else if (/^QUIT$/i.test(line)) answer('221 2.0.0 Bye\r\n');
          else answer('502 5.5.2 Error: command not recognized\r\n');
        }
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const { port } = server.address() as net.AddressInfo;
      const config = writePlist(tempDir(), 'caldavd.plist', {
        ServerHostName: 'cal.example.test',
        Scheduling: { iMIP: { Enabled: true, Sending: { Server: '127.0.0.1', Port: port, UseSSL: false, Address: 'calendar@example.test', Username: 'calendar@example.test', Password: 'Pw-6612-secret' } } },
      });
      const r = await runCli(['test-smtp', '--config', config, '--server-version', '4.3', '--timeout', '1', '--json']);
      const doc = jsonOf(r, 'test-smtp');
      const ids = doc.findings.map((f: { id: string }) => f.id);
      expect(ids, JSON.stringify(doc.findings)).not.toContain('smtp.timeout');
      const auth = doc.stages.find((st: { stage: string }) => st.stage === 'auth');
      expect(auth, JSON.stringify(doc.stages)).toMatchObject({ ok: true });
      expect(auth.ms).toBeGreaterThan(1000);
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});
