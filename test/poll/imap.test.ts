/**
 * `poll --once` over IMAP against the real Dovecot of a mail stack of this file's own (user
 * pollimap@example.test: nobody else seeds, purges or counts it). The mailbox is seeded with the
 * fixtures; every read-only cycle must leave it exactly as it was, seen from a second session.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ImapFlow } from 'imapflow';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { classify, type ServerAction } from '../../src/imip/classify.js';
import { parseMessage } from '../../src/imip/mime.js';
import type { MailboxEffect } from '../../src/server/poll-policy.js';
import type { PollMessage, PollReport } from '../../src/poll/cycle.js';
import { RawSession } from '../../src/mailbox/imap-raw-session.js';
import type { TokenRecord } from '../../src/imip/classify-types.js';
import { markSeen, purgeMailbox, seedMailbox, stopStack, type StackInfo } from '../mailstack/stack.js';
import { runCli, jsonOf } from '../helpers/cli.js';
import { foreignControls, hasColour } from '../helpers/terminal.js';
import { tempDir } from '../helpers/plist.js';
import { DEFERRED_DEPENDENCIES } from '../../src/mailbox/imapflow-module.js';
import { READ_WINDOW } from '../../src/mailbox/imap-reader.js';
import { WHOLE_MESSAGE_LIMIT } from '../../src/mailbox/types.js';
import { context, parseFixture } from '../imip/message-fixtures.js';
import { bigMessage, CASES, CutProxy, fixture, NOW, pollCore, smallReply, startOwnStack, TOKENS, tokenStateDir, writePollPlist } from './helpers.js';

const TRACE = fileURLToPath(new URL('../helpers/trace-imports.mjs', import.meta.url));
const USER = { address: 'pollimap@example.test', password: 'PollImap-pw-7781' };
let stack: StackInfo;

beforeAll(async () => {
  stack = await startOwnStack([USER], 28000);
});

afterAll(async () => {
  if (stack) await stopStack(stack, { remove: process.env.MAILSTACK_KEEP !== '1' });
});

beforeEach(async () => {
  await purgeMailbox(stack, USER.address);
});

/** What a second IMAP session sees: count, unseen, HIGHESTMODSEQ, and every message's flags. */
async function snapshot(): Promise<{ messages: number; unseen: number; highestModseq: string; flags: Record<number, string[]> }> {
  const c = new ImapFlow({ host: stack.host, port: stack.ports.imaps, secure: true, tls: { ca: [stack.caPem] }, auth: { user: USER.address, pass: USER.password }, logger: false });
  c.on('error', () => undefined);
  await c.connect();
  try {
    const st = await c.status('INBOX', { messages: true, unseen: true, highestModseq: true });
    if (!st) throw new Error('STATUS INBOX failed');
    const flags: Record<number, string[]> = {};
    if (st.messages) {
      await c.mailboxOpen('INBOX', { readOnly: true });
      for await (const m of c.fetch('1:*', { uid: true, flags: true }, { uid: true })) flags[m.uid] = [...(m.flags ?? [])].filter((f) => f !== '\\Recent').sort();
    }
    return { messages: st.messages ?? 0, unseen: st.unseen ?? 0, highestModseq: String(st.highestModseq), flags };
  } finally {
    await c.logout();
  }
}

/** The mailbox effect per release via the classifier's own table, for expectations. */
function effect(release: string, action: ServerAction, asyncFailure: boolean): MailboxEffect {
  if (['2.5', '4.3', '5.0'].includes(release)) return 'deleted';
  if (asyncFailure) return 'left-seen';
  if (action === 'INJECTION_SUBMITTED') return 'deleted';
  if (release === '5.1') return 'left-seen';
  if (action === 'UNKNOWN_TOKEN') return 'seen-removed';
  if (action === 'UNKNOWN_TOKEN_OLD') return 'deleted';
  return 'left-seen';
}

const RELEASES = ['2.5', '4.3', '5.1', '7.0'];

