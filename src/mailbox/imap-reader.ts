/**
 * One poll cycle's read over IMAP, as the configured release reads (`IMAP4DownloadProtocol`):
 * 2.x–5.0 every message (`UID FETCH 1:*`), 5.1+ only UNSEEN (`SEARCH UNSEEN`). Without --apply
 * the mailbox is opened with EXAMINE and everything is fetched with BODY.PEEK, so nothing on the
 * server changes; with --apply it is SELECTed, still read with PEEK, and only the claim, delete and
 * expunge commands of src/poll/apply.ts change it.
 *
 * Fast and bounded on big mailboxes: one FETCH for the whole range gets FLAGS, RFC822.SIZE,
 * BODYSTRUCTURE (MODSEQ with CONDSTORE) and the raw header fields the verdict reads (ENVELOPE is
 * not asked for: it is the server's parse of the same fields, and the verdict needs Python's
 * `parseaddr` over the raw `To:`). Each result is reduced to a small record as it streams; every
 * {@link READ_WINDOW} messages the parts they need are fetched, grouped by equal part lists into one
 * `UID FETCH <set> (BODY.PEEK[p]...)` each (over a second session while the first FETCH is still
 * streaming), then the window is classified and dropped. Never a big attachment; bodies above the
 * parser's cap only partly.
 *
 * The connection follows the server's TLS semantics (2.x–4.x `mail.py` `IMAP4Service`, 5.0+
 * `inbound.py` `MailRetriever.__init__`, as src/probes/imap-probe.ts): UseSSL true is TLS from the
 * first byte; UseSSL false is plain, upgraded with STARTTLS when offered (Twisted
 * `IMAP4Client.login`).
 */
import { isIP, type Socket } from 'node:net';
import type { FetchMessageObject } from 'imapflow';
import { ImapFlow, openInbox } from './imapflow-module.js';
import type { ConnectOptions, ReceivingSettings } from '../config/settings.js';
import { fromBodyStructure, fromWireBodyStructure, type ImapBodyStructure } from '../imip/mime-bodystructure.js';
import { RawSession } from './imap-raw-session.js';
import { parseStructure, type WireValue } from './imap-wire.js';
import { BodyCollector, bodyCap, createDecoder, keptAsSent, MAX_BODY_BYTES, noteDecoding, transferEncodingRead } from '../imip/mime-decode.js';
import { decodeHeaderBytes, HeaderList, parseHeaderBlock, VERDICT_HEADER_FIELDS } from '../imip/mime-headers.js';
import { nestingDepth, partByNumber, walkParts, type MimePart } from '../imip/mime-part.js';
import { needsBody, neededParts, type MessageInput } from '../imip/classify.js';
import { headerBlocksOf, headerSections, isHeaderSection, structureDisagreement, type HeaderSection } from '../imip/structure-agreement.js';
import { parseMessage, type ParsedMessage } from '../imip/mime.js';
import { MailboxOpenError, maskOpenError, probeStage } from './open-error.js';
import { mailboxHost, noCredentialsText } from './target.js';
import { WHOLE_MESSAGE_LIMIT, WHOLE_READ_MAX_BYTES, type OnMessage, type OnProgress, type OnRoom, type ReaderInfo, type ReadMessage, type ReadStats } from './types.js';
import { loadCaPem, runContext } from '../net/net-stage.js';
import { ImapDeadline, isImapTimeout } from './imap-deadline.js';
import { keepAliveEveryMs, waitForRoom } from './keep-alive.js';
import { secondsText } from '../net/errors.js';

/** Header fields fetched for every message: what the verdict and the reply checks read. */
export const HEADER_FIELDS: string[] = [...VERDICT_HEADER_FIELDS];

/** The keyword a `--apply` run sets on a message before injecting it. */
export const CLAIM_KEYWORD = '$ImipClaimed';

/**
 * Messages per window: their records, then their parts, then they are handed over and dropped.
 * 250 rather than 500: half the records alive at once, so fewer survive a young-generation
 * collection (about 4% less CPU and 4 MB less peak on 5,000 replies), and still two commands
 * per 250 messages.
 */
export const READ_WINDOW = 125;
/**
 * Bytes to fetch of a part, as sent, for `decoded` bytes of it decoded: as many (and a margin) for
 * a part taken as it is, four thirds for every encoding (enough for base64).
 */
function fetchCapFor(decoded: number, part: MimePart | undefined): number {
  return (keptAsSent(part ? transferEncodingRead(part) : '7bit') ? decoded : Math.ceil((decoded * 4) / 3)) + 4096;
}

/** How one needed part of a message is fetched and decoded. */
interface PartFetch {
  part: MimePart | undefined;
  section: string;
  /** Decoded bytes kept: MAX_BODY_BYTES, or for a text/calendar part its share of the budget. */
  cap: number;
  /** Fetch only the first `cut` bytes as sent (enough for `cap` decoded), or null: all of it. */
  cut: number | null;
  /**
   * Fetched on its own when its message is handed over, not with its window: a text/calendar
   * part past the 2 MB kept of every other part (the server parses all of it, and up to 32 MB is
   * kept). A window's parts are held together until it is handed over; these, one at a time.
   */
  alone: boolean;
}

interface FetchPlan {
  parts: readonly string[];
  fetches: PartFetch[];
  /** Part number to its index in `parts` (messages of many parts only; others use indexOf). */
  index: Map<string, number> | null;
}

/**
 * How each needed part of a message is fetched, in one pass over its structure: linear in its
 * parts whatever their number (a hostile message can have thousands). The caps are the raw
 * parser's (`bodyCap`): a text/calendar part gets what is left of the message's calendar budget,
 * the calendar parts before it counted at what they decode to at most: their size as sent, three
 * quarters of it for base64.
 */
function fetchPlan(root: MimePart, parts: readonly string[]): FetchPlan {
  // One part (most replies): found directly; several: indexed by number in one walk.
  let byNumber: Map<string, MimePart> | null = null;
  if (parts.length > 1) {
    byNumber = new Map();
    for (const q of walkParts(root)) if (!byNumber.has(q.part)) byNumber.set(q.part, q);
  }
  let kept = 0;
  const fetches: PartFetch[] = [];
  for (const number of parts) {
    const part = byNumber ? byNumber.get(number) : partByNumber(root, number);
    let cap = MAX_BODY_BYTES;
    let alone = false;
    if (part?.type === 'text/calendar') {
      cap = bodyCap('text/calendar', kept);
      kept += Math.min(transferEncodingRead(part) === 'base64' ? Math.floor((part.size * 3) / 4) : part.size, cap);
      alone = part.size > fetchCapFor(MAX_BODY_BYTES, part);
    }
    const fetchCap = fetchCapFor(cap, part);
    fetches.push({ part, section: imapSection(number), cap, cut: (part?.size ?? 0) > fetchCap ? fetchCap : null, alone });
  }
  return { parts, fetches, index: parts.length > 8 ? new Map(parts.map((p, i) => [p, i])) : null };
}

/** A message's plan, made the first time it is needed and kept with its record. */
function planOf(rec: Pending): FetchPlan {
  return (rec.plan ??= fetchPlan(rec.root, rec.parts));
}

/** The plan of part `p` of a message. */
function fetchOfPart(plan: FetchPlan, p: string): PartFetch | undefined {
  return plan.fetches[plan.index ? (plan.index.get(p) ?? -1) : plan.parts.indexOf(p)];
}

