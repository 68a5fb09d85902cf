/**
 * What `--apply` does with one message, whatever the protocol: which messages it injects, the
 * rewrite and POST ({@link injectJob}), when to stop POSTing, and the run's progress (what a
 * signal handler reports). The protocol flows are src/poll/apply-imap.ts and apply-pop3.ts.
 */
import type { Verdict } from '../imip/classify.js';
import type { MimePart } from '../imip/mime-part.js';
import type { TokenRecord } from '../imip/classify-types.js';
import type { ApplyOutcome, CycleContext, OnProgress, PollMessage } from './cycle.js';
import { displayUrl, injectCalendar, rewriteDsn, rewriteReply, type InjectOptions, type InjectionTarget, type TokenParty } from './inject.js';
import type { Journal } from './journal.js';

export interface ApplyOptions {
  target: InjectionTarget;
  stateDir: string;
  inject: InjectOptions;
  /**
   * A stop was asked for (the first SIGINT, SIGTERM or SIGHUP): the POST in flight finishes and
   * its outcome is recorded; no further message is started. Never aborts a POST.
   */
  signal?: AbortSignal;
  onProgress?: OnProgress;
  /** Filled in as the run goes, for a signal handler to say how far it got. */
  status?: ApplyStatus;
  /** POP3: the admin states that only this host polls the mailbox (`--single-poller`). */
  singlePoller?: boolean;
  /** IMAP: messages per claim/inject/delete window. */
  window?: number;
}

export interface ApplyStatus {
  phase: 'connecting' | 'reading' | 'injecting' | 'deleting' | 'done';
  /** Messages to inject this run. */
  total: number;
  /** Messages whose turn has come (finished or in flight). */
  started: number;
  injected: number;
  deleted: number;
  /** The message being POSTed now (its Message-ID or number), if any. */
  inFlight: string | null;
}

export function newStatus(): ApplyStatus {
  return { phase: 'connecting', total: 0, started: 0, injected: 0, deleted: 0, inFlight: null };
}

/** One line for the admin: how far the run got. */
export function statusText(s: ApplyStatus): string {
  if (s.phase === 'connecting' || s.phase === 'reading') return `still reading the mailbox; nothing was injected yet`;
  const done = `${s.injected} of ${s.total} replies injected, ${s.deleted} deleted`;
  return s.inFlight ? `${done}; the injection of ${s.inFlight} is in flight` : done;
}

/**
 * Calendar bytes `--apply` holds at once for injection, at most: the calendars of one IMAP window
 * read again (as sent), or the big POP3 calendars kept from the read (decoded). A calendar is read
 * whole up to 32 MB, as the server reads it, so without a bound a mailbox of big calendars would
 * be held all together.
 */
export const HELD_CALENDAR_BYTES = 64 * 1024 * 1024;

export interface Job {
  row: PollMessage;
  /** Journal key: `uid N` (IMAP) or `uidl X` (POP3). */
  id: string;
  record: TokenRecord;
  isDsn: boolean;
  calendarPart: string;
  /** The journal says an earlier run started POSTing it: it is POSTed again (the server may already have it). */
  reposting?: boolean;
  /** IMAP. */
  uid?: number;
  root?: MimePart;
  /** IMAP: the read parsed it whole; its calendar is read whole again. */
  whole?: boolean;
  /** POP3: the decoded calendar, kept from the read; the message number. */
  calendar?: Buffer;
  /** POP3: a big calendar not kept from the read, retrieved again when it is injected. */
  reread?: boolean;
  number?: number;
}

export function outcome(row: PollMessage, o: ApplyOutcome): void {
  row.apply = o;
}

export function notInjectable(row: PollMessage, verdict: Verdict, record: TokenRecord | null | undefined): string | null {
  if (!row.thisCycle) return 'an earlier message ends the server\'s cycle';
  if (verdict.serverAction !== 'INJECTION_SUBMITTED') {
    return `the server does not inject it (${verdict.serverAction}); --apply deletes only what it injected, so it stays`;
  }
  if (!record) {
    return verdict.tokenStatus === 'unchecked'
      ? "the server's token store could not be read and send-test did not record this token, so the organizer and attendee the gateway would use are unknown"
      : "its token is not in the server's token store";
  }
  if (!verdict.calendarPart && verdict.calendarPart !== '') return 'no calendar part';
  // A calendar cut at the parser's size cap (or not fetched) must not be injected half.
  if (verdict.problems.some((p) => /size cap|not supplied/.test(p))) return 'its calendar could not be read whole, so it is not injected';
  return null;
}

