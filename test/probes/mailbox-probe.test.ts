// probeMailbox (IMAP and POP3) against the real mail stack (Dovecot: IMAP/STARTTLS, IMAPS,
// POP3/STLS, POP3S) and a local silent listener. The seeded mailbox is personal@example.test;
// every probe on it is checked to leave counts and flags exactly as they were. Every report is
// kept and searched for passwords at the end.
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeEach, describe, expect, test, vi } from 'vitest';
import type { ConnectOptions, ReceivingSettings } from '../../src/config/settings.js';
import { probeMailbox, sampleKind } from '../../src/probes/mailbox-probe.js';
import type { ProbeReport } from '../../src/probes/probe-report.js';
import type { Finding } from '../../src/report/finding.js';
import { parseServerVersion } from '../../src/server/release.js';
import { RawSession } from '../../src/mailbox/imap-raw-session.js';
import { BIN } from '../helpers/cli.js';
import { tempDir } from '../helpers/plist.js';
import { getStack } from '../helpers/stack.js';
import { writeStackConfig } from '../helpers/stack-config.js';
import { mailboxCount, mailboxFlags, markSeen, purgeMailbox, seedMailbox } from '../mailstack/stack.js';

const TIMEOUT = 4000;
const WRONG_PASSWORD = 'Wrong-pw-6161-not-this';
const V92 = parseServerVersion('9.2');
const V43 = parseServerVersion('4.3');
const reports: ProbeReport[] = [];
const secrets = new Set<string>([WRONG_PASSWORD]);

type Kind = 'imap' | 'imaps' | 'pop3' | 'pop3s';

function user() {
  const info = getStack();
  for (const u of info.users) secrets.add(u.password);
  return info.users.find((u) => u.local === 'personal')!;
}

function receiving(kind: Kind, over: Partial<ReceivingSettings> = {}): ReceivingSettings {
  const info = getStack();
  const u = user();
  const pop = kind.startsWith('pop3');
  return {
    server: info.host,
    port: info.ports[kind],
    useSSL: kind.endsWith('s'),
    type: pop ? 'pop' : 'imap',
    protocol: pop ? 'pop3' : 'imap',
    username: u.address,
    password: u.password,
    pollingSeconds: 30,
    ...over,
  };
}

function options(over: Partial<ConnectOptions> = {}): ConnectOptions {
  return { timeoutMs: TIMEOUT, ca: getStack().caPem, insecure: false, ...over };
}

async function probe(r: ReceivingSettings, o: ConnectOptions, version = V92): Promise<ProbeReport> {
  const report = await probeMailbox(r, o, version);
  reports.push(report);
  return report;
}

/** Probes, and checks that the mailbox (count and every flag) is exactly as before. */
async function probeUnchanged(r: ReceivingSettings, o: ConnectOptions, version = V92): Promise<ProbeReport> {
  const info = getStack();
  const before = { count: await mailboxCount(info, 'personal'), flags: await mailboxFlags(info, 'personal') };
  const report = await probe(r, o, version);
  const after = { count: await mailboxCount(info, 'personal'), flags: await mailboxFlags(info, 'personal') };
  expect(after.count).toBe(before.count);
  expect([...after.flags.entries()]).toEqual([...before.flags.entries()]);
  return report;
}

const names = (r: ProbeReport) => r.stages.map((s) => s.stage);
const failed = (r: ProbeReport) => r.stages.find((s) => !s.ok && !s.skipped);
const ids = (r: ProbeReport) => r.findings.map((f) => f.id);
const stage = (r: ProbeReport, name: string) => r.stages.find((s) => s.stage === name)!;

// ---- messages to seed

const date = 'Tue, 24 Nov 2026 10:00:00 +0000';

/** Sender name and subject as written in the header (RFC 2047 words allowed), and the body's charset. */
interface Written {
  from?: string;
  subject?: string;
  charset?: string;
}

function newsletter(n: number, w: Written = {}): string {
  return [
    `From: ${w.from ?? '"Shop Deals"'} <news@shop.example>`,
    'To: personal@example.test',
    `Subject: ${w.subject ?? `Black Friday deals #${n}`}`,
    `Message-ID: <news-${n}-${randomUUID()}@shop.example>`,
    `Date: ${date}`,
    'List-Id: Shop news <news.shop.example>',
    'List-Unsubscribe: <mailto:unsubscribe@shop.example>',
    'Precedence: bulk',
    'MIME-Version: 1.0',
    `Content-Type: text/html; charset=${w.charset ?? 'utf-8'}`,
    '',
    '<p>Everything must go.</p>',
    '',
  ].join('\r\n');
}

