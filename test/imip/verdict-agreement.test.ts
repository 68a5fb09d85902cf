/**
 * Every finding agrees with the verdict of its own message (issue: "findings contradict the
 * verdicts"). One test per contradiction that was found:
 *   1. mail to the bare address is NO_TOKEN, yet reply.no-calendar said the server forwards it;
 *   2. in --wait-reply, a reply recognised by its event UID and Subject also got token.absent
 *      with "not an answer to an invitation from this server… delete it";
 *   3. with METHOD missing, reply.not-reply's fix said the attendee forwarded the invitation (the
 *      scheduler refuses such a calendar: reply.scheduler-refuses now says so).
 */
import { describe, expect, it } from 'vitest';
import { classify, needsBody } from '../../src/imip/classify.js';
import { buildInvitation, newToken } from '../../src/imip/invitation.js';
import { parseMessage } from '../../src/imip/mime.js';
import { parseServerVersion } from '../../src/server/release.js';
import { judge, recognise, type ReplyTarget } from '../../src/send/reply-match.js';
import { RELEASES, context } from './message-fixtures.js';

const parse = (raw: string) => parseMessage(Buffer.from(raw.replace(/\r?\n/g, '\r\n'), 'utf8'), needsBody);

const handWritten = (to: string) => `Message-ID: <hand-1@remote.test>
Date: Mon, 2 Mar 2026 09:50:00 +0000
From: Attendee Person <attendee@remote.test>
To: ${to}
Subject: Re: lunch?
MIME-Version: 1.0
Content-Type: text/plain; charset=UTF-8

Sounds good, see you there.
`;

