/**
 * One poll cycle, reproduced: read the messages the configured release would read
 * (`IMAP4DownloadProtocol`, `POP3DownloadProtocol` of 2.x–4.x `mail.py` and 5.0+ `inbound.py`),
 * classify each in the server's order (`classify()`, after `MailHandler.inbound` /
 * `MailReceiver.inbound`), decide what the poll does to it (via poll-policy), and produce
 * a {@link PollReport}. The readers do the I/O; this module only wires them to the classifier and
 * keeps what the report needs (never a message body once it has been classified).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { ImipSettings, MailboxProtocol } from '../config/settings.js';
import { classify, type ClassifyContext, type TokenRecord, type Verdict } from '../imip/classify.js';
import type { ZoneSource } from '../imip/scheduler-check.js';
import { zoneNames } from '../config/zoneinfo.js';
import { tokenCauses } from '../imip/token-causes.js';
import type { Finding } from '../report/finding.js';
import { thisMachineZone, type HostZone } from '../server/host-zone.js';
import { SERVER_ACTIONS, pollPolicy, shouldDeleteAllMail, type MailboxEffect, type ServerAction } from '../server/poll-policy.js';
import { featuresOf, type ServerVersion } from '../server/release.js';
import { readTokens, stateDir, tokenLookup, TOKENS_FILE } from '../state/tokens.js';
import type { TokenRow, TokenStoreSummary } from '../tokens/combine.js';
import type { OnMessage, OnProgress, OnRoom, ReaderInfo, ReadMessage, ReadStats } from '../mailbox/types.js';
export type { MessageRef, OnMessage, OnProgress, ReaderInfo, ReadMessage, ReadStats } from '../mailbox/types.js';
import type { ServerAccess } from '../probes/server-access.js';
import { openReader, readWhole, type MailboxContext, type Reader } from './connect.js';

// ---- the report --------------------------------------------------------------------------------

export interface ApplyOutcome {
  /** `injected`: POSTed and deleted; `injected-not-deleted`: POSTed, delete did not happen (the next run deletes it without posting again); `failed`: POST failed, message kept; `claimed-elsewhere`; `skipped`. */
  status: 'injected' | 'injected-not-deleted' | 'failed' | 'claimed-elsewhere' | 'gone' | 'skipped' | 'deleted-earlier-injection';
  httpStatus?: number | null;
  reason?: string;
  uncertain?: boolean;
  deleted: boolean;
}

export interface PollMessage {
  /** IMAP UID. */
  uid?: number;
  /** POP3 message number. */
  number?: number;
  uidl?: string | null;
  size: number;
  date: string | null;
  from: string;
  /** First `To` address (parseaddr). */
  to: string;
  messageId: string | null;
  token: string | null;
  tokenStatus: Verdict['tokenStatus'];
  /** What the token maps to (the server's store, else send-test's record); absent when neither has it. */
  tokenRecord?: TokenRow;
  serverAction: ServerAction;
  mailboxEffect: MailboxEffect;
  /** False when an earlier message ends the server's cycle (IMAP `cbGotMessage`): this one waits for the next poll. */
  thisCycle: boolean;
  /**
   * When `thisCycle` is false: the message the server's cycle stops at, and whether it stops there
   * at every poll (IMAP 2.x–5.0 leave that message and fetch it first again), so that this one is
   * never reached while that message stays. `then`: a message between the two that the server
   * fails on in its turn, so that this one still waits once the first is gone.
   */
  waitsBehind?: { uid?: number; number?: number; everyPoll: boolean; then?: { uid?: number; number?: number } };
  /** The message's calendar fails to parse and the IMAP 5.1+ cycle stops here (`inbound.py` `cbGotMessage`). */
  stopsCycle: boolean;
  isDsn: boolean;
  /**
   * A delivery report's Action word as the server reads it (`failed` is the one it processes);
   * absent for other messages and for a report with no Action line.
   */
  dsnAction?: string;
  /** The decisive line the server logs for it. */
  logLine: string;
  findings: Finding[];
  notes: string[];
  problems: string[];
  /**
   * When the server had no usable token (NO_TOKEN, MALFORMED_TO_ADDRESS, UNKNOWN_TOKEN*): why,
   * most specific first, as the ids `imip diagnose` reports (`token.to-bare-address`, ...).
   * Absent on other rows; empty when no cause could be named.
   */
  tokenCauses?: string[];
  apply?: ApplyOutcome;
}

