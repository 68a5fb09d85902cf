/**
 * The messages diagnose examines: saved ones (`--message FILE…`, `-` for stdin) and the
 * receiving mailbox, read-only with the readers of `poll --once` (src/mailbox/imap-reader.ts,
 * src/mailbox/pop3-reader.ts via src/poll/cycle.ts). Every message goes through the one classifier
 * (`classify`, as `poll --once`) and, when its token is not usable, `tokenCauses`; only a compact
 * record is kept once a message has been judged.
 *
 * One difference from a poll on 5.1+ IMAP: diagnose reads \Seen messages too. The server leaves
 * exactly the replies it could not use in the mailbox marked \Seen, so those are the ones a
 * "didn't find a token" log line points at. Each is judged as the server judged it when it was
 * still unseen, and says that it is \Seen now.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { classify, needsBody, type ClassifyContext, type MessageInput, type Verdict } from '../imip/classify.js';
import { MimeStreamParser } from '../imip/mime.js';
import { isHeaderLine } from '../imip/mime-headers.js';
import { tokenCauses } from '../imip/token-causes.js';
import type { Finding } from '../report/finding.js';
import { capText, capStrings } from '../report/cap.js';
import type { ServerAction } from '../server/poll-policy.js';
import type { ServerVersion } from '../server/release.js';
import type { WholeRead } from '../poll/connect.js';
import type { CycleContext, ReaderInfo } from '../poll/cycle.js';
import { isMailboxOpenError } from '../mailbox/open-error.js';

/** Actions that mean "the server had no usable token". */
const TOKENLESS: ReadonlySet<ServerAction> = new Set(['NO_TOKEN', 'MALFORMED_TO_ADDRESS', 'UNKNOWN_TOKEN', 'UNKNOWN_TOKEN_OLD']);

export interface ExaminedMessage {
  source: 'file' | 'stdin' | 'mailbox';
  /** `reply.eml`, `stdin`, `UID 17`, `message 3`. */
  label: string;
  path?: string;
  uid?: number;
  number?: number;
  uidl?: string | null;
  seen?: boolean;
  messageId: string | null;
  from: string;
  to: string;
  toHeader: string | null;
  date: string | null;
  isDsn: boolean;
  token: string | null;
  tokenStatus: Verdict['tokenStatus'];
  serverAction: ServerAction;
  /** The decisive line the server logs for it. */
  logLine: string;
  /** The message has no usable token (by the server's verdict or by a token cause). */
  tokenless: boolean;
  /** Token causes, most specific first, then the verdict's own findings. */
  findings: Finding[];
  notes: string[];
  problems: string[];
  /** The reply calendar's UID and ATTENDEEs (for the token store's causes). */
  calendarUid?: string | null;
  calendarAttendees?: string[];
  /** Set when a "didn't find a token" log line names this Message-ID. */
  logged?: { count: number; last: string; file: string; line: number };
}

export interface TokenContext {
  sendingAddress: string;
  version: ServerVersion;
}

/** Judge one message: the classifier's verdict, then the token causes when the token is not usable. */
export function examine(input: MessageInput, classifyCtx: ClassifyContext, where: Pick<ExaminedMessage, 'source' | 'label'> & Partial<ExaminedMessage>): ExaminedMessage {
  const verdict = classify(input, classifyCtx);
  let causes: Finding[] = tokenCauses(input, { sendingAddress: classifyCtx.sendingAddress, version: classifyCtx.version });
  // An invitation the server sent (REQUEST, CANCEL...), saved from the attendee's side: the token is
  // in its ORGANIZER, as it should be, and no header of a reply exists to judge.
  const method = verdict.calendar?.method?.toUpperCase() ?? null;
  const inOrganizer = causes.find((c) => c.id === 'token.only-in-calendar');
  if (method && method !== 'REPLY' && inOrganizer) {
    causes = [
      {
        id: 'diagnose.not-a-reply',
        severity: 'warning',
        path: 'message.calendar.METHOD',
        message: `This is an invitation (METHOD:${method}) whose ORGANIZER is the tokenized ${String(inOrganizer.evidence.ORGANIZER).replace(/^mailto:/i, '')}, as Calendar Server sends it to an attendee, not an attendee's reply: its headers say nothing about why a reply lost its token.`,
        evidence: { messageId: verdict.messageId, method, To: verdict.toHeader },
        fix: "Give --message the attendee's reply as it arrived in the calendar mailbox (saved there with its headers), or as it left the attendee's Sent folder.",
      },
    ];
  }
  const tokenless = causes.length > 0 || TOKENLESS.has(verdict.serverAction);
  const label = where.label;
  // Every value taken from the message is capped (ECHO_CAP characters, the cut said in the value):
  // a 1 MB header must not be echoed whole in several fields and every finding.
  const tag = (f: Finding): Finding => capStrings({ ...f, evidence: { message: label, ...f.evidence } });
  const own = verdict.findings.filter((f) => f.severity !== 'info');
  const cap = (v: string | null): string | null => (v === null ? null : capText(v));
  return {
    ...where,
    messageId: cap(verdict.messageId),
    from: capText(verdict.from),
    to: capText(verdict.to),
    toHeader: cap(verdict.toHeader),
    date: cap(verdict.date),
    isDsn: verdict.isDsn,
    token: cap(verdict.token),
    tokenStatus: verdict.tokenStatus,
    serverAction: verdict.serverAction,
    logLine: capText(verdict.logLine),
    tokenless,
    findings: [...causes, ...own].map(tag),
    notes: verdict.notes.map((n) => capText(n)),
    problems: verdict.problems.map((p) => capText(p)),
    ...(verdict.calendar ? { calendarUid: verdict.calendar.uid, calendarAttendees: verdict.calendar.attendees } : {}),
  };
}

