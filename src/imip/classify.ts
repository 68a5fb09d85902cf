/**
 * The server's verdict on one inbound message, pure and synchronous
 * (`inbound`, `checkDSN`, `processReply`: 2.x–4.x `twistedcaldav/mail.py` `MailHandler`, 5.0+
 * `txdav/caldav/datastore/scheduling/imip/inbound.py` `MailReceiver`; the mailbox effect from each
 * release's `IMAP4DownloadProtocol` and `POP3DownloadProtocol`).
 * Order, as the server: DSN check → first To address → token → lookup (7.0+: 72-hour rule) →
 * first text/calendar part (2.x: before the lookup) → calendar parse → injection.
 * Used by `poll --once`, `send-test --wait-reply` and `diagnose`, for IMAP and raw messages alike.
 */
import { COMMENT_NESTING_LIMIT, RECURSION_ERROR, parseaddr, extractToken, TOKEN_RE } from '../server/address.js';
import { mailboxOutcome, pollEraOf, pollReads, type ServerAction } from '../server/poll-policy.js';
import { UTC_HOST } from '../server/host-zone.js';
import { atLeast, featuresOf, type ServerVersion } from '../server/release.js';
import type { Finding } from '../report/finding.js';
import { withArticle } from '../report/words.js';
import { componentsShape, mainComponent, mainComponentRaises, parseCalendar, serverOrganizer, uidNotTokens, utf8DecodeError, utf8ErrorText, type CalendarFacts, type CalendarParse, type PythonException } from './reply-calendar.js';
import type { ParsedProperty } from './pycalendar/property.js';
import type {
  CalendarSummary,
  ClassifyContext,
  MessageInput,
  TokenRecord,
  TokenStatus,
  Verdict,
} from './classify-types.js';
import { checkDsn } from './dsn.js';
import { refusalLog, refusalWords, replyWorkRetried, schedulerLog, schedulerRefusal, type SchedulerOptions } from './scheduler-check.js';
import { vobjectSerializeError } from './vobject-serialize.js';
import { dateutilParse, type DateutilVersion } from './dateutil-parse.js';
import { nestingDepth, walkParts, type MimePart } from './mime-part.js';
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
 * every text/calendar part (`processReply` reads the first, `checkDSN` the last), the
 * message/delivery-status part (the DSN action), application/ics up to 1 MiB (evidence). Never a
 * big attachment. Use as the `wantBody` of {@link MimeStreamParser}.
 */
export function needsBody(part: MimePart): boolean {
  if (part.type === 'text/calendar' || part.type === 'message/delivery-status') return true;
  return part.type === 'application/ics' && part.size <= MAX_ICS_EVIDENCE;
}

/** The leaf parts whose bodies the verdict needs (IMAP path: fetch exactly these). */
export function neededParts(root: MimePart): string[] {
  return walkParts(root).filter((p) => !p.children.length && !p.embedded && needsBody(p)).map((p) => p.part);
}

interface Outcome {
  action: ServerAction;
  token: string | null;
  tokenStatus: TokenStatus;
  record: TokenRecord | null | undefined;
  log: LogEntry[];
  /** UNKNOWN_FAILURE raised inside the asynchronous processing (5.0+ `@inlineCallbacks`). */
  asyncFailure: boolean;
  calendarPart: MimePart | null;
  calendar: CalendarParse | null;
  notes: string[];
  /** A finding the outcome itself brings (a delivery report whose Message-ID cannot be logged). */
  finding?: Finding;
}

interface Facts {
  messageId: string | null;
  fromHeader: string | null;
  toHeader: string | null;
  to: string;
  /** Python's parse of To raises (comments nested past its recursion limit). */
  toRaises?: string;
  date: string | null;
  /** The header block was not UTF-8: each value holds its bytes one per character. */
  headersLatin1: boolean;
  parts: MimePart[];
  problems: string[];
}

function firstCalendarPart(parts: MimePart[]): MimePart | null {
  return parts.find((p) => p.type === 'text/calendar') ?? null;
}

/** Parse the calendar the server would parse; null when its body was not supplied or was cut. */
function readCalendar(part: MimePart, input: MessageInput, facts: Facts, ctx: ClassifyContext): CalendarParse | null {
  const body = input.bodies.get(part.part);
  if (!body) {
    facts.problems.push(`body of calendar part ${part.part || '(message)'} was not supplied; calendar checks skipped`);
    return null;
  }
  if (part.truncated) {
    facts.problems.push(`calendar part ${part.part || '(message)'} was cut at the size cap; calendar checks skipped`);
    return null;
  }
  const { calendarParser, calendarServerValueTypes } = featuresOf(ctx.version);
  return parseCalendar(body, calendarParser === 'vobject' ? null : calendarParser, calendarServerValueTypes);
}

/**
 * Look a token up; tokens that are not lower-case UUIDs cannot be in the store (`createToken`,
 * 5.0+ `imipCreateToken`: `str(uuid4())`).
 */
interface Lookup {
  status: TokenStatus;
  record: TokenRecord | null | undefined;
}

type Step = { action: ServerAction; log: LogEntry[] };
/** A step that raises inside the processing: `fails` tells the caller to fail the message. */
type FailingStep = Step & { fails?: { raised: PythonException; why: string } };

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

