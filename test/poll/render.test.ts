/** Output of `poll --once` (src/poll/render.ts): the streamed JSON document, rows, the summary line. */
import { describe, expect, it } from 'vitest';
import { summarise, Tally, type PollMessage, type PollReport } from '../../src/poll/cycle.js';
import { jsonStream, pollSummaryLine, renderFoot, renderRow, shortDate } from '../../src/poll/render.js';
import { foreignControls } from '../helpers/terminal.js';
import { palette } from '../../src/report/style.js';

const c = palette(false);

function row(over: Partial<PollMessage> = {}): PollMessage {
  return {
    uid: 7,
    size: 1234,
    date: 'Mon, 2 Mar 2026 10:15:42 +0100',
    from: 'attendee@remote.test',
    to: 'calendar+3f2b8c1e-7d4a-4e9b-a6c2-5b1d9e0f7a21@example.test',
    messageId: '<m1@remote.test>',
    token: '3f2b8c1e-7d4a-4e9b-a6c2-5b1d9e0f7a21',
    tokenStatus: 'known',
    serverAction: 'INJECTION_SUBMITTED',
    mailboxEffect: 'deleted',
    thisCycle: true,
    stopsCycle: false,
    isDsn: false,
    logLine: 'x',
    findings: [],
    notes: [],
    problems: [],
    ...over,
  };
}

describe('jsonStream', () => {
  it.each([0, 1, 3])('with %i messages writes exactly what JSON.stringify(doc, null, 2) writes', (n) => {
    let out = '';
    const s = jsonStream((t) => (out += t));
    const head = { command: 'poll', serverVersion: { version: '9.2' }, protocol: 'imap' };
    const rows = Array.from({ length: n }, (_, i) =>
      row({ uid: i + 1, notes: i % 2 ? ['a line\nbreak "quoted" \\ é', ''] : [], problems: i % 2 ? [] : ['x'], tokenCauses: i ? ['token.to-bare-address'] : [] }),
    );
    const tail = { summary: { messages: n }, stats: { ms: 1 } };
    s.open(head);
    rows.forEach(s.row);
    s.close(tail);
    expect(out).toBe(`${JSON.stringify({ ...head, messages: rows, ...tail }, null, 2)}\n`);
  });
});