/** The same, as imapflow's `bodyParts` item. */
const flowItem = (f: PartFetch): string | { key: string; maxLength: number } => (f.cut === null ? f.section : { key: f.section, maxLength: f.cut });

/**
 * Characters of FETCH items per command at most. Servers refuse longer command lines (Dovecot's
 * `imap_max_line_length` is 64 KB; RFC 7162 §4 asks clients to stay within 8,192 octets), and a
 * message of thousands of parts needs thousands of items; they go out in several commands.
 */
const MAX_ITEMS_CHARS = 6000;

/** Space-separated FETCH items, in commands of at most MAX_ITEMS_CHARS (one item at least each). */
function itemChunks(items: string): string[] {
  if (items.length <= MAX_ITEMS_CHARS) return [items];
  const out: string[] = [];
  let cur = '';
  for (const item of items.split(' ')) {
    if (cur && cur.length + 1 + item.length > MAX_ITEMS_CHARS) {
      out.push(cur);
      cur = '';
    }
    cur += `${cur ? ' ' : ''}${item}`;
  }
  if (cur) out.push(cur);
  return out;
}

/** imapflow `bodyParts` items, in chunks as {@link itemChunks} cuts them. */
function flowChunks<T extends string | { key: string }>(items: T[]): T[][] {
  const out: T[][] = [];
  let cur: T[] = [];
  let chars = 0;
  for (const item of items) {
    const n = (typeof item === 'string' ? item : item.key).length + 24;
    if (cur.length && chars + n > MAX_ITEMS_CHARS) {
      out.push(cur);
      cur = [];
      chars = 0;
    }
    cur.push(item);
    chars += n;
  }
  if (cur.length) out.push(cur);
  return out;
}

/** What the --apply path reads again right before a claim. */
export interface ApplyFetch {
  bodies: Map<string, Buffer>;
  flags: string[];
  claimed: boolean;
  seen: boolean;
  modseq?: string;
}

/** A compact record of a message between the structure fetch and the body fetch. */
interface Pending {
  uid: number;
  size: number;
  seen: boolean;
  claimed: boolean;
  modseq?: string;
  /**
   * The header fields as fetched, parsed only when the message is handed over: a window's records
   * live long enough to be promoted out of V8's young generation, and parsed fields promoted with
   * them made each young collection copy them (the bytes are a view of the read buffer instead).
   */
  headerBytes: Buffer | null;
  root: MimePart;
  parts: readonly string[];
  /** How its parts are fetched (made when first needed). */
  plan: FetchPlan | null;
  problems: string[];
  /** The needed parts, decoded, once fetched (raw pipeline). */
  bodies?: Map<string, Buffer>;
  /**
   * Fetched whole and parsed here ({@link markWhole}): a message of at most
   * {@link WHOLE_MESSAGE_LIMIT}, or one whose structure may be cut short.
   */
  whole?: boolean;
  /** The FETCH gave no usable BODYSTRUCTURE. */
  noStructure?: boolean;
  /** The message fetched whole, held as it came until it is handed over ({@link HELD_WHOLE_BYTES}). */
  raw?: Buffer;
  /** The message fetched whole, parsed. */
  parsed?: ParsedMessage;
  /**
   * Read by its structure: each part's header block, fetched with its parts and checked against
   * the structure before the message is judged ({@link settleStructure}).
   */
  sections?: HeaderSection[];
  headerBlocks?: Map<string, Buffer>;
}

/**
 * A structure this deep may have been cut short: Dovecot describes at most 100 levels of nested
 * parts (deeper ones as one application/octet-stream part), the wire parser follows 256 list
 * levels, and imapflow's own parser gives no structure at all for about 100 levels. Calendar Server fetches the whole message and parses all of it, to about 935 levels
 * (classify.ts MIME_NESTING_LIMIT), so such a message is fetched whole (BODY.PEEK[]) and parsed
 * here, as a POP3 message is.
 */
const WHOLE_FROM_DEPTH = 90;
/**
 * Fetch the message whole, as the server does, and parse it here (the raw parser agrees with
 * Python's `email` package, where an IMAP server's BODYSTRUCTURE may not: a header block that
 * Python ends early, a boundary or a Content-Type it reads otherwise): every message of at most
 * {@link WHOLE_MESSAGE_LIMIT}, and a larger one whose structure may be cut short
 * ({@link WHOLE_FROM_DEPTH}). Other large messages are read by their parts, so that their
 * attachments never cross the wire.
 */
function markWhole(rec: Pending, cut: boolean): void {
  if (!wholeForSize(rec.size) && !cut && !rec.noStructure && nestingDepth(rec.root) < WHOLE_FROM_DEPTH) return;
  if (rec.size > WHOLE_READ_MAX_BYTES) {
    rec.problems.push(rec.noStructure ? 'the server sent no BODYSTRUCTURE for this message, and it is too large to fetch whole here; it is judged as a plain-text message' : DEEP_STRUCTURE);
    return;
  }
  becomeWhole(rec);
}

/** From now on the message is read whole: no part of it is fetched or kept by its number. */
function becomeWhole(rec: Pending): void {
  rec.whole = true;
  rec.parts = [];
  rec.plan = null;
  rec.bodies = undefined;
}

/** A message of at most {@link WHOLE_MESSAGE_LIMIT}: read whole for its size, in its window's FETCH. */
function wholeForSize(size: number): boolean {
  return size <= WHOLE_MESSAGE_LIMIT;
}

/**
 * The part tree a FETCH's structure gives, or, for a message read whole for its size (its tree
 * comes from the parse), none worth building.
 */
function structureRoot(size: number, convert: () => MimePart): MimePart {
  return wholeForSize(size) ? WHOLE_READ_ROOT : convert();
}

/**
 * The header fields a FETCH gave, kept until hand-over; none for a message read whole for its
 * size, whose headers come from its parse (a view of them kept the FETCH's read buffer alive
 * with the window).
 */
function keptHeaderBytes(size: number, bytes: Buffer | null): Buffer | null {
  return wholeForSize(size) ? null : bytes;
}

/**
 * The record's part tree of every message read whole for its size: never read (its tree comes
 * from the parse), so one for all, frozen. One each was a few objects per message promoted
 * with its window's records.
 */
const WHOLE_READ_ROOT: MimePart = deepFreeze(fromWireBodyStructure(null));

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}

/**
 * Bytes of whole messages a window holds as they came, each parsed only when it is handed over, so
 * that the parse's objects die young: parsed as they arrived, a window's parsed messages lived
 * long enough to be copied by V8's young-generation collections and promoted. Past this many bytes
 * a message is parsed as it arrives.
 */
const HELD_WHOLE_BYTES = 16 * 1024 * 1024;

/** A message fetched whole, parsed as the raw path parses one (the parts a verdict needs kept). */
function parseFetched(raw: Buffer): ParsedMessage {
  return parseMessage(raw, needsBody);
}

/** A large message fetched whole is fetched on its own, when its turn comes; smaller ones with their window. */
function wholeAlone(rec: Pending): boolean {
  return !wholeForSize(rec.size);
}

/** The header sections of a message read by its structure (made once, kept with its record). */
function sectionsOf(rec: Pending): HeaderSection[] {
  return (rec.sections ??= headerSections(rec.root));
}