/** Rewrite and POST one calendar; never throws. The stop signal never aborts it. */
export async function injectJob(job: Job, body: Buffer | undefined, ctx: CycleContext, opts: ApplyOptions): Promise<ApplyOutcome & { ok: boolean }> {
  if (!body) return { ok: false, status: 'failed', deleted: false, reason: 'the calendar part could not be read again' };
  const party: TokenParty = { organizer: job.record.organizer, attendee: job.record.attendee };
  let text: string;
  try {
    text = job.isDsn ? rewriteDsn(body.toString('utf8'), party, ctx.version) : rewriteReply(body.toString('utf8'), party, ctx.version);
  } catch (err) {
    return { ok: false, status: 'failed', deleted: false, reason: `the calendar does not parse: ${(err as Error).message}` };
  }
  const { signal: _ignored, ...inject } = opts.inject;
  const res = await injectCalendar(opts.target, party, text, inject);
  if (res.ok) return { ok: true, status: 'injected', httpStatus: res.status, deleted: false };
  return {
    ok: false,
    status: 'failed',
    httpStatus: res.status,
    deleted: false,
    reason: `Mail gateway failed to inject message ${job.row.messageId ?? ''} (Reason: ${res.reason ?? 'unknown'})`.replace('message  (', 'message ('),
    ...(res.uncertain ? { uncertain: true } : {}),
  };
}

/**
 * After a failure that is not about one message — no answer at all (refused, timed out, cut) or
 * 401/403 (the credentials or the principal) — the rest would fail alike: stop injecting and
 * leave them for the next run, rather than wait out a timeout per message.
 */
export function stopsInjecting(o: ApplyOutcome): string | null {
  if (o.httpStatus === null || o.httpStatus === undefined) return 'not tried: the injection endpoint did not answer the previous message; the next run retries';
  if (o.httpStatus === 401 || o.httpStatus === 403) return `not tried: the injection endpoint refused the previous message (${o.httpStatus}); fix the credentials, the next run retries`;
  return null;
}

/** Why a message was not started: a stop was asked for, or the endpoint is down. */
export function notStarted(opts: ApplyOptions, endpointDown: string | null): string | null {
  if (opts.signal?.aborted) return `not started: the run was asked to stop (${String(opts.signal.reason ?? 'interrupted')}); the next run handles it`;
  return endpointDown;
}

/** The mailbox's identity in the journal and the lock: not the port (an admin may switch 993 → 143). */
export function mailboxKey(ctx: CycleContext): string {
  const r = ctx.settings.receiving;
  return `${ctx.protocol}://${r.username}@${r.server.trim().toLowerCase()}/INBOX`;
}

export function baseNotes(opts: ApplyOptions, journal: Journal): string[] {
  return [
    `Replies are POSTed to ${displayUrl(opts.target.url)} (${opts.target.derivedFrom}) with ${opts.target.auth === 'digest-user' ? `Digest/Basic as ${opts.target.username ?? '(no Username)'}` : `the ${opts.target.header} header`}.`,
    'Only messages whose injection succeeded are deleted; the rest stay for the next run.',
    `Journal: ${journal.file}`,
  ];
}

/** The closing note of an interrupted run: how far it got and what the next run does. */
export function interruptedNote(opts: ApplyOptions, status: ApplyStatus): string | null {
  if (!opts.signal?.aborted) return null;
  const left = Math.max(0, status.total - status.started);
  return (
    `Stopped on ${String(opts.signal.reason ?? 'request')}: ${status.injected} of ${status.total} replies injected and ${status.deleted} deleted; ` +
    `the injection in flight (if any) was finished and recorded; ${left} not started, left untouched for the next run.`
  );
}
