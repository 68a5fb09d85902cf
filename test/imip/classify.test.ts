import { describe, expect, it } from 'vitest';
import { classify, MIME_NESTING_LIMIT, neededParts, type ServerAction, type Verdict } from '../../src/imip/classify.js';
import { parseMessage, walkParts } from '../../src/imip/mime.js';
import { COMMENT_NESTING_LIMIT, parseaddr, splitAddressList } from '../../src/server/address.js';
import type { HostZone } from '../../src/server/host-zone.js';
import { REPLY_RULES } from '../../src/imip/reply-checks.js';
import { mailboxOutcome, POLL_POLICY, shouldDeleteAllMail, type MailboxEffect } from '../../src/server/poll-policy.js';
import { context, fixture, lookupToken, NOW, parseFixture, RELEASES, type Release } from './message-fixtures.js';

type Protocol = 'imap' | 'pop3';

/** What each release's IMAP or POP3 poll does with an action, for the expectations below. */
function effect(release: Release, protocol: Protocol, action: ServerAction): MailboxEffect {
  if (['2.5', '4.3', '5.0'].includes(release)) return 'deleted';
  if (action === 'INJECTION_SUBMITTED') return 'deleted';
  if (protocol === 'pop3') return 'left-reread-every-poll';
  if (release === '5.1') return 'left-seen';
  if (action === 'UNKNOWN_TOKEN') return 'seen-removed';
  if (action === 'UNKNOWN_TOKEN_OLD') return 'deleted';
  return 'left-seen';
}

interface Row {
  fixture: string;
  action: ServerAction;
  /** Releases where the action differs. */
  actionBy?: Partial<Record<Release, ServerAction>>;
  findings: string[];
  /** Releases where the findings differ. */
  findingsBy?: Partial<Record<Release, string[]>>;
  dsn?: boolean;
  token?: 'known' | 'unknown' | 'unchecked';
}

const TABLE: Row[] = [
  { fixture: 'thunderbird-reply', action: 'INJECTION_SUBMITTED', findings: [], token: 'known' },
  { fixture: 'outlook-reply', action: 'INJECTION_SUBMITTED', findings: [], token: 'known' },
  { fixture: 'outlook-reply-no-organizer', action: 'INJECTION_SUBMITTED', findings: ['reply.organizer-missing'] },
  { fixture: 'gmail-reply', action: 'INJECTION_SUBMITTED', findings: ['reply.valarm'] },
  { fixture: 'apple-mail-reply', action: 'INJECTION_SUBMITTED', findings: ['reply.method-missing'] },
  { fixture: 'iphone-reply', action: 'INJECTION_SUBMITTED', findings: [] },
  { fixture: 'reply-all-other-first', action: 'NO_TOKEN', findings: [], token: 'unchecked' },
  { fixture: 'reply-to-bare-address', action: 'NO_TOKEN', findings: [] },
  {
    fixture: 'human-reply',
    action: 'REPLY_FORWARDED_TO_ORGANIZER',
    // 5.0-6.0 fail in the forward itself (CalendarServer-5.0..6.0 inbound.py processReply).
    actionBy: { '2.5': 'NO_ORGANIZER_ADDRESS', '5.0': 'UNKNOWN_FAILURE', '5.1': 'UNKNOWN_FAILURE' },
    findings: ['reply.no-calendar'],
  },
  {
    fixture: 'winmail-reply',
    action: 'REPLY_FORWARDED_TO_ORGANIZER',
    // 5.0-6.0 fail in the forward itself (CalendarServer-5.0..6.0 inbound.py processReply).
    actionBy: { '2.5': 'NO_ORGANIZER_ADDRESS', '5.0': 'UNKNOWN_FAILURE', '5.1': 'UNKNOWN_FAILURE' },
    findings: ['reply.tnef', 'reply.no-calendar'],
  },
  { fixture: 'dsn-with-invitation', action: 'INJECTION_SUBMITTED', findings: [], dsn: true, token: 'known' },
  { fixture: 'dsn-without-original', action: 'INCOMPLETE_DSN', findings: [], dsn: true },
  { fixture: 'broken-mime', action: 'INJECTION_SUBMITTED', findings: [] },
  { fixture: 'unparsable-calendar', action: 'UNKNOWN_FAILURE', findings: ['reply.invalid-icalendar'] },
  { fixture: 'non-utf8-calendar', action: 'UNKNOWN_FAILURE', findings: ['reply.invalid-icalendar'] },
  // Incorrect base64 padding: Python 2's get_payload hands over the text undecoded.
  { fixture: 'base64-bad-padding', action: 'UNKNOWN_FAILURE', findings: ['reply.invalid-icalendar'] },
  // `Content-Transfer-Encoding: base64 ` (trailing space) is not base64 to Python: undecoded too.
  { fixture: 'cte-trailing-space', action: 'UNKNOWN_FAILURE', findings: ['reply.invalid-icalendar'] },
  // x-uuencode: Python 2's get_payload decodes it with the uu module, so the reply goes through.
  { fixture: 'uuencode-calendar', action: 'INJECTION_SUBMITTED', findings: [], token: 'known' },
  { fixture: 'token-in-delivered-to-only', action: 'MALFORMED_TO_ADDRESS', findings: [] },
  { fixture: 'token-uppercase', action: 'UNKNOWN_TOKEN', findings: [], token: 'unknown' },
  { fixture: 'extra-plus', action: 'NO_TOKEN', findings: [] },
  { fixture: 'token-only-in-calendar', action: 'NO_TOKEN', findings: [] },
  {
    fixture: 'not-reply',
    action: 'INJECTION_SUBMITTED',
    findings: ['reply.not-reply', 'reply.attendee-count', 'reply.partstat-missing'],
  },
  { fixture: 'attendee-mismatch', action: 'INJECTION_SUBMITTED', findings: ['reply.attendee-mismatch'] },
  // macOS Calendar accepting a weekly series with one moved occurrence: the master and the
  // override. 3.0-5.0 take one main component and fail (twistedcaldav/ical.py mainComponent).
  {
    fixture: 'recurring-reply-with-exception',
    action: 'INJECTION_SUBMITTED',
    actionBy: { '4.3': 'UNKNOWN_FAILURE', '5.0': 'UNKNOWN_FAILURE' },
    findings: [],
    findingsBy: { '4.3': ['reply.multiple-components'], '5.0': ['reply.multiple-components'] },
    token: 'known',
  },
];

const cases = TABLE.flatMap((row) =>
  RELEASES.flatMap((release) => (['imap', 'pop3'] as const).map((protocol) => ({ ...row, release, protocol }))),
);

const ids = (v: Verdict): string[] => v.findings.map((f) => f.id);

describe('classify: fixture × release × protocol', () => {
  it.each(cases)('$fixture on $release $protocol', ({ fixture: name, release, protocol, action, actionBy, findings: all, findingsBy, dsn, token }) => {
    const findings = findingsBy?.[release] ?? all;
    const v = classify(parseFixture(name), context(release, protocol));
    const expected = actionBy?.[release] ?? action;
    // 5.0+ fail inside the reply's Deferred; on 5.0 IMAP the message then blocks every later poll
    // (CalendarServer-5.0 inbound.py IMAP4DownloadProtocol.cbGotMessage).
    const async = expected === 'UNKNOWN_FAILURE' && !['2.5', '4.3'].includes(release);
    const imap = protocol === 'imap';
    expect(v.serverAction).toBe(expected);
    expect(v.isDsn).toBe(dsn === true);
    if (token) expect(v.tokenStatus).toBe(token);
    if (release === '5.0' && !imap) {
      // 5.0's POP3 reader fails at the greeting (CalendarServer-5.0 inbound.py
      // POP3DownloadProtocol.serverGreeting): the message is never downloaded, nothing is logged.
      expect([v.read, v.mailboxEffect, v.stopsCycle, v.logLine, v.logLines]).toEqual([false, 'never-read', false, '', []]);
      expect(ids(v)).toEqual(findings);
      return;
    }
    const asyncEffect = release === '5.0' ? 'left-blocks-every-poll' : imap ? 'left-seen' : 'left-reread-every-poll';
    expect(v.mailboxEffect).toBe(async ? asyncEffect : effect(release, protocol, expected));
    expect(v.stopsCycle).toBe(async && imap);
    const cycle = async && imap ? [release === '5.0' ? 'message.blocks-cycle' : 'message.stops-cycle'] : [];
    expect(ids(v)).toEqual([...cycle, ...findings]);
    expect(v.read).toBe(true);
    expect(v.logLine).toBe(v.logLines[v.logLines.length - 1]!.text);
  });
});