describe('poll --once over IMAP (read-only)', () => {
  it.each(RELEASES)('every fixture gets its verdict on %s, and the mailbox is untouched', async (release) => {
    const uids = await seedMailbox(stack, USER.address, CASES.map((c) => fixture(c.fixture)));
    const before = await snapshot();
    const plist = writePollPlist(stack, { version: release, protocol: 'imap', user: USER });
    const report = await pollCore(plist, { version: release, caFile: stack.ca, stateDir: tokenStateDir(), now: NOW });
    expect(report.error).toBeUndefined();
    expect(report.mailbox).toMatchObject({ protocol: 'imap', readOnly: true, tls: 'implicit' });
    expect(report.commands[0]).toBe('EXAMINE INBOX');
    expect(report.messages.map((m) => m.uid)).toEqual(uids);
    CASES.forEach((c, i) => {
      const m = report.messages[i]!;
      const action = c.by?.[release] ?? c.action;
      const asyncFailure = action === 'UNKNOWN_FAILURE' && !['2.5', '4.3', '5.0'].includes(release);
      expect({ fixture: c.fixture, action: m.serverAction, effect: m.mailboxEffect, findings: m.findings.map((f) => f.id), token: m.tokenStatus }).toEqual({
        fixture: c.fixture,
        action,
        effect: effect(release, action, asyncFailure),
        // 5.1+ IMAP stop the cycle at a message that fails (CalendarServer-5.1 inbound.py cbGotMessage).
        findings: asyncFailure ? ['message.stops-cycle', ...c.findings] : c.findings,
        token: c.token,
      });
      expect(m.stopsCycle).toBe(asyncFailure);
      // The IMAP path (header fields + BODYSTRUCTURE + only the needed parts) gives the same
      // verdict as the whole raw message through the MIME parser.
      const oracle = classify(parseFixture(c.fixture), context(release, 'imap', { lookupToken: (t) => (TOKENS[t] ? { token: t, ...TOKENS[t]! } : null) }));
      // (Finding evidence may differ in MIME parameters: Dovecot's BODYSTRUCTURE adds the
      // default charset=us-ascii to text parts that declare none.)
      const shape = (fs: typeof m.findings) => fs.map((f) => ({ id: f.id, severity: f.severity, path: f.path, message: f.message, fix: f.fix }));
      expect({ f: c.fixture, token: m.token, logLine: m.logLine, findings: shape(m.findings), date: m.date, from: m.from, to: m.to, messageId: m.messageId }).toEqual({
        f: c.fixture,
        token: oracle.token,
        logLine: oracle.logLine,
        findings: shape(oracle.findings),
        date: oracle.date,
        from: oracle.from,
        to: oracle.to,
        messageId: oracle.messageId,
      });
    });
    expect(report.summary.messages).toBe(CASES.length);
    // The messages after the first one that stops the cycle are counted apart: this poll does not process them.
    const actions = CASES.map((c) => c.by?.[release] ?? c.action);
    const stop = report.messages.findIndex((m) => m.stopsCycle);
    const reached = stop < 0 ? actions : actions.slice(0, stop + 1);
    expect(report.summary.byServerAction.INJECTION_SUBMITTED).toBe(reached.filter((a) => a === 'INJECTION_SUBMITTED').length);
    expect(report.summary.notReached?.byServerAction.INJECTION_SUBMITTED ?? 0).toBe(actions.length - reached.length - actions.slice(reached.length).filter((a) => a !== 'INJECTION_SUBMITTED').length);
    // Read-only: EXAMINE and BODY.PEEK; no flag, no count, not even MODSEQ moved.
    expect(await snapshot()).toEqual(before);
  });

  it('5.1+ reads only UNSEEN messages and reports the \\Seen ones it skips', async () => {
    const uids = await seedMailbox(stack, USER.address, [fixture('thunderbird-reply'), fixture('outlook-reply'), fixture('gmail-reply')]);
    await markSeen(stack, USER.address, uids[1]);
    const plist = writePollPlist(stack, { version: '9.2', protocol: 'imap', user: USER });
    const r92 = await pollCore(plist, { version: '9.2', caFile: stack.ca, stateDir: tokenStateDir(), now: NOW });
    expect(r92.messages.map((m) => m.uid)).toEqual([uids[0], uids[2]]);
    expect(r92.summary.seenNotRead).toBe(1);
    expect(r92.commands).toContain('UID SEARCH UNSEEN');
    const r43 = await pollCore(plist, { version: '4.3', caFile: stack.ca, stateDir: tokenStateDir(), now: NOW });
    expect(r43.messages.map((m) => m.uid)).toEqual(uids);
    expect(r43.summary.seenNotRead).toBe(0);
  });

  it('before the first row, the cycle tells the poll how many messages the mailbox holds (EXISTS, \\Seen ones included)', async () => {
    // The poll picks its V8 flags by that count (src/poll/v8-flags.ts, LONG_POLL_MESSAGES).
    const uids = await seedMailbox(stack, USER.address, [fixture('thunderbird-reply'), fixture('outlook-reply'), fixture('gmail-reply')]);
    await markSeen(stack, USER.address, uids[0]);
    const plist = writePollPlist(stack, { version: '9.2', protocol: 'imap', user: USER });
    const events: string[] = [];
    const report = await pollCore(plist, {
      version: '9.2',
      caFile: stack.ca,
      stateDir: tokenStateDir(),
      now: NOW,
      hooks: { onOpen: (info, exists) => events.push(`open ${info.protocol} ${exists}`), onRow: (row) => events.push(`row ${row.uid}`) },
    });
    expect(report.messages).toHaveLength(2);
    expect(events).toEqual(['open imap 3', `row ${uids[1]}`, `row ${uids[2]}`]);
  });

  it('5.1+: a calendar that fails to parse stops the cycle; later messages wait for the next poll', async () => {
    const uids = await seedMailbox(stack, USER.address, [fixture('thunderbird-reply'), fixture('unparsable-calendar'), fixture('outlook-reply')]);
    const plist = writePollPlist(stack, { version: '9.2', protocol: 'imap', user: USER });
    const r = await pollCore(plist, { version: '9.2', caFile: stack.ca, stateDir: tokenStateDir(), now: NOW });
    expect(r.messages.map((m) => [m.uid, m.serverAction, m.thisCycle])).toEqual([
      [uids[0], 'INJECTION_SUBMITTED', true],
      [uids[1], 'UNKNOWN_FAILURE', true],
      [uids[2], 'INJECTION_SUBMITTED', false],
    ]);
    expect(r.messages[2]!.notes.join(' ')).toMatch(/waits for the next poll/);
    const r43 = await pollCore(plist, { version: '4.3', caFile: stack.ca, stateDir: tokenStateDir(), now: NOW });
    expect(r43.messages.every((m) => m.thisCycle)).toBe(true);
  });

  it('5.0: behind a message that blocks every poll, the rows are never reached, carry no blocking of their own and are counted apart', async () => {
    const uids = await seedMailbox(stack, USER.address, [fixture('unparsable-calendar'), fixture('thunderbird-reply'), fixture('base64-bad-padding')]);
    const plist = writePollPlist(stack, { version: '5.0', protocol: 'imap', user: USER });
    const r = await pollCore(plist, { version: '5.0', caFile: stack.ca, stateDir: tokenStateDir(), now: NOW });
    expect(r.messages.map((m) => [m.uid, m.serverAction, m.thisCycle, m.findings.map((f) => f.id)])).toEqual([
      [uids[0], 'UNKNOWN_FAILURE', true, ['message.blocks-cycle', 'reply.invalid-icalendar']],
      [uids[1], 'INJECTION_SUBMITTED', false, []],
      // Its own failure would block only once the first is gone: said in its note, not as a finding.
      [uids[2], 'UNKNOWN_FAILURE', false, ['reply.invalid-icalendar']],
    ]);
    expect(r.messages[2]!.notes.at(-1)).toMatch(new RegExp(`once UID ${uids[0]} is removed, the server fails on this one in its turn`));
    expect(r.summary).toMatchObject({ messages: 3, errorFindings: 3, byServerAction: { UNKNOWN_FAILURE: 1, INJECTION_SUBMITTED: 0 } });
    expect(r.summary.notReached).toMatchObject({ messages: 2, behind: { uid: uids[0] }, everyPoll: true, byServerAction: { INJECTION_SUBMITTED: 1, UNKNOWN_FAILURE: 1 } });
  });

  it('a base64 calendar part with incorrect padding: undecoded, as the server takes it, with the same verdict as the raw parser', async () => {
    const uids = await seedMailbox(stack, USER.address, [fixture('base64-bad-padding')]);
    const plist = writePollPlist(stack, { version: '4.3', protocol: 'imap', user: USER });
    const r = await pollCore(plist, { version: '4.3', caFile: stack.ca, stateDir: tokenStateDir(), now: NOW });
    const oracle = classify(parseFixture('base64-bad-padding'), context('4.3', 'imap', { lookupToken: (t) => (TOKENS[t] ? { token: t, ...TOKENS[t]! } : null) }));
    expect(r.messages.map((m) => [m.uid, m.serverAction, m.logLine])).toEqual([[uids[0], 'UNKNOWN_FAILURE', oracle.logLine]]);
    expect(r.messages[0]!.problems).toContain("part 3: its base64 has incorrect padding, so the server's Python (get_payload) takes it undecoded");
    expect(r.messages[0]!.findings.map((f) => f.message)).toEqual(oracle.findings.map((f) => f.message));
    expect(r.messages[0]!.findings.find((f) => f.id === 'reply.invalid-icalendar')!.message).toMatch(/incorrect padding/);
  });

  // 8.0+ decode every logged header value as UTF-8 (twext Logger.emit): the IMAP path reads the
  // header block's bytes as the raw parser does, so a Latin-1 From fails the message the same way.
  it('8.0+: a From in raw Latin-1 fails the message over IMAP as in the raw parser', async () => {
    const raw = Buffer.from(fixture('thunderbird-reply').toString('latin1').replace(/^From: [^\r\n]*/m, 'From: J\xe9r\xf4me <attendee@remote.test>'), 'latin1');
    const uids = await seedMailbox(stack, USER.address, [raw]);
    const plist = writePollPlist(stack, { version: '9.2', protocol: 'imap', user: USER });
    const r = await pollCore(plist, { version: '9.2', caFile: stack.ca, stateDir: tokenStateDir(), now: NOW });
    const oracle = classify(parseMessage(raw), context('9.2', 'imap', { lookupToken: (t) => (TOKENS[t] ? { token: t, ...TOKENS[t]! } : null) }));
    expect(oracle.serverAction).toBe('UNKNOWN_FAILURE');
    expect(r.messages.map((m) => [m.uid, m.serverAction, m.logLine, m.findings.map((f) => f.id)])).toEqual([[uids[0], 'UNKNOWN_FAILURE', oracle.logLine, ['message.header-not-utf8']]]);
  });

  it('uuencoded calendar parts over IMAP: decoded, or failing, as the raw parser and the server have it', async () => {
    const names = ['uuencode-calendar', 'uuencode-illegal-char'];
    const uids = await seedMailbox(stack, USER.address, names.map((n) => fixture(n)));
    const plist = writePollPlist(stack, { version: '9.2', protocol: 'imap', user: USER });
    const r = await pollCore(plist, { version: '9.2', caFile: stack.ca, stateDir: tokenStateDir(), now: NOW });
    const lookup = (t: string): TokenRecord | null => (TOKENS[t] ? { token: t, ...TOKENS[t]! } : null);
    const oracles = names.map((n) => classify(parseFixture(n), context('9.2', 'imap', { lookupToken: lookup })));
    expect(r.messages.map((m) => [m.uid, m.serverAction, m.logLine])).toEqual(oracles.map((o, i) => [uids[i], o.serverAction, o.logLine]));
    expect(r.messages.map((m) => m.serverAction)).toEqual(['INJECTION_SUBMITTED', 'UNKNOWN_FAILURE']);
    expect(r.messages[1]!.logLine).toBe('Failed to process message: Illegal char');
    expect(r.messages[1]!.findings.map((f) => f.id)).toEqual(['reply.undecodable-calendar']);
  });

  it('a delivery report read over IMAP as the server reads it: folded Action, and a status part whose transfer encoding is not undone', async () => {
    // checkDSN reads the delivery-status part as Python writes it back (CalendarServer-2.5..9.2):
    // folding undone, and the raw lines, so a base64 or quoted-printable status part has no
    // usable Action. The IMAP path must give what the raw parser gives.
    const raw = fixture('dsn-with-invitation').toString('latin1');
    const folded = raw.replace('Action: failed', 'Action:\r\n failed');
    const qp = raw.replace('Content-Type: message/delivery-status', 'Content-Type: message/delivery-status\r\nContent-Transfer-Encoding: quoted-printable').replace('Action: failed', 'Action: fa=\r\niled');
    const messages = [folded, qp].map((m) => Buffer.from(m, 'latin1'));
    const uids = await seedMailbox(stack, USER.address, messages);
    const plist = writePollPlist(stack, { version: '4.3', protocol: 'imap', user: USER });
    const r = await pollCore(plist, { version: '4.3', caFile: stack.ca, stateDir: tokenStateDir(), now: NOW });
    const lookup = (t: string): TokenRecord | null => (TOKENS[t] ? { token: t, ...TOKENS[t]! } : null);
    const oracles = messages.map((m) => classify(parseMessage(m), context('4.3', 'imap', { lookupToken: lookup })));
    expect(r.messages.map((m) => [m.uid, m.serverAction, m.dsnAction])).toEqual([
      [uids[0], 'INJECTION_SUBMITTED', 'failed'],
      [uids[1], 'INCOMPLETE_DSN', 'fa='],
    ]);
    expect(r.messages.map((m) => m.logLine)).toEqual(oracles.map((o) => o.logLine));
  });

  it('UseSSL false: plain port upgraded with STARTTLS, as the server does', async () => {
    await seedMailbox(stack, USER.address, [fixture('thunderbird-reply')]);
    const plist = writePollPlist(stack, { version: '9.2', protocol: 'imap', tls: 'starttls', user: USER });
    const r = await pollCore(plist, { version: '9.2', caFile: stack.ca, stateDir: tokenStateDir(), now: NOW });
    expect(r.mailbox.tls).toBe('starttls');
    expect(r.messages[0]!.serverAction).toBe('INJECTION_SUBMITTED');
  });

  it('without a token store every token is "unchecked"', async () => {
    await seedMailbox(stack, USER.address, [fixture('thunderbird-reply')]);
    const plist = writePollPlist(stack, { version: '9.2', protocol: 'imap', user: USER });
    const r = await pollCore(plist, { version: '9.2', caFile: stack.ca, stateDir: '/nonexistent/imip-state', now: NOW });
    expect(r.tokenStore.records).toBeNull();
    expect(r.messages[0]).toMatchObject({ tokenStatus: 'unchecked', serverAction: 'INJECTION_SUBMITTED' });
  });

  // The server parses the whole calendar part, whatever its size; a 2 MB cap on it (this tool's
  // until it kept 32 MB of a message's calendars) gave a broken 3 MB calendar the verdict of one
  // that parses.
  it('a 3 MB calendar part is read whole and judged, broken or not, plain or base64 in a multipart', async () => {
    const token = '3f2b8c1e-7d4a-4e9b-a6c2-5b1d9e0f7a21';
    const pad = `DESCRIPTION:${'x'.repeat(3 * 1024 * 1024)}\r\n`;
    const good = smallReply(1, token, 'big-good').replace('DTSTAMP:20260302T100000Z\r\n', `DTSTAMP:20260302T100000Z\r\n${pad}`);
    // The broken line is past the first 2 MB: only a calendar read whole shows it.
    const broken = smallReply(2, token, 'big-broken').replace('DTSTAMP:20260302T100000Z\r\n', `DTSTAMP:20260302T100000Z\r\n${pad}DTSTART:notadate\r\n`);
    const [head, cal] = [good.slice(0, good.indexOf('Content-Type:')), good.slice(good.indexOf('\r\n\r\n') + 4)];
    const multipart =
      `${head.replace('bulk-1@', 'bulk-3@')}Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nAccepted.\r\n` +
      `--b\r\nContent-Type: text/calendar; method=REPLY; charset=UTF-8\r\nContent-Transfer-Encoding: base64\r\n\r\n${Buffer.from(cal).toString('base64').replace(/.{76}/g, '$&\r\n')}\r\n--b--\r\n`;
    expect(good.length).toBeGreaterThan(3 * 1024 * 1024);
    await seedMailbox(stack, USER.address, [good, broken, multipart]);
    const plist = writePollPlist(stack, { version: '9.2', protocol: 'imap', user: USER });
    const r = await pollCore(plist, { version: '9.2', caFile: stack.ca, stateDir: tokenStateDir(), now: NOW });
    const [a, b, c] = r.messages;
    for (const row of [a!, b!, c!]) {
      expect(row.findings.map((f) => f.id)).not.toContain('reply.calendar-not-checked');
      expect(row.problems.join('\n')).not.toMatch(/size cap|kept the first/);
    }
    expect(a!.serverAction).toBe('INJECTION_SUBMITTED');
    expect(c!.serverAction).toBe('INJECTION_SUBMITTED');
    // What the server makes of the broken one: its parser raises on the date, deep in the part.
    expect(b!.serverAction).toBe('UNKNOWN_FAILURE');
    expect(b!.findings.find((f) => f.id === 'reply.invalid-icalendar')?.message).toMatch(/notadate/);
  });

  // A window's parts are held until the window is handed over; a big calendar is fetched when its
  // message's turn comes, so a mailbox of big calendars is held one calendar at a time. (Messages
  // past WHOLE_MESSAGE_LIMIT: smaller ones are read whole.)
  it('calendars past 2 MB in messages read by their parts are fetched one message at a time, between small replies, in UID order', async () => {
    const token = '3f2b8c1e-7d4a-4e9b-a6c2-5b1d9e0f7a21';
    const big = (i: number): string => smallReply(i, token, `big-${i}`).replace('DTSTAMP:20260302T100000Z\r\n', `DTSTAMP:20260302T100000Z\r\nDESCRIPTION:${'x'.repeat(WHOLE_MESSAGE_LIMIT + 512 * 1024)}\r\n`);
    const raws = [smallReply(0, token, 'small-0'), big(1), smallReply(2, token, 'small-2'), big(3), big(4), smallReply(5, token, 'small-5')];
    const uids = await seedMailbox(stack, USER.address, raws);
    const plist = writePollPlist(stack, { version: '9.2', protocol: 'imap', user: USER });
    const r = await pollCore(plist, { version: '9.2', caFile: stack.ca, stateDir: tokenStateDir(), now: NOW });
    expect(r.messages.map((m) => [m.uid, m.serverAction])).toEqual(uids.map((uid) => [uid, 'INJECTION_SUBMITTED']));
    expect(r.messages.flatMap((m) => m.findings.map((f) => f.id))).not.toContain('reply.calendar-not-checked');
    for (const i of [1, 3, 4]) expect(r.commands).toContain(`UID FETCH ${uids[i]} (BODY.PEEK[TEXT])`);
    // The small replies are read whole, with their window.
    expect(r.commands.filter((c) => c.includes('(BODY.PEEK[])')).join()).toContain(`${uids[0]}`);
  });

  // A hostile message: 5,000 tiny calendar parts (390 KB) and an attachment that makes it too large
  // to be read whole. The server reads it whole and parses its first calendar; the cycle asks for
  // its parts in several FETCHes (one would be a command line past what Dovecot accepts, 64 KB),
  // and plans them in one pass over the structure.
  it('a large message of 5,000 calendar parts: the verdict, as over POP3, in FETCH commands of bounded length', async () => {
    const attachment = `--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n${`${'A'.repeat(76)}\r\n`.repeat(Math.ceil(WHOLE_MESSAGE_LIMIT / 78))}`;
    const parts = attachment + Array.from({ length: 5000 }, (_, i) => `--b\r\nContent-Type: text/calendar\r\n\r\nBEGIN:VCALENDAR\r\nX-N:${i}\r\nEND:VCALENDAR\r\n`).join('');
    const raw = `Message-ID: <many-parts@remote.test>\r\nFrom: attendee@remote.test\r\nTo: calendar+3f2b8c1e-7d4a-4e9b-a6c2-5b1d9e0f7a21@example.test\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n${parts}--b--\r\n`;
    expect(raw.length).toBeGreaterThan(WHOLE_MESSAGE_LIMIT);
    await seedMailbox(stack, USER.address, [raw]);
    const plist = writePollPlist(stack, { version: '4.3', protocol: 'imap', user: USER });
    const r = await pollCore(plist, { version: '4.3', caFile: stack.ca, stateDir: tokenStateDir(), now: NOW });
    expect(r.error).toBeUndefined();
    const row = r.messages[0]!;
    // As the raw parser (POP3) has it: the first calendar has no component, the server's parse fails.
    const lookup = (t: string): TokenRecord | null => (TOKENS[t] ? { token: t, ...TOKENS[t]! } : null);
    const viaRaw = classify(parseMessage(Buffer.from(raw)), context('4.3', 'imap', { lookupToken: lookup }));
    expect(row.serverAction).toBe(viaRaw.serverAction);
    expect(row.findings.map((f) => f.id)).toEqual(viaRaw.findings.map((f) => f.id));
    expect(row.findings.map((f) => f.id)).toContain('reply.invalid-icalendar');
    const partFetches = r.commands.filter((c) => c.startsWith(`UID FETCH ${row.uid} (BODY.PEEK[`));
    expect(partFetches.length).toBeGreaterThan(1);
  });

  it('one message nested 70 levels deep (multipart and message/rfc822): every message is judged, the session goes on', async () => {
    // The structure FETCH of such a message nests past 64 lists; it once ended the whole read.
    const multipart = (d: number): string =>
      d === 0 ? 'Content-Type: text/plain\r\n\r\nhello\r\n' : `Content-Type: multipart/mixed; boundary="b${d}"\r\n\r\n--b${d}\r\n${multipart(d - 1)}\r\n--b${d}--\r\n`;
    const rfc822 = (d: number): string => (d === 0 ? 'Content-Type: text/plain\r\n\r\nhello\r\n' : `Content-Type: message/rfc822\r\n\r\nFrom: a@b\r\nSubject: s${d}\r\n${rfc822(d - 1)}`);
    const head = (id: string) => `Message-ID: <${id}@remote.test>\r\nFrom: attendee@remote.test\r\nTo: calendar+3f2b8c1e-7d4a-4e9b-a6c2-5b1d9e0f7a21@example.test\r\nMIME-Version: 1.0\r\n`;
    const token = Object.keys(TOKENS)[0]!;
    await seedMailbox(stack, USER.address, [smallReply(1, token, 'deep-1'), head('deep-mp') + multipart(70), head('deep-rfc') + rfc822(200), smallReply(2, token, 'deep-2')]);
    const plist = writePollPlist(stack, { version: '4.3', protocol: 'imap', user: USER });
    const r = await pollCore(plist, { version: '4.3', caFile: stack.ca, stateDir: tokenStateDir(), now: NOW });
    expect(r.error).toBeUndefined();
    expect(r.messages.map((m) => m.serverAction)).toEqual(['INJECTION_SUBMITTED', 'REPLY_FORWARDED_TO_ORGANIZER', 'REPLY_FORWARDED_TO_ORGANIZER', 'INJECTION_SUBMITTED']);
  });

  it('a calendar part past the 32 MB the cycle keeps of a message: not judged, and the row says so with a warning', async () => {
    const token = '3f2b8c1e-7d4a-4e9b-a6c2-5b1d9e0f7a21';
    const big = smallReply(1, token, 'big-calendar').replace('DTSTAMP:20260302T100000Z\r\n', `DTSTAMP:20260302T100000Z\r\nDESCRIPTION:${'x'.repeat(33 * 1024 * 1024)}\r\n`);
    await seedMailbox(stack, USER.address, [big]);
    const plist = writePollPlist(stack, { version: '9.2', protocol: 'imap', user: USER });
    const r = await pollCore(plist, { version: '9.2', caFile: stack.ca, stateDir: tokenStateDir(), now: NOW });
    const row = r.messages[0]!;
    expect(row.findings.map((f) => [f.id, f.severity])).toContainEqual(['reply.calendar-not-checked', 'warning']);
    expect(row.problems).toContain('calendar part (message) was cut at the size cap; calendar checks skipped');
    // The cycle fetched no more of it than it keeps (32 MB, plus the base64 margin it allows).
    expect(r.stats.bytesIn).toBeLessThan(33 * 1024 * 1024);
  });

  it('a 50 MB message: the verdict comes from the calendar part; the attachment is never fetched', async () => {
    const token = '3f2b8c1e-7d4a-4e9b-a6c2-5b1d9e0f7a21';
    await seedMailbox(stack, USER.address, [Buffer.concat([...bigMessage(token)])]);
    const plist = writePollPlist(stack, { version: '9.2', protocol: 'imap', user: USER });
    const r = await pollCore(plist, { version: '9.2', caFile: stack.ca, stateDir: tokenStateDir(), now: NOW });
    expect(r.messages[0]).toMatchObject({ serverAction: 'INJECTION_SUBMITTED', tokenStatus: 'known' });
    expect(r.messages[0]!.size).toBeGreaterThan(50 * 1024 * 1024);
    expect(r.stats.bytesIn).toBeLessThan(64 * 1024);
  });

  it('many messages: no round trip per message', async () => {
    const token = '3f2b8c1e-7d4a-4e9b-a6c2-5b1d9e0f7a21';
    const n = 600;
    await seedMailbox(stack, USER.address, Array.from({ length: n }, (_, i) => (i % 3 === 0 ? fixture('human-reply') : smallReply(i, token, TOKENS[token]!.uid))));
    const plist = writePollPlist(stack, { version: '4.3', protocol: 'imap', user: USER });
    const r = await pollCore(plist, { version: '4.3', caFile: stack.ca, stateDir: tokenStateDir(), now: NOW });
    expect(r.messages).toHaveLength(n);
    expect(r.summary.byServerAction.INJECTION_SUBMITTED).toBe(n - n / 3);
    // The SEARCH, then per window of READ_WINDOW messages one structure FETCH and one body FETCH per
    // group of equal part lists, pipelined: at most two waits per window, whatever the message count.
    expect(r.stats.roundTrips).toBeLessThanOrEqual(1 + 2 * Math.ceil(n / READ_WINDOW));
    expect(r.stats.roundTrips).toBeLessThan(n / 50);
  });

  // The reader borrows imapflow's connection for its own pipelined FETCH. Where it cannot (an
  // imapflow whose internals changed, a compressed connection), it reads through imapflow's own
  // FETCH instead: the same rows, message for message, and the mailbox untouched.
  it.each(['4.3', '7.0'])('read through imapflow when the connection cannot be borrowed: the same rows on %s', async (release) => {
    const token = '3f2b8c1e-7d4a-4e9b-a6c2-5b1d9e0f7a21';
    // Two calendars past 2 MB (one broken past its first 2 MB), fetched on their own in both.
    const big = (i: number, extra: string): string => smallReply(i, token, `big-${i}`).replace('DTSTAMP:20260302T100000Z\r\n', `DTSTAMP:20260302T100000Z\r\nDESCRIPTION:${'x'.repeat(3 * 1024 * 1024)}\r\n${extra}`);
    await seedMailbox(stack, USER.address, [...CASES.map((c) => fixture(c.fixture)), big(900, ''), big(901, 'DTSTART:notadate\r\n'), ...Array.from({ length: READ_WINDOW + 5 }, (_, i) => smallReply(i, token, TOKENS[token]!.uid))]);
    const before = await snapshot();
    const plist = writePollPlist(stack, { version: release, protocol: 'imap', user: USER });
    const run = (): Promise<PollReport> => pollCore(plist, { version: release, caFile: stack.ca, stateDir: tokenStateDir(), now: NOW });
    const borrowed = await run();
    const borrow = vi.spyOn(RawSession, 'borrow').mockReturnValue(null);
    let viaFlow: PollReport;
    try {
      viaFlow = await run();
      expect(borrow).toHaveBeenCalled();
    } finally {
      borrow.mockRestore();
    }
    expect(viaFlow.error).toBeUndefined();
    expect(viaFlow.messages).toHaveLength(CASES.length + 2 + READ_WINDOW + 5);
    expect(viaFlow.messages).toEqual(borrowed.messages);
    expect(viaFlow.messages.filter((m) => m.findings.some((f) => f.id === 'reply.invalid-icalendar' && /notadate/.test(f.message)))).toHaveLength(1);
    expect(viaFlow.summary).toEqual(borrowed.summary);
    expect(await snapshot()).toEqual(before);
  });

  // Dovecot describes at most 100 levels of nested parts, and the deeper ones as one opaque part;
  // Calendar Server fetches the whole message and parses about 935 levels. Such a message is
  // fetched whole (BODY.PEEK[]) and parsed by the tool, in the pipelined read and through imapflow.
  it('malformed MIME, small or large: the verdict is the one Python\'s parse gives, not the IMAP server\'s structure', async () => {
    // Shapes where Dovecot's BODYSTRUCTURE and Python 2.7's email package (which the server runs
    // on the whole message it fetched, IMAP4DownloadProtocol.cbGotMessage) see different parts.
    // Each verdict must equal the raw parser's, which test/oracle/email-parse.test.ts holds to
    // Python 2.7's own answers.
    const token = '3f2b8c1e-7d4a-4e9b-a6c2-5b1d9e0f7a21';
    const reply = smallReply(7, token, TOKENS[token]!.uid);
    const [head, calendarPart] = [reply.slice(0, reply.indexOf('Content-Type:')), reply.slice(reply.indexOf('Content-Type:'))];
    const calendar = calendarPart.slice(calendarPart.indexOf('\r\n\r\n') + 4);
    const multipart = (contentType: string, boundary: string, partType = 'text/calendar; method=REPLY'): string =>
      `${head}Content-Type: ${contentType}\r\n\r\n--${boundary}\r\nContent-Type: text/plain\r\n\r\nAccepted\r\n--${boundary}\r\nContent-Type: ${partType}\r\n\r\n${calendar}--${boundary}--\r\n`;
    const cases: Array<[string, string]> = [
      // Python ends the header block at a line that is not a header: To and Content-Type after it are body.
      ['a line without a colon in the header block', reply.replace('Subject:', 'Not a header line\r\nSubject:')],
      // Python cuts the type at the semicolon and keeps the spaces: "multipart / mixed" is no multipart.
      ['spaces around the slash of the type', multipart('multipart / mixed; boundary="b1"', 'b1')],
      // Python's get_param takes the first boundary; the parts are delimited by the second.
      ['two boundary parameters', multipart('multipart/mixed; boundary="b1"; boundary="b2"', 'b2')],
      // Python strips the angle brackets (collapse_rfc2231_value/unquote).
      ['a boundary in angle brackets', multipart('multipart/mixed; boundary=<b3>', 'b3')],
      // Python compares the transfer encoding as written: "base64 " is not decoded.
      ['Content-Transfer-Encoding "base64 "', `${head}Content-Type: text/calendar; method=REPLY\r\nContent-Transfer-Encoding: base64 \r\n\r\n${Buffer.from(calendar).toString('base64')}\r\n`],
    ];
    // The same shapes in messages too large to be read whole: read by their structure, their
    // header blocks are checked, and the ones Python reads otherwise are read whole after all.
    const attachment = (boundary: string): string =>
      `--${boundary}\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n${`${'A'.repeat(76)}\r\n`.repeat(Math.ceil((WHOLE_MESSAGE_LIMIT + 65536) / 78))}`;
    const large = (top: string, boundary: string, calendarHeaders = 'Content-Type: text/calendar; method=REPLY', body = calendar): string =>
      `${head}${top}\r\n\r\n${attachment(boundary)}--${boundary}\r\n${calendarHeaders}\r\n\r\n${body}--${boundary}--\r\n`;
    cases.push(
      ['large: a line without a colon before the Content-Type', large('Not a header line\r\nContent-Type: multipart/mixed; boundary="L1"', 'L1')],
      ['large: spaces around the slash of the type', large('Content-Type: multipart / mixed; boundary="L2"', 'L2')],
      ['large: two boundary parameters', large('Content-Type: multipart/mixed; boundary="X2"; boundary="L3"', 'L3')],
      ['large: a boundary in angle brackets', large('Content-Type: multipart/mixed; boundary=<L4>', 'L4')],
      ['large: a calendar part whose encoding is "base64 "', large('Content-Type: multipart/mixed; boundary="L5"', 'L5', 'Content-Type: text/calendar; method=REPLY\r\nContent-Transfer-Encoding: base64 ', `${Buffer.from(calendar).toString('base64')}\r\n`)],
      ['large and well-formed', large('Content-Type: multipart/mixed; boundary="L6"', 'L6')],
    );
    for (const [what, raw] of cases) if (what.startsWith('large')) expect(raw.length, what).toBeGreaterThan(WHOLE_MESSAGE_LIMIT);
    await seedMailbox(stack, USER.address, cases.map(([, raw]) => Buffer.from(raw, 'latin1')));
    const before = await snapshot();
    for (const release of ['4.3', '9.2']) {
      const plist = writePollPlist(stack, { version: release, protocol: 'imap', user: USER });
      const report = await pollCore(plist, { version: release, caFile: stack.ca, stateDir: tokenStateDir(), now: NOW });
      expect(report.messages).toHaveLength(cases.length);
      report.messages.forEach((m, i) => {
        const [what, raw] = cases[i]!;
        const oracle = classify(parseMessage(Buffer.from(raw, 'latin1')), context(release, 'imap', { lookupToken: (t) => (TOKENS[t] ? { token: t, ...TOKENS[t]! } : null) }));
        expect({ what, release, action: m.serverAction, logLine: m.logLine, findings: m.findings.map((f) => f.id).filter((id) => id !== 'message.stops-cycle') }).toEqual({
          what,
          release,
          action: oracle.serverAction,
          logLine: oracle.logLine,
          findings: oracle.findings.map((f) => f.id).filter((id) => id !== 'message.stops-cycle'),
        });
      });
      // Python finds the calendar only where it strips the angle brackets from the boundary (and
      // in the well-formed message).
      expect(report.messages.map((m) => m.serverAction === 'INJECTION_SUBMITTED')).toEqual([false, false, false, true, false, false, false, false, true, false, true]);
      // The same verdicts through imapflow's own FETCH (when the connection cannot be borrowed).
      const borrow = vi.spyOn(RawSession, 'borrow').mockReturnValue(null);
      try {
        const viaFlow = await pollCore(plist, { version: release, caFile: stack.ca, stateDir: tokenStateDir(), now: NOW });
        expect(viaFlow.messages.map((m) => [m.serverAction, m.logLine])).toEqual(report.messages.map((m) => [m.serverAction, m.logLine]));
      } finally {
        borrow.mockRestore();
      }
    }
    expect(await snapshot()).toEqual(before);
  });

  it('parts nested past what the server describes: fetched whole and judged as the server parses them, large or small', async () => {
    const token = '3f2b8c1e-7d4a-4e9b-a6c2-5b1d9e0f7a21';
    // An attachment beside the calendar makes the message too large to be read whole for its
    // size: it is read whole because its structure may be cut short.
    const attachment = `--a\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n${`${'A'.repeat(76)}\r\n`.repeat(Math.ceil((WHOLE_MESSAGE_LIMIT + 65536) / 78))}`;
    const nested = (depth: number, large = false): string => {
      const reply = smallReply(depth, token, TOKENS[token]!.uid);
      const [head, calendar] = [reply.slice(0, reply.indexOf('Content-Type:')), reply.slice(reply.indexOf('Content-Type:'))];
      let body = large ? `Content-Type: multipart/mixed; boundary="a"\r\n\r\n--a\r\n${calendar}${attachment}--a--\r\n` : calendar;
      for (let i = 0; i < depth; i++) body = `Content-Type: multipart/mixed; boundary="n${i}"\r\n\r\n--n${i}\r\n${body}\r\n--n${i}--\r\n`;
      return head + body;
    };
    const raws = [nested(150, true), nested(936), smallReply(1, token, TOKENS[token]!.uid)];
    expect(raws[0]!.length).toBeGreaterThan(WHOLE_MESSAGE_LIMIT);
    const uids = await seedMailbox(stack, USER.address, raws);
    const before = await snapshot();
    const plist = writePollPlist(stack, { version: '9.2', protocol: 'imap', user: USER });
    const run = (): Promise<PollReport> => pollCore(plist, { version: '9.2', caFile: stack.ca, stateDir: tokenStateDir(), now: NOW });
    const rows = (r: PollReport): string[] => r.messages.map((m) => `${m.serverAction} ${m.findings.map((f) => f.id).join(',')}`.trim());
    const expected = ['INJECTION_SUBMITTED', 'UNKNOWN_FAILURE message.nested-too-deep', 'INJECTION_SUBMITTED'];
    const borrowed = await run();
    expect(rows(borrowed)).toEqual(expected);
    // The large one read whole on its own, as the server reads it: Dovecot's structure stops at
    // 100 levels.
    expect(borrowed.commands).toContain(`UID FETCH ${uids[0]} (BODY.PEEK[]) (its structure may be cut short: the message is parsed whole)`);
    const borrow = vi.spyOn(RawSession, 'borrow').mockReturnValue(null);
    try {
      expect(rows(await run())).toEqual(expected);
    } finally {
      borrow.mockRestore();
    }
    expect(await snapshot()).toEqual(before);
  });

  it('the connection is cut mid-cycle: a partial report that says so, the mailbox untouched', async () => {
    const token = '3f2b8c1e-7d4a-4e9b-a6c2-5b1d9e0f7a21';
    await seedMailbox(stack, USER.address, Array.from({ length: 1200 }, (_, i) => smallReply(i, token, TOKENS[token]!.uid)));
    const before = await snapshot();
    const proxy = await new CutProxy({ host: stack.host, port: stack.ports.imaps }).start();
    proxy.cutAfterBytes = 150_000;
    try {
      const plist = writePollPlist(stack, { version: '9.2', protocol: 'imap', user: USER, changes: [['Scheduling.iMIP.Receiving.Port', proxy.port]] });
      const r = await pollCore(plist, { version: '9.2', caFile: stack.ca, stateDir: tokenStateDir(), now: NOW });
      expect(r.error).toMatch(/IMAP session ended early after \d+ messages/);
      expect(r.messages.length).toBeLessThan(1200);
      // Not "0 of 0": the mailbox held 1,200 messages when it was opened.
      expect(r.stats).toMatchObject({ exists: 1200, selected: r.messages.length });
      const { renderFoot } = await import('../../src/poll/render.js');
      const { Chalk } = await import('chalk');
      const foot = renderFoot(r, new Chalk({ level: 0 }), { verbose: false, quiet: false }).join('\n');
      expect(foot).toContain(`${r.messages.length} of 1200 messages read before the session ended`);
      expect(foot).not.toMatch(/round trips|KiB received|no message to read/);
    } finally {
      await proxy.close();
    }
    expect(await snapshot()).toEqual(before);
  });
});

