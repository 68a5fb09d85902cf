/**
 * Output of `imip send-test`: the JSON document (built by the command, printed as is) and its
 * human rendering, piece by piece so the command can print what it sent before it waits.
 * Nothing here decides anything.
 */
import type { SentTokenState } from '../tokens/sent-token.js';
import type { ChalkInstance } from 'chalk';
import type { Finding } from '../report/finding.js';
import { renderFindings, summaryLine, insecureNotice } from '../report/render.js';
import { GLYPH, type OutputOptions } from '../report/style.js';
import type { ReplyReport, SeenMessage } from './wait-reply.js';
import { forTerminal, printable } from '../report/terminal-text.js';

export type SendTestMode = 'send' | 'dry-run' | 'save';

/**
 * The finding ids only send-test raises, with their usual severity and a one-line summary (for the
 * catalog and the manual). Failures of SMTP and of the mailbox use the probes' ids (`smtp.*`,
 * `mailbox.*`, `tls.insecure`) where one fits, so an id means the same thing in every command.
 */
export const SEND_TEST_FINDINGS = {
  attendeeNotRouted: { id: 'send-test.attendee-not-routed', severity: 'error', summary: 'No AddressPattern routes the attendee to iMIP: the server would never invite it by mail (--force sends anyway, as a warning).' },
  imipDisabled: { id: 'send-test.imip-disabled', severity: 'error', summary: 'Scheduling.iMIP.Enabled is false: the server sends no invitation by mail (--force sends anyway, as a warning).' },
  smtpRejected: { id: 'send-test.smtp-rejected', severity: 'error', summary: 'The SMTP server refused the sender, the recipient or the message; the invitation was not sent.' },
  smtpFailed: { id: 'send-test.smtp-failed', severity: 'error', summary: 'Sending failed for another reason (TLS handshake, protocol); the invitation was not sent.' },
  mailboxFailed: { id: 'send-test.mailbox-failed', severity: 'error', summary: 'With --wait-reply: the receiving mailbox cannot be read, so nothing was sent.' },
  tokenNotRecorded: { id: 'send-test.token-not-recorded', severity: 'warning', summary: 'The invitation was sent but its token could not be written to the state directory.' },
  noReply: { id: 'send-test.no-reply', severity: 'error', summary: 'With --wait-reply: no answer to the invitation arrived in time (or the mailbox could not be read to the end).' },
  bounced: { id: 'send-test.bounced', severity: 'error', summary: 'With --wait-reply: the invitation came back undeliverable instead of a reply.' },
  replyTokenMissing: { id: 'send-test.reply-token-missing', severity: 'error', summary: 'With --wait-reply: a reply arrived without this invitation\'s token where the server reads it (when no token.* cause says more).' },
  replyNotAccepted: { id: 'send-test.reply-not-accepted', severity: 'error', summary: 'With --wait-reply: a reply kept the token but the server would not accept it (no calendar, not a REPLY, another attendee, \\Seen).' },
} as const satisfies Record<string, { id: string; severity: Finding['severity']; summary: string }>;

export interface SendTestEvent {
  summary: string;
  start: string;
  end: string;
  timeZone: string;
  durationMinutes: number;
}

export interface RoutingReport {
  /** `Scheduling.iMIP.Enabled`. */
  enabled: boolean;
  patterns: string[];
  /** The address compared (lower-cased from 4.0). */
  compared: string;
  matched: string | null;
  invalid: string[];
  /** Sent although the server would not route the attendee to iMIP. */
  forced: boolean;
}

export interface SentReport {
  /** The SMTP server's final reply. */
  reply: string;
  queueId: string | null;
  code: number | null;
  accepted: string[];
  rejected: string[];
  /** STARTTLS was used (null when not known). */
  encrypted: boolean | null;
  authenticated: boolean;
  ms: number;
}