/** Actions where the server had no usable token: the rows that carry `tokenCauses`. */
export const TOKENLESS_ACTIONS: ReadonlySet<ServerAction> = new Set(['NO_TOKEN', 'MALFORMED_TO_ADDRESS', 'UNKNOWN_TOKEN', 'UNKNOWN_TOKEN_OLD']);

export type ActionCounts = Record<ServerAction, number>;

/**
 * The messages behind the one the server's cycle stops at (IMAP `cbGotMessage`): not processed by
 * this poll. Their serverAction is what the server does once it reaches them.
 */
export interface NotReachedSummary {
  messages: number;
  /** The message the cycle stops at. */
  behind: { uid?: number; number?: number };
  /** True (IMAP 2.x–5.0): it stops there at every poll, so these are never processed while it stays; false: they wait for the next poll. */
  everyPoll: boolean;
  byServerAction: ActionCounts;
  byTokenCause: Partial<Record<ServerAction, Record<string, number>>>;
}

export interface PollSummary {
  /** Every message read, those the cycle does not reach included. */
  messages: number;
  /** The messages the server processes this poll, per action (those behind a message the cycle stops at are in `notReached`). */
  byServerAction: ActionCounts;
  /** IMAP 5.1+: \Seen messages the server never reads. */
  seenNotRead: number;
  vanished: number;
  errorFindings: number;
  /** Per tokenless serverAction, rows per first token cause (`(none named)` when there is none). */
  byTokenCause: Partial<Record<ServerAction, Record<string, number>>>;
  /** The messages the server's cycle does not reach this poll; absent when it reaches every one. */
  notReached?: NotReachedSummary;
  /** With --apply. */
  injected?: number;
  deleted?: number;
  failed?: number;
  /** With --apply: replies the server would inject that this run left in the mailbox uninjected. */
  notInjected?: number;
  /** With --apply: messages expunged by another client or run before this run could inject them (absent when none). */
  gone?: number;
}

export interface PollReport {
  command: 'poll';
  serverVersion: ServerVersion;
  protocol: MailboxProtocol;
  mailbox: Omit<ReaderInfo, 'commands'>;
  /** Where tokens were looked up: the server's store (and whether it could be read), send-test's records. */
  tokenStore: TokenStoreSummary | { path: string; records: number | null };
  /** Which messages the release reads and what it does to them (poll-policy's `source`). */
  policy: string;
  deleteAllMail: boolean;
  messages: PollMessage[];
  summary: PollSummary;
  /** The cycle ended early (connection cut...). Nothing was deleted that was not injected. */
  error?: string;
  stats: { ms: number; bytesIn: number; bytesOut: number; roundTrips: number; exists: number; selected: number };
  /** What was asked of the mailbox server, in words. */
  commands: string[];
  apply?: Record<string, unknown>;
  /** How Calendar Server's own client connects and logs in here, and what that check found. */
  serverLogin?: ServerLoginReport;
  /** Findings about the connection itself (`mailbox.*`, `tls.insecure`); the messages carry their own. */
  findings?: Finding[];
}

export interface ServerLoginReport {
  /** The steps the server's client takes, in words. */
  steps: string[];
  /** What the tool's STARTTLS/STLS offered to connect as the server does (null: TLS from the first byte). */
  tlsUpgrade: 'tls1.0-only' | 'negotiate' | null;
  /**
   * Nothing was read: the server's own client cannot log in here, the tool stopped before its
   * login, or the mailbox could not be opened at all (not reached, no answer in time, login or
   * INBOX refused: the findings are those `test-mailbox` gives).
   */
  stopped: 'server-cannot-log-in' | 'certificate-not-verified' | 'mailbox-not-opened' | null;
}

// ---- context -----------------------------------------------------------------------------------