/** A header section's FETCH item. */
function sectionItem(s: HeaderSection): string {
  return `BODY.PEEK[${s.section}]`;
}

/** A literal of a FETCH answer as bytes (a quoted string taken byte for byte). */
function wireBytes(v: WireValue | undefined): Buffer {
  return Buffer.isBuffer(v) ? v : typeof v === 'string' ? Buffer.from(v, 'latin1') : Buffer.alloc(0);
}

/**
 * A message read by its structure, before it is judged: when Python would split it otherwise
 * (structure-agreement.ts), it becomes a message read whole, as the server reads it (true); past
 * {@link WHOLE_READ_MAX_BYTES} it is judged on the structure, and a problem says why.
 */
function settleStructure(rec: Pending): boolean {
  if (rec.whole || !rec.sections) return false;
  const why = structureDisagreement(rec.sections, rec.headerBlocks ?? new Map());
  rec.headerBlocks = undefined;
  if (!why) return false;
  if (rec.size > WHOLE_READ_MAX_BYTES) {
    rec.problems.push(`${why}; the message is too large to read whole here, so it is judged on the IMAP server's structure, while Calendar Server parses the whole message`);
    return false;
  }
  becomeWhole(rec);
  return true;
}

/** Compress sorted UIDs into an IMAP sequence set: 1:3,7,9:10. */
export function uidSet(uids: readonly number[]): string {
  const sorted = [...uids].sort((a, b) => a - b);
  const out: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    out.push(j > i ? `${sorted[i]}:${sorted[j]}` : String(sorted[i]));
    i = j + 1;
  }
  return out.join(',');
}

function imapSection(part: string): string {
  return part === '' ? 'TEXT' : part;
}

function bodyKey(part: string): string {
  return part === '' ? 'text' : part.toLowerCase();
}

function socketBytes(client: ImapFlow): { in: number; out: number } {
  const s = (client as unknown as { socket?: Socket & { _parent?: Socket } }).socket;
  if (!s) return { in: 0, out: 0 };
  return { in: s.bytesRead ?? 0, out: s.bytesWritten ?? 0 };
}

/** imapflow's errors, in one sentence for the admin. */
export function imapErrorText(err: unknown): string {
  const e = (err ?? {}) as { message?: string; code?: string; responseText?: string; response?: string; authenticationFailed?: boolean };
  if (e.authenticationFailed) return `the server rejected the login: ${e.responseText ?? e.response ?? e.message ?? 'authentication failed'}`;
  const text = e.responseText ?? e.message ?? String(err);
  return e.code && !text.includes(e.code) ? `${text} (${e.code})` : text;
}

/** The negotiated TLS version of imapflow's socket, when it is a TLS socket. */
function tlsVersionOf(client: ImapFlow): { tlsVersion?: string } {
  const s = (client as unknown as { socket?: { getProtocol?: () => string | null } }).socket;
  const v = typeof s?.getProtocol === 'function' ? s.getProtocol() : null;
  return v ? { tlsVersion: v } : {};
}

export interface ImapOpenOptions {
  /** EXAMINE (true) or SELECT (false, --apply only). */
  readOnly: boolean;
}

/**
 * imapflow options with the server's receiving semantics (`IMAP4Service`/`MailRetriever`):
 * `UseSSL` is TLS from the first byte; without it STARTTLS when offered. Certificates checked
 * unless --insecure; --ca-file adds to the system roots; every step bounded by --timeout. Shared
 * by every IMAP reader and watcher.
 */
export function imapFlowOptions(receiving: ReceivingSettings, connect: ConnectOptions): ConstructorParameters<typeof ImapFlow>[0] {
  const host = receiving.server.trim();
  const pem = loadCaPem(connect);
  const tls10 = !receiving.useSSL && connect.mailboxUpgrade === 'tls1.0-only';
  return {
    host,
    port: receiving.port,
    secure: receiving.useSSL,
    // Twisted's IMAP4Client.login with UseSSL false: STARTTLS when offered, clear text otherwise.
    doSTARTTLS: undefined,
    ...(isIP(host) ? {} : { servername: host }),
    // With UseSSL false the only TLS is the STARTTLS upgrade: TLS 1.0 only where the server's own
    // client starts TLS itself (twisted imap4.py `IMAP4Client._getContextFactory`, TLSv1_METHOD).
    // One secure context per run (the system roots, plus --ca-file when given, versions
    // included) shared by every connection, as the POP3 reader does, instead of a context built
    // from a copy of the whole root store for each.
    tls: {
      rejectUnauthorized: !connect.insecure,
      secureContext: runContext(pem, tls10 ? 'tls1.0-only' : 'negotiate'),
    },
    // Without a user name and a password nothing is sent (imapflow stops at its login step).
    ...(receiving.username && receiving.password ? { auth: { user: receiving.username, pass: receiving.password } } : {}),
    logger: false,
    // imapflow's own connect and greeting limits are only backstops, well behind ImapDeadline
    // (./imap-deadline.ts), which bounds each step by --timeout and names the stage that stalled.
    // Not just 1 s behind: a plain timer that comes due while this process is busy fires before
    // the answer already waiting is read, which ImapDeadline takes care not to do.
    connectionTimeout: connect.timeoutMs * 2 + 1000,
    greetingTimeout: connect.timeoutMs * 2 + 1000,
    // Only a backstop for a session left quiet by the tool itself (a FETCH paused while the second
    // session fetches parts, an injection under --apply): imapflow treats any quiet socket as dead
    // after this. Every step the tool waits on is bounded by --timeout by ImapDeadline
    // (./imap-deadline.ts), which also names the stage.
    socketTimeout: Math.max(connect.timeoutMs * 4, 60_000),
    disableAutoIdle: true,
    disableCompression: true,
    clientInfo: { name: 'imip', vendor: 'imip (Calendar Server iMIP toolkit)' },
  };
}

export class ImapReader {
  readonly info: ReaderInfo;
  private constructor(
    readonly client: ImapFlow,
    /** Bounds every step on `client` by --timeout and names the stage that stalled. */
    readonly deadline: ImapDeadline,
    private readonly flowOptions: ConstructorParameters<typeof ImapFlow>[0],
    info: ReaderInfo,
    readonly uidValidity: string,
    readonly exists: number,
    readonly condstore: boolean,
    readonly uidplus: boolean,
  ) {
    this.info = info;
  }

  /** The messages in the mailbox when it was opened (EXAMINE's or SELECT's EXISTS). */
  get messagesAtOpen(): number {
    return this.exists;
  }

  /** Connect, log in and open INBOX (EXAMINE unless `readOnly` is false). Failures are MailboxOpenError. */
  static async open(receiving: ReceivingSettings, connect: ConnectOptions, opts: ImapOpenOptions): Promise<ImapReader> {
    try {
      return await ImapReader.openSession(receiving, connect, opts);
    } catch (err) {
      // Never the password, even when the server quotes back what it was sent.
      throw maskOpenError(err, receiving.password);
    }
  }

