/**
 * Which message answers a test invitation, and what Calendar Server would make of it (pure).
 *
 * A message is taken as an answer to this invitation when it carries the token in an address
 * header, names the invitation's Message-ID in In-Reply-To/References, carries the event UID in a
 * calendar part, or repeats the summary in its Subject. It is then judged with the same
 * classifier as `poll` and, when the token cannot be read, with `tokenCauses` (why the token was
 * lost).
 */
import { classify, type MessageInput, type TokenRecord, type Verdict } from '../imip/classify.js';
import { decodeWords, HeaderList, walkParts } from '../imip/mime.js';
import { pyLower } from '../imip/mime-headers.js';
import { propertyValues } from '../imip/reply-calendar.js';
import { tokenCauses } from '../imip/token-causes.js';
import type { Finding } from '../report/finding.js';
import type { MailboxProtocol } from '../config/settings.js';
import { extractToken, parseaddr } from '../server/address.js';
import type { ServerVersion } from '../server/release.js';


export interface ReplyTarget {
  token: string;
  plusAddress: string;
  /** The invitation's Message-ID, with angle brackets. */
  messageId: string;
  uid: string;
  /** The event summary as sent (the Subject is "Event invitation: <summary>"). */
  summary: string;
  /** Bare address of the attendee. */
  attendee: string;
  /** The token record as the server stores it (organizer CUA, lower-cased attendee mailto:). */
  record: TokenRecord;
}

export interface JudgeContext {
  version: ServerVersion;
  protocol: MailboxProtocol;
  /** `Sending.Address` as configured. */
  sendingAddress: string;
  deleteAllMail: boolean;
  /** The token store (send-test's own records); the target's token is always known. */
  lookupToken(token: string): TokenRecord | null | undefined;
  now(): Date;
}

/** Why a message was taken as an answer to this invitation. */
export type MatchReason = 'token' | 'token-elsewhere' | 'in-reply-to' | 'references' | 'uid' | 'subject';

export type ReplyOutcome = 'accepted' | 'token-missing' | 'not-accepted' | 'no-reply';

/** Headers where an address carrying the token may be found. */
const ADDRESS_HEADERS = ['To', 'Cc', 'Delivered-To', 'X-Original-To', 'Envelope-To', 'X-Envelope-To', 'Resent-To'];

function idsOf(value: string | undefined): string[] {
  return value ? [...value.matchAll(/<[^<>\s]+>/g)].map((m) => m[0].toLowerCase()) : [];
}

function firstToAddress(headers: HeaderList): string {
  return parseaddr(headers.get('To') ?? '').address;
}

/** Event UIDs carried by the calendar parts whose bodies were fetched. */
export function calendarUids(input: MessageInput): string[] {
  const out: string[] = [];
  for (const p of walkParts(input.root)) {
    if (p.type !== 'text/calendar' && p.type !== 'application/ics') continue;
    const body = input.bodies.get(p.part);
    if (!body) continue;
    out.push(...propertyValues(body.toString('utf8'), 'UID'));
  }
  return out;
}

/** Message-IDs of messages returned inside this one (a bounce carries the invitation). */
function embeddedMessageIds(input: MessageInput): string[] {
  const out: string[] = [];
  for (const p of walkParts(input.root)) if (p.embedded) out.push(...idsOf(p.embedded.headers.get('Message-ID')));
  return out;
}

/**
 * Does this message answer the invitation? Empty: no. `isNew` allows the weak Subject match
 * (only for messages that arrived after the invitation left).
 */
export function recognise(input: MessageInput, target: ReplyTarget, isNew = true): MatchReason[] {
  const h = input.headers;
  const ours = target.messageId.toLowerCase();
  if (idsOf(h.get('Message-ID')).includes(ours)) return []; // the invitation itself
  const reasons: MatchReason[] = [];
  const token = target.token.toLowerCase();
  if (firstToAddress(h).toLowerCase().includes(`+${token}@`)) reasons.push('token');
  else if (ADDRESS_HEADERS.some((n) => h.getAll(n).some((v) => decodeWords(v).toLowerCase().includes(token)))) reasons.push('token-elsewhere');
  if (idsOf(h.get('In-Reply-To')).includes(ours)) reasons.push('in-reply-to');
  if (h.getAll('References').some((v) => idsOf(v).includes(ours))) reasons.push('references');
  const uid = target.uid.toLowerCase();
  if (calendarUids(input).some((u) => u.toLowerCase() === uid) || embeddedMessageIds(input).includes(ours)) reasons.push('uid');
  const summary = target.summary.replace(/\s+/g, ' ').trim().toLowerCase();
  const subject = decodeWords(h.get('Subject') ?? '').replace(/\s+/g, ' ').trim().toLowerCase();
  if (isNew && summary.length >= 3 && subject.includes(summary)) {
    // The Subject alone is weak evidence: an answer to an earlier test invitation with the same
    // summary carries its own token or its own UID, and is not about this one.
    if (reasons.length === 0 && (extractToken(firstToAddress(h)) !== null || calendarUids(input).length > 0)) return [];
    reasons.push('subject');
  }
  return reasons;
}

