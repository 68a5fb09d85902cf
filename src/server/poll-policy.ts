/**
 * What one poll does to a message in the server's mailbox, as data, keyed by policy era (derived
 * from release features) and protocol; callers never compare versions. Sources per row: the
 * IMAP4DownloadProtocol / POP3DownloadProtocol classes of CalendarServer-2.5 and 4.3.2
 * `twistedcaldav/mail.py`, and of CalendarServer-5.0..9.2
 * `txdav/caldav/datastore/scheduling/imip/inbound.py`. Every `source` text is shown to admins:
 * releases and server functions in words, no document references.
 */
import type { MailboxProtocol } from './protocol.js';
import { featuresOf, type ServerVersion } from './release.js';

/** The action codes of `MailReceiver` (CalendarServer-7.0+ `imip/inbound.py`), used as labels for every release line. */
export type ServerAction =
  | 'INJECTION_SUBMITTED'
  | 'NO_TOKEN'
  | 'UNKNOWN_TOKEN'
  | 'UNKNOWN_TOKEN_OLD'
  | 'MALFORMED_TO_ADDRESS'
  | 'NO_ORGANIZER_ADDRESS'
  | 'REPLY_FORWARDED_TO_ORGANIZER'
  | 'INCOMPLETE_DSN'
  | 'UNKNOWN_FAILURE';

export const SERVER_ACTIONS: readonly ServerAction[] = [
  'INJECTION_SUBMITTED',
  'NO_TOKEN',
  'UNKNOWN_TOKEN',
  'UNKNOWN_TOKEN_OLD',
  'MALFORMED_TO_ADDRESS',
  'NO_ORGANIZER_ADDRESS',
  'REPLY_FORWARDED_TO_ORGANIZER',
  'INCOMPLETE_DSN',
  'UNKNOWN_FAILURE',
];

/**
 * - `deleted`: `\Deleted` + EXPUNGE (IMAP) or DELE (POP3).
 * - `left-seen`: IMAP, stays in the mailbox flagged `\Seen`; 5.1+ never reads it again.
 * - `seen-removed`: IMAP 7.0+, `\Seen` taken off so another pod (or the next poll) reads it again.
 * - `left-reread-every-poll`: POP3, not deleted, so downloaded and processed again at every poll.
 * - `deleted-all-mail`: deleted only because `shouldDeleteAllMail` holds (5.1+).
 * - `left-blocks-every-poll`: IMAP 2.x–5.0, the processing failed inside its Deferred, so the
 *   `\Deleted` store (a callback of that Deferred) never runs and the fetch chain stops: the
 *   message stays, the next poll fetches `1:*` and meets it first again, so no message after it is
 *   ever processed (CalendarServer-5.0 inbound.py `IMAP4DownloadProtocol.cbGotMessage`,
 *   CalendarServer-4.3.2 mail.py `cbGotMessage`).
 * - `never-read`: POP3 5.0, whose reader fails at the server's greeting before it logs in
 *   (CalendarServer-5.0 inbound.py `POP3DownloadProtocol.serverGreeting` reads
 *   `self.factory.settings`, which `POP3DownloadFactory` never sets): no message is downloaded, so
 *   every one stays in the maildrop untouched.
 */
export type MailboxEffect = 'deleted' | 'left-seen' | 'seen-removed' | 'left-reread-every-poll' | 'deleted-all-mail' | 'left-blocks-every-poll' | 'never-read';

export const MAILBOX_EFFECTS: readonly MailboxEffect[] = ['deleted', 'left-seen', 'seen-removed', 'left-reread-every-poll', 'deleted-all-mail', 'left-blocks-every-poll', 'never-read'];

/** Releases that behave alike for polling. */
export type PollEra = 'delete-everything' | 'selective' | 'selective-unknown-age';

export interface PollPolicy {
  era: PollEra;
  protocol: MailboxProtocol;
  /** Where the row comes from, in words an admin can read (release, server function). */
  source: string;
  /**
   * IMAP, after the last message of a cycle: 2.x–6.x EXPUNGE and search again (`1:*` up to 5.0,
   * UNSEEN from 5.1) until nothing is left to read, so mail that arrives meanwhile is handled in
   * the same cycle; 7.0+ EXPUNGE only (`fetchNextMessage` → `cbInboxSelected`). POP3: QUIT.
   */
  afterLastMessage: 'expunge-and-search-again' | 'expunge' | 'quit';
  /** Which messages a poll reads. */
  reads: 'all' | 'unseen';
  /** Outcome per action code; actions not listed get `otherwise`. */
  byAction: Partial<Record<ServerAction, MailboxEffect>>;
  otherwise: MailboxEffect;
  /** `shouldDeleteAllMail` is consulted (5.1+). */
  deleteAllMail: boolean;
  /**
   * A failure inside the asynchronous processing (5.0+: a calendar that fails to parse, a DSN
   * calendar without ORGANIZER, an unknown token with a zone-less Date on 7.0+): no action code,
   * no delete even with deleteAllMail.
   */
  asyncFailure: { effect: MailboxEffect; stopsCycle: boolean };
}