/** The `--json` document (and what the human output is rendered from). */
export interface SendTestDoc {
  command: 'send-test';
  serverVersion: Record<string, unknown>;
  /** `--set` overrides of this run, when any. */
  overrides?: Array<Record<string, unknown>>;
  ok: boolean;
  mode: SendTestMode;
  config: string;
  attendee: string;
  organizer: string;
  token: string;
  plusAddress: string;
  messageId: string;
  uid: string;
  subject: string;
  event: SendTestEvent;
  envelope: { from: string; to: string[] };
  routing: RoutingReport;
  smtp: { host: string; port: number; tls: string; username: string | null } | null;
  sent: SentReport | null;
  /** Where the token was recorded (send-test's token store). */
  recorded: string | null;
  saved: string | null;
  findings: Finding[];
  /** --wait-reply: whether the server's token store holds the token sent (null: it could not be read). */
  serverStore?: SentTokenState;
  /** The wait's outcome; its findings are in `findings`. */
  reply: Omit<ReplyReport, 'findings'> | null;
  /**
   * With --reply-from: the round trip's legs, cleanup and what the server does if it takes the
   * reply first (roundtrip/run.ts, which builds on this folder); its findings are in `findings`.
   */
  roundTrip?: object;
  /** The whole message (dry run only). */
  raw?: string;
  /** SMTP commands and replies, secrets redacted (--verbose only). */
  transcript?: string[];
}

const LABEL = 14;

function row(c: ChalkInstance, label: string, value: string, note = ''): string {
  return `  ${c.dim(label.padEnd(LABEL))}${value}${note ? `  ${c.dim(note)}` : ''}`;
}

/** `Wed 25 Nov 2026 10:00–10:30 (Europe/Berlin)` in the event's zone. */
export function eventWhen(e: SendTestEvent): string {
  const opts = { timeZone: e.timeZone, hourCycle: 'h23' as const };
  try {
    const day = new Intl.DateTimeFormat('en-GB', { ...opts, weekday: 'short', day: 'numeric', month: 'short', year: 'numeric' }).format(new Date(e.start));
    const time = (iso: string): string => new Intl.DateTimeFormat('en-GB', { ...opts, hour: '2-digit', minute: '2-digit' }).format(new Date(iso));
    return `${day} ${time(e.start)}–${time(e.end)} (${e.timeZone}, ${e.durationMinutes} min)`;
  } catch {
    return `${e.start} – ${e.end}`;
  }
}

function tlsText(tls: string): string {
  return tls === 'starttls-required' ? 'STARTTLS required' : tls === 'starttls-opportunistic' ? 'STARTTLS when offered' : tls;
}

/** Title, release, and what is (or would be) sent. */
export function renderPlan(doc: SendTestDoc, c: ChalkInstance, versionLine: string): string[] {
  doc = forTerminal(doc);
  const title =
    doc.mode === 'dry-run'
      ? 'dry run: nothing is sent'
      : doc.mode === 'save'
        ? `written to ${doc.saved ?? '(not written)'}; nothing is sent`
        : doc.smtp
          ? `through SMTP ${doc.smtp.host}:${doc.smtp.port} (${tlsText(doc.smtp.tls)})`
          : '';
  const lines = [`${c.bold('imip send-test')}  invitation to ${doc.attendee}${title ? `, ${title}` : ''}`, c.dim(versionLine), ...insecureNotice(doc.findings, c).notice, ''];
  const r = doc.routing;
  const routing = !r.enabled
    ? 'iMIP is disabled (Scheduling.iMIP.Enabled)'
    : r.matched !== null
      ? `AddressPatterns: ${JSON.stringify(r.matched)} matches ${r.compared}`
      : `AddressPatterns: no pattern matches ${r.compared}${r.forced ? ' (sent anyway: --force)' : ''}`;
  lines.push(row(c, 'Attendee', doc.attendee, routing));
  lines.push(row(c, 'Organizer', doc.organizer, `MAIL FROM:<${doc.envelope.from}>`));
  lines.push(row(c, 'Subject', doc.subject));
  lines.push(row(c, 'When', eventWhen(doc.event)));
  lines.push(row(c, 'UID', doc.uid));
  lines.push(row(c, 'Message-ID', doc.messageId));
  lines.push(row(c, 'Token', doc.token));
  lines.push(row(c, 'Plus address', doc.plusAddress, 'Reply-To and ORGANIZER; replies must come back to it'));
  if (doc.saved && doc.mode !== 'save') lines.push(row(c, 'Saved', doc.saved));
  return lines;
}

