/**
 * Reply checks: one rule per id, each with its metadata and a pure function from a classified
 * reply to findings (one rule, one table of cases). Grounded in what the server does with the
 * calendar (`processReply`: 2.x–4.x `twistedcaldav/mail.py` `MailHandler`, 5.0+
 * `txdav/caldav/datastore/scheduling/imip/inbound.py` `MailReceiver`), in RFC 6047 §2.4 and
 * RFC 5546 §3.2.3 (REPLY), and in how real clients (Outlook, Google, Apple Mail) write replies.
 */
import type { MailboxProtocol } from '../config/settings.js';
import type { Finding, Severity } from '../report/finding.js';
import { stripMailto } from '../server/address.js';
import { pollEraOf, type ServerAction } from '../server/poll-policy.js';
import { atLeast, featuresOf, type ReleaseLine, type ServerVersion } from '../server/release.js';
import { isEraC } from './inbound-log.js';
import { refusalLog, refusalWords, replyWorkRetried, schedulerLog, schedulerRefusal, type SchedulerOptions, type SchedulerRefusal } from './scheduler-check.js';
import { componentsShape, mainComponent, mainComponentRaises, serverOrganizer, uidNotTokens, type AttendeeFacts, type CalendarParse, type ComponentFacts } from './reply-calendar.js';
import type { TokenRecord } from './classify-types.js';
import { fileName, type MimePart } from './mime-part.js';
import { pyLower } from './mime-headers.js';
import { headerBlockEndedIn } from './mime.js';
import { capitalised } from '../report/words.js';
import { encodingNearMiss, MAX_CALENDAR_BYTES } from './mime-decode.js';

export interface ReplyCheckInput {
  messageId: string | null;
  /** From address (parseaddr). */
  fromAddress: string;
  /** Every part of the message, in walk order. */
  parts: MimePart[];
  /** What the parse noted (src/imip/mime.ts): a header block ended early, for one. */
  problems: readonly string[];
  /** The first text/calendar part: the one the server uses (`processReply`). */
  calendarPart: MimePart | null;
  /** Its parse; null when there is no calendar part or its body was not supplied. */
  calendar: CalendarParse | null;
  /** Token record: null unknown, undefined not checked. */
  record: TokenRecord | null | undefined;
  action: ServerAction;
  version: ServerVersion;
  protocol: MailboxProtocol;
  deleteAllMail: boolean;
  /** What the scheduler's checks read from the configuration (scheduler-check.ts). */
  scheduler?: SchedulerOptions;
}

type Draft = Omit<Finding, 'id' | 'severity'> & { severity?: Severity };

export interface ReplyRule {
  id: string;
  /** Default severity; a draft may raise or lower it. */
  severity: Severity;
  /** Release lines the rule describes (all of them: the checks read the message, not the server). */
  appliesTo: string;
  /** Where the rule comes from. */
  source: string;
  description: string;
  /** The release lines whose servers it describes, when not all (the man page shows them). */
  lines?: readonly ReleaseLine[];
  check(input: ReplyCheckInput): Draft[];
}

const norm = (v: string): string => stripMailto(v).trim().toLowerCase();

/**
 * What `processReply` does with a component that keeps no ATTENDEE of the token's attendee.
 * - 2.x: nothing; the REPLY is injected without one.
 * - 3.0+: `removeAllButOneAttendee` runs on every component, then `if not calendar.getAttendees()`
 *   reads the FIRST component only (CalendarServer-3.0..6.x twistedcaldav/ical.py `getAttendees`,
 *   7.0..9.2 `getRecipientProperties`: the first component that is not VTIMEZONE or
 *   X-CALENDARSERVER-PERUSER). When that one has none, the attendee goes back, with
 *   SCHEDULE-STATUS 5.1 and no PARTSTAT, onto `event`: `mainComponent()`, the master or else the
 *   first override. 3.0–5.0 fail before this on more than one component (reply.multiple-components),
 *   so the first and the main one differ only from 5.1.
 * - The organizer's side (5.1..9.2 txdav/caldav/datastore/scheduling/itip.py
 *   `updateAttendeeData(FromReply)`) takes nothing from a component without exactly one ATTENDEE
 *   and logs "There must be one and only one ATTENDEE property in a REPLY".
 */
function withoutAttendee(input: ReplyCheckInput, comp: ComponentFacts, attendee: string): string {
  const v = input.version;
  if (v.major < 3) return "a 2.x server injects the REPLY without any ATTENDEE, so the organizer's event is not updated";
  if (!input.calendar?.ok) return '';
  const facts = input.calendar.facts;
  if (mainComponentRaises(facts, v)) {
    return `Calendar Server ${v.text} fails on a calendar with more than one component before it looks at ATTENDEEs (reply.multiple-components)`;
  }
  const first = facts.components[0];
  const main = mainComponent(facts);
  const firstHasOne = !!first && (input.record ? !!keptAttendee(first, input.record) : first.attendees.length > 0);
  if (!firstHasOne && comp === main) return `the server adds ${attendee} back with SCHEDULE-STATUS=5.1 and no PARTSTAT, so the attendee's answer is lost`;
  const what = comp.recurrenceId ? 'this occurrence' : `this ${comp.name}`;
  const log = '(the server logs "There must be one and only one ATTENDEE property in a REPLY")';
  if (firstHasOne) return `the server adds one back only when the first component has none, so ${what} reaches the organizer without an ATTENDEE and its answer is lost ${log}`;
  // The first component has none, and the main one (the master) is another: the attendee goes there.
  const twice = !!main && !!input.record && !!keptAttendee(main, input.record);
  return twice
    ? `the server adds ${attendee} to the master instead, which then has it twice: neither the master nor ${what} has exactly one ATTENDEE, so the answer of neither is taken ${log}`
    : `the server adds ${attendee} to the master instead, with SCHEDULE-STATUS=5.1 and no PARTSTAT, so the master's answer is lost and ${what} reaches the organizer without an ATTENDEE ${log}`;
}

