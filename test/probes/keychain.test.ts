/**
 * macOS: an empty Sending/Receiving Password that Calendar Server takes from the System keychain
 * (twistedcaldav/util.py `getPasswordFromKeychain`, called from stdconfig.py `_updateScheduling`).
 * The server may well log in; imip, which never reads the keychain, cannot test that login. The
 * connection tests say so as a warning with the way to test it, instead of calling the login
 * impossible. Against the real mail stack; the platform is given as macOS's.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { loadForCommand } from '../../src/commands/shared.js';
import type { ReceivingSettings, SendingSettings } from '../../src/config/settings.js';
import { ImapReader } from '../../src/mailbox/imap-reader.js';
import { isMailboxOpenError } from '../../src/mailbox/open-error.js';
import { stoppedText } from '../../src/poll/cycle.js';
import { mailboxOpenFindings } from '../../src/probes/mailbox-open-findings.js';
import { probeMailbox } from '../../src/probes/mailbox-probe.js';
import type { ProbeReport } from '../../src/probes/probe-report.js';
import { probeSmtp } from '../../src/probes/smtp-probe.js';
import { parseServerVersion } from '../../src/server/release.js';
import { getStack } from '../helpers/stack.js';
import { baseConfig, tempDir, withChange, writePlist } from '../helpers/plist.js';

const V92 = parseServerVersion('9.2');
const reports: ProbeReport[] = [];

function calendar() {
  return getStack().users.find((u) => u.local === 'calendar')!;
}

/** The stack's calendar account, its password empty here and taken by the server from the keychain. */
function inKeychain() {
  const s = getStack();
  const cal = calendar();
  const account = `${cal.address}@${s.host}`;
  const receiving: ReceivingSettings = { server: s.host, port: s.ports.imaps, useSSL: true, type: 'imap', protocol: 'imap', username: cal.address, password: '', pollingSeconds: 30, keychainAccount: account };
  const sending = (port: number): SendingSettings => ({ server: s.host, port, useSSL: true, address: cal.address, username: cal.address, password: '', suppressionDays: 7, keychainAccount: account });
  return { s, account, receiving, sending };
}

afterAll(() => {
  // Nothing any report holds names a password of the stack.
  const text = JSON.stringify(reports);
  for (const u of getStack().users) expect(text).not.toContain(u.password);
});

describe('which empty passwords the server takes from the keychain', () => {
  const I = 'Scheduling.iMIP';
  const load = async (version: string, changes: Record<string, unknown>, platform: NodeJS.Platform) => {
    let cfg = baseConfig(version);
    for (const [k, v] of Object.entries(changes)) cfg = withChange(cfg, k, v);
    const path = writePlist(tempDir(), 'caldavd.plist', cfg);
    return (await loadForCommand({ config: path, serverVersion: version }, platform)).ctx.settings;
  };

  it('macOS, 9.2, an empty Receiving.Password with a user name: the account "<Username>@<Server>"', async () => {
    const s = await load('9.2', { [`${I}.Receiving.Password`]: '' }, 'darwin');
    expect(s.receiving.keychainAccount).toBe(`${s.receiving.username}@${s.receiving.server}`);
    expect(s.sending.keychainAccount).toBeUndefined();
  });

  it('not on Linux, not without a user name, not when the plist has the password', async () => {
    expect((await load('9.2', { [`${I}.Receiving.Password`]: '' }, 'linux')).receiving.keychainAccount).toBeUndefined();
    expect((await load('9.2', { [`${I}.Receiving.Password`]: '', [`${I}.Receiving.Username`]: '' }, 'darwin')).receiving.keychainAccount).toBeUndefined();
    expect((await load('9.2', {}, 'darwin')).receiving.keychainAccount).toBeUndefined();
  });

  it('3.x-4.x look in no keychain for Sending/Receiving once Scheduling.iMIP.Password is set', async () => {
    const withSecret = await load('4.3', { [`${I}.Receiving.Password`]: '', [`${I}.Password`]: 'shared-secret-1' }, 'darwin');
    expect(withSecret.receiving.keychainAccount).toBeUndefined();
    const withoutSecret = await load('4.3', { [`${I}.Receiving.Password`]: '', [`${I}.Password`]: '' }, 'darwin');
    expect(withoutSecret.receiving.keychainAccount).toBe(`${withoutSecret.receiving.username}@${withoutSecret.receiving.server}`);
  });
});