export interface CycleContext extends MailboxContext {
  now: Date;
  /** The server host's time zone (the `Date` header of 7.0+ unknown tokens); this machine's when absent. */
  hostZone?: HostZone;
  lookupToken: (token: string) => TokenRecord | null | undefined;
  /** The row behind a token for the report (organizer, attendee, event UID). */
  tokenRow?: (token: string) => TokenRow | null;
  tokenStore: TokenStoreSummary | { path: string; records: number | null };
  deleteAllMail: boolean;
  /**
   * Settles when the token lookup is ready (the server's store is read while the mailbox connection
   * is opened); awaited after connecting, before the first message is classified.
   */
  ready?: Promise<unknown>;
}

/** The token lookup `send-test`'s store allows; `null` records (unchecked) when it has no file. */
export function loadTokenStore(stateDirFlag: string | undefined): { lookup: CycleContext['lookupToken']; info: CycleContext['tokenStore'] } {
  const dir = stateDir(stateDirFlag);
  const path = join(dir, TOKENS_FILE);
  const records = existsSync(path) ? readTokens(dir) : null;
  return { lookup: tokenLookup(records), info: { path, records: records === null ? null : records.length } };
}

/** `shouldDeleteAllMail` (`inbound.py`) is consulted from 5.1 on. */
export function deleteAllMailFor(settings: ImipSettings, version: ServerVersion): boolean {
  return featuresOf(version).selectiveDelete && shouldDeleteAllMail(settings.serverHostName, settings.receiving.server, settings.receiving.username);
}

/** The server's own zone database, read on first need (src/config/zoneinfo.ts). */
function zoneSource(path: string | null): ZoneSource | null {
  return path === null ? null : { path, names: () => zoneNames(path) };
}

export function classifyContext(ctx: CycleContext, seen: boolean | undefined): ClassifyContext {
  return {
    version: ctx.version,
    protocol: ctx.protocol,
    sendingAddress: ctx.settings.sending.address,
    deleteAllMail: ctx.deleteAllMail,
    lookupToken: ctx.lookupToken,
    now: ctx.now,
    hostZone: ctx.hostZone ?? thisMachineZone(),
    timezonesByReference: ctx.settings.timezonesByReference,
    supportedComponents: ctx.settings.supportedComponents,
    zones: zoneSource(ctx.settings.zoneDatabase),
    ...(seen === undefined ? {} : { seen }),
  };
}

/**
 * A verdict as one report row (the bodies and the parsed calendar are dropped here). No copy:
 * a streamed row is written and dropped at once. Only a kept row (see {@link Tally}) is copied,
 * because its strings are slices of the message's header block and a slice keeps the whole
 * block alive.
 */
export function toRow(m: ReadMessage, v: Verdict): PollMessage {
  // Built by assignment, in the order the JSON shows (the reference first), rather than by
  // spreading optional parts: one object shape for every row, and no temporary objects.
  const row = {} as PollMessage;
  if (m.ref.uid !== undefined) row.uid = m.ref.uid;
  if (m.ref.number !== undefined) row.number = m.ref.number;
  if (m.ref.uidl !== undefined) row.uidl = m.ref.uidl;
  row.size = m.size;
  row.date = v.date;
  row.from = v.from;
  row.to = v.to;
  row.messageId = v.messageId;
  row.token = v.token;
  row.tokenStatus = v.tokenStatus;
  row.serverAction = v.serverAction;
  row.mailboxEffect = v.mailboxEffect;
  row.thisCycle = true;
  row.stopsCycle = v.stopsCycle;
  row.isDsn = v.isDsn;
  if (v.dsnAction !== undefined) row.dsnAction = v.dsnAction;
  row.logLine = v.logLine;
  row.findings = v.findings;
  row.notes = v.notes;
  row.problems = v.problems;
  return row;
}

/**
 * Rows as they come, in the server's order: marks the ones after a cycle-stopping message (IMAP
 * `cbGotMessage`), counts per serverAction, and keeps the rows (or hands each to a sink and forgets
 * it, so a 10,000-message cycle holds no per-message state).
 */
export class Tally {
  readonly rows: PollMessage[] = [];
  readonly byServerAction = emptyCounts();
  readonly byTokenCause: PollSummary['byTokenCause'] = {};
  messages = 0;
  errorFindings = 0;
  notReached: NotReachedSummary | null = null;
  private stopped: PollMessage | null = null;
  /** The first message behind `stopped` that the server fails on in its turn. */
  private then: { uid?: number; number?: number } | null = null;
  /** The first and the latest row counted, for naming the rows before a blocking message (no string built per row). */
  private first: Pick<PollMessage, 'uid' | 'number'> | null = null;
  private last: Pick<PollMessage, 'uid' | 'number'> | null = null;

