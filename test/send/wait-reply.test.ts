/**
 * `--wait-reply` in parts: which messages answer the invitation (recognise), what the server would
 * make of them (judge, with the classifier `poll` uses), and the read-only mailbox watchers against
 * the real Dovecot (IMAP EXAMINE/BODY.PEEK, POP3 TOP without DELE).
 */
import { randomUUID } from 'node:crypto';
import { ImapFlow } from 'imapflow';
import { describe, expect, it } from 'vitest';
import type { ConnectOptions, ReceivingSettings } from '../../src/config/settings.js';
import { needsBody } from '../../src/imip/classify.js';
import { buildInvitation, newToken } from '../../src/imip/invitation.js';
import { parseMessage } from '../../src/imip/mime.js';
import { parseServerVersion } from '../../src/server/release.js';
import { MailboxError } from '../../src/send/mailbox-error.js';
import { mailboxWatcher } from '../../src/send/mailbox-watcher.js';
import { WHOLE_MESSAGE_LIMIT } from '../../src/mailbox/types.js';
import { judge, recognise, type JudgeContext, type ReplyTarget } from '../../src/send/reply-match.js';
import { waitForReply } from '../../src/send/wait-reply.js';
import { deliver } from '../mailstack/stack.js';
import { getStack } from '../helpers/stack.js';
import { REPLY_TEMPLATES, renderReplyTemplate, replyVars, type ReplyTemplate } from '../fixtures/replies/templates.js';

const SENDING = 'Calendar <calendar@example.test>';

function invitation(summary = 'imip test invitation', release = '9.2') {
  const token = newToken();
  const start = new Date('2031-03-04T10:00:00Z');
  const inv = buildInvitation({
    sendingAddress: SENDING,
    attendee: 'alice@example.test',
    summary,
    start,
    durationMinutes: 30,
    timeZone: 'UTC',
    token,
    version: parseServerVersion(release),
    serverHostName: 'cal.example.test',
    now: new Date(),
  });
  const target: ReplyTarget = {
    token,
    plusAddress: inv.plusAddress,
    messageId: inv.messageId,
    uid: inv.uid,
    summary,
    attendee: 'alice@example.test',
    record: { token, organizer: 'mailto:calendar@example.test', attendee: 'mailto:alice@example.test', uid: inv.uid },
  };
  const vars = (over: Partial<ReturnType<typeof replyVars>> = {}) => ({
    ...replyVars({
      TOKEN: token,
      UID: inv.uid,
      ATTENDEE: 'alice@example.test',
      ORGANIZER: inv.plusAddress,
      ORGANIZER_BARE: 'calendar@example.test',
      SUMMARY: summary,
      IN_REPLY_TO: inv.messageId,
      start,
      end: new Date(start.getTime() + 30 * 60_000),
    }),
    ...over,
  });
  return { inv, target, vars };
}

function ctx(release = '9.2', protocol: 'imap' | 'pop3' = 'imap'): JudgeContext {
  return { version: parseServerVersion(release), protocol, sendingAddress: SENDING, deleteAllMail: false, lookupToken: () => null, now: () => new Date() };
}

const parse = (raw: string) => parseMessage(Buffer.from(raw, 'utf8'), needsBody);

