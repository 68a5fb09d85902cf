/**
 * `poll --once --apply` (2.x–4.x): inject each INJECTION_SUBMITTED reply into the /inbox/ test
 * double and delete only what was injected — and never lose mail: failing, hanging and vanishing
 * injection endpoints, connections cut mid-cycle (a proxy, or Dovecot kicking the session),
 * Ctrl-C, and two runs at once. A mail stack of this file's own (users applyimap@, applypop@).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import tls from 'node:tls';
import { appendFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Pop3Client } from '../../src/clients/pop3/index.js';
import { hasProblems, type PollReport } from '../../src/poll/cycle.js';
import { CannotRunError } from '../../src/report/exit.js';
import { mailboxCount, mailboxFlags, purgeMailbox, seedMailbox, stopStack, type StackInfo } from '../mailstack/stack.js';
import { startInboxDouble, type InboxDouble } from '../doubles/inbox-server.js';
import { CutProxy, fixture, NOW, pollCore, smallReply, startOwnStack, TOKENS, tokenStateDir, writePollPlist } from './helpers.js';

const execFileP = promisify(execFile);
const IMAP_USER = { address: 'applyimap@example.test', password: 'ApplyImap-pw-3391' };
const POP_USER = { address: 'applypop@example.test', password: 'ApplyPop-pw-4402' };
/** test/helpers/plist.ts baseConfig: the 2.x–4.x Username and Password. */
const GW_USER = 'caldav-gateway';
const GW_SECRET = 'gateway-secret-3';

let stack: StackInfo;
let double: InboxDouble | null = null;

beforeAll(async () => {
  stack = await startOwnStack([IMAP_USER, POP_USER], 29400);
});
afterAll(async () => {
  if (stack) await stopStack(stack, { remove: process.env.MAILSTACK_KEEP !== '1' });
});
beforeEach(async () => {
  await purgeMailbox(stack, IMAP_USER.address);
  await purgeMailbox(stack, POP_USER.address);
});
afterEach(async () => {
  await double?.close();
  double = null;
});

/** Three injectable replies (two replies, one DSN) and two the server would not inject. */
const MIXED = ['thunderbird-reply', 'human-reply', 'dsn-with-invitation', 'reply-to-bare-address', 'outlook-reply-no-organizer'];
const INJECTABLE_IDS = [
  '<7e3f1c2a-9b4d-4e8f-a1c6-2d5b8e0f3a7c@remote.test>',
  '<20260302090001.4B3C21A0F2@mail.example.test>',
  '<DB9PR10MB5412F6E5D4C3B2A19087@DB9PR10MB5412.EURPRD10.PROD.OUTLOOK.COM>',
];

/** Message-IDs of the messages still in the mailbox (via doveadm, a session of its own). */
async function remainingIds(user: string): Promise<string[]> {
  const out = await execFileP('doveadm', ['-c', stack.doveadmConf, '-f', 'tab', 'fetch', '-u', user, 'hdr.message-id', 'mailbox', 'INBOX', 'all']);
  return out.stdout
    .split('\n')
    .slice(1)
    .map((l) => l.trim())
    .filter(Boolean);
}

async function claimedUids(user: string): Promise<number[]> {
  const flags = await mailboxFlags(stack, user);
  return [...flags].filter(([, f]) => f.includes('$ImipClaimed')).map(([uid]) => uid);
}

/** How many times the double accepted each Message-ID's reply (by the calendar's UID). */
function acceptedUids(d: InboxDouble): string[] {
  return d.accepted().map((r) => /^UID:(.*)$/m.exec(r.body)?.[1]?.trim() ?? '?');
}

const BIN = fileURLToPath(new URL('../../bin/imip', import.meta.url));

/** Run the real CLI; `onSpawn` gets the child (to signal it). */
function runCli(
  args: string[],
  env: Record<string, string> = {},
  onSpawn?: (c: ChildProcess) => void,
): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    onSpawn?.(c);
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (d) => (stdout += d));
    c.stderr.on('data', (d) => (stderr += d));
    c.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** IMAPS in front of the stack's IMAPS port that rewrites what the server says (the stack's own certificate). */
