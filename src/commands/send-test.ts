/**
 * `imip send-test`: build the invitation exactly as Calendar Server builds it
 * (`MailSender.outbound`, `generateEmail`; 2.x–4.x `MailHandler`), check it against the iMIP
 * checklist, refuse what the server would never send (AddressPatterns; port 465, as the server only
 * speaks STARTTLS), send it through `Sending.*` with the server's SMTP semantics, record the token,
 * and optionally watch the receiving mailbox
 * (read-only) for the attendee's reply, judged like `imip poll` judges it.
 *
 * Exit codes: 0 sent (and, with --wait-reply, the reply would be accepted) or a clean dry run;
 * 1 a problem found (refused, SMTP failed, no or unusable reply); 2 cannot run (bad input).
 */
import { writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { implicitTlsPort } from '../checks/sending.js';
import { checkOutgoingRequest } from '../imip/checklist.js';
import { CLIENT_SHAPES, type ClientShape } from '../imip/client-replies.js';
import { buildInvitation, newToken, type Invitation } from '../imip/invitation.js';
import { decodeWords } from '../imip/mime.js';
import { defaultStart, parseDuration, parseStart, validateAddress } from '../imip/input-validation.js';
import { CannotRunError, EXIT_OK, EXIT_PROBLEMS } from '../report/exit.js';
import { hasErrors, type Finding } from '../report/finding.js';
import { serverAddress } from '../server/address.js';
import { matchAddressPatterns } from '../server/patterns.js';
import { shouldDeleteAllMail } from '../server/poll-policy.js';
import { readTokens, recordToken, stateDir, tokenLookup, TOKENS_FILE, type SentToken } from '../state/tokens.js';
import type { ConfigContext } from '../checks/rule.js';
import type { ConnectOptions } from '../config/settings.js';
import {
  SEND_TEST_FINDINGS as F,
  renderEnd,
  renderPlan,
  renderRaw,
  renderReply,
  renderSeen,
  renderSent,
  renderWaiting,
  type RoutingReport,
  type SendTestDoc,
} from '../send/render.js';
import type { SmtpFailureKind } from '../send/smtp-send.js';
import type { SeenMessage } from '../send/wait-reply.js';
import { renderRoundTrip } from '../roundtrip/render.js';
import type { MailboxFailureKind } from '../send/mailbox-error.js';
import type { ReplyTarget } from '../send/reply-match.js';
import type { ReplyReport } from '../send/wait-reply.js';
import {
  colours,
  connectOptions,
  loadForCommand,
  outputOptions,
  printJson,
  overridesField,
  overridesLine,
  versionJson,
  versionLine,
  docSinkActive,
  type ConnectFlags,
  type SharedFlags,
} from './shared.js';
import { printable } from '../report/terminal-text.js';
import { isMailboxOpenError } from '../mailbox/open-error.js';

export interface SendTestFlags extends SharedFlags, ConnectFlags {
  to?: string;
  organizer?: string;
  summary?: string;
  start?: string;
  duration?: string;
  dryRun?: boolean;
  save?: string;
  waitReply?: string;
  force?: boolean;
  stateDir?: string;
  tokenStore?: string;
  replyFrom?: string;
  replySubmit?: string;
  replyPasswordFile?: string;
  client?: string;
  keepReply?: boolean;
}

const SIGNAL_EXIT: Record<string, number> = { SIGHUP: 129, SIGINT: 130, SIGTERM: 143 };

/**
 * Where a run that a signal may stop is, and what it leaves: the round trip's RoundTripTracker
 * (src/roundtrip/run.ts), or {@link WaitTracker} for --wait-reply alone.
 */
interface RunTracker {
  stage: string;
  invitation: 'none' | 'maybe' | 'sent' | 'removed';
  where(): string;
  stopping(seconds: number): string;
  mayBeLeft(): string;
}

/** --wait-reply without a round trip: the mailbox is only read, so nothing is ever to remove. */
class WaitTracker implements RunTracker {
  stage: 'before-send' | 'sending' | 'delivering' = 'before-send';
  invitation: RunTracker['invitation'] = 'none';

  constructor(
    private readonly messageId: string,
    private readonly token: string,
  ) {}

  where(): string {
    return this.stage === 'before-send' ? 'before the invitation was sent' : this.stage === 'sending' ? 'while the invitation was being sent' : 'while waiting for the reply';
  }

  stopping(seconds: number): string {
    return this.stage === 'sending' ? `once the invitation's SMTP session ends (within ${seconds} s), before waiting for the reply` : 'the wait for the reply';
  }

  mayBeLeft(): string {
    const sent = this.invitation === 'sent' ? `the invitation was sent (Message-ID ${this.messageId}, token ${this.token})` : `the invitation may have been sent (Message-ID ${this.messageId})`;
    return `${sent}; the mailbox was only read, nothing to remove`;
  }
}

/** `--reply-from` without `--wait-reply`: the whole round trip is bounded by this. */
const DEFAULT_ROUND_TRIP_SECONDS = 300;

export const DEFAULT_SUMMARY = 'imip test invitation';
/** Longest `--wait-reply`: a day. */
const MAX_WAIT_SECONDS = 86_400;
const MAX_SUMMARY = 1000;

const I = 'Scheduling.iMIP';

/** SMTP failures under the ids `test-smtp` uses for the same thing. */
const SMTP_IDS: Record<SmtpFailureKind, string> = {
  'implicit-tls-port': 'sending.implicit-tls-port',
  'no-server': 'sending.server-missing',
  dns: 'smtp.dns',
  connect: 'smtp.connect-failed',
  timeout: 'smtp.timeout',
  certificate: F.smtpFailed.id,
  'starttls-missing': 'smtp.starttls-missing',
  auth: 'smtp.auth-failed',
  'basic-auth-disabled': 'smtp.basic-auth-disabled',
  rejected: F.smtpRejected.id,
  tls: F.smtpFailed.id,
  protocol: F.smtpFailed.id,
};

/** What failed, for the "not sent" line: only a refusal is the SMTP server not taking the message. */
const SMTP_FAILED: Record<SmtpFailureKind, string> = {
  'implicit-tls-port': 'Sending.Port expects TLS from the first byte, which Calendar Server does not speak when sending',
  'no-server': 'there is no SMTP server to send through',
  dns: "the SMTP server's name could not be looked up",
  connect: 'the connection to the SMTP server failed',
  timeout: 'the SMTP server stopped answering',
  certificate: "the SMTP server's certificate was not accepted",
  'starttls-missing': 'the SMTP server does not offer STARTTLS',
  auth: 'the login to the SMTP server failed',
  'basic-auth-disabled': 'the SMTP server does not allow a password login',
  rejected: 'the SMTP server did not take it',
  tls: 'the TLS handshake with the SMTP server failed',
  protocol: 'the SMTP exchange failed',
};

/** Mailbox failures under the ids `test-mailbox` uses. */
const MAILBOX_IDS: Partial<Record<MailboxFailureKind, string>> = {
  auth: 'mailbox.login-failed',
  certificate: 'mailbox.certificate-untrusted',
  connect: 'mailbox.connect-failed',
  dns: 'mailbox.dns',
  timeout: 'mailbox.timeout',
  'cleartext-login': 'mailbox.pop-cleartext-login',
};

/** `--client`: the reply shape of the round trip (default apple). */
function parseClient(value: string | undefined): ClientShape {
  const v = (value ?? 'apple').trim().toLowerCase();
  if (!(CLIENT_SHAPES as readonly string[]).includes(v)) throw new CannotRunError(`--client: ${JSON.stringify(value)} is not one of ${CLIENT_SHAPES.join(', ')}`);
  return v as ClientShape;
}

/** `--wait-reply`: whole seconds, 1 to a day. */
export function parseWaitSeconds(value: string): number {
  const text = typeof value === 'string' ? value.trim() : '';
  if (!/^\d+$/.test(text) || Number(text) < 1 || Number(text) > MAX_WAIT_SECONDS) {
    throw new CannotRunError(`--wait-reply: ${JSON.stringify(value)} is not a number of seconds from 1 to ${MAX_WAIT_SECONDS}; give one such as 600`);
  }
  return Number(text);
}

function localTimeZone(): string {
  const tz = Intl.DateTimeFormat().resolvedOptions().timeZone;
  return tz && tz !== 'Etc/Unknown' ? tz : 'UTC';
}

/** Would the server send this invitation by mail at all (`DeliveryService.matchCalendarUserAddress`)? */
function routing(ctx: ConfigContext, attendee: string, force: boolean): { report: RoutingReport; findings: Finding[] } {
  const s = ctx.settings;
  const cuaddr = `mailto:${attendee}`;
  const verdict = matchAddressPatterns(s.addressPatterns, cuaddr, ctx.features.patternsLowercase);
  const report: RoutingReport = {
    enabled: s.enabled,
    patterns: [...s.addressPatterns],
    compared: verdict.compared,
    matched: verdict.matched,
    invalid: verdict.invalid,
    forced: false,
  };
  const findings: Finding[] = [];
  const severity = force ? 'warning' : 'error';
  const forced = force ? ' Sending anyway because of --force.' : '';
  if (!s.enabled) {
    findings.push({
      id: F.imipDisabled.id,
      severity,
      path: `${I}.Enabled`,
      message: `iMIP is disabled (Scheduling.iMIP.Enabled is false): the server sends no invitation by mail at all.${forced}`,
      evidence: { enabled: false },
      fix: 'Set Scheduling.iMIP.Enabled to <true/> and restart the server; --force sends this test anyway.',
    });
  }
  if (verdict.matched === null) {
    const upper = ctx.features.patternsLowercase ? s.addressPatterns.filter((p) => /[A-Z]/.test(p.replace(/\\[A-Z]/g, ''))) : [];
    const why = s.addressPatterns.length === 0
      ? 'AddressPatterns is empty, so no attendee is invited by mail'
      : `none of the ${s.addressPatterns.length} AddressPatterns matches ${verdict.compared} at its start (re.match)${ctx.features.patternsLowercase ? ', compared lower-cased as this release does' : ''}`;
    const notes = [
      upper.length ? `pattern(s) with upper-case letters never match a lower-cased address: ${upper.map((p) => JSON.stringify(p)).join(', ')}` : '',
      verdict.invalid.length ? `pattern(s) that do not compile are skipped: ${verdict.invalid.map((p) => JSON.stringify(p)).join(', ')}` : '',
    ].filter(Boolean);
    findings.push({
      id: F.attendeeNotRouted.id,
      severity,
      path: `${I}.AddressPatterns`,
      message: `The server would never invite ${attendee} by mail: ${why}${notes.length ? `; ${notes.join('; ')}` : ''}. It would log "Unknown calendar user address: ${cuaddr}" and mark the attendee SCHEDULE-STATUS 3.7.${forced}`,
      evidence: { attendee: cuaddr, compared: verdict.compared, patterns: s.addressPatterns, invalid: verdict.invalid, lowercased: ctx.features.patternsLowercase },
      fix: `Add a pattern that matches, such as <string>mailto:.*@${(attendee.split('@')[1] ?? 'example.com').toLowerCase().replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}</string> (or mailto:.* for every address), and restart the server; --force sends this test anyway.`,
    });
  }
  report.forced = force && findings.length > 0;
  return { report, findings };
}

function buildDoc(
  ctx: ConfigContext,
  configPath: string,
  inv: Invitation,
  opts: { mode: SendTestDoc['mode']; attendee: string; organizer: string; summary: string; start: Date; end: Date; timeZone: string; duration: number },
  route: RoutingReport,
  findings: Finding[],
): SendTestDoc {
  const subject = inv.headers.find(([n]) => n === 'Subject')?.[1] ?? '';
  return {
    command: 'send-test',
    serverVersion: versionJson(ctx.version),
    ok: false,
    mode: opts.mode,
    config: configPath,
    attendee: opts.attendee,
    organizer: opts.organizer,
    token: inv.token,
    plusAddress: inv.plusAddress,
    messageId: inv.messageId,
    uid: inv.uid,
    subject: decodeWords(subject),
    event: { summary: opts.summary, start: opts.start.toISOString(), end: opts.end.toISOString(), timeZone: opts.timeZone, durationMinutes: opts.duration },
    envelope: inv.envelope,
    routing: route,
    smtp: null,
    sent: null,
    recorded: null,
    saved: null,
    findings,
    reply: null,
  };
}

function replyFindings(r: ReplyReport, seconds: number): Finding[] {
  const out: Finding[] = [...r.findings];
  if (r.outcome === 'accepted') return out;
  if (r.bounced) {
    out.push({
      id: F.bounced.id,
      severity: 'error',
      path: 'reply',
      message: r.reason,
      evidence: { messageId: r.message?.messageId ?? null, from: r.message?.from ?? null },
      fix: 'Read the bounce: the attendee\'s address may be wrong, or a relay refused the organizer as sender (MAIL FROM is the organizer\'s own address, as the server sends it).',
    });
  } else if (r.outcome === 'no-reply') {
    out.push({
      id: F.noReply.id,
      severity: 'error',
      path: 'reply',
      message: r.error ? r.reason : `No reply to this invitation arrived in the mailbox within ${seconds} s.`,
      evidence: { examined: r.examined, mailbox: `${r.mailbox.protocol}://${r.mailbox.host}:${r.mailbox.port}`, ...(r.error ? { error: r.error } : {}) },
      fix: r.error
        ? (r.notes[0] ?? 'Run "imip test-mailbox" to see where reading the mailbox fails.')
        : 'Make sure the attendee answered with a calendar client (Accept/Decline), not by writing a mail; look in their spam folder for the invitation; wait longer with a larger --wait-reply. If Calendar Server itself polls this mailbox, it may have taken the reply first: look at the organizer\'s calendar.',
    });
  } else if (r.outcome === 'token-missing' && r.causes.length === 0) {
    out.push({
      id: F.replyTokenMissing.id,
      severity: 'error',
      path: 'reply',
      message: `A reply arrived, but ${r.reason}.`,
      evidence: { to: r.message?.to ?? null, token: r.token },
      fix: 'The reply must go to the plus address in Reply-To (the ORGANIZER), first in To, unchanged.',
    });
  } else if (r.outcome === 'not-accepted') {
    out.push({
      id: F.replyNotAccepted.id,
      severity: 'error',
      path: 'reply',
      message: `A reply arrived with the token intact, but ${r.reason}.`,
      evidence: { serverAction: r.serverAction, method: r.method, partstat: r.partstat, logLine: r.logLine },
      fix: 'Answer with the calendar client\'s Accept/Decline buttons, which send a METHOD:REPLY calendar for the invited address; see the other findings for what the server objects to.',
    });
  }
  return out;
}

function emit(doc: SendTestDoc, out: ReturnType<typeof outputOptions>, lines: string[]): number {
  if (out.json) printJson(doc);
  else process.stdout.write(`${lines.join('\n')}\n`);
  return doc.ok ? EXIT_OK : EXIT_PROBLEMS;
}

export async function run(flags: SendTestFlags): Promise<number> {
  const out = outputOptions(flags);
  const c = await colours(out);

  // --- what the admin typed (exit 2 on anything unusable) ------------------------------------
  const attendee = validateAddress('--to', flags.to ?? '');
  const organizerFlag = flags.organizer !== undefined ? validateAddress('--organizer', flags.organizer) : undefined;
  const summary = flags.summary ?? DEFAULT_SUMMARY;
  if (summary.includes('\0')) throw new CannotRunError('--summary: contains a NUL character');
  if ([...summary].length > MAX_SUMMARY) throw new CannotRunError(`--summary: longer than ${MAX_SUMMARY} characters`);
  const timeZone = localTimeZone();
  const now = new Date();
  const start = flags.start !== undefined ? parseStart(flags.start, timeZone) : defaultStart(now, timeZone);
  const duration = parseDuration(flags.duration ?? '30');
  const save = flags.save !== undefined ? flags.save : undefined;
  if (save !== undefined && (!save.trim() || /[\0\r\n]/.test(save))) throw new CannotRunError(`--save: ${JSON.stringify(save)} is not a file name`);
  // `--save -`: the message on stdout (to pipe or redirect), the report on stderr.
  const saveToStdout = save === '-';
  if (saveToStdout && out.json) throw new CannotRunError('--save - writes the message on stdout, where --json writes its document: give --save a file name, or leave out --json');
  const offline = Boolean(flags.dryRun) || save !== undefined;
  const roundTrip = flags.replyFrom !== undefined;
  for (const [given, name] of [[flags.replySubmit, '--reply-submit'], [flags.replyPasswordFile, '--reply-password-file'], [flags.client, '--client'], [flags.keepReply, '--keep-reply']] as const) {
    if (given !== undefined && !roundTrip) throw new CannotRunError(`${name} belongs to the round trip: give --reply-from too`);
  }
  const waitSeconds = flags.waitReply !== undefined ? parseWaitSeconds(flags.waitReply) : roundTrip ? DEFAULT_ROUND_TRIP_SECONDS : null;
  if (waitSeconds !== null && offline) {
    throw new CannotRunError(`${roundTrip ? '--reply-from' : '--wait-reply'} waits for the answer to an invitation that was sent; it cannot go with --dry-run or --save, which send nothing`);
  }
  const clientShape = roundTrip ? parseClient(flags.client) : null;
  const account = roundTrip ? (await import('../roundtrip/account.js')).attendeeAccount({ replyFrom: flags.replyFrom!, ...(flags.replySubmit !== undefined ? { replySubmit: flags.replySubmit } : {}), ...(flags.replyPasswordFile !== undefined ? { replyPasswordFile: flags.replyPasswordFile } : {}) }) : null;
  const conn: ConnectOptions | null = offline ? null : connectOptions(flags);

  // --- the config, the message, the checks ---------------------------------------------------
  const { ctx, configPath, overrides } = await loadForCommand(flags);
  const s = ctx.settings;
  if (!serverAddress(s.sending.address)) {
    throw new CannotRunError(
      s.sending.address.trim()
        ? `${I}.Sending.Address ${JSON.stringify(s.sending.address)} does not hold exactly one @: the server cannot build the plus address (run "imip check-config")`
        : `${I}.Sending.Address is empty in ${configPath}: there is no address for replies to come back to (run "imip check-config")`,
    );
  }
  const token = newToken();
  const inv = buildInvitation({
    sendingAddress: s.sending.address,
    ...(organizerFlag ? { organizer: organizerFlag } : {}),
    attendee,
    summary,
    start,
    durationMinutes: duration,
    timeZone,
    token,
    version: ctx.version,
    serverHostName: s.serverHostName.trim() || hostname(),
    now,
  });
  const organizer = inv.envelope.from;
  const route = routing(ctx, attendee, Boolean(flags.force));
  const findings: Finding[] = [...checkOutgoingRequest(inv.raw), ...route.findings];
  const mode: SendTestDoc['mode'] = flags.dryRun ? 'dry-run' : save !== undefined ? 'save' : 'send';
  const end = new Date(Math.floor(start.getTime() / 1000) * 1000 + duration * 60_000);
  const doc = buildDoc(ctx, configPath, inv, { mode, attendee, organizer, summary, start, end, timeZone, duration }, route.report, findings);
  Object.assign(doc, overridesField(overrides));
  const vline = [versionLine(ctx.version), ...overridesLine(overrides)].join('\n');

  // Said in the report as "saved to stdout" (no JSON document goes with `--save -`).
  if (saveToStdout) doc.saved = 'stdout';
  if (save !== undefined && !saveToStdout) {
    const path = resolve(save);
    try {
      writeFileSync(path, inv.raw, { mode: 0o644 });
    } catch (e) {
      throw new CannotRunError(`--save ${save}: ${(e as NodeJS.ErrnoException).code === 'EISDIR' ? 'is a directory' : (e as Error).message}`);
    }
    doc.saved = path;
  }

  // --- dry run / save: no network at all -----------------------------------------------------
  if (offline) {
    doc.ok = !hasErrors(findings);
    if (flags.dryRun) doc.raw = inv.raw;
    const lines: string[] = [];
    if (!out.json && !out.quiet) {
      lines.push(...renderPlan(doc, c, vline));
      if (flags.dryRun) lines.push(...renderRaw(inv.raw, c));
    }
    if (!out.json) lines.push(...renderEnd(doc, c, out));
    if (saveToStdout) {
      process.stdout.write(inv.raw);
      process.stderr.write(`${lines.join('\n')}\n`);
      return doc.ok ? EXIT_OK : EXIT_PROBLEMS;
    }
    return emit(doc, out, lines);
  }

  // --- sending -------------------------------------------------------------------------------
  if (!s.sending.server.trim()) {
    throw new CannotRunError(`${I}.Sending.Server is empty in ${configPath}: there is no SMTP server to send through (run "imip check-config", or use --dry-run)`);
  }
  doc.smtp = {
    host: s.sending.server.trim(),
    port: s.sending.port,
    tls: s.sending.useSSL ? 'starttls-required' : 'starttls-opportunistic',
    username: s.sending.username || null,
  };
  findings.push(...implicitTlsPort.check(ctx));
  if (conn?.insecure) {
    // The probes' tls.insecure, built here: src/probes/probe-report.js would load imapflow for every run.
    findings.push({
      id: 'tls.insecure',
      severity: 'info',
      path: configPath,
      message: 'Certificate checks were turned off (--insecure): the connections below do not show whether the certificates are trusted.',
      evidence: { smtp: `${doc.smtp.host}:${doc.smtp.port}`, ...(waitSeconds !== null ? { mailbox: `${s.receiving.server}:${s.receiving.port}` } : {}) },
      fix: 'Drop --insecure, and pass the server\'s CA with --ca-file if it is a private one.',
    });
  }
  // A signal during the round trip (Ctrl-C; SIGTERM from systemd or `timeout`; SIGHUP): stop
  // waiting, remove what the run created (within --timeout), say what was removed or what is left
  // and where, end the output as a whole (--json: the document with the interruption; a monitoring
  // format: UNKNOWN, imip_up 0) and exit 130, 143 or 129. A second signal exits at once and says
  // what may be left. Before the invitation leaves there is nothing to remove: the first exits at once.
  // --wait-reply without a round trip: nothing to remove, but the wait is stopped the same way and
  // the run says where it was and what went out (WaitTracker).
  const stop = new AbortController();
  const rtModule = account ? await import('../roundtrip/run.js') : null;
  const tripTracker = rtModule && account
    ? new rtModule.RoundTripTracker(inv.messageId, account.imap.url, `${(s.receiving.protocol ?? 'imap').toUpperCase()} ${s.receiving.server.trim()}:${s.receiving.port}`)
    : null;
  const tracker: RunTracker | null = tripTracker ?? (waitSeconds !== null ? new WaitTracker(inv.messageId, inv.token) : null);
  const monitor = tracker && docSinkActive() ? await import('./monitor-output.js') : null;
  let tripDone: { text: string } | null = null;
  let stoppedWhere = '';
  const finishInterrupted = (sig: string, text: string, fresh: boolean): never => {
    const code = SIGNAL_EXIT[sig] ?? 130;
    process.stderr.write(`${fresh ? '\n' : ''}imip: ${printable(text)}\n`);
    if (monitor) process.exit(monitor.monitorInterrupted('send-test', flags as SendTestFlags & import('./monitor-output.js').MonitorFlags, text, code, performance.now() / 1000));
    if (out.json) printJson({ ...doc, ok: false, interrupted: sig, exitCode: code, error: text });
    process.exit(code);
  };
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals): void => {
    if (!tracker) return;
    signals++;
    if (tracker.stage === 'before-send') finishInterrupted(sig, `interrupted by ${sig} ${tracker.where()}; nothing was sent, nothing to remove`, true);
    if (tracker.stage === 'done' && tripDone) finishInterrupted(sig, `interrupted by ${sig} after the round trip; ${tripDone.text}`, true);
    if (signals === 1) {
      stoppedWhere = tracker.where();
      process.stderr.write(`\nimip: ${sig}: stopping ${tracker.stopping(Math.round((conn?.timeoutMs ?? 15_000) / 1000))}; send it again to stop at once.\n`);
      stop.abort(sig);
      return;
    }
    finishInterrupted(sig, `interrupted by ${sig} again ${tracker.where()}, stopping at once: ${tracker.mayBeLeft()}`, false);
  };
  const stopSignals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  if (tracker) for (const sig of stopSignals) process.on(sig, onSignal);
  // Once the output is being written the run is over: a signal then is the default one.
  const release = (): void => {
    for (const sig of stopSignals) process.off(sig, onSignal);
  };

  const refuse = (why: string): number => {
    if (stop.signal.aborted && tracker) finishInterrupted(String(stop.signal.reason), `interrupted by ${String(stop.signal.reason)} ${stoppedWhere}; the invitation was not sent (${why}), nothing to remove`, false);
    doc.ok = false;
    const lines: string[] = [];
    if (!out.json && !out.quiet) lines.push(...renderPlan(doc, c, vline), '', `${c.red('✗')} ${c.bold('not sent'.padEnd(14))}${printable(why)}`);
    if (!out.json) lines.push(...renderEnd(doc, c, out));
    release();
    return emit(doc, out, lines);
  };
  if (hasErrors(findings)) {
    const forceable = findings.every((f) => f.severity !== 'error' || f.id === F.attendeeNotRouted.id || f.id === F.imipDisabled.id);
    return refuse(`the server would not send this invitation; fix the errors below${forceable ? ' (or --force to send it anyway)' : ''}`);
  }

  // Watch from before the invitation leaves, so nothing that answers it can be missed.
  const wait = waitSeconds !== null
    ? { ...(await import('../send/wait-reply.js')), ...(await import('../send/mailbox-watcher.js')), ...(await import('../send/mailbox-error.js')) }
    : null;
  let watcher: import('../send/watcher.js').MailboxWatcher | null = null;
  if (wait && conn) {
    if (!s.receiving.server.trim()) {
      throw new CannotRunError(`${I}.Receiving.Server is empty in ${configPath}: there is no mailbox to watch for the reply`);
    }
    // How Calendar Server's own client connects to that mailbox: where it cannot log in it would
    // never read the reply; the watcher then connects as it does (its STARTTLS/STLS versions).
    const { checkServerAccess } = await import('../probes/server-access.js');
    let access: import('../probes/server-access.js').ServerAccess;
    try {
      access = await checkServerAccess(s.receiving, conn, ctx.version);
    } catch (e) {
      if (!isMailboxOpenError(e)) throw e;
      findings.push({
        id: F.mailboxFailed.id,
        severity: 'error',
        path: `${I}.Receiving`,
        message: `The mailbox the reply comes back to cannot be read, so nothing was sent: ${e.message}`,
        evidence: { server: s.receiving.server, port: s.receiving.port, useSSL: s.receiving.useSSL, type: s.receiving.type },
        fix: 'Run "imip test-mailbox" to see which stage fails, fix it, and send again.',
      });
      return refuse('the mailbox the reply would come back to cannot be read (below)');
    }
    // --insecure is already said once for the whole run.
    findings.push(...access.findings.filter((f) => f.id !== 'tls.insecure'));
    if (access.serverBlocked) return refuse('Calendar Server itself cannot log in to the mailbox the reply comes back to, so it would never read the reply (below)');
    if (access.toolStopped) return refuse('the certificate of the mailbox the reply comes back to did not verify for this tool, which stopped before sending the password (below)');
    try {
      watcher = wait.mailboxWatcher(s.receiving, { ...conn, mailboxUpgrade: access.upgrade });
      await watcher.start();
    } catch (e) {
      if (!(e instanceof wait.MailboxError)) throw e;
      watcher = null;
      findings.push({
        id: MAILBOX_IDS[e.kind] ?? F.mailboxFailed.id,
        severity: 'error',
        path: `${I}.Receiving`,
        message: `The mailbox the reply comes back to cannot be read, so nothing was sent: ${e.message}`,
        evidence: { server: s.receiving.server, port: s.receiving.port, useSSL: s.receiving.useSSL, type: s.receiving.type },
        fix: e.hint,
      });
      return refuse('the mailbox the reply would come back to cannot be read (below)');
    }
  }
  let attendeeBox: import('../roundtrip/attendee-mailbox.js').AttendeeMailbox | null = null;
  const rt = account && conn ? await import('../roundtrip/run.js') : null;
  if (rt && account && conn) {
    try {
      attendeeBox = await rt.openAttendeeMailbox(account, conn);
    } catch (e) {
      await watcher?.close();
      if (!(e instanceof Error) || e.name !== 'AttendeeMailboxError') throw e;
      findings.push(rt.attendeeMailboxFinding(account, e.message));
      return refuse('the test attendee mailbox cannot be opened (below)');
    }
  }

  const { sendRaw, SmtpSendError } = await import('../send/smtp-send.js');
  const sendStarted = Date.now();
  if (tracker) Object.assign(tracker, { stage: 'sending', invitation: 'maybe' });
  try {
    const result = await sendRaw({
      sending: s.sending,
      conn: conn!,
      envelope: inv.envelope,
      raw: inv.raw,
      version: ctx.version,
      transcript: out.verbose,
    });
    // What the server's sender would meet on this path without failing (certificate, AUTH skipped).
    findings.push(...result.findings);
    doc.sent = {
      reply: result.reply,
      queueId: result.queueId,
      code: result.code,
      accepted: result.accepted,
      rejected: result.rejected,
      encrypted: result.encrypted,
      authenticated: result.authenticated,
      ms: Math.round(result.ms),
    };
    if (out.verbose && result.transcript) doc.transcript = result.transcript;
    // On its way to the attendee from here on.
    if (tracker) Object.assign(tracker, { stage: 'delivering', invitation: 'sent' });
  } catch (e) {
    if (tracker) tracker.invitation = 'none';
    await watcher?.close();
    await attendeeBox?.close();
    if (!(e instanceof SmtpSendError)) throw e;
    // The session's own findings carry the same ids `test-smtp` gives for this path; the generic
    // one below only when none of them is the error.
    findings.push(...e.findings);
    if (!e.findings.some((x) => x.severity === 'error')) findings.push({
      id: SMTP_IDS[e.kind],
      severity: 'error',
      path: `${I}.Sending`,
      message: `The invitation was not sent: ${e.message}`,
      evidence: { failure: e.kind, reply: e.reply, server: doc.smtp.host, port: doc.smtp.port, tls: doc.smtp.tls },
      fix: e.hint,
    });
    if (out.verbose && e.transcript) doc.transcript = e.transcript;
    return refuse(`${SMTP_FAILED[e.kind]}${e.reply ? `: ${e.reply}` : ' (below)'}`);
  }

  // The token, as the server would store it (`MailSender.outbound`; 2.x–4.x `MailHandler.outbound`):
  // organizer CUA, attendee mailto: lower-cased.
  const dir = stateDir(flags.stateDir);
  const record: SentToken = {
    token: inv.token,
    organizer: `mailto:${organizer}`,
    attendee: `mailto:${attendee}`.toLowerCase(),
    uid: inv.uid,
    sentAt: new Date().toISOString(),
    messageId: inv.messageId,
    plusAddress: inv.plusAddress,
  };
  try {
    recordToken(dir, record);
    doc.recorded = join(dir, TOKENS_FILE);
  } catch (e) {
    findings.push({
      id: F.tokenNotRecorded.id,
      severity: 'warning',
      path: 'state',
      message: `The invitation was sent, but its token could not be recorded: ${(e as Error).message}. "imip poll" and "imip diagnose" will not know it.`,
      evidence: { stateDir: dir },
      fix: 'Give a writable directory with --state-dir (or set XDG_STATE_HOME).',
    });
  }

  const head: string[] = [];
  if (!out.json && !out.quiet) head.push(...renderPlan(doc, c, vline), ...renderSent(doc, c, out));
  if (!wait || !watcher || waitSeconds === null) {
    doc.ok = !hasErrors(findings);
    if (!out.json) head.push(...renderEnd(doc, c, out));
    release();
    return emit(doc, out, head);
  }

  // --- waiting for the reply -----------------------------------------------------------------
  if (!out.json && !out.quiet) {
    head.push(
      account
        ? `\n${c.dim(`… round trip: waiting up to ${waitSeconds} s in all, first for the invitation at ${account.imap.url}, then for the reply in ${watcher.protocol.toUpperCase()} ${watcher.host}:${watcher.port}`)}`
        : renderWaiting({ protocol: watcher.protocol, host: watcher.host, port: watcher.port, method: watcher.method }, waitSeconds, c),
    );
    process.stdout.write(`${head.join('\n')}\n`);
  }
  let store: ReturnType<typeof tokenLookup>;
  try {
    store = tokenLookup(readTokens(dir));
  } catch {
    store = tokenLookup(null);
  }
  const target: ReplyTarget = {
    token: inv.token,
    plusAddress: inv.plusAddress,
    messageId: inv.messageId,
    uid: inv.uid,
    summary,
    attendee,
    record: { token: record.token, organizer: record.organizer, attendee: record.attendee, uid: record.uid, sentAt: record.sentAt },
  };
  const judgeContext = {
    version: ctx.version,
    protocol: watcher.protocol,
    sendingAddress: s.sending.address,
    deleteAllMail: shouldDeleteAllMail(s.serverHostName, s.receiving.server, s.receiving.username),
    lookupToken: (t: string) => store(t),
    now: () => new Date(),
  };
  const waitOptions = (seconds: number) => ({
    seconds,
    ...(out.verbose && !out.json ? { onMessage: (m: SeenMessage) => process.stdout.write(`${renderSeen(m, c)}\n`) } : {}),
  });
  let reply: ReplyReport | null;
  let trip: Omit<import('../roundtrip/run.js').RoundTripReport, 'findings'> | null = null;
  try {
    if (rt && attendeeBox && account && clientShape) {
      const result = await rt.runRoundTrip({
        account,
        attendeeMailbox: attendeeBox,
        client: clientShape,
        conn: conn!,
        invitation: { raw: inv.raw, messageId: inv.messageId, plusAddress: inv.plusAddress, start, end },
        target,
        sendingAddress: s.sending.address,
        sentAt: sendStarted + (doc.sent?.ms ?? 0),
        sentMs: doc.sent?.ms ?? 0,
        watcher,
        judgeContext,
        receiving: s.receiving,
        deadline: sendStarted + waitSeconds * 1000,
        keepReply: Boolean(flags.keepReply),
        waitForReply: (seconds, extra) => {
          const base = waitOptions(seconds);
          const shown = 'onMessage' in base ? base.onMessage : undefined;
          return wait.waitForAnswer(watcher!, target, judgeContext, {
            ...base,
            ...(extra.signal ? { signal: extra.signal } : {}),
            onAbandoned: extra.onAbandoned,
            onMessage: (m: SeenMessage) => {
              extra.onMessage(m);
              shown?.(m);
            },
          });
        },
        signal: stop.signal,
        ...(tripTracker ? { tracker: tripTracker } : {}),
      });
      reply = result.reply;
      const { findings: tripFindings, ...tripDoc } = result.report;
      findings.push(...tripFindings);
      trip = tripDoc;
      doc.roundTrip = tripDoc;
    } else {
      reply = await wait.waitForReply(watcher, target, judgeContext, { ...waitOptions(waitSeconds), signal: stop.signal });
    }
  } finally {
    // Stopped by a signal: the read-only watcher is dropped, not waited on (it changed nothing).
    if (stop.signal.aborted) void watcher.close().catch(() => undefined);
    else await watcher.close();
  }
  if (tripTracker && trip) tripDone = { text: rt!.cleanupText(trip, tripTracker) };
  if (stop.signal.aborted && tracker) {
    const sig = String(stop.signal.reason);
    doc.ok = false;
    if (trip) Object.assign(trip, { exitCode: SIGNAL_EXIT[sig] ?? 130, interrupted: sig });
    if (!tripTracker && reply) {
      // What the wait saw before it stopped goes into the --json document; nothing was judged final.
      const { findings: _seen, ...replyDoc } = reply;
      doc.reply = replyDoc;
    }
    const waited = tripTracker
      ? ''
      : `${reply ? ` after ${reply.waitedSeconds} s of ${waitSeconds}` : ''}; ${reply && reply.outcome !== 'no-reply' ? `the best answer seen so far: ${reply.reason}` : 'no reply had arrived'}`;
    finishInterrupted(sig, `interrupted by ${sig} ${stoppedWhere}${waited}; ${tripDone?.text ?? tracker.mayBeLeft()}`, false);
  }
  if (reply) {
    findings.push(...replyFindings(reply, waitSeconds));
    // The reply checks and token causes are listed once, in `findings`.
    const { findings: _listed, ...replyDoc } = reply;
    doc.reply = replyDoc;
  }
  // Whether the server's own store holds the token (one read-only query).
  const [{ loadServerStore }, { sentTokenState }] = await Promise.all([import('../tokens/load.js'), import('../tokens/sent-token.js')]);
  const server = await loadServerStore({ effective: ctx.config.effective, version: ctx.version, override: flags.tokenStore, timeoutMs: conn?.timeoutMs ?? 15_000 });
  const held = sentTokenState(inv.token, server, ctx.version);
  findings.push(held.finding);
  doc.serverStore = held.state;
  doc.ok = trip ? trip.ok && !hasErrors(findings) : reply?.outcome === 'accepted';
  if (trip) trip.exitCode = doc.ok ? EXIT_OK : EXIT_PROBLEMS;
  const tail: string[] = [];
  if (!out.json) {
    if (!out.quiet && trip) tail.push(...renderRoundTrip(trip, c, out));
    else if (!out.quiet && reply) tail.push(...renderReply(reply, c, out));
    tail.push(...renderEnd(doc, c, out));
  }
  release();
  return emit(doc, out, tail);
}
