/** Missing-token causes for saved messages: one fixture per cause (a table), stdin, bad input, log links. */
import { copyFileSync, chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TOKEN_CAUSE_IDS } from '../../src/imip/token-causes.js';
import { tempDir } from '../helpers/plist.js';
import { Chalk } from 'chalk';
import { renderDiagnose } from '../../src/diagnose/render.js';
import { config, ids, LOGS, MESSAGES, MSGS, runDiagnose } from '../fixtures/diagnose/helpers.js';

/** Fixture → token causes expected, most specific first (as tokenCauses orders them). */
const TOKEN_TABLE: Array<[string, string, string[]]> = [
  ['token.to-bare-address', join(MESSAGES, 'reply-to-bare-address.eml'), ['token.to-bare-address', 'token.absent']],
  ['token.not-first-recipient', join(MESSAGES, 'reply-all-other-first.eml'), ['token.not-first-recipient', 'token.other-recipient']],
  ['token.in-other-header', join(MESSAGES, 'token-in-delivered-to-only.eml'), ['token.in-other-header']],
  ['token.only-in-calendar', join(MESSAGES, 'token-only-in-calendar.eml'), ['token.only-in-calendar', 'token.other-recipient']],
  ['token.other-recipient', join(MESSAGES, 'reply-all-other-first.eml'), ['token.not-first-recipient', 'token.other-recipient']],
  ['token.extra-plus', join(MESSAGES, 'extra-plus.eml'), ['token.extra-plus']],
  ['token.malformed', join(MESSAGES, 'token-uppercase.eml'), ['token.malformed']],
  ['token.absent', join(MSGS, 'no-trace.eml'), ['token.absent']],
];