  private static async openSession(receiving: ReceivingSettings, connect: ConnectOptions, opts: ImapOpenOptions): Promise<ImapReader> {
    const host = mailboxHost(receiving);
    // Nothing to log in with: no session at all (the access check before it has tested the
    // connection); judged as the login stage's missing credentials.
    if (!receiving.username || !receiving.password) {
      throw new MailboxOpenError(`IMAP ${host}:${receiving.port}: ${noCredentialsText(receiving)}`, { protocol: 'imap', stage: 'login' });
    }
    const flowOptions = imapFlowOptions(receiving, connect);
    const deadline = new ImapDeadline(connect.timeoutMs, receiving.useSSL);
    const client = new ImapFlow({ ...flowOptions, logger: deadline.logger });
    deadline.attach(client);
    client.on('error', () => undefined);
    const where = `${host}:${receiving.port}`;
    try {
      await deadline.step(undefined, () => client.connect());
    } catch (err) {
      const stage = probeStage(isImapTimeout(err) ? err.stage : deadline.stage());
      client.close();
      if (isImapTimeout(err)) throw new MailboxOpenError(`${err.message} (${where})`, { protocol: 'imap', stage, cause: err });
      throw new MailboxOpenError(`IMAP ${where}: ${imapErrorText(err)}`, { protocol: 'imap', stage, cause: err });
    }
    let box;
    const verb = opts.readOnly ? 'EXAMINE' : 'SELECT';
    try {
      box = await deadline.step(verb, () => openInbox(client, opts.readOnly));
    } catch (err) {
      await safeLogout(client, deadline);
      if (isImapTimeout(err)) throw new MailboxOpenError(`${err.message} (${where})`, { protocol: 'imap', stage: 'inbox', cause: err });
      throw new MailboxOpenError(`IMAP ${where}: INBOX could not be opened (${verb}): ${imapErrorText(err)}`, { protocol: 'imap', stage: 'inbox', cause: err });
    }
    const tls = receiving.useSSL ? 'implicit' : client.secureConnection ? 'starttls' : 'none';
    const info: ReaderInfo = {
      protocol: 'imap',
      server: host,
      port: receiving.port,
      username: receiving.username,
      tls,
      ...tlsVersionOf(client),
      readOnly: opts.readOnly,
      commands: [opts.readOnly ? 'EXAMINE INBOX' : 'SELECT INBOX'],
    };
    const condstore = client.enabled.has('CONDSTORE') && !(box as { noModseq?: boolean }).noModseq;
    return new ImapReader(client, deadline, flowOptions, info, String(box.uidValidity), box.exists, condstore, client.capabilities.has('UIDPLUS'));
  }

  /**
   * Read the messages the release reads and hand each to `onMessage`, in UID order (the server's
   * order). Throws on connection loss; whatever was handed over stays valid.
   *
   * Memory stays bounded however big the mailbox: the structure FETCH streams (imapflow applies
   * back-pressure), and every `window` messages the parts they need are fetched and the window is
   * handed over and dropped. While the structure FETCH is still streaming on this connection the
   * part fetches go over a second session of the same account (opened only for mailboxes larger
   * than one window; EXAMINE, BODY.PEEK); the last window uses this connection.
   */
  async read(opts: { unseenOnly: boolean; onMessage: OnMessage; onProgress?: OnProgress; room?: OnRoom; window?: number }): Promise<ReadStats> {
    const c = this.client;
    const stats: ReadStats = { exists: this.exists, selected: 0, seenSkipped: 0, vanished: 0, bytesIn: 0, bytesOut: 0, roundTrips: 0 };
    const before = socketBytes(c);
    if (this.exists === 0) return this.finishStats(stats, before);

    // The server reads every message up to 5.0 and SEARCH UNSEEN from 5.1 (CalendarServer-5.1
    // inbound.py IMAP4DownloadProtocol.cbInboxSelected). The UIDs cut the range into windows.
    const criteria = opts.unseenOnly ? 'UNSEEN' : 'ALL';
    let pipeline: FetchPipeline | null = null;
    // Each BODYSTRUCTURE is parsed only for a message read by its structure (over 5 MB).
    const raw = RawSession.borrow(c, (attrs, cut) => pipeline?.onFetch(attrs, cut), { deferStructure: true });
    let found: number[];
    if (raw) {
      // Our own SEARCH too: imapflow's parser made an object per UID of the answer, the one
      // part of a long cycle's peak memory that grew with the mailbox.
      try {
        found = await this.deadline.step('UID SEARCH', () => raw.search(criteria));
      } catch (err) {
        raw.release();
        throw err;
      }
    } else {
      const r = await this.deadline.step('UID SEARCH', () => c.search(opts.unseenOnly ? { seen: false } : { all: true }, { uid: true }));
      found = Array.isArray(r) ? r : [];
    }
    stats.roundTrips++;
    this.info.commands.push(`UID SEARCH ${criteria}`);
    const uids = found.sort((a, b) => a - b);
    if (opts.unseenOnly) stats.seenSkipped = this.exists - uids.length;
    if (!uids.length) {
      raw?.release();
      return this.finishStats(stats, before);
    }

    if (!raw) {
      await this.readViaFlow(uidSet(uids), uids.length, stats, opts);
      return this.finishStats(stats, before);
    }
    const run = new FetchPipeline(this, uids, stats, opts);
    pipeline = run;
    try {
      // Bounded like every step: no byte from the server for --timeout ends it, naming FETCH.
      await this.deadline.step('UID FETCH', () => run.run(raw));
    } finally {
      raw.release();
    }
    return this.finishStats(stats, before);
  }

  private finishStats(stats: ReadStats, before: { in: number; out: number }): ReadStats {
    const after = socketBytes(this.client);
    stats.bytesIn += after.in - before.in;
    stats.bytesOut += after.out - before.out;
    return stats;
  }

