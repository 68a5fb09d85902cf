/**
 * `poll --once --apply` (2.x–4.x): inject each INJECTION_SUBMITTED reply into the /inbox/ test
 * double and delete only what was injected — and never lose mail: failing, hanging and vanishing
 * injection endpoints, connections cut mid-cycle (a proxy, or Dovecot kicking the session),
 * Ctrl-C, and two runs at once. A mail stack of this file's own (users applyimap@, applypop@).
 */
import { spawn } from 'node:child_process';
import { appendFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Pop3Client } from '../../src/clients/pop3/index.js';
import type { PollReport } from '../../src/poll/cycle.js';
import { mailboxCount, mailboxFlags, purgeMailbox, seedMailbox, stopStack, type StackInfo } from '../mailstack/stack.js';
import { startInboxDouble, type InboxDouble } from '../doubles/inbox-server.js';
import { CutProxy, fixture, NOW, pollCore, startOwnStack, tokenStateDir, writePollPlist } from './helpers.js';

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
    expect(r.summary).toMatchObject({ injected: 3, deleted: 3, failed: 0 });
    // What the gateway POSTs (§5.2): token attendee → Originator, token organizer → Recipient.
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

  it('a stale claim (its run is gone) is taken over; a claim nobody here knows is left alone, with the fix', async () => {
    double = await startInboxDouble({ line: '3.x-4.x', secret: GW_SECRET });
    const [u1, u2] = await seedMailbox(stack, IMAP_USER.address, [fixture('thunderbird-reply'), fixture('outlook-reply')]);
    for (const uid of [u1, u2]) await execFileP('doveadm', ['-c', stack.doveadmConf, 'flags', 'add', '-u', IMAP_USER.address, '$ImipClaimed', 'mailbox', 'INBOX', 'uid', String(uid)]);
    const state = tokenStateDir();
    // A first pass to learn the journal's mailbox key (it includes UIDVALIDITY).
    const plist = writePollPlist(stack, { version: '4.3', protocol: 'imap', user: IMAP_USER });
    const first = await pollCore(plist, { version: '4.3', caFile: stack.ca, stateDir: state, apply: true, injectUrl: double.url, now: NOW });
    expect(first.messages.map((m) => m.apply?.status)).toEqual(['claimed-elsewhere', 'claimed-elsewhere']);
    expect(first.messages[0]!.apply!.reason).toMatch(/doveadm flags remove .*\$ImipClaimed/);
    expect(double.requests).toHaveLength(0);
    // Now say in the journal that a run which no longer exists claimed the first one.
    const key = `imap://${IMAP_USER.address}@${stack.host}/INBOX;`;
    const validity = (await execFileP('doveadm', ['-c', stack.doveadmConf, 'mailbox', 'status', '-u', IMAP_USER.address, 'uidvalidity', 'INBOX'])).stdout.match(/uidvalidity=(\d+)/)![1];
    appendFileSync(
      join(state, 'poll-journal.jsonl'),
      `${JSON.stringify({ at: new Date().toISOString(), mailbox: `${key}${validity}`, id: `uid ${u1}`, state: 'claimed', run: 'gone', pid: 2 ** 22 + 12345, host: (await import('node:os')).hostname() })}\n`,
    );
    const second = await pollCore(plist, { version: '4.3', caFile: stack.ca, stateDir: state, apply: true, injectUrl: double.url, now: NOW });
    expect(second.messages.map((m) => m.apply?.status)).toEqual(['injected', 'claimed-elsewhere']);
    expect(await claimedUids(IMAP_USER.address)).toEqual([u2]);
  });

  it('Ctrl-C while an injection hangs: the claim is released, nothing is deleted', async () => {
    double = await startInboxDouble({ line: '3.x-4.x', secret: GW_SECRET, failure: 'hang' });
    await seedMailbox(stack, IMAP_USER.address, MIXED.map(fixture));
    const plist = writePollPlist(stack, { version: '4.3', protocol: 'imap', user: IMAP_USER });
    const bin = fileURLToPath(new URL('../../bin/imip', import.meta.url));
    const child = spawn(process.execPath, [bin, 'poll', '--once', '--apply', '--json', '--config', plist, '--server-version', '4.3', '--ca-file', stack.ca, '--state-dir', tokenStateDir(), '--inject-url', double.url, '--timeout', '60'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    // Wait until the first POST is hanging at the double, then interrupt.
    for (let i = 0; i < 200 && double.requests.length === 0; i++) await new Promise((r) => setTimeout(r, 25));
    expect(double.requests).toHaveLength(1);
    child.kill('SIGINT');
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(stderr).toMatch(/interrupted/);
    expect(code).toBe(1);
    const doc = JSON.parse(stdout);
    expect(doc.messages[0].apply).toMatchObject({ status: 'failed', reason: expect.stringMatching(/interrupted/), deleted: false });
    expect(doc.messages.filter((m: { apply?: { status: string } }) => m.apply?.status === 'skipped').length).toBeGreaterThanOrEqual(4);
    expect(await mailboxCount(stack, IMAP_USER.address)).toBe(5);
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
    const r = await pollCore(plist, { version: '4.3', caFile: stack.ca, stateDir: tokenStateDir(), apply: true, injectUrl: double.url, now: NOW });
    expect(r.error).toBeUndefined();
    expect(r.summary).toMatchObject({ injected: 3, deleted: 3, failed: 0 });
    expect(await popCount()).toBe(2);
    expect(await remainingIds(POP_USER.address)).toEqual(['<CAF=human-0001@mail.remote.test>', '<AM0PR02MB5555BARE0001@AM0PR02MB5555.eurprd02.prod.outlook.com>']);
    // Dovecot's default (pop3_lock_session = no) does not lock the maildrop: said in the report.
    expect((r.apply as { serverLocksMaildrop: boolean | null }).serverLocksMaildrop).toBe(false);
  });

  it('the connection is cut before QUIT: nothing is deleted; the next run deletes without injecting again', async () => {
    const proxy = await new CutProxy({ host: stack.host, port: stack.ports.pop3s }).start();
    double = await startInboxDouble({ line: '3.x-4.x', secret: GW_SECRET, onPost: () => void (double!.requests.length === 2 && proxy.cut()) });
    await seedMailbox(stack, POP_USER.address, MIXED.map(fixture));
    const state = tokenStateDir();
    const viaProxy = writePollPlist(stack, { version: '4.3', protocol: 'pop3', user: POP_USER, changes: [['Scheduling.iMIP.Receiving.Port', proxy.port]] });
    const cut = await pollCore(viaProxy, { version: '4.3', caFile: stack.ca, stateDir: state, apply: true, injectUrl: double.url, now: NOW });
    await proxy.close();
    expect(cut.error).toMatch(/ended early/);
    expect(await popCount()).toBe(5);
    const direct = writePollPlist(stack, { version: '4.3', protocol: 'pop3', user: POP_USER });
    const next = await pollCore(direct, { version: '4.3', caFile: stack.ca, stateDir: state, apply: true, injectUrl: double.url, now: NOW });
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
      pollCore(plist, { version: '4.3', caFile: stack.ca, stateDir: state, apply: true, injectUrl: double.url, now: NOW }),
      pollCore(plist, { version: '4.3', caFile: stack.ca, stateDir: state, apply: true, injectUrl: double.url, now: NOW }),
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
      // login for about 10 s, then answers -ERR [IN-USE]; the run stops, exit 2, nothing changed.
      await seedMailbox(stack, POP_USER.address, [fixture('thunderbird-reply')]);
      holder = await Pop3Client.connect({ host: stack.host, port: stack.ports.pop3s, implicitTls: true, ca: stack.caPem, rejectUnauthorized: true, timeoutMs: 30_000 });
      await holder.login(POP_USER.address, POP_USER.password);
      const started = Date.now();
      const err = await pollCore(plist, { version: '4.3', caFile: stack.ca, stateDir: tokenStateDir(), apply: true, injectUrl: double.url, now: NOW, timeoutSec: 20 }).then(
        () => null,
        (e: Error) => e,
      );
      expect(err?.name).toBe('CannotRunError');
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
