/**
 * What `imip poll --once` tells an admin (issue "output an admin can trust"): the reason for each
 * NO_TOKEN row inline, with the causes `imip diagnose` names; a summary grouped by action, then by
 * cause, with counts; the error count in human mode; and Ctrl-C says how far the read-only cycle
 * got and that nothing changed. Own stack, own user.
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePortOffset, purgeMailbox, seedMailbox, startStack, stopStack, type StackInfo } from '../mailstack/stack.js';
import { BIN, runCli, jsonOf } from '../helpers/cli.js';
import { startRelay } from '../helpers/relay.js';
import { fixture, smallReply, TOKENS, tokenStateDir, writePollPlist } from './helpers.js';
import { progressEnabled } from '../../src/commands/poll.js';

const USER = { address: 'calendar@example.test', password: 'PollOut-pw-5521' };
/** A mailbox with a 1 MB calendar in the middle, for stopping a cycle while it reads. */
const BIG_USER = { address: 'bigcal@example.test', password: 'PollOut-pw-5522' };
/** 3,000 small replies: about 3 MB of --json rows, more than stdout may queue for its reader. */
const MANY_USER = { address: 'manyreplies@example.test', password: 'PollOut-pw-5523' };
const MANY = 3000;
let stack: StackInfo;
let manyPlist: string;
let manyPop3Plist: string;
let plist: string;
let bigPlist: string;
let state: string;

beforeAll(async () => {
  stack = await startStack({ portOffset: await freePortOffset(26000, (process.pid + 7) % 20, 20), users: [USER, BIG_USER, MANY_USER] });
  plist = writePollPlist(stack, { version: '9.2', protocol: 'imap', user: USER });
  bigPlist = writePollPlist(stack, { version: '9.2', protocol: 'imap', user: BIG_USER });
  const big = fixture('thunderbird-reply')
    .toString('utf8')
    .replace('DTSTAMP:20260302T091500Z', `DTSTAMP:20260302T091500Z\r\nDESCRIPTION:${'x'.repeat(1024 * 1024)}`);
  await purgeMailbox(stack, BIG_USER.address);
  await seedMailbox(stack, BIG_USER.address, [fixture('thunderbird-reply'), Buffer.from(big), fixture('outlook-reply')]);
  manyPlist = writePollPlist(stack, { version: '9.2', protocol: 'imap', user: MANY_USER });
  manyPop3Plist = writePollPlist(stack, { version: '9.2', protocol: 'pop3', user: MANY_USER });
  const token = '3f2b8c1e-7d4a-4e9b-a6c2-5b1d9e0f7a21';
  await purgeMailbox(stack, MANY_USER.address);
  await seedMailbox(stack, MANY_USER.address, Array.from({ length: MANY }, (_, i) => smallReply(i, token, TOKENS[token]!.uid)));
  state = tokenStateDir();
  await purgeMailbox(stack, USER.address);
  await seedMailbox(stack, USER.address, [
    fixture('thunderbird-reply'),
    fixture('reply-to-bare-address'),
    fixture('reply-all-other-first'),
    fixture('winmail-reply'),
    fixture('token-uppercase'),
  ]);
}, 60_000);

afterAll(async () => {
  if (stack) await stopStack(stack, { remove: true });
}, 60_000);

