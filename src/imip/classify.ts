/**
 * The server's verdict on one inbound message, pure and synchronous
 * (calendarserver-imip.md §4.4 classification, §4.2/§4.3 mailbox effect, §9 log texts, §11).
 * Order, as the server: DSN check → first To address → token → lookup (7.0+: 72-hour rule) →
 * first text/calendar part (2.x: before the lookup) → calendar parse → injection.
 * Used by `poll --once`, `send-test --wait-reply` and `diagnose`, for IMAP and raw messages alike.
 */
import { parseaddr, extractToken, TOKEN_RE } from '../server/address.js';
import { mailboxOutcome, pollEraOf, pollReads, type ServerAction } from '../server/poll-policy.js';
import { featuresOf, type ServerVersion } from '../server/release.js';
import type { Finding } from '../report/finding.js';
import { parseCalendar, type CalendarParse } from './reply-calendar.js';
import type {
  CalendarSummary,
  ClassifyContext,
  MessageInput,
  TokenRecord,
  TokenStatus,
  Verdict,
} from './classify-types.js';
import { checkDsn } from './dsn.js';
import { parseMailDate, UNKNOWN_TOKEN_MAX_AGE_MS } from './mail-date.js';
import { walkParts, type MimePart } from './mime-part.js';
import { keptAttendee, replyFindings } from './reply-checks.js';
import { isEraC, LOG, type LogEntry } from './inbound-log.js';

export type {
  CalendarSummary,
  ClassifyContext,
  MailboxEffect,
  MessageInput,
  ServerAction,
  TokenRecord,
  TokenStatus,
  Verdict,
} from './classify-types.js';

/** application/ics bodies larger than this are not fetched (evidence only). */
const MAX_ICS_EVIDENCE = 1024 * 1024;

/**
 * Whether a leaf part's body is needed for the verdict, the reply checks or `tokenCauses`:
 * every text/calendar part (the server reads the first, a DSN the last; §4.4), the
 * message/delivery-status part (the DSN action), application/ics up to 1 MiB (evidence). Never a
 * big attachment. Use as the `wantBody` of {@link MimeStreamParser}.
 */
export function needsBody(part: MimePart): boolean {
  if (part.type === 'text/calendar' || part.type === 'message/delivery-status') return true;
  return part.type === 'application/ics' && part.size <= MAX_ICS_EVIDENCE;
}

/** The leaf parts whose bodies the verdict needs (IMAP path: fetch exactly these). */
export function neededParts(root: MimePart): string[] {
  return [...walkParts(root)].filter((p) => !p.children.length && !p.embedded && needsBody(p)).map((p) => p.part);
}

interface Outcome {
  action: ServerAction;
  token: string | null;
  tokenStatus: TokenStatus;
  record: TokenRecord | null | undefined;
  log: LogEntry[];
  /** UNKNOWN_FAILURE raised inside the asynchronous processing (Era C, §11). */
  asyncFailure: boolean;
  calendarPart: MimePart | null;
  calendar: CalendarParse | null;
  notes: string[];
}

interface Facts {
  messageId: string | null;
  fromHeader: string | null;
  toHeader: string | null;
  to: string;
  date: string | null;
  parts: MimePart[];
  problems: string[];
}

function firstCalendarPart(parts: MimePart[]): MimePart | null {
  return parts.find((p) => p.type === 'text/calendar') ?? null;
}

/** Parse the calendar the server would parse; null when its body was not supplied or was cut. */
function readCalendar(part: MimePart, input: MessageInput, facts: Facts): CalendarParse | null {
  const body = input.bodies.get(part.part);
  if (!body) {
    facts.problems.push(`body of calendar part ${part.part || '(message)'} was not supplied; calendar checks skipped`);
    return null;
  }
  if (part.truncated) {
    facts.problems.push(`calendar part ${part.part || '(message)'} was cut at the size cap; calendar checks skipped`);
    return null;
  }
  return parseCalendar(body);
}

/** Look a token up; tokens that are not lower-case UUIDs cannot be in the store (§2.2). */
interface Lookup {
  status: TokenStatus;
  record: TokenRecord | null | undefined;
}

type Step = { action: ServerAction; log: LogEntry[] };