/** The message itself, for --dry-run. */
/**
 * The message for reading (`--dry-run`): every base64 text part (the calendar, the plain and HTML
 * bodies) decoded, each marked as decoded, so the admin reads the iCalendar instead of base64.
 * The headers are left as sent; `--save` writes the exact bytes.
 */
export function decodeForReading(raw: string, mark: (s: string) => string = (s) => s, shown: (s: string) => string = (s) => s): { text: string; decoded: number } {
  // Line by line: `shown` (the terminal's escapes for control characters) never meets a CRLF or a mark.
  const lines = raw.replace(/\r\n$/, '').split('\r\n').map(shown);
  const out: string[] = [];
  let decoded = 0;
  let i = 0;
  while (i < lines.length) {
    const line = lines[i]!;
    out.push(line);
    i++;
    if (!line.startsWith('--')) continue;
    // A part's header block follows a boundary line.
    const headers: string[] = [];
    while (i < lines.length && lines[i] !== '') {
      headers.push(lines[i]!);
      out.push(lines[i]!);
      i++;
    }
    const unfolded = headers.join('\n').replace(/\n[ \t]+/g, ' ');
    const type = /^content-type:\s*([^;\s]+)/im.exec(unfolded)?.[1]?.toLowerCase() ?? '';
    const base64 = /^content-transfer-encoding:\s*base64\s*$/im.test(unfolded);
    if (!type.startsWith('text/') || !base64 || i >= lines.length) continue;
    out.push(lines[i]!); // the blank line
    i++;
    const body: string[] = [];
    while (i < lines.length && !lines[i]!.startsWith('--')) body.push(lines[i++]!);
    const trailingBlank = body.length && body[body.length - 1] === '' ? 1 : 0;
    const text = Buffer.from(body.join(''), 'base64').toString('utf8').replace(/\r\n/g, '\n').replace(/\n$/, '');
    out.push(mark(`[${type} part decoded from base64 for reading; the message carries it in base64, --save writes the exact bytes]`));
    out.push(...text.split('\n').map(shown));
    out.push(mark(`[end of decoded ${type} part]`));
    if (trailingBlank) out.push('');
    decoded++;
  }
  return { text: out.join('\n'), decoded };
}

export function renderRaw(raw: string, c: ChalkInstance): string[] {
  const { text, decoded } = decodeForReading(raw, (s) => c.cyan(s), printable);
  const note = decoded ? `, ${decoded} base64 part${decoded === 1 ? '' : 's'} shown decoded` : '';
  return ['', c.dim(`----- message (${Buffer.byteLength(raw, 'utf8')} bytes${note}) -----`), text, c.dim('----- end of message -----')];
}

/** The SMTP outcome. */
export function renderSent(doc: SendTestDoc, c: ChalkInstance, out: OutputOptions): string[] {
  doc = forTerminal(doc);
  const s = doc.sent;
  if (!s) return [];
  const lines = ['', `${c.green(GLYPH.ok)} ${c.bold('sent')}          ${s.reply}`];
  const facts = [
    s.queueId ? `queue id ${s.queueId}` : 'no queue id in the reply',
    s.encrypted === true ? 'STARTTLS' : s.encrypted === false ? 'no TLS (the server offered no STARTTLS, or it failed)' : null,
    s.authenticated ? `authenticated as ${doc.smtp?.username ?? ''}` : doc.smtp?.username ? 'no AUTH (not offered)' : 'no AUTH (no Sending.Username)',
    `${Math.round(s.ms)} ms`,
  ].filter(Boolean);
  lines.push(`    ${c.dim(facts.join(', '))}`);
  if (doc.recorded) lines.push(`    ${c.dim(`token recorded in ${doc.recorded}`)}`);
  if (out.verbose && doc.transcript?.length) lines.push('', c.bold('SMTP transcript'), ...doc.transcript.map((l) => `  ${c.dim(l)}`));
  return lines;
}

