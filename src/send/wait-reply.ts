/**
 * `send-test --wait-reply`: watch the receiving mailbox, read-only, for the attendee's answer to
 * the invitation just sent, and say what Calendar Server would make of it. Only messages that
 * arrived after the watch began are looked at: the token is new, so no older message can answer it.
 * Recognising and judging an answer is in reply-match.ts; reading the mailbox in mailbox-watcher.ts.
 */
import type { MailboxProtocol } from '../config/settings.js';
import type { MessageInput } from '../imip/classify.js';
import { decodeWords } from '../imip/mime.js';
import type { Finding } from '../report/finding.js';
import { parseaddr, splitAddressList } from '../server/address.js';
import { MailboxError } from './mailbox-error.js';
import type { MailboxWatcher, ReadMessage } from './watcher.js';
import { judge, recognise, type JudgeContext, type Judgement, type MatchReason, type ReplyOutcome, type ReplyTarget } from './reply-match.js';

// ---------------------------------------------------------------------------------------------
// The wait

export interface SeenMessage {
  id: string;
  messageId: string | null;
  from: string;
  to: string;
  subject: string;
  date: string | null;
  matchedBy: MatchReason[];
}

export interface ReplyReport {
  outcome: ReplyOutcome;
  reason: string;
  waitedSeconds: number;
  mailbox: { protocol: MailboxProtocol; host: string; port: number; tls: string; method: string };
  /** New messages looked at while waiting. */
  examined: number;
  /** The answer the outcome is about; null when none arrived. */
  message: (SeenMessage & { seen: boolean | null }) | null;
  /** The classifier's view of it (the same as `imip poll`). */
  serverAction: string | null;
  logLine: string | null;
  token: string | null;
  tokenStatus: string | null;
  method: string | null;
  partstat: string | null;
  mailboxEffect: string | null;
  /** token-missing: why, most specific first (ids of `tokenCauses`). */
  causes: string[];
  /** Reply checks and token causes, for the findings list. */
  findings: Finding[];
  notes: string[];
  /** The invitation bounced back (a DSN arrived instead of a reply). */
  bounced: boolean;
  /** The mailbox could not be read to the end. */
  error: string | null;
}

export interface WaitOptions {
  seconds: number;
  /** Pause between checks when nothing is pushed (IMAP) or between POP3 sessions. */
  intervalMs?: number;
  /** Called for every new message looked at (for --verbose). */
  onMessage?(m: SeenMessage): void;
  /** Stop waiting when this is aborted (a signal): the report is what was seen so far. */
  signal?: AbortSignal;
  /** A read of the mailbox still under way when the wait stopped: what it returns has not been looked at. */
  onAbandoned?(read: Promise<ReadMessage[]>): void;
}

/** Resolves when the signal is aborted (never without one). */
export function aborted(signal: AbortSignal | undefined): Promise<void> {
  if (!signal) return new Promise(() => undefined);
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}

function seenMessage(m: ReadMessage, matchedBy: MatchReason[]): SeenMessage {
  const h = m.input.headers;
  return {
    id: m.id,
    messageId: h.get('Message-ID') ?? null,
    from: parseaddr(h.get('From') ?? '').address,
    to: splitAddressList(h.get('To') ?? '')
      .map((a) => a.address)
      .filter(Boolean)
      .join(', '),
    subject: decodeWords(h.get('Subject') ?? ''),
    date: h.get('Date') ?? null,
    matchedBy,
  };
}

/** Wait for the answer; the watcher must be started already (before the invitation was sent). */
export async function waitForReply(watcher: MailboxWatcher, target: ReplyTarget, ctx: JudgeContext, opts: WaitOptions): Promise<ReplyReport> {
  return (await waitForAnswer(watcher, target, ctx, opts)).report;
}

