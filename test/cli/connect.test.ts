/**
 * test-smtp, test-mailbox and check-config --connect run as a person runs them, against the
 * real Postfix and Dovecot of the test stack. Nothing here changes a mailbox.
 */
import { describe, expect, it } from 'vitest';
import { getStack } from '../helpers/stack.js';
import { runCli, jsonOf } from '../helpers/cli.js';
import { tempDir, writePlist } from '../helpers/plist.js';
import { writeStackConfig } from '../helpers/stack-config.js';

function stackConfig(over: { sendingPort?: number; receivingPort?: number; receivingSSL?: boolean; type?: string; recvPassword?: string } = {}): { path: string; passwords: string[] } {
  const s = getStack();
  const cal = s.users.find((u) => u.local === 'calendar')!;
  const path = writeStackConfig({
    sending: { Port: over.sendingPort ?? s.ports.smtp },
    receiving: { Port: over.receivingPort ?? s.ports.imaps, UseSSL: over.receivingSSL ?? true, Type: over.type ?? 'imap', Password: over.recvPassword ?? cal.password },
  });
  return { path, passwords: [cal.password, over.recvPassword ?? cal.password] };
}

const noSecrets = (text: string, passwords: string[]) => {
  for (const pw of passwords) {
    expect(text).not.toContain(pw);
    expect(text).not.toContain(Buffer.from(pw).toString('base64'));
  }
};

describe('imip test-smtp', () => {
  it('passes every stage on the STARTTLS submission port, with timings in JSON', async () => {
    const { path, passwords } = stackConfig();
    const r = await runCli(['test-smtp', '--config', path, '--ca-file', getStack().ca, '--json']);
    expect(r.code).toBe(0);
    const doc = jsonOf(r);
    expect(doc).toMatchObject({ command: 'test-smtp', ok: true, target: { port: getStack().ports.smtp, tls: 'starttls' } });
    const names = doc.stages.map((s: { stage: string }) => s.stage);
    expect(names).toEqual(expect.arrayContaining(['resolve', 'connect', 'greeting', 'ehlo', 'starttls', 'ehlo-tls', 'auth', 'quit']));
    for (const s of doc.stages) expect(typeof s.ms).toBe('number');
    noSecrets(r.stdout + r.stderr, passwords);
  });

  it('names the implicit-TLS port instead of an OpenSSL error', async () => {
    const { path } = stackConfig({ sendingPort: getStack().ports.smtps });
    const r = await runCli(['test-smtp', '--config', path, '--ca-file', getStack().ca, '--timeout', '5']);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(`port ${getStack().ports.smtps} expects TLS from the first byte; Calendar Server only speaks STARTTLS when sending`);
  });

  it('fails the certificate stage without --ca-file, and says how to fix it', async () => {
    const { path } = stackConfig();
    const r = await runCli(['test-smtp', '--config', path, '--json']);
    expect(r.code).toBe(1);
    expect(jsonOf(r).findings.map((f: { id: string }) => f.id)).toContain('smtp.certificate-untrusted');
  });
});

describe('a certificate this tool does not trust, where Calendar Server goes on', () => {
  // Both connection tests stop before the password and say so as a warning: the TLS stage is
  // marked "!", not "✓" (test-smtp) or "✗" (test-mailbox), and no summary speaks of errors.
  it('test-smtp and test-mailbox mark their TLS stage "!" and end on the warning; check-config --connect says the same', async () => {
    const { path } = stackConfig();
    const env = { NO_COLOR: '1' };
    const smtp = await runCli(['test-smtp', '--config', path], { env });
    expect(smtp.code).toBe(1);
    expect(smtp.stdout).toMatch(/^! starttls {5}\d+ ms$/m);
    expect(smtp.stdout).toMatch(/^- auth {9}skipped$/m);
    expect(smtp.stdout.trim().split('\n').pop()).toBe('0 errors, 1 warning, 0 notes; 1 stage not run');
    const mailbox = await runCli(['test-mailbox', '--config', path], { env });
    expect(mailbox.code).toBe(1);
    expect(mailbox.stdout).toMatch(/^! tls {10}\d+ ms$/m);
    expect(mailbox.stdout).not.toMatch(/^✗ /m);
    expect(mailbox.stdout.trim().split('\n').pop()).toBe('0 errors, 1 warning, 0 notes; stopped at tls on a warning, 5 stages not run');
    const all = await runCli(['check-config', '--connect', '--config', path], { env });
    expect(all.stdout).not.toMatch(/with errors/);
    expect(all.stdout.trim().split('\n').pop()).toMatch(/^0 errors, 2 warnings, \d+ notes?; 2 connection tests stopped early on a warning$/);
    // An error stays an error: a wrong password over a trusted certificate.
    const wrong = await runCli(['test-mailbox', '--config', stackConfig({ recvPassword: 'Wrong-pw-7731-mailbox' }).path, '--ca-file', getStack().ca], { env });
    expect(wrong.stdout).toMatch(/^✗ login {8}\d+ ms$/m);
    expect(wrong.stdout.trim().split('\n').pop()).toBe('1 error, 0 warnings, 0 notes; 1 stage failed');
  });
});

