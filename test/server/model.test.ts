/**
 * The server model against the tagged sources of apple/ccs-calendarserver: one test per point
 * that a second reading of the sources corrected, each naming its tag, file and function. The
 * list of verified claims is docs/server-model.md.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig, getPath } from '../../src/config/load.js';
import { toSettings } from '../../src/config/effective.js';
import { getfqdn } from '../../src/config/host.js';
import { classify } from '../../src/imip/classify.js';
import { LOG } from '../../src/imip/inbound-log.js';
import { parseMessage } from '../../src/imip/mime.js';
import { Tally, toRow } from '../../src/poll/cycle.js';
import { mailboxOutcome, pollPolicy } from '../../src/server/poll-policy.js';
import { defaultServerVersion, featuresOf, parseServerVersion } from '../../src/server/release.js';
import { tempDir, writePlist } from '../helpers/plist.js';
import { context, fixture, parseFixture } from '../imip/message-fixtures.js';

const v = (s: string) => parseServerVersion(s);
const ids = (findings: { id: string }[]) => findings.map((f) => f.id);

describe('--server-version', () => {
  it('a release after 9.2 is taken, and its reason says it is judged as 9.2 behaves; the default says it is the newest', () => {
    for (const t of ['9.3', '10.0', '11']) expect(v(t).reason, t).toMatch(/no release after 9\.2 is published, so it is judged as 9\.2 behaves$/);
    for (const t of ['9.2', '4.3.2']) expect(v(t).reason, t).toBe(`given with --server-version ${t}`);
    expect(() => v('99')).toThrow(/outside the releases with iMIP/);
    // iMIP arrived in 2.2: 2.0 and 2.1 are refused as 1.0 is, 2.2 is the first taken.
    for (const t of ['1.0', '2.0', '2.1', '2.1.9']) expect(() => v(t), t).toThrow(`--server-version: ${t} is outside the releases with iMIP (2.2 to 9.2)`);
    expect(v('2.2')).toMatchObject({ major: 2, minor: 2, line: '2.x' });
    // A bare 2 is the 2.x line, as the man page offers it.
    expect(v('2')).toMatchObject({ major: 2, minor: 2, line: '2.x', text: '2' });
    expect(defaultServerVersion().reason).toMatch(/, so the newest release$/);
  });

  it('a number no tagged release has is taken, and its reason says so with the releases of that major', () => {
    expect(v('4.9').reason).toBe("given with --server-version 4.9, not a release tagged in Calendar Server's sources (its 4.x releases: 4.1, 4.1.1, 4.2, 4.2.1, 4.2.2, 4.3, 4.3.1, 4.3.2): check the number");
    expect(v('4.0')).toMatchObject({ line: '3.x-4.x', reason: expect.stringMatching(/^given with --server-version 4\.0, not a release tagged in Calendar Server's sources/) });
    for (const t of ['3.4', '5.4', '6.3', '7.2', '8.2', '9.1.1', '4.3.3', '2.6']) expect(v(t).reason, t).toMatch(/, not a release tagged in Calendar Server's sources \(its \d\.x releases: [\d., ]+\): check the number$/);
    // Every tagged release, a bare major, and a published release written with .0 stay quiet.
    for (const t of ['2.2', '2.5', '3.3', '4.1.1', '4.2.2', '5.2.1', '6.2', '7.1', '8.1', '9.0', '4', '5', '2', '4.3.0', '5.2.0']) expect(v(t).reason, t).toBe(`given with --server-version ${t}`);
  });
});

describe('include paths per release', () => {
  // CalendarServer-5.0, -5.1 twistedcaldav/stdconfig.py PListConfigProvider.loadConfig:
  // "Includes are not relative to ConfigRoot", path = _expandPath(include). CalendarServer-5.2, -5.3
  // keep the comment but read _expandPath(fullServerPath(configRoot, include)).
  it('5.0 and 5.1 take a relative include as written (the working directory); 4.x, 5.2+ use ConfigRoot', () => {
    const dir = tempDir();
    const cwd = join(dir, 'cwd');
    mkdirSync(cwd);
    mkdirSync(join(dir, 'Config'));
    writePlist(cwd, 'user.plist', { Scheduling: { iMIP: { Sending: { Port: 1001 } } } });
    writePlist(join(dir, 'Config'), 'user.plist', { Scheduling: { iMIP: { Sending: { Port: 2002 } } } });
    const main = writePlist(dir, 'caldavd.plist', { ServerRoot: dir, ConfigRoot: 'Config', Includes: ['user.plist'] });
    for (const [release, port] of [['5.0', 1001], ['5.1', 1001], ['5.2', 2002], ['5.3', 2002], ['4.3', 2002], ['6.0', 2002], ['9.2', 2002]] as const) {
      expect(getPath(loadConfig(main, v(release), { cwd }).effective, 'Scheduling.iMIP.Sending.Port'), release).toBe(port);
    }
  });

  // CalendarServer-3.1..9.2 twistedcaldav/stdconfig.py _expandPath: "$" is the host's FQDN, else "#"
  // its address (never both); CalendarServer-3.0 loadConfig reads fullServerPath(configRoot, include).
  it('expands "$" in an include path from 3.1 (3.0 takes it as written), and then leaves "#" alone', () => {
    const dir = tempDir();
    const main = writePlist(dir, 'caldavd.plist', { ServerRoot: dir, ConfigRoot: dir, Includes: [join(dir, 'host-$-#.plist')] });
    const included = (release: string) => loadConfig(main, v(release)).files.find((f) => f.role === 'include')?.path;
    expect(included('3.0')).toBe(join(dir, 'host-$-#.plist'));
    for (const release of ['3.1', '4.3', '9.2']) expect(included(release), release).toBe(join(dir, `host-${getfqdn()}-#.plist`));
  });

  // CalendarServer-3.2..9.2 twistedcaldav/config.py fullServerPath: a path starting with "/" or "."
  // is returned unchanged, so "./x.plist" is relative to the working directory from 3.0 on.
  it('a path beginning with "." is relative to the working directory from 3.0 on, not to ConfigRoot', () => {
    const dir = tempDir();
    const cwd = join(dir, 'cwd');
    mkdirSync(cwd);
    writePlist(cwd, 'x.plist', { Scheduling: { iMIP: { Sending: { Port: 3003 } } } });
    const main = writePlist(dir, 'caldavd.plist', { ServerRoot: dir, ConfigRoot: dir, Includes: ['./x.plist'] });
    for (const release of ['3.2', '4.3', '6.0', '9.2']) {
      const cfg = loadConfig(main, v(release), { cwd });
      expect(cfg.files.find((f) => f.role === 'include')?.path, release).toBe(join(cwd, 'x.plist'));
    }
  });
});

describe('Includes without their own ServerRoot/ConfigRoot', () => {
  // CalendarServer-3.2/4.3.2/5.2/5.3 twistedcaldav/stdconfig.py PListConfigProvider.loadConfig:
  // os.path.join(configDict.ServerRoot, configDict.ConfigRoot) -> AttributeError when absent;
  // CalendarServer-6.0/9.2 `_loadIncludes(parentDict)` does the same for every file with Includes.
  it('is fatal on 3.x-4.x, 5.2-5.3 and 6.0+, not on 5.0-5.1', () => {
    const dir = tempDir();
    writePlist(dir, 'user.plist', {});
    const main = writePlist(dir, 'caldavd.plist', { Includes: [join(dir, 'user.plist')] });
    for (const [release, fatal] of [['3.2', true], ['4.3', true], ['5.0', false], ['5.1', false], ['5.2', true], ['5.3', true], ['6.0', true], ['9.2', true]] as const) {
      const f = loadConfig(main, v(release)).findings.find((x) => x.id === 'include.no-server-root');
      expect(Boolean(f), release).toBe(fatal);
      if (f) expect(f.severity).toBe('error');
    }
  });

  it('6.0+: also for an included file that lists Includes of its own', () => {
    const dir = tempDir();
    writePlist(dir, 'b.plist', {});
    writePlist(dir, 'a.plist', { Includes: [join(dir, 'b.plist')] });
    const main = writePlist(dir, 'caldavd.plist', { ServerRoot: dir, ConfigRoot: dir, Includes: ['a.plist'] });
    const f = loadConfig(main, v('9.2')).findings.find((x) => x.id === 'include.no-server-root');
    expect(f?.evidence.file).toBe(join(dir, 'a.plist'));
    expect(loadConfig(main, v('4.3')).findings.find((x) => x.id === 'include.no-server-root')).toBeUndefined();
  });
});

describe('unreadable includes', () => {
  // CalendarServer-5.0..9.2 twistedcaldav/stdconfig.py: os.path.exists(path) holds, then
  // _parseConfigFromFile -> open() fails -> ConfigurationError: the server does not start.
  it('an include that exists but cannot be read is fatal on 5.0+ (a missing one only a warning)', () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'dir.plist'));
    const main = writePlist(dir, 'caldavd.plist', { ServerRoot: dir, ConfigRoot: dir, Includes: ['dir.plist', 'missing.plist'] });
    const found = loadConfig(main, v('9.2')).findings.filter((f) => f.id === 'include.missing');
    expect(found.map((f) => [f.evidence.include, f.severity])).toEqual([
      [join(dir, 'dir.plist'), 'error'],
      [join(dir, 'missing.plist'), 'warning'],
    ]);
  });
});

describe('binary plists', () => {
  // Every release: Python 2 plistlib (XML only) in twistedcaldav/stdconfig.py _parseConfigFromFile.
  it('are not read: config.binary-plist, and nothing else is judged (see test/config/load.test.ts)', () => {
    const dir = tempDir();
    const path = join(dir, 'caldavd.plist');
    writeFileSync(path, Buffer.concat([Buffer.from('bplist00'), Buffer.alloc(40)]));
    const cfg = loadConfig(path, v('9.2'));
    expect(ids(cfg.findings)).toEqual(['config.binary-plist']);
    expect(cfg.files[0]).toMatchObject({ status: 'unreadable', format: 'binary' });
  });
});

describe('lower-casing before AddressPatterns', () => {
  // CalendarServer-3.2 twistedcaldav/scheduling/delivery.py matchCalendarUserAddress: cuaddr.lower().
  it('starts at 3.0 (2.x matches as written)', () => {
    expect(featuresOf(v('2.5')).patternsLowercase).toBe(false);
    expect(featuresOf(v('3.0')).patternsLowercase).toBe(true);
    expect(featuresOf(v('3.2')).patternsLowercase).toBe(true);
  });
});

describe('failures that keep a message and block the cycle (2.x-5.0)', () => {
  // CalendarServer-5.0 txdav/caldav/datastore/scheduling/imip/inbound.py
  // IMAP4DownloadProtocol.cbGotMessage: d.addCallback(self.cbFlagDeleted, ...) with no errback.
  it('5.0 IMAP: a failing message is left, every later poll stops at it, and poll says so on the rows after it', () => {
    const ctx = context('5.0', 'imap');
    const bad = classify(parseFixture('unparsable-calendar'), ctx);
    expect([bad.serverAction, bad.mailboxEffect, bad.stopsCycle]).toEqual(['UNKNOWN_FAILURE', 'left-blocks-every-poll', true]);
    expect(bad.findings[0]).toMatchObject({ id: 'message.blocks-cycle', severity: 'error' });
    expect(bad.findings[0]!.message).toMatch(/no message after it is ever processed/);
    // Nothing logs out after the failure (IMAP4Client has no time limit): the sessions pile up.
    expect(bad.findings[0]!.message).toMatch(/leaves its IMAP session open .*later polls fail at login \("IMAP login failed"\) with the right password\.$/);
    // 5.0 leaves the failure unhandled (no "IMAP Error" line).
    expect(bad.logLines.map((l) => l.text)).toContain('Unhandled error in Deferred:');
    const good = classify(parseFixture('thunderbird-reply'), ctx);
    const tally = new Tally(true);
    const ref = (uid: number) => ({ ref: { uid }, size: 1 }) as never;
    tally.add(toRow(ref(7), bad));
    tally.add(toRow(ref(8), good));
    expect(tally.rows[1]!.thisCycle).toBe(false);
    expect(tally.rows[1]!.notes.at(-1)).toMatch(/^never processed while UID 7 stays: the server's poll stops there every time/);
    // Nothing before it: nothing handled again.
    expect(tally.rows[0]!.findings[0]!.evidence).not.toHaveProperty('handledAgainEveryPoll');
  });

  it('5.0 IMAP: the messages before a blocking one are flagged \\Deleted, never expunged, and handled again at every poll', () => {
    // CalendarServer-5.0 inbound.py: fetchUID(1:*) in cbInboxSelected; EXPUNGE only in
    // fetchNextMessage after the last UID, which a failed message's Deferred never reaches.
    const ctx = context('5.0', 'imap');
    const ref = (uid: number) => ({ ref: { uid }, size: 1 }) as never;
    const tally = new Tally(true);
    tally.add(toRow(ref(3), classify(parseFixture('thunderbird-reply'), ctx)));
    tally.add(toRow(ref(4), classify(parseFixture('reply-to-bare-address'), ctx)));
    tally.add(toRow(ref(9), classify(parseFixture('unparsable-calendar'), ctx)));
    const f = tally.rows[2]!.findings.find((x) => x.id === 'message.blocks-cycle')!;
    expect(f.message).toMatch(/ The 2 messages before it \(UID 3 to UID 4\) are flagged \\Deleted but never expunged, since the cycle stops before its EXPUNGE: every poll handles them again \(1 injected again, each logged again\)\.$/);
    expect(f.evidence).toMatchObject({ handledAgainEveryPoll: 2, handledAgainFrom: 'UID 3', handledAgainTo: 'UID 4' });
    expect(f.fix).toMatch(/That poll also handles the messages before it one last time, then expunges them\.$/);
    // 5.1+ read UNSEEN and leave a failed message \Seen: nothing is handled twice.
    const later = new Tally(true);
    later.add(toRow(ref(3), classify(parseFixture('thunderbird-reply'), context('9.2', 'imap'))));
    later.add(toRow(ref(9), classify(parseFixture('unparsable-calendar'), context('9.2', 'imap'))));
    expect(later.rows[1]!.findings.map((x) => x.message).join(' ')).not.toMatch(/handles them again|handles it again/);
  });

  it('5.0 POP3 would delete it anyway (DELE after every RETR), but never logs in; 4.x parse failures are caught and deleted', () => {
    expect(mailboxOutcome({ version: { major: 5, minor: 0 }, protocol: 'pop3', action: 'UNKNOWN_FAILURE', deleteAllMail: false, asyncFailure: true }).effect).toBe('deleted');
    expect(classify(parseFixture('unparsable-calendar'), context('5.0', 'pop3')).mailboxEffect).toBe('never-read');
    const a = classify(parseFixture('unparsable-calendar'), context('4.3', 'imap'));
    expect([a.mailboxEffect, a.stopsCycle]).toEqual(['deleted', false]);
    expect(a.logLine).toMatch(/^Failed to process message: /);
  });

  it('5.1+ IMAP: the cycle stops but the message is \\Seen and skipped later (message.stops-cycle)', () => {
    const c = classify(parseFixture('unparsable-calendar'), context('9.2', 'imap'));
    expect([c.mailboxEffect, c.findings[0]!.id]).toEqual(['left-seen', 'message.stops-cycle']);
  });
});

/** dsn-with-invitation with the ORGANIZER line taken out of its returned calendar. */
function dsnWithoutOrganizer(): Buffer {
  const text = fixture('dsn-with-invitation').toString('latin1');
  const at = text.indexOf('Content-Type: text/calendar');
  const start = text.indexOf('\n\n', at) >= 0 ? text.indexOf('\n\n', at) + 2 : text.indexOf('\r\n\r\n', at) + 4;
  const end = text.indexOf('\n--', start);
  const b64 = text.slice(start, end);
  const cal = Buffer.from(b64.replace(/\s+/g, ''), 'base64').toString('utf8');
  const stripped = cal.replace(/^ORGANIZER[^\n]*\n(?:[ \t][^\n]*\n)*/gm, '');
  expect(stripped).not.toMatch(/ORGANIZER/);
  const encoded = Buffer.from(stripped, 'utf8').toString('base64').replace(/.{76}/g, '$&\n');
  return Buffer.from(text.slice(0, start) + encoded + text.slice(end), 'latin1');
}