/**
 * A failure inside the processing of one message, as each release line meets it.
 * - 2.x–4.x: the work is synchronous inside `inbound()`'s catch-all: "Failed to process message: …",
 *   and the poll deletes the message as usual (CalendarServer-2.5/4.3.2 twistedcaldav/mail.py
 *   `MailHandler.inbound`).
 * - 5.0+: `processReply`/`processDSN` are `@inlineCallbacks`, so the exception fails their
 *   Deferred: no action code (UNKNOWN_FAILURE is the toolkit's label). 5.0 IMAP: nothing handles
 *   it (an unhandled error in the Deferred) and the message blocks every later poll; 5.1+ IMAP:
 *   `cbGotMessage` yields it, `ebLogError` logs "IMAP Error" and the cycle stops; POP3: the
 *   Deferred is dropped (5.0) or fails `cbDownloaded` (5.1+)
 *   (CalendarServer-5.0..9.2 inbound.py `IMAP4DownloadProtocol.cbGotMessage`, `POP3DownloadProtocol.cbDownloaded`).
 */
function processingFailure(ctx: ClassifyContext, raised: PythonException, base: Omit<Outcome, 'action' | 'asyncFailure'>, note: string): Outcome {
  const log = [...base.log];
  const notes = [...base.notes, note];
  if (!isEraC(ctx.version)) {
    // `"Failed to process message: %s" % (e,)`: the exception's str() alone.
    log.push(LOG.failedToProcess(raised.text));
    return { ...base, log, notes, action: 'UNKNOWN_FAILURE', asyncFailure: false };
  }
  const era = pollEraOf(ctx.version);
  if (ctx.protocol === 'imap' && era !== 'delete-everything') log.push(LOG.imapError(raised));
  else log.push(...LOG.unhandledDeferred(raised));
  notes.push('the error is raised inside the asynchronous reply processing: no action code is returned (UNKNOWN_FAILURE is the toolkit\'s label)');
  if (ctx.protocol === 'imap') {
    notes.push(
      era === 'delete-everything'
        ? 'the \\Deleted store never runs and the IMAP cycle stops here; the next poll fetches this message first again, so no message after it is ever processed'
        : 'the IMAP cycle ends here without EXPUNGE: the unseen messages after this one, and deletions flagged earlier in the cycle, wait for the next poll',
    );
  }
  return { ...base, log, notes, action: 'UNKNOWN_FAILURE', asyncFailure: true };
}

/**
 * A text/calendar part whose transfer decoding raises (uuencode with an illegal character: the
 * `binascii.Error` that `get_payload(decode=True)` does not catch). Every release decodes every
 * text/calendar part in `checkDSN`, the first step of `inbound()`, so this message fails there,
 * before its token is looked at, inside `inbound()`'s own catch-all: "Failed to process message:
 * …", synchronously, with UNKNOWN_FAILURE as the action from 5.1 (2.x–4.x have no action codes and
 * 5.0 returns None; UNKNOWN_FAILURE is then the toolkit's label)
 * (CalendarServer-2.5/4.3 twistedcaldav/mail.py `MailHandler.inbound` and `checkDSN`;
 * CalendarServer-5.0..9.2 txdav/caldav/datastore/scheduling/imip/inbound.py `MailReceiver.inbound`
 * and `checkDSN`).
 */
function decodeFailure(ctx: ClassifyContext, part: MimePart, error: string): Outcome {
  return checkFailure(
    ctx,
    part,
    error,
    `part ${part.part || '(message)'} (text/calendar, Content-Transfer-Encoding ${part.encoding}) raises "${error}" when the server decodes it; ` +
      'every release decodes each text/calendar part while it checks for a delivery report, before it reads the token',
  );
}

/**
 * A delivery report whose status part has a line starting `Action:` with no space in it, outside
 * the report fields: `lower.split(' ')[1]` raises in `checkDSN` (CalendarServer-2.5..9.2).
 */
function actionFailure(ctx: ClassifyContext, status: MimePart, calendar: MimePart | null, error: string): Outcome {
  return checkFailure(
    ctx,
    calendar,
    error,
    `part ${status.part || '(message)'} (message/delivery-status) has a line starting "Action:" with no space in it, outside the report fields; ` +
      `the server raises "${error}" on it while it checks for a delivery report`,
  );
}

/**
 * 8.0 and later (release.ts `loggerDecodesUtf8`): `inbound()` logs the Message-ID, From and To of
 * every message that is not a delivery report ("Mail gateway received message {msgid} from
 * {fromAddr} to {toAddr}"), and the Message-ID of a report it cannot use ("Mail gateway can't
 * process DSN {msgid}"), inside its catch-all; twext decodes each value as UTF-8 first, in Python
 * 2's dict order of the keywords (msgid, toAddr, fromAddr), so a header whose bytes are not UTF-8
 * raises UnicodeDecodeError there: "Failed to process message: …", UNKNOWN_FAILURE, before the
 * token is read (CalendarServer-8.0..9.2 inbound.py `MailReceiver.inbound`). A usable delivery
 * report goes to `processDSN`, which logs its Message-ID later, inside its own Deferred
 * (`classifyDsn`).
 */
function loggedHeaderFailure(ctx: ClassifyContext, facts: Facts, dsn: ReturnType<typeof checkDsn>): { outcome: Outcome; finding: Finding } | null {
  if (dsn.isDsn && dsn.action === 'failed' && dsn.calendarPart) return null;
  const logged: Array<[string, string | null]> = dsn.isDsn ? [['Message-ID', facts.messageId]] : [['Message-ID', facts.messageId], ['To', facts.toHeader], ['From', facts.fromHeader]];
  for (const [name, value] of logged) {
    const error = unloggableValue(ctx, facts, value);
    if (error === null || value === null) continue;
    const why = `the ${name} header holds bytes that are not UTF-8 (raw 8-bit text, not RFC 2047 encoded): ${ctx.version.text} decodes every value it logs as UTF-8, and its log call for this message raises "${error}" before the token is read`;
    const outcome = checkFailure(ctx, null, error, why);
    return { outcome, finding: notUtf8Finding(ctx, facts, { name, value, error }, `"Failed to process message: ${error}"`, dsn.isDsn ? 'bounce' : 'reply') };
  }
  return null;
}

