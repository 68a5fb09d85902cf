/**
 * The log texts the server writes while handling one inbound message, per release line
 * (5.0+ `txdav/caldav/datastore/scheduling/imip/inbound.py`, 2.x–4.x `twistedcaldav/mail.py`:
 * `inbound`, `processDSN`, `processReply`, `injectMessage`).
 * Python's `%s` of a missing header prints `None`; so do these.
 */
import type { ServerVersion } from '../server/release.js';
import type { PythonException } from './reply-calendar.js';

export type LogLevel = 'error' | 'warn' | 'info';

export interface LogEntry {
  level: LogLevel;
  text: string;
}

const py = (v: string | null | undefined): string => (v === null || v === undefined ? 'None' : v);

/** 2.x–4.x run the separate gateway and inject over HTTP; 5.0+ in-process. */
export function isEraC(v: Pick<ServerVersion, 'major'>): boolean {
  return v.major >= 5;
}

/** Where the exceptions that fail a reply are defined when not built in. */
const EXCEPTION_MODULES: Readonly<Record<string, string>> = {
  InvalidICalendarDataError: 'twistedcaldav.ical',
};

/**
 * Twisted's `reflect.qual` of a Python 2 exception class: `exceptions.TypeError` for a built-in
 * one, `twistedcaldav.ical.InvalidICalendarDataError`.
 */
function pythonQual(type: string): string {
  return `${EXCEPTION_MODULES[type] ?? 'exceptions'}.${type}`;
}

/**
 * `str()` of a Python 2 exception class: `<type 'exceptions.TypeError'>` for a built-in one,
 * `<class '…'>` for twistedcaldav's InvalidICalendarDataError (a ValueError subclass).
 */
function pythonClass(type: string): string {
  return type in EXCEPTION_MODULES ? `<class '${pythonQual(type)}'>` : `<type '${pythonQual(type)}'>`;
}