function personal(subject: string, w: Omit<Written, 'subject'> = {}): string {
  return [
    `From: ${w.from ?? '=?utf-8?Q?M=C3=BCm?= <mum@family.example>'}`,
    'To: personal@example.test',
    `Subject: ${subject}`,
    `Message-ID: <p-${randomUUID()}@family.example>`,
    `Date: ${date}`,
    'MIME-Version: 1.0',
    `Content-Type: text/plain; charset=${w.charset ?? 'utf-8'}`,
    '',
    'Are you coming on Sunday?',
    '',
  ].join('\r\n');
}

/** A newsletter whose sender name and subject are in ISO-2022-JP (RFC 2047). */
const legacyNewsletter = (): string =>
  newsletter(7, { from: '=?iso-2022-jp?B?GyRCJTclZyVDJVcbKEI=?=', subject: '=?iso-2022-jp?B?GyRCJTshPCVrGyhC?= #7', charset: 'iso-2022-jp' });

/** Personal mail whose sender name and subject are in windows-1252. */
const legacyPersonal = (): string =>
  personal('=?windows-1252?Q?Caf=E9=3F?=', { from: '=?windows-1252?Q?Ren=E9?= <rene@family.example>', charset: 'windows-1252' });

/** An invitation forwarded as an attachment: its calendar is inside a message/rfc822 part. */
function forwardedInvitation(): string {
  return [
    'From: Alice <alice@remote.example>',
    'To: personal@example.test',
    'Subject: Fwd: Invitation',
    `Message-ID: <fwd-${randomUUID()}@remote.example>`,
    `Date: ${date}`,
    'MIME-Version: 1.0',
    'Content-Type: multipart/mixed; boundary="f1"',
    '',
    '--f1',
    'Content-Type: text/plain; charset=utf-8',
    '',
    'See below.',
    '--f1',
    'Content-Type: message/rfc822',
    '',
    'From: Carol <carol@remote.example>',
    'Subject: Invitation',
    'MIME-Version: 1.0',
    'Content-Type: text/calendar; charset=utf-8; method=REQUEST',
    '',
    'BEGIN:VCALENDAR',
    'VERSION:2.0',
    'METHOD:REQUEST',
    'END:VCALENDAR',
    '--f1--',
    '',
  ].join('\r\n');
}

function imipReply(): string {
  const token = randomUUID();
  return [
    'From: Bob <bob@remote.example>',
    `To: personal+${token}@example.test`,
    'Subject: Accepted: Team meeting',
    `Message-ID: <r-${randomUUID()}@remote.example>`,
    `Date: ${date}`,
    'MIME-Version: 1.0',
    'Content-Type: multipart/mixed; boundary="b1"',
    '',
    '--b1',
    'Content-Type: text/plain; charset=utf-8',
    '',
    'Bob has accepted.',
    '--b1',
    'Content-Type: text/calendar; charset=utf-8; method=REPLY',
    '',
    'BEGIN:VCALENDAR',
    'VERSION:2.0',
    'PRODID:-//test//EN',
    'METHOD:REPLY',
    'BEGIN:VEVENT',
    `UID:${randomUUID()}`,
    'DTSTAMP:20261124T100000Z',
    'DTSTART:20261201T100000Z',
    `ORGANIZER:mailto:personal+${token}@example.test`,
    'ATTENDEE;PARTSTAT=ACCEPTED:mailto:bob@remote.example',
    'END:VEVENT',
    'END:VCALENDAR',
    '--b1--',
    '',
  ].join('\r\n');
}

function tokenOnly(): string {
  return [
    'From: Carol <carol@remote.example>',
    `To: personal+${randomUUID()}@example.test`,
    'Subject: Re: Team meeting',
    `Message-ID: <t-${randomUUID()}@remote.example>`,
    `Date: ${date}`,
    'Content-Type: text/plain',
    '',
    'I will be late.',
    '',
  ].join('\r\n');
}

