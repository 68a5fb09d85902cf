/**
 * The calendar server's scheduler checks a reply before it delivers it (src/imip/scheduler-check.ts):
 * `checkCalendarData` refuses a METHOD that is not an iTIP method in upper case (every release;
 * 8.0+ upper-case it first, CalendarServer-8.0 inbound.py `sanitizeCalendar`), and from 3.1 a
 * VCALENDAR without exactly one PRODID (pycalendar's validation; 7.0+ add a missing one,
 * CalendarServer-7.0 inbound.py `sanitizeCalendar`). What the admin sees depends on the release:
 * 2.x–4.x the gateway's POST gets 403 and logs it; 5.0+ the reply work item logs its failure.
 */
import { describe, expect, it } from 'vitest';
import { classify, needsBody, type Verdict } from '../../src/imip/classify.js';
import { parseMessage } from '../../src/imip/mime.js';
import { context, fixture } from './message-fixtures.js';

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
    // 5.0-6.x: the work item's injectMessage logs the HTTPError and re-raises; 7.0 also catches it.
    expect(texts(on(lower, '5.1')).slice(-1)).toEqual([WORK_FAILED]);
    expect(texts(on(lower, '6.0')).slice(-1)).toEqual([WORK_FAILED]);
    expect(texts(on(lower, '7.0')).slice(-2)).toEqual([WORK_FAILED, 'Unable to process reply']);
    expect(on(lower, '5.1').mailboxEffect).toBe('deleted');
    for (const release of ['8.0', '9.2']) {
      const v = on(lower, release);
      expect(texts(v).at(-1), release).toMatch(/^Successfully injected iMIP response from /);
      expect(refusal(v), release).toBeUndefined();
    }
  });

  it('no PRODID: refused from 3.1 through 6.x; 2.x and 3.0 do not validate, 7.0 and later add one', () => {
    const noProdid = reply((c) => c.replace(/^PRODID:[^\n]*\n/m, ''));
    for (const release of ['3.1', '4.3', '5.1', '6.0']) {
      const v = on(noProdid, release);
      expect(refusal(v)?.message, release).toMatch(/refuses it \(403, "Calendar component is not valid"\): the calendar has no PRODID, and the scheduler's validation wants exactly one \(7\.0 and later add a missing PRODID first\)/);
      expect(refusal(v)?.evidence).toMatchObject({ prodids: 0, method: 'REPLY' });
    }
    for (const release of ['2.5', '3.0', '7.0', '9.2']) {
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
