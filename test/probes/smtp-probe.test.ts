// probeSmtp against the real mail stack (Postfix: 2525-style STARTTLS+AUTH, SMTPS, unauthenticated
// MX) and against tiny local fake servers for what a real Postfix will not do (a silent port,
// provider texts such as 5.7.139). Every report is kept and searched for passwords at the end.
import net from 'node:net';
import { afterAll, describe, expect, test } from 'vitest';
import type { SendingSettings } from '../../src/config/settings.js';
import type { ProbeReport } from '../../src/probes/probe-report.js';
import { isBasicAuthDisabled, parseEhlo, probeSmtp, queueIdOf, testMessage, type SmtpProbeOptions } from '../../src/probes/smtp-probe.js';
import { classifyVerifyCode, describeCertificateProblem, extraCaCertsHidden, tlsInfoFromParts } from '../../src/net/tls-info.js';
import { Redactor } from '../../src/net/net-stage.js';
import { getStack } from '../helpers/stack.js';

const TIMEOUT = 4000;
const WRONG_PASSWORD = 'Wrong-pw-5150-not-this';
const FAKE_PASSWORD = 'Fake-pw-7788-provider';
const reports: ProbeReport[] = [];
const secrets = new Set<string>([WRONG_PASSWORD, FAKE_PASSWORD]);

function stack() {
  const info = getStack();
  const cal = info.users.find((u) => u.local === 'calendar')!;
  for (const u of info.users) secrets.add(u.password);
  return { info, cal };
}

function sending(over: Partial<SendingSettings> = {}): SendingSettings {
  const { info, cal } = stack();
  return {
    server: info.host,
    port: info.ports.smtp,
    useSSL: true,
    address: cal.address,
    username: cal.address,
    password: cal.password,
    suppressionDays: 7,
    ...over,
  };
}

function options(over: Partial<SmtpProbeOptions> = {}): SmtpProbeOptions {
  return { timeoutMs: TIMEOUT, ca: getStack().caPem, insecure: false, heloName: 'probe.example.test', ...over };
}

async function probe(s: SendingSettings, o: SmtpProbeOptions): Promise<ProbeReport> {
  const r = await probeSmtp(s, o);
  reports.push(r);
  return r;
}

const stageNames = (r: ProbeReport) => r.stages.map((s) => s.stage);
const failed = (r: ProbeReport) => r.stages.find((s) => !s.ok && !s.skipped);
const ids = (r: ProbeReport) => r.findings.map((f) => f.id);

/** A local port nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

/** A fake SMTP server driven by a line handler; `silent` accepts and never says anything. */
async function fakeServer(handler: ((line: string, write: (s: string) => void) => void) | 'silent', greeting = '220 fake.example.test ESMTP') {
  const sockets = new Set<net.Socket>();
  const srv = net.createServer((sock) => {
    sockets.add(sock);
    sock.on('error', () => undefined);
    sock.on('close', () => sockets.delete(sock));
    if (handler === 'silent') return;
    const write = (s: string) => sock.write(s.endsWith('\r\n') ? s : `${s}\r\n`);
    write(greeting);
    let buf = '';
    sock.setEncoding('latin1');
    sock.on('data', (d: string) => {
      buf += d;
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i).replace(/\r$/, '');
        buf = buf.slice(i + 1);
        if (/^QUIT/i.test(line)) {
          write('221 bye');
          sock.end();
          continue;
        }
        handler(line, write);
      }
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return {
    port: (srv.address() as net.AddressInfo).port,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        srv.close(() => r());
      }),
  };
}

afterAll(() => {
  // The password must never appear in any report, passing or failing, transcript included.
  const text = JSON.stringify(reports);
  expect(reports.length).toBeGreaterThan(10);
  for (const secret of secrets) {
    expect(text.includes(secret), `a report contains the password ${secret.slice(0, 3)}…`).toBe(false);
    expect(text.includes(Buffer.from(secret).toString('base64').replace(/=+$/, ''))).toBe(false);
  }
});