describe('poll --once output', () => {
  it('each NO_TOKEN row says why inline; the summary groups by action, then cause; the error count is in human mode', async () => {
    const r = await runCli(['poll', '--once', plist, '--ca-file', stack.ca, '--state-dir', state, '--no-color']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(1);
    const lines = r.stdout.split('\n');
    const bare = lines.findIndex((l) => /NO_TOKEN/.test(l) && /calendar@example\.test/.test(l));
    expect(bare).toBeGreaterThan(0);
    expect(lines.slice(bare + 1, bare + 3).join('\n')).toMatch(/why: sent to the bare Sending\.Address, no "\+token" \(token\.to-bare-address/);
    expect(r.stdout).toMatch(/why: Reply All: the token address is not first in To \(token\.not-first-recipient/);
    // Grouped: action with its count, then its causes with theirs.
    expect(r.stdout).toMatch(/\nSummary\n(?:.*\n)*? +2 {2}NO_TOKEN\n +1 {2}(sent to the bare|Reply All)[^\n]*\n +1 {2}(sent to the bare|Reply All)/);
    const last = lines.filter(Boolean).pop()!;
    expect(last).toMatch(/^5 messages: .*2 NO_TOKEN.*; [1-9]\d* error findings?$/);
  });

  it('--json carries the causes per row and the grouped counts', async () => {
    const r = await runCli(['poll', '--once', plist, '--ca-file', stack.ca, '--state-dir', state, '--json']);
    const doc = jsonOf(r);
    const noToken = doc.messages.filter((m: { serverAction: string }) => m.serverAction === 'NO_TOKEN');
    expect(noToken.map((m: { tokenCauses: string[] }) => m.tokenCauses[0]).sort()).toEqual(['token.not-first-recipient', 'token.to-bare-address']);
    expect(doc.messages.find((m: { serverAction: string }) => m.serverAction === 'INJECTION_SUBMITTED').tokenCauses).toBeUndefined();
    expect(doc.summary.byTokenCause.NO_TOKEN).toEqual({ 'token.to-bare-address': 1, 'token.not-first-recipient': 1 });
  });

  it('progress goes to stderr whenever stderr is a terminal, also with --json and --quiet', () => {
    expect(progressEnabled({ isTTY: true })).toBe(true);
    expect(progressEnabled({ isTTY: false })).toBe(false);
  });

  it('Ctrl-C during a read-only cycle says how far it got and that nothing changed; exit 130', async () => {
    // A slow link (every answer 150 ms late) that stops answering altogether once the head is
    // printed: the cycle is certainly still running when the interrupt comes.
    let hold = false;
    const relay = await startRelay({ host: stack.host, port: stack.ports.imaps }, (d, client) => {
      setTimeout(() => {
        if (!hold && !client.destroyed) client.write(d);
      }, 150);
    });
    const port = relay.port;
    try {
      const child = spawn(process.execPath, [BIN, 'poll', plist, '--set', `Receiving.Port=${port}`, '--ca-file', stack.ca, '--no-color', '--timeout', '30'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stderr.on('data', (d) => (err += d));
      const code = await new Promise<number | null>((resolve) => {
        child.stdout.on('data', (d) => {
          out += d;
          // The head is written once the mailbox is open; then interrupt.
          if (/token store/i.test(out) && !hold) {
            hold = true;
            setTimeout(() => child.kill('SIGINT'), 200);
          }
        });
        child.on('close', (c) => resolve(c));
      });
      expect(code).toBe(130);
      expect(err).toMatch(/imip: interrupted by SIGINT (after \d+ of \d+ messages|before the first message was classified); nothing on the server was changed/);
      expect(err).not.toMatch(/at .*\.js:\d+/);
    } finally {
      relay.close();
    }
  }, 60_000);

  // systemd and `timeout` stop with SIGTERM, a closed terminal with SIGHUP: the same as Ctrl-C,
  // and the output still whole (a JSON document, a Nagios line).
  it.each([
    ['SIGTERM', [], 143],
    ['SIGTERM', ['--json'], 143],
    ['SIGINT', ['--json'], 130],
    ['SIGHUP', ['--json'], 129],
    ['SIGTERM', ['--format', 'nagios'], 3],
  ] as Array<[NodeJS.Signals, string[], number]>)('%s during a read-only cycle (%j): a clear message, whole output, exit %i', async (sig, extra, expected) => {
    // Everything is relayed until the 1 MB calendar is half read; then nothing more, and the signal.
    let hold = false;
    let child: ReturnType<typeof spawn> | null = null;
    let down = 0;
    const relay = await startRelay({ host: stack.host, port: stack.ports.imaps }, (d, client) => {
      if (hold || client.destroyed) return;
      client.write(d);
      down += d.length;
      if (down > 500_000) {
        hold = true;
        setTimeout(() => child?.kill(sig), 200);
      }
    });
    const port = relay.port;
    try {
      const c = spawn(process.execPath, [BIN, 'poll', bigPlist, '--set', `Receiving.Port=${port}`, '--ca-file', stack.ca, '--no-color', '--timeout', '30', ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
      child = c;
      let out = '';
      let err = '';
      c.stdout!.on('data', (d) => (out += d));
      c.stderr!.on('data', (d) => (err += d));
      const code = await new Promise<number | null>((resolve) => c.on('close', (x) => resolve(x)));
      expect(hold).toBe(true);
      expect(code).toBe(expected);
      const said = new RegExp(`interrupted by ${sig} (after \\d+ of \\d+ messages|before the first message was classified); nothing on the server was changed`);
      expect(err).toMatch(new RegExp(`^\\nimip: ${said.source}`));
      expect(err).not.toMatch(/at .*\.js:\d+/);
      if (extra[0] === '--json') {
        const doc = JSON.parse(out);
        expect(doc).toMatchObject({ command: 'poll', interrupted: sig, exitCode: expected });
        expect(doc.error).toMatch(said);
        expect(Array.isArray(doc.messages)).toBe(true);
      } else if (extra[0] === '--format') {
        expect(out).toMatch(new RegExp(`^IMIP UNKNOWN - poll: ${said.source}.* \\| time=`));
        expect(out.split('\n')).toHaveLength(2);
      } else {
        expect(out).toMatch(/Token store|token store/);
      }
    } finally {
      relay.close();
    }
  }, 60_000);

  describe('a reader of stdout that stops reading', () => {
    /**
     * Runs `poll --once --json --timeout <timeout>` with its stdout on a pipe that nobody reads for
     * `stallMs`, then reads it all. The document, the exit code and the commands it lists.
     */
    async function pollWithStalledReader(
      config: string,
      stallMs: number,
      timeout = '1',
      /** Looked at once the stall is over, before anything is read. */
      atEndOfStall: () => Promise<string> = async () => '',
    ): Promise<{ code: number | null; doc: { messages: Array<{ uid?: number; number?: number }>; error?: string; commands: string[] }; stderr: string; seenAtEndOfStall: string }> {
      const child = spawn(process.execPath, [BIN, 'poll', '--once', config, '--ca-file', stack.ca, '--state-dir', state, '--json', '--timeout', timeout], { stdio: ['ignore', 'pipe', 'pipe'] });
      let err = '';
      child.stderr.on('data', (d) => (err += d));
      const chunks: Buffer[] = [];
      const closed = new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
      // Nothing is read for stallMs: the pipe and this side's buffer fill up, then the writer waits.
      child.stdout.pause();
      await new Promise((r) => setTimeout(r, stallMs));
      const seenAtEndOfStall = await atEndOfStall();
      child.stdout.on('data', (d: Buffer) => chunks.push(d));
      child.stdout.resume();
      const code = await closed;
      return { code, doc: JSON.parse(Buffer.concat(chunks).toString('utf8')), stderr: err, seenAtEndOfStall };
    }

    it('IMAP: the read waits for the reader, the session kept alive with NOOP past --timeout; every row arrives, in order', async () => {
      const r = await pollWithStalledReader(manyPlist, 3500);
      expect(r.stderr).toBe('');
      expect(r.doc.error).toBeUndefined();
      expect(r.code).toBe(0);
      const uids = r.doc.messages.map((m) => m.uid!);
      expect(uids).toHaveLength(MANY);
      expect(uids).toEqual([...uids].sort((a, b) => a - b));
      // What --verbose shows: the session said NOOP while the output waited.
      expect(r.doc.commands).toContain('NOOP (every 0.5 s while the output waited for its reader)');
    }, 60_000);

    it('IMAP: a reader that keeps up never pauses the read (no NOOP)', async () => {
      // --timeout 10: a NOOP would need the reader to stall 5 s, which a loaded test machine's
      // event loop never does.
      const r = await pollWithStalledReader(manyPlist, 0, '10');
      expect(r.doc.messages).toHaveLength(MANY);
      expect(r.doc.commands.some((c) => c.startsWith('NOOP'))).toBe(false);
    }, 60_000);

    it('POP3: the read goes on and the session ends (the maildrop is not held) while the reader is stalled; every row arrives', async () => {
      const log = path.join(stack.dir, 'log', 'dovecot.log');
      const before = (await readFile(log)).length;
      const r = await pollWithStalledReader(manyPop3Plist, 2500, '1', async () => (await readFile(log)).subarray(before).toString('utf8'));
      // Dovecot logs the end of each POP3 session; the poll's had ended before its rows were read.
      expect(r.seenAtEndOfStall).toMatch(new RegExp(`pop3\\(${MANY_USER.address.replace(/[.]/g, '\\.')}\\).*Disconnected`));
      expect(r.stderr).toBe('');
      expect(r.doc.error).toBeUndefined();
      expect(r.doc.messages.map((m) => m.number)).toEqual(Array.from({ length: MANY }, (_, i) => i + 1));
      expect(r.doc.commands.some((c) => c.startsWith('NOOP'))).toBe(false);
    }, 60_000);
  });
});