describe('recognise and judge a reply', () => {
  const clients: ReplyTemplate[] = ['thunderbird', 'outlook', 'gmail'];
  for (const client of clients) {
    for (const release of ['2.5', '4.3', '9.2']) {
      it(`${client} is accepted (${release})`, () => {
        const { target, vars } = invitation('imip test invitation', release);
        const msg = parse(renderReplyTemplate(client, vars()));
        expect(recognise(msg, target)).toEqual(expect.arrayContaining(['token', 'uid', 'subject']));
        const j = judge(msg, target, ctx(release));
        expect(j).toMatchObject({ outcome: 'accepted', decisive: true, causes: [] });
        expect(j.verdict).toMatchObject({ serverAction: 'INJECTION_SUBMITTED', token: target.token, tokenStatus: 'known' });
        expect(j.verdict.calendar).toMatchObject({ method: 'REPLY', partstat: 'ACCEPTED' });
        expect(j.verdict.findings.filter((f) => f.severity === 'error')).toEqual([]);
      });
    }
  }

  it('the Outlook reply carries no ORGANIZER: the server adds it (a note, not a problem)', () => {
    const { target, vars } = invitation();
    const j = judge(parse(renderReplyTemplate('outlook', vars())), target, ctx());
    expect(j.verdict.calendar?.organizer).toBeNull();
    expect(j.verdict.findings.map((f) => f.id)).toContain('reply.organizer-missing');
  });

  it('a reply to the bare address: token-missing, the causes from tokenCauses', () => {
    const { target, vars } = invitation();
    const msg = parse(renderReplyTemplate('bare-address', vars()));
    expect(recognise(msg, target)).toEqual(['in-reply-to', 'references', 'uid', 'subject']);
    const j = judge(msg, target, ctx());
    expect(j.outcome).toBe('token-missing');
    expect(j.decisive).toBe(true);
    expect(j.causes.map((c) => c.id)).toEqual(['token.only-in-calendar', 'token.to-bare-address']);
    expect(j.reason).toMatch(/addressed to calendar@example\.test/);
  });

  it('Reply All with someone else first in To: token-missing (not the first recipient)', () => {
    const { target, vars } = invitation();
    const raw = renderReplyTemplate('thunderbird', vars()).replace(/^To: (.*)$/m, 'To: bob@example.test, $1');
    const j = judge(parse(raw), target, ctx());
    expect(j.outcome).toBe('token-missing');
    expect(j.causes.map((c) => c.id)).toContain('token.not-first-recipient');
  });

  it('the +token stripped by a relay, found only in Delivered-To', () => {
    const { target, vars } = invitation();
    const raw = `Delivered-To: ${target.plusAddress}\r\n${renderReplyTemplate('thunderbird', vars({ ORGANIZER: 'calendar@example.test' }))}`;
    const msg = parse(raw);
    expect(recognise(msg, target)).toContain('token-elsewhere');
    expect(judge(msg, target, ctx()).causes.map((c) => c.id)).toContain('token.in-other-header');
  });

  it('a token re-cased by the replying system: token-missing (the lookup is exact)', () => {
    const { target, vars } = invitation();
    const upper = target.plusAddress.replace(target.token, target.token.toUpperCase());
    const j = judge(parse(renderReplyTemplate('gmail', vars({ ORGANIZER: upper }))), target, ctx());
    expect(j.outcome).toBe('token-missing');
    expect(j.causes.map((c) => c.id)).toContain('token.malformed');
  });

  it('a "thanks!" mail without calendar: not accepted, and not decisive (the real answer may follow)', () => {
    const { target, inv } = invitation();
    const raw = [
      'From: Alice Example <alice@example.test>',
      `To: ${inv.plusAddress}`,
      'Subject: Re: Event invitation: imip test invitation',
      `In-Reply-To: ${inv.messageId}`,
      `Message-ID: <${randomUUID()}@remote.example>`,
      'Date: Mon, 3 Mar 2031 09:00:00 +0000',
      'Content-Type: text/plain; charset=utf-8',
      '',
      'Thanks, see you there!',
      '',
    ].join('\r\n');
    const j = judge(parse(raw), target, ctx());
    expect(j).toMatchObject({ outcome: 'not-accepted', decisive: false });
    expect(j.verdict.serverAction).toBe('REPLY_FORWARDED_TO_ORGANIZER');
  });

  it('a reply for another attendee: not accepted (the server puts the attendee back without an answer)', () => {
    const { target, vars } = invitation();
    const raw = renderReplyTemplate('thunderbird', vars({ ATTENDEE: 'mallory@example.test' }));
    const j = judge(parse(raw), target, ctx());
    expect(j.outcome).toBe('not-accepted');
    expect(j.reason).toMatch(/does not answer for mailto:alice@example\.test .*SCHEDULE-STATUS 5\.1 and no PARTSTAT, so the answer is lost/);
    // 2.x adds nothing back (CalendarServer-2.5 mail.py processReply).
    expect(judge(parse(raw), target, ctx('2.5', 'imap')).reason).toMatch(/a 2\.x server injects it without any ATTENDEE/);
  });

  it('a \\Seen reply on 5.1+ IMAP is never read by the server: not accepted; on POP3 it does not matter', () => {
    const { target, vars } = invitation();
    const msg = parse(renderReplyTemplate('thunderbird', vars()));
    const seen = judge(msg, target, ctx('9.2', 'imap'), true);
    expect(seen.outcome).toBe('not-accepted');
    expect(seen.reason).toMatch(/\\Seen/);
    expect(judge(msg, target, ctx('4.3', 'imap'), true).outcome).toBe('accepted');
    expect(judge(msg, target, ctx('9.2', 'pop3')).outcome).toBe('accepted');
  });

  it('the invitation itself, and an answer to an earlier invitation with the same summary, are not answers', () => {
    const { target, inv, vars } = invitation();
    expect(recognise(parse(inv.raw), target)).toEqual([]);
    // The admin sent a test before; its reply arrives late, same summary, its own token and UID.
    const earlier = invitation();
    for (const t of REPLY_TEMPLATES) expect(recognise(parse(renderReplyTemplate(t, earlier.vars())), target)).toEqual([]);
    expect(recognise(parse(renderReplyTemplate('thunderbird', vars({ SUMMARY: 'something else' }))), target)).toEqual(['token', 'uid']);
  });

  it('a plain mail to the bare address with the summary in its Subject: token-missing, not decisive', () => {
    const { target } = invitation();
    const raw = [
      'From: Alice Example <alice@example.test>',
      'To: calendar@example.test',
      'Subject: Re: Event invitation: imip test invitation',
      `Message-ID: <${randomUUID()}@remote.example>`,
      'Date: Mon, 3 Mar 2031 09:00:00 +0000',
      'Content-Type: text/plain; charset=utf-8',
      '',
      'Yes, I will come.',
      '',
    ].join('\r\n');
    const msg = parse(raw);
    expect(recognise(msg, target)).toEqual(['subject']);
    expect(recognise(msg, target, false)).toEqual([]);
    const j = judge(msg, target, ctx());
    expect(j).toMatchObject({ outcome: 'token-missing', decisive: false });
    expect(j.causes.map((c) => c.id)).toContain('token.to-bare-address');
  });

  it('a bounce of the invitation: decisive, reported as a bounce', () => {
    const { target, inv } = invitation();
    const raw = [
      'From: MAILER-DAEMON@example.test (Mail Delivery System)',
      'To: calendar@example.test',
      'Subject: Undelivered Mail Returned to Sender',
      'Message-ID: <bounce.1@example.test>',
      'MIME-Version: 1.0',
      'Content-Type: multipart/report; report-type=delivery-status; boundary="B"',
      '',
      '--B',
      'Content-Type: text/plain',
      '',
      'I am sorry.',
      '--B',
      'Content-Type: message/delivery-status',
      '',
      'Reporting-MTA: dns; example.test',
      '',
      'Final-Recipient: rfc822; alice@example.test',
      'Action: failed',
      'Status: 5.1.1',
      '',
      '--B',
      'Content-Type: message/rfc822',
      '',
      inv.raw,
      '--B--',
      '',
    ].join('\r\n');
    const msg = parse(raw);
    expect(recognise(msg, target)).toContain('uid');
    const j = judge(msg, target, ctx());
    expect(j).toMatchObject({ outcome: 'bounce', decisive: true });
    expect(j.reason).toMatch(/Action: failed/);
  });
});

