/**
 * `send-test --wait-reply`: watch the receiving mailbox, read-only, for the attendee's answer to
 * the invitation just sent, and say what Calendar Server would make of it.
 *
 * Reading never changes the mailbox: IMAP opens INBOX with EXAMINE and fetches with BODY.PEEK
 * (imapflow's `source`, `bodyParts` and `download` all PEEK), never STORE/EXPUNGE; POP3 reads with
 * TOP (Dovecot and others mark RETR'd messages as read) and ends every session with QUIT and no
 * DELE. Only messages that arrived after the watch began are looked at: the token is new, so no
 * older message can answer it.
 *
 * A message is taken as an answer to this invitation when it carries the token in an address
 * header, names the invitation's Message-ID in In-Reply-To/References, carries the event UID in a
 * calendar part, or repeats the summary in its Subject. It is then judged with the same
 * classifier as `poll` (calendarserver-imip.md §4.4) and, when the token cannot be read, with
 * `tokenCauses` (why the token was lost).
 */
import type { Readable } from 'node:stream';
import type { ConnectOptions, MailboxProtocol, ReceivingSettings } from '../config/settings.js';
import { classify, needsBody, neededParts, type MessageInput, type TokenRecord, type Verdict } from '../imip/classify.js';
import {
  decodeWords,
  fromBodyStructure,
  HeaderList,
  imapDownloadPart,
  MAX_BODY_BYTES,
  parseHeaderBlock,
  parseMessage,
  walkParts,
  type ImapBodyStructure,
} from '../imip/mime.js';
import { headerBytesToString } from '../imip/mime-headers.js';
import { propertyValues } from '../imip/reply-calendar.js';
import { tokenCauses } from '../imip/token-causes.js';
import { Redactor } from '../net/net-stage.js';
import type { Finding } from '../report/finding.js';
import { extractToken, parseaddr, splitAddressList } from '../server/address.js';
import type { ServerVersion } from '../server/release.js';

// ---------------------------------------------------------------------------------------------
// What we are waiting for, and how a message is judged (pure)

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
export function judge(input: MessageInput, target: ReplyTarget, ctx: JudgeContext, seen?: boolean): Judgement {
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
    const causes = tokenCauses(input, { sendingAddress: ctx.sendingAddress, version: ctx.version });
    const first = causes[0];
    const reason = first
      ? `the server would not find this invitation's token in it: ${first.message}`
      : verdict.token
        ? `its first To address carries the token ${verdict.token}, not this invitation's ${target.token}`
        : `the server would not find a token in its first To address (${verdict.to || 'none'})`;
    return { outcome: 'token-missing', reason, decisive: hasCalendar, verdict, causes };
  }
  const cal = verdict.calendar;
  const attendeeMatches = (cal?.attendees ?? []).some((a) => lc(a) === lc(target.record.attendee));
  const problems: string[] = [];
  if (verdict.serverAction !== 'INJECTION_SUBMITTED') problems.push(`the server would not inject it (${verdict.serverAction}${verdict.logLine ? `: "${verdict.logLine}"` : ''})`);
  else if (lc(cal?.method) !== 'reply') problems.push(`its calendar is METHOD:${cal?.method ?? '(none)'}, not REPLY`);
  else if (!attendeeMatches) problems.push(`its calendar does not answer for ${target.record.attendee} (ATTENDEE: ${(cal?.attendees ?? []).join(', ') || 'none'}); the server would mark the reply failed (SCHEDULE-STATUS 5.1)`);
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

// ---------------------------------------------------------------------------------------------
// Reading the mailbox

/** A message as read from the mailbox (nothing changed on the server). */
export interface ReadMessage {
  /** IMAP UID or POP3 UIDL. */
  id: string;
  input: MessageInput;
  /** IMAP `\Seen`; undefined for POP3. */
  seen?: boolean;
  size: number;
}