describe('the connection tests on macOS with the password in the keychain', () => {
  it('test-mailbox: nothing is sent, the login is untested, a warning that says how to test it', async () => {
    const { s, account, receiving: r } = inKeychain();
    const report = await probeMailbox(r, { timeoutMs: 4000, ca: s.caPem, insecure: false }, V92);
    reports.push(report);
    const login = report.stages.find((st) => st.stage === 'login')!;
    expect(login.ok).toBe(false);
    expect(login.error).toBe(`Receiving.Password is empty and Calendar Server takes it from the System keychain (account "${account}"), which imip does not read, so nothing was sent`);
    expect(report.findings.map((f) => [f.id, f.severity, f.path])).toEqual([['receiving.credentials-missing', 'warning', 'Scheduling.iMIP.Receiving.Password']]);
    const f = report.findings[0]!;
    expect(f.message).toMatch(/logs in only if it is there\. imip does not read the keychain, so the login was not tested\.$/);
    expect(f.fix).toBe(`To test the login the server makes, pass the keychain's password for this run: --set Receiving.Password="$(sudo security find-generic-password -a '${account}' -w /Library/Keychains/System.keychain)"`);
  });

  it('test-smtp: AUTH shown as skipped for the keychain, and what the relay does without a login', async () => {
    const { s, account, sending: on } = inKeychain();
    const sending = on(s.ports.smtp);
    const report = await probeSmtp(sending, { timeoutMs: 4000, ca: s.caPem, insecure: false, heloName: 'probe.example.test' });
    reports.push(report);
    expect(report.stages.find((st) => st.stage === 'auth')).toMatchObject({ skipped: true, evidence: { reason: expect.stringMatching(/takes it from the System keychain .*which imip does not read/) } });
    expect(report.findings.map((f) => [f.id, f.severity])).toEqual([['smtp.auth-skipped', 'warning']]);
    const f = report.findings[0]!;
    expect(f.evidence).toMatchObject({ reason: 'keychain', keychainAccount: account });
    // The submission port takes no outside mail without a login: invitations depend on the keychain.
    expect(f.message).toMatch(/so the login was not tested; without a login the relay refuses mail \(.+\), so invitations leave only if the keychain holds the right password\.$/);
    expect(f.fix).toContain(`--set Sending.Password="$(sudo security find-generic-password -a '${account}'`);
  });

  it('test-smtp: a relay that lists no AUTH is not logged in to, keychain or not', async () => {
    const { s, sending: on } = inKeychain();
    const sending = on(s.ports.mx);
    const report = await probeSmtp(sending, { timeoutMs: 4000, ca: s.caPem, insecure: false, heloName: 'probe.example.test' });
    reports.push(report);
    expect(report.findings.map((f) => [f.id, f.evidence.reason])).toEqual([['smtp.auth-skipped', 'not-offered']]);
  });
});

describe('poll and diagnose on macOS with the password in the keychain', () => {
  it('no session is opened; the same warning as test-mailbox, and the cycle says why nothing was read', async () => {
    const { s, receiving: r } = inKeychain();
    const err = await ImapReader.open(r, { timeoutMs: 4000, ca: s.caPem, insecure: false }, { readOnly: true }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(isMailboxOpenError(err)).toBe(true);
    if (!isMailboxOpenError(err)) return;
    expect(err.message).toBe(`IMAP ${s.host}:${s.ports.imaps}: Receiving.Password is empty and Calendar Server takes it from the System keychain, which imip does not read`);
    const findings = mailboxOpenFindings(r, V92, err);
    expect(findings.map((f) => [f.id, f.severity])).toEqual([['receiving.credentials-missing', 'warning']]);
    expect(stoppedText('mailbox-not-opened', findings, err.message)).toBe('No message was read: the login was not tested, as the password is in the macOS keychain (receiving.credentials-missing says how to test it).');
    // Without the keychain (any other system) it stays the error that stops the server's poll too.
    const plain = { ...r, keychainAccount: undefined };
    const err2 = await ImapReader.open(plain, { timeoutMs: 4000, ca: s.caPem, insecure: false }, { readOnly: true }).then(() => null, (e: unknown) => e);
    if (!isMailboxOpenError(err2)) throw new Error('expected a MailboxOpenError');
    const f2 = mailboxOpenFindings(plain, V92, err2);
    expect(f2.map((f) => [f.id, f.severity])).toEqual([['receiving.credentials-missing', 'error']]);
    expect(stoppedText('mailbox-not-opened', f2, err2.message)).toMatch(/^No message was read: the mailbox could not be opened \(receiving\.credentials-missing\)/);
  });
});