function base(input: ReplyCheckInput, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { messageId: input.messageId, part: input.calendarPart?.part ?? null, ...extra };
}

function parsedComponents(input: ReplyCheckInput): ComponentFacts[] {
  return input.calendar?.ok ? input.calendar.facts.components : [];
}

/**
 * The ATTENDEE the server keeps: the token's attendee, compared as `removeAllButOneAttendee` does
 * (twistedcaldav/ical.py, 2.5..9.2: `p.value().lower() != attendee.lower()`, the whole value,
 * `mailto:` and white space included, ASCII letters only); without a record, the only one.
 */
export function keptAttendee(comp: ComponentFacts, record: TokenRecord | null | undefined): AttendeeFacts | null {
  if (record) {
    const wanted = pyLower(record.attendee);
    return comp.attendees.find((a) => pyLower(a.value) === wanted) ?? null;
  }
  return comp.attendees.length === 1 ? comp.attendees[0]! : null;
}

const TNEF_TYPES = new Set(['application/ms-tnef', 'application/vnd.ms-tnef']);

export function tnefParts(parts: MimePart[]): MimePart[] {
  return parts.filter((p) => TNEF_TYPES.has(p.type) || fileName(p)?.toLowerCase() === 'winmail.dat');
}

const tnef: ReplyRule = {
  id: 'reply.tnef',
  appliesTo: '2.2 and later',
  source: 'Outlook rich-text mail (MS KB 284392); the server reads only a text/calendar part',
  severity: 'error',
  description: 'Outlook sent its meeting reply as TNEF (winmail.dat) instead of iCalendar',
  check(input) {
    // With a calendar part the server has what it reads: nothing to say about TNEF.
    if (input.calendarPart) return [];
    const found = tnefParts(input.parts);
    if (!found.length) return [];
    return [
      {
        path: 'message.attachments',
        message:
          'The reply carries Outlook TNEF (winmail.dat) instead of a text/calendar part; Calendar Server cannot read it, so the acceptance is not recorded.',
        evidence: base(input, {
          tnefParts: found.map((p) => ({ part: p.part, type: p.type, filename: fileName(p) })),
        }),
        fix:
          'In the attendee\'s Outlook: File > Options > Mail > "When sending messages in Rich Text format to Internet recipients" = Convert to HTML format (Microsoft KB 284392), or mark the calendar address "Send using Internet format"; then answer the invitation again.',
      },
    ];
  },
};

/**
 * Actions at which the server stops before it looks at the calendar: the token is read (step 3)
 * and looked up (step 4) before the attachment (step 5). CalendarServer-9.2
 * txdav/caldav/datastore/scheduling/imip/inbound.py MailReceiver.inbound; CalendarServer-2.5
 * twistedcaldav/mail.py MailHandler.processReply (2.x too extracts the token first; it finds and
 * parses the calendar before the lookup, but rewrites and injects only after it, so for
 * UNKNOWN_TOKEN the steps the reply rules describe are not reached either).
 */
const STOPS_BEFORE_CALENDAR: ReadonlySet<ServerAction> = new Set(['NO_TOKEN', 'UNKNOWN_TOKEN', 'UNKNOWN_TOKEN_OLD', 'MALFORMED_TO_ADDRESS']);

/** What the server did instead of reading the calendar, in words. */
function stoppedAt(action: ServerAction): string {
  return action === 'NO_TOKEN'
    ? 'the server found no token in the first To address (NO_TOKEN) and stopped there'
    : action === 'MALFORMED_TO_ADDRESS'
      ? 'the server could not parse the To address (MALFORMED_TO_ADDRESS) and stopped there'
      : `the server did not recognise the token (${action}) and stopped there`;
}

/**
 * A part that looks meant as the calendar but is none to the server, and why: Calendar Server
 * takes the first part whose `get_content_type()` is exactly "text/calendar" (CalendarServer-2.5
 * twistedcaldav/mail.py and CalendarServer-9.2 txdav/caldav/datastore/scheduling/imip/inbound.py
 * `processReply`: `for part in msg.walk(): if part.get_content_type() == "text/calendar"`).
 * Python 2.7's `get_content_type` keeps the type as written up to the first ";" (stripped,
 * lower-cased), so spaces around the slash make another type, and its parser descends only into
 * a part whose main type is exactly "multipart" (`get_content_maintype()`).
 */