export interface MailboxWatcher {
  readonly protocol: MailboxProtocol;
  readonly host: string;
  readonly port: number;
  /** `implicit` (UseSSL true), `starttls` (upgraded), `none`. Known after start(). */
  readonly tls: 'implicit' | 'starttls' | 'none' | 'unknown';
  /** How it reads, for the output. */
  readonly method: string;
  /** Connect, log in, and remember what is already there. */
  start(): Promise<void>;
  /** Messages that arrived since start() and were not returned before. */
  poll(): Promise<ReadMessage[]>;
  /** Sleep up to `ms`, or less when the server announces new mail. */
  pause(ms: number): Promise<void>;
  close(): Promise<void>;
}

export type MailboxFailureKind = 'auth' | 'certificate' | 'connect' | 'dns' | 'timeout' | 'cleartext-login' | 'type' | 'other';

/** A mailbox failure, with the password scrubbed. */
export class MailboxError extends Error {
  readonly kind: MailboxFailureKind;
  readonly hint: string;
  constructor(kind: MailboxFailureKind, message: string, hint: string) {
    super(message);
    this.name = 'MailboxError';
    this.kind = kind;
    this.hint = hint;
  }
}

/** Messages up to this size are read whole; larger ones by header, structure and calendar parts only. */
export const WHOLE_MESSAGE_LIMIT = 5 * 1024 * 1024;
/** TOP line count that reads a whole (size-checked) message. */
const TOP_ALL_LINES = 10_000_000;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, Math.max(0, ms)));

function describeMailboxError(err: unknown, receiving: ReceivingSettings, conn: ConnectOptions, redactor: Redactor, protocol: MailboxProtocol): MailboxError {
  const e = err as Error & { code?: string; authenticationFailed?: boolean; responseText?: string; kind?: string; serverText?: string };
  const where = `${protocol.toUpperCase()} ${receiving.server.trim()}:${receiving.port}`;
  const text = redactor.text([e?.message, e?.responseText, e?.serverText].filter(Boolean).join(': ') || String(err));
  const all = `${e?.code ?? ''} ${e?.kind ?? ''} ${text}`;
  if (e?.authenticationFailed || e?.kind === 'auth' || /AUTHENTICATIONFAILED|authentication failed|invalid credentials|login failed/i.test(all)) {
    return new MailboxError(
      'auth',
      `${where} refused the login as "${receiving.username}": ${text}`,
      'Check Scheduling.iMIP.Receiving.Username and Password (on macOS the server may read the password from the keychain instead).',
    );
  }
  if (/CERT|self[- ]signed|unable to verify|altnames|certificate/i.test(all)) {
    return new MailboxError(
      'certificate',
      `the certificate of ${where} did not verify: ${text}`,
      conn.caFile ? `It is not signed by the CA in ${conn.caFile}, or does not name ${receiving.server.trim()}.` : 'Give the CA with --ca-file, or --insecure to skip the check (the output says so).',
    );
  }
  if (/ECONNREFUSED/.test(all)) return new MailboxError('connect', `nothing accepts connections on ${where}: ${text}`, 'Check Receiving.Server, Receiving.Port and Receiving.UseSSL (TLS from the first byte when true).');
  if (/ENOTFOUND|EAI_AGAIN/.test(all)) return new MailboxError('dns', `the name "${receiving.server.trim()}" does not resolve: ${text}`, 'Check Receiving.Server.');
  if (/timeout|timed out|ETIMEDOUT/i.test(all)) {
    return new MailboxError(
      'timeout',
      `${where} did not answer within ${Math.round(conn.timeoutMs / 1000)} s: ${text}`,
      receiving.useSSL ? 'Is it a port with TLS from the first byte (993/995)? UseSSL true means exactly that.' : 'A port with TLS from the first byte needs UseSSL true; raise --timeout for a slow server.',
    );
  }
  if (/refusing to send the password in cleartext/i.test(text)) {
    return new MailboxError('cleartext-login', `${where}: ${text}`, 'Calendar Server refuses this too: offer STLS, or use POP3S with Receiving.UseSSL true.');
  }
  return new MailboxError('other', `reading ${where} failed: ${text}`, 'Run "imip test-mailbox" for a stage-by-stage view of the mailbox.');
}

async function readCapped(stream: Readable, cap: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const chunk of stream) {
    const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string);
    if (n < cap) chunks.push(b.subarray(0, cap - n));
    n += b.length;
  }
  return Buffer.concat(chunks);
}