describe('imip check-config --connect', () => {
  it('9.x with an IP address as Server: the connection tests\' certificate findings, not the config rules\' as well', async () => {
    const s = getStack();
    const cal = s.users.find((u) => u.local === 'calendar')!;
    const path = writeStackConfig({
      sending: { Server: '127.0.0.1', Port: s.ports.smtp },
      receiving: { Server: '127.0.0.1', Port: s.ports.imaps, UseSSL: true, Type: 'imap', Password: cal.password },
    });
    const offline = jsonOf(await runCli(['check-config', '--config', path, '--server-version', '9.2', '--json']));
    expect(offline.findings.map((f: { id: string }) => f.id)).toEqual(expect.arrayContaining(['sending.server-ip-address', 'receiving.server-ip-address']));
    const r = await runCli(['check-config', '--connect', '--config', path, '--ca-file', s.ca, '--server-version', '9.2', '--json']);
    expect(r.code).toBe(1);
    const found = jsonOf(r).findings.map((f: { id: string }) => f.id);
    expect(found).toEqual(expect.arrayContaining(['smtp.certificate-name-mismatch', 'mailbox.certificate-name-mismatch']));
    expect(found).not.toContain('sending.server-ip-address');
    expect(found).not.toContain('receiving.server-ip-address');
    // diagnose: the same, from its mailbox check and its SMTP test.
    const d = await runCli(['diagnose', '--config', path, '--ca-file', s.ca, '--server-version', '9.2', '--json', '--state-dir', tempDir()]);
    const dIds = jsonOf(d).findings.map((f: { id: string }) => f.id);
    expect(dIds).toEqual(expect.arrayContaining(['mailbox.certificate-name-mismatch']));
    expect(dIds).not.toContain('receiving.server-ip-address');
    expect(dIds).not.toContain('sending.server-ip-address');
    const fix = jsonOf(r).findings.find((f: { id: string }) => f.id === 'mailbox.certificate-name-mismatch').fix;
    expect(fix).toMatch(/a host name the certificate names as a DNS name \(.*mail\.example\.test.*\); a certificate cannot help while Server is an address/);
  });
});