/** `message.header-not-utf8`: a logged header value that 8.0+ cannot log; `failure` is how the server's log shows it. */
function notUtf8Finding(ctx: ClassifyContext, facts: Facts, header: { name: string; value: string; error: string }, failure: string, what: 'reply' | 'bounce'): Finding {
  const { name, value, error } = header;
  const stays = ctx.protocol === 'imap' ? 'it stays in the mailbox, \\Seen, and is never read again' : 'it stays in the maildrop and fails again at every poll';
  return {
    id: 'message.header-not-utf8',
    severity: 'error',
    path: `message.headers.${name}`,
    message: `The ${name} header holds bytes that are not UTF-8 (${JSON.stringify(value.length > 120 ? `${value.slice(0, 120)}…` : value)}). Calendar Server ${ctx.version.text} decodes every value it logs as UTF-8, so logging this message fails (${failure}) and the server never reads the ${what}: ${stays}.`,
    evidence: { messageId: facts.messageId, header: name, error },
    fix: "The sender's mail client wrote 8-bit text into a header without encoding it (RFC 2047): ask them to answer from another client, and remove this message from the mailbox.",
  };
}

/**
 * What twext raises when it logs this header value (release.ts `loggerDecodesUtf8`, 8.0+): the
 * text of Python 2's UnicodeDecodeError, or null when it logs it. Only a header block that was not
 * UTF-8 can hold such a value; its values hold their bytes one per character.
 */
function unloggableValue(ctx: ClassifyContext, facts: Facts, value: string | null): string | null {
  if (value === null || !facts.headersLatin1 || !featuresOf(ctx.version).loggerDecodesUtf8) return null;
  const bytes = Buffer.from(value, 'latin1');
  const bad = utf8DecodeError(bytes);
  return bad ? utf8ErrorText(bytes, bad) : null;
}

/** What the scheduler's checks read from the configuration, for the verdict and the reply rules alike. */
function schedulerOptions(ctx: ClassifyContext): SchedulerOptions {
  return { timezonesByReference: ctx.timezonesByReference, supportedComponents: ctx.supportedComponents, zones: ctx.zones };
}

/** The server's check for a delivery report raises: the message fails before its token is read. */
function checkFailure(ctx: ClassifyContext, part: MimePart | null, error: string, why: string): Outcome {
  const notes = [why];
  if (ctx.version.major === 5 && ctx.version.minor === 0) notes.push('5.0 returns no action code here (None): UNKNOWN_FAILURE is the toolkit\'s label');
  return {
    action: 'UNKNOWN_FAILURE',
    token: null,
    tokenStatus: 'unchecked',
    record: undefined,
    log: [LOG.failedToProcess(error)],
    asyncFailure: false,
    calendarPart: part,
    calendar: null,
    notes,
  };
}

/**
 * The To header's comments nest past Python's recursion limit: `processReply` reads the token
 * with `email.utils.parseaddr(msg['To'])` first, which raises RuntimeError there, before anything
 * else of the reply is looked at (CalendarServer-4.3.2 twistedcaldav/mail.py and
 * CalendarServer-5.0..9.2 inbound.py `MailReceiver.processReply`).
 */
function toParseFailure(ctx: ClassifyContext, raises: string): Outcome {
  const base: Omit<Outcome, 'action' | 'asyncFailure'> = { token: null, tokenStatus: 'unchecked', record: undefined, log: [], calendarPart: null, calendar: null, notes: [] };
  return processingFailure(
    ctx,
    { type: 'RuntimeError', text: raises },
    base,
    `the To header nests comments "(...)" more than ${COMMENT_NESTING_LIMIT} deep: Python's parseaddr recurses once per level and raises "${raises}" before the token is read`,
  );
}

/**
 * MIME nesting past which Calendar Server's parse of a message fails. Python 2.7's
 * `email.message_from_string` (feedparser `_parsegen`, a generator that runs itself again for
 * each multipart or encapsulated message inside another) and `Message.walk` (the same, in
 * `checkDSN` and `processReply`) take one frame per level, and Python raises RuntimeError
 * ("maximum recursion depth exceeded") past its limit of 1000 frames. Measured with Python 2.7.18:
 * parsing and walking fails past 976 levels at the top of the stack, 926 with 50 frames already in
 * use. `inbound()` runs from Twisted's reactor and its Deferred callbacks, a few dozen frames deep
 * (see COMMENT_NESTING_LIMIT): 935 is taken as the limit, and a message within about ten levels
 * of it may go either way. Every release parses inside `inbound()`'s catch-all: "Failed to
 * process message: maximum recursion depth exceeded", before the token is read
 * (CalendarServer-2.5..4.3.2 twistedcaldav/mail.py `MailHandler.inbound`, 5.0..9.2 inbound.py
 * `MailReceiver.inbound`).
 */
export const MIME_NESTING_LIMIT = 935;

/** `message.nested-too-deep`: the server's parse of the message fails, so it is never read. */
function nestedFinding(ctx: ClassifyContext, facts: Facts, depth: number): Finding {
  return {
    id: 'message.nested-too-deep',
    severity: 'error',
    path: 'message',
    message: `The message's MIME parts nest ${depth > 1000 ? 'more than 1,000' : depth} levels deep. Python's email parser recurses once per level and, inside Calendar Server, gives up past about ${MIME_NESTING_LIMIT} ("${RECURSION_ERROR}"), so Calendar Server ${ctx.version.text} fails on this message before it reads the token and never processes it.`,
    evidence: { messageId: facts.messageId, depth: depth > 1000 ? '>1000' : depth, limit: MIME_NESTING_LIMIT },
    fix: 'No mail client nests parts this deep: treat the message as hostile and remove it from the mailbox.',
  };
}