describe('verdict details', () => {
  it('reads the headers as the server logs them', () => {
    const v = classify(parseFixture('outlook-reply'), context('9.2', 'imap'));
    expect(v.to).toBe('calendar+9a7e4c2d-1b3f-4d8e-9c6a-2e5f7b8d1c43@example.test');
    expect(v.toHeader).toBe(
      '"calendar+9a7e4c2d-1b3f-4d8e-9c6a-2e5f7b8d1c43@example.test" <calendar+9a7e4c2d-1b3f-4d8e-9c6a-2e5f7b8d1c43@example.test>',
    );
    expect(v.token).toBe('9a7e4c2d-1b3f-4d8e-9c6a-2e5f7b8d1c43');
    expect(v.from).toBe('attendee@remote.test');
    expect(v.messageId).toBe('<DB9PR10MB5412A1B2C3D4E5F6A7B8@DB9PR10MB5412.EURPRD10.PROD.OUTLOOK.COM>');
    expect(v.calendar).toEqual({
      method: 'REPLY',
      uid: '6F1C2A3B-4001-4C5D-9E8F-000000000002',
      attendees: ['MAILTO:attendee@remote.test'],
      partstat: 'ACCEPTED',
      organizer: 'MAILTO:calendar+9a7e4c2d-1b3f-4d8e-9c6a-2e5f7b8d1c43@example.test',
    });
    expect(v.calendarPart).toBe('3');
    expect(v.logLines.map((l) => l.text)).toEqual([
      `Mail gateway received message ${v.messageId} from "Person, Attendee" <attendee@remote.test> to ${v.toHeader}`,
      'Successfully injected iMIP response from mailto:attendee@remote.test to mailto:organizer@example.test',
    ]);
  });

  it.each([
    ['thunderbird-reply', '4.3', 'Mail gateway successfully injected message <7e3f1c2a-9b4d-4e8f-a1c6-2d5b8e0f3a7c@remote.test>'],
    [
      'reply-all-other-first',
      '9.2',
      "Mail gateway didn't find a token in message <reply-all-0001@remote.test> (Organizer Person <organizer@example.test>, calendar+2e6a8c0d-4f1b-4a3c-9e5d-7b9f1d3a5c69@example.test)",
    ],
    [
      'token-in-delivered-to-only',
      '9.2',
      "Mail gateway couldn't parse To: address (undisclosed-recipients:;) in message <bcc-0001@remote.test>",
    ],
    ['dsn-without-original', '2.5', "Mail gateway can't process DSN <20260302090500.7D8E9F0A1B@mail.example.test>"],
    [
      'token-uppercase',
      '7.0',
      "Mail gateway found a token (A3C5E7F9-1B2D-4E6F-8A0C-2D4F6B8D0E57) but didn't recognize it in message <uppercase-0001@remote.test>",
    ],
    ['human-reply', '9.2', 'Mail gateway forwarding reply back to organizer'],
    ['human-reply', '3.0', "Mail gateway didn't find an icalendar attachment in message <CAF=human-0001@mail.remote.test>"],
    ['human-reply', '2.5', "Mail gateway didn't find an icalendar attachment in message <CAF=human-0001@mail.remote.test>"],
    [
      'dsn-with-invitation',
      '9.2',
      'Successfully injected iMIP response from mailto:attendee@remote.test to mailto:organizer@example.test',
    ],
    ['outlook-reply-no-organizer', '5.1', 'Successfully injected iMIP response from mailto:attendee@remote.test to mailto:organizer@example.test'],
  ])('log line: %s on %s', (name, release, line) => {
    expect(classify(parseFixture(name), context(release, 'imap')).logLine).toBe(line);
  });

  it('logs the ORGANIZER warning and the DSN processing line', () => {
    const v = classify(parseFixture('outlook-reply-no-organizer'), context('9.2', 'imap'));
    expect(v.logLines.map((l) => l.text)).toContain(
      "Mail gateway didn't find an ORGANIZER in REPLY <DB9PR10MB5412F6E5D4C3B2A19087@DB9PR10MB5412.EURPRD10.PROD.OUTLOOK.COM>",
    );
    const dsn43 = classify(parseFixture('dsn-with-invitation'), context('4.3', 'imap'));
    expect(dsn43.logLines[0]!.text).toBe(
      'Mail gateway processing DSN <20260302090001.4B3C21A0F2@mail.example.test> to server None',
    );
    expect(dsn43.dsnAction).toBe('failed');
    expect(dsn43.token).toBe('b5d7f9a1-2c4e-4a6b-8d0f-3e5a7c9b1d02');
  });

  it('a calendar that fails to parse: Era A/B catch-all, Era C asynchronous failure', () => {
    const a = classify(parseFixture('non-utf8-calendar'), context('4.3', 'imap'));
    expect(a.logLine).toMatch(/^Failed to process message: 'utf8' codec can't decode byte 0xe9 in position \d+: invalid continuation byte$/);
    const c = classify(parseFixture('non-utf8-calendar'), context('9.2', 'imap'));
    expect(c.logLine).toMatch(/^IMAP Error: \[Failure instance: Traceback: <type 'exceptions\.UnicodeDecodeError'>: 'utf8' codec/);
    expect(c.stopsCycle).toBe(true);
    expect(c.findings[0]!.id).toBe('message.stops-cycle');
    expect(c.findings[1]!.message).toMatch(/charset=ISO-8859-1/);
    expect(c.findings[1]!.fix).toMatch(/UTF-8/);
    const pop = classify(parseFixture('unparsable-calendar'), context('9.2', 'pop3', { deleteAllMail: true }));
    expect(pop.mailboxEffect).toBe('left-reread-every-poll');
    // Twisted reports the unhandled failure as two events: the notice, then the traceback, whose
    // last line is the exception's qualified name and str().
    expect(pop.logLines.slice(-2).map((l) => l.text)).toEqual([
      'Unhandled error in Deferred:',
      "twistedcaldav.ical.InvalidICalendarDataError: Invalid property: 'invalid literal for int() with base 10: '3-'': DTSTAMP:2026-03-02T10:20:00Z",
    ]);
    // A built-in exception is qualified by Python 2's `exceptions` module.
    expect(classify(parseFixture('non-utf8-calendar'), context('9.2', 'pop3')).logLine).toMatch(/^exceptions\.UnicodeDecodeError: 'utf8' codec can't decode byte 0xe9 in position \d+: invalid continuation byte$/);
  });

  it('a built-in exception is written with its Python 2 module: exceptions.TypeError (Twisted reflect.qual)', () => {
    // 7.0+: a Date without a zone is naive, and comparing it with the aware "now" raises TypeError.
    const raw = fixture('thunderbird-reply').toString('latin1').replace(/^Date: .*$/m, 'Date: Mon, 2 Mar 2026 10:00:00');
    const unknown = (protocol: Protocol): Verdict => classify(parseMessage(Buffer.from(raw, 'latin1')), context('9.2', protocol, { lookupToken: () => null }));
    expect(unknown('imap').logLine).toBe("IMAP Error: [Failure instance: Traceback: <type 'exceptions.TypeError'>: can't compare offset-naive and offset-aware datetimes");
    expect(unknown('pop3').logLines.slice(-2).map((l) => l.text)).toEqual(['Unhandled error in Deferred:', "exceptions.TypeError: can't compare offset-naive and offset-aware datetimes"]);
  });

  it("the calendar parser is the release's own: what one line does differs between 5.x and 6.0", () => {
    // A line with no colon: PyCalendar (3.x-5.x) raises "Invalid property"; pycalendar 6.0+
    // takes it as a property without a value; ical.js, standing in for 2.x's vobject, refuses it.
    const raw = fixture('thunderbird-reply').toString('latin1').replace(/^SUMMARY:.*$/m, 'Thanks, see you there');
    const on = (release: Release): Verdict => classify(parseMessage(Buffer.from(raw, 'latin1')), context(release, 'imap'));
    expect(on('5.0').serverAction).toBe('UNKNOWN_FAILURE');
    expect(on('5.0').logLine).toBe('twistedcaldav.ical.InvalidICalendarDataError: Invalid property: Thanks, see you there');
    expect(on('4.3').notes[0]).toMatch(/pycalendar/);
    expect(on('9.2').serverAction).toBe('INJECTION_SUBMITTED');
    expect(on('2.5').serverAction).toBe('UNKNOWN_FAILURE');
    // A calendar without VERSION parses in ical.js but not in pycalendar, on every release from 3.0.
    const noVersion = fixture('thunderbird-reply').toString('latin1').replace(/^VERSION:2\.0\r?\n/m, '');
    for (const release of ['4.3', '5.0', '9.2'] as const) {
      const v = classify(parseMessage(Buffer.from(noVersion, 'latin1')), context(release, 'imap'));
      expect([v.serverAction, v.logLine.replace(/^.*: iCalendar/, 'iCalendar')], release).toEqual(['UNKNOWN_FAILURE', 'iCalendar missing VERSION']);
    }
  });

  it("sanitizeCalendar (7.0+) fails on two METHODs, and from 8.0 on a METHOD that is not text", () => {
    // CalendarServer-7.0..9.2 inbound.py sanitizeCalendar: getProperty("METHOD") raises on two
    // (twistedcaldav/ical.py Component.getProperty); 8.0+ calls .upper() on METHOD's value.
    const reply = fixture('thunderbird-reply').toString('latin1');
    const twoMethods = reply.replace(/^METHOD:REPLY\r?\n/m, (m) => `${m}METHOD:REPLY\r\n`);
    const intMethod = reply.replace(/^METHOD:REPLY$/m, 'METHOD;VALUE=INTEGER:1');
    const on = (raw: string, release: string): Verdict => classify(parseMessage(Buffer.from(raw, 'latin1')), context(release, 'imap'));
    expect(on(twoMethods, '5.1').serverAction).toBe('INJECTION_SUBMITTED');
    for (const release of ['7.0', '9.2']) {
      const v = on(twoMethods, release);
      expect([v.serverAction, v.logLine], release).toEqual(['UNKNOWN_FAILURE', "IMAP Error: [Failure instance: Traceback: <class 'twistedcaldav.ical.InvalidICalendarDataError'>: More than one METHOD property in component <Component: …>"]);
      expect(v.notes.join(' '), release).toMatch(/2 METHOD properties: sanitizeCalendar/);
    }
    expect(on(intMethod, '7.0').serverAction).toBe('INJECTION_SUBMITTED');
    for (const release of ['8.0', '9.2']) {
      const v = on(intMethod, release);
      expect([v.serverAction, v.logLine], release).toEqual(['UNKNOWN_FAILURE', "IMAP Error: [Failure instance: Traceback: <type 'exceptions.AttributeError'>: 'int' object has no attribute 'upper'"]);
    }
    expect(on(reply.replace(/^METHOD:REPLY$/m, 'METHOD;VALUE=DATE:20260302'), '9.2').logLine).toBe("IMAP Error: [Failure instance: Traceback: <type 'exceptions.AttributeError'>: 'DateTime' object has no attribute 'upper'");
    // Text-like values (URI, an unregistered BOOLEAN) have upper(): nothing raises.
    expect(on(reply.replace(/^METHOD:REPLY$/m, 'METHOD;VALUE=URI:REPLY'), '9.2').serverAction).toBe('INJECTION_SUBMITTED');
    expect(on(reply.replace(/^METHOD:REPLY$/m, 'METHOD;VALUE=BOOLEAN:REPLY'), '9.2').serverAction).toBe('INJECTION_SUBMITTED');
  });

  it('a reply with a changed occurrence: 3.0 to 5.0 fail in mainComponent(), 5.1 and later take the master', () => {
    // CalendarServer-3.0..5.0 twistedcaldav/ical.py mainComponent(allow_multiple=False) raises
    // InvalidICalendarDataError; processReply calls it (3.x-4.x mail.py, 5.0 inbound.py). 5.1+
    // return the master, else the first override; 2.x's processReply never calls it.
    const raw = fixture('recurring-reply-with-exception');
    const on = (release: string, protocol: Protocol = 'imap'): Verdict => classify(parseMessage(raw), context(release, protocol));
    expect(on('3.0').logLine).toBe('Failed to process message: Calendar contains more than one primary component: <Component: …>');
    expect(on('4.3', 'pop3').serverAction).toBe('UNKNOWN_FAILURE');
    expect(on('5.0').logLines.slice(-2).map((l) => l.text)).toEqual(['Unhandled error in Deferred:', 'twistedcaldav.ical.InvalidICalendarDataError: Calendar contains more than one primary component: <Component: …>']);
    expect(on('5.0').notes.join(' ')).toMatch(/2 VEVENT components \(1 with RECURRENCE-ID\): 5\.0 takes the reply's one main component/);
    const finding = on('4.3').findings.find((f) => f.id === 'reply.multiple-components')!;
    expect(finding.severity).toBe('error');
    expect(finding.message).toMatch(/^The calendar has 2 VEVENT components, 1 of them for a changed occurrence \(RECURRENCE-ID\): an answer for a repeating event\. Calendar Server 4\.3 takes one main component/);
    for (const release of ['2.5', '5.1', '9.2']) {
      const v = on(release);
      expect([v.serverAction, ids(v)], release).toEqual(['INJECTION_SUBMITTED', []]);
    }
    // The row shows the master's answer, as 5.1 and later take it, even when the override comes first.
    const text = raw.toString('latin1');
    const start = text.indexOf('.ics\r\n\r\n') + 8;
    const end = text.indexOf('\r\n--Apple-Mail=', start);
    const body = Buffer.from(text.slice(start, end), 'base64').toString('utf8');
    const [head, master, override, tail] = body.split(/(?=BEGIN:VEVENT)|(?<=END:VEVENT\r\n)(?!BEGIN:VEVENT)|(?<=END:VEVENT\r\n)(?=BEGIN:VEVENT)/);
    expect([master, override].map((c) => c!.includes('RECURRENCE-ID'))).toEqual([false, true]);
    const swapped = head! + override!.replace('PARTSTAT=ACCEPTED', 'PARTSTAT=DECLINED') + master! + tail!;
    const reordered = text.slice(0, start) + Buffer.from(swapped).toString('base64') + text.slice(end);
    const v = classify(parseMessage(Buffer.from(reordered, 'latin1')), context('9.2', 'imap'));
    expect(v.serverAction).toBe('INJECTION_SUBMITTED');
    expect(v.calendar?.partstat).toBe('ACCEPTED');
  });

  it('5.1+: the attendee goes back only when the first component has none, and onto the master', () => {
    // CalendarServer-5.1..9.2 processReply: `if not calendar.getAttendees()` reads the first
    // component; the attendee is added to `event` (mainComponent(): the master). The organizer's
    // side takes nothing from a component without exactly one ATTENDEE (itip.py updateAttendeeData).
    const raw = fixture('recurring-reply-with-exception').toString('latin1');
    const start = raw.indexOf('.ics\r\n\r\n') + 8;
    const end = raw.indexOf('\r\n--Apple-Mail=', start);
    const body = Buffer.from(raw.slice(start, end), 'base64').toString('utf8');
    const [head, master, override, tail] = body.split(/(?=BEGIN:VEVENT)|(?<=END:VEVENT\r\n)(?!BEGIN:VEVENT)|(?<=END:VEVENT\r\n)(?=BEGIN:VEVENT)/);
    const alias = (c: string): string => c.replace(/(ATTENDEE[^:\r\n]*(?:\r\n [^\r\n]*)*:mailto:)[^\r\n]+/, '$1someone.else@remote.test');
    const verdictOf = (cal: string, release = '9.2'): Verdict => classify(parseMessage(Buffer.from(raw.slice(0, start) + Buffer.from(cal).toString('base64') + raw.slice(end), 'latin1')), context(release, 'imap'));
    const mismatch = (v: Verdict): string => v.findings.find((f) => f.id === 'reply.attendee-mismatch')?.message ?? '';
    expect(alias(override!)).not.toBe(override);

    // The master (first) keeps the attendee, the override does not: nothing is added back.
    const overrideOnly = verdictOf(head! + master! + alias(override!) + tail!);
    expect(overrideOnly.serverAction).toBe('INJECTION_SUBMITTED');
    expect(mismatch(overrideOnly)).toMatch(/adds one back only when the first component has none, so this occurrence reaches the organizer without an ATTENDEE and its answer is lost/);
    expect(mismatch(overrideOnly)).toMatch(/There must be one and only one ATTENDEE property in a REPLY/);
    // The master (first and main) has none: it gets the attendee back, without an answer.
    expect(mismatch(verdictOf(head! + alias(master!) + override! + tail!))).toMatch(/adds mailto:\S+ back with SCHEDULE-STATUS=5\.1 and no PARTSTAT, so the attendee's answer is lost/);
    // The override comes first and has none; the master keeps its own: the attendee goes onto the master a second time.
    expect(mismatch(verdictOf(head! + alias(override!) + master! + tail!))).toMatch(/adds mailto:\S+ to the master instead, which then has it twice: neither the master nor this occurrence has exactly one ATTENDEE/);
    // 3.0-5.0 never get this far with two components.
    expect(mismatch(verdictOf(head! + master! + alias(override!) + tail!, '4.3'))).toMatch(/fails on a calendar with more than one component before it looks at ATTENDEEs/);
  });

  it('a calendar with no main component parses from 3.0; the server fails when it adds the ORGANIZER', () => {
    // CalendarServer-3.0..9.2 processReply: mainComponent() is None, getOrganizerProperty() None,
    // then event.addProperty(...) raises AttributeError.
    const reply = fixture('thunderbird-reply').toString('latin1');
    const empty = reply.replace(/BEGIN:VEVENT[\s\S]*?END:VEVENT\r?\n/g, '');
    const on = (release: string): Verdict => classify(parseMessage(Buffer.from(empty, 'latin1')), context(release, 'imap'));
    expect(on('4.3').logLines.map((l) => l.text).slice(1)).toEqual([
      `Mail gateway didn't find an ORGANIZER in REPLY ${on('4.3').messageId}`,
      "Failed to process message: 'NoneType' object has no attribute 'addProperty'",
    ]);
    const v = on('9.2');
    expect([v.serverAction, v.logLine]).toEqual(['UNKNOWN_FAILURE', "IMAP Error: [Failure instance: Traceback: <type 'exceptions.AttributeError'>: 'NoneType' object has no attribute 'addProperty'"]);
    expect(v.findings.find((f) => f.id === 'reply.invalid-icalendar')!.message).toMatch(/^The calendar has no VEVENT, VTODO or other main component\. Calendar Server parses it/);
    expect(v.calendar).toMatchObject({ method: 'REPLY', uid: null, partstat: null });
  });

  it('2.x posts a calendar with no main component to the inbox, which refuses it; the mail is deleted', () => {
    // CalendarServer-2.5 mail.py processReply: getOrganizerProperty() is None, so the ORGANIZER
    // goes onto the VCALENDAR and injectMessage POSTs it; scheduler.py checkCalendarData answers
    // 403, which injectMessage's errback logs.
    const reply = fixture('thunderbird-reply').toString('latin1');
    const empty = reply.replace(/BEGIN:VEVENT[\s\S]*?END:VEVENT\r?\n/g, '');
    const v = classify(parseMessage(Buffer.from(empty, 'latin1')), context('2.5', 'imap'));
    expect(v.serverAction).toBe('INJECTION_SUBMITTED');
    expect(v.logLines.slice(1)).toEqual([
      { level: 'warn', text: `Mail gateway didn't find an ORGANIZER in REPLY ${v.messageId}` },
      { level: 'error', text: `Mail gateway failed to inject message ${v.messageId} (Reason: 403 Forbidden)` },
    ]);
    expect(v.mailboxEffect).toBe('deleted');
    const finding = v.findings.find((f) => f.id === 'reply.invalid-icalendar')!;
    expect(finding.message).toMatch(/^The calendar has no VEVENT, VTODO or other main component\. Calendar Server 2\.5 reads it, adds the ORGANIZER to the calendar itself and posts it to the organizer's inbox, which refuses it/);
    expect(finding.evidence).toMatchObject({ components: 0, timezones: 0 });
    // With a VTIMEZONE the inbox takes it past its calendar checks: no answer is claimed.
    const tz = empty.replace(/END:VCALENDAR/, 'BEGIN:VTIMEZONE\r\nTZID:Europe/Paris\r\nBEGIN:STANDARD\r\nDTSTART:19701025T030000\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\nEND:VCALENDAR');
    const withTz = classify(parseMessage(Buffer.from(tz, 'latin1')), context('2.5', 'imap'));
    expect(withTz.serverAction).toBe('INJECTION_SUBMITTED');
    expect(withTz.logLines.slice(1).map((l) => l.text)).toEqual([`Mail gateway didn't find an ORGANIZER in REPLY ${withTz.messageId}`]);
    expect(withTz.notes.join(' ')).toMatch(/with only a VTIMEZONE in it, what the calendar server then does with it is not modelled/);
  });

  it('X-CALENDARSERVER-PERUSER is not a main component from 3.0, as twistedcaldav ignores it', () => {
    const reply = fixture('thunderbird-reply').toString('latin1');
    const first = reply.indexOf('END:VCALENDAR');
    const peruser = reply.slice(0, first) + 'BEGIN:X-CALENDARSERVER-PERUSER\r\nUID:x\r\nEND:X-CALENDARSERVER-PERUSER\r\n' + reply.slice(first);
    const v = classify(parseMessage(Buffer.from(peruser, 'latin1')), context('4.3', 'imap'));
    expect([v.serverAction, ids(v)]).toEqual(['INJECTION_SUBMITTED', []]);
    const other = peruser.replace(/X-CALENDARSERVER-PERUSER/g, 'X-OTHER');
    expect(classify(parseMessage(Buffer.from(other, 'latin1')), context('4.3', 'imap')).serverAction).toBe('UNKNOWN_FAILURE');
  });

  it('base64 with incorrect padding: the server parses the undecoded text, and the row says why', () => {
    // Python 2's get_payload(decode=True) returns the payload as it is when binascii raises
    // "Incorrect padding" (Python 2.7 email/message.py Message.get_payload). The fixture is
    // outlook-reply with one base64 character more at the end.
    expect(classify(parseFixture('outlook-reply'), context('4.3', 'imap')).serverAction).toBe('INJECTION_SUBMITTED');
    const parsed = parseFixture('base64-bad-padding');
    expect(parsed.problems).toContain("part 3: its base64 has incorrect padding, so the server's Python (get_payload) takes it undecoded");
    const v = classify(parsed, context('4.3', 'imap'));
    expect(v.logLine).toMatch(/^Failed to process message: iCalendar data not recognized: QkVHSU46VkNBTEVOREFS/);
    expect(v.findings.find((f) => f.id === 'reply.invalid-icalendar')!.message).toMatch(/^The calendar does not parse: its base64 has incorrect padding, so Calendar Server's Python takes the part as it is, undecoded/);
    expect(classify(parsed, context('9.2', 'imap')).stopsCycle).toBe(true);
  });

  it('a calendar that does not parse: what the poll then does is said once, by the message\'s own finding, not again in the fix', () => {
    for (const [release, cycle] of [['9.2', 'message.stops-cycle'], ['5.1', 'message.stops-cycle'], ['5.0', 'message.blocks-cycle']] as const) {
      const v = classify(parseFixture('unparsable-calendar'), context(release, 'imap'));
      expect(ids(v), release).toEqual([cycle, 'reply.invalid-icalendar']);
      const fix = v.findings.find((f) => f.id === 'reply.invalid-icalendar')!.fix;
      expect(fix, release).toBe('Ask the attendee to answer again from another calendar client.');
      expect(v.findings.filter((f) => /\\Seen|next poll/.test(`${f.message} ${f.fix}`)).length, release).toBeLessThanOrEqual(1);
    }
  });

  it('a uuencoded calendar that raises: every release fails in checkDSN, synchronously, before the token', () => {
    // One data line carries a control character: binascii.a2b_uu raises "Illegal char" twice and
    // get_payload lets it through. checkDSN decodes every text/calendar part, inside inbound()'s
    // catch-all (CalendarServer-2.5 twistedcaldav/mail.py, CalendarServer-9.2 inbound.py).
    const parsed = parseFixture('uuencode-illegal-char');
    expect(parsed.problems).toContain(`part 3: decoding it raises "Illegal char" inside the server's Python (get_payload)`);
    for (const release of RELEASES) {
      for (const protocol of ['imap', 'pop3'] as const) {
        const v = classify(parsed, context(release, protocol));
        const at = `${release} ${protocol}`;
        // 5.0's POP3 reader never logs in: nothing is downloaded, nothing logged.
        const unread = release === '5.0' && protocol === 'pop3';
        expect(v.serverAction, at).toBe('UNKNOWN_FAILURE');
        expect(v.logLines.map((l) => l.text), at).toEqual(unread ? [] : ['Failed to process message: Illegal char']);
        expect(v.token, at).toBeNull();
        expect([v.mailboxEffect, v.stopsCycle], at).toEqual([unread ? 'never-read' : effect(release, protocol, 'UNKNOWN_FAILURE'), false]);
        expect(ids(v), at).toEqual(['reply.undecodable-calendar']);
        expect(v.notes.some((n) => n.includes('5.0 returns no action code')), at).toBe(release === '5.0');
      }
    }
  });

  it('a To header whose comments nest past Python\'s recursion limit: the server fails before the token, never the tool', () => {
    const nested = (n: number) => `${'('.repeat(n)}x${')'.repeat(n)} calendar+9a7e4c2d-1b3f-4d8e-9c6a-2e5f7b8d1c43@example.test`;
    expect(parseaddr(nested(COMMENT_NESTING_LIMIT))).toEqual({ name: 'x', address: 'calendar+9a7e4c2d-1b3f-4d8e-9c6a-2e5f7b8d1c43@example.test' });
    expect(parseaddr(nested(COMMENT_NESTING_LIMIT + 1))).toEqual({ name: '', address: '', raises: 'maximum recursion depth exceeded' });
    // Far past it: still an answer, not a stack overflow of the tool's own.
    expect(splitAddressList(nested(50_000))).toEqual([]);
    const raw = fixture('outlook-reply').toString('latin1').replace(/^To: .*$/m, `To: ${nested(5000)}`);
    for (const [release, effect] of [['4.3', 'deleted'], ['9.2', 'left-seen']] as const) {
      const v = classify(parseMessage(Buffer.from(raw, 'latin1')), context(release, 'imap'));
      expect(v.serverAction, release).toBe('UNKNOWN_FAILURE');
      expect(v.mailboxEffect, release).toBe(effect);
      expect(ids(v)[ids(v).length - 1], release).toBe('message.to-unparsable');
      expect(ids(v), release).not.toContain('reply.no-calendar');
      expect(v.logLines.map((l) => l.text).join('\n'), release).toMatch(/maximum recursion depth exceeded/);
    }
  });

  it('MIME parts nested as deep as Python\'s parser reaches: judged whole; one level more: the server fails before the token', () => {
    // The Outlook reply's header and its calendar, decoded, inside `depth` multiparts.
    const raw = fixture('outlook-reply').toString('latin1');
    const head = raw.slice(0, raw.indexOf('\r\n\r\n')).replace(/^Content-Type:.*(\r\n[ \t].*)*\r\n/im, '').replace(/^Content-Transfer-Encoding:.*\r\n/im, '');
    const parsed = parseFixture('outlook-reply');
    const calendarText = [...parsed.bodies.entries()].find(([p]) => walkParts(parsed.root).find((q) => q.part === p)?.type === 'text/calendar')![1].toString('latin1');
    const calendar = `Content-Type: text/calendar; method=REPLY; charset=UTF-8\r\n\r\n${calendarText}`;
    const nested = (depth: number): Buffer => {
      let body = calendar;
      for (let i = 0; i < depth; i++) body = `Content-Type: multipart/mixed; boundary="b${i}"\r\n\r\n--b${i}\r\n${body}\r\n--b${i}--\r\n`;
      return Buffer.from(`${head}\r\n${body}`, 'latin1');
    };
    const flat = classify(parseMessage(nested(1)), context('9.2', 'imap'));
    expect(flat.serverAction).toBe('INJECTION_SUBMITTED');
    for (const depth of [99, MIME_NESTING_LIMIT]) {
      const v = classify(parseMessage(nested(depth)), context('9.2', 'imap'));
      expect([v.serverAction, v.calendar?.method], `${depth}`).toEqual(['INJECTION_SUBMITTED', 'REPLY']);
      expect(ids(v), `${depth}`).not.toContain('reply.no-calendar');
    }
    for (const [release, effect] of [['4.3', 'deleted'], ['9.2', 'left-seen']] as const) {
      for (const depth of [MIME_NESTING_LIMIT + 1, 5000]) {
        const v = classify(parseMessage(nested(depth)), context(release, 'imap'));
        expect([v.serverAction, v.mailboxEffect, v.token], `${release} ${depth}`).toEqual(['UNKNOWN_FAILURE', effect, null]);
        expect(ids(v), `${release} ${depth}`).toEqual(['message.nested-too-deep']);
        expect(v.logLine).toBe('Failed to process message: maximum recursion depth exceeded');
      }
    }
  });

  it('a calendar whose Content-Transfer-Encoding is "base64 " says why it was not decoded', () => {
    const v = classify(parseFixture('cte-trailing-space'), context('9.2', 'imap'));
    expect(v.findings.find((f) => f.id === 'reply.invalid-icalendar')!.message).toMatch(
      /^The calendar does not parse\. Its Content-Transfer-Encoding is "base64 ": Python compares it as written, white space included, so the part is not decoded as base64, and Calendar Server fails on it as it is: /,
    );
    // A calendar that is not base64 at all keeps the plain sentence.
    expect(classify(parseFixture('unparsable-calendar'), context('9.2', 'imap')).findings.find((f) => f.id === 'reply.invalid-icalendar')!.message).not.toMatch(/Content-Transfer-Encoding/);
  });

  it('a NUL byte inside the token: the server looks up the token with it, as Python keeps it, and does not know it', () => {
    // Python 2.7: email.message_from_string keeps the NUL in the To value and parseaddr keeps it in
    // the address, so the token the server extracts is not the one it issued.
    const raw = fixture('outlook-reply').toString('latin1').replace(/^To: (.*)$/m, (line) => line.replace(/calendar\+9a7e4c2d/g, 'calendar+9a7e\0' + '4c2d'));
    const parsed = parseMessage(Buffer.from(raw, 'latin1'));
    expect(parsed.problems.join()).toMatch(/NUL bytes in the header block \(kept/);
    const v = classify(parsed, context('9.2', 'imap'));
    expect([v.serverAction, v.tokenStatus, v.token]).toEqual(['UNKNOWN_TOKEN', 'unknown', '9a7e\x004c2d-1b3f-4d8e-9c6a-2e5f7b8d1c43']);
    expect(classify(parseFixture('outlook-reply'), context('9.2', 'imap')).serverAction).toBe('INJECTION_SUBMITTED');
  });

  it('a second text/calendar part that raises fails the message too, though the server reads the first', () => {
    const good = fixture('thunderbird-reply').toString('latin1');
    const boundary = /boundary="([^"]+)"/.exec(good)![1]!;
    const broken = `Content-Type: text/calendar; method=REPLY\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\nbegin 644 x.ics\r\n#86\u0001C\r\n\`\r\nend\r\n`;
    const raw = good.replace(`--${boundary}--`, `--${boundary}\r\n${broken}\r\n--${boundary}--`);
    const v = classify(parseMessage(Buffer.from(raw, 'latin1')), context('9.2', 'pop3'));
    expect([v.serverAction, v.logLine]).toEqual(['UNKNOWN_FAILURE', 'Failed to process message: Illegal char']);
    expect(classify(parseFixture('thunderbird-reply'), context('9.2', 'pop3')).serverAction).toBe('INJECTION_SUBMITTED');
  });

  it('7.0+: an unknown token in a mail older than 72 h is UNKNOWN_TOKEN_OLD and deleted (IMAP only)', () => {
    const later = new Date(NOW.getTime() + 4 * 24 * 3600 * 1000);
    const imap = classify(parseFixture('token-uppercase'), context('7.0', 'imap', { now: later }));
    expect([imap.serverAction, imap.mailboxEffect]).toEqual(['UNKNOWN_TOKEN_OLD', 'deleted']);
    const pop = classify(parseFixture('token-uppercase'), context('9.2', 'pop3', { now: later }));
    expect([pop.serverAction, pop.mailboxEffect]).toEqual(['UNKNOWN_TOKEN_OLD', 'left-reread-every-poll']);
    const old51 = classify(parseFixture('token-uppercase'), context('5.1', 'imap', { now: later }));
    expect([old51.serverAction, old51.mailboxEffect]).toEqual(['UNKNOWN_TOKEN', 'left-seen']);
  });

  it('7.0+: an unparsable Date keeps UNKNOWN_TOKEN and logs it', () => {
    // `.` stops before the CR of CRLF, so the line keeps its own CR (a second one would be a bare CR:
    // a line end of its own, as in Python's parser, and an empty line after it).
    const raw = fixture('token-uppercase').toString('latin1').replace(/^Date: .*$/m, 'Date: sometime last week');
    const v = classify(parseMessage(Buffer.from(raw, 'latin1')), context('9.2', 'imap', { now: new Date('2030-01-01') }));
    expect(v.serverAction).toBe('UNKNOWN_TOKEN');
    expect(v.logLine).toBe("Could not parse date in IMIP email 'sometime last week' (Unknown string format)");
  });

  it("7.0+: the Date header read with the dateutil each release pinned (1.5, 2.4.2, 2.6.0)", () => {
    const now = new Date('2026-03-10T12:00:00Z');
    const withDate = (date: string, release: string): Verdict => {
      const raw = fixture('token-uppercase').toString('latin1').replace(/^Date: .*$/m, `Date: ${date}`);
      return classify(parseMessage(Buffer.from(raw, 'latin1')), context(release, 'imap', { now }));
    };
    // dateutil reads "GMT+2" as two hours behind UTC (the POSIX sign): 8 days old either way.
    expect(withDate('Mon, 2 Mar 2026 09:15:00 GMT+2', '9.2').serverAction).toBe('UNKNOWN_TOKEN_OLD');
    // "UT" and "CET" are not zones dateutil knows: a naive datetime, which the comparison refuses.
    for (const zone of ['UT', 'CET']) {
      const v = withDate(`Mon, 9 Mar 2026 09:15:00 ${zone}`, '9.2');
      expect([v.serverAction, v.logLine], zone).toEqual(['UNKNOWN_FAILURE', "IMAP Error: [Failure instance: Traceback: <type 'exceptions.TypeError'>: can't compare offset-naive and offset-aware datetimes"]);
    }
    // A day that does not exist is an exception of the parse: the message is kept.
    expect(withDate('Sun, 29 Feb 2026 09:15:00 +0000', '7.0').logLine).toBe("Could not parse date in IMIP email 'Sun, 29 Feb 2026 09:15:00 +0000' (day is out of range for month)");
    // An empty Date: 2.6.0 refuses it; the older versions give today, naive, and the message fails.
    expect(withDate('', '9.2').serverAction).toBe('UNKNOWN_TOKEN');
    expect(withDate('', '8.0').serverAction).toBe('UNKNOWN_FAILURE');
    expect(withDate('', '7.0').serverAction).toBe('UNKNOWN_FAILURE');
  });

  it("7.0+: a zone name in the Date is the server host's own time when the host uses it (tzlocal)", () => {
    // python-dateutil parser.parse: a name in time.tzname becomes tz.tzlocal(), aware; another
    // name without an offset stays naive and the 72-hour comparison raises.
    const withDate = (date: string, hostZone?: HostZone): Verdict => {
      const raw = fixture('token-uppercase').toString('latin1').replace(/^Date: .*$/m, `Date: ${date}`);
      return classify(parseMessage(Buffer.from(raw, 'latin1')), context('9.2', 'imap', { now: new Date('2026-03-10T12:00:00Z'), ...(hostZone ? { hostZone } : {}) }));
    };
    // A Pacific host: PST is 8 hours behind UTC in March before the change to PDT.
    const pacific: HostZone = { names: ['PST', 'PDT'], source: 'TZ=America/Los_Angeles', offsetAtWall: () => -8 * 3600, wallNow: (now) => new Date(now.getTime() - 8 * 3600e3) };
    expect(withDate('Mon, 2 Mar 2026 09:15:00 PST', pacific).serverAction).toBe('UNKNOWN_TOKEN_OLD');
    // Read as UTC, 06:00 would be 78 hours before "now"; at the host's -8 hours it is 70: kept.
    expect(withDate('Sat, 7 Mar 2026 06:00:00 PST', pacific).serverAction).toBe('UNKNOWN_TOKEN');
    expect(withDate('Sat, 7 Mar 2026 03:00:00 PST', pacific).serverAction).toBe('UNKNOWN_TOKEN_OLD');
    // On a UTC host the same name is unknown: naive, and the message fails; the row says which names count.
    const utc = withDate('Mon, 2 Mar 2026 09:15:00 PST');
    expect(utc.serverAction).toBe('UNKNOWN_FAILURE');
    expect(utc.notes.join(' ')).toMatch(/the server host's own: UTC, from UTC/);
    expect(withDate('Mon, 2 Mar 2026 09:15:00 CET', pacific).notes.join(' ')).toMatch(/the server host's own: PST\/PDT, from TZ=America\/Los_Angeles/);
  });

  it('2.x looks for the attachment before the token: an unknown token without calendar is dropped', () => {
    const none = () => null;
    const v25 = classify(parseFixture('human-reply'), context('2.5', 'imap', { lookupToken: none }));
    expect(v25.serverAction).toBe('NO_ORGANIZER_ADDRESS');
    expect(v25.notes.join()).toMatch(/2\.x/);
    const v43 = classify(parseFixture('human-reply'), context('4.3', 'imap', { lookupToken: none }));
    expect(v43.serverAction).toBe('UNKNOWN_TOKEN');
  });

  it('a token that cannot be checked: unchecked, and the action for a known token', () => {
    const v = classify(parseFixture('iphone-reply'), context('9.2', 'imap', { lookupToken: () => undefined }));
    expect([v.tokenStatus, v.serverAction, v.mailboxEffect]).toEqual(['unchecked', 'INJECTION_SUBMITTED', 'deleted']);
    expect(v.logLine).toBe('Successfully injected iMIP response from <token attendee> to <token organizer>');
    const upper = classify(parseFixture('token-uppercase'), context('9.2', 'imap', { lookupToken: () => undefined }));
    expect([upper.tokenStatus, upper.serverAction]).toEqual(['unknown', 'UNKNOWN_TOKEN']);
  });

  it('a reply without calendar goes to the organizer only when the server has an address for it', () => {
    const urn = (organizerEmail?: string) => (token: string) => {
      const r = lookupToken(token);
      return r && { ...r, organizer: 'urn:x-uid:9F2A1C34-5B6D-4E7F-8091-A2B3C4D5E6F7', ...(organizerEmail ? { organizerEmail } : {}) };
    };
    const without = classify(parseFixture('human-reply'), context('9.2', 'imap', { lookupToken: urn() }));
    expect([without.serverAction, without.logLine]).toEqual([
      'NO_ORGANIZER_ADDRESS',
      "Don't have an email address for the organizer; ignoring reply.",
    ]);
    expect(without.findings[0]!.severity).toBe('error');
    const withMail = classify(parseFixture('human-reply'), context('9.2', 'imap', { lookupToken: urn('organizer@example.test') }));
    expect(withMail.serverAction).toBe('REPLY_FORWARDED_TO_ORGANIZER');
    const v3 = classify(parseFixture('human-reply'), context('3.2', 'imap', { lookupToken: urn('organizer@example.test') }));
    expect(v3.serverAction).toBe('NO_ORGANIZER_ADDRESS');
  });

  it('human reply on POP3 5.1+: read again and forwarded again at every poll', () => {
    const pop = classify(parseFixture('human-reply'), context('9.2', 'pop3'));
    expect(pop.mailboxEffect).toBe('left-reread-every-poll');
    expect(pop.findings[0]).toMatchObject({ id: 'reply.no-calendar', severity: 'error', path: 'message.body' });
    expect(pop.findings[0]!.message).toMatch(/every poll/);
    const imap = classify(parseFixture('human-reply'), context('9.2', 'imap'));
    expect(imap.findings[0]!.severity).toBe('warning');
  });

  it('deleteAllMail (5.1+) deletes what would stay, but not a message whose processing failed', () => {
    const del = classify(parseFixture('extra-plus'), context('9.2', 'imap', { deleteAllMail: true }));
    expect(del.mailboxEffect).toBe('deleted-all-mail');
    const pop = classify(parseFixture('human-reply'), context('7.0', 'pop3', { deleteAllMail: true }));
    expect(pop.mailboxEffect).toBe('deleted-all-mail');
    expect(pop.findings[0]!.severity).toBe('warning');
    const ok = classify(parseFixture('iphone-reply'), context('9.2', 'imap', { deleteAllMail: true }));
    expect(ok.mailboxEffect).toBe('deleted');
    const fail = classify(parseFixture('unparsable-calendar'), context('9.2', 'imap', { deleteAllMail: true }));
    expect([fail.mailboxEffect, fail.stopsCycle]).toEqual(['left-seen', true]);
    const old = classify(parseFixture('extra-plus'), context('4.3', 'imap', { deleteAllMail: true }));
    expect(old.mailboxEffect).toBe('deleted');
  });

  it('IMAP 5.1+ never reads a \\Seen message; earlier releases and POP3 do', () => {
    const seen = classify(parseFixture('thunderbird-reply'), context('9.2', 'imap', { seen: true }));
    expect([seen.read, seen.mailboxEffect, seen.logLine, seen.serverAction]).toEqual([false, 'left-seen', '', 'INJECTION_SUBMITTED']);
    expect(seen.findings[0]!.id).toBe('message.seen');
    expect(classify(parseFixture('thunderbird-reply'), context('5.0', 'imap', { seen: true })).mailboxEffect).toBe('deleted');
    expect(classify(parseFixture('thunderbird-reply'), context('9.2', 'pop3', { seen: true })).read).toBe(true);
  });

  it('POP3 5.0 reads no message at all: never-read, no log line, a note that says why', () => {
    const v = classify(parseFixture('thunderbird-reply'), context('5.0', 'pop3'));
    expect([v.read, v.mailboxEffect, v.logLine, v.serverAction]).toEqual([false, 'never-read', '', 'INJECTION_SUBMITTED']);
    expect(v.findings.map((f) => f.id)).not.toContain('message.seen');
    expect(v.notes.at(-1)).toBe('POP3 5.0 never logs in, so this message is never downloaded; the server action shown is what a POP3 reader that logs in (5.1 and later) would do');
    expect(v.policySource).toMatch(/POP3 reader fails at the server's greeting/);
    expect(classify(parseFixture('thunderbird-reply'), context('5.1', 'pop3')).read).toBe(true);
  });

  it('findings carry evidence with the Message-ID and a fix', () => {
    const v = classify(parseFixture('attendee-mismatch'), context('9.2', 'imap'));
    const f = v.findings[0]!;
    expect(f).toMatchObject({ id: 'reply.attendee-mismatch', severity: 'error', path: 'message.calendar.ATTENDEE' });
    expect(f.evidence).toMatchObject({
      messageId: '<mismatch-0001@remote.test>',
      tokenAttendee: 'mailto:attendee@remote.test',
      attendees: ['mailto:a.person@remote.test'],
    });
    expect(f.fix).toMatch(/attendee@remote\.test/);
    const notReply = classify(parseFixture('not-reply'), context('9.2', 'imap'));
    expect(notReply.findings.map((x) => `${x.id}:${x.severity}`)).toEqual([
      'reply.not-reply:error',
      'reply.attendee-count:warning',
      'reply.partstat-missing:error',
    ]);
  });

  it('From differing from the kept ATTENDEE is a warning', () => {
    const raw = fixture('iphone-reply').toString('latin1').replace(/^From: .*$/m, 'From: Assistant <assistant@remote.test>');
    const v = classify(parseMessage(Buffer.from(raw, 'latin1')), context('9.2', 'imap'));
    expect(v.findings.map((f) => `${f.id}:${f.severity}:${f.path}`)).toEqual(['reply.attendee-mismatch:warning:message.headers.From']);
  });

  it('a calendar without ATTENDEE, UID or PARTSTAT', () => {
    const msg = (event: string) =>
      Buffer.from(
        `To: calendar+3f2b8c1e-7d4a-4e9b-a6c2-5b1d9e0f7a21@example.test\r\nFrom: attendee@remote.test\r\nMessage-ID: <x@y>\r\nContent-Type: text/calendar; method=REPLY\r\n\r\nBEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nMETHOD:REPLY\r\nBEGIN:VEVENT\r\n${event}END:VEVENT\r\nEND:VCALENDAR\r\n`,
      );
    const noAttendee = classify(parseMessage(msg('UID:6F1C2A3B-4000-4C5D-9E8F-000000000001\r\nORGANIZER:mailto:o@x\r\nDTSTAMP:20260302T000000Z\r\n')), context('9.2', 'imap'));
    expect(noAttendee.findings.map((f) => `${f.id}:${f.severity}`)).toEqual(['reply.attendee-count:error']);
    const noUid = classify(parseMessage(msg('ORGANIZER:mailto:o@x\r\nATTENDEE:mailto:attendee@remote.test\r\n')), context('9.2', 'imap'));
    // Without UID (and DTSTAMP) the scheduler's validation refuses it too (scheduler-check.test.ts).
    expect(noUid.findings.map((f) => f.id)).toEqual(['reply.scheduler-refuses', 'reply.partstat-missing', 'reply.uid-missing']);
    const noComponent = classify(parseMessage(Buffer.from(msg('').toString().replace('BEGIN:VEVENT\r\nEND:VEVENT\r\n', ''))), context('9.2', 'imap'));
    expect(noComponent.serverAction).toBe('UNKNOWN_FAILURE');
  });

  it('a calendar body missing from the IMAP fetch is a problem, not a failure', () => {
    const m = parseFixture('gmail-reply');
    const v = classify({ ...m, bodies: new Map() }, context('9.2', 'imap'));
    expect(v.serverAction).toBe('INJECTION_SUBMITTED');
    expect(v.problems.join()).toMatch(/not supplied/);
    expect(neededParts(m.root)).toEqual(['1.3', '2']);
  });

  it('a DSN whose returned calendar has no token, or an unknown one', () => {
    const raw = fixture('dsn-with-invitation').toString('latin1');
    const m = parseFixture('dsn-with-invitation');
    const cal = m.bodies.get('3.2')!.toString();
    const swap = (text: string) => {
      const bodies = new Map(m.bodies);
      bodies.set('3.2', Buffer.from(text));
      return { ...m, bodies };
    };
    const noToken = classify(swap(cal.replaceAll('calendar+b5d7f9a1-2c4e-4a6b-8d0f-3e5a7c9b1d02@', 'calendar@')), context('9.2', 'imap'));
    expect([noToken.serverAction, noToken.logLine]).toEqual(['NO_TOKEN', "Mail gateway can't find token in DSN <20260302090001.4B3C21A0F2@mail.example.test>"]);
    const unknown = classify(m, context('9.2', 'imap', { lookupToken: () => null }));
    expect(unknown.serverAction).toBe('UNKNOWN_TOKEN');
    expect(unknown.mailboxEffect).toBe('seen-removed');
    expect(classify(m, context('4.3', 'imap', { lookupToken: () => null })).logLine).toMatch(/didn't recognize it in DSN </);
    const delayed = classify(parseMessage(Buffer.from(raw.replace('Action: failed', 'Action: delayed'), 'latin1')), context('9.2', 'imap'));
    expect([delayed.serverAction, delayed.dsnAction]).toEqual(['INCOMPLETE_DSN', 'delayed']);
    const noSpace = classify(parseMessage(Buffer.from(raw.replace('Action: failed', 'Action:failed'), 'latin1')), context('9.2', 'imap'));
    expect(noSpace.serverAction).toBe('INJECTION_SUBMITTED');
  });

  it('the ORGANIZER the server takes is the first component\'s only one (twistedcaldav getOrganizerProperty)', () => {
    const raw = fixture('thunderbird-reply').toString('latin1');
    const organizer = /^ORGANIZER.*$/m.exec(raw)![0];
    // Two ORGANIZER lines: getProperty raises, the caller takes none, and the server adds its own.
    const twice = classify(parseMessage(Buffer.from(raw.replace(organizer, `${organizer}\r\n${organizer}`), 'latin1')), context('9.2', 'imap'));
    expect(twice.serverAction).toBe('INJECTION_SUBMITTED');
    expect(twice.logLines.map((l) => l.text).join('\n')).toMatch(/didn't find an ORGANIZER in REPLY/);
    expect(twice.findings.find((f) => f.id === 'reply.organizer-missing')?.message).toMatch(/has 2 ORGANIZER properties, which the server takes as none/);
    const once = classify(parseFixture('thunderbird-reply'), context('9.2', 'imap'));
    expect(once.logLines.map((l) => l.text).join('\n')).not.toMatch(/didn't find an ORGANIZER/);
  });

  it('the ATTENDEE kept is compared as removeAllButOneAttendee compares: the whole value, case aside', () => {
    const raw = fixture('thunderbird-reply').toString('latin1');
    const attendee = /^ATTENDEE.*:(mailto:[^\r\n]+)$/m.exec(raw)!;
    const withValue = (value: string): Verdict => classify(parseMessage(Buffer.from(raw.replace(attendee[1]!, value), 'latin1')), context('9.2', 'imap'));
    expect(withValue(attendee[1]!.toUpperCase()).findings.map((f) => f.id)).not.toContain('reply.attendee-mismatch');
    // Without "mailto:" the value is not the token's attendee: the server removes it and adds its own.
    const bare = withValue(attendee[1]!.replace(/^mailto:/, ''));
    expect(bare.findings.find((f) => f.id === 'reply.attendee-mismatch')?.message).toMatch(/SCHEDULE-STATUS=5\.1/);
  });

  it('the DSN action is the word Python writes back, not the field as sent', () => {
    const raw = fixture('dsn-with-invitation').toString('latin1');
    const dsn = (from: string, to: string, release: Release = '9.2'): Verdict =>
      classify(parseMessage(Buffer.from(raw.replace(from, to), 'latin1')), context(release, 'imap'));
    // A folded value is unfolded when written back: the server processes the report.
    const folded = dsn('Action: failed', 'Action:\r\n failed');
    expect([folded.serverAction, folded.dsnAction]).toEqual(['INJECTION_SUBMITTED', 'failed']);
    // A line that is not a field ends the fields; what follows is written back as it came, CR
    // included, so "failed\r" is not "failed" and the report cannot be processed.
    const afterJunk = dsn('Final-Recipient: rfc822; attendee@remote.test', 'Final-Recipient: rfc822; attendee@remote.test\r\nsee below');
    expect([afterJunk.serverAction, afterJunk.dsnAction, afterJunk.logLine]).toEqual([
      'INCOMPLETE_DSN',
      'failed\r',
      "Mail gateway can't process DSN <20260302090001.4B3C21A0F2@mail.example.test>",
    ]);
    // There, `split(' ')[1]` of a line without a space raises: the message fails on every release.
    for (const release of ['2.5', '4.3', '9.2'] as const) {
      const raises = dsn('Final-Recipient: rfc822; attendee@remote.test\r\nOriginal-Recipient: rfc822;attendee@remote.test\r\nAction: failed', 'Final-Recipient: rfc822; attendee@remote.test\r\nsee below\r\nAction:failed', release);
      expect([raises.serverAction, raises.logLine], release).toEqual(['UNKNOWN_FAILURE', 'Failed to process message: list index out of range']);
      expect(raises.notes.join(' ')).toMatch(/no space in it/);
      expect(raises.mailboxEffect).toBe(effect(release, 'imap', 'UNKNOWN_FAILURE'));
    }
  });
});

describe('poll policy (src/server/poll-policy.ts)', () => {
  it('shouldDeleteAllMail: own server or localhost, and the role account', () => {
    expect(shouldDeleteAllMail('cal.example.test', 'cal.example.test', 'com.apple.calendarserver')).toBe(true);
    expect(shouldDeleteAllMail('cal.example.test', 'localhost', 'com.apple.calendarserver')).toBe(true);
    expect(shouldDeleteAllMail('cal.example.test', 'mail.example.test', 'com.apple.calendarserver')).toBe(false);
    expect(shouldDeleteAllMail('cal.example.test', 'localhost', 'calendar')).toBe(false);
    expect(shouldDeleteAllMail('cal.example.test', 'LOCALHOST', 'com.apple.calendarserver')).toBe(false);
  });

  it('every row names its source', () => {
    for (const era of Object.values(POLL_POLICY)) {
      for (const row of Object.values(era)) {
        expect(row.source).toMatch(/^\d\.\S+ (IMAP|POP3) \((mail\.py \/ )?inbound\.py \w+\)/);
        expect(row.source).not.toMatch(/§|calendarserver-imip/);
      }
    }
  });

  it.each(RELEASES)('%s: every fetched message deleted before 5.1', (release) => {
    const version = context(release, 'imap').version;
    const out = mailboxOutcome({ version, protocol: 'imap', action: 'NO_TOKEN', deleteAllMail: false, asyncFailure: false });
    expect(out.effect).toBe(['2.5', '4.3', '5.0'].includes(release) ? 'deleted' : 'left-seen');
  });

  it('reply rules have unique ids and metadata', () => {
    const rule = REPLY_RULES.map((r) => r.id);
    expect(new Set(rule).size).toBe(rule.length);
    for (const r of REPLY_RULES) expect(r.description.length).toBeGreaterThan(10);
  });
});

// CalendarServer-8.0..9.2 inbound.py MailReceiver.inbound logs "Mail gateway received message
// {msgid} from {fromAddr} to {toAddr}" inside its catch-all, and twext's Logger.emit decodes every
// bytes value as UTF-8 first (ccs-twistedextensions 961d7a7; 8.0 pins trunk@15423), in Python 2's
// dict order msgid, toAddr, fromAddr. 7.x's twext did not decode.
describe('8.0 and later: a header whose bytes are not UTF-8', () => {
  const withHeader = (name: string, value: string): Buffer => {
    const raw = fixture('thunderbird-reply').toString('latin1');
    return Buffer.from(raw.replace(new RegExp(`^${name}: [^\\r\\n]*`, 'm'), `${name}: ${value}`), 'latin1');
  };
  const latin1From = withHeader('From', 'J\xe9r\xf4me Attendee <attendee@remote.test>');
  it('fails the message while logging it, before the token is read', () => {
    for (const release of ['8.0', '9.2']) {
      const v = classify(parseMessage(latin1From), context(release, 'imap'));
      expect(v.serverAction, release).toBe('UNKNOWN_FAILURE');
      expect(v.logLines, release).toEqual([{ level: 'error', text: "Failed to process message: 'utf8' codec can't decode byte 0xe9 in position 1: invalid continuation byte" }]);
      expect(v.tokenStatus).toBe('unchecked');
      expect(v.findings.map((f) => f.id), release).toEqual(['message.header-not-utf8']);
      expect(v.findings[0]!.message).toMatch(/^The From header holds bytes that are not UTF-8 \("J.r.me Attendee <attendee@remote\.test>"\)\. Calendar Server .* never reads the reply: it stays in the mailbox, \\Seen, and is never read again\.$/);
      expect(v.mailboxEffect).toBe('left-seen');
      expect(v.stopsCycle).toBe(false);
    }
    expect(classify(parseMessage(latin1From), context('9.2', 'pop3')).mailboxEffect).toBe('left-reread-every-poll');
    // 7.0 logs it as it is, and the reply goes on.
    const seven = classify(parseMessage(latin1From), context('7.0', 'imap'));
    expect(seven.serverAction).toBe('INJECTION_SUBMITTED');
    expect(seven.findings.map((f) => f.id)).not.toContain('message.header-not-utf8');
  });

  it('takes UTF-8 and RFC 2047 as they are, and blames To before From (the dict order)', () => {
    for (const ok of [withHeader('From', 'J\xc3\xa9r\xc3\xb4me <attendee@remote.test>'), withHeader('From', '=?iso-8859-1?q?J=E9r=F4me?= <attendee@remote.test>')]) {
      expect(classify(parseMessage(ok), context('9.2', 'imap')).serverAction).toBe('INJECTION_SUBMITTED');
    }
    const raw = latin1From.toString('latin1').replace(/^To: ([^\r\n]*)/m, 'To: Calendrier \xc9quipe <$1>');
    const both = classify(parseMessage(Buffer.from(raw, 'latin1')), context('9.2', 'imap'));
    expect(both.findings[0]).toMatchObject({ id: 'message.header-not-utf8', path: 'message.headers.To', evidence: { header: 'To' } });
    expect(both.logLine).toMatch(/can't decode byte 0xc9 in position 11: invalid continuation byte$/);
  });

  // CalendarServer-8.0..9.2 inbound.py processReply: an unknown token's Date that dateutil cannot
  // read is logged ("Could not parse date in IMIP email '{date}' ({ex})") inside `except`, where
  // the decode raises: the reply's Deferred fails (5.1+ IMAP: "IMAP Error", the cycle stops).
  it("an unknown token's Date that does not parse and is not UTF-8 fails the reply on 8.0 and later", () => {
    const raw = fixture('token-uppercase').toString('latin1').replace(/^Date: [^\r\n]*/m, 'Date: lun., 2 f\xe9vr. 2026 10:40:00 +0100');
    const message = Buffer.from(raw, 'latin1');
    const v = classify(parseMessage(message), context('9.2', 'imap'));
    expect(v.serverAction).toBe('UNKNOWN_FAILURE');
    expect(v.stopsCycle).toBe(true);
    expect(v.logLine).toBe("IMAP Error: [Failure instance: Traceback: <type 'exceptions.UnicodeDecodeError'>: 'utf8' codec can't decode byte 0xe9 in position 9: invalid continuation byte");
    // UTF-8 bytes log as they are: the token stays unknown, the mail stays.
    const utf8 = classify(parseMessage(Buffer.from(raw.replace('f\xe9vr', 'f\xc3\xa9vr'), 'latin1')), context('9.2', 'imap'));
    expect(utf8.serverAction).toBe('UNKNOWN_TOKEN');
    expect(utf8.logLine).toMatch(/^Could not parse date in IMIP email /);
    // 7.x's twext logs bytes as they are.
    expect(classify(parseMessage(message), context('7.0', 'imap')).serverAction).toBe('UNKNOWN_TOKEN');
  });
});

// CalendarServer-8.0..9.2 inbound.py processDSN logs the Message-ID on every way through it ("can't
// find token in DSN {msgid}", "found a token ({token}) but didn't recognize it in message {msgid}",
// "processing DSN {msgid}"), inside its inlineCallbacks generator: the decode raises there, so the
// bounce's Deferred fails (5.1+ IMAP: "IMAP Error", the cycle stops; POP3: "Unhandled error in Deferred").
describe('8.0 and later: a bounce whose Message-ID is not UTF-8', () => {
  const raw = fixture('dsn-with-invitation').toString('latin1').replace(/^Message-ID: [^\r\n]*/im, 'Message-ID: <r\xe9ponse-42@mx.remote.test>');
  const bounce = Buffer.from(raw, 'latin1');
  it('fails inside the bounce processing, before anything is queued', () => {
    const v = classify(parseMessage(bounce), context('9.2', 'imap'));
    expect(v.isDsn).toBe(true);
    expect([v.serverAction, v.stopsCycle, v.mailboxEffect]).toEqual(['UNKNOWN_FAILURE', true, 'left-seen']);
    expect(v.logLine).toBe("IMAP Error: [Failure instance: Traceback: <type 'exceptions.UnicodeDecodeError'>: 'utf8' codec can't decode byte 0xe9 in position 2: invalid continuation byte");
    expect(v.findings.map((f) => [f.id, f.path])).toEqual([['message.stops-cycle', 'message'], ['message.header-not-utf8', 'message.headers.Message-ID']]);
    expect(v.findings[1]!.message).toMatch(/never reads the bounce: it stays in the mailbox, \\Seen, and is never read again\.$/);
    const pop = classify(parseMessage(bounce), context('8.0', 'pop3'));
    expect([pop.serverAction, pop.mailboxEffect, pop.logLines.map((l) => l.text)]).toEqual([
      'UNKNOWN_FAILURE',
      'left-reread-every-poll',
      ['Unhandled error in Deferred:', "exceptions.UnicodeDecodeError: 'utf8' codec can't decode byte 0xe9 in position 2: invalid continuation byte"],
    ]);
  });

  it('7.x logs the Message-ID as it is and processes the bounce', () => {
    const v = classify(parseMessage(bounce), context('7.0', 'imap'));
    expect(v.serverAction).not.toBe('UNKNOWN_FAILURE');
    expect(v.findings.map((f) => f.id)).not.toContain('message.header-not-utf8');
  });
});

// CalendarServer-8.0..9.0 inbound.py processReply: log.error("... To: address ({tp}) in message
// {msgid}", to=..., msgid=...): the KeyError makes Twisted write "Unable to format event {...}:
// 'tp'" (twisted-15.4.0 logger/_format.py formatUnformattableEvent); 9.1 names it {to}.
describe("the malformed-To log line of 8.0 to 9.0", () => {
  it('is Twisted\'s "Unable to format event", not the server\'s text', () => {
    for (const release of ['8.0', '9.0']) {
      const v = classify(parseFixture('token-in-delivered-to-only'), context(release, 'imap'));
      expect(v.serverAction).toBe('MALFORMED_TO_ADDRESS');
      expect(v.logLine, release).toBe(`Unable to format event {… 'log_format': u"Mail gateway couldn't parse To: address ({tp}) in message {msgid}", …}: 'tp'`);
    }
    for (const release of ['7.0', '9.1', '9.2']) {
      expect(classify(parseFixture('token-in-delivered-to-only'), context(release, 'imap')).logLine, release).toMatch(/^Mail gateway couldn't parse To: address \(.*\) in message </);
    }
  });
});