function calendarNearMiss(parts: readonly MimePart[], problems: readonly string[]): { part: string; type: string; sentence: string } | null {
  for (const p of parts) {
    const type = p.type;
    const where = p.part ? `Part ${p.part}` : 'The message';
    const squeezed = type.replace(/\s+/g, '');
    if (squeezed === 'text/calendar') {
      return { part: p.part, type, sentence: `${where} comes close: its Content-Type is "${type}", and the server's Python compares the type as written, spaces included, so it is no text/calendar part.` };
    }
    const main = type.slice(0, type.indexOf('/'));
    if (main !== 'multipart' && main.trim() === 'multipart') {
      return {
        part: p.part,
        type,
        sentence: `${where} comes close: its Content-Type is "${type}", which the server's Python does not take for a multipart (the spaces stay in the type), so it never reads the parts inside it, where the calendar may be.`,
      };
    }
    if (type !== 'text/calendar' && CALENDAR_FILE_TYPE.test(type)) {
      return { part: p.part, type, sentence: `${where} is ${type}, a calendar by its type, but the server reads only a part of type text/calendar.` };
    }
  }
  // Python ends a header block at the first line that is not a header (email.feedparser): the
  // header lines after it, a Content-Type among them perhaps, are read as the part's body.
  for (const problem of problems) {
    const part = headerBlockEndedIn(problem);
    if (part === null) continue;
    const type = parts.find((p) => p.part === part)?.type ?? 'text/plain';
    return {
      part,
      type,
      sentence: `${part ? `Part ${part}` : 'The message'}'s header block ends at a line that is not a header: the server's Python reads the lines after it as the body, so a Content-Type there, a calendar's perhaps, is not seen.`,
    };
  }
  return null;
}

/** Types a calendar file is sent as, other than text/calendar (application/ics, text/x-vcalendar...). */
const CALENDAR_FILE_TYPE = /^(?:application|text)\/(?:x-)?(?:ics|ical|icalendar|v?calendar)(?:\+(?:xml|json))?$/;

function noCalendarDraft(input: ReplyCheckInput): Draft {
  const miss = calendarNearMiss(input.parts, input.problems);
  const draft = humanReplyDraft(input, miss !== null);
  if (!miss) return draft;
  return { ...draft, message: `${draft.message} ${miss.sentence}`, evidence: { ...draft.evidence, nearMiss: { part: miss.part || '(message)', type: miss.type } } };
}

/** The finding for a mail without a calendar the server sees; `nearMiss`: one part looks meant as one. */
function humanReplyDraft(input: ReplyCheckInput, nearMiss: boolean): Draft {
  const evidence = base(input, { parts: input.parts.map((p) => `${p.part || '(message)'} ${p.type}`) });
  const era = pollEraOf(input.version);
  if (STOPS_BEFORE_CALENDAR.has(input.action)) {
    // The verdict beside this finding is a token failure: the server never reaches the step that
    // forwards human replies, so saying it forwards this one would contradict it.
    return {
      severity: 'info',
      path: 'message.body',
      message: `No text/calendar part either${nearMiss ? '.' : ': this looks like a mail written by hand.'} ${capitalised(stoppedAt(input.action))}, so it is not forwarded to the organizer and nobody sees it.`,
      evidence,
      fix: 'If the attendee meant to answer the invitation, ask them to use its Accept/Decline buttons, which reply to the address with the token; tell the organizer about a note written to the calendar address.',
    };
  }
  if (!featuresOf(input.version).forwardsHumanReplies) {
    return {
      path: 'message.body',
      message: 'No text/calendar part: a 2.x server logs "didn\'t find an icalendar attachment" and deletes the mail; the organizer never sees it.',
      evidence,
      fix: 'Ask the attendee to answer with the Accept/Decline buttons of the invitation, not with a plain mail reply.',
    };
  }
  if (input.action === 'NO_ORGANIZER_ADDRESS') {
    return {
      severity: 'error',
      path: 'message.body',
      message:
        'No text/calendar part and the organizer has no e-mail address: the server logs "Don\'t have an email address for the organizer; ignoring reply." and nobody sees this mail.',
      evidence,
      fix: 'Give the organizer an e-mail address in the directory, and ask the attendee to answer with the Accept/Decline buttons of the invitation.',
    };
  }
  if (featuresOf(input.version).forwardRaises && input.action === 'UNKNOWN_FAILURE') {
    // CalendarServer-5.0..6.0 inbound.py processReply hands sendMessage the parsed message, whose
    // .replace() does not exist (smtpsender.py); 6.1 passes msg.as_string().
    return {
      severity: 'error',
      path: 'message.body',
      message: `No text/calendar part: Calendar Server ${input.version.text} tries to forward this mail to the organizer and fails before anything is sent (its mail sender is handed the parsed message instead of its text: "Message instance has no attribute 'replace'"), so the organizer never sees it.`,
      evidence,
      fix: 'Tell the organizer about this mail yourself, and ask attendees to answer with the Accept/Decline buttons of the invitation; 6.1 and later forward such mail.',
    };
  }
  const rereads = era !== 'delete-everything' && input.protocol === 'pop3' && !input.deleteAllMail;
  if (rereads) {
    return {
      severity: 'error',
      path: 'message.body',
      message:
        'No text/calendar part: the server forwards this mail to the organizer and, on POP3, leaves it in the mailbox, so it forwards it again at every poll (ccs-calendarserver issue #500).',
      evidence,
      fix: 'Delete this message from the mailbox now; use IMAP (Receiving.Type imap) so such replies are read once; ask attendees to answer with the Accept/Decline buttons.',
    };
  }
  return {
    path: 'message.body',
    message:
      'No text/calendar part: the server treats it as a human reply and forwards it to the organizer by mail; the event itself is not updated.',
    evidence,
    fix: `Nothing to fix if the attendee meant to write a note; to record an answer, ask them to use the Accept/Decline buttons of the invitation. ${forwardSenderHint(input.version)}`,
  };
}