function lookup(token: string, ctx: ClassifyContext, notes: string[]): Lookup {
  const record = ctx.lookupToken(token);
  if (record) return { status: 'known', record };
  if (record === null) return { status: 'unknown', record: null };
  if (!TOKEN_RE.test(token)) {
    notes.push(`token "${token}" is not a lower-case UUID, so the server cannot have issued it: judged unknown without a lookup`);
    return { status: 'unknown', record: null };
  }
  notes.push('token store not checked: the verdict assumes the server knows the token');
  return { status: 'unchecked', record: undefined };
}

/** The failure of a calendar parse, as each release line reports it (§4.4, §11). */
function parseFailure(ctx: ClassifyContext, error: string, base: Omit<Outcome, 'action' | 'asyncFailure'>): Outcome {
  const log = [...base.log];
  const notes = [...base.notes];
  if (!isEraC(ctx.version)) {
    log.push(LOG.failedToProcess(error));
    notes.push('the exception text is the toolkit parser\'s, not pycalendar\'s');
    return { ...base, log, notes, action: 'UNKNOWN_FAILURE', asyncFailure: false };
  }
  log.push(ctx.protocol === 'imap' ? LOG.imapError(error) : LOG.unhandledDeferred(error));
  notes.push(
    'the parse error is raised inside the asynchronous reply processing: no action code is returned (UNKNOWN_FAILURE is the toolkit\'s label); the exception text is the toolkit parser\'s',
  );
  if (ctx.protocol === 'imap' && featuresOf(ctx.version).selectiveDelete) {
    notes.push('the IMAP cycle ends here without EXPUNGE: the unseen messages after this one, and deletions flagged earlier in the cycle, wait for the next poll');
  }
  return { ...base, log, notes, action: 'UNKNOWN_FAILURE', asyncFailure: true };
}

function injected(ctx: ClassifyContext, facts: Facts, record: TokenRecord | null | undefined, log: LogEntry[]): LogEntry[] {
  if (!isEraC(ctx.version)) return [...log, LOG.injectedHttp(facts.messageId)];
  return [...log, LOG.injectedWork(record?.attendee ?? '<token attendee>', record?.organizer ?? '<token organizer>')];
}

// ---- DSN (§4.4 step 1) ----------------------------------------------------------------------

function classifyDsn(
  input: MessageInput,
  ctx: ClassifyContext,
  facts: Facts,
  calPart: MimePart | null,
  action: string | null,
): Outcome {
  const none: Outcome = {
    action: 'INCOMPLETE_DSN',
    token: null,
    tokenStatus: 'unchecked',
    record: undefined,
    log: [LOG.cantProcessDsn(facts.messageId)],
    asyncFailure: false,
    calendarPart: calPart,
    calendar: null,
    notes: [],
  };
  const body = calPart ? input.bodies.get(calPart.part) : undefined;
  if (action !== 'failed' || !calPart || (body && body.length === 0)) return none;
  const calendar = readCalendar(calPart, input, facts);
  const base = { ...none, log: [] as LogEntry[], calendar };
  if (calendar && !calendar.ok) return parseFailure(ctx, calendar.error, base);
  const organizer = calendar?.ok ? (calendar.facts.components.find((c) => c.organizer)?.organizer ?? '') : null;
  if (organizer === null) {
    base.notes.push('the returned calendar was not available: assuming its ORGANIZER carries a usable token');
  }
  const token = organizer === null ? null : extractToken(organizer);
  if (organizer !== null && !token) {
    return {
      ...base,
      action: 'NO_TOKEN',
      log: [LOG.cantFindTokenInDsn(facts.messageId)],
      notes: ['processDSN returns no action code here; the poll treats it like NO_TOKEN'],
    };
  }
  const notes: string[] = [];
  const { status, record } = token ? lookup(token, ctx, notes) : { status: 'unchecked' as const, record: undefined };
  if (status === 'unknown' && token) {
    const log = [LOG.unknownTokenInDsn(ctx.version, token, facts.messageId)];
    return { ...base, action: 'UNKNOWN_TOKEN', token, tokenStatus: status, record, notes, log };
  }
  const log = injected(ctx, facts, record, [LOG.processingDsn(ctx.version, facts.messageId)]);
  return { ...base, action: 'INJECTION_SUBMITTED', token, tokenStatus: status, record, notes, log };
}

// ---- replies (§4.4 steps 2–7) ---------------------------------------------------------------