async function startRewritingTlsProxy(info: StackInfo, rewrite: (text: string) => string): Promise<{ port: number; close: () => Promise<void> }> {
  const sockets = new Set<import('node:net').Socket>();
  const server = tls.createServer({ cert: readFileSync(join(info.dir, 'tls', 'cert.pem')), key: readFileSync(join(info.dir, 'tls', 'key.pem')) }, (client) => {
    const upstream = tls.connect({ host: info.host, port: info.ports.imaps, ca: info.caPem });
    sockets.add(client).add(upstream);
    const drop = (): void => {
      client.destroy();
      upstream.destroy();
    };
    for (const s of [client, upstream]) {
      s.on('error', drop);
      s.on('close', drop);
    }
    client.on('data', (d) => upstream.write(d));
    let pending = '';
    upstream.on('data', (d: Buffer) => {
      // Whole lines only, so that a response code is never split across two rewrites.
      pending += d.toString('latin1');
      const cut = pending.lastIndexOf('\n') + 1;
      if (!cut) return;
      client.write(Buffer.from(rewrite(pending.slice(0, cut)), 'latin1'));
      pending = pending.slice(cut);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as import('node:net').AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/**
 * Thunderbird's reply with a calendar of about `mb` MB (a long DESCRIPTION in its text/calendar
 * part), under its own Message-ID. The server parses the whole part, so it injects it whole.
 */
function bigReply(i: number, mb: number): string {
  return fixture('thunderbird-reply')
    .toString('utf8')
    .replace('<7e3f1c2a-9b4d-4e8f-a1c6-2d5b8e0f3a7c@remote.test>', `<big-${i}@remote.test>`)
    .replace('DTSTAMP:20260302T091500Z', `DTSTAMP:20260302T091500Z\r\nDESCRIPTION:${String(i).repeat(mb * 1024 * 1024)}`);
}

/** The DESCRIPTION lengths of the calendars the double accepted (unfolded). */
function acceptedDescriptions(d: InboxDouble): number[] {
  return d.accepted().map((r) => /^DESCRIPTION:(.*)$/m.exec(r.body.replace(/\r?\n[ \t]/g, ''))?.[1]?.trim().length ?? 0);
}

function statuses(r: PollReport): Array<[string | null, string | undefined, boolean | undefined]> {
  return r.messages.map((m) => [m.messageId, m.apply?.status, m.apply?.deleted]);
}

describe('--apply over IMAP', () => {
  it('4.3: injects with the shared-secret header and deletes only the injected messages', async () => {
    double = await startInboxDouble({ line: '3.x-4.x', secret: GW_SECRET });
    await seedMailbox(stack, IMAP_USER.address, MIXED.map(fixture));
    const plist = writePollPlist(stack, { version: '4.3', protocol: 'imap', user: IMAP_USER });
    const r = await pollCore(plist, { version: '4.3', caFile: stack.ca, stateDir: tokenStateDir(), apply: true, injectUrl: double.url, now: NOW });
    expect(r.error).toBeUndefined();
    expect(r.mailbox.readOnly).toBe(false);
    expect(statuses(r)).toEqual([
      [INJECTABLE_IDS[0], 'injected', true],
      ['<CAF=human-0001@mail.remote.test>', 'skipped', false],
      [INJECTABLE_IDS[1], 'injected', true],
      ['<AM0PR02MB5555BARE0001@AM0PR02MB5555.eurprd02.prod.outlook.com>', 'skipped', false],
      [INJECTABLE_IDS[2], 'injected', true],
    ]);
    expect(r.summary).toMatchObject({ injected: 3, deleted: 3, failed: 0, notInjected: 0 });
    // What injectMessage POSTs: token attendee → Originator, token organizer → Recipient.
    const posts = double.accepted();
    expect(posts).toHaveLength(3);
    for (const p of posts) {
      const body = p.body.replace(/\r\n[ \t]/g, '');
      expect(body).toMatch(/^ORGANIZER(;[^:]*)?:mailto:organizer@example\.test\r?$/m);
      expect(p.headers).toMatchObject({ originator: 'mailto:attendee@remote.test', recipient: 'mailto:organizer@example.test', 'x-calendarserver-internal': GW_SECRET });
    }
    expect(posts[1]!.body).toMatch(/^REQUEST-STATUS:5\.1;Service unavailable/m);
    expect(await remainingIds(IMAP_USER.address)).toEqual(['<CAF=human-0001@mail.remote.test>', '<AM0PR02MB5555BARE0001@AM0PR02MB5555.eurprd02.prod.outlook.com>']);
    expect(await claimedUids(IMAP_USER.address)).toEqual([]);
  });

  // The server parses a calendar whole, so it injects it whole: a calendar past 2 MB was left in the
  // mailbox ("could not be read whole") before the cycle read calendars whole, up to 32 MB.
  it('calendars of 22 MB are injected whole and deleted (read again in windows of 64 MB at most: two, then one)', { timeout: 120_000 }, async () => {
    double = await startInboxDouble({ line: '3.x-4.x', secret: GW_SECRET });
    await seedMailbox(stack, IMAP_USER.address, [bigReply(1, 22), bigReply(2, 22), bigReply(3, 22)]);
    const plist = writePollPlist(stack, { version: '4.3', protocol: 'imap', user: IMAP_USER });
    const r = await pollCore(plist, { version: '4.3', caFile: stack.ca, stateDir: tokenStateDir(), apply: true, injectUrl: double.url, now: NOW });
    expect(r.error).toBeUndefined();
    expect(r.summary).toMatchObject({ injected: 3, deleted: 3, failed: 0 });
    expect(acceptedDescriptions(double)).toEqual([22 * 1024 * 1024, 22 * 1024 * 1024, 22 * 1024 * 1024]);
    expect(await remainingIds(IMAP_USER.address)).toEqual([]);
  });

  // Dovecot addresses no part past 100 levels: a reply nested deeper is read whole, and read whole
  // again when its calendar is injected.
  it('a reply nested 150 levels deep: its calendar is read whole again, injected and deleted', async () => {
    double = await startInboxDouble({ line: '3.x-4.x', secret: GW_SECRET });
    const token = '3f2b8c1e-7d4a-4e9b-a6c2-5b1d9e0f7a21';
    const reply = smallReply(1, token, TOKENS[token]!.uid);
    const at = reply.indexOf('Content-Type:');
    let body = reply.slice(at);
    for (let i = 0; i < 150; i++) body = `Content-Type: multipart/mixed; boundary="d${i}"\r\n\r\n--d${i}\r\n${body}\r\n--d${i}--\r\n`;
    await seedMailbox(stack, IMAP_USER.address, [reply.slice(0, at) + body]);
    const plist = writePollPlist(stack, { version: '4.3', protocol: 'imap', user: IMAP_USER });
    const r = await pollCore(plist, { version: '4.3', caFile: stack.ca, stateDir: tokenStateDir(), apply: true, injectUrl: double.url, now: NOW });
    expect(r.error).toBeUndefined();
    expect(statuses(r)).toEqual([['<bulk-1@remote.test>', 'injected', true]]);
    expect(double.accepted()).toHaveLength(1);
    expect(double.accepted()[0]!.body).toMatch(/^METHOD:REPLY\r?$/m);
    expect(await remainingIds(IMAP_USER.address)).toEqual([]);
  });

  it('replies the server would inject but this run cannot (no token store to name the organizer): left in the mailbox, and the run says so (exit 1)', async () => {
    double = await startInboxDouble({ line: '3.x-4.x', secret: GW_SECRET });
    await seedMailbox(stack, IMAP_USER.address, MIXED.map(fixture));
    const plist = writePollPlist(stack, { version: '4.3', protocol: 'imap', user: IMAP_USER });
    const r = await pollCore(plist, { version: '4.3', caFile: stack.ca, stateDir: '/nonexistent/imip-state', apply: true, injectUrl: double.url, now: NOW });
    expect(r.summary).toMatchObject({ injected: 0, deleted: 0, failed: 0, notInjected: 3 });
    expect(double.accepted()).toEqual([]);
    expect(await mailboxCount(stack, IMAP_USER.address)).toBe(MIXED.length);
    expect(hasProblems(r)).toBe(true);
  });

  it('2.5: URL derived from the config; Digest as Scheduling.iMIP.Username', async () => {
    double = await startInboxDouble({ line: '2.x', directory: { [GW_USER]: GW_SECRET }, injectionUser: GW_USER });
    await seedMailbox(stack, IMAP_USER.address, [fixture('thunderbird-reply')]);
    const plist = writePollPlist(stack, {
      version: '2.5',
      protocol: 'imap',
      user: IMAP_USER,
      changes: [
        ['HTTPPort', double.port],
        ['SSLPort', 0],
        ['Scheduling.iMIP.MailGatewayServer', 'localhost'],
      ],
    });
    const r = await pollCore(plist, { version: '2.5', caFile: stack.ca, stateDir: tokenStateDir(), apply: true, now: NOW });
    expect(r.apply).toMatchObject({ url: `http://localhost:${double.port}/inbox/`, auth: 'digest-user' });
    console.log(JSON.stringify(r.messages.map((m) => [m.serverAction, m.apply, m.findings.map((f) => f.id), m.notes])));
    expect(statuses(r)).toEqual([[INJECTABLE_IDS[0], 'injected', true]]);
    expect(double.requests.map((q) => q.status)).toEqual([401, 200]);
    expect(double.accepted()[0]!.authenticatedAs).toBe(GW_USER);
    expect(await mailboxCount(stack, IMAP_USER.address)).toBe(0);
  });

  it('2.5: the injection user is not in the directory: 403, the server\'s log line, nothing deleted', async () => {
    double = await startInboxDouble({ line: '2.x', directory: { someone: 'x' }, injectionUser: GW_USER });
    await seedMailbox(stack, IMAP_USER.address, [fixture('thunderbird-reply')]);
    const plist = writePollPlist(stack, { version: '2.5', protocol: 'imap', user: IMAP_USER });
    const r = await pollCore(plist, { version: '2.5', caFile: stack.ca, stateDir: tokenStateDir(), apply: true, injectUrl: double.url, now: NOW });
    expect(r.messages[0]!.apply).toMatchObject({ status: 'failed', httpStatus: 403, deleted: false });
    expect(double.log).toEqual([`iMIP injection principal not found: ${GW_USER}`]);
    expect(await mailboxCount(stack, IMAP_USER.address)).toBe(1);
    expect(await claimedUids(IMAP_USER.address)).toEqual([]);
  });

  it('an endpoint that fails (500) or hangs: nothing is deleted, claims are released, the next run finishes', async () => {
    double = await startInboxDouble({ line: '3.x-4.x', secret: GW_SECRET, failure: 'status500' });
    await seedMailbox(stack, IMAP_USER.address, MIXED.map(fixture));
    const plist = writePollPlist(stack, { version: '4.3', protocol: 'imap', user: IMAP_USER });
    const state = tokenStateDir();
    const failed = await pollCore(plist, { version: '4.3', caFile: stack.ca, stateDir: state, apply: true, injectUrl: double.url, now: NOW });
    expect(failed.summary).toMatchObject({ injected: 0, deleted: 0, failed: 3 });
    expect(failed.messages[0]!.apply!.reason).toMatch(/^Mail gateway failed to inject message <7e3f.*\(Reason: 500 Internal Server Error/);
    expect(await mailboxCount(stack, IMAP_USER.address)).toBe(5);
    expect(await claimedUids(IMAP_USER.address)).toEqual([]);

    double.setFailure('hang');
    const hung = await pollCore(plist, { version: '4.3', caFile: stack.ca, stateDir: state, apply: true, injectUrl: double.url, now: NOW, timeoutSec: 1 });
    expect(hung.summary).toMatchObject({ injected: 0, deleted: 0, failed: 1 });
    expect(hung.messages[0]!.apply).toMatchObject({ status: 'failed', uncertain: true });
    // No answer at all: the others are not tried (one timeout, not one per message).
    expect(hung.messages[2]!.apply).toMatchObject({ status: 'skipped', reason: expect.stringMatching(/did not answer/) });
    expect(await mailboxCount(stack, IMAP_USER.address)).toBe(5);
    expect(await claimedUids(IMAP_USER.address)).toEqual([]);

    double.setFailure('none');
    const ok = await pollCore(plist, { version: '4.3', caFile: stack.ca, stateDir: state, apply: true, injectUrl: double.url, now: NOW });
    expect(ok.summary).toMatchObject({ injected: 3, deleted: 3, failed: 0 });
    expect(await mailboxCount(stack, IMAP_USER.address)).toBe(2);
  });

  it('the Mailbox column says what this run did (kept, deleted), and what the server\'s own poll would do apart', async () => {
    double = await startInboxDouble({ line: '3.x-4.x', secret: GW_SECRET, failure: 'status500' });
    await seedMailbox(stack, IMAP_USER.address, MIXED.map(fixture));
    const plist = writePollPlist(stack, { version: '4.3', protocol: 'imap', user: IMAP_USER });
    const state = tokenStateDir();
    const args = ['poll', '--once', '--apply', '--config', plist, '--server-version', '4.3', '--ca-file', stack.ca, '--state-dir', state, '--inject-url', double.url];
    const failed = await runCli(args);
    expect(failed.code).toBe(1);
    expect(failed.stdout).toMatch(/Mailbox \(this run\)\n/);
    const rows = failed.stdout.split('\n').filter((l) => /^\s+\d+ {2}\d{4}-/.test(l));
    expect(rows).toHaveLength(MIXED.length);
    // Nothing was injected, so nothing was deleted: every row says kept, none says deleted.
    expect(rows.map((l) => l.trim().split(/\s+/).at(-1))).toEqual(MIXED.map(() => 'kept'));
    // The 4.x gateway would have deleted them: said once, on the line under the row, as the server's.
    expect(failed.stdout).toMatch(/--apply: injection failed: Mail gateway failed to inject message <7e3f[^\n]*\(Reason: 500 Internal Server Error[^\n]*\); the server's own poll would delete it\n/);
    expect(failed.stdout).toMatch(/--apply: not injected: the server does not inject it \(REPLY_FORWARDED_TO_ORGANIZER\); --apply deletes only what it injected, so it stays; the server's own poll would delete it\n/);
    expect(failed.stdout).not.toMatch(/; kept\n/);

    double.setFailure('none');
    const ok = await runCli(args);
    const after = ok.stdout.split('\n').filter((l) => /^\s+\d+ {2}\d{4}-/.test(l));
    expect(after.map((l) => [l.includes('INJECTION_SUBMITTED'), l.trim().split(/\s+/).at(-1)])).toEqual(MIXED.map((_, i) => [[0, 2, 4].includes(i), [0, 2, 4].includes(i) ? 'deleted' : 'kept']));
    expect(ok.stdout).toMatch(/--apply: injected \(200\)\n/);
  });

  it('the connection is cut right after an injection: the next run deletes it without injecting it again', async () => {
    const proxy = await new CutProxy({ host: stack.host, port: stack.ports.imaps }).start();
    let posts = 0;
    double = await startInboxDouble({ line: '3.x-4.x', secret: GW_SECRET, onPost: () => void (++posts === 2 && proxy.cut()) });
    await seedMailbox(stack, IMAP_USER.address, MIXED.map(fixture));
    const state = tokenStateDir();
    const viaProxy = writePollPlist(stack, { version: '4.3', protocol: 'imap', user: IMAP_USER, changes: [['Scheduling.iMIP.Receiving.Port', proxy.port]] });
    const cut = await pollCore(viaProxy, { version: '4.3', caFile: stack.ca, stateDir: state, apply: true, injectUrl: double.url, now: NOW });
    await proxy.close();
    expect(cut.error).toMatch(/ended early/);
    // A window of messages is deleted after its last injection: both injected messages are still
    // there, claimed, and journaled as injected.
    expect(cut.messages.filter((m) => m.apply?.status === 'injected-not-deleted').map((m) => m.messageId)).toEqual(INJECTABLE_IDS.slice(0, 2));
    expect(await mailboxCount(stack, IMAP_USER.address)).toBe(5);
    const journal = readFileSync(join(state, 'poll-journal.jsonl'), 'utf8');
    expect(journal.match(/"state":"injected"/g)).toHaveLength(2);

    const direct = writePollPlist(stack, { version: '4.3', protocol: 'imap', user: IMAP_USER });
    const next = await pollCore(direct, { version: '4.3', caFile: stack.ca, stateDir: state, apply: true, injectUrl: double.url, now: NOW });
    expect(next.error).toBeUndefined();
    expect(statuses(next).filter(([, s]) => s !== 'skipped')).toEqual([
      [INJECTABLE_IDS[0], 'deleted-earlier-injection', true],
      [INJECTABLE_IDS[1], 'deleted-earlier-injection', true],
      [INJECTABLE_IDS[2], 'injected', true],
    ]);
    // Each reply reached the calendar server exactly once over both runs.
    expect(acceptedUids(double).sort()).toEqual(['6F1C2A3B-4002-4C5D-9E8F-000000000003', '6F1C2A3B-4009-4C5D-9E8F-000000000010', '6F1C2A3B-4000-4C5D-9E8F-000000000001'].sort());
    expect(await remainingIds(IMAP_USER.address)).toHaveLength(2);
    expect(await claimedUids(IMAP_USER.address)).toEqual([]);
  });

  it('Dovecot drops the session mid-cycle (doveadm kick): nothing unhandled is gone', async () => {
    double = await startInboxDouble({
      line: '3.x-4.x',
      secret: GW_SECRET,
      onPost: async () => {
        if (double!.requests.length === 1) await execFileP('doveadm', ['-c', stack.doveadmConf, 'kick', IMAP_USER.address]).catch(() => undefined);
      },
    });
    await seedMailbox(stack, IMAP_USER.address, MIXED.map(fixture));
    const state = tokenStateDir();
    const plist = writePollPlist(stack, { version: '4.3', protocol: 'imap', user: IMAP_USER });
    const r = await pollCore(plist, { version: '4.3', caFile: stack.ca, stateDir: state, apply: true, injectUrl: double.url, now: NOW });
    expect(r.error).toMatch(/ended early/);
    const left = await remainingIds(IMAP_USER.address);
    // Whatever was not injected is still there; whatever was injected is journaled.
    for (const id of ['<CAF=human-0001@mail.remote.test>', '<AM0PR02MB5555BARE0001@AM0PR02MB5555.eurprd02.prod.outlook.com>', ...INJECTABLE_IDS.slice(1)]) expect(left).toContain(id);
    const next = await pollCore(plist, { version: '4.3', caFile: stack.ca, stateDir: state, apply: true, injectUrl: double.url, now: NOW });
    expect(next.error).toBeUndefined();
    expect(new Set(acceptedUids(double)).size).toBe(acceptedUids(double).length);
    expect(acceptedUids(double)).toHaveLength(3);
    expect(await mailboxCount(stack, IMAP_USER.address)).toBe(2);
  });

  it('two runs at once: every reply is injected exactly once', async () => {
    double = await startInboxDouble({ line: '3.x-4.x', secret: GW_SECRET });
    const n = 24;
    await seedMailbox(stack, IMAP_USER.address, Array.from({ length: n }, (_, i) => fixture(i % 2 ? 'thunderbird-reply' : 'outlook-reply').toString('latin1').replace(/^Message-ID: <([^>]*)>/im, `Message-ID: <run${i}-$1>`)));
    const plist = writePollPlist(stack, { version: '4.3', protocol: 'imap', user: IMAP_USER });
    // Separate state directories: only the server-side claim keeps them apart (as two hosts).
    const [a, b] = await Promise.all([
      pollCore(plist, { version: '4.3', caFile: stack.ca, stateDir: tokenStateDir(), apply: true, injectUrl: double.url, now: NOW }),
      pollCore(plist, { version: '4.3', caFile: stack.ca, stateDir: tokenStateDir(), apply: true, injectUrl: double.url, now: NOW }),
    ]);
    const injectedBy = (r: PollReport) => r.messages.filter((m) => m.apply?.status === 'injected').map((m) => m.messageId);
    const all = [...injectedBy(a), ...injectedBy(b)];
    expect(all).toHaveLength(n);
    expect(new Set(all).size).toBe(n);
    expect(double.accepted()).toHaveLength(n);
    expect(await mailboxCount(stack, IMAP_USER.address)).toBe(0);
  });

  it('claims: a bare $ImipClaimed (an earlier version, or two claimers that gave up) is taken; another poller\'s claim is left alone, with the fix', async () => {
    double = await startInboxDouble({ line: '3.x-4.x', secret: GW_SECRET });
    const [u1, u2] = await seedMailbox(stack, IMAP_USER.address, [fixture('thunderbird-reply'), fixture('outlook-reply')]);
    await execFileP('doveadm', ['-c', stack.doveadmConf, 'flags', 'add', '-u', IMAP_USER.address, '$ImipClaimed', 'mailbox', 'INBOX', 'uid', String(u1)]);
    await execFileP('doveadm', ['-c', stack.doveadmConf, 'flags', 'add', '-u', IMAP_USER.address, '$ImipClaimed $ImipClaimedBy-0123456789', 'mailbox', 'INBOX', 'uid', String(u2)]);
    const plist = writePollPlist(stack, { version: '4.3', protocol: 'imap', user: IMAP_USER });
    const r = await pollCore(plist, { version: '4.3', caFile: stack.ca, stateDir: tokenStateDir(), apply: true, injectUrl: double.url, now: NOW });
    expect(r.messages.map((m) => m.apply?.status)).toEqual(['injected', 'claimed-elsewhere']);
    expect(r.messages[1]!.apply!.reason).toMatch(/another poller \(\$ImipClaimedBy-0123456789\).*doveadm flags remove -u applyimap@example.test '\$ImipClaimed \$ImipClaimedBy-0123456789' mailbox INBOX uid/);
    expect(double.accepted()).toHaveLength(1);
    expect(await claimedUids(IMAP_USER.address)).toEqual([u2]);
  });

  it('the server says a conditional STORE succeeded although another poller had claimed the message: the read-back gives it up', async () => {
    // A TLS proxy turns Dovecot's "OK [MODIFIED n] Conditional store failed." into a plain OK:
    // the answer two sessions got from Dovecot when both claimed one message at the same moment.
    const proxy = await startRewritingTlsProxy(stack, (text) => text.replace(/OK \[MODIFIED [0-9:,]+\] Conditional store failed[^\r\n]*/g, 'OK Store completed.'));
    const [, u2] = await seedMailbox(stack, IMAP_USER.address, [fixture('thunderbird-reply'), fixture('outlook-reply')]);
    double = await startInboxDouble({
      line: '3.x-4.x',
      secret: GW_SECRET,
      // While the first reply is POSTed, another poller claims the second (after this run read it).
      onPost: async () => {
        if (double!.requests.length === 1) await execFileP('doveadm', ['-c', stack.doveadmConf, 'flags', 'add', '-u', IMAP_USER.address, '$ImipClaimed $ImipClaimedBy-aaaaaaaaaa', 'mailbox', 'INBOX', 'uid', String(u2)]);
      },
    });
    const plist = writePollPlist(stack, { version: '4.3', protocol: 'imap', user: IMAP_USER, changes: [['Scheduling.iMIP.Receiving.Port', proxy.port]] });
    const r = await pollCore(plist, { version: '4.3', caFile: stack.ca, stateDir: tokenStateDir(), apply: true, injectUrl: double.url, now: NOW });
    await proxy.close();
    expect(r.messages.map((m) => m.apply?.status)).toEqual(['injected', 'claimed-elsewhere']);
    expect(r.messages[1]!.apply!.reason).toMatch(/another poller claimed it at the same moment/);
    expect(double.accepted()).toHaveLength(1);
    const flags = await mailboxFlags(stack, IMAP_USER.address);
    expect(flags.get(u2!)!.filter((f) => f.startsWith('$Imip')).sort()).toEqual(['$ImipClaimed', '$ImipClaimedBy-aaaaaaaaaa']);
  });

  it('a message expunged by another client while the run injects: said to be gone, expunged by another client or run, without naming which', async () => {
    const [, u2] = await seedMailbox(stack, IMAP_USER.address, [fixture('thunderbird-reply'), fixture('outlook-reply')]);
    double = await startInboxDouble({
      line: '3.x-4.x',
      secret: GW_SECRET,
      // While the first reply is POSTed, another IMAP client deletes the second (after this run read it).
      onPost: async () => {
        if (double!.requests.length === 1) await execFileP('doveadm', ['-c', stack.doveadmConf, 'expunge', '-u', IMAP_USER.address, 'mailbox', 'INBOX', 'uid', String(u2)]);
      },
    });
    const plist = writePollPlist(stack, { version: '4.3', protocol: 'imap', user: IMAP_USER });
    const r = await runCli(['poll', '--once', '--apply', '--config', plist, '--server-version', '4.3', '--ca-file', stack.ca, '--state-dir', tokenStateDir(), '--inject-url', double.url]);
    expect(double.accepted()).toHaveLength(1);
    const row = r.stdout.split('\n').find((l) => new RegExp(`^\\s+${u2} `).test(l))!;
    expect(row.trim().split(/\s+/).at(-1)).toBe('gone');
    expect(r.stdout).toContain('--apply: gone from the mailbox before this run could inject it: expunged by another client or run\n');
    expect(r.stdout).not.toMatch(/another run handled it/);
    expect(r.stdout).toMatch(/; --apply: 1 injected, 1 deleted, 0 failed, 1 gone \(expunged by another client or run\)\n$/);
  });

  it('a claim left by a killed run of this state directory is its own: the next run injects it, once', async () => {
    double = await startInboxDouble({ line: '3.x-4.x', secret: GW_SECRET });
    await seedMailbox(stack, IMAP_USER.address, MIXED.map(fixture));
    const state = tokenStateDir();
    const plist = writePollPlist(stack, { version: '4.3', protocol: 'imap', user: IMAP_USER });
    const killed = await runCli(['poll', '--once', '--apply', '--json', '--config', plist, '--server-version', '4.3', '--ca-file', stack.ca, '--state-dir', state, '--inject-url', double.url], { IMIP_FAULT_INJECT: 'imap:claimed' });
    expect(killed.signal).toBe('SIGKILL');
    const left = await claimedUids(IMAP_USER.address);
    expect(left).toHaveLength(1);
    const own = readFileSync(join(state, 'poller-id'), 'utf8').trim();
    expect((await mailboxFlags(stack, IMAP_USER.address)).get(left[0]!)).toContain(`$ImipClaimedBy-${own}`);
    const next = await pollCore(plist, { version: '4.3', caFile: stack.ca, stateDir: state, apply: true, injectUrl: double.url, now: NOW });
    expect(next.summary).toMatchObject({ injected: 3, deleted: 3 });
    expect(double.accepted()).toHaveLength(3);
    expect(await claimedUids(IMAP_USER.address)).toEqual([]);
  });

  it('two runs of one state directory at once: the second is refused (they would share the poller id)', async () => {
    double = await startInboxDouble({ line: '3.x-4.x', secret: GW_SECRET, delayMs: 300 });
    await seedMailbox(stack, IMAP_USER.address, MIXED.map(fixture));
    const plist = writePollPlist(stack, { version: '4.3', protocol: 'imap', user: IMAP_USER });
    const state = tokenStateDir();
    const [a, b] = await Promise.allSettled([
      pollCore(plist, { version: '4.3', caFile: stack.ca, stateDir: state, apply: true, injectUrl: double.url, now: NOW }),
      pollCore(plist, { version: '4.3', caFile: stack.ca, stateDir: state, apply: true, injectUrl: double.url, now: NOW }),
    ]);
    expect(a.status).toBe('fulfilled');
    expect(String((b as PromiseRejectedResult).reason?.message)).toMatch(/another "imip poll --apply" .* IMAP mailbox with the same state directory/);
    expect(double.accepted()).toHaveLength(3);
  });
});

describe('--apply and signals (a slow calendar server)', () => {
  const cases: Array<['imap' | 'pop3', NodeJS.Signals]> = [
    ['imap', 'SIGINT'],
    ['imap', 'SIGTERM'],
    ['imap', 'SIGHUP'],
    ['pop3', 'SIGINT'],
    ['pop3', 'SIGTERM'],
  ];
  for (const [protocol, sig] of cases) {
    it(`${protocol}: ${sig} while a reply is being POSTed: that POST finishes and is recorded, nothing new starts, the next run does the rest, each reply once`, async () => {
      const user = protocol === 'imap' ? IMAP_USER : POP_USER;
      let child: ChildProcess | null = null;
      double = await startInboxDouble({ line: '3.x-4.x', secret: GW_SECRET, delayMs: 1500, onPost: () => void (double!.requests.length === 1 && child?.kill(sig)) });
      await seedMailbox(stack, user.address, MIXED.map(fixture));
      const plist = writePollPlist(stack, { version: '4.3', protocol, user });
      const state = tokenStateDir();
      const args = ['poll', '--once', '--apply', '--json', '--config', plist, '--server-version', '4.3', '--ca-file', stack.ca, '--state-dir', state, '--inject-url', double.url, ...(protocol === 'pop3' ? ['--single-poller'] : [])];
      const first = await runCli(args, {}, (c) => (child = c));
      expect(first.stderr).toMatch(new RegExp(`${sig}: stopping after the step in hand \\(0 of 3 replies injected, 0 deleted; the injection of <7e3f.* is in flight\\)`));
      expect(first.code).toBe(1);
      const doc = JSON.parse(first.stdout);
      expect(doc.messages[0].apply).toMatchObject({ status: 'injected', deleted: true });
      expect(doc.messages.filter((m: { apply?: { reason?: string } }) => /asked to stop/.test(m.apply?.reason ?? ''))).toHaveLength(2);
      expect(doc.apply.notes.join('\n')).toMatch(new RegExp(`Stopped on ${sig}: 1 of 3 replies injected and 1 deleted; .* 2 not started`));
      expect(await remainingIds(user.address)).toHaveLength(4);
      if (protocol === 'imap') expect(await claimedUids(user.address)).toEqual([]);

      double.setDelay(0);
      const second = await runCli(args.filter((a) => a !== '--json'));
      // 1: the two messages the server would not inject have findings.
      expect(second.code).toBe(1);
      expect(acceptedUids(double).sort()).toEqual([...new Set(acceptedUids(double))].sort());
      expect(acceptedUids(double)).toHaveLength(3);
      expect(await remainingIds(user.address)).toHaveLength(2);
    });
  }

  it('a second signal stops at once; the next run finishes, nothing is lost', async () => {
    let child: ChildProcess | null = null;
    let postAt = 0;
    double = await startInboxDouble({
      line: '3.x-4.x',
      secret: GW_SECRET,
      delayMs: 5000,
      onPost: () => {
        if (double!.requests.length !== 1) return;
        postAt = Date.now();
        child?.kill('SIGINT');
        setTimeout(() => child?.kill('SIGINT'), 300);
      },
    });
    await seedMailbox(stack, IMAP_USER.address, MIXED.map(fixture));
    const plist = writePollPlist(stack, { version: '4.3', protocol: 'imap', user: IMAP_USER });
    const args = ['poll', '--once', '--apply', '--config', plist, '--server-version', '4.3', '--ca-file', stack.ca, '--state-dir', tokenStateDir(), '--inject-url', double.url];
    const first = await runCli(args, {}, (c) => (child = c));
    expect(first.code).toBe(130);
    // It did not wait for the calendar server's answer (5 s after the POST).
    expect(Date.now() - postAt).toBeLessThan(4000);
    expect(first.stderr).toMatch(/SIGINT again: stopping at once/);
    double.setDelay(0);
    const second = await runCli(args);
    expect(second.code).toBe(1);
    // The reply whose POST was cut may be there twice (the documented case); the others once.
    const counts = new Map<string, number>();
    for (const u of acceptedUids(double)) counts.set(u, (counts.get(u) ?? 0) + 1);
    expect(counts.size).toBe(3);
    expect([...counts.values()].filter((n) => n > 1).length).toBeLessThanOrEqual(1);
    expect(await remainingIds(IMAP_USER.address)).toHaveLength(2);
    expect(await claimedUids(IMAP_USER.address)).toEqual([]);
  });
});

describe('--apply over POP3', () => {
  async function popCount(): Promise<number> {
    const c = await Pop3Client.connect({ host: stack.host, port: stack.ports.pop3s, implicitTls: true, ca: stack.caPem, rejectUnauthorized: true, timeoutMs: 5000 });
    await c.login(POP_USER.address, POP_USER.password);
    const n = (await c.stat()).count;
    await c.quit();
    return n;
  }

  it('4.3: injects, DELEs only the injected messages, QUIT commits', async () => {
    double = await startInboxDouble({ line: '3.x-4.x', secret: GW_SECRET });
    await seedMailbox(stack, POP_USER.address, MIXED.map(fixture));
    const plist = writePollPlist(stack, { version: '4.3', protocol: 'pop3', user: POP_USER });
    const refused = await pollCore(plist, { version: '4.3', caFile: stack.ca, stateDir: tokenStateDir(), apply: true, injectUrl: double.url, now: NOW }).then(
      () => null,
      (e: Error) => e,
    );
    // Dovecot's default (pop3_lock_session = no) does not lock the maildrop: refused, nothing changed.
    expect(refused?.name).toBe('CannotRunError');
    expect(refused?.message).toMatch(/does not lock the maildrop .*nothing was changed.*--single-poller/);
    expect(double.requests).toHaveLength(0);
    expect(await popCount()).toBe(5);
    const r = await pollCore(plist, { version: '4.3', caFile: stack.ca, stateDir: tokenStateDir(), apply: true, injectUrl: double.url, now: NOW, singlePoller: true });
    expect(r.error).toBeUndefined();
    expect(r.summary).toMatchObject({ injected: 3, deleted: 3, failed: 0 });
    expect(await popCount()).toBe(2);
    expect(await remainingIds(POP_USER.address)).toEqual(['<CAF=human-0001@mail.remote.test>', '<AM0PR02MB5555BARE0001@AM0PR02MB5555.eurprd02.prod.outlook.com>']);
    expect(r.apply).toMatchObject({ serverLocksMaildrop: false, singlePoller: true });
    // The two left were retrieved but not handled: not \Seen afterwards (Dovecot stores \Seen on
    // every message retrieved in a session that ends with QUIT, unless RSET came first).
    expect([...(await mailboxFlags(stack, POP_USER.address)).values()].flat()).not.toContain('\\Seen');
  });

  // Past 64 MB of big calendars kept from the read, a calendar is retrieved again when injected.
  it('calendars of 22 MB are injected whole, the third retrieved again when its turn comes (past 64 MB kept)', { timeout: 120_000 }, async () => {
    double = await startInboxDouble({ line: '3.x-4.x', secret: GW_SECRET });
    await seedMailbox(stack, POP_USER.address, [bigReply(1, 22), bigReply(2, 22), bigReply(3, 22)]);
    const plist = writePollPlist(stack, { version: '4.3', protocol: 'pop3', user: POP_USER });
    const r = await pollCore(plist, { version: '4.3', caFile: stack.ca, stateDir: tokenStateDir(), apply: true, injectUrl: double.url, now: NOW, singlePoller: true });
    expect(r.error).toBeUndefined();
    expect(r.summary).toMatchObject({ injected: 3, deleted: 3, failed: 0 });
    expect(acceptedDescriptions(double)).toEqual([22 * 1024 * 1024, 22 * 1024 * 1024, 22 * 1024 * 1024]);
    expect(await popCount()).toBe(0);
  });

  it('the connection is cut before QUIT: nothing is deleted; the next run deletes without injecting again', async () => {
    const proxy = await new CutProxy({ host: stack.host, port: stack.ports.pop3s }).start();
    double = await startInboxDouble({ line: '3.x-4.x', secret: GW_SECRET, onPost: () => void (double!.requests.length === 2 && proxy.cut()) });
    await seedMailbox(stack, POP_USER.address, MIXED.map(fixture));
    const state = tokenStateDir();
    const viaProxy = writePollPlist(stack, { version: '4.3', protocol: 'pop3', user: POP_USER, changes: [['Scheduling.iMIP.Receiving.Port', proxy.port]] });
    const cut = await pollCore(viaProxy, { version: '4.3', caFile: stack.ca, stateDir: state, apply: true, injectUrl: double.url, now: NOW, singlePoller: true });
    await proxy.close();
    expect(cut.error).toMatch(/ended early/);
    expect(await popCount()).toBe(5);
    const direct = writePollPlist(stack, { version: '4.3', protocol: 'pop3', user: POP_USER });
    const next = await pollCore(direct, { version: '4.3', caFile: stack.ca, stateDir: state, apply: true, injectUrl: double.url, now: NOW, singlePoller: true });
    expect(next.error).toBeUndefined();
    expect(next.messages.map((m) => m.apply?.status)).toEqual(['deleted-earlier-injection', 'skipped', 'deleted-earlier-injection', 'skipped', 'injected']);
    expect(acceptedUids(double)).toHaveLength(3);
    expect(new Set(acceptedUids(double)).size).toBe(3);
    expect(await popCount()).toBe(2);
  });

  it('a second run on this host while one is active is refused', async () => {
    double = await startInboxDouble({ line: '3.x-4.x', secret: GW_SECRET });
    await seedMailbox(stack, POP_USER.address, MIXED.map(fixture));
    const plist = writePollPlist(stack, { version: '4.3', protocol: 'pop3', user: POP_USER });
    const state = tokenStateDir();
    const [a, b] = await Promise.allSettled([
      pollCore(plist, { version: '4.3', caFile: stack.ca, stateDir: state, apply: true, injectUrl: double.url, now: NOW, singlePoller: true }),
      pollCore(plist, { version: '4.3', caFile: stack.ca, stateDir: state, apply: true, injectUrl: double.url, now: NOW, singlePoller: true }),
    ]);
    expect(a.status).toBe('fulfilled');
    expect(b.status).toBe('rejected');
    expect(String((b as PromiseRejectedResult).reason.message)).toMatch(/another "imip poll --apply" .* is processing this POP3 mailbox/);
    expect(double.accepted()).toHaveLength(3);
  });

  it('pop3_lock_session = yes: Dovecot answers a second session -ERR [IN-USE], and --apply says so', async () => {
    // Turn on Dovecot's POP3 session lock in this file's own stack.
    const conf = stack.doveadmConf;
    const original = readFileSync(conf, 'utf8');
    appendFileSync(conf, '\npop3_lock_session = yes\n');
    await execFileP('doveadm', ['-c', conf, 'reload']);
    await new Promise((r) => setTimeout(r, 500));
    let holder: Pop3Client | null = null;
    try {
      double = await startInboxDouble({ line: '3.x-4.x', secret: GW_SECRET });
      await seedMailbox(stack, POP_USER.address, [fixture('thunderbird-reply'), fixture('outlook-reply')]);
      const plist = writePollPlist(stack, { version: '4.3', protocol: 'pop3', user: POP_USER });
      const alone = await pollCore(plist, { version: '4.3', caFile: stack.ca, stateDir: tokenStateDir(), apply: true, injectUrl: double.url, now: NOW });
      expect(alone.summary).toMatchObject({ injected: 2, deleted: 2 });
      expect((alone.apply as { serverLocksMaildrop: boolean | null }).serverLocksMaildrop).toBe(true);

      // Another session (a mail client, the real gateway) holds the maildrop: Dovecot holds our
      // login for about 10 s, then answers -ERR [IN-USE]; the run stops with mailbox.in-use (exit 1), nothing changed.
      await seedMailbox(stack, POP_USER.address, [fixture('thunderbird-reply')]);
      holder = await Pop3Client.connect({ host: stack.host, port: stack.ports.pop3s, implicitTls: true, ca: stack.caPem, rejectUnauthorized: true, timeoutMs: 30_000 });
      await holder.login(POP_USER.address, POP_USER.password);
      const started = Date.now();
      // test-mailbox meanwhile: the password is right (RFC 2449: IN-USE comes after a successful
      // login), so the verdict is the lock, never "login failed, check the password".
      // poll (read-only) says the same, exit 1.
      const [err, probe, poll] = await Promise.all([
        pollCore(plist, { version: '4.3', caFile: stack.ca, stateDir: tokenStateDir(), apply: true, injectUrl: double.url, now: NOW, timeoutSec: 20 }).then(
          () => null,
          (e: Error) => e,
        ),
        runCli(['test-mailbox', '--config', plist, '--ca-file', stack.ca, '--server-version', '4.3', '--timeout', '20', '--json']),
        runCli(['poll', '--once', '--config', plist, '--ca-file', stack.ca, '--server-version', '4.3', '--timeout', '20', '--json', '--state-dir', tokenStateDir()]),
      ]);
      for (const [name, r] of [['test-mailbox', probe], ['poll', poll]] as const) {
        const ids = (JSON.parse(r.stdout) as { findings: Array<{ id: string }> }).findings.map((f) => f.id);
        expect(ids, name).toContain('mailbox.in-use');
        expect(ids, name).not.toContain('mailbox.login-failed');
        expect(r.code, name).toBe(1);
      }
      expect(err).toBeInstanceOf(CannotRunError);
      expect(err?.message).toMatch(/-ERR \[IN-USE\] Mailbox is locked by another POP3 session.*another poll or a mail client/);
      expect(Date.now() - started).toBeGreaterThan(5000);
      expect(double.accepted()).toHaveLength(2);
    } finally {
      await holder?.quit().catch(() => undefined);
      const { writeFileSync } = await import('node:fs');
      writeFileSync(conf, original);
      await execFileP('doveadm', ['-c', conf, 'reload']);
      await new Promise((r) => setTimeout(r, 500));
    }
  }, 60_000);
});