/**
 * The forward's envelope sender is the attendee's address (`fromAddr = attendee[7:]`, MAIL FROM
 * through Sending.Server with the calendar account; CalendarServer-3.2/4.3.2 mail.py and 6.1..9.2
 * inbound.py `processReply`). A relay that lets an account send only as itself refuses it: 6.1+
 * log "Failed to send IMIP message … (Reason: …)" and go on (smtpsender.py `_failure`); 3.x–4.x
 * return the sender's Deferred without an errback, so over IMAP the fetch chain stops there and the
 * session stays open (`cbGotMessage` adds only `cbFlagDeleted`), and the next poll waits for the
 * connection to close.
 */
function forwardSenderHint(v: ServerVersion): string {
  const consequence = isEraC(v)
    ? 'the server logs "Failed to send IMIP message … (Reason: …)" and the mail is lost'
    : 'over IMAP the poll stops at this message with its session left open, and the next poll waits until the IMAP server drops it';
  return `If organizers do not get these mails, the SMTP relay (Sending.Server) may refuse the forward's envelope sender, which is the attendee's own address: ${consequence}.`;
}

const noCalendar: ReplyRule = {
  id: 'reply.no-calendar',
  appliesTo: '2.2 and later',
  source: 'the server forwards a reply without a calendar to the organizer (3.0+; on 5.0–6.0 the forward fails); over POP3 it is read again every poll',
  severity: 'warning',
  description: 'A reply without any text/calendar part (a human reply)',
  check: (input) => (input.calendarPart ? [] : [noCalendarDraft(input)]),
};

/**
 * A calendar that parses with no main component. 3.0+ fail when they add the ORGANIZER; 2.x adds
 * it to the VCALENDAR and POSTs it to the inbox, which refuses it (classify.ts `postedWithoutComponent`).
 */
function noComponentDraft(input: ReplyCheckInput, timezones: number): Draft {
  const onCalendar = featuresOf(input.version).organizerOnCalendar;
  return {
    path: 'message.calendar',
    message: onCalendar
      ? `The calendar has no VEVENT, VTODO or other main component. Calendar Server ${input.version.text} reads it, adds the ORGANIZER to the calendar itself and posts it to the organizer's inbox, ` +
        (timezones > 0
          ? 'where no event can take an answer from it, so the answer is not recorded.'
          : `which refuses it: the log says "${refusalLog(input.version, '…')[0]!.text}" and the answer is not recorded.`)
      : 'The calendar has no VEVENT, VTODO or other main component. Calendar Server parses it, finds no ORGANIZER, and fails when it adds one ' +
        `("'NoneType' object has no attribute 'addProperty'"), so the answer is not recorded.`,
    evidence: base(input, { components: 0, ...(onCalendar ? { timezones } : {}) }),
    fix: 'Ask the attendee to answer again with the Accept/Decline buttons of the invitation, or from another calendar client.',
  };
}

const invalidICalendar: ReplyRule = {
  id: 'reply.invalid-icalendar',
  appliesTo: '2.2 and later',
  source: 'the server decodes the calendar as UTF-8 only; a parse failure ends the poll cycle',
  severity: 'error',
  description: 'The text/calendar part does not parse (syntax, or not UTF-8), or has no main component: the server fails on it as well (2.x: its inbox refuses it)',
  check(input) {
    const cal = input.calendar;
    if (cal?.ok && cal.facts.components.length === 0) return [noComponentDraft(input, cal.facts.timezones)];
    if (!cal || cal.ok) return [];
    const charset = input.calendarPart?.params['charset'] ?? null;
    const notUtf8 = cal.reason === 'not-utf8';
    const nearMiss = input.calendarPart ? encodingNearMiss(input.calendarPart.encoding) : null;
    return [
      {
        path: 'message.calendar',
        message: notUtf8
          ? `The calendar is not UTF-8 (charset=${charset ?? 'none'}); Calendar Server reads calendar data as UTF-8 only, so parsing fails: ${cal.error}.`
          : input.calendarPart?.undecoded
            ? `The calendar does not parse: ${input.calendarPart.undecodedWhy ?? 'its transfer encoding does not decode'}, so Calendar Server's Python takes the part as it is, undecoded, and fails on it: ${cal.error}.`
            : nearMiss
              ? `The calendar does not parse. Its Content-Transfer-Encoding is ${JSON.stringify(input.calendarPart!.encoding)}: Python compares it as written, white space included, so the part is not decoded as ${nearMiss}, and Calendar Server fails on it as it is: ${cal.error}.`
              : `The calendar does not parse: ${cal.error}.`,
        evidence: base(input, { error: cal.error, reason: cal.reason, charset }),
        // What the poll then does with the message (stays \Seen, stops the poll, blocks every poll)
        // is the message's own finding (message.stops-cycle, message.blocks-cycle), said once there.
        fix: notUtf8
          ? "The attendee's client must send the calendar in UTF-8 (RFC 6047 section 2.4); ask them to update it or answer from another client."
          : 'Ask the attendee to answer again from another calendar client.',
      },
    ];
  },
};

/**
 * 3.0–5.0 take one main component from a reply (release.ts `singleMainComponent`): an answer for a
 * repeating event with changed occurrences carries the master and the overrides, and the server
 * fails on it (classify.ts gives that verdict; this says why and what to do).
 */
