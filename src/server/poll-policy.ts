/**
 * What one poll does to a message in the server's mailbox, as data
 * (calendarserver-imip.md §4.2 IMAP cycle, §4.3 POP3 cycle, §4.4 action codes, §11 parse failures).
 * Keyed by policy era (derived from release features) and protocol; callers never compare versions.
 */
import type { MailboxProtocol } from './protocol.js';
import { featuresOf, type ServerVersion } from './release.js';

/** Era C `MailReceiver` action codes (§4.4), used as labels for every release line. */
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
 * - `deleted-all-mail`: deleted only because `shouldDeleteAllMail` holds (§4.2).
 */
export type MailboxEffect = 'deleted' | 'left-seen' | 'seen-removed' | 'left-reread-every-poll' | 'deleted-all-mail';

/** Releases that behave alike for polling. */
export type PollEra = 'delete-everything' | 'selective' | 'selective-unknown-age';

export interface PollPolicy {
  era: PollEra;
  protocol: MailboxProtocol;
  /** Section of calendarserver-imip.md the row comes from. */
  source: string;
  /** Which messages a poll reads. */
  reads: 'all' | 'unseen';
  /** Outcome per action code; actions not listed get `otherwise`. */
  byAction: Partial<Record<ServerAction, MailboxEffect>>;
  otherwise: MailboxEffect;
  /** `shouldDeleteAllMail` is consulted (5.1+). */
  deleteAllMail: boolean;
  /**
   * A calendar that fails to parse raises inside the asynchronous reply processing: no action
   * code, no delete even with deleteAllMail (§11).
   */
  asyncFailure: { effect: MailboxEffect; stopsCycle: boolean };
}

export const POLL_POLICY: Record<PollEra, Record<MailboxProtocol, PollPolicy>> = {
  'delete-everything': {
    imap: {
      era: 'delete-everything',
      protocol: 'imap',
      source: 'IMAP on 2.x-5.0: UID FETCH 1:*, every fetched message gets \\Deleted whatever the outcome',
      reads: 'all',
      byAction: {},
      otherwise: 'deleted',
      deleteAllMail: false,
      asyncFailure: { effect: 'deleted', stopsCycle: false },
    },
    pop3: {
      era: 'delete-everything',
      protocol: 'pop3',
      source: 'POP3 on 2.x-5.0: DELE right after each RETR',
      reads: 'all',
      byAction: {},
      otherwise: 'deleted',
      deleteAllMail: false,
      asyncFailure: { effect: 'deleted', stopsCycle: false },
    },
  },
  selective: {
    imap: {
      era: 'selective',
      protocol: 'imap',
      source: 'IMAP on 5.1+: SEARCH UNSEEN; INJECTION_SUBMITTED deleted, anything else left \\Seen; a calendar that fails to parse ends the cycle',
      reads: 'unseen',
      byAction: { INJECTION_SUBMITTED: 'deleted' },
      otherwise: 'left-seen',
      deleteAllMail: true,
      asyncFailure: { effect: 'left-seen', stopsCycle: true },
    },
    pop3: {
      era: 'selective',
      protocol: 'pop3',
      source: 'POP3 on 5.1+: DELE only INJECTION_SUBMITTED (or deleteAllMail); the rest is read again every poll',
      reads: 'all',
      byAction: { INJECTION_SUBMITTED: 'deleted' },
      otherwise: 'left-reread-every-poll',
      deleteAllMail: true,
      asyncFailure: { effect: 'left-reread-every-poll', stopsCycle: false },
    },
  },
  'selective-unknown-age': {
    imap: {
      era: 'selective-unknown-age',
      protocol: 'imap',
      source:
        'IMAP on 7.0+: INJECTION_SUBMITTED and UNKNOWN_TOKEN_OLD deleted, UNKNOWN_TOKEN gets -FLAGS \\Seen, the rest left \\Seen; a calendar that fails to parse ends the cycle',
      reads: 'unseen',
      byAction: { INJECTION_SUBMITTED: 'deleted', UNKNOWN_TOKEN: 'seen-removed', UNKNOWN_TOKEN_OLD: 'deleted' },
      otherwise: 'left-seen',
      deleteAllMail: true,
      asyncFailure: { effect: 'left-seen', stopsCycle: true },
    },
    pop3: {
      era: 'selective-unknown-age',
      protocol: 'pop3',
      source: 'POP3 on 7.0+: as 5.1; the 72-hour unknown-token cleanup is IMAP-only',
      reads: 'all',
      byAction: { INJECTION_SUBMITTED: 'deleted' },
      otherwise: 'left-reread-every-poll',
      deleteAllMail: true,
      asyncFailure: { effect: 'left-reread-every-poll', stopsCycle: false },
    },
  },
};

/** The poll era of a release (§4.2: 5.1 selective delete, 7.0 unknown-token age). */
export function pollEraOf(v: Pick<ServerVersion, 'major' | 'minor'>): PollEra {
  const f = featuresOf(v);
  if (!f.selectiveDelete) return 'delete-everything';
  return f.unknownTokenAge ? 'selective-unknown-age' : 'selective';
}

export function pollPolicy(v: Pick<ServerVersion, 'major' | 'minor'>, protocol: MailboxProtocol): PollPolicy {
  return POLL_POLICY[pollEraOf(v)][protocol];
}

/** 2.x–5.0 delete every message a poll fetches (§4.2, §4.3). */
export function deletesEveryMessage(v: Pick<ServerVersion, 'major' | 'minor'>): boolean {
  return pollEraOf(v) === 'delete-everything';
}

/**
 * §4.2 `shouldDeleteAllMail`: `Receiving.Server in (ServerHostName, "localhost") and
 * Receiving.Username == "com.apple.calendarserver"` (exact, case-sensitive comparisons). Read by
 * 5.1 and later only.
 */
export function shouldDeleteAllMail(serverHostName: string, receivingServer: string, receivingUsername: string): boolean {
  return (receivingServer === serverHostName || receivingServer === 'localhost') && receivingUsername === 'com.apple.calendarserver';
}

export interface MailboxOutcome {
  effect: MailboxEffect;
  /** IMAP 5.1+: the rest of this poll cycle does not happen (§11). */
  stopsCycle: boolean;
  source: string;
}

/**
 * What the poll does to the message after classifying it. `asyncFailure`: the action is
 * UNKNOWN_FAILURE because a calendar failed to parse inside the asynchronous processing (§11).
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

/** IMAP 5.1+ reads only UNSEEN messages: a `\Seen` message is never processed (§4.2). */
export function pollReads(v: Pick<ServerVersion, 'major' | 'minor'>, protocol: MailboxProtocol, seen: boolean): boolean {
  return pollPolicy(v, protocol).reads === 'all' || !seen;
}