  /**
   * The same read through imapflow's own FETCH (used only when the connection cannot be borrowed,
   * e.g. imapflow compressing it): one structure FETCH streaming, part fetches per window over a
   * second session.
   */
  private async readViaFlow(range: string, total: number, stats: ReadStats, opts: { onMessage: OnMessage; onProgress?: OnProgress; window?: number }): Promise<void> {
    const c = this.client;
    const windowSize = opts.window ?? READ_WINDOW;
    let helper: { client: ImapFlow; deadline: ImapDeadline } | null = null;
    let done = 0;
    let buffer: Pending[] = [];
    /** Fetch the window's parts (grouped), then hand the window over in UID order. */
    const flush = async (via: { client: ImapFlow; deadline: ImapDeadline }): Promise<void> => {
      // UID order, the server's order (FETCH answers normally come that way already).
      const window = buffer.sort((a, b) => a.uid - b.uid);
      buffer = [];
      const bodies = new Map<number, Map<string, Buffer>>();
      const groups = new Map<string, Pending[]>();
      for (const rec of window) {
        if (rec.whole) continue;
        const { fetches } = planOf(rec);
        const key = `${sectionsOf(rec).map((h) => h.section).join(' ')}|${fetches.map((f) => (f.alone ? '' : `${f.section}:${f.cut ?? 'whole'}`)).join('|')}`;
        const list = groups.get(key) ?? [];
        list.push(rec);
        groups.set(key, list);
      }
      // The window's messages read whole, in one command: each held as it came and parsed when it
      // is handed over, as the pipelined read does ({@link HELD_WHOLE_BYTES}).
      const whole = window.filter((r) => r.whole && !wholeAlone(r));
      let held = 0;
      if (whole.length) {
        const byUid = new Map(whole.map((r) => [r.uid, r]));
        stats.roundTrips++;
        for await (const msg of via.deadline.each('UID FETCH', via.client.fetch(uidSet(whole.map((r) => r.uid)), { uid: true, source: true }, { uid: true }))) {
          const rec = byUid.get(msg.uid);
          if (!rec || !msg.source) continue;
          if (held + msg.source.length <= HELD_WHOLE_BYTES) {
            rec.raw = msg.source;
            held += msg.source.length;
          } else rec.parsed = parseFetched(msg.source);
        }
      }
      for (const group of groups.values()) {
        const sample = group[0]!;
        const byUid = new Map(group.map((r) => [r.uid, r]));
        const items = [...sectionsOf(sample).map((h) => h.section), ...planOf(sample).fetches.flatMap((f) => (f.alone ? [] : [flowItem(f)]))];
        for (const bodyParts of flowChunks(items)) {
          stats.roundTrips++;
          if (stats.roundTrips <= 6) this.info.commands.push(`UID FETCH ${uidSet(group.map((r) => r.uid)).slice(0, 40)} (${bodyParts.map((b) => `BODY.PEEK[${typeof b === 'string' ? b : b.key}]`).join(' ')})`);
          for await (const msg of via.deadline.each('UID FETCH', via.client.fetch(uidSet(group.map((r) => r.uid)), { uid: true, bodyParts }, { uid: true }))) {
            const rec = byUid.get(msg.uid);
            if (!rec) continue;
            if (msg.bodyParts) rec.headerBlocks = headerBlocksOf(msg.bodyParts, rec.headerBlocks);
            mergeBodies(bodies, rec.uid, decodeFlowBodies(rec, msg));
          }
        }
      }
      for (const rec of window) {
        settleStructure(rec);
        if (rec.whole) {
          if (wholeAlone(rec)) {
            stats.roundTrips++;
            for await (const msg of via.deadline.each('UID FETCH', via.client.fetch(String(rec.uid), { uid: true, source: true }, { uid: true }))) {
              if (msg.uid === rec.uid && msg.source) rec.parsed = parseFetched(msg.source);
            }
          }
          // Parsed into a local, not into the record (see the pipelined read's handOver).
          const parsed = rec.parsed ?? (rec.raw ? parseFetched(rec.raw) : undefined);
          rec.raw = undefined;
          if (!parsed) {
            // Expunged by someone else between the structure fetch and this one.
            stats.vanished++;
            continue;
          }
          opts.onMessage(toRead(rec, new Map(), parsed));
          opts.onProgress?.(++done, total);
          continue;
        }
        // One message at a time (PartFetch.alone): merged with what its window fetched.
        for (const alone of flowChunks(planOf(rec).fetches.flatMap((f) => (f.alone ? [flowItem(f)] : [])))) {
          stats.roundTrips++;
          for await (const msg of via.deadline.each('UID FETCH', via.client.fetch(String(rec.uid), { uid: true, bodyParts: alone }, { uid: true }))) {
            if (msg.uid === rec.uid) mergeBodies(bodies, rec.uid, decodeFlowBodies(rec, msg));
          }
        }
        const b = rec.parts.length ? bodies.get(rec.uid) : new Map<string, Buffer>();
        if (!b) {
          // Expunged by someone else between the structure fetch and the part fetch.
          stats.vanished++;
          continue;
        }
        opts.onMessage(toRead(rec, b));
        opts.onProgress?.(++done, total);
      }
    };

    // The structure and header fields of the whole range, in one command, as it streams.
    this.info.commands.push(`UID FETCH ${range.length > 40 ? `${range.slice(0, 40)}…` : range} (UID FLAGS RFC822.SIZE BODYSTRUCTURE${this.condstore ? ' MODSEQ' : ''} BODY.PEEK[HEADER.FIELDS (...)])`);
    stats.roundTrips++;
    try {
      for await (const msg of this.deadline.each('UID FETCH', c.fetch(range, { uid: true, flags: true, size: true, bodyStructure: true, headers: HEADER_FIELDS }, { uid: true }))) {
        stats.selected++;
        const rec = toPending(msg);
        markWhole(rec, false);
        buffer.push(rec);
        if (buffer.length >= windowSize) {
          if (!helper) {
            helper = await this.openHelper();
            this.info.commands.push('(second session for the part fetches while the structure FETCH streams: EXAMINE INBOX)');
          }
          await flush(helper);
        }
      }
      await flush({ client: c, deadline: this.deadline });
    } finally {
      if (helper) {
        const h: { client: ImapFlow; deadline: ImapDeadline } = helper;
        const hb = socketBytes(h.client);
        stats.bytesIn += hb.in;
        stats.bytesOut += hb.out;
        await safeLogout(h.client, h.deadline);
      }
    }
  }

  /** Another session of the same account with INBOX EXAMINEd (part fetches during the stream). */
  private async openHelper(): Promise<{ client: ImapFlow; deadline: ImapDeadline }> {
    const deadline = new ImapDeadline(this.deadline.timeoutMs, this.flowOptions?.secure ?? false);
    const h = new ImapFlow({ ...this.flowOptions, logger: deadline.logger });
    deadline.attach(h);
    h.on('error', () => undefined);
    try {
      await deadline.step(undefined, () => h.connect());
      await deadline.step('EXAMINE', () => openInbox(h, true));
    } catch (err) {
      h.close();
      throw err;
    }
    return { client: h, deadline };
  }

  /**
   * Fetch fresh flags, MODSEQ and the given parts of some messages (the --apply path re-reads
   * the calendar right before injecting it). Parts are decoded as the classifier saw them.
   * Unsolicited FETCH responses (flag changes by another session, which the server may report in
   * the middle of this command) update flags and MODSEQ only when newer, never the bodies.
   */
  async fetchForApply(items: Array<{ uid: number; parts: string[]; root: MimePart; whole?: boolean }>): Promise<Map<number, ApplyFetch>> {
    const out = new Map<number, ApplyFetch>();
    const groups = new Map<string, typeof items>();
    // Each part capped as the cycle's read capped it: planned among all the parts the verdict
    // needs, once per message.
    const itemPlans = new Map<number, FetchPlan>();
    const planFor = (it: (typeof items)[number]): FetchPlan => {
      let plan = itemPlans.get(it.uid);
      if (!plan) {
        const all = neededParts(it.root);
        for (const p of it.parts) if (!all.includes(p)) all.push(p);
        itemPlans.set(it.uid, (plan = fetchPlan(it.root, all)));
      }
      return plan;
    };
    const fetchItems = (it: (typeof items)[number]): PartFetch[] => it.parts.map((p) => fetchOfPart(planFor(it), p)!);
    const whole: number[] = [];
    for (const it of items) {
      // A message the read fetched whole: its part numbers are the parser's, which need not be
      // the IMAP server's (or past what it addresses), so it is fetched whole again.
      if (it.whole) {
        whole.push(it.uid);
        continue;
      }
      // The same parts, each fetched whole or cut at the same length.
      const key = fetchItems(it).map((f) => `${f.section}:${f.cut ?? 'whole'}`).join('|');
      groups.set(key, [...(groups.get(key) ?? []), it]);
    }
    if (whole.length) for (const [uid, fetched] of await this.fetchWholeForApply(whole)) out.set(uid, fetched);
    for (const group of groups.values()) {
      const byUid = new Map(group.map((g) => [g.uid, g]));
      const bodyParts = fetchItems(group[0]!).map(flowItem);
      for await (const msg of this.deadline.each('UID FETCH', this.client.fetch(uidSet(group.map((g) => g.uid)), { uid: true, flags: true, bodyParts }, { uid: true }))) {
        const it = byUid.get(msg.uid);
        if (!it) continue;
        const prev = out.get(msg.uid);
        const modseq = msg.modseq !== undefined ? String(msg.modseq) : undefined;
        const newer = !prev || prev.modseq === undefined || modseq === undefined || BigInt(modseq) >= BigInt(prev.modseq);
        const flags = newer && msg.flags ? [...msg.flags] : (prev?.flags ?? []);
        const plan = planFor(it);
        const rec: Pending = { uid: it.uid, size: 0, seen: false, claimed: false, headerBytes: null, root: it.root, parts: plan.parts, plan, problems: [] };
        const bodies = msg.bodyParts?.size ? decodeFlowBodies(rec, msg) : (prev?.bodies ?? new Map<string, Buffer>());
        out.set(msg.uid, {
          bodies,
          flags,
          claimed: flags.includes(CLAIM_KEYWORD),
          seen: flags.includes('\\Seen'),
          ...(newer ? (modseq !== undefined ? { modseq } : {}) : prev?.modseq !== undefined ? { modseq: prev.modseq } : {}),
        });
      }
    }
    return out;
  }