// ---------------------------------------------------------------------------------------------

function receiving(kind: 'imaps' | 'imap' | 'pop3s' | 'pop3', over: Partial<ReceivingSettings> = {}): ReceivingSettings {
  const info = getStack();
  const cal = info.users.find((u) => u.local === 'calendar')!;
  const m = {
    imaps: { port: info.ports.imaps, useSSL: true, protocol: 'imap' as const },
    imap: { port: info.ports.imap, useSSL: false, protocol: 'imap' as const },
    pop3s: { port: info.ports.pop3s, useSSL: true, protocol: 'pop3' as const },
    pop3: { port: info.ports.pop3, useSSL: false, protocol: 'pop3' as const },
  }[kind];
  return { server: info.host, port: m.port, useSSL: m.useSSL, type: m.protocol === 'pop3' ? 'pop' : 'imap', protocol: m.protocol, username: cal.address, password: cal.password, pollingSeconds: 30, ...over };
}

const connect: () => ConnectOptions = () => ({ timeoutMs: 5000, ca: getStack().caPem, insecure: false });

async function flags(messageId: string): Promise<string[] | null> {
  const info = getStack();
  const cal = info.users.find((u) => u.local === 'calendar')!;
  const client = new ImapFlow({ host: info.host, port: info.ports.imaps, secure: true, auth: { user: cal.address, pass: cal.password }, tls: { ca: [info.caPem] }, logger: false });
  client.on('error', () => undefined);
  await client.connect();
  try {
    await client.mailboxOpen('INBOX', { readOnly: true });
    const uids = (await client.search({ header: { 'message-id': messageId } }, { uid: true })) || [];
    if (!uids.length) return null;
    const m = await client.fetchOne(String(uids[0]), { uid: true, flags: true }, { uid: true });
    return m ? [...(m.flags ?? [])].filter((f) => f !== '\\Recent') : null;
  } finally {
    await client.logout().catch(() => undefined);
  }
}