function bounce(): string {
  return [
    'From: Mail Delivery System <MAILER-DAEMON@remote.example>',
    'To: personal@example.test',
    'Subject: Undelivered Mail Returned to Sender',
    `Message-ID: <b-${randomUUID()}@remote.example>`,
    `Date: ${date}`,
    'MIME-Version: 1.0',
    'Content-Type: multipart/report; report-type=delivery-status; boundary="r1"',
    '',
    '--r1',
    'Content-Type: text/plain',
    '',
    'Delivery failed.',
    '--r1',
    'Content-Type: message/delivery-status',
    '',
    'Reporting-MTA: dns; remote.example',
    '',
    'Final-Recipient: rfc822; nobody@remote.example',
    'Action: failed',
    'Status: 5.1.1',
    '--r1--',
    '',
  ].join('\r\n');
}

async function reset(raws: string[]): Promise<number[]> {
  const info = getStack();
  await purgeMailbox(info, 'personal');
  return seedMailbox(info, 'personal', raws);
}

afterAll(() => {
  const text = JSON.stringify(reports);
  expect(reports.length).toBeGreaterThan(20);
  for (const secret of secrets) {
    expect(text.includes(secret), `a report contains the password ${secret.slice(0, 3)}…`).toBe(false);
  }
});

describe('probeMailbox: IMAP', () => {
  beforeEach(async () => {
    await reset([imipReply(), tokenOnly()]);
  });

  test('every stage passes on IMAPS with UseSSL true', async () => {
    const r = await probeUnchanged(receiving('imaps'), options());
    expect(failed(r)).toBeUndefined();
    expect(r.ok).toBe(true);
    expect(r.target).toEqual({ host: getStack().host, port: getStack().ports.imaps, protocol: 'imap', tls: 'implicit' });
    expect(names(r)).toEqual(['resolve', 'connect', 'tls', 'greeting', 'login', 'inbox', 'sample', 'logout']);
    const tlsEv = stage(r, 'tls').evidence.tls as Record<string, unknown>;
    expect(tlsEv.verified).toBe(true);
    expect(tlsEv.protocol).toMatch(/^TLSv1\.[23]$/);
    expect(stage(r, 'greeting').evidence.authMechanisms).toEqual(expect.arrayContaining(['PLAIN']));
    expect(stage(r, 'login').evidence.mechanism).toMatch(/^(AUTHENTICATE (PLAIN|LOGIN)|LOGIN)$/);
    expect(stage(r, 'inbox').evidence).toMatchObject({ command: 'EXAMINE INBOX', readOnly: true, total: 2, unseen: 2, seen: 0 });
    expect(stage(r, 'sample').evidence.sampled).toBe(2);
    expect(r.findings).toEqual([]);
  });

  test('every stage passes on the STARTTLS port with UseSSL false (upgrades like the server)', async () => {
    const r = await probeUnchanged(receiving('imap'), options());
    expect(failed(r)).toBeUndefined();
    expect(r.ok).toBe(true);
    expect(r.target.tls).toBe('starttls');
    // server-login: the server's own steps on a connection of its own (no password sent).
    expect(names(r)).toEqual(['resolve', 'connect', 'greeting', 'starttls', 'login', 'inbox', 'sample', 'logout', 'server-login']);
    expect(stage(r, 'greeting').evidence.starttls).toBe(true);
    expect((stage(r, 'starttls').evidence.tls as { verified: boolean }).verified).toBe(true);
    expect(stage(r, 'login').evidence.encrypted).toBe(true);
    // Dovecot offers AUTH=PLAIN before STARTTLS to localhost, and Twisted would use it right away.
    expect(stage(r, 'greeting').evidence.authMechanisms).toContain('PLAIN');
    expect(ids(r)).toEqual(['mailbox.cleartext-password']);
    expect(r.findings[0]!.severity).toBe('warning');
    expect(r.findings[0]!.evidence.calendarServerSteps).toEqual(['AUTHENTICATE PLAIN before TLS']);
  });

  test('UseSSL true against the STARTTLS port: tls-mismatch, UseSSL false would work', async () => {
    const r = await probeUnchanged(receiving('imap', { useSSL: true }), options());
    expect(failed(r)!.stage).toBe('tls');
    expect(ids(r)).toEqual(['mailbox.tls-mismatch']);
    const f = r.findings[0]!;
    expect(f.message).toMatch(/UseSSL false would work/);
    expect(f.evidence.portSpeaks).toBe('plain');
    expect(f.path).toBe('Scheduling.iMIP.Receiving.UseSSL');
  });

  test('UseSSL false against the implicit-TLS port: tls-mismatch, UseSSL true would work', async () => {
    const started = Date.now();
    const r = await probeUnchanged(receiving('imaps', { useSSL: false }), options());
    expect(Date.now() - started).toBeLessThan(TIMEOUT);
    expect(failed(r)!.stage).toBe('greeting');
    expect(ids(r)).toEqual(['mailbox.tls-mismatch']);
    expect(r.findings[0]!.message).toMatch(/UseSSL true would work/);
    expect(r.findings[0]!.evidence.portSpeaks).toBe('implicit-tls');
  });

  test('a wrong password', async () => {
    const r = await probeUnchanged(receiving('imaps', { password: WRONG_PASSWORD }), options());
    expect(failed(r)!.stage).toBe('login');
    expect(ids(r)).toEqual(['mailbox.login-failed']);
    expect(r.findings[0]!.fix).toMatch(/Receiving\.Username and Scheduling\.iMIP\.Receiving\.Password/);
    expect(['inbox', 'sample', 'logout'].every((s) => stage(r, s).skipped)).toBe(true);
  });

  test('certificate not trusted without a CA, on both TLS paths', async () => {
    for (const kind of ['imaps', 'imap'] as const) {
      const r = await probeUnchanged(receiving(kind), options({ ca: undefined }));
      expect(failed(r)!.stage).toBe(kind === 'imaps' ? 'tls' : 'starttls');
      // The server never checks the chain: a warning; the tool stopped before its password and says how to go on.
      expect(ids(r)).toEqual(['mailbox.certificate-untrusted']);
      expect(r.findings[0]!.severity).toBe('warning');
      expect(r.findings[0]!.message).toMatch(/self-signed/);
      expect(r.findings[0]!.message).toMatch(/would go on and log in.*--ca-file/);
      expect(stage(r, 'login').skipped).toBe(true);
    }
  });

  test('--insecure is reported', async () => {
    const r = await probeUnchanged(receiving('imaps'), options({ ca: undefined, insecure: true }));
    expect(r.ok).toBe(true);
    // The certificate is still judged as the server judges it: untrusted chain, a warning.
    expect(ids(r)).toEqual(['tls.insecure', 'mailbox.certificate-untrusted']);
    expect(r.findings[0]!.severity).toBe('info');
    expect(r.findings[0]!.evidence.certificateVerified).toBe(false);
  });
});