  constructor(
    private readonly keep: boolean,
    private readonly sink?: (row: PollMessage) => void,
  ) {}

  /** Count a row; returns the row to use from now on (a kept row is a detached copy). */
  add(r: PollMessage): PollMessage {
    if (this.stopped) {
      r.thisCycle = false;
      const everyPoll = this.stopped.mailboxEffect === 'left-blocks-every-poll';
      r.waitsBehind = { ...refOf(this.stopped), everyPoll, ...(this.then ? { then: refOf(this.then) } : {}) };
      // Never reached, it blocks nothing this poll: that it would block once the first blocker is
      // gone is said in its note, not as a finding of its own (nor counted as another error).
      if (everyPoll) r.findings = r.findings.filter((f) => f.id !== 'message.blocks-cycle');
      r.notes = [...r.notes, waitingText(r)];
      if (r.stopsCycle) this.then ??= refOf(r);
    } else if (r.stopsCycle) {
      if (r.mailboxEffect === 'left-blocks-every-poll' && this.messages > 0) r.findings = r.findings.map((f) => (f.id === 'message.blocks-cycle' ? this.handledAgain(f) : f));
      this.stopped = { ...r };
    }
    this.first ??= r;
    this.last = r;
    this.messages++;
    countRow(this, r);
    this.errorFindings += r.findings.filter((f) => f.severity === 'error').length;
    // A kept row is detached from its message's header block (see toRow); a streamed one is not copied.
    const out = this.keep ? structuredClone(r) : r;
    if (this.keep) this.rows.push(out);
    this.sink?.(out);
    return out;
  }

  /**
   * 2.x–5.0 IMAP fetch `1:*` and expunge only after the last message (CalendarServer-5.0
   * inbound.py `IMAP4DownloadProtocol.fetchNextMessage`, `cbInboxSelected`). The messages before
   * one that blocks every poll get `\Deleted` but are never expunged, and `1:*` includes them:
   * every poll handles them again, with all that their verdict does (the counts so far are theirs).
   */
  private handledAgain(f: Finding): Finding {
    const n = this.messages;
    const c = this.byServerAction;
    const effects = [
      c.INJECTION_SUBMITTED ? `${c.INJECTION_SUBMITTED} injected again` : '',
      c.REPLY_FORWARDED_TO_ORGANIZER ? `${c.REPLY_FORWARDED_TO_ORGANIZER} forwarded to the organizer again` : '',
    ].filter(Boolean);
    const first = messageName(this.first!);
    const last = messageName(this.last!);
    const which = n === 1 ? `The message before it (${first})` : `The ${n} messages before it (${first} to ${last})`;
    return {
      ...f,
      message: `${f.message} ${which} ${n === 1 ? 'is' : 'are'} flagged \\Deleted but never expunged, since the cycle stops before its EXPUNGE: every poll handles ${n === 1 ? 'it' : 'them'} again (${[...effects, 'each logged again'].join(', ')}).`,
      evidence: { ...f.evidence, handledAgainEveryPoll: n, handledAgainFrom: first, handledAgainTo: last },
      fix: `${f.fix} That poll also handles the ${n === 1 ? 'message' : 'messages'} before it one last time, then expunges ${n === 1 ? 'it' : 'them'}.`,
    };
  }

  summary(stats: Pick<ReadStats, 'seenSkipped' | 'vanished'>): PollSummary {
    return {
      messages: this.messages,
      byServerAction: { ...this.byServerAction },
      byTokenCause: structuredClone(this.byTokenCause),
      ...(this.notReached ? { notReached: structuredClone(this.notReached) } : {}),
      seenNotRead: stats.seenSkipped,
      vanished: stats.vanished,
      errorFindings: this.errorFindings,
    };
  }
}

function refOf(m: { uid?: number; number?: number }): { uid: number } | { number: number } {
  return m.uid !== undefined ? { uid: m.uid } : { number: m.number! };
}