export const POLL_POLICY: Record<PollEra, Record<MailboxProtocol, PollPolicy>> = {
  'delete-everything': {
    imap: {
      era: 'delete-everything',
      protocol: 'imap',
      source:
        '2.x-5.0 IMAP (mail.py / inbound.py cbGotMessage): every message of 1:* is fetched and gets \\Deleted after its processing, whatever the action; a processing failure inside its Deferred skips the delete and stops the cycle',
      reads: 'all',
      byAction: {},
      otherwise: 'deleted',
      deleteAllMail: false,
      asyncFailure: { effect: 'left-blocks-every-poll', stopsCycle: true },
      afterLastMessage: 'expunge-and-search-again',
    },
    pop3: {
      era: 'delete-everything',
      protocol: 'pop3',
      source: '2.x-5.0 POP3 (mail.py / inbound.py cbDownloaded): DELE right after each RETR, whatever the processing does',
      reads: 'all',
      byAction: {},
      otherwise: 'deleted',
      deleteAllMail: false,
      asyncFailure: { effect: 'deleted', stopsCycle: false },
      afterLastMessage: 'quit',
    },
  },
  selective: {
    imap: {
      era: 'selective',
      protocol: 'imap',
      source:
        '5.1-6.x IMAP (inbound.py cbGotMessage): SEARCH UNSEEN; INJECTION_SUBMITTED deleted, anything else left \\Seen; a processing failure stops the cycle; after the last message EXPUNGE and SEARCH UNSEEN again',
      reads: 'unseen',
      byAction: { INJECTION_SUBMITTED: 'deleted' },
      otherwise: 'left-seen',
      deleteAllMail: true,
      asyncFailure: { effect: 'left-seen', stopsCycle: true },
      afterLastMessage: 'expunge-and-search-again',
    },
    pop3: {
      era: 'selective',
      protocol: 'pop3',
      source: '5.1-6.x POP3 (inbound.py cbDownloaded): DELE only after INJECTION_SUBMITTED (or when shouldDeleteAllMail holds); the rest is downloaded again every poll',
      reads: 'all',
      byAction: { INJECTION_SUBMITTED: 'deleted' },
      otherwise: 'left-reread-every-poll',
      deleteAllMail: true,
      asyncFailure: { effect: 'left-reread-every-poll', stopsCycle: false },
      afterLastMessage: 'quit',
    },
  },
  'selective-unknown-age': {
    imap: {
      era: 'selective-unknown-age',
      protocol: 'imap',
      source:
        '7.0+ IMAP (inbound.py cbGotMessage): SEARCH UNSEEN; INJECTION_SUBMITTED and UNKNOWN_TOKEN_OLD deleted, UNKNOWN_TOKEN gets -FLAGS \\Seen, the rest left \\Seen; a processing failure stops the cycle; after the last message EXPUNGE only',
      reads: 'unseen',
      byAction: { INJECTION_SUBMITTED: 'deleted', UNKNOWN_TOKEN: 'seen-removed', UNKNOWN_TOKEN_OLD: 'deleted' },
      otherwise: 'left-seen',
      deleteAllMail: true,
      asyncFailure: { effect: 'left-seen', stopsCycle: true },
      afterLastMessage: 'expunge',
    },
    pop3: {
      era: 'selective-unknown-age',
      protocol: 'pop3',
      source: '7.0+ POP3 (inbound.py cbDownloaded): as 5.1, DELE only after INJECTION_SUBMITTED; the 72-hour unknown-token cleanup is IMAP-only',
      reads: 'all',
      byAction: { INJECTION_SUBMITTED: 'deleted' },
      otherwise: 'left-reread-every-poll',
      deleteAllMail: true,
      asyncFailure: { effect: 'left-reread-every-poll', stopsCycle: false },
      afterLastMessage: 'quit',
    },
  },
};

/** The poll era of a release (5.1 selective delete, 7.0 unknown-token age). */
export function pollEraOf(v: Pick<ServerVersion, 'major' | 'minor'>): PollEra {
  const f = featuresOf(v);
  if (!f.selectiveDelete) return 'delete-everything';
  return f.unknownTokenAge ? 'selective-unknown-age' : 'selective';
}