/** `message.to-unparsable`: the server's parse of To fails, so the reply is never read. */
function toUnparsableFinding(ctx: ClassifyContext, facts: Facts): Finding {
  return {
    id: 'message.to-unparsable',
    severity: 'error',
    path: 'message.headers.To',
    message: `The To header nests comments "(...)" more than ${COMMENT_NESTING_LIMIT} levels deep. Python's address parser recurses once per level and gives up ("${facts.toRaises}"), so Calendar Server ${ctx.version.text} fails on this message before it reads the token: the reply is never processed.`,
    evidence: { messageId: facts.messageId, toLength: facts.toHeader?.length ?? 0 },
    fix: 'No mail client writes such a header: treat the message as hostile and remove it from the mailbox.',
  };
}

/** A calendar that fails to parse. */
function parseFailure(ctx: ClassifyContext, failure: Extract<CalendarParse, { ok: false }>, base: Omit<Outcome, 'action' | 'asyncFailure'>): Outcome {
  const why =
    featuresOf(ctx.version).calendarParser === 'vobject'
      ? 'the exception text is the toolkit parser\'s, not that of vobject, the 2.x calendar parser'
      : 'the exception text is pycalendar\'s, the server\'s calendar parser; the server\'s own message also carries the calendar text';
  return processingFailure(ctx, failure.raised, base, why);
}

/** What Python calls the value pycalendar 2016 gives for METHOD of each value class that is not text. */
const PYTHON_VALUE_TYPE: Readonly<Partial<Record<ParsedProperty['valueClass'], string>>> = {
  INTEGER: 'int',
  UTC_OFFSET: 'int',
  FLOAT: 'float',
  DATE: 'DateTime',
  DATETIME: 'DateTime',
  DURATION: 'Duration',
  PERIOD: 'Period',
  RECUR: 'Recurrence',
};

/**
 * Whether `sanitizeCalendar` (7.0+, right after the calendar parses and before the attendee and
 * ORGANIZER are set; CalendarServer-7.0..9.2 inbound.py) raises, and with what: two METHOD
 * properties make `getProperty("METHOD")` raise InvalidICalendarDataError (twistedcaldav/ical.py
 * `Component.getProperty`; its message carries the whole calendar as the server writes it,
 * shortened here); from 8.0 it upper-cases METHOD's value, which raises AttributeError when
 * a VALUE parameter made it anything but text (`METHOD;VALUE=INTEGER:1`).
 */
function sanitizeFailure(ctx: ClassifyContext, facts: CalendarFacts): { raised: PythonException; why: string } | null {
  const features = featuresOf(ctx.version);
  if (!features.sanitizeCalendar) return null;
  if (facts.methods > 1) {
    return {
      raised: { type: 'InvalidICalendarDataError', text: `More than one METHOD property in component <Component: …>` },
      why: `the calendar has ${facts.methods} METHOD properties: sanitizeCalendar (7.0 and later) asks for the one METHOD and twistedcaldav raises; the server's message then carries the whole calendar`,
    };
  }
  const pyType = features.sanitizeUpperMethod && facts.methodClass !== null ? PYTHON_VALUE_TYPE[facts.methodClass] : undefined;
  if (pyType) {
    return {
      raised: { type: 'AttributeError', text: `'${pyType}' object has no attribute 'upper'` },
      why: `METHOD's VALUE parameter makes its value ${withArticle(pyType)}, not text: sanitizeCalendar (8.0 and later) upper-cases METHOD and Python raises`,
    };
  }
  return null;
}

/**
 * Whether `processReply` fails at `event = calendar.mainComponent()` (3.0–5.0, which take one main
 * component only; release.ts `singleMainComponent`): a reply with a changed occurrence of a
 * repeating event carries the master and the override, or several overrides. The message is
 * InvalidICalendarDataError's, with the calendar the server writes shortened as for METHOD.
 */
function mainComponentFailure(ctx: ClassifyContext, facts: CalendarFacts): { raised: PythonException; why: string } | null {
  if (!mainComponentRaises(facts, ctx.version)) return null;
  const { names, overrides } = componentsShape(facts);
  return {
    raised: { type: 'InvalidICalendarDataError', text: 'Calendar contains more than one primary component: <Component: …>' },
    why:
      `the calendar has ${facts.components.length} ${names} components (${overrides} with RECURRENCE-ID): ${ctx.version.text} takes the reply's one main component (twistedcaldav's mainComponent), ` +
      'raises on more than one, and the server\'s message then carries the whole calendar; 5.1 and later take the master',
  };
}

/**
 * The end of a reply's (or a bounce's) way: the calendar server's scheduler delivers it, or
 * refuses it (./scheduler-check.ts). 2.x–4.x: the gateway's POST to /inbox/ gets the 403 and logs
 * it; 5.0+: the IMIPReplyWork item, after the mail is gone, logs `injectMessage`'s failure (6.1+
 * also "Unable to process reply", where doWork catches it).
 */