describe.concurrent('the watchers on the real mailbox (read-only)', () => {
  for (const kind of ['imaps', 'imap', 'pop3s', 'pop3'] as const) {
    it(`${kind}: older mail is ignored, the new reply is found and judged, nothing is flagged or deleted`, async () => {
      const { target, vars } = invitation(`imip watcher ${randomUUID().slice(0, 8)}`);
      const info = getStack();
      // A reply that is already there before the watch starts: not looked at (the token is new).
      const early = vars();
      await deliver(info, { from: 'alice@example.test', to: [target.plusAddress], raw: renderReplyTemplate('thunderbird', early) });
      const watcher = mailboxWatcher(receiving(kind), connect());
      await watcher.start();
      expect(watcher.tls).toBe(kind.endsWith('s') ? 'implicit' : 'starttls');
      const late = vars();
      const seen: string[] = [];
      const waiting = waitForReply(watcher, target, ctx('9.2', watcher.protocol), { seconds: 15, intervalMs: 300, onMessage: (m) => seen.push(m.messageId ?? '') });
      await deliver(info, { from: 'alice@example.test', to: [target.plusAddress], raw: renderReplyTemplate('outlook', late) });
      const report = await waiting.finally(() => watcher.close());
      expect(report).toMatchObject({ outcome: 'accepted', partstat: 'ACCEPTED', error: null, bounced: false });
      expect(report.message?.messageId).toBe(`<${late.MESSAGE_ID}>`);
      expect(seen).not.toContain(`<${early.MESSAGE_ID}>`);
      expect(report.waitedSeconds).toBeLessThan(10);
      for (const id of [early.MESSAGE_ID, late.MESSAGE_ID]) expect(await flags(`<${id}>`)).toEqual([]);
    });
  }

  it('IMAP, a reply too large to read whole whose type Python reads otherwise: read whole after all, and judged as the server judges it', async () => {
    const { target, vars } = invitation(`imip large ${randomUUID().slice(0, 8)}`);
    const v = vars();
    const template = renderReplyTemplate('thunderbird', v).replace(/\r?\n/g, '\r\n');
    const calendar = template.slice(template.indexOf('BEGIN:VCALENDAR'), template.indexOf('END:VCALENDAR') + 'END:VCALENDAR\r\n'.length);
    const attachment = `${'A'.repeat(76)}\r\n`.repeat(Math.ceil((WHOLE_MESSAGE_LIMIT + 65536) / 78));
    // Python keeps the spaces around the slash: "multipart / mixed" is no multipart to the server,
    // which finds no calendar. Dovecot's structure has the multipart and its calendar, and the
    // reply would pass for accepted.
    const raw =
      `Message-ID: <${v.MESSAGE_ID}>\r\nFrom: alice@example.test\r\nTo: ${target.plusAddress}\r\nSubject: Accepted: ${target.summary}\r\nMIME-Version: 1.0\r\n` +
      `Content-Type: multipart / mixed; boundary="LB"\r\n\r\n--LB\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n${attachment}` +
      `--LB\r\nContent-Type: text/calendar; method=REPLY; charset=UTF-8\r\n\r\n${calendar}--LB--\r\n`;
    expect(raw.length).toBeGreaterThan(WHOLE_MESSAGE_LIMIT);
    const watcher = mailboxWatcher(receiving('imaps'), connect());
    await watcher.start();
    const waiting = waitForReply(watcher, target, ctx(), { seconds: 20, intervalMs: 300 });
    await deliver(getStack(), { from: 'alice@example.test', to: [target.plusAddress], raw });
    const report = await waiting.finally(() => watcher.close());
    expect(report).toMatchObject({ outcome: 'not-accepted', serverAction: 'REPLY_FORWARDED_TO_ORGANIZER' });
  });

  it('IMAP IDLE wakes the watch as soon as the reply lands', async () => {
    const { target, vars } = invitation(`imip idle ${randomUUID().slice(0, 8)}`);
    const watcher = mailboxWatcher(receiving('imaps'), connect());
    await watcher.start();
    const waiting = waitForReply(watcher, target, ctx(), { seconds: 20, intervalMs: 10_000 });
    await new Promise((r) => setTimeout(r, 300));
    const t0 = Date.now();
    await deliver(getStack(), { from: 'alice@example.test', to: [target.plusAddress], raw: renderReplyTemplate('gmail', vars()) });
    const report = await waiting.finally(() => watcher.close());
    expect(report.outcome).toBe('accepted');
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it('nothing arrives: no-reply after the time given', async () => {
    const { target } = invitation(`imip nothing ${randomUUID().slice(0, 8)}`);
    const watcher = mailboxWatcher(receiving('pop3s'), connect());
    await watcher.start();
    const report = await waitForReply(watcher, target, ctx('9.2', 'pop3'), { seconds: 1, intervalMs: 300 }).finally(() => watcher.close());
    expect(report).toMatchObject({ outcome: 'no-reply', message: null, error: null });
    expect(report.waitedSeconds).toBeGreaterThanOrEqual(1);
  });

  it('a wrong password: a MailboxError without the password', async () => {
    const wrong = 'Wrong-pw-7713-mailbox';
    for (const kind of ['imaps', 'pop3s'] as const) {
      const watcher = mailboxWatcher(receiving(kind, { password: wrong }), connect());
      const err = await watcher.start().then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(MailboxError);
      expect((err as MailboxError).message).toMatch(/refused the login as "calendar@example\.test"/);
      expect(JSON.stringify({ m: (err as Error).message, h: (err as MailboxError).hint })).not.toContain(wrong);
      await watcher.close();
    }
  });

  it('a Receiving.Type the server does not read: no watcher', () => {
    expect(() => mailboxWatcher(receiving('imaps', { type: 'exchange', protocol: null }), connect())).toThrow(MailboxError);
  });
});

it('every reply template fills all its placeholders', () => {
  const { vars } = invitation();
  for (const t of REPLY_TEMPLATES) expect(renderReplyTemplate(t, vars())).not.toMatch(/\{\{/);
});
