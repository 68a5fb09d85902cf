/**
 * The unattended round trip of `send-test --reply-from`: after the invitation left (send-test sent
 * it through Sending.*, as the server does), wait for it in the test attendee's mailbox and check
 * what the attendee's client sees; answer as a real client would, through the attendee account's
 * own submission server; wait for that answer in the gateway mailbox (read-only, the watcher
 * started before the invitation left) and judge it with the poll classifier; then remove what the
 * run created: the invitation in the attendee mailbox, and the reply in the gateway mailbox unless
 * --keep-reply.
 *
 * Every leg has its latency and verdict; the whole run is bounded by one deadline.
 */
import { classify } from '../imip/classify.js';
import { clientReply, type ClientShape } from '../imip/client-replies.js';
import { parseMessage } from '../imip/mime.js';
import { replyVars } from '../imip/reply-template.js';
import type { ConnectOptions, ReceivingSettings } from '../config/settings.js';
import type { Finding } from '../report/finding.js';
import { serverAddress } from '../server/address.js';
import type { JudgeContext, ReplyTarget } from '../send/reply-match.js';
import type { MessageInput } from '../imip/classify.js';
import type { ReplyReport, SeenMessage } from '../send/wait-reply.js';
import type { MailboxWatcher, ReadMessage } from '../send/watcher.js';
import type { AttendeeAccount } from './account.js';
import { AttendeeMailbox, AttendeeMailboxError } from './attendee-mailbox.js';
import { ROUNDTRIP_FINDINGS as F } from './findings.js';
import { removeGatewayReply, type GatewayRemoval } from './gateway-cleanup.js';
import { checkReceivedInvitation, type ReceivedInvitation } from './invitation-checks.js';
import { thisMachineZone } from '../server/host-zone.js';

export type LegName = 'sent' | 'delivered' | 'reply-sent' | 'reply-arrived' | 'token' | 'server-action';

export interface RoundTripLeg {
  leg: LegName;
  /** null: the leg was not reached. */
  ok: boolean | null;
  /** Latency of the leg; null for a verdict without a duration (token, server action) or not reached. */
  seconds: number | null;
  verdict: string;
}

export interface RoundTripReport {
  client: ClientShape;
  account: { imap: string; submission: string; password: string };
  /** The overall result: every leg passed and the server would accept the reply. */
  ok: boolean;
  /** The command's exit code for this result (set by send-test, which knows every finding). */
  exitCode: number;
  totalSeconds: number;
  legs: RoundTripLeg[];
  invitation: (Omit<ReceivedInvitation, 'findings'> & { uid: number }) | null;
  reply: { messageId: string; to: string; smtpReply: string | null } | null;
  cleanup: {
    attendee: { removed: string; note?: string } | null;
    gateway: (GatewayRemoval & { kept?: boolean }) | null;
  };
  /** Stopped by this signal (SIGINT, SIGTERM, SIGHUP) before the round trip ended; absent otherwise. */
  interrupted?: string;
  /** If Calendar Server polls the gateway mailbox, it may take the reply before imip removes it: what it then does. */
  serverMayTakeIt: { serverAction: string; logLine: string | null; mailboxEffect: string } | null;
  findings: Finding[];
}

export interface RoundTripInput {
  account: AttendeeAccount;
  attendeeMailbox: AttendeeMailbox;
  client: ClientShape;
  conn: ConnectOptions;
  invitation: { raw: string; messageId: string; plusAddress: string; start: Date; end: Date };
  target: ReplyTarget;
  sendingAddress: string;
  /** When the invitation left, and how long sending it took. */
  sentAt: number;
  sentMs: number;
  /** The gateway watcher (started before the invitation left) and how to judge. */
  watcher: MailboxWatcher;
  judgeContext: JudgeContext;
  receiving: ReceivingSettings;
  deadline: number;
  keepReply: boolean;
  waitForReply(
    seconds: number,
    extra: { signal?: AbortSignal; onMessage(m: SeenMessage): void; onAbandoned(read: Promise<ReadMessage[]>): void },
  ): Promise<{ report: ReplyReport; input: MessageInput | null }>;
  /** A signal stops the waiting; what the run created is then removed within --timeout. */
  signal?: AbortSignal;
  /** Kept up to date as the run goes, for a second signal that cannot wait for the cleanup. */
  tracker?: RoundTripTracker;
}