describe('probeMailbox: POP3', () => {
  beforeEach(async () => {
    await reset([imipReply(), tokenOnly()]);
  });

  test('every stage passes on POP3S with UseSSL true', async () => {
    const r = await probeUnchanged(receiving('pop3s'), options());
    expect(failed(r)).toBeUndefined();
    expect(r.ok).toBe(true);
    expect(r.target).toEqual({ host: getStack().host, port: getStack().ports.pop3s, protocol: 'pop3', tls: 'implicit' });
    expect(names(r)).toEqual(['resolve', 'connect', 'tls', 'greeting', 'login', 'stat', 'uidl', 'sample', 'quit']);
    expect((stage(r, 'tls').evidence.tls as { verified: boolean }).verified).toBe(true);
    expect(stage(r, 'greeting').evidence).toMatchObject({ apopChallenge: false, pipelining: true, uidl: true, top: true });
    expect(stage(r, 'login').evidence.mechanism).toBe('USER');
    expect(stage(r, 'stat').evidence.messages).toBe(2);
    expect(stage(r, 'stat').evidence.octets).toBeGreaterThan(100);
    expect(stage(r, 'uidl').evidence.count).toBe(2);
    expect(stage(r, 'quit').evidence.deleted).toBe(0);
    expect(r.findings).toEqual([]);
    expect(r.transcript!.some((l) => l === 'C: PASS <redacted>')).toBe(true);
    expect(r.transcript!.some((l) => /^C: DELE/.test(l))).toBe(false);
  });

  test('every stage passes on the STLS port with UseSSL false (upgrades like Twisted)', async () => {
    const r = await probeUnchanged(receiving('pop3'), options());
    expect(r.target.tls).toBe('starttls');
    expect(names(r)).toEqual(['resolve', 'connect', 'greeting', 'starttls', 'login', 'stat', 'uidl', 'sample', 'quit', 'server-login']);
    expect(stage(r, 'greeting').evidence.stls).toBe(true);
    expect((stage(r, 'starttls').evidence.tls as { verified: boolean }).verified).toBe(true);
    expect(stage(r, 'login').evidence.encrypted).toBe(true);
    // This probe negotiated current TLS; Calendar Server's STLS offers TLS 1.0 only, which this
    // Dovecot (TLS 1.2 at least) refuses: the server never logs in here.
    expect(failed(r)!.stage).toBe('server-login');
    expect(ids(r)).toEqual(['mailbox.tls10-refused']);
  });

  test('STLS on a server that accepts TLS 1.0 (not a secured address): the server logs in', async () => {
    const r = await probeUnchanged(receiving('pop3', { server: getStack().clientVariants.legacyHost }), options());
    expect(failed(r)).toBeUndefined();
    expect(stage(r, 'server-login').evidence.tls10).toBe('TLSv1');
    expect(r.findings).toEqual([]);
  });

  test('UseSSL true against the STLS port: tls-mismatch, UseSSL false would work', async () => {
    const r = await probeUnchanged(receiving('pop3', { useSSL: true }), options());
    expect(failed(r)!.stage).toBe('tls');
    expect(ids(r)).toEqual(['mailbox.tls-mismatch']);
    expect(r.findings[0]!.message).toMatch(/UseSSL false would work/);
  });

  test('UseSSL false against the implicit-TLS port: tls-mismatch, UseSSL true would work', async () => {
    const r = await probeUnchanged(receiving('pop3s', { useSSL: false }), options());
    expect(failed(r)!.stage).toBe('greeting');
    expect(ids(r)).toEqual(['mailbox.tls-mismatch']);
    expect(r.findings[0]!.message).toMatch(/UseSSL true would work/);
  });

  test('a wrong password', async () => {
    const r = await probeUnchanged(receiving('pop3s', { password: WRONG_PASSWORD }), options());
    expect(failed(r)!.stage).toBe('login');
    expect(ids(r)).toEqual(['mailbox.login-failed']);
  });

  test('certificate not trusted without a CA, on both TLS paths', async () => {
    for (const kind of ['pop3s', 'pop3'] as const) {
      const r = await probeUnchanged(receiving(kind), options({ ca: undefined }));
      expect(failed(r)!.stage).toBe(kind === 'pop3s' ? 'tls' : 'starttls');
      expect(ids(r)).toEqual(['mailbox.certificate-untrusted']);
      expect(r.findings[0]!.message).toMatch(/self-signed/);
    }
  });

  test('--insecure is reported', async () => {
    const r = await probeUnchanged(receiving('pop3s'), options({ ca: undefined, insecure: true }));
    expect(r.ok).toBe(true);
    expect(ids(r)).toEqual(['tls.insecure', 'mailbox.certificate-untrusted']);
  });
});