/** The same, with the message the report is about (for a second opinion on it, such as the round trip's). */
export async function waitForAnswer(watcher: MailboxWatcher, target: ReplyTarget, ctx: JudgeContext, opts: WaitOptions): Promise<{ report: ReplyReport; input: MessageInput | null }> {
  const started = Date.now();
  const deadline = started + opts.seconds * 1000;
  const interval = opts.intervalMs ?? (watcher.protocol === 'pop3' ? 3000 : 2000);
  let examined = 0;
  let best: { judgement: Judgement; message: ReadMessage; seen: SeenMessage } | null = null;
  let error: string | null = null;
  let hint: string | null = null;

  const rank = (j: Judgement): number => (j.outcome === 'accepted' ? 3 : j.outcome === 'not-accepted' ? 2 : j.outcome === 'token-missing' ? 1 : 0);
  let failures = 0;
  const stopped = aborted(opts.signal);
  loop: for (;;) {
    if (opts.signal?.aborted) break;
    let batch: ReadMessage[];
    try {
      const reading = watcher.poll();
      const read = await Promise.race([reading.then((b) => ({ b })), stopped.then(() => null)]);
      if (read === null) {
        reading.catch(() => undefined);
        opts.onAbandoned?.(reading);
        break;
      }
      batch = read.b;
      failures = 0;
    } catch (e) {
      // One failed read (a dropped connection) is retried after the pause; two in a row end the wait.
      // A timeout ends it at once: a stalled server is not waited on a second time, so the step
      // costs at most --timeout.
      error = (e as Error).message;
      hint = e instanceof MailboxError ? e.hint : null;
      if (e instanceof MailboxError && e.kind === 'timeout') break;
      if (++failures >= 2 || Date.now() >= deadline) break;
      await Promise.race([watcher.pause(Math.min(interval, Math.max(0, deadline - Date.now()))), stopped]);
      continue;
    }
    error = null;
    hint = null;
    for (const m of batch) {
      examined++;
      const matchedBy = recognise(m.input, target, true);
      const seen = seenMessage(m, matchedBy);
      opts.onMessage?.(seen);
      if (matchedBy.length === 0) continue;
      const judgement = judge(m.input, target, ctx, m.seen, matchedBy);
      if (!best || judgement.decisive || rank(judgement) > rank(best.judgement)) best = { judgement, message: m, seen };
      if (judgement.decisive) break loop;
    }
    const left = deadline - Date.now();
    if (left <= 0) break;
    await Promise.race([watcher.pause(Math.min(interval, left)), stopped]);
  }
  const waitedSeconds = Math.round((Date.now() - started) / 100) / 10;
  const mailbox = { protocol: watcher.protocol, host: watcher.host, port: watcher.port, tls: watcher.tls, method: watcher.method };
  const empty = {
    message: null,
    serverAction: null,
    logLine: null,
    token: null,
    tokenStatus: null,
    method: null,
    partstat: null,
    mailboxEffect: null,
    causes: [],
    findings: [],
  };
  if (!best) {
    const reason = error
      ? `the mailbox could not be read to the end: ${error}`
      : `nothing answering this invitation arrived within ${opts.seconds} s (${examined} new message${examined === 1 ? '' : 's'} looked at)`;
    const notes = error && hint ? [hint] : [];
    return { report: { outcome: 'no-reply', reason, waitedSeconds, mailbox, examined, ...empty, notes, bounced: false, error }, input: null };
  }
  const { judgement, message, seen } = best;
  const v = judgement.verdict;
  const outcome: ReplyOutcome = judgement.outcome === 'bounce' ? 'no-reply' : judgement.outcome;
  const notes = [...v.notes, ...v.problems];
  if (error) notes.push(`reading stopped early: ${error}`);
  const report: ReplyReport = {
    outcome,
    reason: judgement.reason,
    waitedSeconds,
    mailbox,
    examined,
    message: { ...seen, seen: message.seen ?? null },
    serverAction: v.serverAction,
    logLine: v.logLine || null,
    token: v.token,
    tokenStatus: v.tokenStatus,
    method: v.calendar?.method ?? null,
    partstat: v.calendar?.partstat ?? null,
    mailboxEffect: v.mailboxEffect,
    causes: judgement.causes.map((c) => c.id),
    findings: [...judgement.causes, ...v.findings],
    notes,
    bounced: judgement.outcome === 'bounce' && judgement.decisive,
    error,
  };
  return { report, input: message.input };
}