  /** {@link fetchForApply} for messages read whole: their flags and, parsed again, their bodies. */
  private async fetchWholeForApply(uids: number[]): Promise<Map<number, ApplyFetch>> {
    const found = new Map<number, ApplyFetch>();
    const wanted = new Set(uids);
    for await (const msg of this.deadline.each('UID FETCH', this.client.fetch(uidSet(uids), { uid: true, flags: true, source: true }, { uid: true }))) {
      // An unsolicited FETCH (another session's flag change) carries no source: not this answer.
      if (!wanted.has(msg.uid) || !msg.source) continue;
      const flags = msg.flags ? [...msg.flags] : [];
      found.set(msg.uid, {
        bodies: parseFetched(msg.source).bodies,
        flags,
        claimed: flags.includes(CLAIM_KEYWORD),
        seen: flags.includes('\\Seen'),
        ...(msg.modseq !== undefined ? { modseq: String(msg.modseq) } : {}),
      });
    }
    return found;
  }

  /**
   * Delete messages: `\Deleted`, then UID EXPUNGE (UIDPLUS) so nothing else marked \Deleted is
   * touched; without UIDPLUS a plain EXPUNGE, as the server's own poll does (`fetchNextMessage`).
   */
  async remove(uids: number[]): Promise<void> {
    if (!uids.length) return;
    // imapflow: STORE +FLAGS (\Deleted), then UID EXPUNGE with UIDPLUS, plain EXPUNGE without.
    const ok = await this.deadline.step('UID EXPUNGE', () => this.client.messageDelete(uidSet(uids), { uid: true }));
    if (!ok) throw new Error(`the server refused to delete UID ${uidSet(uids)}`);
  }

  async close(): Promise<void> {
    await safeLogout(this.client, this.deadline);
  }

  /** Drop the connection without LOGOUT (fault paths). */
  destroy(): void {
    try {
      this.client.close();
    } catch {
      // already closed
    }
  }
}

/**
 * The raw FETCH pipeline over a borrowed connection (imap-raw-session.ts), window by window of
 * `READ_WINDOW` UIDs: the structure FETCH of window k+1 is sent before the part FETCHes of window k,
 * and window k+1's part FETCHes (with the structure FETCH of k+2) before window k is handed over,
 * so the server sends the next window while we classify this one, and no more than three windows
 * of records are ever held. Each FETCH answer is filed by its UID: with a BODYSTRUCTURE it becomes a
 * record, with BODY[...] sections its parts are decoded into the record at once (the raw bytes
 * are never kept). After its parts have arrived a window is handed over in UID order and dropped.
 */
class FetchPipeline {
  private readonly recs = new Map<number, Pending>();
  /** Messages of the window with parts fetched on their own when handed over. */
  private readonly alone = new Set<number>();
  private readonly windowSize: number;
  private readonly structureItems: string;
  private done = 0;
  private partCommandsShown = 0;
  /** Bytes of whole messages held unparsed ({@link HELD_WHOLE_BYTES}). */
  private heldRaw = 0;
  /** The commands shown to --verbose have said why messages are read whole. */
  private wholeSaid = false;

  constructor(
    private readonly reader: ImapReader,
    private readonly uids: number[],
    private readonly stats: ReadStats,
    private readonly opts: { onMessage: OnMessage; onProgress?: OnProgress; room?: OnRoom; window?: number },
  ) {
    this.windowSize = Math.max(1, opts.window ?? READ_WINDOW);
    this.structureItems = `(UID FLAGS RFC822.SIZE BODYSTRUCTURE${reader.condstore ? ' MODSEQ' : ''} BODY.PEEK[HEADER.FIELDS (${HEADER_FIELDS.join(' ')})])`;
  }

  onFetch(attrs: WireValue[], cut = false): void {
    let uid = 0;
    let structure: WireValue | undefined;
    let hasStructure = false;
    for (let i = 0; i + 1 < attrs.length; i += 2) {
      const k = attrs[i];
      if (k === 'UID') uid = Number(attrs[i + 1]);
      else if (k === 'BODYSTRUCTURE') {
        structure = attrs[i + 1];
        hasStructure = true;
      }
    }
    if (!uid) return;
    if (hasStructure) {
      this.stats.selected++;
      const { rec, deep } = pendingFromWire(uid, attrs, structure);
      markWhole(rec, cut || deep);
      this.recs.set(uid, rec);
      return;
    }
    const rec = this.recs.get(uid);
    if (!rec) return;
    for (let i = 0; i + 1 < attrs.length; i += 2) {
      const k = attrs[i];
      if (typeof k !== 'string' || !k.startsWith('BODY[')) continue;
      const v = attrs[i + 1];
      const section = k.slice(5, k.indexOf(']'));
      if (rec.whole) {
        if (section !== '') continue;
        const bytes = wireBytes(v);
        if (this.heldRaw + bytes.length <= HELD_WHOLE_BYTES) {
          rec.raw = bytes;
          this.heldRaw += bytes.length;
        } else rec.parsed = parseFetched(bytes);
        continue;
      }
      if (isHeaderSection(section)) {
        (rec.headerBlocks ??= new Map()).set(section, wireBytes(v));
        continue;
      }
      const p = section === 'TEXT' ? '' : section;
      if (!rec.parts.includes(p)) continue;
      const bytes = Buffer.isBuffer(v) ? v : typeof v === 'string' ? Buffer.from(v, 'utf8') : Buffer.alloc(0);
      (rec.bodies ??= new Map()).set(p, decodePart(rec, p, bytes));
    }
  }