/**
 * Where the round trip is and what it created so far, readable at any moment (a second signal
 * exits at once and says what may be left).
 */
export class RoundTripTracker {
  stage: 'before-send' | 'sending' | 'delivering' | 'replying' | 'awaiting-reply' | 'cleanup' | 'done' = 'before-send';
  /** The invitation: not yet sent, perhaps sent (SMTP in flight), sent, removed. */
  invitation: 'none' | 'maybe' | 'sent' | 'removed' = 'none';
  reply: 'none' | 'maybe' | 'sent' | 'removed' = 'none';
  replyMessageId: string | null = null;

  constructor(
    readonly invitationMessageId: string,
    readonly attendeeMailbox: string,
    readonly gatewayMailbox: string,
  ) {}

  /** Where the run was, for the interruption line. */
  where(): string {
    switch (this.stage) {
      case 'before-send':
        return 'before the invitation was sent';
      case 'sending':
        return 'while the invitation was being sent';
      case 'delivering':
        return `while waiting for the invitation at ${this.attendeeMailbox}`;
      case 'replying':
        return 'while the reply was being sent';
      case 'awaiting-reply':
        return `while waiting for the reply in the gateway mailbox ${this.gatewayMailbox}`;
      case 'cleanup':
        return 'while removing what the run created';
      default:
        return 'after the round trip';
    }
  }

  /** What the first signal stops, for its line: `seconds` bounds the cleanup. */
  stopping(seconds: number): string {
    return `the round trip ${this.where()} and removing what it created (within ${seconds} s)`;
  }

  /** What may be left behind if the run stops now. */
  mayBeLeft(): string {
    const left: string[] = [];
    if (this.invitation === 'sent' || this.invitation === 'maybe') left.push(`the test invitation (Message-ID ${this.invitationMessageId}) may be left in ${this.attendeeMailbox}`);
    if (this.reply === 'sent' || this.reply === 'maybe') left.push(`the test reply (Message-ID ${this.replyMessageId ?? 'unknown'}) may be left in the gateway mailbox ${this.gatewayMailbox}, where Calendar Server may process it`);
    return left.length ? `${left.join('; ')}; delete ${left.length > 1 ? 'them' : 'it'} by hand` : 'nothing this run created is left';
  }
}

const secs = (ms: number): number => Math.round(ms / 100) / 10;

function finding(def: { id: string; severity: Finding['severity'] }, path: string, message: string, evidence: Record<string, unknown>, fix: string): Finding {
  return { id: def.id, severity: def.severity, path, message, evidence, fix };
}

/** Open the attendee mailbox before the invitation leaves, so a wrong account stops the run early. */
export async function openAttendeeMailbox(account: AttendeeAccount, conn: ConnectOptions): Promise<AttendeeMailbox> {
  const box = new AttendeeMailbox(account.imap, account.password, conn);
  await box.open();
  return box;
}

export function attendeeMailboxFinding(account: AttendeeAccount, message: string): Finding {
  return finding(
    F.attendeeMailboxFailed,
    'reply-from',
    `The test attendee mailbox ${account.imap.url} cannot be used: ${message}`,
    { url: account.imap.url, password: account.passwordFrom },
    `Check the URL given with --reply-from and the password in ${account.passwordFrom}; the account must allow IMAP logins with a password (an app password at providers that require one).`,
  );
}