/** 7.0+ 72-hour rule for unknown tokens (§4.4 step 4). */
function unknownToken(ctx: ClassifyContext, facts: Facts, token: string, log: LogEntry[]): Step {
  const out = [...log, LOG.unknownToken(ctx.version, token, facts.messageId)];
  if (!featuresOf(ctx.version).unknownTokenAge || facts.date === null) return { action: 'UNKNOWN_TOKEN', log: out };
  const sent = parseMailDate(facts.date);
  if (!sent) return { action: 'UNKNOWN_TOKEN', log: [...out, LOG.badDate(facts.date, 'unknown string format')] };
  const old = sent.getTime() < ctx.now.getTime() - UNKNOWN_TOKEN_MAX_AGE_MS;
  return { action: old ? 'UNKNOWN_TOKEN_OLD' : 'UNKNOWN_TOKEN', log: out };
}

/** Where the server would forward a reply without calendar (§4.4 step 5); undefined = not known. */
function organizerMailAddress(record: TokenRecord | undefined, v: ServerVersion): string | null | undefined {
  if (!record) return undefined;
  if (record.organizer.startsWith('mailto:')) return record.organizer.slice(7);
  const directoryScheme = v.major >= 5 ? 'urn:x-uid:' : v.major === 4 ? 'urn:uuid:' : null;
  if (directoryScheme && record.organizer.startsWith(directoryScheme)) return record.organizerEmail || null;
  return null;
}

function noCalendar(ctx: ClassifyContext, record: TokenRecord | undefined, log: LogEntry[], notes: string[]): Step {
  const address = organizerMailAddress(record, ctx.version);
  if (address === undefined) notes.push('token not checked: assuming the organizer has an e-mail address to forward to');
  if (address === null) return { action: 'NO_ORGANIZER_ADDRESS', log: [...log, LOG.noOrganizerAddress()] };
  const v = ctx.version;
  const logsForward = v.major > 3 || (v.major === 3 && v.minor >= 1);
  return { action: 'REPLY_FORWARDED_TO_ORGANIZER', log: logsForward ? [...log, LOG.forwarding()] : log };
}

function classifyReply(input: MessageInput, ctx: ClassifyContext, facts: Facts): Outcome {
  const features = featuresOf(ctx.version);
  const calPart = firstCalendarPart(facts.parts);
  const out: Outcome = {
    action: 'INJECTION_SUBMITTED',
    token: null,
    tokenStatus: 'unchecked',
    record: undefined,
    log: [LOG.received(facts.messageId, facts.fromHeader, facts.toHeader)],
    asyncFailure: false,
    calendarPart: calPart,
    calendar: calPart ? readCalendar(calPart, input, facts) : null,
    notes: [],
  };
  if (!facts.to) {
    return { ...out, action: 'MALFORMED_TO_ADDRESS', log: [...out.log, LOG.malformedTo(facts.toHeader, facts.messageId)] };
  }
  const token = extractToken(facts.to);
  if (!token) return { ...out, action: 'NO_TOKEN', log: [...out.log, LOG.noToken(facts.messageId, facts.toHeader)] };
  const { status, record } = lookup(token, ctx, out.notes);
  Object.assign(out, { token, tokenStatus: status, record });
  if (features.attachmentBeforeLookup && !calPart) {
    out.notes.push(
      '2.x looks for the calendar before looking the token up and drops a mail without one; NO_ORGANIZER_ADDRESS is the nearest action code (nothing reaches the organizer, the mail is deleted)',
    );
    return { ...out, action: 'NO_ORGANIZER_ADDRESS', log: [...out.log, LOG.noAttachment(ctx.version, facts.messageId)] };
  }
  if (status === 'unknown') return { ...out, ...unknownToken(ctx, facts, token, out.log) };
  if (!calPart) {
    const log = [...out.log, LOG.noAttachment(ctx.version, facts.messageId)];
    return { ...out, ...noCalendar(ctx, record ?? undefined, log, out.notes) };
  }
  if (out.calendar && !out.calendar.ok) return parseFailure(ctx, out.calendar.error, out);
  const log = [...out.log];
  const noOrganizer = out.calendar?.ok && out.calendar.facts.components.some((c) => !c.organizer);
  if (noOrganizer) log.push(LOG.noOrganizerInReply(facts.messageId));
  return { ...out, log: injected(ctx, facts, record, log) };
}