  async run(raw: RawSession): Promise<void> {
    const { uids, windowSize, stats } = this;
    const windows = Math.ceil(uids.length / windowSize);
    const info = this.reader.info;
    info.commands.push(`UID FETCH <${windowSize} UIDs at a time> ${this.structureItems.replace(/\(DATE[^)]*\)/, '(...)')}`);
    // A command's promise may reject (connection cut) before it is awaited: never unhandled.
    const track = (p: Promise<void>): { p: Promise<void>; settled: boolean } => {
      const t = { p, settled: false };
      p.then(
        () => (t.settled = true),
        () => (t.settled = true),
      );
      return t;
    };
    /** Wait for a command; a wait for an answer not yet there is a round trip. */
    const wait = async (t: { p: Promise<void>; settled: boolean }): Promise<void> => {
      if (!t.settled) stats.roundTrips++;
      await t.p;
    };
    const windowOf = (k: number): number[] => uids.slice(k * windowSize, (k + 1) * windowSize);
    const structure = (k: number): string => `UID FETCH ${uidSet(windowOf(k))} ${this.structureItems}`;
    let next = track(raw.command(structure(0)));
    /** Window k's part FETCHes, after the next window's structure FETCH, in one write. */
    const send = async (k: number): Promise<Array<{ p: Promise<void>; settled: boolean }>> => {
      await wait(next);
      const more = k + 1 < windows;
      const parts = this.partCommands(windowOf(k));
      const partFetches = raw.commands(more ? [structure(k + 1), ...parts] : parts).map(track);
      if (more) next = partFetches.shift()!;
      return partFetches;
    };
    let partFetches = windows ? await send(0) : [];
    for (let k = 0; k < windows; k++) {
      let waited = false;
      for (const t of partFetches) {
        // Part fetches of one window go out together: one round trip for all of them.
        if (!waited && !t.settled) {
          stats.roundTrips++;
          waited = true;
        }
        await t.p;
      }
      // Nothing more is asked for while the output waits for its reader (./keep-alive.ts): the
      // session holds this window and the next one's structure, and says NOOP meanwhile.
      if (k + 1 < windows) await this.pauseForOutput(raw);
      // The next window's parts are asked for before this window is judged, so that the server
      // sends them while it is (its structure came before this window's parts: answered already).
      partFetches = k + 1 < windows ? await send(k + 1) : [];
      await this.handOver(windowOf(k), raw);
    }
  }

  /** Wait while the output has no room for more rows, saying NOOP on the session meanwhile. */
  private async pauseForOutput(raw: RawSession): Promise<void> {
    const every = keepAliveEveryMs(this.reader.deadline.timeoutMs);
    const noops = await waitForRoom(this.opts.room, () => raw.command('NOOP'), every);
    const said = `NOOP (every ${secondsText(every)} while the output waited for its reader)`;
    if (noops && !this.reader.info.commands.includes(said)) this.reader.info.commands.push(said);
  }

  /**
   * A large message fetched whole on its own: its structure may be cut short
   * ({@link WHOLE_FROM_DEPTH}), or Python reads its header blocks otherwise ({@link settleStructure}).
   */
  private async fetchWhole(rec: Pending, raw: RawSession, why = 'its structure may be cut short'): Promise<void> {
    const cmd = `UID FETCH ${rec.uid} (BODY.PEEK[])`;
    if (this.partCommandsShown++ < 6) this.reader.info.commands.push(`${cmd} (${why}: the message is parsed whole)`);
    this.stats.roundTrips++;
    await raw.command(cmd);
  }

  /** The parts of a message that are fetched on their own (`PartFetch.alone`): one round trip. */
  private async fetchAlone(rec: Pending, raw: RawSession): Promise<void> {
    let items = '';
    for (const { alone, section, cut } of planOf(rec).fetches) {
      if (alone) items += `${items ? ' ' : ''}BODY.PEEK[${section}]${cut !== null ? `<0.${cut}>` : ''}`;
    }
    for (const chunk of itemChunks(items)) {
      const cmd = `UID FETCH ${rec.uid} (${chunk})`;
      if (this.partCommandsShown++ < 6) this.reader.info.commands.push(cmd);
      this.stats.roundTrips++;
      await raw.command(cmd);
    }
  }

  /**
   * One `UID FETCH` per group of messages that need the same parts (cut or whole), and one for the
   * messages read whole (`BODY.PEEK[]`).
   */
  private partCommands(slice: number[]): string[] {
    const groups = new Map<string, { uids: number[]; items: string }>();
    const whole: number[] = [];
    for (const uid of slice) {
      const rec = this.recs.get(uid);
      if (rec?.whole && !wholeAlone(rec)) whole.push(uid);
      if (!rec || rec.whole) continue;
      // Every part's header block, to check the structure against Python's reading of it.
      let items = sectionsOf(rec).map(sectionItem).join(' ');
      let key = `${items}|`;
      for (const { alone, section, cut } of planOf(rec).fetches) {
        if (alone) {
          this.alone.add(uid);
          continue;
        }
        key += `${section}:${cut ?? 'w'}|`;
        items += `${items ? ' ' : ''}BODY.PEEK[${section}]${cut !== null ? `<0.${cut}>` : ''}`;
      }
      if (!items) continue;
      const g = groups.get(key);
      if (g) g.uids.push(uid);
      else groups.set(key, { uids: [uid], items });
    }
    const out: string[] = [];
    if (whole.length) {
      const cmd = `UID FETCH ${uidSet(whole)} (BODY.PEEK[])`;
      if (this.partCommandsShown++ < 6) {
        const shown = cmd.length > 120 ? `${cmd.slice(0, 40)}… (BODY.PEEK[])` : cmd;
        // Why, said with the first such command only.
        this.reader.info.commands.push(this.wholeSaid ? shown : `${shown} (messages of at most ${WHOLE_MESSAGE_LIMIT / 1048576} MB, read whole and parsed as the server parses them)`);
        this.wholeSaid = true;
      }
      out.push(cmd);
    }
    for (const g of groups.values()) {
      const set = uidSet(g.uids);
      for (const items of itemChunks(g.items)) {
        const cmd = `UID FETCH ${set} (${items})`;
        if (this.partCommandsShown++ < 6) this.reader.info.commands.push(cmd.length > 120 ? `${cmd.slice(0, 40)}… (${items.length > 80 ? `${items.slice(0, 80)}…` : items})` : cmd);
        out.push(cmd);
      }
    }
    return out;
  }

  private async handOver(slice: number[], raw: RawSession): Promise<void> {
    const total = this.uids.length;
    for (const uid of slice) {
      const rec = this.recs.get(uid);
      const alone = this.alone.delete(uid);
      if (rec && settleStructure(rec)) {
        // Python splits it otherwise than the structure says: read whole, as the server reads it.
        await this.fetchWhole(rec, raw, 'the IMAP server and Python read its MIME headers differently');
      } else if (rec) {
        if (alone) await this.fetchAlone(rec, raw);
        if (rec.whole && wholeAlone(rec)) await this.fetchWhole(rec, raw);
      }
      // Parsed into a local, not into the record: a window's records live long enough to be
      // promoted out of V8's young generation, and a young parse stored into one is kept alive by
      // every young collection until the next full one, dead or not (then promoted itself): about
      // 6 KB of each message's parse was promoted that way.
      let parsed = rec?.parsed;
      if (rec?.raw) {
        parsed = parseFetched(rec.raw);
        this.heldRaw -= rec.raw.length;
        rec.raw = undefined;
      }
      this.recs.delete(uid);
      if (!rec || (rec.parts.length && !rec.bodies) || (rec.whole && !parsed)) {
        // Expunged by someone else since the SEARCH (or between the structure and the part fetch).
        this.stats.vanished++;
        continue;
      }
      this.opts.onMessage(toRead(rec, rec.bodies ?? new Map<string, Buffer>(), parsed));
      this.opts.onProgress?.(++this.done, total);
    }
  }
}