interface ImapFlowLike {
  on(event: string, fn: (...args: unknown[]) => void): unknown;
  removeListener(event: string, fn: (...args: unknown[]) => void): unknown;
  connect(): Promise<void>;
  mailboxOpen(path: string, opts: { readOnly: boolean }): Promise<{ uidNext: number; exists: number; readOnly?: boolean }>;
  search(q: Record<string, unknown>, o: { uid: boolean }): Promise<number[] | false>;
  fetchOne(seq: string, q: Record<string, unknown>, o: { uid: boolean }): Promise<Record<string, unknown> | false>;
  download(range: string, part: string, o: { uid: boolean; decodeText?: boolean }): Promise<{ content: Readable }>;
  idle(): Promise<unknown>;
  noop(): Promise<void>;
  logout(): Promise<void>;
  close(): void;
  capabilities: Map<string, unknown>;
  secureConnection?: boolean;
  usable?: boolean;
}

class ImapWatcher implements MailboxWatcher {
  readonly protocol = 'imap' as const;
  readonly host: string;
  readonly port: number;
  tls: 'implicit' | 'starttls' | 'none' | 'unknown' = 'unknown';
  readonly method = 'IMAP EXAMINE INBOX (read-only), BODY.PEEK; IDLE, else polling every 2 s';
  private client: ImapFlowLike | null = null;
  /** Bounds each command of the current session by --timeout and names the stage that stalls. */
  private deadline: import('../mailbox/imap-deadline.js').ImapDeadline | null = null;
  private next = 1;
  private readonly redactor: Redactor;
  private wake: (() => void) | null = null;

  constructor(
    private readonly receiving: ReceivingSettings,
    private readonly conn: ConnectOptions,
  ) {
    this.host = receiving.server.trim();
    this.port = receiving.port;
    this.redactor = new Redactor([receiving.password]);
  }

  private async open(): Promise<ImapFlowLike> {
    const { ImapFlow } = await import('imapflow');
    const { imapFlowOptions } = await import('../mailbox/imap-reader.js');
    const { ImapDeadline } = await import('../mailbox/imap-deadline.js');
    const deadline = new ImapDeadline(this.conn.timeoutMs, this.receiving.useSSL);
    const flow = new ImapFlow({ ...imapFlowOptions(this.receiving, this.conn), logger: deadline.logger });
    deadline.attach(flow);
    this.deadline = deadline;
    const client = flow as unknown as ImapFlowLike;
    client.on('error', () => undefined);
    client.on('exists', () => this.wake?.());
    try {
      await deadline.step(undefined, () => client.connect());
      const box = await deadline.step('EXAMINE', () => client.mailboxOpen('INBOX', { readOnly: true }));
      if (this.tls === 'unknown') this.tls = this.receiving.useSSL ? 'implicit' : client.secureConnection ? 'starttls' : 'none';
      if (this.next === 1) {
        this.next = Number(box.uidNext) || 0;
        if (!this.next) {
          // No UIDNEXT from the server: start after the highest UID there is.
          const all = (await deadline.step('UID SEARCH', () => client.search({ all: true }, { uid: true }))) || [];
          this.next = all.length ? Math.max(...all) + 1 : 1;
        }
      }
    } catch (e) {
      try {
        client.close();
      } catch {
        // already closed
      }
      throw describeMailboxError(e, this.receiving, this.conn, this.redactor, 'imap');
    }
    return client;
  }

  async start(): Promise<void> {
    this.client = await this.open();
  }

  /** One command, bounded by --timeout (the session's clock). */
  private step<T>(stage: string, fn: () => Promise<T>): Promise<T> {
    return this.deadline ? this.deadline.step(stage, fn) : fn();
  }