describe('missing token: a fixture for each cause', () => {
  it('covers every token cause id', () => {
    expect(new Set(TOKEN_TABLE.map(([id]) => id))).toEqual(new Set(TOKEN_CAUSE_IDS));
  });

  it.each(TOKEN_TABLE)('%s (%s)', async (id, file, expected) => {
    for (const version of ['2.5', '4.3', '9.2']) {
      const r = await runDiagnose({ version, messages: [file] });
      expect(ids(r, 'token.'), version).toEqual(expected);
      expect(expected).toContain(id);
      const m = r.messages[0]!;
      expect(m).toMatchObject({ source: 'file', label: file, tokenless: true });
      expect(m.causes.filter((c) => c.startsWith('token.'))).toEqual(expected);
      expect(r.areas.find((a) => a.area === 'replies')!.status).toBe(id === 'token.absent' ? 'warning' : 'error');
      expect(r.exitCode).toBe(1);
      for (const f of r.findings.filter((x) => x.id.startsWith('token.'))) expect(f).toMatchObject({ area: 'replies', source: 'message', evidence: { message: file } });
    }
  });

  it('a good reply has no cause, and its verdict is the classifier\'s', async () => {
    const r = await runDiagnose({ version: '9.2', messages: [join(MESSAGES, 'thunderbird-reply.eml')] });
    expect(ids(r, 'token.')).toEqual([]);
    expect(r.messages[0]).toMatchObject({ tokenless: false, serverAction: 'INJECTION_SUBMITTED', token: expect.stringMatching(/^[0-9a-f-]{36}$/) });
  });

  it('a token the server\'s store could not check: the Replies area says so, no clean pass', async () => {
    // baseConfig on 9.2 names the spawned PostgreSQL's socket, which is not there: unreadable.
    const r = await runDiagnose({ version: '9.2', messages: [join(MESSAGES, 'thunderbird-reply.eml')] });
    expect(r.messages[0]).toMatchObject({ serverAction: 'INJECTION_SUBMITTED' });
    // Not a problem of the setup, a limit of this diagnosis: a note, and Replies "not tested".
    const store = r.findings.find((f) => f.id === 'token-store.unreadable');
    expect(store).toMatchObject({ severity: 'info', area: 'replies' });
    const replies = r.areas.find((x) => x.area === 'replies')!;
    expect(replies.status).toBe('not-tested');
    expect(replies.summary).toMatch(/^not tested: 1 token not checked \(the server's token store could not be used\)/);
    expect(store!.message).toMatch(/a reply may be judged INJECTION_SUBMITTED although the server does not know its token/);
  });

  it('the Config line never reads as a clean file when a config finding is listed under another area', async () => {
    const r = await runDiagnose({ version: '4.3', cfg: config('4.3', { 'Scheduling.iMIP.Password': '' }), offline: true });
    expect(r.findings.find((f) => f.id === 'injection.password-missing')).toMatchObject({ area: 'injection', severity: 'error' });
    const line = r.areas.find((a) => a.area === 'config')!.summary;
    expect(line).not.toMatch(/^no problems/);
    expect(line).toMatch(/^no other problems in .*caldavd\.plist: its 1 error is under Injection \(judged as 4\.3, 3\.x-4\.x\)/);
  });

  it('an invitation as the server sends it is not judged as a reply that lost its token', async () => {
    const reply = readFileSync(join(MESSAGES, 'token-only-in-calendar.eml'), 'latin1');
    const invitation = reply.replace(/METHOD:REPLY/g, 'METHOD:REQUEST').replace(/method=REPLY/gi, 'method=REQUEST');
    expect(invitation).not.toBe(reply);
    const r = await runDiagnose({ version: '9.2', messages: ['-'], stdinText: invitation });
    expect(ids(r, 'token.')).toEqual([]);
    const f = r.findings.find((x) => x.id === 'diagnose.not-a-reply');
    expect(f).toMatchObject({ severity: 'warning', area: 'replies' });
    expect(f!.message).toMatch(/^This is an invitation \(METHOD:REQUEST\) whose ORGANIZER is the tokenized calendar\+/);
    // The reply itself still gets its causes.
    const asReply = await runDiagnose({ version: '9.2', messages: [join(MESSAGES, 'token-only-in-calendar.eml')] });
    expect(ids(asReply, 'token.')).toContain('token.only-in-calendar');
  });

  it('reads one message from stdin with "-"', async () => {
    const { readFileSync } = await import('node:fs');
    const r = await runDiagnose({ version: '9.2', messages: ['-'], stdinText: readFileSync(join(MESSAGES, 'extra-plus.eml'), 'utf8') });
    expect(r.messages[0]).toMatchObject({ source: 'stdin', label: 'stdin' });
    expect(ids(r, 'token.')).toEqual(['token.extra-plus']);
  });
});

describe('config causes in the same report', () => {
  it('sending.address-plus (Plus addressing) beside the token.extra-plus it causes', async () => {
    const { config } = await import('../fixtures/diagnose/helpers.js');
    const r = await runDiagnose({
      version: '9.2',
      cfg: config('9.2', { 'Scheduling.iMIP.Sending.Address': 'Calendar <calendar+imip@example.test>' }),
      messages: [join(MESSAGES, 'extra-plus.eml')],
    });
    expect(r.findings.find((f) => f.id === 'sending.address-plus')).toMatchObject({ area: 'plus', source: 'config', severity: 'error' });
    const extra = r.findings.find((f) => f.id === 'token.extra-plus')!;
    expect(extra.fix).toMatch(/Sending\.Address "Calendar <calendar\+imip@example\.test>" itself contains "\+"/);
    expect(r.areas.find((a) => a.area === 'plus')).toMatchObject({ status: 'error', causes: ['sending.address-plus'] });
  });

  it('receiving.mailbox-mismatch (Receiving) when the receiving account is not Sending.Address\'s mailbox', async () => {
    const { config } = await import('../fixtures/diagnose/helpers.js');
    const r = await runDiagnose({
      version: '9.2',
      cfg: config('9.2', { 'Scheduling.iMIP.Receiving.Username': 'someone-else@other.test' }),
      messages: [join(MESSAGES, 'reply-to-bare-address.eml')],
    });
    expect(r.findings.find((f) => f.id === 'receiving.mailbox-mismatch')).toMatchObject({ area: 'receiving', source: 'config' });
    expect(ids(r, 'token.')).toEqual(['token.to-bare-address', 'token.absent']);
  });
});

describe('--verbose: each message\'s mark', () => {
  it('is the worst of its own findings, as its area line counts them', async () => {
    // A reply the server fails on (an error, whatever its token); no token and only a warning; a
    // bounce whose returned invitation has no token in ORGANIZER (NO_TOKEN, no problem of the setup).
    const files = [join(MESSAGES, 'unparsable-calendar.eml'), join(MSGS, 'no-trace.eml'), join(MSGS, 'dsn-organizer-without-token.eml')];
    const marks: string[] = [];
    for (const file of files) {
      const r = await runDiagnose({ version: '9.2', messages: [file], offline: true });
      const text = renderDiagnose(r, new Chalk({ level: 0 }), { verbose: true, quiet: false }, '');
      const replies = r.areas.find((a) => a.area === 'replies')!;
      const row = text.split('\n').find((l) => l.includes(`${file}  `) && l.includes(r.messages[0]!.serverAction))!;
      marks.push(`${row.trim().slice(0, 1)} ${r.messages[0]!.serverAction} ${replies.status}`);
    }
    expect(marks).toEqual(['✗ UNKNOWN_FAILURE error', '! MALFORMED_TO_ADDRESS warning', '✓ NO_TOKEN ok']);
  });
});

describe('bad message input', () => {
  it('binary, plain text, empty, missing, unreadable, a directory: a clear error each, the rest still runs', async () => {
    const dir = tempDir('imip-diag-msg-');
    writeFileSync(join(dir, 'empty.eml'), '');
    copyFileSync(join(MESSAGES, 'extra-plus.eml'), join(dir, 'locked.eml'));
    chmodSync(join(dir, 'locked.eml'), 0o000);
    const files = [
      join(MSGS, 'binary.png'),
      join(MSGS, 'plain-text.txt'),
      join(dir, 'empty.eml'),
      join(dir, 'nope.eml'),
      dir,
      join(MESSAGES, 'extra-plus.eml'),
    ];
    const root = process.getuid?.() === 0;
    if (!root) files.push(join(dir, 'locked.eml'));
    const r = await runDiagnose({ version: '9.2', messages: files });
    const errors = r.findings.filter((f) => f.id === 'diagnose.input-unreadable').map((f) => String(f.evidence.error));
    expect(errors.slice(0, 5)).toEqual([
      'binary data, not a mail message',
      'not a mail message: the first line is not a header ("Dear organizer,")',
      'the file is empty',
      'no such file',
      'is a directory, not a message file',
    ]);
    if (!root) expect(errors[5]).toBe('permission denied');
    expect(ids(r, 'token.')).toEqual(['token.extra-plus']);
    expect(r.exitCode).toBe(2); // an input given on the command line could not be read: 2, as grep
  });

  it('a header block over 1 MiB (a 1,030 KiB X- header, or 100,000 short fields, before the reply\'s own) is judged as poll judges it, not refused', async () => {
    const dir = tempDir('imip-diag-big-');
    const reply = readFileSync(join(MESSAGES, 'thunderbird-reply.eml'));
    const long = join(dir, 'long-header.eml');
    writeFileSync(long, Buffer.concat([Buffer.from(`X-Long: ${'a'.repeat(1030 * 1024)}\r\n`), reply]));
    const many = join(dir, 'many-headers.eml');
    writeFileSync(many, Buffer.concat([Buffer.from(Array.from({ length: 100_000 }, (_, i) => `X-H${i}: v\r\n`).join('')), reply]));
    const plain = await runDiagnose({ version: '9.2', messages: [join(MESSAGES, 'thunderbird-reply.eml')] });
    const r = await runDiagnose({ version: '9.2', messages: [long, many] });
    expect(ids(r, 'diagnose.input-unreadable')).toEqual([]);
    const verdict = (m: (typeof r.messages)[number]): unknown => [m.serverAction, m.logLine, m.token, m.problems];
    expect(r.messages.map(verdict)).toEqual([verdict(plain.messages[0]!), verdict(plain.messages[0]!)]);
    expect(r.exitCode).toBe(plain.exitCode);
  });

  it('nothing examinable at all: exit 2', async () => {
    const { diagnose } = await import('../../src/diagnose/run.js');
    const r = await diagnose({
      config: { error: 'no config file: give --config PATH', path: null },
      messages: [join(MSGS, 'binary.png')],
      logs: [join(LOGS, 'missing.log')],
      conn: { timeoutMs: 1000, insecure: false },
      stateDir: tempDir(),
    });
    expect(r.exitCode).toBe(2);
    expect(r.summary.line).toMatch(/^Nothing could be examined: /);
  });

  it('without a config, saved messages and logs are still examined', async () => {
    const { diagnose } = await import('../../src/diagnose/run.js');
    const r = await diagnose({
      config: { error: 'no config file: give --config PATH', path: null },
      serverVersion: '2.5',
      messages: [join(MESSAGES, 'reply-all-other-first.eml')],
      logs: [join(LOGS, 'error-2x.log')],
      conn: { timeoutMs: 1000, insecure: false },
      stateDir: tempDir(),
    });
    expect(r.exitCode).toBe(1);
    expect(r.inputs.map((i) => [i.kind, i.status])).toEqual([
      ['config', 'error'],
      ['message', 'read'],
      ['log', 'read'],
    ]);
    expect(ids(r, 'token.')).toContain('token.not-first-recipient');
    expect(r.areas.find((a) => a.area === 'config')!.status).toBe('error');
  });
});

describe('linking "didn\'t find a token" log lines to messages', () => {
  it('links by Message-ID, and judges the To the log quotes when the message is gone', async () => {
    const dir = tempDir('imip-diag-link-');
    const { readFileSync } = await import('node:fs');
    // The fixture with the Message-ID the 2.x log names.
    writeFileSync(
      join(dir, 'r.eml'),
      readFileSync(join(MESSAGES, 'reply-all-other-first.eml'), 'utf8').replace('<reply-all-0001@remote.test>', '<reply-all-0002@remote.test>'),
    );
    const r = await runDiagnose({ version: '2.5', messages: [join(dir, 'r.eml')], logs: [join(LOGS, 'error-2x.log')] });
    const m = r.messages[0]!;
    expect(m.logged).toMatchObject({ count: 1, last: '2011-05-10 12:05:00-0700', line: 6 });
    const linked = r.findings.find((f) => f.id === 'token.not-first-recipient' && f.source === 'message')!;
    expect(linked.evidence.logged).toMatch(/^1× "didn't find a token", last 2011-05-10 12:05:00-0700/);
    // <CAB1=reply1@mail.gmail.com> is gone: its logged To (the bare address) is judged alone.
    const fromLog = r.findings.filter((f) => f.source === 'log' && f.id.startsWith('token.'));
    expect(fromLog.map((f) => f.id)).toEqual(['token.to-bare-address']);
    expect(fromLog[0]!.evidence).toMatchObject({ loggedLines: 1, messageIds: ['<CAB1=reply1@mail.gmail.com>'] });
    const noToken = r.findings.find((f) => f.id === 'log.no-token')!;
    expect(noToken.evidence).toMatchObject({ count: 2, linkedMessages: 1, stillAtHand: ['<reply-all-0002@remote.test>'] });
  });
});

describe('big calendars are judged as the server parses them', () => {
  const uu = (data: Buffer): string => {
    const enc = (n: number): string => String.fromCharCode(n === 0 ? 96 : n + 32);
    const lines = ['begin 644 invite.ics'];
    for (let i = 0; i < data.length; i += 45) {
      const chunk = data.subarray(i, i + 45);
      let line = enc(chunk.length);
      for (let j = 0; j < chunk.length; j += 3) {
        const [a = 0, b = 0, c = 0] = [chunk[j], chunk[j + 1], chunk[j + 2]];
        line += enc(a >> 2) + enc(((a << 4) | (b >> 4)) & 63) + enc(((b << 2) | (c >> 6)) & 63) + enc(c & 63);
      }
      lines.push(line);
    }
    return [...lines, '`', 'end'].join('\r\n');
  };
  const calendar = (padding: number, extra = ''): Buffer =>
    Buffer.from(`BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//x//y//EN\r\nMETHOD:REPLY\r\nBEGIN:VEVENT\r\nUID:big\r\nDTSTAMP:20260302T100000Z\r\nDESCRIPTION:${'a'.repeat(padding)}\r\n${extra}ORGANIZER:mailto:organizer@example.com\r\nATTENDEE;PARTSTAT=ACCEPTED:mailto:attendee@example.org\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n`);
  const message = (body: string, encoding: string): string =>
    'From: attendee@example.org\r\nTo: calendar+3a1e0f1c-7a5b-4c2e-9d3f-1b2c3d4e5f60@example.com\r\nSubject: Accepted\r\nMIME-Version: 1.0\r\n' +
    `Content-Type: text/calendar; method=REPLY\r\nContent-Transfer-Encoding: ${encoding}\r\n\r\n${body}\r\n`;

  // The server parses the whole calendar part; the tool kept 2 MB of it, and gave a broken 4 MB
  // calendar the verdict of one that parses.
  it('a uuencoded 4 MB calendar is decoded whole and judged: a broken line past the first 2 MB is found', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'good.eml'), message(uu(calendar(3_000_000)), 'x-uuencode'));
    writeFileSync(join(dir, 'broken.eml'), message(uu(calendar(3_000_000, 'DTSTART:notadate\r\n')), 'x-uuencode'));
    const r = await runDiagnose({ version: '4.3', messages: [join(dir, 'good.eml'), join(dir, 'broken.eml')] });
    const [good, broken] = r.messages;
    expect(good!.problems).toEqual([]);
    expect(broken!.problems).toEqual([]);
    expect(r.findings.map((f) => f.id)).not.toContain('reply.calendar-not-checked');
    expect(broken!.serverAction).toBe('UNKNOWN_FAILURE');
    expect(r.findings.find((f) => f.id === 'reply.invalid-icalendar')?.message).toMatch(/notadate/);
    expect(good!.serverAction).toBe('INJECTION_SUBMITTED');
  });

  // Past the 32 MB the tool keeps of a message's calendars, the calendar is not judged, and the
  // verdict beside it is said to assume that it parses.
  it('a 33 MB calendar: a warning, and the message row says its calendar checks were skipped', async () => {
    const file = join(tempDir(), 'huge.eml');
    writeFileSync(file, message(calendar(33 * 1024 * 1024).toString(), '7bit'));
    const r = await runDiagnose({ version: '4.3', messages: [file] });
    expect(r.messages[0]!.problems).toContain('calendar part (message) was cut at the size cap; calendar checks skipped');
    const f = r.findings.find((x) => x.id === 'reply.calendar-not-checked');
    expect(f).toMatchObject({ severity: 'warning', area: 'replies', evidence: { contentTransferEncoding: '7bit', keptBytes: 32 * 1024 * 1024 } });
    expect(f!.message).toMatch(/^The text\/calendar body of the message is 33\.0 MB as sent, more than the 32\.0 MB this tool keeps of the calendars of one message, so its calendar was not checked\./);
  });
});