describe('a DSN whose returned calendar has no ORGANIZER', () => {
  // processDSN: calendar.getOrganizer() is None, _extractToken(None) raises AttributeError, which
  // `except ValueError` does not catch (CalendarServer-2.5/4.3.2 twistedcaldav/mail.py,
  // CalendarServer-5.0..9.2 inbound.py MailReceiver.processDSN / _extractToken).
  it('fails the message: "Failed to process message" on 2.x-4.x, a failed Deferred on 5.0+; never NO_TOKEN', () => {
    const msg = dsnWithoutOrganizer();
    const old = classify(parseMessage(msg), context('4.3', 'imap'));
    expect([old.serverAction, old.mailboxEffect]).toEqual(['UNKNOWN_FAILURE', 'deleted']);
    expect(old.logLine).toBe("Failed to process message: 'NoneType' object has no attribute 'split'");
    const c = classify(parseMessage(msg), context('9.2', 'imap'));
    expect([c.serverAction, c.mailboxEffect, c.stopsCycle]).toEqual(['UNKNOWN_FAILURE', 'left-seen', true]);
    expect(classify(parseMessage(msg), context('5.0', 'imap')).mailboxEffect).toBe('left-blocks-every-poll');
    // With its ORGANIZER the same bounce is processed.
    expect(classify(parseFixture('dsn-with-invitation'), context('9.2', 'imap')).serverAction).not.toBe('UNKNOWN_FAILURE');
  });
});