function emptyNotReached(w: NonNullable<PollMessage['waitsBehind']>): NotReachedSummary {
  return { messages: 0, behind: refOf(w), everyPoll: w.everyPoll, byServerAction: emptyCounts(), byTokenCause: {} };
}

/**
 * What happens to a message behind the one the server's cycle stops at, for its row: not
 * processed this poll, and what the server does with it once it reaches it (its serverAction and
 * mailboxEffect are that).
 */
export function waitingText(m: Pick<PollMessage, 'waitsBehind' | 'serverAction' | 'mailboxEffect' | 'stopsCycle'>): string {
  const w = m.waitsBehind;
  if (!w) return "waits for the next poll: an earlier message ends the server's cycle";
  const at = messageName(w);
  const then = w.then ? messageName(w.then) : null;
  if (w.everyPoll) {
    const head = `never processed while ${at} stays: the server's poll stops there every time (it fails on that message and leaves it in the mailbox)`;
    if (then) return `${head}; once ${at} is removed, this one still waits behind ${then}, which the server fails on in its turn`;
    if (m.stopsCycle && m.mailboxEffect === 'left-blocks-every-poll') {
      return `${head}; once ${at} is removed, the server fails on this one in its turn (${m.serverAction}) and every later poll stops here instead: remove it too`;
    }
    return `${head}; once ${at} is removed, the next poll reaches this one: ${m.serverAction}, ${m.mailboxEffect}`;
  }
  const head = `waits for the next poll: ${at} ends the server's cycle`;
  return then ? `${head}, and ${then} the next one, so this one waits for a later poll: then ${m.serverAction}, ${m.mailboxEffect}` : `${head}; then ${m.serverAction}, ${m.mailboxEffect}`;
}

/** `UID 7` (IMAP) or `message 3` (POP3). */
export function messageName(m: { uid?: number; number?: number }): string {
  return m.uid !== undefined ? `UID ${m.uid}` : `message ${m.number}`;
}

export const NO_CAUSE_NAMED = '(none named)';

function countCause(into: PollSummary['byTokenCause'], r: PollMessage): void {
  if (!r.tokenCauses) return;
  const per = (into[r.serverAction] ??= {});
  const cause = r.tokenCauses[0] ?? NO_CAUSE_NAMED;
  per[cause] = (per[cause] ?? 0) + 1;
}

export function emptyCounts(): ActionCounts {
  return Object.fromEntries(SERVER_ACTIONS.map((a) => [a, 0])) as ActionCounts;
}

/** Where a row is counted: the actions and causes of this poll, or those of the messages it does not reach. */
interface RowCounts {
  readonly byServerAction: PollSummary['byServerAction'];
  readonly byTokenCause: PollSummary['byTokenCause'];
  notReached: NotReachedSummary | null;
}

/** Count one row: as processed this poll, or as not reached behind the message the cycle stops at. */
function countRow(c: RowCounts, r: PollMessage): void {
  if (r.thisCycle || !r.waitsBehind) {
    c.byServerAction[r.serverAction]++;
    countCause(c.byTokenCause, r);
    return;
  }
  c.notReached ??= emptyNotReached(r.waitsBehind);
  c.notReached.messages++;
  c.notReached.byServerAction[r.serverAction]++;
  countCause(c.notReached.byTokenCause, r);
}

export function summarise(rows: PollMessage[], stats: Pick<ReadStats, 'seenSkipped' | 'vanished'>): PollSummary {
  const byServerAction = emptyCounts();
  const byTokenCause: PollSummary['byTokenCause'] = {};
  let errorFindings = 0;
  const counts: RowCounts = { byServerAction, byTokenCause, notReached: null };
  for (const r of rows) {
    countRow(counts, r);
    errorFindings += r.findings.filter((f) => f.severity === 'error').length;
  }
  const notReached = counts.notReached;
  const summary: PollSummary = {
    messages: rows.length,
    byServerAction,
    byTokenCause,
    ...(notReached ? { notReached } : {}),
    seenNotRead: stats.seenSkipped,
    vanished: stats.vanished,
    errorFindings,
  };
  if (rows.some((r) => r.apply)) {
    summary.injected = rows.filter((r) => r.apply?.status === 'injected' || r.apply?.status === 'injected-not-deleted').length;
    summary.deleted = rows.filter((r) => r.apply?.deleted).length;
    summary.failed = rows.filter((r) => r.apply?.status === 'failed').length;
    summary.notInjected = rows.filter((r) => r.serverAction === 'INJECTION_SUBMITTED' && r.apply?.status === 'skipped').length;
    const gone = rows.filter((r) => r.apply?.status === 'gone').length;
    if (gone) summary.gone = gone;
  }
  return summary;
}