export function renderWaiting(mailbox: { protocol: string; host: string; port: number; method: string }, seconds: number, c: ChalkInstance): string {
  mailbox = forTerminal(mailbox);
  return `\n${c.dim(`… waiting up to ${seconds} s for the reply in ${mailbox.protocol.toUpperCase()} ${mailbox.host}:${mailbox.port} (${mailbox.method})`)}`;
}

/** One line per message looked at while waiting (--verbose). */
export function renderSeen(m: SeenMessage, c: ChalkInstance): string {
  m = forTerminal(m);
  const what = m.matchedBy.length ? `answers this invitation (${m.matchedBy.join(', ')})` : 'not about this invitation';
  return c.dim(`    ${GLYPH.info} new message ${m.messageId ?? '(no Message-ID)'} from ${m.from || '?'} to ${m.to || '?'}: ${what}`);
}

const OUTCOME_TEXT: Record<ReplyReport['outcome'], string> = {
  accepted: 'accepted',
  'token-missing': 'token-missing',
  'not-accepted': 'not-accepted',
  'no-reply': 'no-reply',
};

/** The verdict on the wait. */
export function renderReply(r: Omit<ReplyReport, 'findings'>, c: ChalkInstance, out: OutputOptions): string[] {
  r = forTerminal(r);
  const ok = r.outcome === 'accepted';
  const glyph = ok ? c.green(GLYPH.ok) : c.red(GLYPH.error);
  const lines = ['', `${glyph} ${c.bold(OUTCOME_TEXT[r.outcome].padEnd(14))}${r.reason}`];
  const m = r.message;
  if (m) {
    lines.push(`    ${c.dim('from')} ${m.from || '?'}  ${c.dim('to')} ${m.to || '?'}  ${c.dim(`after ${r.waitedSeconds} s`)}`);
    lines.push(`    ${c.dim('Subject:')} ${m.subject}`);
    lines.push(`    ${c.dim('Message-ID:')} ${m.messageId ?? '(none)'}  ${c.dim(`recognised by ${m.matchedBy.join(', ')}`)}`);
    const server = [r.serverAction, r.partstat ? `PARTSTAT=${r.partstat}` : null, r.mailboxEffect ? `mailbox: ${r.mailboxEffect}` : null].filter(Boolean);
    lines.push(`    ${c.dim('server:')} ${server.join(', ')}`);
    if (r.logLine) lines.push(`    ${c.dim('log:')} ${r.logLine}`);
  }
  if (out.verbose) for (const n of r.notes) lines.push(`    ${c.dim(`note: ${n}`)}`);
  return lines;
}

/** Findings, then the summary line. */
export function renderEnd(doc: SendTestDoc, c: ChalkInstance, out: OutputOptions): string[] {
  doc = forTerminal(doc);
  const lines: string[] = [];
  if (!out.quiet) {
    lines.push('');
    const rest = insecureNotice(doc.findings, c).rest;
    if (rest.length) lines.push(...renderFindings(rest, c, { verbose: out.verbose }));
  }
  lines.push(summaryLine(doc.findings, c, summaryExtra(doc)));
  return lines;
}

function summaryExtra(doc: SendTestDoc): string {
  const parts: string[] = [];
  if (doc.mode === 'dry-run') parts.push('dry run, nothing sent');
  else if (doc.mode === 'save') parts.push(doc.saved ? `saved to ${doc.saved}, nothing sent` : 'nothing sent');
  else if (doc.sent) parts.push(doc.sent.queueId ? `sent, queued as ${doc.sent.queueId}` : 'sent');
  else parts.push('not sent');
  if (doc.reply) parts.push(`reply: ${doc.reply.outcome}`);
  return `; ${parts.join('; ')}`;
}