describe('findings agree with the verdict beside them', () => {
  it('1. a hand-written mail to the bare address: NO_TOKEN, and reply.no-calendar does not claim it is forwarded', () => {
    for (const release of RELEASES) {
      for (const protocol of ['imap', 'pop3'] as const) {
        const v = classify(parse(handWritten('Organizer <calendar@example.test>')), context(release, protocol));
        expect(v.serverAction).toBe('NO_TOKEN');
        for (const f of v.findings) {
          expect(`${f.message} ${f.fix}`).not.toMatch(/forwards (it|this mail)|forwarded to the organizer by mail|treats it as a human reply and forwards/);
        }
        const noCal = v.findings.find((f) => f.id === 'reply.no-calendar')!;
        expect(noCal.message).toMatch(/not forwarded to the organizer/);
        expect(noCal.severity).toBe('info');
      }
    }
  });

  it('1b. with a token the server knows, the same mail is forwarded (3.0+), and the finding says so', () => {
    const token = '0b7c9bd5-6b71-4ac4-bd1b-40b0e37dc0cc';
    const v = classify(parse(handWritten(`calendar+${token}@example.test`)), context('9.2', 'imap', { lookupToken: (t) => (t === token ? { token, organizer: 'mailto:organizer@example.test', attendee: 'mailto:attendee@remote.test', uid: 'x' } : null) }));
    expect(v.serverAction).toBe('REPLY_FORWARDED_TO_ORGANIZER');
    expect(v.findings.find((f) => f.id === 'reply.no-calendar')?.message).toMatch(/forwards it to the organizer/);
  });

  it('1c. a token failure makes what the calendar rules describe a note, not a second problem', () => {
    const noMethod = `Message-ID: <x-2@remote.test>
Date: Mon, 2 Mar 2026 09:50:00 +0000
From: attendee@remote.test
To: calendar@example.test
Subject: Accepted
MIME-Version: 1.0
Content-Type: text/calendar; charset=UTF-8

BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//x//x//EN
BEGIN:VEVENT
UID:abc
DTSTAMP:20260302T091500Z
ATTENDEE;PARTSTAT=ACCEPTED:mailto:attendee@remote.test
END:VEVENT
END:VCALENDAR
`;
    const v = classify(parse(noMethod), context('9.2', 'imap'));
    expect(v.serverAction).toBe('NO_TOKEN');
    const refused = v.findings.find((f) => f.id === 'reply.scheduler-refuses')!;
    expect(refused.severity).toBe('info');
    expect(refused.message).toMatch(/^Not reached this time \(the server found no token/);
  });

  it('2. --wait-reply: a reply recognised by event UID and Subject is never told it is "not an answer… delete it"', () => {
    const token = newToken();
    const start = new Date('2031-03-04T10:00:00Z');
    const inv = buildInvitation({
      sendingAddress: 'Calendar <calendar@example.test>',
      attendee: 'alice@example.test',
      summary: 'quarterly review',
      start,
      durationMinutes: 30,
      timeZone: 'UTC',
      token,
      version: parseServerVersion('9.2'),
      serverHostName: 'cal.example.test',
      now: new Date(),
    });
    const target: ReplyTarget = {
      token,
      plusAddress: inv.plusAddress,
      messageId: inv.messageId,
      uid: inv.uid,
      summary: 'quarterly review',
      attendee: 'alice@example.test',
      record: { token, organizer: 'mailto:calendar@example.test', attendee: 'mailto:alice@example.test', uid: inv.uid },
    };
    // The provider stripped the plus address everywhere, the calendar's ORGANIZER included.
    const raw = `Message-ID: <r-1@example.test>
Date: ${new Date().toUTCString()}
From: alice@example.test
To: calendar@example.test
Subject: Accepted: quarterly review
MIME-Version: 1.0
Content-Type: text/calendar; method=REPLY; charset=UTF-8

BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//x//x//EN
METHOD:REPLY
BEGIN:VEVENT
UID:${inv.uid}
DTSTAMP:20310302T091500Z
ORGANIZER:mailto:calendar@example.test
ATTENDEE;PARTSTAT=ACCEPTED:mailto:alice@example.test
END:VEVENT
END:VCALENDAR
`;
    const msg = parse(raw);
    const by = recognise(msg, target);
    expect(by).toEqual(expect.arrayContaining(['uid', 'subject']));
    const j = judge(msg, target, { version: parseServerVersion('9.2'), protocol: 'imap', sendingAddress: 'calendar@example.test', deleteAllMail: false, lookupToken: () => null, now: () => new Date() }, false, by);
    expect(j.outcome).toBe('token-missing');
    for (const f of j.causes) {
      expect(f.fix).not.toMatch(/not an answer to an invitation|delete it/);
      expect(f.message).not.toMatch(/not an answer/);
    }
    const absent = j.causes.find((f) => f.id === 'token.absent');
    expect(absent).toBeDefined();
    expect(absent!.message).toMatch(/This is the answer to the test invitation \(recognised by its event UID and its Subject\)/);
  });

  it('3. METHOD missing: reply.not-reply does not say the attendee forwarded the invitation; METHOD:REQUEST does', () => {
    const token = '0b7c9bd5-6b71-4ac4-bd1b-40b0e37dc0cc';
    const lookupToken = (t: string) => (t === token ? { token, organizer: 'mailto:organizer@example.test', attendee: 'mailto:attendee@remote.test', uid: 'abc' } : null);
    const cal = (method: string | null) => `Message-ID: <m-1@remote.test>
Date: Mon, 2 Mar 2026 09:50:00 +0000
From: attendee@remote.test
To: calendar+${token}@example.test
Subject: Accepted
MIME-Version: 1.0
Content-Type: text/calendar; charset=UTF-8${method ? `; method=${method}` : ''}

BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//x//x//EN
${method ? `METHOD:${method}\n` : ''}BEGIN:VEVENT
UID:abc
DTSTAMP:20260302T091500Z
ORGANIZER:mailto:organizer@example.test
ATTENDEE;PARTSTAT=ACCEPTED:mailto:attendee@remote.test
END:VEVENT
END:VCALENDAR
`;
    // Without METHOD the scheduler refuses it (reply.scheduler-refuses), which says so once.
    const none = classify(parse(cal(null)), context('9.2', 'imap', { lookupToken }));
    expect(none.findings.find((x) => x.id === 'reply.not-reply')).toBeUndefined();
    const f = none.findings.find((x) => x.id === 'reply.scheduler-refuses')!;
    expect(f.message).toMatch(/the calendar has no METHOD/);
    expect(f.fix).not.toMatch(/forwarded|sent the invitation back/);
    expect(f.fix).toMatch(/has no iTIP METHOD/);
    const request = classify(parse(cal('REQUEST')), context('9.2', 'imap', { lookupToken }));
    expect(request.findings.find((x) => x.id === 'reply.not-reply')!.fix).toMatch(/sent the invitation back/);
  });
});