  private async readOne(client: ImapFlowLike, uid: number): Promise<ReadMessage | null> {
    const meta = await this.step('UID FETCH', () => client.fetchOne(String(uid), { uid: true, flags: true, size: true }, { uid: true }));
    if (!meta) return null;
    const size = Number(meta.size) || 0;
    const flags = meta.flags instanceof Set ? (meta.flags as Set<string>) : new Set<string>();
    const seen = flags.has('\\Seen');
    if (size <= WHOLE_MESSAGE_LIMIT) {
      const m = await this.step('UID FETCH', () => client.fetchOne(String(uid), { uid: true, source: true }, { uid: true }));
      if (!m || !Buffer.isBuffer(m.source)) return null;
      const parsed = parseMessage(m.source, needsBody);
      return { id: String(uid), input: parsed, seen, size };
    }
    // A large message: header, structure, and only the parts a verdict needs.
    const m = await this.step('UID FETCH', () => client.fetchOne(String(uid), { uid: true, headers: true, bodyStructure: true }, { uid: true }));
    if (!m || !m.bodyStructure) return null;
    const problems: string[] = [];
    const headers = parseHeaderBlock(headerBytesToString(Buffer.isBuffer(m.headers) ? m.headers : Buffer.alloc(0)), problems);
    const root = fromBodyStructure(m.bodyStructure as ImapBodyStructure);
    const bodies = new Map<string, Buffer>();
    for (const part of neededParts(root)) {
      const d = await client.download(String(uid), imapDownloadPart(part), { uid: true, decodeText: false });
      bodies.set(part, await readCapped(d.content, MAX_BODY_BYTES));
    }
    return { id: String(uid), input: { headers, root, bodies, problems }, seen, size };
  }

  async poll(): Promise<ReadMessage[]> {
    if (!this.client || this.client.usable === false) this.client = await this.open();
    const client = this.client;
    try {
      const found = (await this.step('UID SEARCH', () => client.search({ uid: `${this.next}:*` }, { uid: true }))) || [];
      const fresh = found.filter((u) => u >= this.next).sort((a, b) => a - b);
      const out: ReadMessage[] = [];
      for (const uid of fresh) {
        const m = await this.readOne(client, uid);
        if (m) out.push(m);
        this.next = Math.max(this.next, uid + 1);
      }
      return out;
    } catch (e) {
      this.client = null;
      try {
        client.close();
      } catch {
        // gone already
      }
      throw describeMailboxError(e, this.receiving, this.conn, this.redactor, 'imap');
    }
  }

  async pause(ms: number): Promise<void> {
    const client = this.client;
    if (!client || ms <= 0) return sleep(ms);
    let timer: NodeJS.Timeout | undefined;
    const woken = new Promise<void>((resolve) => {
      this.wake = resolve;
      timer = setTimeout(resolve, ms);
    });
    if (client.capabilities?.has('IDLE')) {
      // IDLE until new mail or the timer; the next command (SEARCH) ends it.
      client.idle().catch(() => undefined);
    }
    await woken;
    this.wake = null;
    if (timer) clearTimeout(timer);
  }

  async close(): Promise<void> {
    const client = this.client;
    this.client = null;
    if (!client) return;
    try {
      if (!this.deadline?.timedOut) await this.step('LOGOUT', () => client.logout());
    } catch {
      // closing anyway
    }
    try {
      client.close();
    } catch {
      // closed
    }
  }
}

class Pop3Watcher implements MailboxWatcher {
  readonly protocol = 'pop3' as const;
  readonly host: string;
  readonly port: number;
  tls: 'implicit' | 'starttls' | 'none' | 'unknown' = 'unknown';
  readonly method = 'POP3 sessions every 3 s: UIDL, LIST, TOP (no RETR), RSET and QUIT without DELE';
  private readonly known = new Set<string>();
  private readonly redactor: Redactor;

  constructor(
    private readonly receiving: ReceivingSettings,
    private readonly conn: ConnectOptions,
  ) {
    this.host = receiving.server.trim();
    this.port = receiving.port;
    this.redactor = new Redactor([receiving.password]);
  }

  private async session<T>(fn: (client: import('../clients/pop3/index.js').Pop3Client) => Promise<T>): Promise<T> {
    const { Pop3Client } = await import('../clients/pop3/index.js');
    const { pop3ClientOptions } = await import('../mailbox/pop3-reader.js');
    let client: import('../clients/pop3/index.js').Pop3Client | null = null;
    try {
      client = await Pop3Client.connect(pop3ClientOptions(this.receiving, this.conn));
      await client.login(this.receiving.username, this.receiving.password);
      if (this.tls === 'unknown') this.tls = this.receiving.useSSL ? 'implicit' : client.stlsUsed ? 'starttls' : 'none';
      const result = await fn(client);
      // RSET before QUIT: on QUIT alone Dovecot stores \Seen on every message TOP retrieved.
      await client.endReadOnly();
      return result;
    } catch (e) {
      // Dropping the connection without QUIT: a POP3 server then forgets any DELE (there is none).
      client?.close();
      throw describeMailboxError(e, this.receiving, this.conn, this.redactor, 'pop3');
    }
  }