export class MessageReadError extends Error {}

/** Bytes examined to tell a mail message from binary data or some other file. */
const SNIFF = 64 * 1024;

/**
 * Whether the start of a file looks like an RFC 5322 message: it is not empty and its first line is
 * a header. NUL bytes and bare CR line ends do not disqualify it: Python's email parser, which the
 * server uses, reads such a message, and `poll` classifies it, so `diagnose` examines it too. The
 * one parser both use (src/imip/mime.ts) ends lines at CRLF, LF or a bare CR, as Python does.
 */
export function notAMessage(head: Buffer): string | null {
  if (!head.length) return 'the file is empty';
  const sample = head.subarray(0, SNIFF);
  const text = sample.toString('latin1');
  const first = text.split(/\r\n|\r|\n/, 1)[0] ?? '';
  if (!first.trim()) return 'not a mail message: it starts with an empty line, so it has no headers';
  if (!isHeaderLine(first) || /^\s/.test(first)) {
    // Named as binary only when it is not a message anyway: a NUL inside a message is examined.
    if (sample.includes(0)) return 'binary data, not a mail message';
    return `not a mail message: the first line is not a header ("${capText(first, 60)}")`;
  }
  return null;
}

/** Parse a stream as one message, keeping only the bodies the verdict needs. */
async function parseStream(stream: Readable): Promise<MessageInput> {
  const parser = new MimeStreamParser(needsBody);
  let head: Buffer | null = Buffer.alloc(0);
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    if (head !== null) {
      head = Buffer.concat([head, chunk]);
      if (head.length < SNIFF) continue;
      const why = notAMessage(head);
      if (why) throw new MessageReadError(why);
      parser.write(head);
      head = null;
      continue;
    }
    parser.write(chunk);
  }
  if (head !== null) {
    const why = notAMessage(head);
    if (why) throw new MessageReadError(why);
    parser.write(head);
  }
  const parsed = parser.end();
  const known = ['From', 'To', 'Message-ID', 'Date', 'Subject', 'Content-Type', 'Received', 'MIME-Version'];
  if (!known.some((h) => parsed.headers.has(h))) throw new MessageReadError('not a mail message: none of From, To, Date, Subject, Message-ID in its headers');
  return { headers: parsed.headers, root: parsed.root, bodies: parsed.bodies, problems: parsed.problems };
}

function fsError(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  if (err instanceof MessageReadError) return err.message;
  if (e.code === 'ENOENT') return 'no such file';
  if (e.code === 'EACCES' || e.code === 'EPERM') return 'permission denied';
  if (e.code === 'EISDIR') return 'is a directory, not a message file';
  return e.message ?? String(err);
}