function injected(
  ctx: ClassifyContext,
  facts: Facts,
  record: TokenRecord | null | undefined,
  log: LogEntry[],
  calendar: CalendarFacts | null,
  notes: string[],
): { log: LogEntry[]; notes: string[] } {
  const refusal = calendar ? schedulerRefusal(calendar, ctx.version, schedulerOptions(ctx)) : null;
  if (refusal) {
    const later = refusal.laterReleases ? ` (${refusal.laterReleases})` : '';
    const retried = replyWorkRetried(ctx.version);
    const refused = [
      ...notes,
      `the calendar server's scheduler ${refusalWords(refusal)}: ${refusal.why}${later}; the answer never reaches the organizer, and the mail is gone as after any submitted reply`,
      ...(retried ? [`on ${ctx.version.text} ${retried}`] : []),
    ];
    return { log: [...log, ...schedulerLog(ctx.version, facts.messageId, refusal)], notes: refused };
  }
  const other = calendar ? uidNotTokens(calendar, record?.uid) : null;
  const done = other
    ? [
        ...notes,
        `its UID (${other.uid}) is not that of the event the token was issued for (${other.tokenUid}): the scheduler looks the organizer's event up by UID, finds none unless the organizer has another event with that UID, and drops the answer without an error (only debug logging says "organizer has no copy")`,
      ]
    : notes;
  if (!isEraC(ctx.version)) return { log: [...log, LOG.injectedHttp(facts.messageId)], notes: done };
  return { log: [...log, LOG.injectedWork(record?.attendee ?? '<token attendee>', record?.organizer ?? '<token organizer>')], notes: done };
}

// ---- DSN (`checkDSN`, `processDSN`) ----------------------------------------------------------

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
  if (action !== 'failed') {
    const read = action === null ? 'no line starting "Action:"' : `the Action as ${JSON.stringify(action)}`;
    return { ...none, notes: [`the server read ${read} in the delivery status; it processes only "failed"`] };
  }
  if (!calPart || (body && body.length === 0)) return none;
  const calendar = readCalendar(calPart, input, facts, ctx);
  const base = { ...none, log: [] as LogEntry[], calendar };
  if (calendar && !calendar.ok) return parseFailure(ctx, calendar, base);
  const serverOrg = calendar?.ok ? serverOrganizer(calendar.facts).value : null;
  if (calendar?.ok && serverOrg === null) {
    // `calendar.getOrganizer()` is None and `_extractToken(None)` raises AttributeError, which its
    // `except ValueError` does not catch (CalendarServer-2.5..9.2 `processDSN`, `_extractToken`).
    return processingFailure(ctx, { type: 'AttributeError', text: "'NoneType' object has no attribute 'split'" }, base, 'the returned calendar has no ORGANIZER, so the server fails while looking for the token in it');
  }
  // 8.0+: every way through processDSN logs the Message-ID (no token, unknown token, "processing
  // DSN"), inside its inlineCallbacks generator, so a value twext cannot decode fails the Deferred
  // there (CalendarServer-8.0..9.2 inbound.py `processDSN`; twext `Logger.emit`).
  const unloggable = unloggableValue(ctx, facts, facts.messageId);
  if (unloggable !== null && facts.messageId !== null) {
    const raised = { type: 'UnicodeDecodeError', text: unloggable };
    const failed = processingFailure(ctx, raised, base, `the Message-ID holds bytes that are not UTF-8: ${ctx.version.text} logs it while it processes the bounce, and the log call raises "${unloggable}"`);
    const shown = failed.log[failed.log.length - 1]!.text;
    return { ...failed, finding: notUtf8Finding(ctx, facts, { name: 'Message-ID', value: facts.messageId, error: unloggable }, `"${shown}"`, 'bounce') };
  }
  const organizer = calendar?.ok ? serverOrg : null;
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
  const done = injected(ctx, facts, record, [LOG.processingDsn(ctx.version, facts.messageId)], calendar?.ok ? calendar.facts : null, notes);
  return { ...base, action: 'INJECTION_SUBMITTED', token, tokenStatus: status, record, notes: done.notes, log: done.log };
}

// ---- replies (`processReply`) ----------------------------------------------------------------

/** 7.0+ `processReply`: an unknown token in a mail sent more than 72 hours ago is deleted. */
const UNKNOWN_TOKEN_MAX_AGE_MS = 72 * 3600 * 1000;

/**
 * The python-dateutil each release pinned: 1.5 on 7.x, 2.4.2 on 8.0-9.0, 2.6.0 on 9.1 and later
 * (requirements-stable.txt, requirements-cs.txt).
 */
function dateutilOf(v: ServerVersion): DateutilVersion {
  return atLeast(v, 9, 1) ? '2.6.0' : atLeast(v, 8) ? '2.4.2' : '1.5';
}

/**
 * 7.0+ 72-hour rule for unknown tokens (CalendarServer-7.0..9.2 inbound.py `processReply`):
 * `dateutil.parser.parse(Date)` (./dateutil-parse.ts, a port checked against it); an exception
 * → UNKNOWN_TOKEN, logged with its text; a naive result (no zone it knows) compared with the
 * aware "now − 72 h" raises TypeError, and so does an offset of a day or more (`utcoffset()`
 * raises ValueError): `fails` tells the caller to fail the message. A zone name the server host
 * uses itself is aware there: the host's zone is `ctx.hostZone` (this machine's in the commands,
 * ../server/host-zone.ts), a UTC host when absent.
 */