describe('probeMailbox: what the mailbox holds', () => {
  test('messages already read: a warning on 9.2 (UNSEEN only), none on 4.3', async () => {
    const uids = await reset([imipReply(), imipReply(), imipReply()]);
    const info = getStack();
    await markSeen(info, 'personal', uids[0]);
    await markSeen(info, 'personal', uids[1]);
    const on92 = await probeUnchanged(receiving('imaps'), options(), V92);
    expect(stage(on92, 'inbox').evidence).toMatchObject({ total: 3, unseen: 1, seen: 2 });
    expect(ids(on92)).toEqual(['mailbox.seen-messages']);
    const f = on92.findings[0]!;
    expect(f.severity).toBe('warning');
    expect(f.evidence).toMatchObject({ total: 3, seen: 2, unseen: 1 });
    expect(f.message).toMatch(/2 of 3 messages/);
    const on43 = await probeUnchanged(receiving('imaps'), options(), V43);
    expect(ids(on43)).toEqual([]);
    // POP3 has no \Seen: nothing to say there.
    const pop = await probeUnchanged(receiving('pop3s'), options(), V92);
    expect(ids(pop)).toEqual([]);
    const flags = await mailboxFlags(info, 'personal');
    expect([...flags.values()].filter((f) => f.includes('\\Seen')).length).toBe(2);
  });

  test('newsletters and personal mail: not dedicated (IMAP and POP3), with examples', async () => {
    await reset([imipReply(), newsletter(1), personal('Sunday lunch?'), newsletter(2), tokenOnly(), bounce()]);
    for (const kind of ['imaps', 'pop3s'] as const) {
      const r = await probeUnchanged(receiving(kind), options(), V92);
      expect(failed(r)).toBeUndefined();
      expect(ids(r)).toEqual(['mailbox.not-dedicated']);
      const f = r.findings[0]!;
      expect(f.severity).toBe('warning');
      expect(f.evidence).toMatchObject({ sampled: 6, notImip: 3 });
      expect(f.message).toMatch(/will delete any messages/);
      const examples = f.evidence.examples as Array<{ subject: string; from: string }>;
      expect(examples.map((e) => e.subject)).toEqual(['Black Friday deals #1', 'Sunday lunch?', 'Black Friday deals #2']);
      expect(examples[1]!.from).toMatch(/Müm <mum@family\.example>/);
      expect(r.ok).toBe(true); // a warning, not an error
    }
    const old = await probeUnchanged(receiving('imaps'), options(), V43);
    expect(old.findings[0]!.message).toMatch(/deletes every message it fetches/);
  });

  test('names and subjects in legacy charsets are decoded, the same through imapflow\'s FETCH, and the CLI loads no charset tables', async () => {
    await reset([imipReply(), legacyNewsletter(), legacyPersonal(), forwardedInvitation(), bounce()]);
    const seen = await probeUnchanged(receiving('imaps'), options(), V92);
    const borrow = vi.spyOn(RawSession, 'borrow').mockReturnValue(null);
    let viaFlow: ProbeReport;
    try {
      viaFlow = await probeUnchanged(receiving('imaps'), options(), V92);
      expect(borrow).toHaveBeenCalled();
    } finally {
      borrow.mockRestore();
    }
    expect(ids(seen)).toEqual(['mailbox.not-dedicated']);
    const f = seen.findings[0]!;
    // The forwarded invitation's calendar is inside a message/rfc822 part: iMIP traffic.
    expect(f.evidence).toMatchObject({ sampled: 5, notImip: 2, kinds: { imip: 2, newsletter: 1, personal: 1, dsn: 1 } });
    expect(f.evidence.examples).toEqual([
      { id: expect.stringMatching(/^uid \d+$/), from: 'ショップ <news@shop.example>', subject: 'セール #7', why: expect.any(String) },
      { id: expect.stringMatching(/^uid \d+$/), from: 'René <rene@family.example>', subject: 'Café?', why: expect.any(String) },
    ]);
    expect(viaFlow!.findings).toEqual(seen.findings);
    expect(stage(viaFlow!, 'sample').evidence).toEqual(stage(seen, 'sample').evidence);

    // The command as admins run it: the same finding, and neither libmime nor a charset table loaded.
    const personalUser = user();
    const trace = join(tempDir(), 'trace');
    const cli = spawnSync(
      process.execPath,
      ['--import', fileURLToPath(new URL('../helpers/trace-imports.mjs', import.meta.url)), BIN, 'test-mailbox', '--json', '--server-version', '9.2', '--ca-file', getStack().ca,
        '--config', writeStackConfig({ receiving: { Username: personalUser.address, Password: personalUser.password } })],
      { env: { ...process.env, IMIP_TRACE_FILE: trace }, encoding: 'utf8' },
    );
    expect(cli.status).toBe(0);
    expect(JSON.parse(cli.stdout).findings.find((x: { id: string }) => x.id === 'mailbox.not-dedicated').evidence.examples).toEqual(f.evidence.examples);
    const loaded = readFileSync(trace, 'utf8').split('\n');
    expect(loaded.some((u) => u.includes('/node_modules/imapflow/'))).toBe(true);
    expect(loaded.filter((u) => /\/node_modules\/(libmime|iconv-lite|encoding-japanese)\//.test(u))).toEqual([]);
  });

  test('a mailbox with only iMIP traffic (replies, token mail, bounces) is not flagged', async () => {
    await reset([imipReply(), tokenOnly(), bounce(), imipReply()]);
    for (const kind of ['imaps', 'pop3s'] as const) {
      const r = await probeUnchanged(receiving(kind), options(), V92);
      expect(failed(r)).toBeUndefined();
      expect(r.findings).toEqual([]);
    }
  });

  test('an empty mailbox', async () => {
    await reset([]);
    const r = await probeUnchanged(receiving('imaps'), options());
    expect(r.ok).toBe(true);
    expect(stage(r, 'inbox').evidence).toMatchObject({ total: 0, unseen: 0, seen: 0 });
    expect(stage(r, 'sample').evidence.sampled).toBe(0);
  });
});

describe('probeMailbox: unreachable and misconfigured', () => {
  test('an unknown host', async () => {
    for (const kind of ['imaps', 'pop3'] as const) {
      const r = await probe(receiving(kind, { server: 'no-such-host.invalid' }), options());
      expect(failed(r)!.stage).toBe('resolve');
      expect(failed(r)!.error).toMatch(/NXDOMAIN/);
      expect(ids(r)).toEqual(['mailbox.dns']);
    }
  });

  test('a closed port', async () => {
    const srv = net.createServer();
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as net.AddressInfo).port;
    await new Promise<void>((r) => srv.close(() => r()));
    for (const kind of ['imap', 'pop3s'] as const) {
      const r = await probe(receiving(kind, { port }), options());
      expect(failed(r)!.stage).toBe('connect');
      expect(ids(r)).toEqual(['mailbox.connect-failed']);
    }
  });

  test('Receiving.Port not set (0)', async () => {
    const r = await probe(receiving('imaps', { port: 0 }), options());
    expect(failed(r)!.stage).toBe('connect');
    expect(ids(r)).toEqual(['mailbox.port-missing']);
    expect(r.findings[0]!.fix).toMatch(/993/);
    const p = await probe(receiving('pop3', { port: 0 }), options());
    expect(p.findings[0]!.fix).toMatch(/995/);
  });

  test('a port that accepts and never answers: every TLS mode times out on time', async () => {
    const sockets = new Set<net.Socket>();
    const srv = net.createServer((s) => {
      sockets.add(s);
      s.on('error', () => undefined);
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as net.AddressInfo).port;
    const timeoutMs = 1500;
    try {
      const runs = await Promise.all(
        (['imap', 'imaps', 'pop3', 'pop3s'] as const).map(async (kind) => {
          const started = Date.now();
          const r = await probe(receiving(kind, { port }), options({ timeoutMs }));
          return { kind, r, took: Date.now() - started };
        }),
      );
      for (const { kind, r, took } of runs) {
        expect(took, kind).toBeGreaterThanOrEqual(timeoutMs - 50);
        expect(took, kind).toBeLessThan(timeoutMs + 1000);
        expect(failed(r)!.stage).toBe(kind.endsWith('s') ? 'tls' : 'greeting');
        expect(ids(r)).toEqual(['mailbox.timeout']);
      }
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => srv.close(() => r()));
    }
  });

  test('a Receiving.Type the release does not poll', async () => {
    const r = await probe(receiving('imaps', { type: 'exchange', protocol: null }), options(), V43);
    expect(r.ok).toBe(false);
    expect(failed(r)!.stage).toBe('protocol');
    expect(r.target.protocol).toBe('unknown');
  });
});

describe('sample classification', () => {
  const sample = (raw: string, calendarPart: boolean | null = null) => {
    const headers = raw.split('\r\n\r\n')[0]!;
    return sampleKind({ id: '#1', headers, calendarPart });
  };

  test.each([
    ['an iMIP reply', imipReply(), true, 'imip'],
    ['mail to a plus-address', tokenOnly(), false, 'token-reply'],
    ['a bounce', bounce(), false, 'dsn'],
    ['a newsletter', newsletter(1), false, 'newsletter'],
    ['personal mail', personal('hi'), false, 'personal'],
    ['personal mail, structure unknown', personal('hi'), null, 'unknown'],
  ])('%s', (_name, raw, cal, kind) => {
    expect(sample(raw, cal).kind).toBe(kind);
  });

});

/** The findings a POP3 login error gets, as test-mailbox and poll build them. */
async function pop3LoginFindings(serverText: string, responseCode: string, release: string): Promise<{ kind: string; findings: Finding[] }> {
  const { Pop3Error } = await import('../../src/clients/pop3/index.js');
  const { pop3Error } = await import('../../src/probes/mailbox-errors.js');
  const { failureFindings } = await import('../../src/probes/mailbox-probe.js');
  const { mailClientsFor } = await import('../../src/server/mail-clients.js');
  const e = new Pop3Error('auth', `POP3 login failed at PASS: [${responseCode}] ${serverText}`, { command: 'PASS', responseCode, serverText });
  const se = pop3Error(e, { user: 'calendar@example.test', host: 'mail.example.test', port: 995 });
  const receiving = { server: 'mail.example.test', port: 995, useSSL: true, protocol: 'pop3', type: 'pop', username: 'calendar@example.test', password: 'pw-123456' } as unknown as ReceivingSettings;
  const failure = { stage: 'login', kind: se.kind, error: se.message, evidence: se.evidence, ...(se.hint ? { hint: se.hint } : {}) };
  return { kind: se.kind, findings: failureFindings(receiving, failure, { tlsMode: 'implicit' }, mailClientsFor(parseServerVersion(release))) };
}

describe('POP3 -ERR [IN-USE] at login', () => {
  // RFC 2449 section 8.1.1: IN-USE is the answer to a successful authentication when the maildrop
  // is locked. The verdict is the lock, with the password named right, never "login failed".
  test('is mailbox.in-use, not mailbox.login-failed', async () => {
    const { kind, findings } = await pop3LoginFindings('Mailbox is locked by another POP3 session', 'IN-USE', '4.3');
    expect(kind).toBe('in-use');
    expect(findings.map((f) => f.id)).toEqual(['mailbox.in-use']);
    expect(findings[0]!.message).toMatch(/accepted the login.*IN-USE/);
    expect(findings[0]!.fix).toMatch(/close the other session/i);
  });
});

describe('a login refused for too many open sessions', () => {
  // Not the password: Dovecot's mail_max_userip_connections answers after a successful
  // authentication. Calendar Server's POP3 client always ends with QUIT, so the hint looks elsewhere.
  test('POP3: mailbox.login-failed on the account, with the sessions named', async () => {
    const { findings } = await pop3LoginFindings('Maximum number of connections from user+IP exceeded (mail_max_userip_connections=10)', 'SYS/TEMP', '9.2');
    const [f] = findings;
    expect(f).toMatchObject({ id: 'mailbox.login-failed', path: 'Scheduling.iMIP.Receiving.Username', evidence: { sessionLimit: true } });
    expect(f!.message).toMatch(/refused another session for calendar@example\.test \(too many open, not the password\)/);
    expect(f!.fix).toMatch(/close the other sessions .*doveadm who/);
    expect(f!.fix).not.toMatch(/Password/);
  });
});

describe('a time-out before any connection', () => {
  // Only this machine's resolver was waited for: the finding says so, and does not send the admin
  // to the mail server's firewall.
  test('names the resolver, not the mail server', async () => {
    const { failureFindings } = await import('../../src/probes/mailbox-probe.js');
    const { mailClientsFor } = await import('../../src/server/mail-clients.js');
    const receiving = { server: 'mail.example.test', port: 993, useSSL: true, protocol: 'imap', type: 'imap', username: 'calendar@example.test', password: 'pw-123456' } as unknown as ReceivingSettings;
    const clients = mailClientsFor(parseServerVersion('9.2'));
    const [lookup] = failureFindings(receiving, { stage: 'resolve', kind: 'timeout', error: 'IMAP name lookup timed out after 5 s', evidence: {} }, { tlsMode: 'implicit' }, clients);
    expect(lookup).toMatchObject({ id: 'mailbox.timeout', message: 'The name mail.example.test did not resolve in time: IMAP name lookup timed out after 5 s.' });
    expect(lookup!.fix).toMatch(/resolver/);
    const [greeting] = failureFindings(receiving, { stage: 'greeting', kind: 'timeout', error: 'IMAP greeting timed out after 5 s', evidence: {} }, { tlsMode: 'implicit' }, clients);
    expect(greeting!.message).toBe('The IMAP server mail.example.test:993 did not answer in time at the greeting stage: IMAP greeting timed out after 5 s.');
    expect(greeting!.fix).toMatch(/firewalls/);
  });
});