// ---- assembling the verdict ----------------------------------------------------------------

function summarise(outcome: Outcome): CalendarSummary | undefined {
  const cal = outcome.calendar;
  if (!cal?.ok) return undefined;
  const main = cal.facts.components[0]!;
  const attendees = [...new Set(cal.facts.components.flatMap((c) => c.attendees.map((a) => a.value)))];
  return {
    method: cal.facts.method,
    uid: main.uid,
    attendees,
    partstat: keptAttendee(main, outcome.record)?.partstat ?? null,
    organizer: main.organizer,
  };
}

function gatherFacts(input: MessageInput): Facts {
  const h = input.headers;
  const toHeader = h.get('To') ?? null;
  return {
    messageId: h.get('Message-ID') ?? null,
    fromHeader: h.get('From') ?? null,
    toHeader,
    to: parseaddr(toHeader).address,
    date: h.get('Date') ?? null,
    parts: [...walkParts(input.root)],
    problems: [...(input.problems ?? [])],
  };
}

function seenFinding(facts: Facts): Finding {
  return {
    id: 'message.seen',
    severity: 'warning',
    path: 'message.flags',
    message:
      'The message is \\Seen: from 5.1 the server searches UNSEEN only, so it will never process this message (someone read it in a mail client, or an earlier poll left it).',
    evidence: { messageId: facts.messageId },
    fix: 'Mark the message unread to have the next poll process it, and keep people from reading the calendar mailbox with a mail client.',
  };
}

/**
 * Classify one message as the configured release would (§4.4), with what the poll then does to
 * it (§4.2/§4.3) and the reply findings.
 */
export function classify(input: MessageInput, ctx: ClassifyContext): Verdict {
  const facts = gatherFacts(input);
  const dsn = checkDsn(input.root, input.bodies);
  if (dsn.missingBody) facts.problems.push('message/delivery-status body was not supplied; DSN action unknown');
  const outcome = dsn.isDsn ? classifyDsn(input, ctx, facts, dsn.calendarPart, dsn.action) : classifyReply(input, ctx, facts);
  const mailbox = mailboxOutcome({
    version: ctx.version,
    protocol: ctx.protocol,
    action: outcome.action,
    deleteAllMail: ctx.deleteAllMail,
    asyncFailure: outcome.asyncFailure,
  });
  const read = pollReads(ctx.version, ctx.protocol, ctx.seen === true);
  const findings: Finding[] = dsn.isDsn
    ? []
    : replyFindings({
        messageId: facts.messageId,
        fromAddress: parseaddr(facts.fromHeader).address,
        parts: facts.parts,
        calendarPart: outcome.calendarPart,
        calendar: outcome.calendar,
        record: outcome.record,
        action: outcome.action,
        version: ctx.version,
        protocol: ctx.protocol,
        deleteAllMail: ctx.deleteAllMail,
      });
  if (!read) findings.unshift(seenFinding(facts));
  const logLines = read ? outcome.log : [];
  const calendar = summarise(outcome);
  return {
    date: facts.date,
    from: parseaddr(facts.fromHeader).address,
    fromHeader: facts.fromHeader,
    to: facts.to,
    toHeader: facts.toHeader,
    messageId: facts.messageId,
    token: outcome.token,
    tokenStatus: outcome.tokenStatus,
    serverAction: outcome.action,
    mailboxEffect: read ? mailbox.effect : 'left-seen',
    stopsCycle: read && mailbox.stopsCycle,
    read,
    logLine: logLines.length ? logLines[logLines.length - 1]!.text : '',
    logLines,
    findings,
    isDsn: dsn.isDsn,
    ...(dsn.isDsn && dsn.action !== null ? { dsnAction: dsn.action } : {}),
    ...(calendar ? { calendar } : {}),
    ...(outcome.calendarPart ? { calendarPart: outcome.calendarPart.part } : {}),
    notes: read
      ? outcome.notes
      : [...outcome.notes, `IMAP ${ctx.version.text} reads UNSEEN messages only: this one is never processed`],
    problems: facts.problems,
    policySource: read ? mailbox.source : `IMAP on ${ctx.version.text} (${pollEraOf(ctx.version)}): SEARCH UNSEEN`,
  };
}