export function policyText(version: ServerVersion, protocol: MailboxProtocol, deleteAllMail: boolean): string {
  const p = pollPolicy(version, protocol);
  return `${p.source}${deleteAllMail ? '; shouldDeleteAllMail holds, so every message read is deleted' : ''}`;
}

/**
 * Whether the run found problems (exit 1): a message the server would not inject, an error
 * finding, a failed injection, or (with --apply) a reply the server would inject that this run
 * left in the mailbox without injecting it (its organizer and attendee unknown, the endpoint down).
 */
export function hasProblems(report: PollReport): boolean {
  const s = report.summary;
  return s.messages - s.byServerAction.INJECTION_SUBMITTED > 0 || s.errorFindings > 0 || (s.failed ?? 0) > 0 || (s.notInjected ?? 0) > 0;
}

/** Classify one read message into a row. */
export function classifyMessage(ctx: CycleContext, m: ReadMessage): { row: PollMessage; verdict: Verdict } {
  const verdict = classify(m.input, classifyContext(ctx, m.seen));
  const row = toRow(m, verdict);
  const rec = verdict.token && ctx.tokenRow ? ctx.tokenRow(verdict.token) : null;
  if (rec) row.tokenRecord = rec;
  // The same causes `imip diagnose` names, for the rows where the server had no usable token.
  if (TOKENLESS_ACTIONS.has(verdict.serverAction)) {
    row.tokenCauses = tokenCauses(m.input, { sendingAddress: ctx.settings.sending.address, version: ctx.version }).map((f) => f.id);
  }
  return { row, verdict };
}

// ---- how the server's client connects --------------------------------------------------------------

/** The access check as the report shows it. */
export function serverLoginReport(ctx: CycleContext, access: ServerAccess): ServerLoginReport {
  return {
    steps: access.steps,
    tlsUpgrade: ctx.settings.receiving.useSSL ? null : access.upgrade,
    stopped: access.serverBlocked ? 'server-cannot-log-in' : access.toolStopped ? 'certificate-not-verified' : null,
  };
}

/** Whether the cycle must not read: the server cannot log in, or the tool stopped before its login. */
export function accessStops(access: ServerAccess): boolean {
  return access.serverBlocked || access.toolStopped;
}

/** The sentence said when nothing was read because of the access check. */
export function stoppedText(stopped: ServerLoginReport['stopped'], findings: readonly Finding[] = [], detail?: string): string {
  const ids = [...new Set(findings.filter((f) => f.severity === 'error').map((f) => f.id))];
  if (stopped === 'mailbox-not-opened') {
    // macOS: the password the server logs in with is in the keychain, which imip does not read.
    const keychain = findings.find((f) => f.id === 'receiving.credentials-missing' && f.evidence.keychainAccount);
    if (keychain && !ids.length) {
      return 'No message was read: the login was not tested, as the password is in the macOS keychain (receiving.credentials-missing says how to test it).';
    }
    // The finding says what failed; without one (INBOX refused, a protocol error) the error does.
    const why = ids.length ? ids.join(', ') : (detail ?? 'see the error above');
    return `No message was read: the mailbox could not be opened (${why}). Calendar Server's poll connects and logs in with the same settings, so fix that first.`;
  }
  return stopped === 'server-cannot-log-in'
    ? `No message was read: Calendar Server itself cannot log in to this mailbox${ids.length ? ` (${ids.join(', ')})` : ''}, so it reads none either. Fix that first.`
    : 'No message was read: the certificate did not verify for this tool, so it stopped before sending the password. Calendar Server would log in and read them; run again with --ca-file (the CA that signed the certificate) or --insecure to see them.';
}

// ---- the read-only cycle -------------------------------------------------------------------------