describe('imip test-mailbox', () => {
  it('opens the IMAPS inbox read-only and counts it', async () => {
    const { path, passwords } = stackConfig();
    const r = await runCli(['test-mailbox', '--config', path, '--ca-file', getStack().ca, '--json']);
    expect(r.code).toBe(0);
    const doc = jsonOf(r);
    expect(doc.target).toMatchObject({ protocol: 'imap', tls: 'implicit' });
    expect(doc.stages.map((s: { stage: string }) => s.stage)).toEqual(expect.arrayContaining(['login', 'inbox', 'logout']));
    noSecrets(r.stdout, passwords);
  });

  it('POP3 over STLS on a server that refuses TLS 1.0: the server\'s own STLS (TLS 1.0 only) fails', async () => {
    const { path } = stackConfig({ receivingPort: getStack().ports.pop3, receivingSSL: false, type: 'pop' });
    const r = await runCli(['test-mailbox', '--config', path, '--ca-file', getStack().ca, '--json']);
    expect(r.code).toBe(1);
    const doc = jsonOf(r);
    expect(doc.target).toMatchObject({ protocol: 'pop3' });
    expect(doc.findings.map((f: { id: string }) => f.id)).toEqual(['mailbox.tls10-refused']);
  });

  it('an empty password: nothing is sent, the config rule\'s finding, said once by check-config --connect', async () => {
    const { path } = stackConfig({ recvPassword: '' });
    const r = await runCli(['test-mailbox', '--config', path, '--ca-file', getStack().ca, '--json']);
    expect(r.code).toBe(1);
    const doc = jsonOf(r);
    expect(doc.findings.map((f: { id: string; path: string }) => [f.id, f.path])).toEqual([['receiving.credentials-missing', 'Scheduling.iMIP.Receiving.Password']]);
    expect(doc.findings[0].message).toMatch(/^Receiving\.Password is empty, so nothing was sent/);
    const both = await runCli(['check-config', '--connect', '--config', path, '--ca-file', getStack().ca, '--json']);
    expect(jsonOf(both).findings.filter((f: { id: string }) => f.id === 'receiving.credentials-missing')).toHaveLength(1);
    // poll's reader opens no session at all without a password, and says the same.
    const poll = await runCli(['poll', '--once', '--config', path, '--ca-file', getStack().ca, '--json', '--state-dir', tempDir()]);
    const pollIds = jsonOf(poll).findings.map((f: { id: string }) => f.id);
    expect(pollIds).toContain('receiving.credentials-missing');
    expect(pollIds).not.toContain('mailbox.login-failed');
  });

  it('an empty user name: the same, on the Username, and the password is not sent', async () => {
    const s = getStack();
    const cal = s.users.find((u) => u.local === 'calendar')!;
    const path = writeStackConfig({ receiving: { Port: s.ports.imaps, UseSSL: true, Type: 'imap', Username: '', Password: cal.password } });
    const r = await runCli(['test-mailbox', '--config', path, '--ca-file', s.ca, '--json']);
    expect(r.code).toBe(1);
    const doc = jsonOf(r);
    expect(doc.findings.map((f: { id: string; path: string }) => [f.id, f.path])).toEqual([['receiving.credentials-missing', 'Scheduling.iMIP.Receiving.Username']]);
    expect(doc.stages.find((st: { stage: string }) => st.stage === 'login')).toMatchObject({ ok: false, error: 'Receiving.Username is empty, so nothing was sent' });
  });

  it('reports a wrong password without printing it', async () => {
    const { path, passwords } = stackConfig({ recvPassword: 'Wrong-pw-5150-zz' });
    for (const mode of [[], ['--json'], ['--verbose']]) {
      const r = await runCli(['test-mailbox', '--config', path, '--ca-file', getStack().ca, ...mode]);
      expect(r.code).toBe(1);
      expect(r.stdout).toMatch(/mailbox\.login-failed/);
      noSecrets(r.stdout + r.stderr, passwords);
    }
  });

  it('exits 2 when the config has no mailbox to test', async () => {
    const path = writePlist(tempDir(), 'c.plist', { Scheduling: { iMIP: { Enabled: true } } });
    const r = await runCli(['test-mailbox', '--config', path]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/Receiving\.Server is empty/);
  });

  it('exits 2 on a bad --timeout or a missing --ca-file', async () => {
    const { path } = stackConfig();
    expect((await runCli(['test-mailbox', '--config', path, '--timeout', 'soon'])).code).toBe(2);
    const r = await runCli(['test-mailbox', '--config', path, '--ca-file', '/nonexistent.pem']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--ca-file \/nonexistent\.pem: no such file/);
  });
});

describe('imip check-config --connect', () => {
  it('merges the static checks and both tests into one JSON document', async () => {
    const { path, passwords } = stackConfig({ receivingPort: getStack().ports.imap });
    const r = await runCli(['check-config', '--config', path, '--connect', '--ca-file', getStack().ca, '--json']);
    const doc = jsonOf(r);
    expect(doc.probes.map((p: { name: string }) => p.name)).toEqual(['smtp', 'mailbox']);
    const ids = doc.findings.map((f: { id: string }) => f.id);
    // UseSSL true on the STARTTLS IMAP port: the static rule (well-known port only) stays
    // silent on a high port, the live test names the mismatch.
    expect(ids).toContain('mailbox.tls-mismatch');
    expect(r.code).toBe(1);
    noSecrets(r.stdout, passwords);
  });

  it('does not test a path the config already rules out, and names the cause once', async () => {
    const { path } = stackConfig();
    const { readFileSync, writeFileSync } = await import('node:fs');
    const text = readFileSync(path, 'utf8').replace(/(<key>Receiving<\/key>\s*<dict>\s*<key>Server<\/key>\s*)<string>[^<]*<\/string>/, '$1<string></string>');
    writeFileSync(path, text);
    const r = await runCli(['check-config', '--config', path, '--connect', '--ca-file', getStack().ca, '--json']);
    const doc = jsonOf(r);
    expect(doc.probes[0]).toMatchObject({ name: 'smtp', ok: true });
    expect(doc.probes[1]).toMatchObject({ name: 'mailbox', stages: [], notRun: expect.stringContaining('receiving.server-missing') });
    const ids = doc.findings.map((f: { id: string }) => f.id);
    expect(ids.filter((id: string) => id === 'receiving.server-missing')).toHaveLength(1);
    expect(ids.filter((id: string) => id.startsWith('mailbox.'))).toEqual([]);
    expect(r.code).toBe(1);
  });
});
