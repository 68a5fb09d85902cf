/**
 * The calendar server's scheduler checks a reply before it delivers it (src/imip/scheduler-check.ts):
 * `checkCalendarData` refuses a METHOD that is not an iTIP method in upper case (every release;
 * 8.0+ upper-case it first, CalendarServer-8.0 inbound.py `sanitizeCalendar`), and from 3.1 a
 * VCALENDAR without exactly one PRODID (pycalendar's validation; 6.1+ add a missing one,
 * CalendarServer-6.1 inbound.py `processReply`, 7.0+ `sanitizeCalendar`). What the admin sees depends on the release:
 * 2.x–4.x the gateway's POST gets 403 and logs it; 5.0+ the reply work item logs its failure.
 */
import { describe, expect, it } from 'vitest';
import { classify, needsBody, type Verdict } from '../../src/imip/classify.js';
import { parseMessage } from '../../src/imip/mime.js';
import { context, fixture } from './message-fixtures.js';
import type { ZoneSource } from '../../src/imip/scheduler-check.js';

/** thunderbird-reply (METHOD:REPLY, a PRODID, a known token) with its calendar changed by `edit`. */
function reply(edit: (calendar: string) => string): Buffer {
  const raw = fixture('thunderbird-reply').toString('latin1');
  const start = raw.indexOf('BEGIN:VCALENDAR');
  const end = raw.indexOf('END:VCALENDAR') + 'END:VCALENDAR'.length;
  expect(raw.slice(start, end)).toMatch(/^METHOD:REPLY\r?$/m);
  expect(raw.slice(start, end)).toMatch(/^PRODID:/m);
  return Buffer.from(raw.slice(0, start) + edit(raw.slice(start, end)) + raw.slice(end), 'latin1');
}

const on = (message: Buffer, release: string): Verdict => classify(parseMessage(message, needsBody), context(release, 'imap'));
const texts = (v: Verdict): string[] => v.logLines.map((l) => l.text);
const refusal = (v: Verdict) => v.findings.find((f) => f.id === 'reply.scheduler-refuses');

const PARIS = ['BEGIN:VTIMEZONE', 'TZID:Europe/Paris', 'BEGIN:STANDARD', 'DTSTART:19701025T030000', 'TZOFFSETFROM:+0200', 'TZOFFSETTO:+0100', 'END:STANDARD', 'END:VTIMEZONE'].join('\r\n');
const ITIP = 'Must have a calendar component that satisfies iTIP requirements';

const WORK_FAILED = 'Failed to inject iMIP response (<ErrorResponse 403 {urn:ietf:params:xml:ns:caldav}valid-calendar-data>)';

