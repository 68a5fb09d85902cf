/**
 * The log texts `imip diagnose --log` recognises, one row per finding id (stable, public): the
 * texts that name a cause, as the mail gateway (2.x–4.x `twistedcaldav/mail.py`, 5.0+
 * `txdav/caldav/datastore/scheduling/imip/`), the config loader and the scheduler write them. Where
 * src/imip/inbound-log.ts already writes a text (what the server logs for one inbound message),
 * the pattern is derived from it, so the classifier and the log scanner cannot drift apart.
 *
 * Matching is liberal: a text is found anywhere in a line, whatever the prefix (twistd
 * `2011-05-10 12:00:00-0700 [-] [mailgateway] …`, 5.0+ `[txdav.caldav.datastore.scheduling.imip
 * .inbound#error] …`, syslog, a copy and paste). Each row has literal `needles` used as a fast
 * pre-filter, and a regular expression with named groups for the values the diagnosis uses.
 */
import type { Severity } from '../report/finding.js';
import type { ReleaseLine } from '../server/release.js';
import { LOG } from '../imip/inbound-log.js';
import { POP3_GREETING_ERROR } from '../server/mail-clients.js';
import type { AreaId } from './types.js';

export interface LogPattern {
  /** `log.<short-name>`: stable, public. */
  id: string;
  area: AreaId;
  /** What a match means for the diagnosis; `info` rows are context (counts), not causes. */
  severity: Severity;
  /** Release lines that write the text. */
  lines: readonly ReleaseLine[];
  /** The text, as the server writes it (placeholders in angle brackets). */
  text: string;
  /** Literals of which every matching line contains one (the pre-filter). */
  needles: string[];
  re: RegExp;
  /** One line for --list-checks and the man page. */
  summary: string;
  /** What it means, in a sentence or two. */
  meaning: string;
  fix: string;
  /** The server behaviour the row rests on, in words (user-visible: never a document section). */
  source: string;
}

const ALL: readonly ReleaseLine[] = ['2.x', '3.x-4.x', '5.0+'];
const GATEWAY: readonly ReleaseLine[] = ['2.x', '3.x-4.x'];
const S = '\u0001';

/** Slot patterns for named groups. */
const SLOTS: Record<string, string> = {
  id: '(?<id>\\S+)',
  to: '(?<to>.*)',
  from: '(?<from>\\S*)',
  token: '(?<token>[^)]*)',
  date: "(?<date>[^']*)",
  err: '(?<err>.*)',
  attendee: '(?<attendee>\\S+)',
  organizer: '(?<organizer>\\S+)',
};

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** A text with `\u0001name\u0001` placeholders → regex with named groups, needle, display text. */
function fromTemplate(template: string): { re: RegExp; needles: string[]; text: string } {
  const parts = template.split(S);
  let re = '';
  let text = '';
  const seen = new Set<string>();
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!;
    if (i % 2 === 0) {
      re += escapeRe(part);
      text += part;
    } else {
      const slot = SLOTS[part] ?? `(?<${part}>.*?)`;
      re += seen.has(part) ? '.*?' : slot;
      seen.add(part);
      text += `<${part}>`;
    }
  }
  // The longest literal piece is the most selective pre-filter.
  const needle = parts.filter((_, i) => i % 2 === 0).reduce((a, b) => (b.trim().length > a.trim().length ? b : a), '').trim();
  return { re: new RegExp(re), needles: [needle], text };
}

const slot = (name: string): string => `${S}${name}${S}`;
/** A version object for the LOG functions that differ by release; only the text is used. */
const V2 = { major: 2, minor: 5 };
const V9 = { major: 9, minor: 2 };

interface Row extends Omit<LogPattern, 're' | 'needles' | 'text'> {
  template: string;
  /** Overrides of the derived regex (for texts with variants). */
  re?: RegExp;
  needles?: string[];
  text?: string;
}