const multipleComponents: ReplyRule = {
  id: 'reply.multiple-components',
  appliesTo: '3.0 to 5.0',
  source: "twistedcaldav's mainComponent() in 3.0 to 5.0 raises on more than one main component",
  severity: 'error',
  description: '3.0 to 5.0: a reply with more than one main component (an answer for a repeating event with changed occurrences) fails in the server',
  lines: ['3.x-4.x', '5.0+'],
  check(input) {
    if (!input.calendar?.ok || !mainComponentRaises(input.calendar.facts, input.version)) return [];
    const comps = input.calendar.facts.components;
    const { names, overrides } = componentsShape(input.calendar.facts);
    const shape =
      overrides > 0
        ? `${comps.length} ${names} components, ${overrides} of them for a changed occurrence (RECURRENCE-ID): an answer for a repeating event`
        : `${comps.length} ${names} components`;
    return [
      {
        path: 'message.calendar',
        message:
          `The calendar has ${shape}. Calendar Server ${input.version.text} takes one main component from a reply and fails on more ` +
          '("Calendar contains more than one primary component"), so this answer is not recorded. 5.1 and later take the master and accept it.',
        evidence: base(input, { components: comps.map((c) => ({ name: c.name, uid: c.uid, recurrenceId: c.recurrenceId })) }),
        fix:
          'Tell the organizer what the attendee answered. Answers to a single occurrence carry one component and go through; ' +
          'upgrading to Calendar Server 5.1 or later ends this for whole series.',
      },
    ];
  },
};

const undecodableCalendar: ReplyRule = {
  id: 'reply.undecodable-calendar',
  appliesTo: '2.2 and later',
  source: "the server decodes every text/calendar part with Python's get_payload, which lets uuencode errors through",
  severity: 'error',
  description: 'A text/calendar part whose transfer encoding raises an error when the server decodes it (uuencode)',
  check(input) {
    const p = input.calendarPart;
    if (!p?.decodeError) return [];
    return [
      {
        path: 'message.calendar.Content-Transfer-Encoding',
        message:
          `The text/calendar part ${p.part || '(message)'} is sent as ${p.encoding} and does not decode: Python raises "${p.decodeError}" when Calendar Server decodes it. ` +
          'The server decodes every text/calendar part before it reads the token, so it fails on this message ("Failed to process message") and never reads the reply.',
        evidence: base(input, { part: p.part, contentTransferEncoding: p.encoding, error: p.decodeError }),
        fix: 'Ask the attendee to answer again from another calendar client; RFC 6047 asks for base64 or quoted-printable, which the server always decodes.',
      },
    ];
  },
};

const methodMissing: ReplyRule = {
  id: 'reply.method-missing',
  appliesTo: '2.2 and later',
  source: 'RFC 6047 section 2.4',
  severity: 'warning',
  description: 'text/calendar part without a method parameter (RFC 6047 section 2.4: not an iMIP part)',
  check(input) {
    const p = input.calendarPart;
    if (!p || p.params['method']) return [];
    return [
      {
        path: 'message.calendar.Content-Type',
        message:
          'The text/calendar part has no method parameter; RFC 6047 says such a part is not an iMIP message. Calendar Server does not look at it (it takes the first text/calendar part), other iMIP processors may ignore the reply.',
        evidence: base(input, { contentType: p.type, params: p.params }),
        fix: 'Nothing to change for Calendar Server. Apple Mail on macOS sends calendars this way; other receivers need method=REPLY.',
      },
    ];
  },
};

/** The scheduler's answer to a message's calendar (worked out once per calendar: scheduler-check.ts). */
function refusalOf(input: ReplyCheckInput): SchedulerRefusal | null {
  return input.calendar?.ok ? schedulerRefusal(input.calendar.facts, input.version, input.scheduler) : null;
}

/**
 * The scheduler refuses the reply (./scheduler-check.ts): found where the verdict submits it, or
 * would once the token is known; not where the server fails before (UNKNOWN_FAILURE).
 */