describe('probeSmtp on the mail stack', () => {
  test('every stage passes on the STARTTLS port, and a test message is queued', async () => {
    const r = await probe(sending(), options({ sendTo: 'alice@example.test' }));
    expect(failed(r)).toBeUndefined();
    expect(r.ok).toBe(true);
    expect(r.target).toEqual({ host: getStack().host, port: getStack().ports.smtp, protocol: 'smtp', tls: 'starttls' });
    expect(stageNames(r)).toEqual(['resolve', 'connect', 'greeting', 'ehlo', 'starttls', 'ehlo-tls', 'auth', 'mail-from', 'rcpt-to', 'data', 'quit']);
    expect(r.findings).toEqual([]);
    const ehlo = r.stages.find((s) => s.stage === 'ehlo')!;
    expect(ehlo.evidence.starttls).toBe(true);
    expect(ehlo.evidence.authMechanisms).toEqual([]); // Postfix offers AUTH only after STARTTLS
    const tlsEv = r.stages.find((s) => s.stage === 'starttls')!.evidence.tls as Record<string, unknown>;
    expect(tlsEv.verified).toBe(true);
    expect(tlsEv.subjectCN).toBe('mail.example.test');
    expect(tlsEv.sans).toContain('IP Address:127.0.0.1');
    expect(typeof tlsEv.daysLeft).toBe('number');
    expect(r.stages.find((s) => s.stage === 'ehlo-tls')!.evidence.authMechanisms).toEqual(expect.arrayContaining(['PLAIN', 'LOGIN']));
    const auth = r.stages.find((s) => s.stage === 'auth')!;
    expect(auth.evidence.mechanism).toBe('LOGIN'); // Twisted's order: CRAM-MD5, LOGIN, PLAIN
    expect(auth.evidence.overTls).toBe(true);
    const data = r.stages.find((s) => s.stage === 'data')!;
    expect(String(data.evidence.reply)).toMatch(/^250 /);
    expect(data.evidence.queueId).toMatch(/^[0-9A-F]{6,}$/);
    expect(r.transcript!.some((l) => l.startsWith('C: EHLO probe.example.test'))).toBe(true);
    expect(r.transcript!.some((l) => l.includes('<password hidden>'))).toBe(true);
    for (const s of r.stages) expect(s.ms).toBeGreaterThanOrEqual(0);
  });

  test('without a recipient it stops after AUTH and sends nothing', async () => {
    const r = await probe(sending(), options());
    expect(r.ok).toBe(true);
    expect(stageNames(r)).toEqual(['resolve', 'connect', 'greeting', 'ehlo', 'starttls', 'ehlo-tls', 'auth', 'quit']);
  });

  test('UseSSL true against the implicit-TLS port fails at the greeting with the server-specific reason', async () => {
    const port = getStack().ports.smtps;
    const started = Date.now();
    const r = await probe(sending({ port }), options());
    expect(Date.now() - started).toBeLessThan(TIMEOUT);
    const f = failed(r)!;
    expect(f.stage).toBe('greeting');
    expect(f.error).toBe(`port ${port} expects TLS from the first byte; Calendar Server only speaks STARTTLS when sending`);
    expect(f.evidence.portSpeaks).toBe('implicit-tls');
    expect(ids(r)).toEqual(['smtp.implicit-tls-port']);
    expect(r.findings[0]!.severity).toBe('error');
    expect(r.findings[0]!.fix).toMatch(/587/);
    expect(r.ok).toBe(false);
    expect(r.stages.filter((s) => s.skipped).map((s) => s.stage)).toEqual(['ehlo']);
  });

  test('UseSSL false against the implicit-TLS port: the same reason (the server never speaks TLS first)', async () => {
    const port = getStack().ports.smtps;
    const r = await probe(sending({ port, useSSL: false }), options());
    expect(failed(r)!.error).toBe(`port ${port} expects TLS from the first byte; Calendar Server only speaks STARTTLS when sending`);
    expect(ids(r)).toEqual(['smtp.implicit-tls-port']);
  });

  test('UseSSL false on a relay that offers STARTTLS and refuses TLS 1.0: the server starts TLS 1.0 and fails', async () => {
    // Twisted's ESMTPSender replaces the missing context by its TLS-1.0-only default one.
    const r = await probe(sending({ useSSL: false }), options());
    const f = failed(r)!;
    expect(f.stage).toBe('starttls');
    expect(ids(r)).toEqual(['smtp.tls10-refused']);
    expect(r.findings[0]!.path).toBe('Scheduling.iMIP.Sending.UseSSL');
    expect(r.findings[0]!.fix).toMatch(/UseSSL to true/);
    expect(r.target.tls).toBe('starttls');
  });

  test('a wrong password: 535 and the credentials hint', async () => {
    const r = await probe(sending({ password: WRONG_PASSWORD }), options());
    const f = failed(r)!;
    expect(f.stage).toBe('auth');
    expect(String(f.evidence.reply)).toMatch(/^535 /);
    expect(f.hint).toMatch(/Sending\.Username and Sending\.Password/);
    expect(ids(r)).toEqual(['smtp.auth-failed']);
    expect(r.findings[0]!.path).toBe('Scheduling.iMIP.Sending.Password');
  });

  test('an unknown host name', async () => {
    const r = await probe(sending({ server: 'no-such-host.invalid' }), options());
    const f = failed(r)!;
    expect(f.stage).toBe('resolve');
    expect(f.error).toMatch(/does not resolve \(NXDOMAIN/);
    expect(ids(r)).toEqual(['smtp.dns']);
    expect(r.stages.filter((s) => s.skipped).length).toBeGreaterThan(0);
  });

  test('a closed port', async () => {
    const port = await closedPort();
    const r = await probe(sending({ port }), options());
    const f = failed(r)!;
    expect(f.stage).toBe('connect');
    expect(f.error).toMatch(/connection refused: nothing listens on (127\.0\.0\.1|localhost):\d+/);
    expect(ids(r)).toEqual(['smtp.connect-failed']);
  });

  test('a certificate that is not trusted without --ca-file', async () => {
    const r = await probe(sending(), options({ ca: undefined }));
    expect(failed(r)).toBeUndefined();
    const tlsEv = r.stages.find((s) => s.stage === 'starttls')!.evidence.tls as Record<string, unknown>;
    expect(tlsEv.verified).toBe(false);
    expect(tlsEv.problem).toBe('self-signed');
    // The server never checks the chain: a warning, and the test stopped before the password.
    expect(ids(r)).toEqual(['smtp.certificate-untrusted']);
    expect(r.findings[0]!.severity).toBe('warning');
    expect(r.findings[0]!.message).toMatch(/would go on and log in/);
    expect(r.findings[0]!.message).toMatch(/--ca-file/);
    expect(r.ok).toBe(false);
    // No credentials were sent over the unverified connection.
    expect(r.stages.find((s) => s.stage === 'auth')!.skipped).toBe(true);
  });

  test('--insecure: certificate checks off, and the report says so', async () => {
    const r = await probe(sending(), options({ ca: undefined, insecure: true }));
    expect(failed(r)).toBeUndefined();
    expect(r.ok).toBe(true);
    const f = r.findings.find((x) => x.id === 'tls.insecure')!;
    expect(f.severity).toBe('info');
    expect(f.evidence.certificateVerified).toBe(false);
    expect(String(f.evidence.wouldFail)).toMatch(/self-signed/);
    expect((r.stages.find((s) => s.stage === 'starttls')!.evidence.tls as { checksDisabled: boolean }).checksDisabled).toBe(true);
  });

  test('the unauthenticated MX port: STARTTLS, no AUTH offered while a user name is set', async () => {
    const r = await probe(sending({ port: getStack().ports.mx }), options());
    // Twisted: no AUTH listed, requireAuthentication=False: sent unauthenticated; the relay
    // check (MAIL FROM, RCPT TO, RSET) shows the MX refuses outside recipients.
    expect(failed(r)).toBeUndefined();
    expect(ids(r)).toEqual(['smtp.auth-skipped']);
    expect(r.findings[0]!.severity).toBe('error');
    expect(r.findings[0]!.message).toMatch(/refuses that at RCPT/);
    // The check's stage passes (it got its answer), and says what the answer was.
    expect(r.stages.find((s) => s.stage === 'relay-check')!.evidence).toMatchObject({
      accepted: false,
      answer: 'the relay refuses unauthenticated mail for an outside address',
    });
  });

  test('the unauthenticated MX port without a user name delivers to a local address', async () => {
    const r = await probe(sending({ port: getStack().ports.mx, username: '', password: '' }), options({ sendTo: 'alice@example.test' }));
    expect(failed(r)).toBeUndefined();
    expect(stageNames(r)).toEqual(['resolve', 'connect', 'greeting', 'ehlo', 'starttls', 'ehlo-tls', 'mail-from', 'rcpt-to', 'data', 'quit']);
    expect(r.stages.find((s) => s.stage === 'data')!.evidence.queueId).toBeTruthy();
  });

  test('the IMAP port by mistake: not SMTP, and said so', async () => {
    const r = await probe(sending({ port: getStack().ports.imap }), options());
    const f = failed(r)!;
    expect(f.stage).toBe('greeting');
    expect(f.error).toMatch(/not SMTP/);
    expect(f.hint).toMatch(/IMAP server/);
  });
});

describe('probeSmtp against local fake servers', () => {
  test('a port that accepts and never answers: the time limit holds', async () => {
    const srv = await fakeServer('silent');
    try {
      const timeoutMs = 1500;
      const started = Date.now();
      const r = await probe(sending({ port: srv.port }), options({ timeoutMs }));
      const took = Date.now() - started;
      expect(took).toBeGreaterThanOrEqual(timeoutMs - 50);
      expect(took).toBeLessThan(timeoutMs + 1000);
      const f = failed(r)!;
      expect(f.stage).toBe('greeting');
      expect(f.error).toMatch(/SMTP greeting timed out after 1.5 s/);
      expect(f.evidence.portSpeaks).toBe('silent');
      expect(ids(r)).toEqual(['smtp.timeout']);
    } finally {
      await srv.close();
    }
  });

  test('UseSSL true and no STARTTLS offered: a failed stage, not a silent downgrade', async () => {
    const srv = await fakeServer((line, write) => {
      if (/^EHLO/i.test(line)) write('250-fake.example.test\r\n250-AUTH PLAIN LOGIN\r\n250 8BITMIME');
      else write('500 what');
    });
    try {
      const r = await probe(sending({ port: srv.port, password: FAKE_PASSWORD }), options());
      const f = failed(r)!;
      expect(f.stage).toBe('starttls');
      expect(ids(r)).toEqual(['smtp.starttls-missing']);
      expect(r.transcript!.some((l) => /AUTH/.test(l) && l.startsWith('C:'))).toBe(false);
    } finally {
      await srv.close();
    }
  });

  for (const reply of [
    '535 5.7.139 Authentication unsuccessful, basic authentication is disabled. [SN4PR0201CA0001.namprd02.prod.outlook.com]',
    '550 5.7.30 Basic authentication is not supported for Client Submission.',
    '534-5.7.9 Application-specific password required. Learn more at\r\n534 5.7.9  https://support.google.com/mail/?p=InvalidSecondFactor',
  ]) {
    test(`provider refuses password auth: ${reply.slice(0, 24)}…`, async () => {
      let step = 0;
      const srv = await fakeServer((line, write) => {
        if (/^EHLO/i.test(line)) write('250-fake.example.test\r\n250 AUTH LOGIN PLAIN');
        else if (/^AUTH LOGIN/i.test(line)) {
          step = 1;
          write('334 VXNlcm5hbWU6');
        } else if (step === 1) {
          step = 2;
          write('334 UGFzc3dvcmQ6');
        } else if (step === 2) {
          step = 3;
          write(reply);
        } else write('500 what');
      });
      try {
        const r = await probe(sending({ port: srv.port, useSSL: false, password: FAKE_PASSWORD }), options());
        const f = failed(r)!;
        expect(f.stage).toBe('auth');
        expect(ids(r)).toEqual(['smtp.basic-auth-disabled']);
        const fix = r.findings[0]!.fix;
        expect(fix).toMatch(/cannot do OAuth2/);
        expect(fix).toMatch(/app password/);
        expect(fix).toMatch(/email-oauth2-proxy/);
      } finally {
        await srv.close();
      }
    });
  }

  test('UseSSL false and AUTH in clear text: it works, with a warning about the password', async () => {
    const srv = await fakeServer((line, write) => {
      if (/^EHLO/i.test(line)) write('250-fake.example.test\r\n250 AUTH PLAIN');
      else if (/^AUTH PLAIN /i.test(line)) {
        // Twisted sends PLAIN with the initial response on the AUTH line.
        const decoded = Buffer.from(line.slice(11), 'base64').toString('utf8');
        write(decoded === `\0calendar@example.test\0${FAKE_PASSWORD}` ? '235 2.7.0 ok' : '535 5.7.8 bad');
      } else write('500 what');
    });
    try {
      const r = await probe(sending({ port: srv.port, useSSL: false, password: FAKE_PASSWORD }), options());
      expect(failed(r)).toBeUndefined();
      expect(r.stages.find((s) => s.stage === 'auth')!.evidence.mechanism).toBe('PLAIN');
      expect(ids(r)).toEqual(['smtp.auth-cleartext']);
      expect(r.findings[0]!.severity).toBe('warning');
      expect(r.ok).toBe(true);
    } finally {
      await srv.close();
    }
  });
});

describe('SMTP helpers', () => {
  test('queue ids from final replies', () => {
    expect(queueIdOf('2.0.0 Ok: queued as 4ABCD12345')).toBe('4ABCD12345');
    expect(queueIdOf('2.6.0 <DM6PR01MB1234.namprd01.prod.outlook.com> [InternalId=1] Queued mail for delivery')).toBe(
      'DM6PR01MB1234.namprd01.prod.outlook.com',
    );
    expect(queueIdOf('2.0.0 OK  1700000000 a1-20020a170902abcd00b001234567890si1234567pla.123 - gsmtp')).toBe(
      'a1-20020a170902abcd00b001234567890si1234567pla.123',
    );
    expect(queueIdOf('Message accepted')).toBeUndefined();
  });

  test('EHLO parsing: keywords and AUTH mechanisms (both spellings)', () => {
    const ext = parseEhlo({ code: 250, lines: ['mx.example', 'PIPELINING', 'AUTH=LOGIN', 'AUTH PLAIN login CRAM-MD5', 'STARTTLS', 'SIZE 1000'], text: '' });
    expect(ext.starttls).toBe(true);
    expect(ext.auth).toEqual(['LOGIN', 'PLAIN', 'CRAM-MD5']);
    expect(ext.keywords.get('SIZE')).toBe('1000');
  });

  test('provider texts that mean "password auth is off"', () => {
    expect(isBasicAuthDisabled('535 5.7.139 Authentication unsuccessful, the request did not meet the criteria')).toBe(true);
    expect(isBasicAuthDisabled('550 5.7.30 Basic authentication is not supported for Client Submission')).toBe(true);
    expect(isBasicAuthDisabled('534 5.7.9 Application-specific password required')).toBe(true);
    expect(isBasicAuthDisabled('535 5.7.8 Error: authentication failed')).toBe(false);
  });

  test('the test message: headers, dot-stuffing, CRLF', () => {
    const m = testMessage('calendar@example.test', 'alice@example.test', 'probe.example.test');
    expect(m.text).toMatch(/^Date: \w{3}, \d{1,2} \w{3} \d{4} \d\d:\d\d:\d\d \+0000\r\n/);
    expect(m.text).toContain(`Message-ID: ${m.messageId}\r\n`);
    expect(m.messageId).toMatch(/@example\.test>$/);
    expect(m.text).toContain('From: calendar@example.test\r\nTo: alice@example.test\r\n');
    expect(m.text.endsWith('\r\n.\r\n')).toBe(true);
  });
});

describe('certificate verdicts', () => {
  test.each([
    ['DEPTH_ZERO_SELF_SIGNED_CERT', 'self-signed', /self-signed/],
    ['SELF_SIGNED_CERT_IN_CHAIN', 'self-signed', /self-signed/],
    ['CERT_HAS_EXPIRED', 'expired', /expired on 2020-01-01/],
    ['ERR_TLS_CERT_ALTNAME_INVALID', 'name-mismatch', /is for mail\.example\.com, not for smtp\.example\.org/],
    ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'unknown-issuer', /not trusted here/],
    ['UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'unknown-issuer', /intermediate/],
  ])('%s', (code, problem, reason) => {
    expect(classifyVerifyCode(code)).toBe(problem);
    const v = describeCertificateProblem(code, {
      host: 'smtp.example.org',
      subjectCN: 'mail.example.com',
      sans: ['DNS:mail.example.com'],
      issuer: 'Example CA',
      validTo: '2020-01-01T00:00:00.000Z',
    });
    expect(v.reason).toMatch(reason);
    expect(v.hint).toMatch(problem === 'expired' ? /Renew/ : /--ca-file|certificate/);
  });

  test('NODE_EXTRA_CA_CERTS beside --ca-file: the hint says when this Node.js leaves those CAs out', () => {
    const extra = { NODE_EXTRA_CA_CERTS: '/etc/extra.pem' };
    expect(extraCaCertsHidden(extra, '20.20.2')).toBe(true);
    expect(extraCaCertsHidden(extra, '21.7.3')).toBe(true);
    expect(extraCaCertsHidden(extra, '22.6.0')).toBe(true);
    expect(extraCaCertsHidden(extra, '22.7.0')).toBe(false);
    expect(extraCaCertsHidden(extra, '24.21.0')).toBe(false);
    expect(extraCaCertsHidden({}, '20.20.2')).toBe(false);
    const saved = process.env.NODE_EXTRA_CA_CERTS;
    try {
      process.env.NODE_EXTRA_CA_CERTS = '/etc/extra.pem';
      const withCa = describeCertificateProblem('SELF_SIGNED_CERT_IN_CHAIN', { host: 'smtp.example.org', issuer: 'Example CA', caGiven: true });
      const mentions = /leaves out NODE_EXTRA_CA_CERTS when --ca-file is given \(22\.7 and later keep it\): if the issuer is there, add it to the --ca-file\./;
      if (extraCaCertsHidden()) expect(withCa.hint).toMatch(mentions);
      else expect(withCa.hint).not.toMatch(mentions);
      // Without --ca-file every CA of NODE_EXTRA_CA_CERTS is trusted: nothing to say.
      expect(describeCertificateProblem('SELF_SIGNED_CERT_IN_CHAIN', { host: 'smtp.example.org', caGiven: false }).hint).not.toMatch(/NODE_EXTRA_CA_CERTS/);
      delete process.env.NODE_EXTRA_CA_CERTS;
      expect(describeCertificateProblem('SELF_SIGNED_CERT_IN_CHAIN', { host: 'smtp.example.org', caGiven: true }).hint).not.toMatch(/NODE_EXTRA_CA_CERTS/);
    } finally {
      if (saved === undefined) delete process.env.NODE_EXTRA_CA_CERTS;
      else process.env.NODE_EXTRA_CA_CERTS = saved;
    }
  });

  test('evidence from another client: days left, expired and self-signed together', () => {
    const info = tlsInfoFromParts(
      {
        protocol: 'TLSv1.2',
        cipher: { standardName: 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256' },
        authorized: false,
        authorizationError: 'DEPTH_ZERO_SELF_SIGNED_CERT',
        peerCertificate: {
          subject: 'CN=mail.example.com, O=Example',
          issuer: 'CN=mail.example.com, O=Example',
          subjectAltNames: ['DNS:mail.example.com'],
          validFrom: 'Jan  1 00:00:00 2019 GMT',
          validTo: 'Jan  1 00:00:00 2020 GMT',
          fingerprint256: 'AA:BB',
        },
      },
      { host: 'mail.example.com', insecure: false },
    );
    expect(info.subjectCN).toBe('mail.example.com');
    expect(info.issuer).toBe('mail.example.com (Example)');
    expect(info.daysLeft!).toBeLessThan(0);
    expect(info.problem).toBe('self-signed');
    expect(info.reason).toMatch(/self-signed.*expired on 2020-01-01/);
  });

  test('the redactor masks a secret, its base64 form and JSON escapes', () => {
    const r = new Redactor(['pa"ss-word']);
    const report = { a: 'x pa"ss-word y', b: [Buffer.from('pa"ss-word').toString('base64')], c: JSON.stringify('pa"ss-word') };
    expect(JSON.stringify(r.deep(report))).not.toMatch(/pa.{0,2}ss-word|cGEic3Mtd29yZA/);
  });
});