export interface Judgement {
  outcome: Exclude<ReplyOutcome, 'no-reply'> | 'bounce';
  /** One sentence: why this outcome. */
  reason: string;
  /** Stop waiting: an answer with a calendar, or a bounce. A reply without one may be followed by the real answer. */
  decisive: boolean;
  verdict: Verdict;
  causes: Finding[];
}

const lc = (s: string | null | undefined): string => (s ?? '').toLowerCase();

/** What the server would do with this answer, in the terms of `--wait-reply`. */
/**
 * A reply recognised as the answer to this invitation (by its event UID, In-Reply-To, References
 * or Subject) is, by that very fact, an answer: `token.absent`'s general advice ("not an answer to
 * an invitation from this server; delete it") would contradict the match, so it is said for this
 * case instead.
 */
function absentForRecognised(f: Finding, matchedBy: readonly MatchReason[]): Finding {
  const how = matchedBy.filter((r) => r !== 'token' && r !== 'token-elsewhere');
  if (f.id !== 'token.absent' || !how.length) return f;
  const words: Record<string, string> = { uid: 'its event UID', subject: 'its Subject', 'in-reply-to': 'In-Reply-To', references: 'References' };
  return {
    ...f,
    message: `This is the answer to the test invitation (recognised by ${how.map((r) => words[r] ?? r).join(' and ')}), but the token is nowhere in it: no header and no attached calendar carries the plus address, so the server cannot link it to the event.`,
    evidence: { ...f.evidence, recognisedBy: how },
    fix: 'The attendee\'s client or mail provider dropped the plus address everywhere: ask them to answer with the Accept/Decline buttons of the invitation (which reply to the Reply-To address), and run "imip diagnose --probe plus-address" to see whether the mail system keeps plus addresses.',
  };
}

export function judge(input: MessageInput, target: ReplyTarget, ctx: JudgeContext, seen?: boolean, matchedBy: readonly MatchReason[] = []): Judgement {
  const verdict = classify(input, {
    version: ctx.version,
    protocol: ctx.protocol,
    sendingAddress: ctx.sendingAddress,
    deleteAllMail: ctx.deleteAllMail,
    lookupToken: (t) => (t === target.token ? target.record : ctx.lookupToken(t)),
    now: ctx.now(),
    ...(seen !== undefined ? { seen } : {}),
  });
  const hasCalendar = verdict.calendarPart !== undefined;
  if (verdict.isDsn) {
    const failed = verdict.dsnAction === 'failed';
    return {
      outcome: 'bounce',
      reason: failed
        ? 'the invitation came back undeliverable (a delivery status notification, Action: failed): the attendee never got it'
        : `a delivery status notification (Action: ${verdict.dsnAction ?? 'unknown'}) says the invitation is not delivered yet`,
      decisive: failed,
      verdict,
      causes: [],
    };
  }
  if (verdict.token !== target.token) {
    const causes = tokenCauses(input, { sendingAddress: ctx.sendingAddress, version: ctx.version }).map((f) => absentForRecognised(f, matchedBy));
    const first = causes[0];
    const reason = first
      ? `the server would not find this invitation's token in it: ${first.message}`
      : verdict.token
        ? `its first To address carries the token ${verdict.token}, not this invitation's ${target.token}`
        : `the server would not find a token in its first To address (${verdict.to || 'none'})`;
    return { outcome: 'token-missing', reason, decisive: hasCalendar, verdict, causes };
  }
  const cal = verdict.calendar;
  // Compared as removeAllButOneAttendee compares (Python 2's ASCII lower()).
  const attendeeMatches = (cal?.attendees ?? []).some((a) => pyLower(a) === pyLower(target.record.attendee));
  const problems: string[] = [];
  if (verdict.serverAction !== 'INJECTION_SUBMITTED') problems.push(`the server would not inject it (${verdict.serverAction}${verdict.logLine ? `: "${verdict.logLine}"` : ''})`);
  else if (lc(cal?.method) !== 'reply') problems.push(`its calendar is METHOD:${cal?.method ?? '(none)'}, not REPLY`);
  else if (!attendeeMatches) problems.push(`its calendar does not answer for ${target.record.attendee} (ATTENDEE: ${(cal?.attendees ?? []).join(', ') || 'none'}); ${ctx.version.major >= 3 ? 'the server would add the attendee back with SCHEDULE-STATUS 5.1 and no PARTSTAT, so the answer is lost' : "a 2.x server injects it without any ATTENDEE, so the organizer's event is not updated"}`);
  else if (!cal?.partstat) problems.push(`the ATTENDEE ${target.record.attendee} has no PARTSTAT, so the reply says nothing`);
  if (!verdict.read) problems.push('it is marked \\Seen (someone read the mailbox with a mail client), and this release polls UNSEEN messages only, so the server will never process it');
  if (problems.length === 0) {
    return {
      outcome: 'accepted',
      reason: `the token is intact in the first To address and the calendar is a REPLY from ${target.attendee} with PARTSTAT=${cal!.partstat}; the server would inject it`,
      decisive: true,
      verdict,
      causes: [],
    };
  }
  return { outcome: 'not-accepted', reason: problems.join('; '), decisive: hasCalendar || !verdict.read, verdict, causes: [] };
}