export function pollPolicy(v: Pick<ServerVersion, 'major' | 'minor'>, protocol: MailboxProtocol): PollPolicy {
  return POLL_POLICY[pollEraOf(v)][protocol];
}

/**
 * The shortest time an IMAP server may keep an idle session before it logs it out (RFC 3501
 * section 5.4: an autologout timer, if any, of at least 30 minutes).
 */
export const IMAP_IDLE_MINIMUM_SECONDS = 30 * 60;

/** The same, in words for the texts: "30 minutes". */
export const IMAP_IDLE_MINIMUM_TEXT = `${IMAP_IDLE_MINIMUM_SECONDS / 60} minutes`;

/**
 * How many sessions a 7.0+ server polling every `pollingSeconds` can hold open at once when mail
 * arrives at every poll ({@link leavesImapSessionOpen}): one per poll for as long as an IMAP
 * server may keep an idle one.
 */
export function sessionsHeldOpen(pollingSeconds: number): number {
  return Math.ceil(IMAP_IDLE_MINIMUM_SECONDS / pollingSeconds);
}

/**
 * 7.0+ IMAP (`afterLastMessage: 'expunge'`): after the last message of a poll `fetchNextMessage`
 * sends EXPUNGE and nothing more (CalendarServer-7.0..9.2 inbound.py; only a poll that finds
 * nothing unseen reaches `cbClosed` and LOGOUT), and Twisted's IMAP4Client has no time limit
 * (twisted-12.3.0..16.6.0 mail/imap4.py `timeout = 0`). So every poll that read mail leaves its
 * session open until the IMAP server drops it as idle. From 5.0, a poll that stops at a failing
 * message stays open the same way.
 */
export function leavesImapSessionOpen(v: Pick<ServerVersion, 'major' | 'minor'>): boolean {
  return pollPolicy(v, 'imap').afterLastMessage === 'expunge';
}

/** 2.x–5.0 delete every message a poll fetches, unless its processing fails inside a Deferred (IMAP). */
export function deletesEveryMessage(v: Pick<ServerVersion, 'major' | 'minor'>): boolean {
  return pollEraOf(v) === 'delete-everything';
}

/**
 * `shouldDeleteAllMail` (CalendarServer-5.1..9.2 inbound.py): `Receiving.Server in (ServerHostName,
 * "localhost") and Receiving.Username == "com.apple.calendarserver"` (exact, case-sensitive
 * comparisons); ServerHostName is `socket.getfqdn()` when the config leaves it empty. Read by 5.1
 * and later only.
 */
export function shouldDeleteAllMail(serverHostName: string, receivingServer: string, receivingUsername: string): boolean {
  return (receivingServer === serverHostName || receivingServer === 'localhost') && receivingUsername === 'com.apple.calendarserver';
}

export interface MailboxOutcome {
  effect: MailboxEffect;
  /** IMAP: the rest of this poll cycle does not happen (5.0: and every later poll stops here again). */
  stopsCycle: boolean;
  source: string;
}

/**
 * What the poll does to the message after classifying it. `asyncFailure`: the action is
 * UNKNOWN_FAILURE because the processing failed inside its Deferred.
 */
export function mailboxOutcome(input: {
  version: Pick<ServerVersion, 'major' | 'minor'>;
  protocol: MailboxProtocol;
  action: ServerAction;
  deleteAllMail: boolean;
  asyncFailure: boolean;
}): MailboxOutcome {
  const row = pollPolicy(input.version, input.protocol);
  if (input.asyncFailure) return { ...row.asyncFailure, source: row.source };
  const effect = row.byAction[input.action] ?? row.otherwise;
  if (row.deleteAllMail && input.deleteAllMail && effect !== 'deleted') {
    return { effect: 'deleted-all-mail', stopsCycle: false, source: `${row.source}; deleteAllMail` };
  }
  return { effect, stopsCycle: false, source: row.source };
}

/**
 * Whether a poll reads the message at all: IMAP 5.1+ reads only UNSEEN messages, so a `\Seen`
 * message is never processed (`cbInboxSelected` searches UNSEEN); POP3 5.0 reads nothing (`never-read`).
 */
export function pollReads(v: Pick<ServerVersion, 'major' | 'minor'>, protocol: MailboxProtocol, seen: boolean): boolean {
  if (protocol === 'pop3' && featuresOf(v).pop3NeverLogsIn) return false;
  return pollPolicy(v, protocol).reads === 'all' || !seen;
}