describe('an unknown token with a Date that has no zone (7.0+)', () => {
  // CalendarServer-7.0..9.2 inbound.py MailReceiver.processReply: dateutil.parser.parse(Date) is
  // naive, `dateSent < now - timedelta(hours=72)` with an aware now raises TypeError.
  const withDate = (date: string) =>
    parseMessage(Buffer.from(fixture('token-uppercase').toString('latin1').replace(/^Date: .*$/m, `Date: ${date}`), 'latin1'));
  it('fails the message on 7.0+, not UNKNOWN_TOKEN / UNKNOWN_TOKEN_OLD', () => {
    for (const date of ['Mon, 2 Mar 2026 10:40:00', 'Mon, 2 Mar 2026 10:40:00 EST']) {
      const c = classify(withDate(date), context('9.2', 'imap'));
      expect([c.serverAction, c.mailboxEffect], date).toEqual(['UNKNOWN_FAILURE', 'left-seen']);
      expect(c.logLine).toBe("IMAP Error: [Failure instance: Traceback: <type 'exceptions.TypeError'>: can't compare offset-naive and offset-aware datetimes");
    }
    for (const date of ['Mon, 2 Mar 2026 10:40:00 +0000', 'Mon, 2 Mar 2026 10:40:00 GMT', 'Mon, 2 Mar 2026 10:40:00 -0500 (EST)']) {
      expect(classify(withDate(date), context('9.2', 'imap')).serverAction, date).toBe('UNKNOWN_TOKEN');
    }
    // Before 7.0 the Date is not read.
    expect(classify(withDate('Mon, 2 Mar 2026 10:40:00'), context('5.1', 'imap')).serverAction).toBe('UNKNOWN_TOKEN');
  });
});