function unknownToken(ctx: ClassifyContext, facts: Facts, token: string, log: LogEntry[]): FailingStep {
  const out = [...log, LOG.unknownToken(ctx.version, token, facts.messageId)];
  if (!featuresOf(ctx.version).unknownTokenAge || facts.date === null) return { action: 'UNKNOWN_TOKEN', log: out };
  const zone = ctx.hostZone ?? UTC_HOST;
  const sent = dateutilParse(facts.date, dateutilOf(ctx.version), zone.wallNow(ctx.now), zone);
  if (!sent.ok) {
    // 8.0+: the log call names the Date, which twext decodes as UTF-8 first; it raises inside
    // processReply's `except` (CalendarServer-8.0..9.2 inbound.py), so the reply's Deferred fails.
    const unloggable = unloggableValue(ctx, facts, facts.date);
    if (unloggable !== null) {
      const why = `the Date header "${facts.date}" does not parse, and logging it fails: its bytes are not UTF-8, and ${ctx.version.text} decodes every value it logs as UTF-8`;
      return { action: 'UNKNOWN_FAILURE', log: out, fails: { raised: { type: 'UnicodeDecodeError', text: unloggable }, why } };
    }
    return { action: 'UNKNOWN_TOKEN', log: [...out, LOG.badDate(facts.date, sent.error.replace(/^[A-Za-z]+: ?/, ''))] };
  }
  if (sent.naive) {
    const own = [...new Set(zone.names)].join('/');
    const why = `the Date header "${facts.date}" has no time zone the server understands (a zone name counts only when it is the server host's own: ${own}, from ${zone.source}): comparing it with the 72-hour limit raises TypeError`;
    return { action: 'UNKNOWN_FAILURE', log: out, fails: { raised: { type: 'TypeError', text: "can't compare offset-naive and offset-aware datetimes" }, why } };
  }
  if (sent.utcoffsetError !== undefined) {
    const why = `the Date header "${facts.date}" has an offset of a day or more: comparing it with the 72-hour limit raises`;
    return { action: 'UNKNOWN_FAILURE', log: out, fails: { raised: { type: 'ValueError', text: sent.utcoffsetError.replace(/^[A-Za-z]+: ?/, '') }, why } };
  }
  const old = sent.epochMs < ctx.now.getTime() - UNKNOWN_TOKEN_MAX_AGE_MS;
  return { action: old ? 'UNKNOWN_TOKEN_OLD' : 'UNKNOWN_TOKEN', log: out };
}

/**
 * Where the server would forward a reply without calendar; undefined = not known. A directory
 * organizer is looked up by `urn:uuid:` from 3.1 through 5.3 (CalendarServer-3.2/4.3.2 mail.py,
 * 5.0 inbound.py `processReply`: `recordWithGUID`), by `urn:x-uid:` from 6.0 (6.0..9.2 inbound.py
 * `recordWithUID`); 2.x and 3.0 forward to `mailto:` organizers only.
 */
function organizerMailAddress(record: TokenRecord | undefined, v: ServerVersion): string | null | undefined {
  if (!record) return undefined;
  if (record.organizer.startsWith('mailto:')) return record.organizer.slice(7);
  const directoryScheme = v.major >= 6 ? 'urn:x-uid:' : atLeast(v, 3, 1) ? 'urn:uuid:' : null;
  if (directoryScheme && record.organizer.startsWith(directoryScheme)) return record.organizerEmail || null;
  return null;
}

function noCalendar(ctx: ClassifyContext, record: TokenRecord | undefined, log: LogEntry[], notes: string[]): FailingStep {
  const address = organizerMailAddress(record, ctx.version);
  if (address === undefined) notes.push('token not checked: assuming the organizer has an e-mail address to forward to');
  if (address === null) return { action: 'NO_ORGANIZER_ADDRESS', log: [...log, LOG.noOrganizerAddress()] };
  const v = ctx.version;
  const logsForward = v.major > 3 || (v.major === 3 && v.minor >= 1);
  const forwarding = logsForward ? [...log, LOG.forwarding()] : log;
  if (featuresOf(v).forwardRaises) {
    // CalendarServer-5.0..6.0 inbound.py processReply: sendMessage(..., msg), and smtpsender.py
    // sendMessage does message.replace("\r\n", "\n") on it: Python 2's email Message is an
    // old-style class, hence "Message instance has no attribute".
    const why = `${v.text} forwards it to the organizer by handing its mail sender the parsed message instead of its text, which fails before anything is sent (6.1 and later send the text)`;
    return { action: 'UNKNOWN_FAILURE', log: forwarding, fails: { raised: { type: 'AttributeError', text: "Message instance has no attribute 'replace'" }, why } };
  }
  return { action: 'REPLY_FORWARDED_TO_ORGANIZER', log: forwarding };
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
    calendar: calPart ? readCalendar(calPart, input, facts, ctx) : null,
    notes: [],
  };
  if (!facts.to) {
    return { ...out, action: 'MALFORMED_TO_ADDRESS', log: [...out.log, LOG.malformedTo(ctx.version, facts.toHeader, facts.messageId)] };
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
  if (status === 'unknown') {
    // 2.x parses the calendar before the token lookup (CalendarServer-2.5 mail.py `processReply`).
    if (features.attachmentBeforeLookup && out.calendar && !out.calendar.ok) return parseFailure(ctx, out.calendar, out);
    const step = unknownToken(ctx, facts, token, out.log);
    if (step.fails) return processingFailure(ctx, step.fails.raised, { ...out, log: step.log }, step.fails.why);
    return { ...out, action: step.action, log: step.log };
  }
  if (!calPart) {
    const log = [...out.log, LOG.noAttachment(ctx.version, facts.messageId)];
    const step = noCalendar(ctx, record ?? undefined, log, out.notes);
    if (step.fails) return processingFailure(ctx, step.fails.raised, { ...out, log: step.log }, step.fails.why);
    return { ...out, action: step.action, log: step.log };
  }
  if (out.calendar && !out.calendar.ok) return parseFailure(ctx, out.calendar, out);
  const stepError = out.calendar?.ok ? (mainComponentFailure(ctx, out.calendar.facts) ?? sanitizeFailure(ctx, out.calendar.facts)) : null;
  if (stepError) return processingFailure(ctx, stepError.raised, out, stepError.why);
  const log = [...out.log];
  const noOrganizer = out.calendar?.ok && serverOrganizer(out.calendar.facts).value === null;
  if (noOrganizer) log.push(LOG.noOrganizerInReply(facts.messageId));
  // 2.x writes the calendar back (vobject) before it POSTs it, and vobject validates as it writes.
  const unwritable = out.calendar?.ok && out.calendar.facts.vobject ? vobjectSerializeError(out.calendar.facts.vobject, out.calendar.facts.lastVersion) : null;
  if (unwritable) {
    const why = `the gateway writes the calendar back before it posts it to /inbox/, and vobject refuses to write it (${unwritable.type}: ${unwritable.text}); nothing is posted`;
    return processingFailure(ctx, unwritable, { ...out, log }, why);
  }
  if (out.calendar?.ok && out.calendar.facts.components.length === 0) {
    if (featuresOf(ctx.version).organizerOnCalendar) return { ...out, ...postedWithoutComponent(ctx, facts, out.calendar.facts, log, out.notes) };
    // 3.0+: no main component, so `event` is None, and `event.addProperty(ORGANIZER)` raises
    // (CalendarServer-3.0..9.2 processReply; mainComponent() returns None for none).
    const why = 'the calendar has no VEVENT, VTODO or other main component: the server finds no ORGANIZER and fails adding one to the main component it does not have';
    return processingFailure(ctx, { type: 'AttributeError', text: "'NoneType' object has no attribute 'addProperty'" }, { ...out, log }, why);
  }
  return { ...out, ...injected(ctx, facts, record, log, out.calendar?.ok ? out.calendar.facts : null, out.notes) };
}