export async function runRoundTrip(o: RoundTripInput): Promise<{ report: RoundTripReport; reply: ReplyReport | null }> {
  const legs: RoundTripLeg[] = [{ leg: 'sent', ok: true, seconds: secs(o.sentMs), verdict: 'sent' }];
  const findings: Finding[] = [];
  const report: RoundTripReport = {
    client: o.client,
    account: { imap: o.account.imap.url, submission: o.account.submission.url, password: o.account.passwordFrom },
    ok: false,
    exitCode: 1,
    totalSeconds: 0,
    legs,
    invitation: null,
    reply: null,
    cleanup: { attendee: null, gateway: null },
    serverMayTakeIt: null,
    findings,
  };
  const notReached = (...names: LegName[]): void => {
    for (const leg of names) legs.push({ leg, ok: null, seconds: null, verdict: 'not reached' });
  };
  let replyReport: ReplyReport | null = null;
  let judgedInput: MessageInput | null = null;
  const created: number[] = [];
  const stopped = (): boolean => o.signal?.aborted === true;
  const interruptedAt = (first: LegName, ...rest: LegName[]): void => {
    legs.push({ leg: first, ok: null, seconds: null, verdict: 'interrupted' });
    notReached(...rest);
  };
  let replySent: 'none' | 'maybe' | 'sent' = 'none';
  let replyMessageId: string | null = null;
  const gatewaySeen: SeenMessage[] = [];
  let gatewayReading: Promise<ReadMessage[]> | null = null;
  // The cleanup after a signal is bounded by --timeout from the signal itself.
  let signalledAt: number | null = null;
  o.signal?.addEventListener('abort', () => (signalledAt = Date.now()), { once: true });
  try {
    // --- delivered to the attendee ---------------------------------------------------------
    let found: Awaited<ReturnType<AttendeeMailbox['waitFor']>> = null;
    try {
      if (o.tracker) o.tracker.stage = 'delivering';
      found = await o.attendeeMailbox.waitFor(o.invitation.messageId, o.deadline, 1000, o.signal);
    } catch (e) {
      if (!(e instanceof AttendeeMailboxError)) throw e;
      findings.push(attendeeMailboxFinding(o.account, e.message));
      legs.push({ leg: 'delivered', ok: false, seconds: null, verdict: 'mailbox unreadable' });
      notReached('reply-sent', 'reply-arrived', 'token', 'server-action');
      return { report, reply: null };
    }
    if (!found && stopped()) {
      interruptedAt('delivered', 'reply-sent', 'reply-arrived', 'token', 'server-action');
      return { report, reply: null };
    }
    if (!found) {
      const waited = secs(Date.now() - o.sentAt);
      findings.push(
        finding(
          F.notDelivered,
          'invitation',
          `The invitation did not reach ${o.account.imap.url} within ${waited} s of leaving (Message-ID ${o.invitation.messageId}).`,
          { messageId: o.invitation.messageId, waitedSeconds: waited },
          'Look in the attendee account\'s spam folder and in the outgoing relay\'s log for the Message-ID; raise --wait-reply if delivery is merely slow.',
        ),
      );
      legs.push({ leg: 'delivered', ok: false, seconds: waited, verdict: 'not delivered' });
      notReached('reply-sent', 'reply-arrived', 'token', 'server-action');
      return { report, reply: null };
    }
    created.push(found.uid);
    const seen = checkReceivedInvitation(o.invitation.raw, found.raw, o.invitation.plusAddress);
    const { findings: mangled, ...facts } = seen;
    findings.push(...mangled);
    report.invitation = { ...facts, uid: found.uid };
    const intact = mangled.every((f) => f.severity !== 'error');
    legs.push({ leg: 'delivered', ok: intact, seconds: secs(Date.now() - o.sentAt), verdict: intact ? (mangled.length ? 'delivered, altered' : 'delivered intact') : 'delivered, mangled' });
    if (seen.calendar === 'missing') {
      notReached('reply-sent', 'reply-arrived', 'token', 'server-action');
      return { report, reply: null };
    }
    if (stopped()) {
      interruptedAt('reply-sent', 'reply-arrived', 'token', 'server-action');
      return { report, reply: null };
    }

    // --- the client's reply ----------------------------------------------------------------
    const attendee = o.target.attendee;
    const organizerBare = serverAddress(o.sendingAddress)?.address ?? o.sendingAddress;
    const raw = clientReply(
      o.client,
      replyVars({
        TOKEN: o.target.token,
        UID: o.target.uid,
        ATTENDEE: attendee,
        ORGANIZER: o.invitation.plusAddress,
        ORGANIZER_BARE: organizerBare,
        SUMMARY: o.target.summary,
        IN_REPLY_TO: o.invitation.messageId,
        start: o.invitation.start,
        end: o.invitation.end,
      }),
    );
    replyMessageId = parseMessage(Buffer.from(raw, 'utf8'), () => false).headers.get('Message-ID') ?? '';
    report.reply = { messageId: replyMessageId, to: o.invitation.plusAddress, smtpReply: null };
    const { sendRaw, SmtpSendError } = await import('../send/smtp-send.js');
    const sub = o.account.submission;
    const replyStarted = Date.now();
    // From the first byte of the message on, the reply may have been taken: the cleanup looks for it.
    replySent = 'maybe';
    if (o.tracker) Object.assign(o.tracker, { stage: 'replying', reply: 'maybe', replyMessageId });
    try {
      const r = await sendRaw({
        sending: { server: sub.host, port: sub.port, useSSL: true, address: attendee, username: sub.username, password: o.account.password, suppressionDays: null },
        conn: o.conn,
        envelope: { from: attendee, to: [o.invitation.plusAddress] },
        raw,
        // The plus address refused: is the organizer's bare address refused too? (RCPT TO, then RSET.)
        recipientCheck: organizerBare,
      });
      report.reply.smtpReply = r.reply;
      if (r.rejected.length) throw new SmtpSendError('rejected', `the recipient ${r.rejected.join(', ')} was refused`, '', r.reply);
      replySent = 'sent';
      if (o.tracker) o.tracker.reply = 'sent';
      legs.push({ leg: 'reply-sent', ok: true, seconds: secs(Date.now() - replyStarted), verdict: `sent as ${o.client}` });
    } catch (e) {
      if (!(e instanceof SmtpSendError)) throw e;
      // Refused: nothing reached the gateway.
      replySent = 'none';
      if (o.tracker) o.tracker.reply = 'none';
      const text = e.reply ?? e.message;
      // Plus addressing is to blame only when the bare address is taken where the plus address is not.
      const plusRefused = e.recipientCheck?.accepted === true;
      const bareRefused = e.recipientCheck?.accepted === false;
      report.reply.smtpReply = e.reply;
      findings.push(
        bareRefused
          ? finding(
              F.replyNotSent,
              'reply-submit',
              `The attendee account's submission server ${sub.url} refused the reply to ${o.invitation.plusAddress} (${text}) and the bare ${organizerBare} too (${e.recipientCheck!.reply}): it refuses the recipient itself, not plus addressing.`,
              { failure: e.kind, reply: e.reply, bareAddress: organizerBare, bareReply: e.recipientCheck!.reply, submission: sub.url },
              `Find in the replies why ${sub.host} refuses ${organizerBare} (an address its system does not know, a policy); plus addressing is not judged by this run.`,
            )
          : plusRefused
          ? finding(
              F.plusRejected,
              'Scheduling.iMIP.Sending.Address',
              `The reply to ${o.invitation.plusAddress} was refused by ${sub.host}:${sub.port}: ${text}. Mail to "+detail" addresses of ${organizerBare} does not get through, so every attendee reply bounces and never reaches the server.`,
              { to: o.invitation.plusAddress, reply: text, submission: sub.url },
              'Turn plus addressing on for the calendar mailbox (Postfix recipient_delimiter = +, and the same in Dovecot; Exchange Online: allow plus addressing), or point Sending.Address at a mailbox on a system that keeps "+detail".',
            )
          : finding(
              F.replyNotSent,
              'reply-submit',
              `The attendee account's submission server ${sub.url} did not take the reply: ${e.message}`,
              { failure: e.kind, reply: e.reply, submission: sub.url },
              `Check --reply-submit (STARTTLS and a password login are required) and the password in ${o.account.passwordFrom}.`,
            ),
      );
      legs.push({ leg: 'reply-sent', ok: false, seconds: secs(Date.now() - replyStarted), verdict: plusRefused ? 'plus address refused' : bareRefused ? 'recipient refused' : 'not sent' });
      notReached('reply-arrived', 'token', 'server-action');
      return { report, reply: null };
    }

    // --- judged in the gateway mailbox -----------------------------------------------------
    if (stopped()) {
      interruptedAt('reply-arrived', 'token', 'server-action');
      return { report, reply: null };
    }
    const left = Math.max(1, Math.ceil((o.deadline - Date.now()) / 1000));
    if (o.tracker) o.tracker.stage = 'awaiting-reply';
    const answer = await o.waitForReply(left, {
      ...(o.signal ? { signal: o.signal } : {}),
      onMessage: (m) => gatewaySeen.push(m),
      onAbandoned: (read) => {
        gatewayReading = read;
      },
    });
    replyReport = answer.report;
    judgedInput = answer.input;
    const arrived = replyReport.message !== null;
    if (!arrived && stopped()) {
      replyReport = null;
      interruptedAt('reply-arrived', 'token', 'server-action');
      return { report, reply: null };
    }
    legs.push({ leg: 'reply-arrived', ok: arrived, seconds: arrived ? replyReport.waitedSeconds : secs(Date.now() - replyStarted), verdict: arrived ? 'arrived' : replyReport.outcome });
    if (arrived) {
      const firstTo = (replyReport.message?.to ?? '').split(',')[0]?.trim().toLowerCase() ?? '';
      const plus = o.invitation.plusAddress.toLowerCase();
      if (firstTo !== plus && firstTo === plus.replace(/\+[^@]*@/, '@')) {
        findings.push(
          finding(
            F.detailStripped,
            'Scheduling.iMIP.Sending.Address',
            `The reply left ${sub.host} addressed to ${o.invitation.plusAddress} and arrived in the gateway mailbox addressed to ${firstTo}: a relay between the attendee's provider and the calendar mailbox strips "+detail" from the recipient, so the server finds no token in any reply.`,
            { sentTo: o.invitation.plusAddress, arrivedTo: replyReport.message?.to ?? null },
            'Find the hop that rewrites recipients (address normalisation, a forwarder, "canonical" or alias maps that drop the extension) and let "+detail" through to the calendar mailbox unchanged, in the To header too.',
          ),
        );
      }
      const tokenOk = replyReport.token === o.target.token;
      legs.push({ leg: 'token', ok: tokenOk, seconds: null, verdict: tokenOk ? 'intact' : replyReport.token ? `another token (${replyReport.token})` : 'missing' });
      legs.push({ leg: 'server-action', ok: replyReport.outcome === 'accepted', seconds: null, verdict: replyReport.serverAction ?? replyReport.outcome });
    } else {
      notReached('token', 'server-action');
    }
    report.ok = replyReport.outcome === 'accepted' && findings.every((f) => f.severity !== 'error');
    return { report, reply: replyReport };
  } finally {
    // --- clean up what this run created ----------------------------------------------------
    if (o.tracker) o.tracker.stage = 'cleanup';
    const judged = replyReport?.message;
    // Decided once: a signal that comes during the ordinary cleanup lets it finish.
    const interrupted = stopped();
    if (interrupted) {
      report.interrupted = String(o.signal?.reason ?? 'SIGINT');
      await cleanUpInterrupted(o, report, { created, replySent, replyMessageId, judgedId: judged?.id ?? null, gatewaySeen, gatewayReading, signalledAt: signalledAt ?? Date.now() });
      if (judged && judgedInput) report.serverMayTakeIt = serverView(o, judgedInput);
    } else {
      if (created.length) report.cleanup.attendee = await o.attendeeMailbox.remove(created);
      await o.attendeeMailbox.close();
    }
    if (judged && !interrupted) {
      report.serverMayTakeIt = judgedInput ? serverView(o, judgedInput) : null;
      if (o.keepReply) report.cleanup.gateway = { removed: 'not-removed', kept: true, note: 'kept because of --keep-reply' };
      else report.cleanup.gateway = await removeGatewayReply(o.receiving, o.conn, judged.id, judged.messageId);
    }
    const left = [report.cleanup.attendee, report.cleanup.gateway].filter((c) => c && !(c as { kept?: boolean }).kept && (c.removed === 'not-removed' || c.removed === 'flagged-deleted'));
    if (left.length) {
      findings.push(
        finding(
          F.cleanupIncomplete,
          'cleanup',
          `Not everything the run created could be removed: ${left.map((c) => c!.note ?? c!.removed).join('; ')}.`,
          { attendee: report.cleanup.attendee, gateway: report.cleanup.gateway },
          'Delete the test invitation (subject "Event invitation: …") from the attendee mailbox and the test reply from the gateway mailbox by hand.',
        ),
      );
    }
    report.totalSeconds = secs(Date.now() - o.sentAt + o.sentMs);
    if (o.tracker) {
      if (report.cleanup.attendee?.removed === 'expunged') o.tracker.invitation = 'removed';
      if (report.cleanup.gateway && ['expunged', 'dele', 'not-found'].includes(report.cleanup.gateway.removed)) o.tracker.reply = 'removed';
      o.tracker.stage = 'done';
    }
  }
}