function wireFlags(v: WireValue | undefined): { seen: boolean; claimed: boolean } {
  let seen = false;
  let claimed = false;
  if (Array.isArray(v)) {
    for (const f of v) {
      if (typeof f !== 'string') continue;
      if (f.toLowerCase() === '\\seen') seen = true;
      else if (f === CLAIM_KEYWORD) claimed = true;
    }
  }
  return { seen, claimed };
}

/** Said of a message whose BODYSTRUCTURE nests deeper than the wire parser goes (imap-wire.ts). */
const DEEP_STRUCTURE =
  'its MIME parts nest deeper than this tool follows; it is judged on the parts above that depth, while Calendar Server parses the whole message';

/**
 * A structure FETCH answer as a compact record: flags, size, MODSEQ, header fields, part tree; and
 * whether its structure nested past what the wire reader parses (`deep`, as a response's `cut`).
 */
function pendingFromWire(uid: number, attrs: WireValue[], structure: WireValue | undefined): { rec: Pending; deep: boolean } {
  const problems: string[] = [];
  let size = 0;
  let flags = { seen: false, claimed: false };
  let modseq: string | undefined;
  let headerBytes: Buffer | null = null;
  for (let i = 0; i + 1 < attrs.length; i += 2) {
    const k = attrs[i];
    const v = attrs[i + 1];
    if (k === 'RFC822.SIZE') size = Number(v) || 0;
    else if (k === 'FLAGS') flags = wireFlags(v);
    else if (k === 'MODSEQ') modseq = Array.isArray(v) && typeof v[0] === 'string' ? v[0] : undefined;
    else if (typeof k === 'string' && k.startsWith('BODY[HEADER')) {
      headerBytes = Buffer.isBuffer(v) ? v : typeof v === 'string' ? Buffer.from(v, 'utf8') : null;
    }
  }
  // Given as its bytes (RawSession's deferStructure): parsed only for a message read by its
  // structure; one read whole for its size needs only to know that it has one, its tree never built.
  let tree = structure;
  let deep = false;
  if (Buffer.isBuffer(structure) && !wholeForSize(size)) ({ value: tree, cut: deep } = parseStructure(structure));
  // No structure (a server that sends none, or one its parser could not take): the message is
  // fetched whole and parsed here (markWhole), as the server reads every message whole.
  const root = structureRoot(size, () => fromWireBodyStructure(Array.isArray(tree) ? tree : null));
  const given = Array.isArray(tree) || Buffer.isBuffer(tree);
  const rec: Pending = { uid, size, seen: flags.seen, claimed: flags.claimed, ...(modseq !== undefined ? { modseq } : {}), headerBytes: keptHeaderBytes(size, headerBytes), root, parts: neededParts(root), plan: null, problems, ...(given ? {} : { noStructure: true }) };
  return { rec, deep };
}

/** LOGOUT, bounded by --timeout (and never after a step timed out: the session is gone). */
async function safeLogout(client: ImapFlow, deadline: ImapDeadline): Promise<void> {
  try {
    if (!deadline.timedOut) await deadline.step('LOGOUT', () => client.logout());
  } catch {
    // the connection is gone already
  }
  try {
    client.close();
  } catch {
    // already closed
  }
}

function toPending(msg: FetchMessageObject): Pending {
  const problems: string[] = [];
  // No structure: imapflow's parser gives none for one nested past its own limit (or the server
  // sent none); the message is then fetched whole and parsed here (markWhole).
  const root = structureRoot(msg.size ?? 0, () => fromBodyStructure((msg.bodyStructure ?? { type: 'text/plain' }) as unknown as ImapBodyStructure));
  return {
    ...(msg.bodyStructure ? {} : { noStructure: true }),
    uid: msg.uid,
    size: msg.size ?? 0,
    seen: msg.flags?.has('\\Seen') ?? false,
    claimed: msg.flags?.has(CLAIM_KEYWORD) ?? false,
    ...(msg.modseq !== undefined ? { modseq: String(msg.modseq) } : {}),
    headerBytes: keptHeaderBytes(msg.size ?? 0, msg.headers ?? null),
    root,
    parts: neededParts(root),
    plan: null,
    problems,
  };
}

function toRead(rec: Pending, bodies: Map<string, Buffer>, parsed = rec.parsed): ReadMessage {
  // Built field by field, not by spreading a base object: this runs for every message.
  let input: MessageInput;
  if (parsed) {
    // Fetched whole: the message as its own parser reads it, headers included.
    input = { headers: parsed.headers, root: parsed.root, bodies: parsed.bodies, problems: rec.problems.length ? [...rec.problems, ...parsed.problems] : parsed.problems };
  } else {
    // The header block's problems come first, as when it was read first.
    const headerProblems: string[] = [];
    const decoded = rec.headerBytes ? decodeHeaderBytes(rec.headerBytes) : null;
    const headers = decoded ? parseHeaderBlock(decoded.text, headerProblems) : new HeaderList();
    headers.latin1 = decoded?.latin1 ?? false;
    if (headerProblems.length) rec.problems.unshift(...headerProblems);
    input = { headers, root: rec.root, bodies, problems: rec.problems };
  }
  const m: ReadMessage = { ref: { uid: rec.uid }, size: rec.size, seen: rec.seen, claimed: rec.claimed, input };
  if (rec.modseq !== undefined) m.modseq = rec.modseq;
  if (parsed) m.whole = true;
  return m;
}

/**
 * Undo the transfer encoding of a fetched part, as the raw parser would have; a part the server
 * takes undecoded, or whose decoding raises, is noted in `problems`, as the raw parser does. A
 * fetched literal is never written to again, so it is read without a copy.
 */
function decodePart(rec: Pending, p: string, raw: Uint8Array): Buffer {
  const problems = rec.problems;
  const plan = fetchOfPart(planOf(rec), p);
  const part = plan ? plan.part : partByNumber(rec.root, p);
  const cap = plan?.cap ?? MAX_BODY_BYTES;
  const collector = new BodyCollector(cap);
  const decoder = createDecoder(part ? transferEncodingRead(part) : '7bit', collector, { owned: true });
  decoder.write(raw);
  decoder.end();
  if (part && (collector.truncated || part.size > fetchCapFor(cap, part))) part.truncated = true;
  noteDecoding(part, p, collector, problems);
  return collector.result();
}

/** Add a message's decoded parts to what was fetched of it before (a message's parts may come in several FETCHes). */
function mergeBodies(bodies: Map<number, Map<string, Buffer>>, uid: number, got: Map<string, Buffer>): void {
  const had = bodies.get(uid);
  if (had) for (const [k, v] of got) had.set(k, v);
  else bodies.set(uid, got);
}

/** imapflow's fetch result: each needed part decoded. */
function decodeFlowBodies(rec: Pending, msg: FetchMessageObject): Map<string, Buffer> {
  const bodies = new Map<string, Buffer>();
  const got = new Map<string, Buffer>();
  for (const [k, v] of msg.bodyParts ?? new Map<string, Buffer>()) got.set(k.toLowerCase().replace(/\].*$/, ''), v);
  for (const p of rec.parts) {
    const raw = got.get(bodyKey(p));
    if (raw) bodies.set(p, decodePart(rec, p, raw));
  }
  return bodies;
}