describe("the scheduler's check of the calendar it is handed", () => {
  it('METHOD in lower case: refused up to 7.x, in the log each release writes; 8.0 and later upper-case it', () => {
    const lower = reply((c) => c.replace(/^METHOD:REPLY/m, 'METHOD:reply'));
    for (const release of ['2.5', '3.2', '4.3']) {
      const v = on(lower, release);
      expect(v.serverAction, release).toBe('INJECTION_SUBMITTED');
      expect(v.logLines.at(-1), release).toEqual({ level: 'error', text: `Mail gateway failed to inject message ${v.messageId} (Reason: 403 Forbidden)` });
      expect(texts(v).join('\n')).not.toContain('successfully injected');
      expect(refusal(v)!.message, release).toMatch(/refuses it \(403, "Must have valid METHOD property"\): METHOD is "reply", and the scheduler compares it with the iTIP methods as written, in upper case \(8\.0 and later upper-case METHOD first\)/);
    }
    // 5.0-6.0: the work item's injectMessage logs the HTTPError and re-raises; from 6.1 doWork
    // also catches it (CalendarServer-6.1 inbound.py IMIPReplyWork.doWork, a2da9a0).
    expect(texts(on(lower, '5.1')).slice(-1)).toEqual([WORK_FAILED]);
    expect(texts(on(lower, '6.0')).slice(-1)).toEqual([WORK_FAILED]);
    expect(texts(on(lower, '6.1')).slice(-2)).toEqual([WORK_FAILED, 'Unable to process reply']);
    expect(texts(on(lower, '7.0')).slice(-2)).toEqual([WORK_FAILED, 'Unable to process reply']);
    expect(on(lower, '5.1').mailboxEffect).toBe('deleted');
    // 5.0-6.0 do not drop the failed work item: the same failure comes back (CalendarServer-5.1
    // twext/enterprise/queue.py ultimatelyPerform in one aborted transaction; 6.0 twext jobqueue.py
    // JobItem.failedToRun); 6.1 catches it in doWork.
    expect(refusal(on(lower, '5.1'))!.message).toMatch(/and the failed work item is rolled back and run again, ten minutes later and then about every minute, .* \(table IMIP_REPLY_WORK\)\.$/);
    expect(on(lower, '5.1').notes.join(' ')).toMatch(/on 5\.1 the failed work item is rolled back and run again/);
    expect(refusal(on(lower, '6.0'))!.message).toMatch(/the failed work item is kept and run again after a delay that grows by a minute with each failure/);
    for (const release of ['4.3', '6.1', '7.0']) expect(refusal(on(lower, release))!.message, release).not.toMatch(/run again/);
    for (const release of ['8.0', '9.2']) {
      const v = on(lower, release);
      expect(texts(v).at(-1), release).toMatch(/^Successfully injected iMIP response from /);
      expect(refusal(v), release).toBeUndefined();
    }
  });

  it('no PRODID: refused from 3.1 through 6.0; 2.x and 3.0 do not validate, 6.1 and later add one', () => {
    const noProdid = reply((c) => c.replace(/^PRODID:[^\n]*\n/m, ''));
    for (const release of ['3.1', '4.3', '5.1', '5.3', '6.0']) {
      const v = on(noProdid, release);
      expect(refusal(v)?.message, release).toMatch(/refuses it \(403, "Calendar component is not valid"\): the calendar has no PRODID, and the scheduler's validation wants exactly one \(6\.1 and later add a missing PRODID first\)/);
      expect(refusal(v)?.evidence).toMatchObject({ prodids: 0, method: 'REPLY' });
    }
    // 6.1-6.2 add PRODID:Unknown in processReply (a2da9a0), 7.0+ in sanitizeCalendar.
    for (const release of ['2.5', '3.0', '6.1', '6.2', '7.0', '9.2']) {
      const v = on(noProdid, release);
      expect(refusal(v), release).toBeUndefined();
      expect(texts(v).at(-1), release).toMatch(/successfully injected|Successfully injected/);
    }
    // Two PRODIDs: nothing adds or removes one, so 7.0 and later refuse it too.
    const two = reply((c) => c.replace(/^(PRODID:[^\n]*\n)/m, '$1PRODID:-//Other//EN\r\n'));
    expect(texts(on(two, '9.2')).slice(-2)).toEqual([WORK_FAILED, 'Unable to process reply']);
    expect(refusal(on(two, '9.2'))!.message).toMatch(/the calendar has 2 PRODID properties/);
    expect(refusal(on(two, '3.0'))).toBeUndefined();
  });

  it('from 3.1 an event needs one DTSTAMP and one UID and at most one ORGANIZER, counted after the gateway adds one', () => {
    const noDtstamp = reply((c) => c.replace(/^DTSTAMP:[^\n]*\n/m, ''));
    for (const release of ['3.1', '4.3', '5.1', '9.2']) {
      expect(refusal(on(noDtstamp, release))?.message, release).toMatch(/"Calendar component is not valid"\): the VEVENT has no DTSTAMP, and the scheduler's validation wants exactly one\./);
    }
    for (const release of ['2.5', '3.0']) expect(refusal(on(noDtstamp, release)), release).toBeUndefined();
    const twoUids = reply((c) => c.replace(/^(UID:[^\n]*\n)/m, '$1UID:other\r\n'));
    expect(refusal(on(twoUids, '9.2'))!.message).toMatch(/the VEVENT has 2 UID properties/);
    // Two ORGANIZERs: the server takes neither, adds its own to the event, which then has three.
    const twoOrganizers = reply((c) => c.replace(/^(ORGANIZER[^\n]*\n)/m, '$1ORGANIZER:mailto:someone@example.test\r\n'));
    const v = on(twoOrganizers, '9.2');
    expect(refusal(v)!.message).toMatch(/the VEVENT ends up with 3 ORGANIZER properties: the server found none it could use in the reply's first component and added one/);
    expect(texts(v).slice(-2)).toEqual([WORK_FAILED, 'Unable to process reply']);
  });

  it("from 3.1 the rest of pycalendar's validation: a stamp not in UTC, values out of range, a property twice, a broken alarm or time zone", () => {
    const cases: Array<[string, (c: string) => string, RegExp, string]> = [
      ['DTSTAMP without Z', (c) => c.replace(/^DTSTAMP:(\d{8}T\d{6})Z/m, 'DTSTAMP:$1'), /the VEVENT has DTSTAMP:20260302T091500, whose value must be a date-time in UTC/, '[VEVENT] Property value incorrect: DTSTAMP'],
      ['DTSTAMP with a TZID', (c) => c.replace(/^DTSTAMP:/m, 'DTSTAMP;TZID=Europe/Paris:').replace(/^BEGIN:VEVENT/m, `${PARIS}\r\nBEGIN:VEVENT`), /whose value must be a date-time in UTC/, '[VEVENT] Property value incorrect: DTSTAMP'],
      ['PRIORITY 10', (c) => c.replace(/^(SEQUENCE:0)/m, '$1\r\nPRIORITY:10'), /the VEVENT has PRIORITY:10, whose value must be an integer from 0 to 9/, '[VEVENT] Property value incorrect: PRIORITY'],
      ['SEQUENCE -1', (c) => c.replace(/^SEQUENCE:0/m, 'SEQUENCE:-1'), /whose value must be an integer of 0 or more/, '[VEVENT] Property value incorrect: SEQUENCE'],
      ['two SUMMARYs', (c) => c.replace(/^(SUMMARY:[^\n]*\n)/m, '$1SUMMARY:again\r\n'), /the VEVENT has 2 SUMMARY properties, and the scheduler's validation allows one/, '[VEVENT] Too many properties present: SUMMARY'],
      ['two VERSIONs', (c) => c.replace(/^(VERSION:2\.0\r?\n)/m, '$1$1'), /the VCALENDAR has 2 VERSION properties, and the scheduler's validation wants exactly one/, '[VCALENDAR] Missing or too many required property: VERSION'],
      ['an alarm without TRIGGER', (c) => c.replace(/^END:VEVENT/m, 'BEGIN:VALARM\r\nACTION:DISPLAY\r\nEND:VALARM\r\nEND:VEVENT'), /the VALARM has no TRIGGER/, '[VALARM] Missing or too many required property: TRIGGER'],
      ['a VTIMEZONE with only a TZID', (c) => c.replace(/^BEGIN:VEVENT/m, 'BEGIN:VTIMEZONE\r\nTZID:Europe/Paris\r\nEND:VTIMEZONE\r\nBEGIN:VEVENT'), /the VTIMEZONE has neither a STANDARD nor a DAYLIGHT component/, '[VTIMEZONE] At least one component must be present: STANDARD or DAYLIGHT'],
    ];
    for (const [what, edit, why, problem] of cases) {
      const message = reply(edit);
      for (const release of ['3.1', '4.3', '5.1', '6.0', '7.0', '9.2']) {
        const v = on(message, release);
        expect(refusal(v)?.message, `${what} on ${release}`).toMatch(why);
        expect(refusal(v)?.evidence.problems, `${what} on ${release}`).toEqual([problem]);
        expect(v.serverAction).toBe('INJECTION_SUBMITTED');
      }
      expect(texts(on(message, '9.2')).slice(-2), what).toEqual([WORK_FAILED, 'Unable to process reply']);
      expect(on(message, '4.3').logLines.at(-1)?.text, what).toMatch(/Reason: 403 Forbidden/);
      // 3.0 and 2.x do not validate.
      for (const release of ['2.5', '3.0']) expect(refusal(on(message, release)), `${what} on ${release}`).toBeUndefined();
    }
    // What the validation mends passes: DTEND beside DURATION, an alarm without DESCRIPTION.
    const mended = reply((c) => c.replace(/^END:VEVENT/m, 'DURATION:PT1H\r\nBEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:-PT5M\r\nEND:VALARM\r\nEND:VEVENT'));
    expect(refusal(on(mended, '9.2'))).toBeUndefined();
    expect(texts(on(mended, '9.2')).at(-1)).toMatch(/^Successfully injected iMIP response from /);
  });

  it('two STATUS: refused on 3.1 even with one CANCELLED, on 3.2-6.x unless one is CANCELLED; 7.0 and later remove STATUS from a reply', () => {
    const both = (second: string) => reply((c) => c.replace(/^(SEQUENCE:0)/m, `$1\r\nSTATUS:CONFIRMED\r\n${second}`));
    const twoConfirmed = both('STATUS:TENTATIVE');
    for (const release of ['3.1', '3.2', '5.1', '6.0']) {
      expect(refusal(on(twoConfirmed, release))?.message, release).toMatch(/the VEVENT has 2 STATUS properties.*\(7\.0 and later remove STATUS from a reply first\)/);
    }
    for (const release of ['7.0', '8.0', '9.2']) expect(refusal(on(twoConfirmed, release)), release).toBeUndefined();
    const cancelled = both('STATUS:CANCELLED');
    expect(refusal(on(cancelled, '3.1'))?.evidence.problems).toEqual(['[VEVENT] Too many properties present: STATUS']);
    for (const release of ['3.2', '4.3', '6.0', '9.2']) expect(refusal(on(cancelled, release)), release).toBeUndefined();
    // 7.0 compares METHOD as written before it removes STATUS; 8.0 upper-cases it first.
    const lower = reply((c) => c.replace(/^METHOD:REPLY/m, 'METHOD:reply').replace(/^(SEQUENCE:0)/m, '$1\r\nSTATUS:CONFIRMED\r\nSTATUS:TENTATIVE'));
    expect(refusal(on(lower, '7.0'))?.evidence.problems).toEqual(['[VEVENT] Too many properties: STATUS']);
    expect(refusal(on(lower, '8.0'))).toBeUndefined();
  });

  // CalendarServer-5.1 twistedcaldav/stdconfig.py "EnableTimezonesByReference": False; 5.2: True.
  it('from 3.0 the iTIP check: a TZID without its VTIMEZONE, unless EnableTimezonesByReference (3.1+, on by default from 5.2)', () => {
    const named = reply((c) => c.replace(/^DTSTART:(\d{8}T\d{6})Z/m, 'DTSTART;TZID=Europe/Paris:$1').replace(/^DTEND:(\d{8}T\d{6})Z/m, 'DTEND;TZID=Europe/Paris:$1'));
    for (const release of ['3.0', '3.2', '4.3', '5.1']) {
      const v = on(named, release);
      expect(refusal(v)?.message, release).toContain(`(403, "${ITIP}"): the VEVENT refers to the time zone "Europe/Paris", which no VTIMEZONE in the reply defines`);
      expect(refusal(v)?.evidence.problems, release).toEqual(['Timezone ID Europe/Paris is referenced but not defined']);
    }
    expect(refusal(on(named, '3.2'))?.fix).toMatch(/Set EnableTimezonesByReference to true in caldavd\.plist/);
    expect(refusal(on(named, '3.0'))?.fix).toMatch(/includes the VTIMEZONE/);
    // Switched on in the configuration (3.1+), or by default from 6.0: taken.
    const byRef = (release: string, on_: boolean | null) => classify(parseMessage(named, needsBody), context(release, 'imap', { timezonesByReference: on_ }));
    expect(refusal(byRef('4.3', true))).toBeUndefined();
    expect(refusal(byRef('3.0', true))).toBeDefined();
    for (const release of ['5.2', '5.3', '6.0', '9.2']) expect(refusal(on(named, release)), release).toBeUndefined();
    expect(texts(byRef('9.2', false)).slice(-2)).toEqual([WORK_FAILED, 'Unable to process reply']);
    // With the VTIMEZONE, or a TZID that only an ignored component names, it passes.
    const defined = reply((c) => c.replace(/^DTSTART:(\d{8}T\d{6})Z/m, 'DTSTART;TZID=Europe/Paris:$1').replace(/^BEGIN:VEVENT/m, `${PARIS}\r\nBEGIN:VEVENT`));
    expect(refusal(on(defined, '4.3'))).toBeUndefined();
  });

  // CalendarServer-6.0..9.2 twistedcaldav/ical.py validCalendarForCalDAV: hasTZ(tzid) for each TZID
  // without a VTIMEZONE; timezones.py readVTZ raises TimezoneException("Unknown time zone: %s"),
  // which isValidITIP does not catch (no 403), and inbound.py injectMessage logs it. The zones are
  // the release's twistedcaldav/zoneinfo/<TZID>.ics files (Europe/Kyiv came with IANA 2022b).
  it('from 6.0 a TZID without its VTIMEZONE must be one of the zones the server ships, or the scheduler fails', () => {
    const zone = (tzid: string) => reply((c) => c.replace(/^DTSTART:(\d{8}T\d{6})Z/m, `DTSTART;TZID=${tzid}:$1`).replace(/^DTEND:(\d{8}T\d{6})Z/m, `DTEND;TZID=${tzid}:$1`));
    const kyiv = zone('Europe/Kyiv');
    for (const release of ['6.0', '6.1', '7.0', '8.0', '9.2']) {
      const v = on(kyiv, release);
      const f = refusal(v);
      expect(f?.message, release).toContain('hands the answer to its scheduler, which fails on it ("Unknown time zone: Europe/Kyiv"): the VEVENT names the time zone "Europe/Kyiv" without its VTIMEZONE');
      expect(f?.evidence, release).toMatchObject({ description: null, problems: ['Unknown time zone: Europe/Kyiv'] });
      expect(f?.fix, release).toMatch(/includes the VTIMEZONE of each time zone it names\. Newer zone names come with a refresh .*--refresh/);
      expect(v.serverAction, release).toBe('INJECTION_SUBMITTED');
      expect(v.mailboxEffect, release).toBe('deleted');
    }
    // 6.0 lets the work item fail; 6.1 and later catch it.
    expect(texts(on(kyiv, '6.0')).slice(-1)).toEqual(['Failed to inject iMIP response (Unknown time zone: Europe/Kyiv)']);
    expect(texts(on(kyiv, '9.2')).slice(-2)).toEqual(['Failed to inject iMIP response (Unknown time zone: Europe/Kyiv)', 'Unable to process reply']);
    // Before 6.0 nothing looks the zone up (by reference on: taken).
    const byRef = (message: Buffer, release: string) => classify(parseMessage(message, needsBody), context(release, 'imap', { timezonesByReference: true }));
    expect(refusal(byRef(kyiv, '5.1'))).toBeUndefined();
    // Shipped zones pass: IANA names, old aliases and Windows names, compared exactly.
    for (const tzid of ['Europe/Kiev', 'US/Eastern', 'UTC', 'W. Europe Standard Time']) {
      expect(refusal(on(zone(tzid), '6.0')), tzid).toBeUndefined();
      expect(texts(on(zone(tzid), '9.2')).at(-1), tzid).toMatch(/^Successfully injected iMIP response from /);
    }
    expect(refusal(on(zone('europe/paris'), '9.2'))?.evidence.problems).toEqual(['Unknown time zone: europe/paris']);
    // A zone a later release ships: Asia/Yangon came with 9.1 (IANA 2016g), Pacific/Bougainville with 6.1.
    expect(refusal(on(zone('Asia/Yangon'), '9.0'))?.message).toContain('(9.1 and later ship it)');
    expect(refusal(on(zone('Asia/Yangon'), '9.0'))?.fix).toMatch(/; Calendar Server 9\.1 and later knows this zone\. /);
    expect(refusal(on(zone('Asia/Yangon'), '9.1'))).toBeUndefined();
    expect(refusal(on(zone('Pacific/Bougainville'), '6.0'))?.message).toContain('(6.1 and later ship it)');
    expect(refusal(on(zone('Pacific/Bougainville'), '6.1'))).toBeUndefined();
    // Defined by a VTIMEZONE in the reply: not looked up.
    const defined = reply((c) => c.replace(/^DTSTART:(\d{8}T\d{6})Z/m, 'DTSTART;TZID=Europe/Kyiv:$1').replace(/^BEGIN:VEVENT/m, `${PARIS.replace('Europe/Paris', 'Europe/Kyiv')}\r\nBEGIN:VEVENT`));
    expect(refusal(on(defined, '9.2'))).toBeUndefined();
    // Off in the configuration: the 403 of the check before it comes first.
    const off = classify(parseMessage(kyiv, needsBody), context('9.2', 'imap', { timezonesByReference: false }));
    expect(refusal(off)?.evidence.problems).toEqual(['Timezone ID Europe/Kyiv is referenced but not defined']);
  });

  // CalendarServer-6.0..9.2 twistedcaldav/stdconfig.py _updateICalendar:
  // ical._updateAllowedComponents(tuple(configDict.SupportedComponents)) (VEVENT, VTODO by default),
  // with VFREEBUSY and VTIMEZONE added; 3.0-5.x ical.py allowedComponents is fixed.
  it('from 6.0 the component types are the configured SupportedComponents (with VFREEBUSY and VTIMEZONE)', () => {
    const todo = reply((c) => c.replace(/BEGIN:VEVENT/g, 'BEGIN:VTODO').replace(/END:VEVENT/g, 'END:VTODO').replace(/^DTEND[^\n]*\n/m, ''));
    const judged = (release: string, supported: string[] | null) => classify(parseMessage(todo, needsBody), context(release, 'imap', { supportedComponents: supported }));
    for (const release of ['6.0', '9.2']) {
      expect(refusal(judged(release, null)), release).toBeUndefined();
      expect(refusal(judged(release, ['VEVENT', 'VTODO'])), release).toBeUndefined();
      const f = refusal(judged(release, ['VEVENT']))!;
      expect(f.message, release).toContain(`(403, "${ITIP}"): the scheduler takes no VTODO component (SupportedComponents is VEVENT)`);
      expect(f.evidence.problems).toEqual(['Component type: VTODO not allowed']);
    }
    // 5.x has no such setting: a VTODO is taken whatever the configuration says.
    expect(refusal(judged('5.1', ['VEVENT']))).toBeUndefined();
  });

  // twistedcaldav/timezones.py TimezoneCache.getDBPath: the server reads DataRoot/zoneinfo (a copy of
  // the release's zones, which calendarserver_manage_timezones --refresh brings up to date).
  it("from 6.0 the server's own zone database decides, when it can be read", () => {
    const kyiv = reply((c) => c.replace(/^DTSTART:(\d{8}T\d{6})Z/m, 'DTSTART;TZID=Europe/Kyiv:$1'));
    const paris = reply((c) => c.replace(/^DTSTART:(\d{8}T\d{6})Z/m, 'DTSTART;TZID=Europe/Paris:$1'));
    const refreshed = { path: '/srv/caldavd/Data/zoneinfo', names: () => new Set(['Europe/Kyiv', 'UTC']) };
    const judged = (m: Buffer, zones: ZoneSource | null) => classify(parseMessage(m, needsBody), context('9.2', 'imap', { zones }));
    expect(refusal(judged(kyiv, refreshed))).toBeUndefined();
    const f = refusal(judged(paris, refreshed))!;
    expect(f.message).toContain('that name is not among the 2 zones of the server\'s time zone database (/srv/caldavd/Data/zoneinfo), so its look-up raises');
    expect(f.fix).toMatch(/or bring newer zone names into the server's database by refreshing it from IANA/);
    // A database that cannot be read: the zones the release ships, and the fix says so.
    const unread = { path: '/nowhere/zoneinfo', names: () => null };
    expect(refusal(judged(kyiv, unread))?.fix).toMatch(/judged here by the zones the release ships, as the server's database \(DataRoot\/zoneinfo\) could not be read\.$/);
    expect(refusal(judged(paris, unread))).toBeUndefined();
  });

  // CalendarServer-2.5 twistedcaldav/scheduling/scheduler.py checkCalendarData → ical.py isValidITIP →
  // validateComponentsForCalDAV(True): no component is ignored, VJOURNAL is allowed; the POST body is
  // what vobject wrote (a missing UID made up).
  it('2.x: the iTIP check on the calendar vobject wrote', () => {
    const cases: Array<[string, (c: string) => string, RegExp, string]> = [
      ['a VTODO beside the VEVENT', (c) => c.replace(/^END:VCALENDAR/m, 'BEGIN:VTODO\r\nUID:t\r\nDTSTAMP:20260302T091500Z\r\nEND:VTODO\r\nEND:VCALENDAR'), /the calendar holds a VEVENT and a VTODO/, 'Calendar resources may not contain more than one type of calendar component (VEVENT and VTODO found)'],
      ['an X- component beside the VEVENT', (c) => c.replace(/^END:VCALENDAR/m, 'BEGIN:X-FOO\r\nUID:x\r\nEND:X-FOO\r\nEND:VCALENDAR'), /the calendar holds a VEVENT and an X-FOO/, 'Calendar resources may not contain more than one type of calendar component (VEVENT and X-FOO found)'],
      ['a second master', (c) => c.replace(/^END:VCALENDAR/m, (c.match(/BEGIN:VEVENT[\s\S]*?END:VEVENT\r?\n/)?.[0] ?? '') + 'END:VCALENDAR'), /two components for the whole event/, 'Calendar resources may not contain components with the same UIDs and no Recurrence-IDs (6F1C2A3B-4000-4C5D-9E8F-000000000001 and 6F1C2A3B-4000-4C5D-9E8F-000000000001 found)'],
    ];
    for (const [what, edit, why, problem] of cases) {
      const v = on(reply(edit), '2.5');
      const f = refusal(v);
      expect(f?.message, what).toMatch(why);
      expect(f?.message, what).toContain(`(403, "${ITIP}")`);
      expect(f?.evidence.problems, what).toEqual([problem]);
      expect(v.logLines.at(-1)?.text, what).toMatch(/Reason: 403 Forbidden\)$/);
    }
    // A VJOURNAL is taken on 2.x; 3.0 and later refuse the type.
    const journal = reply((c) => c.replace(/BEGIN:VEVENT/g, 'BEGIN:VJOURNAL').replace(/END:VEVENT/g, 'END:VJOURNAL').replace(/^DTEND[^\n]*\n/m, ''));
    expect(refusal(on(journal, '2.5'))).toBeUndefined();
    expect(refusal(on(journal, '4.3'))?.evidence.problems).toEqual(['Component type: VJOURNAL not allowed']);
  });

  it('from 3.0 the iTIP check: two types of component, two UIDs, two masters, a control character', () => {
    const master = (uid: string, extra = '') => `BEGIN:VEVENT\r\nUID:${uid}\r\nDTSTAMP:20260302T091500Z\r\nDTSTART:20260305T100000Z\r\n${extra}END:VEVENT`;
    const cases: Array<[string, (c: string) => string, RegExp, string]> = [
      ['a VTODO beside the VEVENT', (c) => c.replace(/^END:VCALENDAR/m, 'BEGIN:VTODO\r\nUID:t\r\nDTSTAMP:20260302T091500Z\r\nEND:VTODO\r\nEND:VCALENDAR'), /the calendar holds a VEVENT and a VTODO/, 'Calendar resources may not contain more than one type of calendar component (VEVENT and VTODO found)'],
      ['an override with another UID', (c) => c.replace(/^END:VCALENDAR/m, `${master('other', 'RECURRENCE-ID:20260306T100000Z\r\n')}\r\nEND:VCALENDAR`), /its components have different UIDs/, 'Calendar resources may not contain components with different UIDs (6F1C2A3B-4000-4C5D-9E8F-000000000001 and other found)'],
      ['two masters', (c) => c.replace(/^END:VCALENDAR/m, `${master('6F1C2A3B-4000-4C5D-9E8F-000000000001')}\r\nEND:VCALENDAR`), /two components for the whole event/, 'Calendar resources may not contain components with the same UIDs and no Recurrence-IDs (6F1C2A3B-4000-4C5D-9E8F-000000000001 and 6F1C2A3B-4000-4C5D-9E8F-000000000001 found)'],
      ['a vertical tab in SUMMARY', (c) => c.replace(/^SUMMARY:/m, 'SUMMARY:\x0b'), /holds a control character/, 'iCalendar contains illegal control character'],
    ];
    for (const [what, edit, why, raised] of cases) {
      const message = reply(edit);
      // 3.0–5.0 fail on two main components before the scheduler; 5.1 and later take the master.
      const releases = what === 'a vertical tab in SUMMARY' ? ['3.0', '3.2', '5.1', '9.2'] : ['5.1', '7.0', '9.2'];
      for (const release of releases) {
        const v = on(message, release);
        expect(refusal(v)?.message, `${what} on ${release}`).toMatch(why);
        expect(refusal(v)?.evidence, `${what} on ${release}`).toMatchObject({ description: ITIP, problems: [raised] });
      }
      // 2.x checks the components too (no control characters), with vobject's reading.
      if (what === 'a vertical tab in SUMMARY') expect(refusal(on(message, '2.5')), what).toBeUndefined();
      else expect(refusal(on(message, '2.5'))?.message, what).toMatch(why);
    }
  });

  it('X-CALENDARSERVER-ACCESS on the calendar (a private event): refused by every release, with its own error element', () => {
    const access = reply((c) => c.replace(/^METHOD:REPLY/m, 'METHOD:REPLY\r\nX-CALENDARSERVER-ACCESS:PRIVATE'));
    for (const release of ['2.5', '3.0', '4.3', '5.1', '7.0', '9.2']) {
      const v = on(access, release);
      expect(refusal(v)?.message, release).toMatch(/refuses it \(403, "Private events cannot be scheduled"\): the calendar carries X-CALENDARSERVER-ACCESS/);
      expect(v.serverAction, release).toBe('INJECTION_SUBMITTED');
    }
    const element = 'Failed to inject iMIP response (<ErrorResponse 403 {http://calendarserver.org/ns/}no-access-restrictions>)';
    expect(texts(on(access, '5.1')).at(-1)).toBe(element);
    expect(texts(on(access, '9.2')).slice(-2)).toEqual([element, 'Unable to process reply']);
    expect(refusal(on(access, '9.2'))!.message).toContain(element);
    expect(on(access, '4.3').logLines.at(-1)?.text).toMatch(/Reason: 403 Forbidden/);
    // Only the calendar's own property counts: in the event it is nothing to the scheduler.
    const inEvent = reply((c) => c.replace(/^END:VEVENT/m, 'X-CALENDARSERVER-ACCESS:PRIVATE\r\nEND:VEVENT'));
    expect(refusal(on(inEvent, '9.2'))).toBeUndefined();
  });

  it('no METHOD, or one that is not an iTIP method: refused by every release, and reply.not-reply stays quiet', () => {
    const none = reply((c) => c.replace(/^METHOD:REPLY\r?\n/m, ''));
    const other = reply((c) => c.replace(/^METHOD:REPLY/m, 'METHOD:X-ANSWER'));
    for (const release of ['2.5', '4.3', '5.0', '7.0', '9.2']) {
      expect(refusal(on(none, release))!.message, release).toMatch(/"Must have valid METHOD property"\): the calendar has no METHOD/);
      expect(refusal(on(other, release))!.message, release).toMatch(/METHOD is "X-ANSWER", which is not an iTIP method/);
      expect(on(none, release).findings.map((f) => f.id), release).not.toContain('reply.not-reply');
    }
    // An iTIP method other than REPLY passes the check: reply.not-reply says what follows.
    const request = on(reply((c) => c.replace(/^METHOD:REPLY/m, 'METHOD:REQUEST')), '9.2');
    expect(refusal(request)).toBeUndefined();
    expect(request.findings.map((f) => f.id)).toContain('reply.not-reply');
  });
});

describe("the scheduler's processing after its checks", () => {
  it("a reply for another event than its token's: the organizer's copy is looked up by the reply's UID, and the answer is dropped with success logged", () => {
    const other = reply((c) => c.replace(/^UID:[^\r\n]*/m, 'UID:some-other-event'));
    for (const release of ['2.5', '4.3', '5.1', '9.2']) {
      const v = on(other, release);
      expect(v.serverAction, release).toBe('INJECTION_SUBMITTED');
      // The server's log says it went well.
      expect(texts(v).at(-1), release).toMatch(/successfully injected|Successfully injected/);
      expect(v.notes.join('\n'), release).toMatch(/its UID \(some-other-event\) is not that of the event the token was issued for \(6F1C2A3B-4000-4C5D-9E8F-000000000001\)/);
      const f = v.findings.find((x) => x.id === 'reply.uid-not-token');
      expect(f?.message, release).toMatch(/answers the event with UID some-other-event, but its token was issued for the event with UID 6F1C2A3B-4000-4C5D-9E8F-000000000001/);
      expect(f?.evidence, release).toMatchObject({ uid: 'some-other-event', tokenUid: '6F1C2A3B-4000-4C5D-9E8F-000000000001' });
    }
    // The token's own event: nothing said.
    const same = on(reply((c) => c), '9.2');
    expect(same.findings.map((x) => x.id)).not.toContain('reply.uid-not-token');
    expect(same.notes.join('\n')).not.toMatch(/not that of the event the token was issued for/);
    // Without the token store there is nothing to compare with.
    const unchecked = classify(parseMessage(other, needsBody), context('9.2', 'imap', { lookupToken: () => undefined }));
    expect(unchecked.findings.map((x) => x.id)).not.toContain('reply.uid-not-token');
  });
});

describe('a calendar nested without end', () => {
  it('is judged without exhausting the stack, on every parser', () => {
    // 100,000 components inside one another, and 100,000 side by side.
    const deep = reply((c) => c.replace(/^END:VCALENDAR/m, `${'BEGIN:X-A\r\n'.repeat(100_000)}${'END:X-A\r\n'.repeat(100_000)}END:VCALENDAR`));
    const wide = reply((c) => c.replace(/^END:VCALENDAR/m, `${'BEGIN:VTIMEZONE\r\nTZID:Z\r\nEND:VTIMEZONE\r\n'.repeat(100_000)}END:VCALENDAR`));
    for (const message of [deep, wide]) {
      for (const release of ['2.5', '3.0', '4.3', '9.2']) {
        const v = on(message, release);
        expect(v.serverAction, release).toBeDefined();
      }
    }
    // 5.1 and later take the VEVENT as the main component; the X-A beside it is a second type.
    expect(refusal(on(deep, '9.2'))?.message).toMatch(/holds a VEVENT and an X-A/);
  });
});

describe('a calendar with a fault in every one of many events', () => {
  it('names the first fault and lists at most 20 in the evidence', () => {
    const override = (n: number) => `BEGIN:VEVENT\r\nUID:6F1C2A3B-4000-4C5D-9E8F-000000000001\r\nRECURRENCE-ID:${2030 + n}0301T100000Z\r\nDTSTAMP:20260302T091500Z\r\nPRIORITY:99\r\nEND:VEVENT\r\n`;
    const many = reply((c) => c.replace(/^END:VCALENDAR/m, `${Array.from({ length: 5000 }, (_, n) => override(n)).join('')}END:VCALENDAR`));
    const f = refusal(on(many, '9.2'))!;
    expect(f.message).toMatch(/the VEVENT has PRIORITY:99, whose value must be an integer from 0 to 9/);
    expect(f.evidence.problems).toHaveLength(20);
  });
});
