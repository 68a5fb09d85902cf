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
import { newSmtpResult, type SmtpSessionResult } from '../../src/probes/smtp/session.js';
import { jsonOf, runCli } from '../helpers/cli.js';
import { tempDir, writePlist } from '../helpers/plist.js';
import { FAILURE_KINDS } from '../helpers/failure-kinds.js';
import { closeServer, lineServer, portOf } from '../helpers/line-server.js';

// The stages before any mail is given to the relay; a refusal from MAIL FROM on is send-test's own finding.
const STAGES = ['resolve', 'connect', 'greeting', 'ehlo', 'starttls', 'ehlo-tls', 'auth', 'quit', 'internal'];

const sending = { server: 'smtp.example.test', port: 587, useSSL: true, username: 'calendar@example.test', password: 'Pw-1181-secret', address: 'calendar@example.test' } as unknown as SendingSettings;

function result(stage: string, kind: FailureKind): SmtpSessionResult {
  const runner = new StageRunner(5000, new Redactor([]));
  runner.record({ stage, ok: false, ms: 1, evidence: {}, error: 'the server closed the connection' }, kind);
  const transport = { mode: 'starttls-required', context: { versions: 'tls1.0-only', certificate: 'none', source: 'test' } } as const;
  return newSmtpResult({ runner, redactor: new Redactor([]), transcript: [], host: sending.server, port: sending.port, transport });
}

describe('every failure of an SMTP session before the mail is a finding', () => {
  it('each kind at each stage gives an error finding', () => {
    const missing: string[] = [];
    for (const kind of FAILURE_KINDS) {
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

// 2.x-4.x connect over IPv4 only (src/net/connect.ts resolveHost): a name with only AAAA records
// resolves, but to nothing the release can use; an IPv6 address is the config rule's own finding.
describe('a relay the release cannot reach over IPv4', () => {
  const failed = (evidence: Record<string, unknown>, error: string): SmtpSessionResult => {
    const runner = new StageRunner(5000, new Redactor([]));
    runner.record({ stage: 'resolve', ok: false, ms: 1, evidence, error }, 'dns');
    const transport = { mode: 'starttls-required', context: { versions: 'negotiate', certificate: 'none', source: 'test' } } as const;
    return newSmtpResult({ runner, redactor: new Redactor([]), transcript: [], host: sending.server, port: sending.port, transport });
  };

  it('a name with only IPv6 addresses: smtp.dns, said without "does not resolve"', () => {
    const [f] = smtpFindings(sending, failed({ ipv4Only: true, releases: '4.x', addresses: ['2001:db8::25'] }, 'smtp.example.test has only IPv6 addresses (2001:db8::25), and Calendar Server 4.x connects over IPv4 only'));
    expect(f).toMatchObject({ id: 'smtp.dns', severity: 'error' });
    expect(f!.message).toBe('smtp.example.test has only IPv6 addresses (2001:db8::25), and Calendar Server 4.x connects over IPv4 only, so no invitation goes out.');
  });

  it('an IPv6 address: the config rule\'s id, with its words', () => {
    const [f] = smtpFindings({ ...sending, server: '2001:db8::25' }, failed({ ipv4Only: true, literal: true, releases: '2.x to 3.x' }, 'x'));
    expect(f).toMatchObject({ id: 'sending.server-ipv6-address', path: 'Scheduling.iMIP.Sending.Server' });
    expect(f!.message).toMatch(/^Sending\.Server is the IPv6 address 2001:db8::25\. Calendar Server 2\.x to 3\.x connects to mail servers over IPv4 only/);
  });
});

// --timeout bounds each answer, as the README says, also within a stage of several round trips.
// Postfix cannot be slowed on demand: this relay answers as RFC 5321 and RFC 4954 say (AUTH LOGIN
// with its two 334 challenges), each answer 0.7 s after the command, with a 1-second limit: the
// auth stage takes about 2.1 s in all. Before, the limit bounded the whole stage: smtp.timeout.
describe('a slow relay that answers every step within --timeout', () => {
  it('test-smtp logs in; no time-out', async () => {
    const server = await lineServer({
      greeting: '220 relay.example.test ESMTP\r\n',
      delayMs: 700,
      answer: (line, conn) => {
        if (conn.step === 'user') {
          conn.step = 'pass';
          return '334 UGFzc3dvcmQ6\r\n';
        }
        if (conn.step === 'pass') {
          conn.step = 'command';
          return '235 2.7.0 Authentication successful\r\n';
        }
        if (/^EHLO /i.test(line)) return '250-relay.example.test\r\n250 AUTH LOGIN\r\n';
        if (/^AUTH LOGIN$/i.test(line)) {
          conn.step = 'user';
          return '334 VXNlcm5hbWU6\r\n';
        }
        if (/^QUIT$/i.test(line)) return '221 2.0.0 Bye\r\n';
        return '502 5.5.2 Error: command not recognized\r\n';
      },
    });
    try {
      const port = portOf(server);
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
      await closeServer(server);
    }
  });
});

// --timeout bounds each line of an answer: a relay that sends its greeting a byte at a time and
// never ends the line does not hold test-smtp open (Postfix cannot be made to do this: a server
// of our own, on 127.0.0.1, that writes one byte every 200 ms).
describe('a relay that trickles its greeting and never finishes the line', () => {
  it('test-smtp stops at --timeout, saying the greeting was begun, not finished', async () => {
    const server = net.createServer((sock) => {
      sock.on('error', () => undefined);
      const timer = setInterval(() => sock.write('2'), 200);
      sock.on('close', () => clearInterval(timer));
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const config = writePlist(tempDir(), 'caldavd.plist', {
        ServerHostName: 'cal.example.test',
        Scheduling: { iMIP: { Enabled: true, Sending: { Server: '127.0.0.1', Port: portOf(server), UseSSL: false, Address: 'calendar@example.test', Username: '', Password: '' } } },
      });
      // Before, every byte restarted the limit: the run went on as long as the server did.
      const r = await runCli(['test-smtp', '--config', config, '--timeout', '1', '--json'], { timeoutMs: 20_000 });
      const doc = jsonOf(r, 'test-smtp');
      expect(r.code).toBe(1);
      expect(doc.findings.map((f: { id: string }) => f.id)).toContain('smtp.timeout');
      const greeting = doc.stages.find((st: { stage: string }) => st.stage === 'greeting');
      expect(greeting).toMatchObject({ ok: false });
      expect(greeting.error).toMatch(/began its greeting but did not finish the line/);
    } finally {
      await closeServer(server);
    }
  });
});