  async start(): Promise<void> {
    await this.session(async (c) => {
      for (const e of await c.uidl()) this.known.add(e.uid);
    });
  }

  async poll(): Promise<ReadMessage[]> {
    return this.session(async (c) => {
      const entries = (await c.uidl()).filter((e) => !this.known.has(e.uid));
      const out: ReadMessage[] = [];
      for (const e of entries) {
        const { size } = await c.listOne(e.n);
        const whole = size <= WHOLE_MESSAGE_LIMIT;
        const bytes = await c.top(e.n, whole ? TOP_ALL_LINES : 0);
        const parsed = parseMessage(bytes, needsBody);
        if (!whole) parsed.problems.push(`message of ${size} bytes: only its header was read (TOP 0); calendar checks skipped`);
        out.push({ id: e.uid, input: parsed, size });
        this.known.add(e.uid);
      }
      return out;
    });
  }

  pause(ms: number): Promise<void> {
    return sleep(ms);
  }

  async close(): Promise<void> {
    // Every session already ended with QUIT.
  }
}

/** The watcher for the configured protocol (the server's reading of Receiving.Type, §1.3). */
export function mailboxWatcher(receiving: ReceivingSettings, conn: ConnectOptions): MailboxWatcher {
  if (receiving.protocol === 'pop3') return new Pop3Watcher(receiving, conn);
  if (receiving.protocol === 'imap') return new ImapWatcher(receiving, conn);
  throw new MailboxError(
    'type',
    `Receiving.Type "${receiving.type}" is neither pop* nor imap*: this release starts no mail reader at all`,
    'Set Scheduling.iMIP.Receiving.Type to "imap" or "pop".',
  );
}

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
  const started = Date.now();
  const deadline = started + opts.seconds * 1000;
  const interval = opts.intervalMs ?? (watcher.protocol === 'pop3' ? 3000 : 2000);
  let examined = 0;
  let best: { judgement: Judgement; message: ReadMessage; seen: SeenMessage } | null = null;
  let error: string | null = null;
  let hint: string | null = null;

  const rank = (j: Judgement): number => (j.outcome === 'accepted' ? 3 : j.outcome === 'not-accepted' ? 2 : j.outcome === 'token-missing' ? 1 : 0);
  let failures = 0;
  loop: for (;;) {
    let batch: ReadMessage[] = [];
    try {
      batch = await watcher.poll();
      failures = 0;
    } catch (e) {
      // One failed read (a dropped connection) is retried after the pause; two in a row end the wait.
      error = (e as Error).message;
      hint = e instanceof MailboxError ? e.hint : null;
      // A server that stopped answering is not asked again: each retry would cost another --timeout.
      if (++failures >= 2 || Date.now() >= deadline || (e instanceof MailboxError && e.kind === 'timeout')) break;
      await watcher.pause(Math.min(interval, Math.max(0, deadline - Date.now())));
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
      const judgement = judge(m.input, target, ctx, m.seen);
      if (!best || judgement.decisive || rank(judgement) > rank(best.judgement)) best = { judgement, message: m, seen };
      if (judgement.decisive) break loop;
    }
    const left = deadline - Date.now();
    if (left <= 0) break;
    await watcher.pause(Math.min(interval, left));
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
    return { outcome: 'no-reply', reason, waitedSeconds, mailbox, examined, ...empty, notes, bounced: false, error };
  }
  const { judgement, message, seen } = best;
  const v = judgement.verdict;
  const outcome: ReplyOutcome = judgement.outcome === 'bounce' ? 'no-reply' : judgement.outcome;
  const notes = [...v.notes, ...v.problems];
  if (error) notes.push(`reading stopped early: ${error}`);
  return {
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
}