describe('imip poll (the command)', () => {
  it('prints the documented JSON document and exits 1 when a message would not be injected', async () => {
    await seedMailbox(stack, USER.address, [fixture('thunderbird-reply'), fixture('reply-to-bare-address')]);
    const plist = writePollPlist(stack, { version: '9.2', protocol: 'imap', user: USER });
    const r = await runCli(['poll', '--once', '--json', '--config', plist, '--server-version', '9.2', '--ca-file', stack.ca, '--state-dir', tokenStateDir()]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(1);
    const doc = jsonOf(r);
    expect(doc).toMatchObject({ command: 'poll', serverVersion: { version: '9.2', line: '5.0+' }, protocol: 'imap' });
    expect(Object.keys(doc)).toEqual(expect.arrayContaining(['command', 'serverVersion', 'protocol', 'messages', 'summary']));
    const m: PollMessage = doc.messages[0];
    expect(Object.keys(m)).toEqual(
      expect.arrayContaining(['uid', 'date', 'from', 'to', 'messageId', 'token', 'tokenStatus', 'serverAction', 'mailboxEffect', 'findings']),
    );
    expect(doc.summary.byServerAction).toMatchObject({ INJECTION_SUBMITTED: 1, NO_TOKEN: 1 });
    expect(r.stdout).not.toContain(USER.password);
  });

  it("judges every fixture without loading imapflow's optional packages (logger, proxy, MIME decoding)", async () => {
    await seedMailbox(stack, USER.address, CASES.map((c) => fixture(c.fixture)));
    const plist = writePollPlist(stack, { version: '4.3', protocol: 'imap', user: USER });
    const trace = join(tempDir(), 'trace');
    const r = await runCli(['poll', '--once', '--json', '--config', plist, '--server-version', '4.3', '--ca-file', stack.ca, '--state-dir', tokenStateDir()], {
      env: { IMIP_TRACE_FILE: trace },
      nodeArgs: ['--import', TRACE],
    });
    expect(r.stderr).toBe('');
    const doc = jsonOf(r);
    expect(doc.messages.map((m: PollMessage) => m.serverAction)).toEqual(CASES.map((c) => c.by?.['4.3'] ?? c.action));
    const packages = new Set(readFileSync(trace, 'utf8').split('\n').flatMap((u) => /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(u)?.[1] ?? []));
    expect(packages.has('imapflow')).toBe(true);
    expect([...DEFERRED_DEPENDENCIES.keys()].map((d) => d.split('/').slice(0, d.startsWith('@') ? 2 : 1).join('/')).filter((d) => packages.has(d))).toEqual([]);
  });

  it('human output: a table row per message and the summary line; exit 0 when all are injected', async () => {
    await seedMailbox(stack, USER.address, [fixture('thunderbird-reply')]);
    const plist = writePollPlist(stack, { version: '9.2', protocol: 'imap', user: USER });
    const r = await runCli(['poll', '--once', '--config', plist, '--server-version', '9.2', '--ca-file', stack.ca, '--state-dir', tokenStateDir()]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/UID\s+Date\s+From/);
    expect(r.stdout).toMatch(/INJECTION_SUBMITTED\s+deleted/);
    expect(r.stdout.trim().split('\n').pop()).toBe('1 message: 1 INJECTION_SUBMITTED');
    expect(r.stderr).toBe('');
    const q = await runCli(['poll', '--once', '--quiet', '--config', plist, '--server-version', '9.2', '--ca-file', stack.ca, '--state-dir', tokenStateDir()]);
    expect(q.stdout.trim()).toBe('1 message: 1 INJECTION_SUBMITTED');
  });

  it('human output with colour: escape sequences in a reply\'s headers are shown as text, only the colours are real', async () => {
    const hostile = Buffer.from(
      fixture('thunderbird-reply')
        .toString('latin1')
        .replace(/^From: .*$/m, 'From: "Mallory\x1b]0;owned\x07" <attendee\x1b[8m@remote.test>')
        .replace(/^Message-ID: .*$/im, 'Message-ID: <x\x1b[2J\r@remote.test>'),
      'latin1',
    );
    await seedMailbox(stack, USER.address, [hostile]);
    const plist = writePollPlist(stack, { version: '9.2', protocol: 'imap', user: USER });
    const r = await runCli(['poll', '--once', '--verbose', '--config', plist, '--server-version', '9.2', '--ca-file', stack.ca, '--state-dir', tokenStateDir()], { env: { FORCE_COLOR: '1' } });
    expect(foreignControls(r.stdout + r.stderr)).toEqual([]);
    expect(hasColour(r.stdout)).toBe(true);
    // The tool's own colours stay colours: its title is not shown as escapes.
    expect(r.stdout.startsWith('\x1b[1mimip poll --once\x1b[22m')).toBe(true);
    // The bare CR ends the header line, as in Python's parser: the escape before it is shown as text.
    expect(r.stdout).toContain('<x\\x1b[2J');
  });

  it('poll alone is poll --once (the config as a positional argument); --apply on 5.0+ is exit 2 with the reason', async () => {
    const plist = writePollPlist(stack, { version: '9.2', protocol: 'imap', user: USER });
    const a = await runCli(['poll', plist, '--ca-file', stack.ca, '--no-color']);
    const once = await runCli(['poll', '--once', '--config', plist, '--ca-file', stack.ca, '--no-color']);
    expect(a.stderr).toBe('');
    expect(a.code).toBe(once.code);
    expect(a.stdout.split('\n').slice(0, 3)).toEqual(once.stdout.split('\n').slice(0, 3));
    const b = await runCli(['poll', '--once', '--apply', '--config', plist, '--server-version', '9.2', '--ca-file', stack.ca]);
    expect(b.code).toBe(2);
    expect(b.stderr).toMatch(/--apply is for Calendar Server 2\.x–4\.x.*in-process/s);
  });

  it('a wrong password is a problem found (exit 1, mailbox.login-failed) with the server\'s answer, never the password', async () => {
    const plist = writePollPlist(stack, { version: '9.2', protocol: 'imap', user: { address: USER.address, password: 'wrong-Secret-123' } });
    const r = await runCli(['poll', '--once', '--config', plist, '--ca-file', stack.ca, '--no-color']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('mailbox.login-failed');
    expect(r.stdout).toMatch(/AUTHENTICATIONFAILED|Authentication failed/i);
    expect(r.stdout).toContain('No message was read: the mailbox could not be opened');
    expect(r.stdout + r.stderr).not.toContain('wrong-Secret-123');
  });
});
