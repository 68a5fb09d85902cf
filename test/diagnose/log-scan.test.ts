/** The log scan: every known log text in each release line's format, gzip, bad input, bounded memory. */
import { createWriteStream, mkdirSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { LOG_PATTERNS, LOG_FINDING_IDS } from '../../src/diagnose/log-patterns.js';
import { LogScanner, lineFormat, lineTime, MAX_LINE, topValues } from '../../src/diagnose/log-scan.js';
import { heldBytes } from '../helpers/memory.js';
import { DIAGNOSE_FINDINGS } from '../../src/diagnose/findings.js';

const LOGS = new URL('../fixtures/diagnose/logs/', import.meta.url).pathname;
const tmp = (): string => {
  const d = join(tmpdir(), `imip-diag-${process.pid}-${Math.random().toString(36).slice(2)}`);
  mkdirSync(d, { recursive: true });
  return d;
};

async function scan(...paths: string[]) {
  const s = new LogScanner();
  for (const p of paths) await s.scanFile(p);
  return s.result();
}

const counts = (r: Awaited<ReturnType<typeof scan>>): Record<string, number> =>
  Object.fromEntries([...r.entries.values()].map((e) => [e.id, e.count]));

/** The three line formats: 2.x and 3.x–4.x twistd, 5.0+ namespaced. */
const FORMATS: Array<[string, (text: string) => string]> = [
  ['2.x twistd', (t) => `2011-05-10 12:00:00-0700 [-] [mailgateway] ${t}`],
  ['3.x-4.x twistd', (t) => `2012-08-20 09:15:02-0700 [-] [mailgateway] [-] ${t}`],
  ['5.0+ namespaced', (t) => `2016-03-02 10:00:00+0000 [-] [caldav-1]  [-] [txdav.caldav.datastore.scheduling.imip.inbound#error] ${t}`],
  ['pasted', (t) => t],
];

/** A concrete line for a pattern's display text (`<id>` → a Message-ID, and so on). */
function sample(id: string, text: string): string {
  const first = text.split(' | ')[0]!;
  return first.replace(/<(\w+)>/g, (_, name: string) => {
    switch (name) {
      case 'id':
        return '<m1@remote.test>';
      case 'to':
        return 'calendar@example.test';
      case 'from':
        return 'attendee@remote.test';
      case 'token':
        return 'abc';
      case 'name':
        return 'com.apple.calendarserver';
      case 'reason':
        return id === 'log.injection-auth-failed' ? 'Authentication required' : 'Connection refused';
      default:
        return `${name}-value`;
    }
  });
}

describe('a log that can be read only once (a pipe, a FIFO)', () => {
  it('is read from its first byte, plain or gzip, as grep reads it', async () => {
    const { execFileSync, spawn } = await import('node:child_process');
    const { readFileSync } = await import('node:fs');
    const text = readFileSync(join(LOGS, 'error-9x.log'));
    const fromFile = await scan(join(LOGS, 'error-9x.log'));
    for (const [name, bytes] of [['plain', text], ['gzip', gzipSync(text)]] as const) {
      const d = tmp();
      const fifo = join(d, `log-${name}`);
      execFileSync('mkfifo', [fifo]);
      // The writer: `--log <(ssh host cat error.log)` gives the tool such a pipe.
      const writer = spawn('sh', ['-c', `cat > "${fifo}"`], { stdio: ['pipe', 'ignore', 'ignore'] });
      const closed = once(writer, 'close');
      writer.stdin.end(bytes);
      const r = await scan(fifo);
      await closed;
      expect(r.files[0], name).toMatchObject({ status: 'read', gzip: name === 'gzip', lines: fromFile.files[0]!.lines });
      expect(counts(r), name).toEqual(counts(fromFile));
    }
  });
});

describe('a "didn\'t find a token" line without its quoted To', () => {
  it('is still that line: counted, with its Message-ID', async () => {
    const d = tmp();
    writeFileSync(join(d, 'short.log'), "Mail gateway didn't find a token in message <x@y>\n");
    const r = await scan(join(d, 'short.log'));
    expect(counts(r)['log.no-token']).toBe(1);
    expect(r.noToken.get('<x@y>')).toMatchObject({ messageId: '<x@y>', to: '' });
  });
});

describe('the log-pattern table', () => {
  it('has stable, unique log.<short-name> ids, each with meaning, fix and release lines', () => {
    expect(new Set(LOG_FINDING_IDS).size).toBe(LOG_FINDING_IDS.length);
    for (const p of LOG_PATTERNS) {
      expect(p.id).toMatch(/^log\.[a-z][a-z-]*$/);
      expect(p.needles.length).toBeGreaterThan(0);
      for (const n of p.needles) expect(n.length, p.id).toBeGreaterThanOrEqual(10);
      expect(p.meaning.length).toBeGreaterThan(15);
      expect(p.fix.length).toBeGreaterThan(10);
      expect(p.lines.length).toBeGreaterThan(0);
    }
    // The ids the issue names.
    expect(LOG_FINDING_IDS).toEqual(expect.arrayContaining(['log.no-token', 'log.injection-principal-not-found', 'log.imap-login-failed', 'log.unknown-calendar-user']));
    // Every diagnose id is in the metadata the man page is generated from.
    const meta = new Set(DIAGNOSE_FINDINGS.map((m) => m.id));
    for (const id of LOG_FINDING_IDS) expect(meta.has(id)).toBe(true);
  });

  for (const [name, format] of FORMATS) {
    it(`recognises every text in the ${name} format as its own id`, async () => {
      const dir = tmp();
      const lines = LOG_PATTERNS.map((p) => format(sample(p.id, p.text)));
      writeFileSync(join(dir, 'all.log'), `${lines.join('\n')}\n`);
      const r = await scan(join(dir, 'all.log'));
      const wrong = LOG_PATTERNS.filter((p) => r.entries.get(p.id)?.count !== 1).map((p) => `${p.id}: ${r.entries.get(p.id)?.count ?? 0}`);
      expect(wrong).toEqual([]);
      expect(r.files[0]).toMatchObject({ status: 'read', lines: LOG_PATTERNS.length, recognised: LOG_PATTERNS.length });
    });
  }
});

describe('scanning the fixture logs of each release line', () => {
  it.each([
    [
      'error-2x.log',
      {
        'log.received': 4,
        'log.no-token': 2,
        'log.unknown-token': 1,
        'log.injection-principal-not-found': 2,
        'log.inject-failed': 2,
        'log.no-calendar': 1,
        'log.dsn-unprocessable': 1,
        'log.process-failed': 1,
        'log.imap-login-failed': 1,
        'log.send-failed': 1,
        'log.unknown-calendar-user': 1,
        'log.gateway-host-not-allowed': 1,
      },
      'twistd-gateway',
    ],
    [
      'error-4x.log',
      {
        'log.invalid-receiving-type': 1,
        'log.no-token': 1,
        'log.malformed-to': 1,
        'log.injection-auth-failed': 2,
        'log.forwarded-to-organizer': 1,
        'log.no-organizer-address': 1,
        'log.pop-login-failed': 1,
        'log.imap-connect-failed': 1,
        'log.injected': 1,
        'log.config-unknown-option': 1,
      },
      'twistd-gateway',
    ],
    [
      'error-9x.log',
      {
        'log.received': 1,
        'log.no-token': 1,
        'log.unknown-token': 1,
        'log.bad-date': 1,
        'log.imap-error': 1,
        'log.injected': 1,
        'log.send-failed': 1,
        'log.fetch-failed': 1,
        'log.imap-login-failed': 1,
        'log.sent': 1,
        'log.unknown-calendar-user': 1,
      },
      'namespaced',
    ],
  ])('%s', async (file, expected, format) => {
    const r = await scan(join(LOGS, file));
    expect(counts(r)).toEqual(expected);
    const f = r.files[0]!;
    expect(f.status).toBe('read');
    expect(f.formats[format as 'namespaced']).toBeGreaterThan(0);
  });

  it('a POP3 reply the 9.x server failed on: Twisted\'s unhandled-Deferred report is found, with its namespace', async () => {
    // Twisted 16.6 internet/defer.py `_DebugInfo.__del__`: log.critical("Unhandled error in
    // Deferred:"), then log.failure with the traceback (its last line: reflect.qual: str).
    const dir = tmp();
    const path = join(dir, 'pop3-failure.log');
    writeFileSync(
      path,
      [
        '2016-03-02 10:00:07+0000 [-] [caldav-1]  [-] [txdav.caldav.datastore.scheduling.imip.inbound#info] Mail gateway received message <m1@remote.test> from attendee@remote.test to calendar+abc@example.test',
        '2016-03-02 10:00:07+0000 [-] [caldav-1]  [-] [twisted.internet.defer#critical] Unhandled error in Deferred:',
        '2016-03-02 10:00:07+0000 [-] [caldav-1]  [-] [twisted.internet.defer#critical] ',
        '\tTraceback (most recent call last):',
        '\t  File "/usr/lib/python2.7/site-packages/txdav/caldav/datastore/scheduling/imip/inbound.py", line 599, in cbDownloaded',
        '\ttwistedcaldav.ical.InvalidICalendarDataError: Invalid property: DTSTAMP:2026-03-02T10:20:00Z',
        '',
      ].join('\n'),
    );
    const r = await scan(path);
    expect(counts(r)).toEqual({ 'log.received': 1, 'log.unhandled-deferred': 1 });
    expect(r.entries.get('log.unhandled-deferred')).toMatchObject({ namespace: 'twisted.internet.defer', level: 'critical' });
  });

  it("5.0 to 6.0: a failed forward of a calendar-less reply, and 5.0's POP3 greeting, are told apart from other errors", async () => {
    // CalendarServer-5.0..6.0 inbound.py processReply hands sendMessage the parsed Message
    // (smtpsender.py: message.replace raises). 5.1+ IMAP: ebLogError's "IMAP Error"; 5.0: the
    // unhandled Deferred's traceback, whose last line is reflect.qual(type): str(value).
    const dir = tmp();
    const path = join(dir, 'forward-failed.log');
    const ns = (level: string, text: string) => `2015-01-12 10:00:07+0000 [-] [caldav-1]  [-] [txdav.caldav.datastore.scheduling.imip.inbound#${level}] ${text}`;
    writeFileSync(
      path,
      [
        ns('warn', 'Mail gateway forwarding reply back to organizer'),
        ns('error', "IMAP Error: [Failure instance: Traceback: <type 'exceptions.AttributeError'>: Message instance has no attribute 'replace'"),
        ns('error', "IMAP Error: [Failure instance: Traceback: <class 'twistedcaldav.ical.InvalidICalendarDataError'>: Invalid property"),
        '2015-01-12 10:00:09+0000 [-] [caldav-1]  [-] [twisted.internet.defer#critical] Unhandled error in Deferred:',
        "\texceptions.AttributeError: Message instance has no attribute 'replace'",
        "\texceptions.AttributeError: 'POP3DownloadFactory' object has no attribute 'settings'",
        '',
      ].join('\n'),
    );
    expect(counts(await scan(path))).toEqual({ 'log.forwarded-to-organizer': 1, 'log.forward-failed': 2, 'log.imap-error': 1, 'log.unhandled-deferred': 1, 'log.pop-no-settings': 1 });
  });

  it("8.0 to 9.0: the malformed-To line Twisted could not format is still log.malformed-to, with no To taken from it", async () => {
    const dir = tmp();
    const path = join(dir, 'malformed.log');
    writeFileSync(
      path,
      `2016-03-02 10:00:07+0000 [-] [caldav-1]  [-] [txdav.caldav.datastore.scheduling.imip.inbound#error] Unable to format event {'log_namespace': 'txdav.caldav.datastore.scheduling.imip.inbound', 'to': u'undisclosed-recipients:;', 'msgid': u'<m1@remote.test>', 'log_format': u"Mail gateway couldn't parse To: address ({tp}) in message {msgid}", 'log_source': None}: 'tp'\n`,
    );
    const r = await scan(path);
    expect(counts(r)).toEqual({ 'log.malformed-to': 1 });
    expect([...(r.entries.get('log.malformed-to')!.values.keys())]).toEqual([]);
  });

  it('keeps count, first and last time, the latest line, and the values the diagnosis links', async () => {
    const r = await scan(join(LOGS, 'error-2x.log'));
    const e = r.entries.get('log.injection-principal-not-found')!;
    expect(e.count).toBe(2);
    expect(e.first.text).toBe('2011-05-10 12:07:01-0700');
    expect(e.last.text).toBe('2011-05-10 12:20:01-0700');
    expect(e.last.line).toBe(12);
    expect(e.example).toMatch(/12:20:01.*iMIP injection principal not found: com\.apple\.calendarserver$/);
    expect(topValues(e, 'name')).toMatchObject([{ value: 'com.apple.calendarserver', count: 2 }]);
    expect([...r.noToken.keys()]).toEqual(['<CAB1=reply1@mail.gmail.com>', '<reply-all-0002@remote.test>']);
    expect(r.noToken.get('<reply-all-0002@remote.test>')!.to).toBe(
      'Organizer Person <organizer@example.test>, calendar+2e6a8c0d-4f1b-4a3c-9e5d-7b9f1d3a5c69@example.test',
    );
    const ns = await scan(join(LOGS, 'error-9x.log'));
    expect(ns.entries.get('log.no-token')).toMatchObject({ namespace: 'txdav.caldav.datastore.scheduling.imip.inbound', level: 'error' });
  });

  it('reads time stamps of twistd, ISO and syslog lines, and tells the formats apart', () => {
    expect(lineTime('2011-05-10 12:00:00-0700 [-] x')).toMatchObject({ text: '2011-05-10 12:00:00-0700', ms: Date.parse('2011-05-10T19:00:00Z') });
    expect(lineTime('2016-03-02T10:00:00.123Z x')!.ms).toBe(Date.parse('2016-03-02T10:00:00.123Z'));
    expect(lineTime('May 10 12:00:00 host caldavd[12]: x')).toMatchObject({ text: 'May 10 12:00:00', ms: null });
    expect(lineTime('no time here')).toBeNull();
    expect(lineFormat('2011-05-10 12:00:00-0700 [-] [mailgateway] x')).toBe('twistd-gateway');
    expect(lineFormat('2016-03-02 10:00:00+0000 [-] [a.b#error] x')).toBe('namespaced');
    expect(lineFormat('2016-03-02 10:00:00+0000 [-] x')).toBe('twistd');
    expect(lineFormat('x')).toBe('other');
  });
});

describe('bad and big input', () => {
  it('reads gzip logs, and keeps what it read of a cut gzip file', async () => {
    const dir = tmp();
    const text = Buffer.from(`${'2016-03-02 10:00:00+0000 [-] noise line\n'.repeat(20000)}2016-03-02 10:00:01+0000 [-] IMAP login failed for cal\n`);
    writeFileSync(join(dir, 'e.log.gz'), gzipSync(text));
    const gz = gzipSync(Buffer.concat([Buffer.from('2016-03-02 10:00:01+0000 [-] IMAP login failed for cal\n'), text]));
    writeFileSync(join(dir, 'cut.log.gz'), gz.subarray(0, Math.floor(gz.length / 2)));
    const r = await scan(join(dir, 'e.log.gz'), join(dir, 'cut.log.gz'));
    expect(r.files[0]).toMatchObject({ status: 'read', gzip: true, lines: 20001, recognised: 1 });
    expect(r.files[1]).toMatchObject({ status: 'partial', gzip: true });
    expect(r.files[1]!.error).toMatch(/unexpected end|corrupt/i);
    expect(r.entries.get('log.imap-login-failed')!.count).toBe(2);
  });

  it('refuses binary data, directories and missing files, each with a clear reason', async () => {
    const dir = tmp();
    writeFileSync(join(dir, 'core'), Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0, 0, 0, 1, 2, 3]));
    writeFileSync(join(dir, 'img.gz'), gzipSync(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 0, 0, 0x0d])));
    const r = await scan(join(dir, 'core'), dir, join(dir, 'nope.log'), join(dir, 'img.gz'));
    expect(r.files.map((f) => [f.status, f.error])).toEqual([
      ['error', 'binary data, not a text log'],
      ['error', 'is a directory, not a log file'],
      ['error', 'no such file'],
      ['error', 'the decompressed data is binary, not a text log'],
    ]);
  });

  it('skips a line longer than 1 MiB and still finds the lines around it', async () => {
    const dir = tmp();
    const path = join(dir, 'long.log');
    writeFileSync(
      path,
      `2016-03-02 10:00:00+0000 [-] IMAP login failed for a\n${'x'.repeat(3 * MAX_LINE)} IMAP login failed for hidden\n2016-03-02 10:00:02+0000 [-] IMAP login failed for b`,
    );
    const r = await scan(path);
    expect(r.files[0]).toMatchObject({ status: 'read', lines: 3, longLines: 1, recognised: 2 });
    expect(topValues(r.entries.get('log.imap-login-failed')!, 'user').map((v) => v.value).sort()).toEqual(['a', 'b']);
  });

  it('streams a 200 MB log line by line with bounded memory', async () => {
    const dir = tmp();
    const path = join(dir, 'big.log');
    const out = createWriteStream(path);
    const noise = '2016-03-02 10:00:00+0000 [-] [caldav-1]  [-] [twistedcaldav.directory#info] a line that is no iMIP business at all, padded to look like a real one\n';
    const hit = '2016-03-02 10:00:01+0000 [-] [caldav-1]  [-] [txdav.caldav.datastore.scheduling.imip.inbound#error] Mail gateway didn\'t find a token in message <big@x> (calendar@example.test)\n';
    const block = noise.repeat(999) + hit;
    const blocks = Math.ceil((200 * 1024 * 1024) / Buffer.byteLength(block));
    for (let i = 0; i < blocks; i++) if (!out.write(block)) await once(out, 'drain');
    out.end();
    await once(out, 'finish');
    // What the scan holds on to while it runs, after a full collection (test/helpers/memory.ts).
    const before = heldBytes();
    let peak = before;
    const timer = setInterval(() => (peak = Math.max(peak, heldBytes())), 100);
    const r = await scan(path);
    clearInterval(timer);
    peak = Math.max(peak, heldBytes());
    expect(r.files[0]).toMatchObject({ status: 'read', lines: blocks * 1000, recognised: blocks });
    expect(r.entries.get('log.no-token')!.count).toBe(blocks);
    // Never the whole file: a few chunks of 1 MiB at a time (far below the 200 MB scanned).
    expect(peak - before).toBeLessThan(32 * 1024 * 1024);
  }, 60_000);
});