/** Read one saved message (`-`: stdin). MessageReadError says why it cannot be used. */
export async function readMessage(path: string, stdin: Readable = process.stdin): Promise<MessageInput> {
  if (path === '-') {
    try {
      return await parseStream(stdin);
    } catch (err) {
      throw new MessageReadError(fsError(err));
    }
  }
  try {
    const st = await stat(path);
    if (st.isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
    return await parseStream(createReadStream(path, { highWaterMark: 256 * 1024 }));
  } catch (err) {
    throw new MessageReadError(fsError(err));
  }
}

export interface MailboxRead {
  info: ReaderInfo | null;
  messages: ExaminedMessage[];
  /** Messages in the mailbox when read. */
  exists: number;
  /** \Seen messages among them (IMAP). */
  seen: number;
  error?: string;
  /** The session failed because the server stopped answering (a step ran past --timeout). */
  timedOut?: boolean;
  /** How Calendar Server's own client connects here (checked before reading), and what was found. */
  access?: import('../probes/server-access.js').ServerAccess;
  /** Nothing was read because of that check: why, in one sentence. */
  stopped?: string;
  /** The mailbox could not be opened: the findings `test-mailbox` gives for that failure. */
  openFindings?: Finding[];
}

/** The findings for a mailbox that could not be opened, when the error says which stage failed. */
async function openFailure(ctx: CycleContext, err: unknown): Promise<Pick<MailboxRead, 'error' | 'timedOut' | 'openFindings'>> {
  const error = (err as Error).message;
  const base = { error, ...(isTimeout(error) ? { timedOut: true } : {}) };
  if (!isMailboxOpenError(err)) return base;
  const { mailboxOpenFindings } = await import('../probes/mailbox-open-findings.js');
  const findings = mailboxOpenFindings(ctx.settings.receiving, ctx.version, err);
  return findings.length ? { ...base, openFindings: findings } : base;
}

/** Whether a reader's error is a step that ran past --timeout (IMAP or POP3, any stage). */
function isTimeout(message: string): boolean {
  return /^(IMAP|POP3) .+ timed out after /.test(message) || /: (IMAP|POP3) .+ timed out after /.test(message);
}

/**
 * Read the whole mailbox read-only (IMAP EXAMINE + BODY.PEEK, POP3 without DELE), \Seen messages
 * included, and judge each message as the server did when it first read it.
 */
export async function readMailbox(ctx: CycleContext): Promise<MailboxRead> {
  const [{ openReader, readWhole, checkAccess }, { classifyContext, accessStops, serverLoginReport, stoppedText }] = await Promise.all([import('../poll/connect.js'), import('../poll/cycle.js')]);
  const messages: ExaminedMessage[] = [];
  let seen = 0;
  // As the server's own client connects (the reader then connects the same way); where it cannot
  // log in, or the tool stops before its login, nothing is read.
  let access;
  try {
    access = await checkAccess(ctx);
  } catch (err) {
    return { info: null, messages, exists: 0, seen: 0, ...(await openFailure(ctx, err)) };
  }
  if (accessStops(access)) return { info: null, messages, exists: 0, seen: 0, access, stopped: stoppedText(serverLoginReport(ctx, access).stopped, access.findings) };
  let reader;
  try {
    reader = await openReader(ctx, true);
  } catch (err) {
    return { info: null, messages, exists: 0, seen: 0, access, ...(await openFailure(ctx, err)) };
  }
  const onMessage = (m: { ref: { uid?: number; number?: number; uidl?: string | null }; seen?: boolean; input: MessageInput }): void => {
    if (m.seen) seen++;
    // As the server judged it when it was unseen: the \Seen flag is said separately.
    const label = m.ref.uid !== undefined ? `UID ${m.ref.uid}` : `message ${m.ref.number ?? '?'}`;
    const ex = examine(m.input, classifyContext(ctx, undefined), {
      source: 'mailbox',
      label,
      ...(m.ref.uid !== undefined ? { uid: m.ref.uid } : {}),
      ...(m.ref.number !== undefined ? { number: m.ref.number } : {}),
      ...(m.ref.uidl !== undefined ? { uidl: m.ref.uidl } : {}),
      ...(m.seen !== undefined ? { seen: m.seen } : {}),
    });
    if (m.seen && ex.tokenless) {
      ex.notes.push('\\Seen: the server has read it already and leaves it in the mailbox; from 5.1 it never reads it again');
    }
    messages.push(ex);
  };
  let read: WholeRead;
  try {
    read = await readWhole(ctx.protocol, reader, { unseenOnly: false, onMessage }, () => messages.length);
  } finally {
    await reader.close();
  }
  const exists = 'stats' in read ? read.stats.exists : read.exists;
  const error = 'error' in read ? read.error : undefined;
  messages.sort((a, b) => (a.uid ?? a.number ?? 0) - (b.uid ?? b.number ?? 0));
  return { info: reader.info, messages, exists, seen, access, ...(error ? { error, ...(isTimeout(error) ? { timedOut: true } : {}) } : {}) };
}
