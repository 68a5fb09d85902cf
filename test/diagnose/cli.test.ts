/**
 * `imip diagnose` run as a person runs it (the built CLI): a healthy setup with no inputs, a
 * mailbox holding replies without a usable token (one \Seen, as 5.1+ leaves them) linked from a
 * log, the JSON document, stdin, bad input, exit codes. Own stack, own users.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePortOffset, mailboxFlags, markSeen, purgeMailbox, seedMailbox, startStack, stopStack, type StackInfo } from '../mailstack/stack.js';
import { runCli, jsonOf } from '../helpers/cli.js';
import { startRelay } from '../helpers/relay.js';
import { smallReply } from '../poll/helpers.js';
import { recordToken } from '../../src/state/tokens.js';
import { tempDir } from '../helpers/plist.js';
import { config, LOGS, MESSAGES, MSGS, writeConfig } from '../fixtures/diagnose/helpers.js';

const CAL = { address: 'cal-cli@example.test', password: 'Cal-cli-pw-3318' };
let stack: StackInfo;
let cfgPath: string;
let stateDir: string;

beforeAll(async () => {
  stack = await startStack({ portOffset: await freePortOffset(26000, process.pid % 20, 20), users: [CAL] });
  const logRoot = tempDir('imip-diag-logs-');
  cfgPath = writeConfig(
    config('9.2', {
      LogRoot: logRoot,
      'Scheduling.iMIP.Sending.Server': stack.host,
      'Scheduling.iMIP.Sending.Port': stack.ports.smtp,
      'Scheduling.iMIP.Sending.Address': `Calendar <${CAL.address}>`,
      'Scheduling.iMIP.Sending.Username': CAL.address,
      'Scheduling.iMIP.Sending.Password': CAL.password,
      'Scheduling.iMIP.Receiving.Server': stack.host,
      'Scheduling.iMIP.Receiving.Port': stack.ports.imaps,
      'Scheduling.iMIP.Receiving.UseSSL': true,
      'Scheduling.iMIP.Receiving.Username': CAL.address,
      'Scheduling.iMIP.Receiving.Password': CAL.password,
    }),
  );
  stateDir = tempDir('imip-diag-state-');
  // The healthy setup's reply answers a test invitation send-test recorded: its token is known
  // without the server's store (which this machine does not run), as after a real send-test.
  recordToken(stateDir, {
    token: '3f2b8c1e-7d4a-4e9b-a6c2-5b1d9e0f7a21',
    organizer: `mailto:${CAL.address}`,
    attendee: 'mailto:attendee@remote.test',
    uid: '6F1C2A3B-4000-4C5D-9E8F-000000000001',
    sentAt: new Date().toISOString(),
  });
}, 60_000);

afterAll(async () => {
  if (stack) await stopStack(stack, { remove: true });
}, 60_000);

const run = (args: string[], input?: string) =>
  runCli(['diagnose', '--config', cfgPath, '--ca-file', stack.ca, '--state-dir', stateDir, '--no-color', ...args], input === undefined ? {} : { input });

/** A fixture rewritten for this stack's Sending.Address (calendar@example.test → cal-cli@). */
const fixture = (name: string, dir = MESSAGES): string => readFileSync(join(dir, name), 'utf8').replace(/calendar(\+|@)/g, 'cal-cli$1');