export const LOG = {
  received: (id: string | null, from: string | null, to: string | null): LogEntry => ({
    level: 'info',
    text: `Mail gateway received message ${py(id)} from ${py(from)} to ${py(to)}`,
  }),
  /**
   * 8.0–9.0 write the format with `{tp}` but pass `to=` (CalendarServer-8.0..9.0 inbound.py
   * `processReply`; 9.1 fixed it, d181df72e): Twisted's `formatEvent` meets a KeyError and writes
   * `formatUnformattableEvent`'s "Unable to format event {event!r}: {error}" instead (twisted-15.4.0
   * logger/_format.py). The event's repr, whose order and object addresses vary, is shortened to
   * its format; the To and Message-ID are in it too.
   */
  malformedTo: (v: Pick<ServerVersion, 'major' | 'minor'>, to: string | null, id: string | null): LogEntry => ({
    level: 'error',
    text:
      v.major === 8 || (v.major === 9 && v.minor === 0)
        ? `Unable to format event {… 'log_format': u"Mail gateway couldn't parse To: address ({tp}) in message {msgid}", …}: 'tp'`
        : `Mail gateway couldn't parse To: address (${py(to)}) in message ${py(id)}`,
  }),
  noToken: (id: string | null, to: string | null): LogEntry => ({
    level: 'error',
    text: `Mail gateway didn't find a token in message ${py(id)} (${py(to)})`,
  }),
  /** Error level through 6.x, info from 7.0 (`processReply`). */
  unknownToken: (v: Pick<ServerVersion, 'major'>, token: string, id: string | null): LogEntry => ({
    level: v.major >= 7 ? 'info' : 'error',
    text: `Mail gateway found a token (${token}) but didn't recognize it in message ${py(id)}`,
  }),
  badDate: (date: string, err: string): LogEntry => ({
    level: 'info',
    text: `Could not parse date in IMIP email '${date}' (${err})`,
  }),
  /** Error in 2.x and 3.0, warn from 3.1. */
  noAttachment: (v: Pick<ServerVersion, 'major' | 'minor'>, id: string | null): LogEntry => ({
    level: v.major > 3 || (v.major === 3 && v.minor >= 1) ? 'warn' : 'error',
    text: `Mail gateway didn't find an icalendar attachment in message ${py(id)}`,
  }),
  noOrganizerAddress: (): LogEntry => ({
    level: 'error',
    text: "Don't have an email address for the organizer; ignoring reply.",
  }),
  forwarding: (): LogEntry => ({ level: 'warn', text: 'Mail gateway forwarding reply back to organizer' }),
  noOrganizerInReply: (id: string | null): LogEntry => ({
    level: 'warn',
    text: `Mail gateway didn't find an ORGANIZER in REPLY ${py(id)}`,
  }),
  /** 2.x–4.x, after the HTTP POST to /inbox/ succeeded (`mail.py` `injectMessage._success`). */
  injectedHttp: (id: string | null): LogEntry => ({
    level: 'info',
    text: `Mail gateway successfully injected message ${py(id)}`,
  }),
  /**
   * 2.x–4.x, when the POST to /inbox/ fails: `failure.getErrorMessage()`, which for an HTTP
   * answer other than 2xx is Twisted's `web.error.Error` as text, "403 Forbidden"
   * (CalendarServer-2.5 twistedcaldav/mail.py `injectMessage._failure`).
   */
  injectFailed: (id: string | null, reason: string): LogEntry => ({
    level: 'error',
    text: `Mail gateway failed to inject message ${py(id)} (Reason: ${reason})`,
  }),
  /**
   * 5.0+, when the IMIPReplyWork item's `injectMessage` fails: `str(e)`, for the scheduler's
   * HTTPError the repr of its ErrorResponse (CalendarServer-5.0..9.2 inbound.py `injectMessage`;
   * txweb2/dav/http.py `ErrorResponse.__repr__`).
   */
  replyWorkFailed: (error: string): LogEntry => ({
    level: 'error',
    text: `Failed to inject iMIP response (${error})`,
  }),
  /** 6.1+: IMIPReplyWork.doWork catches what `injectMessage` re-raised (CalendarServer-6.1..9.2 inbound.py, a2da9a0). */
  unableToProcessReply: (): LogEntry => ({ level: 'error', text: 'Unable to process reply' }),
  /** 5.0+, written later by the IMIPReplyWork item (`inbound.py` `injectMessage`). */
  injectedWork: (attendee: string, organizer: string): LogEntry => ({
    level: 'info',
    text: `Successfully injected iMIP response from ${attendee} to ${organizer}`,
  }),
  cantFindTokenInDsn: (id: string | null): LogEntry => ({
    level: 'error',
    text: `Mail gateway can't find token in DSN ${py(id)}`,
  }),
  /** 2.x–4.x say "in DSN", 5.0+ "in message" (`processDSN`). */
  unknownTokenInDsn: (v: Pick<ServerVersion, 'major'>, token: string, id: string | null): LogEntry => ({
    level: 'error',
    text: `Mail gateway found a token (${token}) but didn't recognize it in ${isEraC(v) ? 'message' : 'DSN'} ${py(id)}`,
  }),
  /**
   * 3.2–4.x add the organizer's server (CalendarServer-3.2/4.3.2 twistedcaldav/mail.py `processDSN`:
   * "Mail gateway processing DSN %s to server %s" with `serverForOrganizer`, which is None for an
   * organizer hosted here, and always without `Servers` (pods) enabled: directory.py
   * `DirectoryRecord.server`); 2.x and 5.0+ write the id only.
   */
  processingDsn: (v: Pick<ServerVersion, 'major' | 'minor'>, id: string | null): LogEntry => ({
    level: 'warn',
    text: `Mail gateway processing DSN ${py(id)}${(v.major === 3 && v.minor >= 2) || v.major === 4 ? ' to server None' : ''}`,
  }),
  cantProcessDsn: (id: string | null): LogEntry => ({
    level: 'error',
    text: `Mail gateway can't process DSN ${py(id)}`,
  }),
  /** 2.x–4.x: the calendar is parsed synchronously inside `MailHandler.inbound()`'s catch-all. */
  failedToProcess: (err: string): LogEntry => ({ level: 'error', text: `Failed to process message: ${err}` }),
  /**
   * 5.1+ IMAP: the failure reaches `ebLogError` and the cycle stops (inbound.py `cbGotMessage`).
   * `ebLogError` is an errback, so `{err}` is a Twisted Failure, which writes itself as
   * `[Failure instance: ` and its brief traceback: `Traceback: <class>: <str>`, then one line per
   * frame (twisted/python/failure.py `Failure.__str__`, `printTraceback(detail='brief')`). The
   * first line is the one given.
   */
  imapError: (raised: PythonException): LogEntry => ({ level: 'error', text: `IMAP Error: [Failure instance: Traceback: ${pythonClass(raised.type)}: ${raised.text}` }),
  /**
   * 5.0 IMAP and 5.0+ POP3: nothing handles the failed Deferred, and Twisted reports it when the
   * Deferred is collected, as two log events (twisted-12.3.0 .. 16.6.0 internet/defer.py
   * `_DebugInfo.__del__`): "Unhandled error in Deferred:", then the Failure with its traceback
   * (`log.err`; from 15.2 `log.failure`), whose last line is `reflect.qual(type): str(value)`
   * (python/failure.py `printTraceback`, detail "default"). The frames between are not modelled.
   */
  unhandledDeferred: (raised: PythonException): LogEntry[] => [
    { level: 'error', text: 'Unhandled error in Deferred:' },
    { level: 'error', text: `${pythonQual(raised.type)}: ${raised.text}` },
  ],
};