const ROWS: Row[] = [
  // ---- replies (`MailHandler.inbound` / `MailReceiver.inbound`) ------------------------------
  {
    id: 'log.no-token',
    area: 'replies',
    severity: 'error',
    lines: ALL,
    template: LOG.noToken(slot('id'), slot('to')).text,
    // The quoted To is optional: a line cut short, or pasted from the FAQ, is still this line.
    re: /Mail gateway didn't find a token in message (?<id>\S+)(?: \((?<to>.*)\))?/,
    summary: 'The server found no token in the first To address of a reply ("didn\'t find a token in message"); the reply is not processed.',
    meaning: 'The first address of the reply\'s To header does not carry exactly one "+token": the attendee replied to the organizer\'s own address, used Reply All, a provider or list rewrote To, or Sending.Address itself holds a "+".',
    fix: 'The token.* findings name the cause for each message still in the mailbox (or given with --message), and for the To the log quotes; "imip diagnose --probe plus-address" checks that plus addresses survive.',
    source: 'reply classification: token from the first To address',
  },
  {
    id: 'log.malformed-to',
    area: 'replies',
    severity: 'error',
    lines: ALL,
    template: LOG.malformedTo(V9, slot('to'), slot('id')).text,
    // 8.0–9.0 log the event unformatted ("Unable to format event {…}: 'tp'", src/imip/inbound-log.ts):
    // the format is in it, with no To or Message-ID to take.
    re: /Mail gateway couldn't parse To: address (?:\(\{tp\}\) in message \{msgid\}|\((?<to>.*)\) in message (?<id>\S+))/,
    summary: 'A reply whose To header is empty or unparsable ("couldn\'t parse To: address"; on 8.0 to 9.0 inside Twisted\'s "Unable to format event").',
    meaning: 'The To header is missing, empty, or only a group such as "undisclosed-recipients:;" (a Bcc reply): there is no address to read a token from.',
    fix: 'Ask the attendee to reply with the calendar address in To (plain Reply or the Accept/Decline buttons), not in Bcc.',
    source: 'reply classification: token from the first To address',
  },
  {
    id: 'log.unknown-token',
    area: 'replies',
    severity: 'warning',
    lines: ALL,
    template: LOG.unknownToken(V9, slot('token'), slot('id')).text,
    re: /Mail gateway found a token \((?<token>[^)]*)\) but didn't recognize it in (?:message|DSN) (?<id>\S+)/,
    summary: 'A token the server does not know ("found a token (…) but didn\'t recognize it"): purged, database reset, another pod\'s mail, or re-cased.',
    meaning: 'The address carried a "+token", but no token row matches it exactly: tokens purged after InvitationDaysToLive (2.x-4.x), a reset or migrated database, mail for another server or pod, or a token whose case was changed on the way.',
    fix: 'Compare the token with the invitation that was sent; if the event is still current, send the invitation again (a new token) and ask for a new answer.',
    source: 'reply classification: token lookup',
  },
  {
    id: 'log.bad-date',
    area: 'replies',
    severity: 'warning',
    lines: ['5.0+'],
    template: LOG.badDate(slot('date'), slot('err')).text,
    summary: '7.0+: the Date header of a mail with an unknown token could not be parsed.',
    meaning: 'The 72-hour rule for unknown tokens cannot tell the age of the mail, so it is kept as recent.',
    fix: 'Nothing to change on the server; the mail stays until a person removes it.',
    source: 'reply classification: token lookup',
  },
  {
    id: 'log.no-calendar',
    area: 'replies',
    severity: 'warning',
    lines: ALL,
    template: LOG.noAttachment(V9, slot('id')).text,
    summary: 'A reply without a text/calendar part ("didn\'t find an icalendar attachment"); 3.0+ forwards it to the organizer.',
    meaning: 'The attendee answered with plain text (or a client that drops the calendar): nothing can update the event.',
    fix: 'Ask the attendee to answer with the Accept/Decline buttons of an iMIP-aware client; with POP3 on 5.1+ the mail is forwarded again at every poll until removed (#500).',
    source: 'reply classification: calendar attachment',
  },
  {
    id: 'log.forwarded-to-organizer',
    area: 'replies',
    severity: 'info',
    lines: ['3.x-4.x', '5.0+'],
    template: LOG.forwarding().text,
    summary: 'A reply without calendar was forwarded to the organizer (3.1+).',
    meaning: 'Context: the organizer got the attendee\'s text answer by mail (except on 5.0 to 6.0, where the forward then fails: log.forward-failed).',
    fix: 'Nothing to do.',
    source: 'reply classification: calendar attachment',
  },
  {
    id: 'log.forward-failed',
    area: 'replies',
    severity: 'error',
    lines: ['5.0+'],
    // CalendarServer-5.0..6.0 imip/inbound.py processReply hands smtpsender.py sendMessage the
    // parsed email.message.Message, whose .replace() does not exist: AttributeError inside the
    // reply's Deferred, which 5.1+ IMAP log as "IMAP Error: [Failure instance: Traceback: <type
    // 'exceptions.AttributeError'>: …" and 5.0 (and POP3) as the last line of an unhandled
    // Deferred's traceback. Before log.imap-error and log.unhandled-deferred: the first row wins.
    template: "AttributeError: Message instance has no attribute 'replace'",
    re: /AttributeError'?>?: Message instance has no attribute 'replace'/,
    needles: ["Message instance has no attribute 'replace'"],
    summary: '5.0 to 6.0: forwarding a reply without calendar to the organizer failed (its mail sender was handed the parsed message instead of its text).',
    meaning:
      'A human reply reached the gateway, which tried to forward it to the organizer and failed before sending anything: the organizer never gets it. The failure also ends that IMAP poll cycle, and the message stays (\\Seen on 5.1+ IMAP; on 5.0 IMAP it stops every later poll; over POP3 from 5.1 it fails again at every poll).',
    fix: 'Move such mails out of the mailbox and tell the organizers; 6.1 and later forward them. "imip poll --once" shows which messages are calendar-less replies.',
    source: 'the 5.0 to 6.0 mail gateway passes the parsed message where its mail sender wants text',
  },
  {
    id: 'log.no-organizer-address',
    area: 'replies',
    severity: 'error',
    lines: ['3.x-4.x', '5.0+'],
    template: LOG.noOrganizerAddress().text,
    summary: 'A reply without calendar could not be forwarded: the organizer has no e-mail address ("Don\'t have an email address for the organizer").',
    meaning: 'The organizer is a directory user (urn:uuid:/urn:x-uid:) whose record has no e-mail address, so the text reply is dropped.',
    fix: 'Give the organizer an e-mail address in the directory.',
    source: 'reply classification: calendar attachment',
  },
  {
    id: 'log.no-organizer-in-reply',
    area: 'replies',
    severity: 'info',
    lines: ALL,
    template: LOG.noOrganizerInReply(slot('id')).text,
    summary: 'A REPLY without ORGANIZER; the server adds the token\'s organizer and goes on.',
    meaning: 'Context: some clients drop ORGANIZER from replies; the server repairs it.',
    fix: 'Nothing to do.',
    source: 'reply classification: calendar rewrite',
  },
  {
    id: 'log.dsn-no-token',
    area: 'replies',
    severity: 'warning',
    lines: ALL,
    template: LOG.cantFindTokenInDsn(slot('id')).text,
    summary: 'A bounce whose returned invitation has no tokenized ORGANIZER ("can\'t find token in DSN").',
    meaning: 'A delivery failure came back, but the returned invitation does not carry the plus address: the organizer is not told.',
    fix: 'Look at the bounce by hand and tell the organizer which attendee address failed.',
    source: 'reply classification: delivery-status check',
  },
  {
    id: 'log.dsn-unprocessable',
    area: 'replies',
    severity: 'warning',
    lines: ALL,
    template: LOG.cantProcessDsn(slot('id')).text,
    summary: 'A bounce the server cannot use ("can\'t process DSN"): no Action: failed, or no returned calendar.',
    meaning: 'A delay notice, or a bounce without the original invitation: the organizer is not told about the failed delivery.',
    fix: 'Check the attendee address of the bounced invitation by hand.',
    source: 'reply classification: delivery-status check',
  },
  {
    id: 'log.dsn-processed',
    area: 'replies',
    severity: 'info',
    lines: ALL,
    template: LOG.processingDsn(V2, slot('id')).text,
    summary: 'A bounce was turned into a failed reply for the organizer ("processing DSN").',
    meaning: 'Context: an invitation could not be delivered; the organizer sees REQUEST-STATUS 5.1.',
    fix: 'Check the attendee address that bounced.',
    source: 'reply classification: delivery-status check',
  },
  {
    // Before log.process-failed: the first row that matches a line takes it.
    id: 'log.multiple-components',
    area: 'replies',
    severity: 'error',
    lines: ['3.x-4.x', '5.0+'],
    template: `Calendar contains more than one primary component: ${slot('err')}`,
    // The pre-filter's first bytes decide how far the search may jump: "Calendar co" shares its
    // three-byte pieces with everyday text and made the whole scan 8% slower; these share few.
    needles: ['than one primary'],
    summary: '3.0 to 5.0: a reply with more than one main component failed ("Calendar contains more than one primary component"), most often an answer to a whole repeating event with a changed occurrence.',
    meaning:
      "The server takes one main component from a reply's calendar and fails on more; an answer to a repeating event with a changed occurrence carries the master and that occurrence, so the attendee's answer was not recorded (3.x-4.x delete the message; 5.0 over IMAP stops at it at every poll).",
    fix: 'Tell the organizer what the attendee answered; 5.1 and later take the master and accept such replies. "imip diagnose --message FILE" on the message names its components.',
    source: "reply processing: the reply's main component, one only before 5.1",
  },
  {
    id: 'log.process-failed',
    area: 'replies',
    severity: 'error',
    lines: ALL,
    template: LOG.failedToProcess(slot('err')).text,
    summary: 'An exception while handling a message ("Failed to process message: …"): bad iCalendar data, an odd DSN.',
    meaning: 'The message could not be handled at all (most often a calendar that does not parse, e.g. not UTF-8); 2.x-5.0 delete it anyway.',
    fix: 'Find the message by its time in the mailbox (or ask the attendee) and run "imip diagnose --message FILE" on it.',
    source: 'reply classification; a calendar that fails to parse ends the poll cycle',
  },
  {
    id: 'log.received',
    area: 'replies',
    severity: 'info',
    lines: ALL,
    template: LOG.received(slot('id'), slot('from'), slot('to')).text,
    re: /Mail gateway received message (?<id>\S+) from (?<from>.*?) to (?<to>.*)/,
    summary: 'A reply was read from the mailbox ("received message … from … to …").',
    meaning: 'Context: the poll works and reads replies.',
    fix: 'Nothing to do.',
    source: 'reply classification: message received',
  },
  // ---- injection (`injectMessage`; `IMIPScheduler` on the organizer's side) ------------------
  {
    id: 'log.injected',
    area: 'injection',
    severity: 'info',
    lines: ALL,
    template: LOG.injectedHttp(slot('id')).text,
    re: /Mail gateway successfully injected message (?<id>\S+)|Successfully injected iMIP response from (?<attendee>\S+) to (?<organizer>\S+)/,
    needles: ['successfully injected message', 'Successfully injected iMIP response'],
    text: 'Mail gateway successfully injected message <id> | Successfully injected iMIP response from <attendee> to <organizer>',
    summary: 'A reply reached the organizer ("successfully injected").',
    meaning: 'Context: replies are delivered; injection works.',
    fix: 'Nothing to do.',
    source: '2.x injection over HTTP as a directory user; after injection, on the organizer\'s side',
  },
  {
    id: 'log.injection-principal-not-found',
    area: 'injection',
    severity: 'error',
    lines: ['2.x'],
    template: `iMIP injection principal not found: ${slot('name')}`,
    re: /iMIP injection principal not found: ?(?<name>\S*)/,
    summary: '2.x: the calendar server has no directory user named Scheduling.iMIP.Username ("iMIP injection principal not found: NAME"); every reply fails with 403.',
    meaning: 'The /inbox ACL names the injection user, and the server\'s directory has no `users` record with that short name, so every reply injection is refused with 403.',
    fix: 'Create that user in the server\'s directory (or set Username to an existing one) with the password in Scheduling.iMIP.Password, then restart the server; the injection.* findings say which user and why.',
    source: '2.x injection over HTTP as a directory user',
  },
  {
    id: 'log.injection-auth-failed',
    area: 'injection',
    severity: 'error',
    lines: GATEWAY,
    template: `Mail gateway failed to inject message ${slot('id')} (Reason: ${slot('reason')})`,
    re: /Mail gateway failed to inject message (?<id>\S+) \(Reason: (?<reason>.*(?:authenticat|Authenticat|\b401\b).*)\)/,
    needles: ['Mail gateway failed to inject message'],
    summary: '2.x-4.x: reply injection refused for credentials (2.x Digest user and password, 3.x-4.x the shared secret).',
    meaning: '2.x: the gateway\'s Username/Password do not authenticate against the calendar server\'s directory; 3.x-4.x: the x-calendarserver-internal secret (Scheduling.iMIP.Password) differs between the gateway and the calendar server (another config, a keychain copy, no restart).',
    fix: 'Make both processes read the same Scheduling.iMIP.Password (2.x: the directory user\'s password) and restart the server; "imip diagnose --probe injection" checks it.',
    source: '2.x injection over HTTP as a directory user; 3.x-4.x injection over HTTP with the shared-secret header',
  },
  {
    id: 'log.inject-failed',
    area: 'injection',
    severity: 'error',
    lines: GATEWAY,
    template: `Mail gateway failed to inject message ${slot('id')} (Reason: ${slot('reason')})`,
    re: /Mail gateway failed to inject message (?<id>\S+) \(Reason: (?<reason>.*)\)/,
    summary: '2.x-4.x: a reply could not be posted to the calendar server\'s /inbox/ (connection refused, 403, 500…).',
    meaning: 'The gateway could not hand the reply to the calendar server: the injection URL (host from MailGatewayServer/ServerHostName, port from HTTPPort/SSLPort/EnableSSL) is wrong or down, or the server refused it (403 also when the reply itself is not a calendar it takes: a METHOD not in upper case, from 3.1 no PRODID, on 2.x no VEVENT or other component; reply.scheduler-refuses and reply.invalid-icalendar name the message).',
    fix: 'Check that the calendar server listens where the gateway posts (imip poll --once --apply shows the URL) and read the reason.',
    source: '2.x injection over HTTP as a directory user; 3.x-4.x injection over HTTP with the shared-secret header',
  },
  {
    id: 'log.reply-work-failed',
    area: 'injection',
    severity: 'error',
    lines: ['5.0+'],
    template: `Failed to inject iMIP response (${slot('err')})`,
    re: /Failed to inject iMIP response \((?<err>.*)\)|Unable to process reply/,
    needles: ['Failed to inject iMIP response', 'Unable to process reply'],
    text: 'Failed to inject iMIP response (<err>) | Unable to process reply',
    summary: '5.0+: the queued reply could not be scheduled into the organizer\'s calendar (5.0-6.0 retry it, so one reply can write this again and again).',
    meaning: 'The reply was accepted from the mailbox, but scheduling it failed (organizer not hosted here, event gone, bad data; "ErrorResponse 403 …valid-calendar-data" is the scheduler refusing the calendar itself, a METHOD not in upper case before 8.0 or no PRODID before 6.1: reply.scheduler-refuses names the message).',
    fix: 'Read the error; check that the organizer is a user of this server and the event still exists.',
    source: 'after injection, on the organizer\'s side',
  },
  {
    id: 'log.gateway-host-not-allowed',
    area: 'injection',
    severity: 'error',
    lines: GATEWAY,
    template: `Only ${slot('allowed')} is allowed to submit internal scheduling requests, not ${slot('host')}`,
    re: /Only (?<allowed>\S+) is allowed to submit internal scheduling requests, not (?<host>\S+)/,
    summary: '2.x-4.x: the reply came from a host whose reverse DNS is not MailGatewayServer (403).',
    meaning: 'The calendar server reverse-resolves the gateway\'s IP and requires the name (or IP) to equal MailGatewayServer.',
    fix: 'Set MailGatewayServer to the name the gateway\'s address resolves to (or fix reverse DNS / /etc/hosts).',
    source: 'after injection, on the organizer\'s side',
  },
  {
    id: 'log.originator-local',
    area: 'injection',
    severity: 'error',
    lines: GATEWAY,
    template: `Cannot use originator that is on this server: ${slot('who')}`,
    summary: '2.x-4.x: the replying attendee is a user of this server, so the reply is refused (403).',
    meaning: 'An attendee with a local account was invited by mail (their address did not resolve to the directory record at invitation time).',
    fix: 'Invite local users by their directory address so they are scheduled internally.',
    source: 'after injection, on the organizer\'s side',
  },
  {
    id: 'log.organizer-server-unknown',
    area: 'injection',
    severity: 'error',
    lines: ['3.x-4.x'],
    template: `Unable to determine which server hosts organizer ${slot('who')}`,
    re: /Unable to determine which server hosts organizer (?<who>\S+)|Can't find server for (?<who2>\S+)/,
    needles: ['Unable to determine which server hosts organizer', "Can't find server for"],
    text: 'Unable to determine which server hosts organizer <who> | Can\'t find server for <who>',
    summary: '3.2+ with pods: the gateway cannot tell which server hosts the organizer.',
    meaning: 'The organizer\'s directory record has no server or partition the gateway knows.',
    fix: 'Check the organizer\'s augment record (server-id/partition-id).',
    source: '3.x-4.x injection over HTTP with the shared-secret header',
  },
  // ---- receiving (`MailGatewayServiceMaker`, `IMAP4DownloadProtocol`, `POP3DownloadProtocol`) ---
  {
    id: 'log.invalid-receiving-type',
    area: 'receiving',
    severity: 'error',
    lines: GATEWAY,
    template: `Invalid iMIP type in configuration: ${slot('type')}`,
    summary: '2.x-4.x: Receiving.Type is neither pop* nor imap*; the gateway does nothing (outbound too).',
    meaning: 'The gateway service was not started: no mail is polled and no invitation is sent.',
    fix: 'Set Scheduling.iMIP.Receiving.Type to "imap" or "pop" and restart.',
    source: 'defaults filled in when the config loads',
  },
  {
    id: 'log.imap-login-failed',
    area: 'receiving',
    severity: 'error',
    lines: ALL,
    template: `IMAP login failed for ${slot('user')}`,
    re: /IMAP login failed for (?<user>.*)/,
    summary: 'The IMAP server refused Receiving.Username/Password ("IMAP login failed for …").',
    meaning:
      'Wrong credentials, a provider that turned password logins off (OAuth-only, app passwords), or an account locked after failures. From 5.0 it can also be too many open sessions: 7.0 and later never log out after a poll that read mail, and a poll that stops at a failing message stays open too, so once the IMAP server\'s limit of sessions per user is reached (Dovecot: mail_max_userip_connections, 10 by default), logins fail with the right password. On 4.1, 4.1.1 and 5.0 with UseSSL false, a server that offers no STARTTLS and no mechanism Twisted knows gets no LOGIN at all: those releases\' IMAP logger raises just before it.',
    fix: 'Check Receiving.Username/Password (and the macOS keychain copy); "imip test-mailbox" tests the login stage by stage and tells a refused password from a full session limit.',
    source: 'IMAP poll cycle',
  },
  {
    id: 'log.imap-authenticate-fallback',
    area: 'receiving',
    severity: 'info',
    lines: ALL,
    template: `IMAP authenticate failed for ${slot('user')}, trying login`,
    re: /IMAP authenticate failed for (?<user>.*?), trying login/,
    summary: 'Debug: SASL authentication failed and the server falls back to LOGIN.',
    meaning: 'Context only; a following "IMAP login failed" is the real failure.',
    fix: 'Nothing to do unless LOGIN fails too.',
    source: 'IMAP poll cycle',
  },
  {
    id: 'log.pop-login-failed',
    area: 'receiving',
    severity: 'error',
    lines: ALL,
    template: `POP3 login failed for ${slot('user')}`,
    re: /POP3? login failed for (?<user>.*)/,
    needles: ['POP3 login failed for', 'POP login failed for'],
    summary: 'The POP3 server refused the login ("POP3 login failed for …"), or Twisted refused to send the password in clear.',
    meaning: 'Wrong credentials, or a server with neither APOP nor STLS (the gateway never sends a POP3 password without TLS).',
    fix: 'Check Receiving.Username/Password; use port 995 with UseSSL true, or a server offering STLS; "imip test-mailbox" shows the stage.',
    source: 'POP3 poll cycle; a calendar that fails to parse ends the poll cycle',
  },
  {
    id: 'log.pop-no-settings',
    area: 'receiving',
    severity: 'error',
    lines: ['5.0+'],
    // CalendarServer-5.0 imip/inbound.py: POP3DownloadFactory keeps no settings, and
    // POP3DownloadProtocol.serverGreeting reads self.factory.settings: the last line of the
    // traceback Twisted logs for the failed greeting (mail-clients.ts POP3_GREETING_ERROR).
    template: POP3_GREETING_ERROR,
    needles: ["'POP3DownloadFactory' object has no attribute 'settings'"],
    summary: '5.0 over POP3: the mail gateway fails at every greeting and never logs in.',
    meaning: "Calendar Server 5.0's POP3 reader does not keep its settings: no reply is ever read or deleted, whatever the mailbox and password.",
    fix: 'Read replies over IMAP (Receiving.Type imap), or move to 5.1 or later.',
    source: "5.0's POP3 reader",
  },
  {
    id: 'log.imap-connect-failed',
    area: 'receiving',
    severity: 'error',
    // From 5.0 the connection goes through an endpoint whose wrapping factory does not call the
    // gateway's clientConnectionFailed/Lost (twext GAIEndpoint, Twisted's _WrappingFactory).
    lines: GATEWAY,
    template: 'IMAP factory connection failed',
    re: /IMAP factory connection (?:failed|lost)/,
    needles: ['IMAP factory connection'],
    summary: '2.x-4.x: the gateway could not connect to the IMAP server ("IMAP factory connection failed"; 5.0-5.3 say "Failed to fetch mail").',
    meaning: 'Wrong Receiving.Server/Port (Port 0 is the default!), or UseSSL not matching the port (993 is TLS from the first byte, 143 is not).',
    fix: 'Check Receiving.Server, Port and UseSSL; "imip test-mailbox" names the mismatch.',
    source: 'defaults filled in when the config loads',
  },
  {
    id: 'log.pop-connect-failed',
    area: 'receiving',
    severity: 'error',
    lines: GATEWAY,
    template: 'POP factory connection failed',
    re: /POP3? factory connection (?:failed|lost)/,
    needles: ['POP factory connection', 'POP3 factory connection'],
    summary: '2.x-4.x: the gateway could not connect to the POP3 server ("POP factory connection failed"; 5.0-5.3 say "Failed to fetch mail").',
    meaning: 'Wrong Receiving.Server/Port (Port 0 is the default!), or UseSSL not matching the port (995 vs 110).',
    fix: 'Check Receiving.Server, Port and UseSSL; "imip test-mailbox" names the mismatch.',
    source: 'defaults filled in when the config loads',
  },
  {
    id: 'log.fetch-failed',
    area: 'receiving',
    severity: 'error',
    lines: ['5.0+'],
    template: `Failed to fetch mail (${slot('err')})`,
    summary: '5.0-5.3: a poll could not connect ("Failed to fetch mail (Failure with multiple causes.)" for a refused connection, the resolver\'s error for an unknown host); 6.0 and later log no such line.',
    meaning: 'The connection to the mailbox failed before any message was read.',
    fix: 'Read the reason; "imip test-mailbox" tests the connection.',
    source: 'poll scheduling',
  },
  {
    id: 'log.imap-error',
    area: 'receiving',
    severity: 'error',
    lines: ['5.0+'],
    // What `ebLogError` writes: a Twisted Failure (src/imip/inbound-log.ts `imapError`). The pre-
    // filter takes the Failure's opening too: the shortest text sets how far the search may jump,
    // and eleven bytes ("IMAP Error:") cost a quarter of the time of a scan.
    template: `IMAP Error: [Failure instance: ${slot('err')}`,
    needles: ['IMAP Error: [Failure'],
    // CalendarServer-5.1 to -9.2 imip/inbound.py `fetchNextMessage`: cbGotMessage's failure reaches
    // `ebLogError`. CalendarServer-5.0 `cbGotMessage` drops handleMessage's Deferred, so there the same
    // failure is Twisted's "Unhandled error in Deferred" instead.
    summary: '5.1 and later: an error ended the IMAP cycle ("IMAP Error: …"), often a reply whose calendar does not parse; later messages wait (5.0 logs the same failure as "Unhandled error in Deferred").',
    meaning: 'The rest of that poll cycle stopped; the failing message stays \\Seen and is never looked at again.',
    fix: 'Find the message (imip poll --once shows which one stops the cycle) and run "imip diagnose --message FILE" on it.',
    source: 'a calendar that fails to parse ends the poll cycle',
  },
  {
    id: 'log.unhandled-deferred',
    area: 'receiving',
    severity: 'warning',
    lines: ['5.0+'],
    // The first of Twisted's two events for a failed Deferred nothing handled (src/imip/inbound-log.ts
    // `unhandledDeferred`): CalendarServer-5.0 drops handleMessage's Deferred (IMAP `cbGotMessage`,
    // POP3 `cbDownloaded`); 5.1 to 9.2 POP3 `cbDownloaded` fails inside the DeferredList of
    // `cbGotMessageSizes`, which does not consume errors. The traceback follows on the next lines.
    template: LOG.unhandledDeferred({ type: 'ValueError', text: '' })[0]!.text,
    needles: ['Unhandled error in Deferred'],
    summary: '5.0 and later: a failure nothing handled ("Unhandled error in Deferred"); from the mail gateway, a message it failed on over POP3, or over IMAP on 5.0.',
    meaning:
      'Twisted writes this when a failed operation had no error handler; the traceback after it names the error. When that traceback runs through the mail gateway (imip/inbound.py), a message failed while it was processed, often a reply whose calendar does not parse: over POP3 from 5.1 it stays in the mailbox and fails again at every poll (5.0 deletes it), and on 5.0 over IMAP it stops every later poll at that message.',
    fix: 'Read the traceback\'s last line; "imip poll --once" shows which message fails, and "imip diagnose --message FILE" says why.',
    source: "the mail gateway's POP3 reader, and 5.0's IMAP reader, leave a failed message's error unhandled",
  },
  {
    id: 'log.imap-empty-results',
    area: 'receiving',
    severity: 'warning',
    lines: ['5.0+'],
    template: 'Skipping empty results -- apply twisted patch!',
    summary: '5.1+: the IMAP server returned no RFC822 data for a message (a Twisted bug).',
    meaning: 'The message is skipped; replies may be lost.',
    fix: 'Apply the Twisted patch shipped with Calendar Server, or upgrade.',
    source: 'IMAP poll cycle',
  },
  // ---- sending (`matchCalendarUserAddress`, `outbound`, `ESMTPSenderFactory`) ----------------
  {
    id: 'log.send-failed',
    area: 'sending',
    severity: 'error',
    lines: ALL,
    template: `Mail gateway failed to send message ${slot('id')} from ${slot('from')} to ${slot('to')} (Reason: ${slot('reason')})`,
    re: /(?:Mail gateway failed to send message|Failed to send IMIP message) ?(?<id>\S*)(?: from (?<from>\S+) to (?<to>\S+))? \((?:Reason: )?(?<reason>.*)\)/,
    needles: ['Mail gateway failed to send message', 'Failed to send IMIP message'],
    text: 'Mail gateway failed to send message <id> from <from> to <to> (Reason: <reason>) | Failed to send IMIP message <id> from <from> to <to> (Reason: <reason>)',
    summary: 'An invitation could not be sent by SMTP ("failed to send message").',
    meaning: 'The SMTP relay refused or the connection failed; on 2.x-4.x the attendee gets SCHEDULE-STATUS 5.1. UseSSL means STARTTLS, never port 465.',
    fix: 'Read the reason; "imip test-smtp" tests the relay with the server\'s semantics.',
    source: 'SMTP transport when sending',
  },
  {
    id: 'log.sent',
    area: 'sending',
    severity: 'info',
    lines: ALL,
    template: `Mail gateway sent message ${slot('id')} from ${slot('from')} to ${slot('to')}`,
    re: /(?:Mail gateway sent message|Sent IMIP message) (?<id>\S+) from (?<from>\S+) to (?<to>\S+)/,
    needles: ['Mail gateway sent message', 'Sent IMIP message'],
    text: 'Mail gateway sent message <id> from <from> to <to> | Sent IMIP message <id> from <from> to <to>',
    summary: 'An invitation left by SMTP.',
    meaning: 'Context: sending works.',
    fix: 'Nothing to do.',
    source: 'SMTP transport when sending',
  },
  {
    id: 'log.request-failed',
    area: 'sending',
    severity: 'error',
    lines: GATEWAY,
    template: `iMIP request ${slot('what')} failed for recipient ${slot('who')}: ${slot('err')}`,
    re: /iMIP request (?<what>.*?) failed for recipient (?<who>\S+): (?<err>.*)/,
    summary: '2.x-4.x: the calendar server could not hand an invitation to the mail gateway (attendee gets 5.1).',
    meaning: 'The POST to the gateway\'s /inbox failed: the gateway is down, MailGatewayServer/Port is wrong, or the secret differs (Authentication required).',
    fix: 'Check that the mail gateway process runs and that both processes read the same Scheduling.iMIP settings; restart.',
    source: '3.x-4.x injection over HTTP with the shared-secret header',
  },
  {
    id: 'log.unknown-calendar-user',
    area: 'sending',
    severity: 'warning',
    lines: ALL,
    template: `Unknown calendar user address: ${slot('address')}`,
    re: /(?:Unknown calendar user address|No record for calendar user address): ?(?<address>\S*)/,
    needles: ['Unknown calendar user address', 'No record for calendar user address'],
    text: 'Unknown calendar user address: <address> | No record for calendar user address: <address>',
    summary: 'An attendee no service claims: no AddressPatterns match (or iMIP is off), so no invitation mail and no token.',
    meaning: 'The attendee address did not match Scheduling.iMIP.AddressPatterns (matched with re.match, lower-cased from 4.0), so no mail was sent (SCHEDULE-STATUS 3.7).',
    fix: 'Add a pattern such as "mailto:.*" to AddressPatterns (lower case), and restart (patterns are cached in memcached).',
    source: 'AddressPatterns',
  },
  {
    id: 'log.old-event-skipped',
    area: 'sending',
    severity: 'info',
    lines: ['3.x-4.x', '5.0+'],
    template: 'Skipping IMIP message for old event',
    summary: '4.1+: no mail for an event entirely older than SuppressionDays.',
    meaning: 'Context: by design.',
    fix: 'Lower Sending.SuppressionDays if mail for past events is wanted.',
    source: 'SuppressionDays',
  },
  // ---- config (`stdconfig.py`; AddressPatterns in `scheduling/delivery.py`) ------------------
  {
    id: 'log.invalid-address-pattern',
    area: 'config',
    severity: 'error',
    lines: ALL,
    template: `Invalid regular expression for Scheduling configuration 'iMIP/LocalAddresses': ${slot('pattern')}`,
    re: /Invalid regular expression for Scheduling configuration '(?:iMIP\/)?\w+': (?<pattern>.*)/,
    needles: ['Invalid regular expression for Scheduling configuration'],
    summary: 'An AddressPatterns entry is not a valid Python regular expression; it is skipped.',
    meaning: 'Attendees the pattern was meant for get no invitation.',
    fix: 'Fix the pattern ("imip check-config" checks every pattern).',
    source: 'AddressPatterns',
  },
  {
    id: 'log.config-unknown-option',
    area: 'config',
    severity: 'warning',
    lines: ALL,
    template: `Ignoring unknown configuration option: ${slot('option')}`,
    re: /Ignoring unknown configuration option: ?'?(?<option>[^'\s]+)'?/,
    summary: 'A top-level config key the release does not know is dropped (a top-level "iMIP" is never read).',
    meaning: 'The key has no effect; when it is "iMIP", the whole iMIP section is ignored (it belongs under Scheduling).',
    fix: 'Move or remove the key ("imip check-config" shows where the server reads it).',
    source: 'where the iMIP settings live',
  },
  {
    id: 'log.keychain-password-missing',
    area: 'config',
    severity: 'info',
    lines: ALL,
    template: `iMIP ${slot('which')} password not found in keychain`,
    re: /iMIP (?<which>\S+) password not found in keychain/,
    needles: ['password not found in keychain'],
    summary: 'macOS: no keychain copy of an iMIP password; the plist value is used.',
    meaning: 'Context: the plist password is what the server uses.',
    fix: 'Nothing to do if the plist holds the password.',
    source: 'defaults filled in when the config loads',
  },
];

export const LOG_PATTERNS: LogPattern[] = ROWS.map((row) => {
  const derived = fromTemplate(row.template);
  const { template: _template, ...rest } = row;
  return {
    ...rest,
    re: row.re ?? derived.re,
    needles: row.needles ?? derived.needles,
    text: row.text ?? derived.text,
  };
});

export const LOG_PATTERN_BY_ID = new Map(LOG_PATTERNS.map((p) => [p.id, p]));

/** Every `log.*` id, in table order. */
export const LOG_FINDING_IDS: readonly string[] = LOG_PATTERNS.map((p) => p.id);