describe('imip diagnose on a healthy setup', () => {
  it('no inputs: the SMTP test and the mailbox run; exit 0, but no "healthy" while plus addressing is untested', async () => {
    await purgeMailbox(stack, CAL.address);
    await seedMailbox(stack, CAL.address, [fixture('thunderbird-reply.eml')]);
    const r = await run([]);
    expect(r.stderr).toBe('');
    expect(r.code, r.stdout).toBe(0);
    const last = r.stdout.trim().split('\n').pop()!;
    expect(last).toMatch(/^- No problems found in what was tested \(examined config, mailbox \(1 message read-only \(0 \\Seen\)\), SMTP\), but not every area was tested: Plus addressing\./);
    expect(r.stdout).not.toMatch(/healthy/);
    expect(r.stdout).toMatch(/\[✓\] Config {11}no problems in /);
    expect(r.stdout).toMatch(/\[✓\] Sending {10}SMTP test passed: localhost:\d+ \(STARTTLS\) \(connect, EHLO, STARTTLS, AUTH, QUIT; nothing sent\)/);
    expect(r.stdout).toMatch(/\[✓\] Receiving {8}IMAP localhost:\d+ read-only: 1 message \(0 \\Seen\)/);
    expect(r.stdout).toMatch(/\[✓\] Replies {10}1 message examined, 0 without a usable token/);
    expect(r.stdout).toMatch(/\[-\] Plus addressing {2}not tested: "--probe plus-address"/);
    expect(r.stdout).toMatch(/log \S+error\.log \(not found\)/);
    const q = await run(['--quiet']);
    expect(q.code).toBe(0);
    expect(q.stdout.trim().split('\n')).toHaveLength(1);
  });

  it('issue: Sending is never ✓ untested: nothing listening, the SMTPS port, a wrong password each fail the Sending area', async () => {
    await purgeMailbox(stack, CAL.address);
    await seedMailbox(stack, CAL.address, [fixture('thunderbird-reply.eml')]);
    const closed = await run(['--set', 'Sending.Port=1', '--timeout', '3']);
    expect(closed.code).toBe(1);
    expect(closed.stdout).toMatch(/\[✗\] Sending {10}.*SMTP test failed: localhost:1 /);
    expect(closed.stdout).toMatch(/Overrides for this run only \(--set\): Sending\.Port=1 \(instead of \d+\)/);
    const smtps = await run(['--set', `Sending.Port=${stack.ports.smtps}`, '--timeout', '3']);
    expect(smtps.code).toBe(1);
    expect(smtps.stdout).toMatch(/\[✗\] Sending /);
    const wrong = await run(['--set', 'Sending.Password=not-the-password', '--json']);
    expect(wrong.code).toBe(1);
    const doc = jsonOf(wrong);
    expect(doc.areas.find((x: { area: string }) => x.area === 'sending')).toMatchObject({ status: 'error', tested: true });
    expect(doc.tests.smtp).toMatchObject({ ok: false });
    expect(doc.overrides).toEqual([{ key: 'Scheduling.iMIP.Sending.Password', value: '(set)', was: '(set)' }]);
    expect(wrong.stdout).not.toContain('not-the-password');
    expect(doc.summary.healthy).toBe(false);
  });

  it('--offline: no connection; Sending and Receiving say "not tested", never ✓', async () => {
    const r = await run(['--offline', '--message', '-'], fixture('thunderbird-reply.eml'));
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/\[-\] Sending {10}not tested: --offline: no connection was made/);
    expect(r.stdout).toMatch(/\[-\] Receiving {8}not tested: --offline/);
    expect(r.stdout).not.toMatch(/\[✓\] (Sending|Receiving)/);
    expect(r.stdout).not.toMatch(/healthy/);
    expect((await run(['--offline', '--probe', 'all'])).code).toBe(2);
  });

  it('--probe all on the healthy stack: plus addresses kept; injection not applicable on 9.2', async () => {
    await purgeMailbox(stack, CAL.address);
    await seedMailbox(stack, CAL.address, [fixture('thunderbird-reply.eml')]);
    const r = await run(['--probe', 'all', '--json']);
    expect(r.code).toBe(0);
    const doc = jsonOf(r);
    expect(doc.summary).toMatchObject({ healthy: true, areasNotTested: [] });
    expect(doc.tests.smtp).toMatchObject({ ok: true });
    expect(doc.probes.plusAddress).toMatchObject({ outcome: 'kept', sighting: { removed: 'expunged' } });
    expect(doc.probes.injection).toMatchObject({ outcome: 'not-applicable' });
    expect(doc.summary.line).toMatch(/plus addresses kept/);
  });
});