const schedulerRefuses: ReplyRule = {
  id: 'reply.scheduler-refuses',
  appliesTo: '2.2 and later',
  source: "the calendar server's scheduler (checkCalendarData): an iTIP METHOD in upper case (8.0+ upper-case it); from 3.1 pycalendar's validation with its fixes: exactly one PRODID (6.1+ add a missing one) and VERSION, each component's required and at-most-once properties, UTC stamps, PRIORITY and SEQUENCE in range, complete alarms and time zones; its iTIP check (isValidITIP; 2.x on what vobject wrote): one type of component, one UID, one master; from 3.0 distinct RECURRENCE-IDs, every TZID defined unless EnableTimezonesByReference (3.1+, on from 5.2), from 6.0 a TZID without VTIMEZONE among the zones the server ships, no control characters; no X-CALENDARSERVER-ACCESS (every release)",
  severity: 'error',
  description: "The calendar server's scheduler refuses the reply (403): no or no valid METHOD; (3.1 and later) a calendar its validation finds wrong: no PRODID, an event without one DTSTAMP and one UID, a property repeated, a stamp not in UTC, an incomplete alarm or time zone; components that differ in type or UID; (3.0 and later) a time zone named but not defined (6.0 and later: not defined and not among the zones the server ships, which it fails on rather than refuses), a control character; a private event (X-CALENDARSERVER-ACCESS)",
  check(input) {
    const cal = input.calendar;
    if (!cal?.ok || cal.facts.components.length === 0 || input.action === 'UNKNOWN_FAILURE') return [];
    const refusal = refusalOf(input);
    if (!refusal) return [];
    const later = refusal.laterReleases ? ` (${refusal.laterReleases})` : '';
    const log = `${isEraC(input.version) ? 'the server' : 'the gateway'} logs "${schedulerLog(input.version, '…', refusal)[0]!.text}"`;
    const retried = replyWorkRetried(input.version);
    const fix =
      refusal.check === 'unknown-timezone'
        ? refusal.zoneDatabase
          ? 'Ask the attendee to answer from a client that includes the VTIMEZONE of each time zone it names, or bring newer zone names into the server\'s database by refreshing it from IANA ("calendarserver_manage_timezones -f caldavd.plist --refresh", then a restart).'
          : `Ask the attendee to answer from a client that includes the VTIMEZONE of each time zone it names${refusal.laterReleases ? `; Calendar Server ${refusal.laterReleases.replace(/ ship it$/, '')} knows this zone` : ''}. Newer zone names come with a refresh of the server's time zone database from IANA ("calendarserver_manage_timezones -f caldavd.plist --refresh", then a restart); judged here by the zones the release ships, as the server's database (DataRoot/zoneinfo) could not be read.`
        : refusal.check === 'timezone'
        ? atLeast(input.version, 3, 1)
          ? "Set EnableTimezonesByReference to true in caldavd.plist (the default from 5.2), so that the server takes a time zone by its name; or ask the attendee to answer from a client that includes the VTIMEZONE."
          : 'Ask the attendee to answer from a client that includes the VTIMEZONE of each time zone it names.'
        : refusal.check === 'access'
        ? 'Ask the attendee to answer from a client that does not mark the event private (Apple Calendar writes X-CALENDARSERVER-ACCESS for a private event), or to make the event public on their side before answering.'
        : refusal.check === 'component' || refusal.check === 'itip'
        ? "Ask the attendee to answer from another client: this one writes a calendar that the server's scheduler refuses."
        : refusal.check === 'prodid'
        ? refusal.laterReleases
          ? "The attendee's client (or a server on the way) writes calendars without PRODID: ask them to answer from another client; Calendar Server 6.1 and later accept it."
          : 'The calendar names its product more than once: ask the attendee to answer from another client.'
        : refusal.laterReleases
          ? "The attendee's client writes METHOD in lower case: ask them to answer from another client, or move to Calendar Server 8.0 or later, which upper-cases it."
          : 'Ask the attendee to answer with the Accept/Decline buttons of the invitation: a calendar attached by hand (an export) has no iTIP METHOD.';
    return [
      {
        path: refusal.check === 'prodid' ? 'message.calendar.PRODID' : refusal.check === 'method' ? 'message.calendar.METHOD' : 'message.calendar',
        message: `Calendar Server ${input.version.text} hands the answer to its scheduler, which ${refusalWords(refusal)}: ${refusal.why}${later}. The answer never reaches the organizer; ${log}${retried ? `, and ${retried}` : ''}.`,
        evidence: base(input, { method: cal.facts.methodText, methods: cal.facts.methods, prodids: cal.facts.prodids, description: refusal.description, problems: refusal.problems }),
        fix,
      },
    ];
  },
};

const notReply: ReplyRule = {
  id: 'reply.not-reply',
  appliesTo: '2.2 and later',
  source: 'RFC 5546 (REPLY); the scheduler takes any iTIP METHOD',
  severity: 'error',
  description: 'METHOD is not REPLY',
  check(input) {
    if (!input.calendar?.ok) return [];
    const method = input.calendar.facts.method;
    if (method === 'REPLY') return [];
    // Without a main component the server never gets that far (reply.invalid-icalendar); a reply
    // the scheduler refuses is reply.scheduler-refuses.
    if (input.calendar.facts.components.length === 0 || refusalOf(input)) return [];
    return [
      {
        path: 'message.calendar.METHOD',
        message: `METHOD is ${method ?? 'missing'}, not REPLY. The server's scheduler takes any iTIP method and delivers it as such; the organizer's event is not updated with an answer.`,
        evidence: base(input, { method, contentTypeMethod: input.calendarPart?.params['method'] ?? null }),
        // Only a REQUEST (or another organizer method) means the invitation came back; a calendar
        // without METHOD was written by a client that does not speak iMIP (an export, a file attached by hand).
        fix:
          method === null
            ? 'The calendar has no METHOD at all: it was attached as a plain calendar file (an export or an .ics added by hand), not sent as an answer. Ask the attendee to answer with the Accept/Decline buttons of the invitation.'
            : method === 'REQUEST' || method === 'PUBLISH' || method === 'ADD' || method === 'CANCEL'
              ? `A ${method} is what an organizer sends: the attendee sent the invitation back (forwarded it or used "send again"). Ask them to answer with the Accept/Decline buttons of the invitation.`
              : `METHOD:${method} is not an answer to an invitation; ask the attendee to answer with the Accept/Decline buttons of the invitation.`,
      },
    ];
  },
};