const sameId = (a: string | null | undefined, b: string | null | undefined): boolean => Boolean(a && b && a.trim().toLowerCase() === b.trim().toLowerCase());

/**
 * After a signal: remove what the run created, the same messages the ordinary cleanup removes
 * (the invitation by its Message-ID in the attendee mailbox, the reply by the UID or UIDL the
 * gateway watcher saw, checked against its Message-ID), and nothing else. A message still on its
 * way is waited for; the whole of it takes at most --timeout, and what is not done by then is said.
 */
async function cleanUpInterrupted(
  o: RoundTripInput,
  report: RoundTripReport,
  run: {
    created: number[];
    replySent: 'none' | 'maybe' | 'sent';
    replyMessageId: string | null;
    judgedId: string | null;
    gatewaySeen: SeenMessage[];
    gatewayReading: Promise<ReadMessage[]> | null;
    signalledAt: number;
  },
): Promise<void> {
  const limit = o.conn.timeoutMs;
  const until = run.signalledAt + limit;
  const within = `within ${secs(limit)} s (--timeout)`;
  const attendee = async (): Promise<RoundTripReport['cleanup']['attendee']> => {
    let uids = run.created;
    if (!uids.length) {
      try {
        const found = await o.attendeeMailbox.waitFor(o.invitation.messageId, until, 500);
        if (found) uids = [found.uid];
      } catch (e) {
        return { removed: 'not-removed', note: (e as Error).message };
      }
      if (!uids.length) return { removed: 'not-removed', note: `the invitation had not reached ${o.account.imap.url} ${within}; it may still arrive there` };
    }
    return o.attendeeMailbox.remove(uids);
  };
  const gateway = async (): Promise<RoundTripReport['cleanup']['gateway']> => {
    if (run.replySent === 'none') return null;
    if (o.keepReply) return { removed: 'not-removed', kept: true, note: 'kept because of --keep-reply' };
    let id = run.judgedId ?? run.gatewaySeen.find((m) => sameId(m.messageId, run.replyMessageId))?.id ?? null;
    try {
      // The read the wait left under way first: the watcher reads one batch at a time.
      if (!id && run.gatewayReading) for (const m of await run.gatewayReading) if (sameId(m.input.headers.get('Message-ID'), run.replyMessageId)) id = m.id;
      while (!id && Date.now() < until) {
        for (const m of await o.watcher.poll()) if (sameId(m.input.headers.get('Message-ID'), run.replyMessageId)) id = m.id;
        if (!id) await new Promise((r) => setTimeout(r, Math.max(0, Math.min(500, until - Date.now()))));
      }
    } catch (e) {
      return { removed: 'not-removed', note: `the gateway mailbox could not be read: ${(e as Error).message}` };
    }
    if (!id) {
      return run.replySent === 'sent'
        ? { removed: 'not-removed', note: `the reply had not reached the gateway mailbox ${within}; it may still arrive there` }
        : { removed: 'not-found', note: `the reply, cut off while being sent, did not reach the gateway mailbox ${within}` };
    }
    return removeGatewayReply(o.receiving, o.conn, id, run.replyMessageId);
  };
  const done: { attendee?: RoundTripReport['cleanup']['attendee']; gateway?: RoundTripReport['cleanup']['gateway'] } = {};
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, Math.max(0, until - Date.now()));
  });
  await Promise.race([
    Promise.all([
      attendee().then(async (r) => {
        done.attendee = r;
        await o.attendeeMailbox.close();
      }),
      gateway().then((r) => {
        done.gateway = r;
      }),
    ]),
    bound,
  ]);
  clearTimeout(timer);
  const unfinished = { removed: 'not-removed' as const, note: `the cleanup did not finish ${within}` };
  report.cleanup.attendee = done.attendee !== undefined ? done.attendee : unfinished;
  report.cleanup.gateway = done.gateway !== undefined ? done.gateway : run.replySent === 'none' ? null : unfinished;
}