describe('forwarding a calendar-less reply: the organizer lookup', () => {
  // urn:uuid: from 3.1 through 5.3 (CalendarServer-3.2/4.3.2 mail.py, 5.0 inbound.py processReply,
  // recordWithGUID); urn:x-uid: from 6.0 (CalendarServer-6.0..9.2 inbound.py processReply).
  const token = '4a8c2e6f-0b1d-4c3e-a5f7-9b1d3f5a7c80';
  const withOrganizer = (release: string, organizer: string) =>
    classify(
      parseFixture('human-reply'),
      context(release, 'imap', {
        lookupToken: (t) => (t === token ? { token, organizer, attendee: 'mailto:attendee@remote.test', uid: 'u', organizerEmail: 'organizer@example.test' } : null),
      }),
    ).serverAction;
  it('uses urn:uuid: on 3.2-5.x and urn:x-uid: on 6.0+', () => {
    // Found: the forward is tried (and on 5.0-6.0 fails, below); not found: NO_ORGANIZER_ADDRESS.
    expect(withOrganizer('3.2', 'urn:uuid:ABC')).toBe('REPLY_FORWARDED_TO_ORGANIZER');
    expect(withOrganizer('5.0', 'urn:uuid:ABC')).toBe('UNKNOWN_FAILURE');
    expect(withOrganizer('5.1', 'urn:x-uid:ABC')).toBe('NO_ORGANIZER_ADDRESS');
    expect(withOrganizer('6.0', 'urn:x-uid:ABC')).toBe('UNKNOWN_FAILURE');
    expect(withOrganizer('6.1', 'urn:x-uid:ABC')).toBe('REPLY_FORWARDED_TO_ORGANIZER');
    expect(withOrganizer('9.2', 'urn:uuid:ABC')).toBe('NO_ORGANIZER_ADDRESS');
  });

  // CalendarServer-5.0..6.0 inbound.py processReply: `smtpSender.sendMessage(fromAddr, toAddr,
  // messageid(), msg)` with the parsed email.message.Message, and smtpsender.py sendMessage does
  // `StringIO(message.replace("\r\n", "\n"))`: AttributeError before anything is sent, inside the
  // @inlineCallbacks processReply. 6.1 passes msg.as_string() (206b87d); 3.x-4.x mail.py wrote
  // msg.as_string() itself.
  it('fails on 5.0 through 6.0, where the mail sender is handed the parsed message', () => {
    const human = (release: string, protocol: 'imap' | 'pop3' = 'imap') => classify(parseFixture('human-reply'), context(release, protocol));
    for (const release of ['5.0', '5.1', '5.3', '6.0']) {
      const verdict = human(release);
      expect(verdict.serverAction, release).toBe('UNKNOWN_FAILURE');
      const texts = verdict.logLines.map((l) => l.text);
      expect(texts, release).toContain('Mail gateway forwarding reply back to organizer');
      expect(texts.at(-1), release).toMatch(/AttributeError.*: Message instance has no attribute 'replace'$/);
      const finding = verdict.findings.find((f) => f.id === 'reply.no-calendar')!;
      expect(finding.severity, release).toBe('error');
      expect(finding.message, release).toMatch(/tries to forward this mail to the organizer and fails before anything is sent/);
    }
    // 5.1+ IMAP: the cycle stops there and the message stays \Seen; 5.0 IMAP: it blocks every poll.
    expect([human('5.1').mailboxEffect, human('5.1').stopsCycle]).toEqual(['left-seen', true]);
    expect(human('5.0').mailboxEffect).toBe('left-blocks-every-poll');
    expect(human('6.0', 'pop3').mailboxEffect).toBe('left-reread-every-poll');
    for (const release of ['3.2', '4.3', '6.1', '6.2', '7.0', '9.2']) {
      const verdict = human(release);
      expect(verdict.serverAction, release).toBe('REPLY_FORWARDED_TO_ORGANIZER');
      expect(verdict.logLine, release).toBe('Mail gateway forwarding reply back to organizer');
    }
    // The forward's MAIL FROM is the attendee (fromAddr = attendee[7:]); what a refusing relay
    // does: 6.1+ smtpsender.py _failure logs and returns False; 3.x-4.x mail.py returns the
    // sender's Deferred, which cbGotMessage never errbacks.
    const fix = (release: string) => human(release).findings.find((f) => f.id === 'reply.no-calendar')!.fix;
    expect(fix('9.2')).toMatch(/envelope sender, which is the attendee's own address: the server logs "Failed to send IMIP message … \(Reason: …\)" and the mail is lost\.$/);
    expect(fix('4.3')).toMatch(/over IMAP the poll stops at this message with its session left open/);
  });
});

describe('the DSN log text', () => {
  // CalendarServer-3.2 twistedcaldav/mail.py processDSN: "Mail gateway processing DSN %s to server %s";
  // CalendarServer-2.5 mail.py: "Mail gateway processing DSN %s".
  // The server is serverForOrganizer's: None for an organizer hosted here (4.3.2 directory.py
  // DirectoryRecord.server, always None without Servers enabled).
  it('names the server from 3.2 through 4.x: None for an organizer hosted here', () => {
    expect(LOG.processingDsn(v('2.5'), '<x>').text).toBe('Mail gateway processing DSN <x>');
    expect(LOG.processingDsn(v('3.2'), '<x>').text).toBe('Mail gateway processing DSN <x> to server None');
    expect(LOG.processingDsn(v('4.3'), '<x>').text).toBe('Mail gateway processing DSN <x> to server None');
    expect(LOG.processingDsn(v('5.0'), '<x>').text).toBe('Mail gateway processing DSN <x>');
  });
});

describe('the IMAP cycle after its last message', () => {
  // CalendarServer-5.1/6.0 inbound.py fetchNextMessage: expunge().addCallback(self.cbInboxSelected)
  // (SEARCH UNSEEN again); CalendarServer-7.0/9.2: expunge() only.
  it('5.1-6.x loop (EXPUNGE, SEARCH UNSEEN again); 7.0+ only EXPUNGE', () => {
    expect(pollPolicy(v('5.1'), 'imap').afterLastMessage).toBe('expunge-and-search-again');
    expect(pollPolicy(v('6.0'), 'imap').afterLastMessage).toBe('expunge-and-search-again');
    expect(pollPolicy(v('7.0'), 'imap').afterLastMessage).toBe('expunge');
    expect(pollPolicy(v('9.2'), 'pop3').afterLastMessage).toBe('quit');
  });
});

describe('ServerHostName', () => {
  // CalendarServer-4.3.2..9.2 twistedcaldav/stdconfig.py _updateHostName: empty -> socket.getfqdn().
  it('is getfqdn() when the config leaves it empty, and shouldDeleteAllMail compares with that', () => {
    const dir = tempDir();
    const main = writePlist(dir, 'caldavd.plist', { Scheduling: { iMIP: { Enabled: true } } });
    const s = toSettings(loadConfig(main, v('9.2')), v('9.2'));
    expect(s.serverHostName).toBe(getfqdn());
    const named = writePlist(dir, 'n.plist', { ServerHostName: 'cal.example.test' });
    expect(toSettings(loadConfig(named, v('9.2')), v('9.2')).serverHostName).toBe('cal.example.test');
  });
});

describe('EnableTimezonesByReference', () => {
  // CalendarServer-3.1..5.1 twistedcaldav/stdconfig.py: False; 5.2..9.2: True; 3.0 and 2.x have no
  // such key (3.0 ical.py validateComponentsForCalDAV always wants every TZID defined).
  it('is the release default unless the config sets it, and absent before 3.1', () => {
    const dir = tempDir();
    const plain = writePlist(dir, 'caldavd.plist', { Scheduling: { iMIP: { Enabled: true } } });
    const set = writePlist(dir, 'set.plist', { EnableTimezonesByReference: true, Scheduling: { iMIP: { Enabled: true } } });
    const off = writePlist(dir, 'off.plist', { EnableTimezonesByReference: false, Scheduling: { iMIP: { Enabled: true } } });
    const tz = (file: string, r: string) => toSettings(loadConfig(file, v(r)), v(r)).timezonesByReference;
    expect([tz(plain, '3.0'), tz(plain, '3.1'), tz(plain, '5.1'), tz(plain, '5.2'), tz(plain, '6.0'), tz(plain, '9.2')]).toEqual([null, false, false, true, true, true]);
    expect([tz(set, '3.0'), tz(set, '4.3'), tz(off, '9.2')]).toEqual([null, true, false]);
  });
});

describe("the server's time zone database (6.0+)", () => {
  // CalendarServer-6.0..9.2 twistedcaldav/timezones.py TimezoneCache.getDBPath: TimezoneService
  // BasePath (relative to DataRoot) when the service is on, else DataRoot/zoneinfo unless
  // UsePackageTimezones or DataRoot does not exist (then the package's zones: null here).
  it('is DataRoot/zoneinfo, a BasePath of the time zone service, or the zones the release ships', () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'Data'));
    const db = (name: string, extra: Record<string, unknown>, r = '9.2') =>
      toSettings(loadConfig(writePlist(dir, `${name}.plist`, { ServerRoot: dir, DataRoot: 'Data', ...extra }), v(r)), v(r)).zoneDatabase;
    expect(db('plain', {})).toBe(join(dir, 'Data', 'zoneinfo'));
    expect(db('package', { UsePackageTimezones: true })).toBeNull();
    expect(db('service', { TimezoneService: { Enabled: true, BasePath: 'tz' } })).toBe(join(dir, 'Data', 'tz'));
    expect(db('off', { TimezoneService: { Enabled: false, BasePath: 'tz' } })).toBe(join(dir, 'Data', 'zoneinfo'));
    expect(db('missing', { DataRoot: 'Nowhere' })).toBeNull();
    expect(db('old', {}, '5.3')).toBeNull();
  });

  it('lists every <TZID>.ics under it, by its path', async () => {
    const { zoneNames } = await import('../../src/config/zoneinfo.js');
    const dir = tempDir();
    mkdirSync(join(dir, 'America'));
    for (const f of ['America/New_York.ics', 'UTC.ics', 'W. Europe Standard Time.ics', 'links.txt', '.hidden.ics']) writeFileSync(join(dir, f), 'BEGIN:VCALENDAR\r\n');
    expect([...zoneNames(dir)!].sort()).toEqual(['America/New_York', 'UTC', 'W. Europe Standard Time']);
    expect(zoneNames(join(dir, 'absent'))).toBeNull();
  });
});