const attendeeCount: ReplyRule = {
  id: 'reply.attendee-count',
  appliesTo: '2.2 and later',
  source: 'RFC 5546 section 3.2.3; the server keeps only the token\'s attendee',
  severity: 'error',
  description: 'A REPLY component must carry exactly one ATTENDEE (RFC 5546 section 3.2.3)',
  check(input) {
    const out: Draft[] = [];
    for (const comp of parsedComponents(input)) {
      const n = comp.attendees.length;
      if (n === 1) continue;
      const evidence = base(input, { component: comp.name, uid: comp.uid, attendees: comp.attendees.map((a) => a.value) });
      if (n === 0) {
        out.push({
          path: 'message.calendar.ATTENDEE',
          message: `${comp.name} has no ATTENDEE: ${withoutAttendee(input, comp, 'the invited attendee')}.`,
          evidence,
          fix: 'Ask the attendee to answer with the Accept/Decline buttons of the invitation; their client dropped the ATTENDEE line.',
        });
      } else {
        out.push({
          severity: 'warning',
          path: 'message.calendar.ATTENDEE',
          message: `${comp.name} has ${n} ATTENDEEs; the server keeps only the token's attendee and drops the others.`,
          evidence,
          fix: 'Nothing to change if the invited attendee is among them (see reply.attendee-mismatch otherwise).',
        });
      }
    }
    return out.slice(0, 1);
  },
};

const attendeeMismatch: ReplyRule = {
  id: 'reply.attendee-mismatch',
  appliesTo: '2.2 and later',
  source: 'the server keeps only the token\'s attendee; RFC 6047 section 2.2.1',
  severity: 'error',
  description: 'The ATTENDEE is not the invited one (token) or not the sender (From)',
  check(input) {
    for (const comp of parsedComponents(input)) {
      if (!comp.attendees.length) continue;
      const values = comp.attendees.map((a) => a.value);
      if (input.record && !keptAttendee(comp, input.record)) {
        return [
          {
            path: 'message.calendar.ATTENDEE',
            message: `ATTENDEE ${values.join(', ')} is not the invited ${input.record.attendee}: the server removes it; ${withoutAttendee(input, comp, input.record.attendee)}.`,
            evidence: base(input, { attendees: values, tokenAttendee: input.record.attendee, from: input.fromAddress }),
            fix: `The attendee answered from another address (an alias or a second account). Ask them to answer from ${stripMailto(input.record.attendee)}, or invite the address they really use.`,
          },
        ];
      }
      const kept = keptAttendee(comp, input.record);
      if (kept && input.fromAddress && norm(kept.value) !== input.fromAddress.toLowerCase()) {
        return [
          {
            severity: 'warning',
            path: 'message.headers.From',
            message: `From ${input.fromAddress} is not the ATTENDEE ${kept.value}. Calendar Server does not compare them (it trusts the token); RFC 6047 section 2.2.1 lets only the attendee answer for itself and other receivers reject this.`,
            evidence: base(input, { from: input.fromAddress, attendee: kept.value }),
            fix: 'Usually a delegate or a mail alias; nothing to change for Calendar Server.',
          },
        ];
      }
    }
    return [];
  },
};

const partstatMissing: ReplyRule = {
  id: 'reply.partstat-missing',
  appliesTo: '2.2 and later',
  source: 'RFC 5546 (REPLY)',
  severity: 'error',
  description: 'The ATTENDEE has no PARTSTAT or NEEDS-ACTION: the reply answers nothing',
  check(input) {
    for (const comp of parsedComponents(input)) {
      const kept = keptAttendee(comp, input.record);
      if (!kept || (kept.partstat && kept.partstat !== 'NEEDS-ACTION')) continue;
      return [
        {
          path: 'message.calendar.ATTENDEE',
          message: `ATTENDEE ${kept.value} has ${kept.partstat ? 'PARTSTAT=NEEDS-ACTION' : 'no PARTSTAT'}: the organizer's event keeps "needs action".`,
          evidence: base(input, { attendee: kept.value, partstat: kept.partstat }),
          fix: 'Ask the attendee to choose Accept, Decline or Maybe in their calendar client and send that answer.',
        },
      ];
    }
    return [];
  },
};

const organizerMissing: ReplyRule = {
  id: 'reply.organizer-missing',
  appliesTo: '2.2 and later',
  source: 'RFC 5546 (REPLY); the server sets ORGANIZER from the token',
  severity: 'info',
  description: 'REPLY without ORGANIZER (Outlook/Exchange); the server adds it from the token',
  check(input) {
    if (!input.calendar?.ok) return [];
    const { component: comp, value } = serverOrganizer(input.calendar.facts);
    if (!comp || value !== null) return [];
    const what = comp.organizers > 1 ? `${comp.name} has ${comp.organizers} ORGANIZER properties, which the server takes as none` : `${comp.name} has no ORGANIZER (Outlook and Exchange send replies this way)`;
    return [
      {
        path: 'message.calendar.ORGANIZER',
        message: `${what}; the server logs "didn't find an ORGANIZER in REPLY" and adds the token's organizer.`,
        evidence: base(input, { component: comp.name, uid: comp.uid }),
        fix: 'Nothing to change for Calendar Server; RFC 5546 requires ORGANIZER, so other receivers may reject such replies.',
      },
    ];
  },
};

const valarm: ReplyRule = {
  id: 'reply.valarm',
  appliesTo: '2.2 and later',
  source: 'RFC 5546 (REPLY)',
  severity: 'warning',
  description: 'VALARM inside a REPLY (Google Calendar, Outlook for Mac)',
  check(input) {
    const comp = parsedComponents(input).find((c) => c.valarms > 0);
    if (!comp) return [];
    return [
      {
        path: 'message.calendar.VALARM',
        message: `${comp.name} carries ${comp.valarms} VALARM; RFC 5546 does not allow alarms in a REPLY. Calendar Server does not refuse a reply for carrying one.`,
        evidence: base(input, { component: comp.name, valarms: comp.valarms }),
        fix: 'Nothing to change for Calendar Server; Google Calendar and Outlook for Mac do this.',
      },
    ];
  },
};

