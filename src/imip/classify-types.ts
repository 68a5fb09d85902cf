/**
 * Types shared by the classifier, the reply checks and the token-cause analysis
 * (token store and inbound processing: 2.x–4.x `twistedcaldav/mail.py`, 5.0+ `imip/inbound.py`).
 */
import type { MailboxProtocol } from '../config/settings.js';
import type { Finding } from '../report/finding.js';
import type { MailboxEffect, ServerAction } from '../server/poll-policy.js';
import type { HostZone } from '../server/host-zone.js';
import type { ServerVersion } from '../server/release.js';
import type { HeaderList } from './mime-headers.js';
import type { MimePart } from './mime-part.js';
import type { ZoneSource } from './scheduler-check.js';

export type { MailboxEffect, ServerAction } from '../server/poll-policy.js';

/** One row of the token store (2.x–4.x SQLite `TOKENS`, 5.0+ SQL `IMIP_TOKENS`). */
export interface TokenRecord {
  token: string;
  /** The organizer CUA as stored: `mailto:...`, or `urn:uuid:`/`urn:x-uid:` (directory). */
  organizer: string;
  /** Lower-case `mailto:` of the invited attendee. */
  attendee: string;
  uid: string;
  sentAt?: Date | string;
  /**
   * The organizer's directory e-mail, when the organizer is a directory CUA and the caller looked
   * it up (`processReply`: 3.1–5.x `urn:uuid:`, 6.0+ `urn:x-uid:`). Absent: it has none.
   */
  organizerEmail?: string | null;
}

/** A message as both read paths deliver it: headers, structure, the bodies fetched. */
export interface MessageInput {
  headers: HeaderList;
  root: MimePart;
  bodies: ReadonlyMap<string, Buffer>;
  problems?: string[];
}

export interface ClassifyContext {
  version: ServerVersion;
  protocol: MailboxProtocol;
  /** `Scheduling.iMIP.Sending.Address`, as configured (display name allowed). */
  sendingAddress: string;
  /** `shouldDeleteAllMail(...)` for this configuration (5.1+ `inbound.py`). */
  deleteAllMail: boolean;
  /** Exact-match token lookup: a record, `null` when unknown, `undefined` when it cannot be checked. */
  lookupToken(token: string): TokenRecord | null | undefined;
  now: Date;
  /** The server host's time zone, for the `Date` header (7.0+ unknown tokens); a UTC host when absent. */
  hostZone?: HostZone;
  /** IMAP: the message carries `\Seen`. */
  seen?: boolean;
  /** The configured `EnableTimezonesByReference` (3.1+); the release's default when absent. */
  timezonesByReference?: boolean | null;
  /** The configured `SupportedComponents` (6.0+); the default (VEVENT, VTODO) when absent or null. */
  supportedComponents?: readonly string[] | null;
  /** 6.0+: the server's own zone database, when it can be read here (else the zones the release ships). */
  zones?: ZoneSource | null;
}

export type TokenStatus = 'known' | 'unknown' | 'unchecked';

export interface CalendarSummary {
  method: string | null;
  uid: string | null;
  attendees: string[];
  /** PARTSTAT of the attendee the server keeps (the token's, else the only one). */
  partstat: string | null;
  organizer: string | null;
}

/** The server's verdict on one message. */
export interface Verdict {
  /** Raw `Date:` header. */
  date: string | null;
  /** From address as parseaddr gives it. */
  from: string;
  fromHeader: string | null;
  /** First To address as parseaddr gives it (`''` when none). */
  to: string;
  /** Raw (unfolded) `To:` header. */
  toHeader: string | null;
  messageId: string | null;
  token: string | null;
  /** The token store's answer; `unchecked` also when there is no token to look up. */
  tokenStatus: TokenStatus;
  serverAction: ServerAction;
  mailboxEffect: MailboxEffect;
  /** IMAP 5.1+ (`cbGotMessage`): a calendar that fails to parse ends the cycle; later ones wait. */
  stopsCycle: boolean;
  /** False when the poll never reads the message (IMAP 5.1+ and `\Seen`). */
  read: boolean;
  /** The decisive log text for this message (the last one the server writes for it). */
  logLine: string;
  /** Every log text, in order, with its level. */
  logLines: Array<{ level: 'error' | 'warn' | 'info'; text: string }>;
  findings: Finding[];
  isDsn: boolean;
  dsnAction?: string;
  calendar?: CalendarSummary;
  /** Part number of the calendar the server uses. */
  calendarPart?: string;
  /** Where the verdict is an approximation or an assumption, in words. */
  notes: string[];
  /** MIME parse problems and missing bodies. */
  problems: string[];
  /** Where the mailbox effect comes from: release, file, function (src/server/poll-policy.ts). */
  policySource: string;
}