describe('imip diagnose with replies the server could not use', () => {
  it('reads the mailbox read-only, \\Seen messages included, links the log, exits 1; the JSON carries the same', async () => {
    await purgeMailbox(stack, CAL.address);
    const allReply = fixture('reply-all-other-first.eml').replace('<reply-all-0001@remote.test>', '<reply-all-0002@remote.test>');
    const uids = await seedMailbox(stack, CAL.address, [fixture('thunderbird-reply.eml'), allReply, fixture('reply-to-bare-address.eml')]);
    await markSeen(stack, CAL.address, uids[1]);
    const before = await mailboxFlags(stack, CAL.address);
    const log = join(tempDir('imip-diag-log-'), 'error.log');
    writeFileSync(log, readFileSync(join(LOGS, 'error-9x.log'), 'utf8').replace(/calendar(\+|@)/g, 'cal-cli$1'));

    const r = await run(['--log', log, '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(1);
    const doc = jsonOf(r);
    expect(Object.keys(doc)).toEqual([
      'command', 'ok', 'exitCode', 'serverVersion', 'config', 'inputs', 'areas', 'findings', 'messages', 'logs', 'mailbox', 'probes', 'tests', 'summary',
    ]);
    expect(doc).toMatchObject({ command: 'diagnose', ok: false, exitCode: 1, serverVersion: { version: '9.2', line: '5.0+', source: 'default' } });
    expect(doc.areas.map((a: { area: string; status: string }) => `${a.area}:${a.status}`)).toEqual([
      'config:ok', 'sending:error', 'receiving:error', 'plus:not-tested', 'replies:error', 'injection:not-applicable',
    ]);
    expect(doc.mailbox).toMatchObject({ protocol: 'imap', readOnly: true, exists: 3, seen: 1, examined: 3 });
    const byUid = Object.fromEntries(doc.messages.map((m: { uid: number }) => [m.uid, m]));
    expect(byUid[uids[0]!]).toMatchObject({ tokenless: false, causes: [] });
    expect(byUid[uids[1]!]).toMatchObject({ seen: true, tokenless: true, serverAction: 'NO_TOKEN', causes: ['token.not-first-recipient', 'token.other-recipient'], logged: { count: 1 } });
    expect(byUid[uids[2]!]).toMatchObject({ tokenless: true, causes: ['token.to-bare-address', 'token.absent'] });
    const f = doc.findings.find((x: { id: string; source: string }) => x.id === 'token.not-first-recipient' && x.source === 'mailbox');
    expect(Object.keys(f).sort()).toEqual(['area', 'evidence', 'fix', 'id', 'message', 'path', 'severity', 'source']);
    expect(f.evidence).toMatchObject({ message: `UID ${uids[1]}`, logged: expect.stringMatching(/^1× "didn't find a token", last 2016-03-02 10:00:05\+0000/) });
    const entry = doc.logs.entries.find((e: { id: string }) => e.id === 'log.no-token');
    expect(entry).toMatchObject({ count: 1, first: '2016-03-02 10:00:05+0000', exampleLine: 4, formats: { namespaced: 1 } });
    expect(entry.meaning).toBeTruthy();
    expect(doc.findings.map((x: { id: string }) => x.id)).toEqual(expect.arrayContaining(['log.no-token', 'log.imap-login-failed', 'log.send-failed', 'log.unknown-calendar-user']));
    // Read-only: not a flag changed.
    expect(await mailboxFlags(stack, CAL.address)).toEqual(before);

    const human = await run(['--log', log]);
    expect(human.code).toBe(1);
    expect(human.stdout).toMatch(/\[✗\] Replies {10}\d+ errors?, \d+ warnings?; 3 messages examined, 2 without a usable token; log: 1 "didn't find a token", 1 injected/);
    expect(human.stdout).toMatch(/\n {2}✗ token\.not-first-recipient {2}UID \d+\n/);
    expect(human.stdout).toMatch(/\n {4}fix: This is what Reply All does/);
    expect(human.stdout.trim().split('\n').pop()).toMatch(/^✗ Found \d+ errors and \d+ warnings? in 4 areas \(Sending, Receiving, Replies, Config\)|^✗ Found \d+ errors and \d+ warnings? in \d areas/);
  });

  it('the mailbox session cut mid-read: Receiving says how far it got, the JSON names why, not a flag changed', async () => {
    await purgeMailbox(stack, CAL.address);
    const token = '3f2b8c1e-7d4a-4e9b-a6c2-5b1d9e0f7a21';
    await seedMailbox(stack, CAL.address, Array.from({ length: 600 }, (_, i) => smallReply(i, token, '6F1C2A3B-4000-4C5D-9E8F-000000000001').replace(/calendar(\+|@)/g, 'cal-cli$1')));
    const before = await mailboxFlags(stack, CAL.address);
    // First measure what the longest connection brings down whole (the checks connect too), then
    // cut each connection once it has brought 90% of that: the structure of all 600 and the parts
    // of the first windows have come, the last window's parts have not.
    let cutAt = Infinity;
    let longest = 0;
    const down = new WeakMap<object, number>();
    const relay = await startRelay({ host: stack.host, port: stack.ports.imaps }, (d, client) => {
      if (client.destroyed) return;
      const n = (down.get(client) ?? 0) + d.length;
      down.set(client, n);
      longest = Math.max(longest, n);
      if (n > cutAt) client.destroy();
      else client.write(d);
    });
    try {
      expect(jsonOf(await run(['--set', `Receiving.Port=${relay.port}`, '--json'])).mailbox).toMatchObject({ exists: 600, examined: 600 });
      cutAt = Math.floor(longest * 0.9);
      const r = await run(['--set', `Receiving.Port=${relay.port}`, '--json']);
      expect(r.stderr).toBe('');
      const doc = jsonOf(r);
      expect(doc.mailbox.error).toMatch(/^the IMAP session ended early after \d+ messages: /);
      expect(doc.mailbox.exists).toBe(600);
      expect(doc.mailbox.examined).toBeGreaterThan(0);
      expect(doc.mailbox.examined).toBeLessThan(600);
      const human = await run(['--set', `Receiving.Port=${relay.port}`]);
      expect(human.stdout).toMatch(/Receiving .*read-only: the session ended early, after \d+ messages of 600/);
      expect(human.stdout).not.toMatch(/at .*\.js:\d+/);
    } finally {
      relay.close();
    }
    expect(await mailboxFlags(stack, CAL.address)).toEqual(before);
  });

  it('--message - reads one message from stdin; the mailbox is then not read', async () => {
    const r = await run(['--message', '-', '--json'], fixture('extra-plus.eml'));
    expect(r.code).toBe(1);
    const doc = jsonOf(r);
    expect(doc.mailbox).toBeNull();
    expect(doc.messages).toMatchObject([{ source: 'stdin', causes: ['token.extra-plus'] }]);
  });

  it('bad input: a clear error for that input, the rest still runs and is reported, then exit 2 as grep does', async () => {
    const r = await run(['--message', join(MSGS, 'binary.png'), join(MESSAGES, 'extra-plus.eml'), '--log', join(MSGS, 'binary.png')]);
    expect(r.code).toBe(2);
    const missing = await run(['--message', '/nonexistent/reply.eml', join(MESSAGES, 'extra-plus.eml')]);
    expect(missing.code).toBe(2);
    expect(missing.stdout).toMatch(/token\.extra-plus/);
    expect(r.stdout).toMatch(/message \S+binary\.png \(could not be examined\) — binary data, not a mail message/);
    expect(r.stdout).toMatch(/log \S+binary\.png \(could not be examined\) — binary data, not a text log/);
    expect(r.stdout).toMatch(/token\.extra-plus/);

    const none = await runCli(['diagnose', '--config', '/nonexistent/caldavd.plist', '--message', join(MSGS, 'binary.png')]);
    expect(none.code).toBe(2);
    expect(none.stdout).toMatch(/Nothing could be examined/);
    const noConfig = await runCli(['diagnose', '--config', '/nonexistent/caldavd.plist']);
    expect(noConfig.code).toBe(2);
    expect(noConfig.stderr).toMatch(/^imip: /);
    const badProbe = await runCli(['diagnose', '--probe', 'everything']);
    expect(badProbe.code).toBe(2);
  });
});