/**
 * 2.x, a reply whose calendar has no main component: `processReply` finds no ORGANIZER, adds one
 * to the VCALENDAR itself and POSTs the calendar to /inbox/ (CalendarServer-2.2..2.5
 * twistedcaldav/mail.py `processReply`, `injectMessage`); the mail is deleted, as every 2.x poll
 * deletes what it read. The inbox's scheduler checks the calendar first
 * (CalendarServer-2.5 twistedcaldav/scheduling/scheduler.py `checkCalendarData`):
 * `validCalendarForCalDAV` asks `resourceType()`, which raises ValueError ("No component type found
 * for calendar component") when there is no component at all, and the POST gets 403 Forbidden
 * (CalDAV valid-calendar-data), which the gateway logs. With a VTIMEZONE the resource type is
 * VTIMEZONE, the calendar checks pass and what the scheduler does next is not modelled.
 */
function postedWithoutComponent(ctx: ClassifyContext, facts: Facts, cal: CalendarFacts, log: LogEntry[], notes: string[]): Pick<Outcome, 'action' | 'log' | 'notes'> {
  const posted = '2.x reads a calendar without a VEVENT, VTODO or other main component, adds the ORGANIZER to the VCALENDAR itself and POSTs it to the inbox';
  if (cal.timezones > 0) {
    return {
      action: 'INJECTION_SUBMITTED',
      log,
      notes: [...notes, `${posted}; with only a VTIMEZONE in it, what the calendar server then does with it is not modelled, but no event can take an answer from it`],
    };
  }
  return {
    action: 'INJECTION_SUBMITTED',
    log: [...log, ...refusalLog(ctx.version, facts.messageId)],
    notes: [...notes, `${posted}, which refuses it (403 Forbidden: no component to schedule): the answer is lost and the mail deleted`],
  };
}

// ---- assembling the verdict ----------------------------------------------------------------

function summarise(outcome: Outcome): CalendarSummary | undefined {
  const cal = outcome.calendar;
  if (!cal?.ok) return undefined;
  const main = mainComponent(cal.facts);
  // Every component's attendees, each once, in order of first appearance (loops rather than
  // flatMap and its arrays: this runs for every message).
  const unique = new Set<string>();
  for (const c of cal.facts.components) for (const a of c.attendees) unique.add(a.value);
  const attendees = [...unique];
  return {
    method: cal.facts.method,
    uid: main?.uid ?? null,
    attendees,
    partstat: (main && keptAttendee(main, outcome.record)?.partstat) ?? null,
    organizer: main?.organizer ?? null,
  };
}