describe('rows and the summary line', () => {
  it('one table row, findings under it, the token shortened to fit', () => {
    const lines = renderRow(
      row({ findings: [{ id: 'reply.valarm', severity: 'warning', path: 'p', message: 'VALARM in a REPLY.', evidence: {}, fix: 'Nothing to change.' }] }),
      c,
      { verbose: false },
    );
    expect(lines[0]).toMatch(/^\s+7 {2}2026-03-02 09:15Z {2}attendee@remote\.test\s+calendar\+3f2b8c1e…@example\.test\s+known\s+INJECTION_SUBMITTED\s+deleted$/);
    expect(lines.slice(1)).toEqual(['        ! reply.valarm  VALARM in a REPLY.', '          fix: Nothing to change.']);
  });

  it('a fix is printed once per run: later rows with the same finding and fix point back to the first (--verbose repeats it)', () => {
    const f = (fix: string) => ({ id: 'reply.no-calendar', severity: 'warning' as const, path: 'p', message: 'No text/calendar part.', evidence: {}, fix });
    const rows = [row({ uid: 3, findings: [f('Ask them to use the buttons.')] }), row({ uid: 4, findings: [f('Ask them to use the buttons.')] }), row({ uid: 5, findings: [f('Another fix.')] }), row({ uid: 6, findings: [f('Ask them to use the buttons.')] })];
    const shown = new Map<string, string>();
    const text = rows.map((r) => renderRow(r, c, { verbose: false, fixesShown: shown }).slice(1));
    expect(text[0]).toEqual(['        ! reply.no-calendar  No text/calendar part.', '          fix: Ask them to use the buttons.']);
    expect(text[1]).toEqual(['        ! reply.no-calendar  No text/calendar part.', '          fix: as for UID 3 above']);
    expect(text[2]![1]).toBe('          fix: Another fix.');
    expect(text[3]![1]).toBe('          fix: as for UID 3 above');
    const verbose = rows.map((r) => renderRow(r, c, { verbose: true, fixesShown: new Map() }).join('\n'));
    for (const v of verbose) expect(v).not.toMatch(/as for UID/);
  });

  it('counts per serverAction, \\Seen skipped, --apply outcome', () => {
    const t = new Tally(false);
    t.add(row());
    t.add(row({ uid: 8, serverAction: 'NO_TOKEN', mailboxEffect: 'left-seen' }));
    expect(pollSummaryLine(t.summary({ seenSkipped: 2, vanished: 0 }), c)).toBe('2 messages: 1 INJECTION_SUBMITTED, 1 NO_TOKEN; 2 \\Seen not read by the server');
  });

  it('--apply: replies left uninjected are counted in the line, which then reads as a problem', () => {
    const rows = [
      row({ uid: 1, apply: { status: 'injected', deleted: true } }),
      row({ uid: 2, apply: { status: 'skipped', deleted: false, reason: 'the organizer and attendee are unknown' } }),
      row({ uid: 3, serverAction: 'NO_TOKEN', apply: { status: 'skipped', deleted: false, reason: 'no token' } }),
    ];
    const summary = summarise(rows, { seenSkipped: 0, vanished: 0 });
    expect(summary).toMatchObject({ injected: 1, deleted: 1, failed: 0, notInjected: 1 });
    expect(pollSummaryLine(summary, c)).toBe('3 messages: 2 INJECTION_SUBMITTED, 1 NO_TOKEN; --apply: 1 injected, 1 deleted, 0 failed, 1 not injected (still in the mailbox)');
  });

  it("the foot shows a server's error text as text (the streamed poll prints the foot on its own)", () => {
    const report = {
      summary: summarise([row()], { seenSkipped: 0, vanished: 0 }),
      stats: { selected: 1, exists: 1, ms: 5, roundTrips: 2, bytesIn: 2048 },
      commands: [],
      mailbox: { readOnly: true },
      messages: [],
      error: 'IMAP UID FETCH failed: NO \x1b[2J\x1b]0;owned\x07',
    } as unknown as PollReport;
    const text = renderFoot(report, palette(true), { verbose: false, quiet: false }).join('\n');
    expect(foreignControls(text)).toEqual([]);
    expect(text).toContain('NO \\x1b[2J\\x1b]0;owned\\x07. Nothing on the server was changed.');
  });

  it('after a message that stops the cycle, later rows wait for the next poll', () => {
    const t = new Tally(true);
    t.add(row({ uid: 1, serverAction: 'UNKNOWN_FAILURE', stopsCycle: true }));
    t.add(row({ uid: 2 }));
    expect(t.rows.map((r) => r.thisCycle)).toEqual([true, false]);
    expect(renderRow(t.rows[1]!, c, { verbose: false }).join('\n')).toMatch(/deleted \(next poll\)[\s\S]*waits for the next poll: UID 1 ends the server's cycle/);
  });

  it('behind a message the server stops at every poll (IMAP 2.x-5.0), later rows are never reached', () => {
    const t = new Tally(true);
    t.add(row({ uid: 7, serverAction: 'UNKNOWN_FAILURE', stopsCycle: true, mailboxEffect: 'left-blocks-every-poll' }));
    t.add(row({ uid: 8 }));
    expect(t.rows[1]!.waitsBehind).toEqual({ uid: 7, everyPoll: true });
    const text = renderRow(t.rows[1]!, c, { verbose: false }).join('\n');
    expect(text).toMatch(/never reached\n.*never processed while UID 7 stays: the server's poll stops there every time .*; once UID 7 is removed, the next poll reaches this one: INJECTION_SUBMITTED, deleted$/);
    expect(text).not.toMatch(/next poll\)/);
  });

  it('a message behind a blocking one that would block too: no blocks-cycle of its own, counted apart, each problem once', () => {
    const blocks = (uid: number): PollMessage =>
      row({
        uid,
        serverAction: 'UNKNOWN_FAILURE',
        stopsCycle: true,
        mailboxEffect: 'left-blocks-every-poll',
        findings: [
          { id: 'message.blocks-cycle', severity: 'error', path: 'p', message: '5.0 fetches it first again at every poll and stops there.', evidence: {}, fix: 'Remove it.' },
          { id: 'reply.invalid-icalendar', severity: 'error', path: 'p', message: 'The calendar does not parse.', evidence: {}, fix: 'Ask again.' },
        ],
      });
    const t = new Tally(true);
    t.add(blocks(1));
    t.add(row({ uid: 2 }));
    t.add(blocks(3));
    t.add(row({ uid: 4 }));
    // UID 3 is never reached: the would-be blocking is in its note, not a finding (nor an error) of its own.
    expect(t.rows[2]!.findings.map((f) => f.id)).toEqual(['reply.invalid-icalendar']);
    const text = renderRow(t.rows[2]!, c, { verbose: false }).join('\n');
    expect(text).not.toMatch(/blocks-cycle|fetches it first again/);
    expect(text).toMatch(/never reached\n[\s\S]*once UID 1 is removed, the server fails on this one in its turn \(UNKNOWN_FAILURE\) and every later poll stops here instead: remove it too$/);
    // UID 4 still waits behind UID 3 once UID 1 is gone.
    expect(t.rows[3]!.waitsBehind).toEqual({ uid: 1, everyPoll: true, then: { uid: 3 } });
    expect(renderRow(t.rows[3]!, c, { verbose: false }).join('\n')).toMatch(/once UID 1 is removed, this one still waits behind UID 3, which the server fails on in its turn$/);
    const summary = t.summary({ seenSkipped: 0, vanished: 0 });
    expect(summary).toMatchObject({ messages: 4, errorFindings: 3, notReached: { messages: 3, behind: { uid: 1 }, everyPoll: true } });
    expect(summary.byServerAction).toMatchObject({ UNKNOWN_FAILURE: 1, INJECTION_SUBMITTED: 0 });
    expect(summary.notReached!.byServerAction).toMatchObject({ UNKNOWN_FAILURE: 1, INJECTION_SUBMITTED: 2 });
    expect(pollSummaryLine(summary, c)).toBe('4 messages: 1 UNKNOWN_FAILURE; 3 never reached while UID 1 stays (once reached: 2 INJECTION_SUBMITTED, 1 UNKNOWN_FAILURE); 3 error findings');
    const report = { summary, stats: { selected: 4, exists: 4, ms: 5, roundTrips: 2, bytesIn: 2048 }, commands: [], mailbox: { readOnly: true }, messages: [] } as unknown as PollReport;
    expect(renderFoot(report, c, { verbose: false, quiet: false }).slice(0, 7)).toEqual([
      '',
      'Summary: processed by this poll',
      '  1  UNKNOWN_FAILURE',
      'Never reached while UID 1 stays (what the server does once it reaches them)',
      '  2  INJECTION_SUBMITTED',
      '  1  UNKNOWN_FAILURE',
      '',
    ]);
    // The --apply path sums its rows again: the same split.
    expect(summarise(t.rows, { seenSkipped: 0, vanished: 0 })).toEqual(summary);
  });

  it('--apply: the Mailbox column says what this run did; never "deleted" on a message it kept', () => {
    const last = (m: PollMessage): string => renderRow(m, c, { verbose: false })[0]!.trim().split(/\s+/).at(-1)!;
    const applied = (apply: PollMessage['apply']): PollMessage => row({ apply });
    expect(last(applied({ status: 'injected', httpStatus: 200, deleted: true }))).toBe('deleted');
    const pending = applied({ status: 'injected-not-deleted', httpStatus: 200, deleted: false });
    expect(last(pending)).toBe('kept');
    expect(renderRow(pending, c, { verbose: false })[1]).toBe("        --apply: injected (200); not deleted yet: the next run deletes it without injecting it again; the server's own poll would delete it");
    expect(last(applied({ status: 'deleted-earlier-injection', deleted: false }))).toBe('kept');
    expect(last(applied({ status: 'failed', deleted: false, reason: 'x' }))).toBe('kept');
    expect(last(applied({ status: 'gone', deleted: false }))).toBe('gone');
    // Without --apply, the server's own effect, as before.
    expect(last(row())).toBe('deleted');
  });

  it('dates in UTC, unparsable ones as given', () => {
    expect(shortDate('Mon,  2 Mar 2026 09:00:01 +0000 (UTC)')).toBe('2026-03-02 09:00Z');
    expect(shortDate('sometime last week')).toBe('sometime last week');
    expect(shortDate(null)).toBe('(none)');
  });
});