describe('SupportedComponents', () => {
  // CalendarServer-6.0..9.2 twistedcaldav/stdconfig.py: ["VEVENT", "VTODO"] by default,
  // _updateICalendar takes tuple(configDict.SupportedComponents); 5.x has no such key.
  it('is read from 6.0, as Python takes tuple() of it', () => {
    const dir = tempDir();
    const sc = (value: unknown, r: string) => toSettings(loadConfig(writePlist(dir, `sc-${r}-${typeof value}.plist`, value === undefined ? {} : { SupportedComponents: value }), v(r)), v(r)).supportedComponents;
    expect(sc(undefined, '9.2')).toEqual(['VEVENT', 'VTODO']);
    expect(sc(['VEVENT'], '6.0')).toEqual(['VEVENT']);
    expect(sc('VEVENT', '9.2')).toEqual(['V', 'E', 'V', 'E', 'N', 'T']);
    expect(sc(['VEVENT'], '5.3')).toBeNull();
  });
});

describe('keys and defaults per release', () => {
  // CalendarServer-2.5 twistedcaldav/config.py DEFAULT_CONFIG["Scheduling"]["iMIP"];
  // CalendarServer-4.3.2 and -9.2 twistedcaldav/stdconfig.py DEFAULT_CONFIG["Scheduling"]["iMIP"].
  it('match the DEFAULT_CONFIG of 2.5, 4.3.2 and 9.2', async () => {
    const { defaultsFor } = await import('../../src/server/keys.js');
    const imip = (r: string) => (defaultsFor(v(r)).Scheduling as { iMIP: Record<string, unknown> }).iMIP;
    for (const r of ['2.5', '4.3', '9.2']) {
      expect(imip(r), r).toMatchObject({
        Enabled: false,
        Sending: { Server: '', Port: 587, Address: '', UseSSL: true, Username: '', Password: '' },
        Receiving: { Server: '', Port: 0, UseSSL: true, Type: '', PollingSeconds: 30, Username: '', Password: '' },
        AddressPatterns: [],
        InvitationDaysToLive: 90,
      });
    }
    expect(imip('2.5')).toMatchObject({ MailGatewayServer: 'localhost', MailGatewayPort: 62310, Username: 'com.apple.calendarserver', Password: '' });
    expect(imip('2.5')).not.toHaveProperty('GUID');
    expect((imip('2.5').Sending as object)).not.toHaveProperty('SuppressionDays');
    expect(imip('4.3')).toMatchObject({ GUID: 'B86ED9D3-49BD-44F8-8F5E-C89D08753DAC', Header: 'x-calendarserver-internal', Sending: { SuppressionDays: 7 } });
    expect(imip('9.2')).not.toHaveProperty('MailGatewayServer');
    expect(imip('9.2')).toMatchObject({ Sending: { SuppressionDays: 7 } });
  });
});

describe('a blocking message in diagnose', () => {
  // The same verdict as poll: on 5.0 IMAP the message that fails stays first in line for every poll.
  it('names it as the reason later messages are never processed', async () => {
    const { runDiagnose, MESSAGES } = await import('../fixtures/diagnose/helpers.js');
    const cfg = (await import('../fixtures/diagnose/helpers.js')).config('5.0');
    const r = await runDiagnose({ version: '5.0', cfg, messages: [join(MESSAGES, 'unparsable-calendar.eml')] });
    const f = r.findings.find((x) => x.id === 'message.blocks-cycle');
    expect(f, r.findings.map((x) => x.id).join(', ')).toBeDefined();
    expect(f!.severity).toBe('error');
    expect(f!.message).toMatch(/no message after it is ever processed/);
  });
});
