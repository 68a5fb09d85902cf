/**
 * `reply.no-calendar` names the part that looks meant as the calendar when the server sees none
 * there: a Content-Type with spaces around its slash (Python 2.7 keeps them, so it is another
 * type), a multipart the spaces keep Python from descending into, a calendar file sent under
 * another type (application/ics), or a header block Python ends before the part's Content-Type.
 * The server's verdict stays what it is: no calendar.
 */
import { describe, expect, it } from 'vitest';
import { classify } from '../../src/imip/classify.js';
import { parseMessage } from '../../src/imip/mime.js';
import { context, fixture } from './message-fixtures.js';

function judged(name: string, edit: (text: string) => string, release = '9.2') {
  const raw = Buffer.from(edit(fixture(name).toString('latin1')), 'latin1');
  const verdict = classify(parseMessage(raw), context(release, 'imap'));
  return { verdict, finding: verdict.findings.find((f) => f.id === 'reply.no-calendar') };
}

describe('reply.no-calendar names a near miss', () => {
  it('a calendar part typed "text / calendar": named, and the server still forwards the mail', () => {
    const { verdict, finding } = judged('thunderbird-reply', (t) => t.replace('Content-Type: text/calendar;', 'Content-Type: text / calendar;'));
    expect(verdict.serverAction).toBe('REPLY_FORWARDED_TO_ORGANIZER');
    expect(finding?.message).toMatch(/Part 1\.2 comes close: its Content-Type is "text \/ calendar", and the server's Python compares the type as written/);
    expect(finding?.evidence['nearMiss']).toEqual({ part: '1.2', type: 'text / calendar' });
  });

  it('a top-level "multipart / mixed": Python never reads the parts inside it', () => {
    const { verdict, finding } = judged('thunderbird-reply', (t) => t.replace('Content-Type: multipart/mixed;', 'Content-Type: multipart / mixed;'));
    expect(verdict.serverAction).toBe('REPLY_FORWARDED_TO_ORGANIZER');
    expect(finding?.message).toMatch(/The message comes close: its Content-Type is "multipart \/ mixed", which the server's Python does not take for a multipart/);
    expect(finding?.evidence['nearMiss']).toEqual({ part: '(message)', type: 'multipart / mixed' });
  });

  it('a calendar sent as application/ics only', () => {
    const { verdict, finding } = judged('apple-mail-reply', (t) => t.replace('Content-Type: text/calendar;', 'Content-Type: application/ics;'));
    expect(verdict.serverAction).toBe('REPLY_FORWARDED_TO_ORGANIZER');
    expect(finding?.message).toMatch(/Part 2\.2 is application\/ics, a calendar by its type, but the server reads only a part of type text\/calendar\.$/);
  });

  it('a header block that ends early, before the calendar part\'s Content-Type', () => {
    const { verdict, finding } = judged('apple-mail-reply', (t) => t.replace('Content-Type: text/calendar;', `Not a header line${t.includes('\r\n') ? '\r\n' : '\n'}Content-Type: text/calendar;`));
    expect(verdict.serverAction).toBe('REPLY_FORWARDED_TO_ORGANIZER');
    expect(finding?.message).toMatch(/Part 2\.2's header block ends at a line that is not a header: the server's Python reads the lines after it as the body/);
    expect(finding?.evidence['nearMiss']).toEqual({ part: '2.2', type: 'text/plain' });
    // The message's own header block, ended before its Content-Type.
    const top = judged('thunderbird-reply', (t) => t.replace('Content-Type: multipart/mixed;', `Not a header line${t.includes('\r\n') ? '\r\n' : '\n'}Content-Type: multipart/mixed;`));
    expect(top.finding?.message).toMatch(/The message's header block ends at a line that is not a header/);
    expect(top.finding?.evidence['nearMiss']).toEqual({ part: '(message)', type: 'text/plain' });
  });

  it('a mail written by hand says nothing more, and a reply with text/calendar beside application/ics has no finding', () => {
    const human = judged('human-reply', (t) => t).finding!;
    expect(human.message).not.toMatch(/comes close|a calendar by its type/);
    expect(human.evidence).not.toHaveProperty('nearMiss');
    // Thunderbird sends the calendar twice, as text/calendar and as an application/ics attachment.
    expect(judged('thunderbird-reply', (t) => t).finding).toBeUndefined();
  });

  it('the token failure comes first: the near miss is said beside it, on every release', () => {
    for (const release of ['2.5', '4.3', '9.2']) {
      const { finding } = judged('thunderbird-reply', (t) => t.replace('Content-Type: text/calendar;', 'Content-Type: Text / Calendar;').replace(/calendar\+[0-9a-f-]+@/, 'calendar@'), release);
      expect(finding?.message, release).toBe(
        'No text/calendar part either. The server found no token in the first To address (NO_TOKEN) and stopped there, so it is not forwarded to the organizer and nobody sees it. ' +
          'Part 1.2 comes close: its Content-Type is "text / calendar", and the server\'s Python compares the type as written, spaces included, so it is no text/calendar part.',
      );
    }
  });
});
