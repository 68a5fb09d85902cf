/**
 * `poll --once --apply` under faults, through the real CLI against the real Dovecot and the
 * /inbox/ test double: the process is killed (SIGKILL) at every step of one injection, over IMAP
 * and over POP3, and a second run must leave nothing lost, nothing behind and nothing injected
 * twice (except where the kill fell inside the POST: the documented case). Checked from other
 * sessions (doveadm). And two runs at once with separate state directories (two hosts), over a
 * mailbox whose messages each have their own MODSEQ, as delivered mail does.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { mailboxFlags, purgeMailbox, seedMailbox, stopStack, type StackInfo } from '../mailstack/stack.js';
import { startInboxDouble, type InboxDouble } from '../doubles/inbox-server.js';
import { fixture, smallReply, startOwnStack, tokenStateDir, TOKENS, writePollPlist } from './helpers.js';

const execFileP = promisify(execFile);
const IMAP_USER = { address: 'faultimap@example.test', password: 'FaultImap-pw-5513' };
const POP_USER = { address: 'faultpop@example.test', password: 'FaultPop-pw-6624' };
const GW_SECRET = 'gateway-secret-3';
const BIN = fileURLToPath(new URL('../../bin/imip', import.meta.url));

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
const KEPT = ['<CAF=human-0001@mail.remote.test>', '<AM0PR02MB5555BARE0001@AM0PR02MB5555.eurprd02.prod.outlook.com>'];

function runCli(args: string[], env: Record<string, string> = {}, onSpawn?: (c: ChildProcess) => void): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
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

/** Message-IDs in the mailbox, seen by doveadm (a session of its own). */
async function remainingIds(user: string): Promise<string[]> {
  const out = await execFileP('doveadm', ['-c', stack.doveadmConf, '-f', 'tab', 'fetch', '-u', user, 'hdr.message-id', 'mailbox', 'INBOX', 'all']);
  return out.stdout
    .split('\n')
    .slice(1)
    .map((l) => l.trim())
    .filter(Boolean)
    .sort();
}

async function claimKeywordsLeft(user: string): Promise<string[]> {
  return [...(await mailboxFlags(stack, user)).values()].flat().filter((f) => f.startsWith('$Imip'));
}

/** How many times the calendar server accepted each reply (by the calendar's UID). */
function acceptedCounts(d: InboxDouble): Map<string, number> {
  const counts = new Map<string, number>();
  for (const r of d.accepted()) {
    const uid = /^UID:(.*)$/m.exec(r.body)?.[1]?.trim() ?? '?';
    counts.set(uid, (counts.get(uid) ?? 0) + 1);
  }
  return counts;
}

// Every step of one injection, in order. `during-post` is a kill while the calendar server holds
// the request (sent by the double itself); `mayRepeat`: the documented duplicate case.
const STEPS: Record<'imap' | 'pop3', Array<{ step: string; mayRepeat?: boolean }>> = {
  imap: [
    { step: 'imap:claiming' },
    { step: 'imap:claimed' },
    { step: 'imap:posting' },
    { step: 'during-post', mayRepeat: true },
    { step: 'imap:posted', mayRepeat: true },
    { step: 'imap:injected' },
    { step: 'imap:expunged' },
  ],
  pop3: [
    { step: 'pop3:posting' },
    { step: 'during-post', mayRepeat: true },
    { step: 'pop3:posted', mayRepeat: true },
    { step: 'pop3:injected' },
    { step: 'pop3:dele' },
    { step: 'pop3:quit' },
  ],
};

describe('SIGKILL at every step of an injection; the next run makes up for it', { timeout: 60_000 }, () => {
  for (const protocol of ['imap', 'pop3'] as const) {
    for (const { step, mayRepeat } of STEPS[protocol]) {
      it(`${protocol}: killed at ${step}`, async () => {
        const user = protocol === 'imap' ? IMAP_USER : POP_USER;
        let child: ChildProcess | null = null;
        double = await startInboxDouble({
          line: '3.x-4.x',
          secret: GW_SECRET,
          // The request is in: the calendar server has the reply whatever happens next.
          onPost: () => void (step === 'during-post' && double!.requests.length === 1 && child?.kill('SIGKILL')),
          ...(step === 'during-post' ? { delayMs: 2000 } : {}),
        });
        await seedMailbox(stack, user.address, MIXED.map(fixture));
        const before = await remainingIds(user.address);
        const plist = writePollPlist(stack, { version: '4.3', protocol, user });
        const args = ['poll', '--once', '--apply', '--config', plist, '--server-version', '4.3', '--ca-file', stack.ca, '--state-dir', tokenStateDir(), '--inject-url', double.url, ...(protocol === 'pop3' ? ['--single-poller'] : [])];
        const killed = await runCli(args, step === 'during-post' ? {} : { IMIP_FAULT_INJECT: step }, (c) => (child = c));
        expect(killed.signal).toBe('SIGKILL');
        // Nothing lost: every message not yet known to the server is still there.
        const afterKill = await remainingIds(user.address);
        for (const id of before) if (!afterKill.includes(id)) expect(double.accepted().length).toBeGreaterThan(0);

        double.setDelay(0);
        const next = await runCli(args);
        expect(next.signal).toBeNull();
        expect(next.code).toBe(1); // the two messages the server would not inject have findings
        // Nothing left behind: only those two remain, and no claim.
        expect(await remainingIds(user.address)).toEqual(KEPT.slice().sort());
        expect(await claimKeywordsLeft(user.address)).toEqual([]);
        // Nothing injected twice, except a reply whose POST the kill cut (documented).
        const counts = acceptedCounts(double);
        expect(counts.size).toBe(3);
        const repeated = [...counts.values()].filter((n) => n > 1);
        expect(repeated.length).toBeLessThanOrEqual(mayRepeat ? 1 : 0);
        expect(Math.max(...counts.values())).toBeLessThanOrEqual(2);
      });
    }
  }
});

describe('two runs at once, separate state directories (two hosts)', () => {
  it('50 delivered messages, three rounds: every reply injected exactly once, nothing left', async () => {
    const token = Object.keys(TOKENS)[0]!;
    for (let round = 0; round < 3; round++) {
      await purgeMailbox(stack, IMAP_USER.address);
      double = await startInboxDouble({ line: '3.x-4.x', secret: GW_SECRET });
      // Saved one by one, so that each message has its own MODSEQ, as delivered mail has.
      for (let i = 0; i < 50; i++) {
        await new Promise<void>((resolve, reject) => {
          const c = spawn('doveadm', ['-c', stack.doveadmConf, 'save', '-u', IMAP_USER.address], { stdio: ['pipe', 'ignore', 'pipe'] });
          c.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`doveadm save exit ${code}`))));
          c.stdin.end(smallReply(i, token, `ROUND${round}-MSG${i}`));
        });
      }
      const plist = writePollPlist(stack, { version: '4.3', protocol: 'imap', user: IMAP_USER });
      const args = (state: string) => ['poll', '--once', '--apply', '--json', '--config', plist, '--server-version', '4.3', '--ca-file', stack.ca, '--state-dir', state, '--inject-url', double!.url];
      const [a, b] = await Promise.all([runCli(args(tokenStateDir())), runCli(args(tokenStateDir()))]);
      expect(a.code).not.toBe(2);
      expect(b.code).not.toBe(2);
      const counts = acceptedCounts(double);
      expect(counts.size).toBe(50);
      expect([...counts.values()].every((n) => n === 1)).toBe(true);
      expect(await remainingIds(IMAP_USER.address)).toEqual([]);
      await double.close();
      double = null;
    }
  }, 120_000);
});