const uidMissing: ReplyRule = {
  id: 'reply.uid-missing',
  appliesTo: '2.2 and later',
  source: 'RFC 5546 (REPLY)',
  severity: 'error',
  description: 'A component without UID cannot be matched to the organizer\'s event',
  check(input) {
    const comp = parsedComponents(input).find((c) => !c.uid);
    if (!comp) return [];
    return [
      {
        path: 'message.calendar.UID',
        message: `${comp.name} has no UID, so the organizer's server cannot find the event this answers.`,
        evidence: base(input, { component: comp.name, tokenUid: input.record?.uid ?? null }),
        fix: 'Ask the attendee to answer with the Accept/Decline buttons of the invitation itself.',
      },
    ];
  },
};

/**
 * The reply is about another event than the one its token was issued for: the scheduler drops it
 * without an error (reply-calendar.ts `uidNotTokens`). Only where the reply reaches the scheduler.
 */
const uidNotToken: ReplyRule = {
  id: 'reply.uid-not-token',
  appliesTo: '2.2 and later',
  source: "the scheduler looks the organizer's event up by the reply's UID (ImplicitProcessor.doImplicitOrganizer) and ignores a reply for an event it does not find",
  severity: 'error',
  description: "The reply's UID is not that of the event its token was issued for: the organizer's server finds no such event and drops the answer, logging success",
  check(input) {
    const cal = input.calendar;
    if (!cal?.ok || input.action !== 'INJECTION_SUBMITTED' || refusalOf(input)) return [];
    const other = uidNotTokens(cal.facts, input.record?.uid);
    if (!other) return [];
    return [
      {
        path: 'message.calendar.UID',
        message: `The reply answers the event with UID ${other.uid}, but its token was issued for the event with UID ${other.tokenUid}. Calendar Server looks the organizer's event up by the reply's UID, finds none (unless the organizer has another event with that UID), and drops the answer without an error: the log says it was injected, and only debug logging shows "organizer has no copy".`,
        evidence: base(input, { uid: other.uid, tokenUid: other.tokenUid }),
        fix: "Ask the attendee to answer from the invitation itself: their client changed the event's UID, or answered with another event's calendar.",
      },
    ];
  },
};

const calendarNotChecked: ReplyRule = {
  id: 'reply.calendar-not-checked',
  appliesTo: '2.2 and later',
  source: 'the server parses the whole text/calendar part; this tool keeps at most 32 MB of the calendars of one message',
  // A warning, not a note: the verdict beside it was not checked, and diagnose lists warnings.
  severity: 'warning',
  description: 'The text/calendar part is larger than the 32 MB this tool keeps of the calendars of one message: its calendar was not checked, and the verdict assumes it parses',
  check(input) {
    const p = input.calendarPart;
    if (!p?.truncated || input.calendar) return [];
    const mb = (n: number): string => `${(n / 1048576).toFixed(1)} MB`;
    return [
      {
        path: 'message.calendar',
        message:
          `${p.part ? `The text/calendar part ${p.part}` : 'The text/calendar body of the message'} is ${mb(p.size)} as sent, more than the ${mb(MAX_CALENDAR_BYTES)} this tool keeps of the calendars of one message, so its calendar was not checked. ` +
          'Calendar Server parses all of it: the action shown is what it does if the calendar parses.',
        evidence: base(input, { part: p.part, size: p.size, contentTransferEncoding: p.encoding, keptBytes: MAX_CALENDAR_BYTES }),
        fix: 'A reply this large is unusual (attachments inlined in the calendar?): look at the message itself; if its calendar does not parse, the server logs an invalid-calendar error for it.',
      },
    ];
  },
};

/** Every reply rule, in report order. */
export const REPLY_RULES: readonly ReplyRule[] = [
  tnef,
  noCalendar,
  invalidICalendar,
  multipleComponents,
  undecodableCalendar,
  calendarNotChecked,
  methodMissing,
  schedulerRefuses,
  notReply,
  attendeeCount,
  attendeeMismatch,
  partstatMissing,
  uidMissing,
  uidNotToken,
  organizerMissing,
  valarm,
];

/**
 * Run every reply rule. Each finding agrees with the verdict beside it: when the server stops at
 * the token (NO_TOKEN, UNKNOWN_TOKEN, MALFORMED_TO_ADDRESS) it never reads the calendar, so what a
 * rule says the server does with the calendar becomes a note on what would follow once the token
 * reaches it (severity info: the token finding is the problem to fix).
 */
export function replyFindings(input: ReplyCheckInput): Finding[] {
  const stopped = STOPS_BEFORE_CALENDAR.has(input.action);
  // A loop rather than flatMap and map: this runs for every message a poll reads, and most rules
  // find nothing.
  const out: Finding[] = [];
  for (const rule of REPLY_RULES) {
    for (const { severity, ...d } of rule.check(input)) {
      const f: Finding = { id: rule.id, severity: severity ?? rule.severity, ...d };
      if (!stopped || rule.id === 'reply.no-calendar') out.push(f);
      else out.push({ ...f, severity: 'info' as const, message: `Not reached this time (${stoppedAt(input.action)}); once replies carry a token the server recognises: ${f.message}` });
    }
  }
  return out;
}