/**
 * What Calendar Server does if it polls the gateway mailbox and takes the reply before imip removes
 * it: the token was made by imip, not recorded by the server, so the server judges it by its own
 * store, where it is unknown.
 */
function serverView(o: RoundTripInput, input: MessageInput): RoundTripReport['serverMayTakeIt'] {
  const v = classify(input, {
    version: o.judgeContext.version,
    protocol: o.judgeContext.protocol,
    sendingAddress: o.judgeContext.sendingAddress,
    deleteAllMail: o.judgeContext.deleteAllMail,
    lookupToken: () => null,
    now: o.judgeContext.now(),
    hostZone: thisMachineZone(),
  });
  return { serverAction: v.serverAction, logLine: v.logLine || null, mailboxEffect: v.mailboxEffect };
}

/** What the cleanup after a signal did, in words: what was removed, what could not be and where it is. */
export function cleanupText(report: Pick<RoundTripReport, 'cleanup'>, t: RoundTripTracker): string {
  const parts: string[] = [];
  const a = report.cleanup.attendee;
  if (a && a.removed === 'expunged') parts.push(`removed the test invitation from ${t.attendeeMailbox}`);
  else if (a && a.removed === 'flagged-deleted') parts.push(`flagged the test invitation \\Deleted in ${t.attendeeMailbox} but could not expunge it (${a.note ?? 'no UIDPLUS'})`);
  else if (a) parts.push(`could not remove the test invitation (Message-ID ${t.invitationMessageId}) from ${t.attendeeMailbox}: ${a.note ?? a.removed}; delete it by hand`);
  const g = report.cleanup.gateway;
  const where = `the gateway mailbox ${t.gatewayMailbox}`;
  if (!g) parts.push('no reply had been sent');
  else if (g.kept) parts.push(`kept the test reply in ${where} (--keep-reply)`);
  else if (g.removed === 'expunged' || g.removed === 'dele') parts.push(`removed the test reply from ${where}`);
  else if (g.removed === 'not-found') parts.push(`the test reply is not in ${where} (${g.note ?? 'gone'})`);
  else if (g.removed === 'flagged-deleted') parts.push(`flagged the test reply \\Deleted in ${where} but could not expunge it (${g.note ?? 'no UIDPLUS'})`);
  else parts.push(`could not remove the test reply (Message-ID ${t.replyMessageId ?? 'unknown'}) from ${where}: ${g.note ?? g.removed}; delete it by hand before Calendar Server processes it`);
  return parts.join('; ');
}