function gatherFacts(input: MessageInput): Facts {
  const h = input.headers;
  const toHeader = h.get('To') ?? null;
  const to = parseaddr(toHeader);
  return {
    messageId: h.get('Message-ID') ?? null,
    fromHeader: h.get('From') ?? null,
    toHeader,
    to: to.address,
    ...(to.raises ? { toRaises: to.raises } : {}),
    date: h.get('Date') ?? null,
    headersLatin1: h.latin1,
    parts: walkParts(input.root),
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
 * A message the server's poll stops at: with `left-blocks-every-poll` (IMAP 2.x–5.0) it stays
 * first in line for every later poll, so it is the reason later messages are never processed.
 */
function cycleFinding(facts: Facts, effect: string, ctx: ClassifyContext): Finding {
  if (effect === 'left-blocks-every-poll') {
    return {
      id: 'message.blocks-cycle',
      severity: 'error',
      path: 'message',
      // Twisted's IMAP4Client has no time limit (twisted-12.3.0 mail/imap4.py `timeout = 0`) and
      // nothing logs out after the failure, so the session stays open until the IMAP server drops it.
      message: `The server fails on this message and leaves it in the mailbox; ${ctx.version.text} fetches it first again at every poll and stops there, so no message after it is ever processed. Each of those polls also leaves its IMAP session open until the IMAP server drops it as idle; where the IMAP server limits sessions per user (Dovecot: mail_max_userip_connections, 10 by default), later polls fail at login ("IMAP login failed") with the right password.`,
      evidence: { messageId: facts.messageId, mailboxEffect: effect },
      fix: 'Remove this message from the mailbox by hand (or move it to another folder); the messages behind it are processed at the next poll.',
    };
  }
  return {
    id: 'message.stops-cycle',
    severity: 'warning',
    path: 'message',
    message: `The server fails on this message: the poll stops here, the unseen messages after it wait for the next poll, and this one stays \\Seen and is never processed.`,
    evidence: { messageId: facts.messageId, mailboxEffect: effect },
    fix: 'Ask the sender to answer again; delete this message once you have read it.',
  };
}

/**
 * Classify one message as the configured release's `inbound` would, with what its IMAP or POP3
 * poll then does to it and the reply findings.
 */
export function classify(input: MessageInput, ctx: ClassifyContext): Verdict {
  const facts = gatherFacts(input);
  const dsn = checkDsn(input.root, input.bodies);
  // The whole message is parsed before anything else is looked at.
  const depth = nestingDepth(input.root);
  const tooDeep = depth > MIME_NESTING_LIMIT;
  if (dsn.missingBody) facts.problems.push('message/delivery-status body was not supplied; DSN action unknown');
  const raising = tooDeep ? undefined : facts.parts.find((p) => p.type === 'text/calendar' && p.decodeError !== undefined);
  const unloggable = tooDeep || raising || dsn.actionRaises !== undefined ? null : loggedHeaderFailure(ctx, facts, dsn);
  const outcome = tooDeep
    ? checkFailure(ctx, null, RECURSION_ERROR, `the MIME parts nest ${depth} levels deep: Python's email parser recurses once per level and raises "${RECURSION_ERROR}" while it parses the message, before the token is read`)
    : raising
    ? decodeFailure(ctx, raising, raising.decodeError!)
    : dsn.actionRaises !== undefined
      ? actionFailure(ctx, dsn.deliveryStatusPart!, dsn.calendarPart, dsn.actionRaises)
      : unloggable
      ? unloggable.outcome
      : dsn.isDsn
      ? classifyDsn(input, ctx, facts, dsn.calendarPart, dsn.action)
      : facts.toRaises
      ? toParseFailure(ctx, facts.toRaises)
      : classifyReply(input, ctx, facts);
  const mailbox = mailboxOutcome({
    version: ctx.version,
    protocol: ctx.protocol,
    action: outcome.action,
    deleteAllMail: ctx.deleteAllMail,
    asyncFailure: outcome.asyncFailure,
  });
  const read = pollReads(ctx.version, ctx.protocol, ctx.seen === true);
  const fromAddress = parseaddr(facts.fromHeader).address;
  const findings: Finding[] = tooDeep
    ? [nestedFinding(ctx, facts, depth)]
    : unloggable
    ? [unloggable.finding]
    : facts.toRaises && !dsn.isDsn
    ? [toUnparsableFinding(ctx, facts)]
    : dsn.isDsn
    ? outcome.finding ? [outcome.finding] : []
    : replyFindings({
        messageId: facts.messageId,
        fromAddress,
        parts: facts.parts,
        problems: input.problems ?? [],
        calendarPart: outcome.calendarPart,
        calendar: outcome.calendar,
        record: outcome.record,
        action: outcome.action,
        version: ctx.version,
        protocol: ctx.protocol,
        deleteAllMail: ctx.deleteAllMail,
        scheduler: schedulerOptions(ctx),
      });
  // Not read: IMAP 5.1+ and a \Seen message (a finding on the message), or POP3 5.0, which reads
  // no message at all (the configuration's finding, receiving.pop-never-logs-in, says why).
  const neverLogsIn = !read && ctx.protocol === 'pop3';
  if (!read && !neverLogsIn) findings.unshift(seenFinding(facts));
  else if (mailbox.stopsCycle && read) findings.unshift(cycleFinding(facts, mailbox.effect, ctx));
  const logLines = read ? outcome.log : [];
  const calendar = summarise(outcome);
  return {
    date: facts.date,
    from: fromAddress,
    fromHeader: facts.fromHeader,
    to: facts.to,
    toHeader: facts.toHeader,
    messageId: facts.messageId,
    token: outcome.token,
    tokenStatus: outcome.tokenStatus,
    serverAction: outcome.action,
    mailboxEffect: read ? mailbox.effect : neverLogsIn ? 'never-read' : 'left-seen',
    stopsCycle: read && mailbox.stopsCycle,
    read,
    logLine: logLines.length ? logLines[logLines.length - 1]!.text : '',
    logLines,
    findings,
    isDsn: dsn.isDsn && !tooDeep,
    ...(dsn.isDsn && !tooDeep && dsn.action !== null ? { dsnAction: dsn.action } : {}),
    ...(calendar ? { calendar } : {}),
    ...(outcome.calendarPart ? { calendarPart: outcome.calendarPart.part } : {}),
    notes: read
      ? outcome.notes
      : neverLogsIn
        ? [...outcome.notes, `POP3 ${ctx.version.text} never logs in, so this message is never downloaded; the server action shown is what a POP3 reader that logs in (5.1 and later) would do`]
        : [...outcome.notes, `IMAP ${ctx.version.text} reads UNSEEN messages only: this one is never processed`],
    problems: facts.problems,
    policySource: read
      ? mailbox.source
      : neverLogsIn
        ? `${ctx.version.text} POP3 reader fails at the server's greeting (POP3DownloadFactory keeps no settings)`
        : `${ctx.version.text} IMAP searches UNSEEN messages only`,
  };
}