export interface CycleHooks {
  onProgress?: OnProgress;
  /** Called with every classified message while its bodies are still available. */
  onClassified?: (m: ReadMessage, row: PollMessage, verdict: Verdict) => void;
  /** Called with every row in the server's order (streaming output). */
  onRow?: (row: PollMessage) => void;
  /** Back-pressure from the output: asked before more messages are read (mailbox/keep-alive.ts). */
  room?: OnRoom;
  /** Keep the rows in the report (default true); false with `onRow` keeps nothing per message. */
  keepRows?: boolean;
  /**
   * Called once connected, before the first message is read; `exists`: the messages in the IMAP
   * mailbox when it was opened (EXAMINE's EXISTS; 0 over POP3).
   */
  onOpen?: (info: ReaderInfo, exists: number) => void;
  /** Given the cycle's tally when it starts, for the counts of the rows so far (a run stopped by a signal). */
  onTally?: (tally: Tally) => void;
}

export interface CycleRead {
  rows: PollMessage[];
  stats: ReadStats;
  summary: PollSummary;
  /** The read stopped early: why. */
  error?: string;
}

/** Read the messages the release reads and classify each; a connection failure ends it early. */
export async function readCycle(ctx: CycleContext, reader: Reader, hooks: CycleHooks = {}): Promise<CycleRead> {
  const tally = new Tally(hooks.keepRows ?? true, hooks.onRow);
  hooks.onTally?.(tally);
  const onMessage: OnMessage = (m) => {
    const { row, verdict } = classifyMessage(ctx, m);
    const kept = tally.add(row);
    hooks.onClassified?.(m, kept, verdict);
  };
  const readHooks = { ...(hooks.onProgress ? { onProgress: hooks.onProgress } : {}), ...(hooks.room ? { room: hooks.room } : {}) };
  const unseenOnly = reader.info.protocol === 'imap' && pollPolicy(ctx.version, 'imap').reads === 'unseen';
  const read = await readWhole(ctx.protocol, reader, { unseenOnly, onMessage, ...readHooks }, () => tally.messages);
  if ('stats' in read) return { rows: tally.rows, stats: read.stats, summary: tally.summary(read.stats) };
  const stats: ReadStats = { exists: read.exists, selected: tally.messages, seenSkipped: 0, vanished: 0, bytesIn: 0, bytesOut: 0, roundTrips: 0 };
  return { rows: tally.rows, stats, summary: tally.summary(stats), error: read.error };
}

export function buildReport(ctx: CycleContext, info: ReaderInfo, read: CycleRead, startedAt: number): PollReport {
  const { commands, ...mailbox } = info;
  const report: PollReport = {
    command: 'poll',
    serverVersion: ctx.version,
    protocol: ctx.protocol,
    mailbox,
    tokenStore: ctx.tokenStore,
    policy: policyText(ctx.version, ctx.protocol, ctx.deleteAllMail),
    deleteAllMail: ctx.deleteAllMail,
    messages: read.rows,
    summary: read.rows.some((r) => r.apply) ? summarise(read.rows, read.stats) : read.summary,
    stats: {
      ms: Date.now() - startedAt,
      bytesIn: read.stats.bytesIn,
      bytesOut: read.stats.bytesOut,
      roundTrips: read.stats.roundTrips,
      exists: read.stats.exists,
      selected: read.stats.selected,
    },
    commands: [...commands],
  };
  if (read.error) report.error = read.error;
  return report;
}

/**
 * `poll --once` without --apply: IMAP EXAMINE + BODY.PEEK, POP3 without DELE. Nothing changes.
 * `open` gives the read-only reader: by default one opened now, or one already opening (./connect.ts).
 */
export async function runReadOnlyCycle(ctx: CycleContext, hooks: CycleHooks = {}, open: () => Promise<Reader> = () => openReader(ctx, true)): Promise<PollReport> {
  const started = Date.now();
  const reader = await open().catch(async (err: unknown) => {
    await ctx.ready?.catch(() => undefined);
    throw err;
  });
  let read: CycleRead;
  try {
    await ctx.ready;
    hooks.onOpen?.(reader.info, reader.messagesAtOpen);
    read = await readCycle(ctx, reader, hooks);
  } finally {
    await reader.close();
  }
  return buildReport(ctx, reader.info, read, started);
}
