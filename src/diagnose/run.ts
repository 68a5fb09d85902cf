/**
 * `imip diagnose`: gather what can be examined, judge it with the project's one classifier, and
 * assemble one report (areas, findings, messages, log entries, probes). Nothing here prints.
 *
 * With no inputs it uses what it can find: the config (as check-config), the receiving mailbox
 * read-only (as `poll --once` without --apply, \Seen messages included), and the log and
 * directory files the config names (ErrorLogFile under LogRoot; DirectoryService's xmlFile).
 * With `--message`, the saved messages replace the mailbox; `--log` and `--directory` replace the
 * files the config names. Unless `--offline`, it also runs the SMTP test (connect, EHLO,
 * STARTTLS, AUTH, QUIT; nothing is sent) and, when saved messages replace the mailbox, the
 * read-only mailbox test, so that Sending and Receiving are tested, not assumed.
 *
 * An input that cannot be examined is a `diagnose.input-unreadable` finding and the rest still
 * runs; like grep, an input named on the command line that could not be read makes the exit code
 * 2, after everything else has been examined and reported.
 */
import { existsSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { getPath } from '../config/load.js';
import type { ConnectOptions } from '../config/settings.js';
import { runConfigChecks } from '../checks/index.js';
import type { ConfigContext } from '../checks/rule.js';
import { HeaderList } from '../imip/mime-headers.js';
import type { MessageInput } from '../imip/classify.js';
import { tokenCauses } from '../imip/token-causes.js';
import { EXIT_CANNOT_RUN, EXIT_OK, EXIT_PROBLEMS } from '../report/exit.js';
import { notSaidBy, notSupersededBy, type Finding } from '../report/finding.js';
import { defaultServerVersion, INJECTION_TEXT, LINES, parseServerVersion, type ServerVersion } from '../server/release.js';
import { areaOf, withArea, type AreaId, type DiagnoseFinding } from './findings.js';
import { directoryOf, DirectoryReadError, readDirectoryFile, userCount, type DirectoryFile, type DirectoryRef } from './directory.js';
import { injectionCauses } from './injection-causes.js';
import { LogScanner, topValues, type LogEntry, type LogFileResult, type LogScanResult } from './log-scan.js';
import { examine, MessageReadError, readMailbox, readMessage, type ExaminedMessage, type MailboxRead } from './messages.js';
import type { InjectionProbeResult } from './injection-probe.js';
import type { PlusProbeResult } from './plus-address-probe.js';
import { assessAreas, type AreaStatus, type ConnectionTest } from './areas.js';
import type { ProbeReport } from '../probes/probe-report.js';
import type { InputRecord } from './types.js';
import type { StoreResult } from '../tokens/load.js';
import { unknownTokenCauses } from '../tokens/unknown-causes.js';

export type ProbeKind = 'plus-address' | 'injection' | 'all';

const UNRECOGNIZED = new Set(['UNKNOWN_TOKEN', 'UNKNOWN_TOKEN_OLD']);

/**
 * Per message the server would answer with an unknown token, the causes the store shows (added to
 * the message's findings); and the store's own findings. An unreadable store is reported only
 * where it matters: a message or a log line with an unrecognized token (a warning: that token's
 * cause cannot be told), or a message whose token could not be checked (a note: its verdict
 * assumes the server knows the token, and the Replies area is not counted as tested).
 */
function tokenStoreDiagnosis(messages: ExaminedMessage[], store: StoreResult, scan: LogScanResult | null, sendingAddress: string, now: Date): DiagnoseFinding[] {
  const ctx = { snapshot: store.snapshot, info: store.info, leftover: store.leftover, invitationDaysToLive: store.invitationDaysToLive, now };
  let unrecognized = Boolean(scan?.entries.get('log.unknown-token'));
  let unchecked = false;
  for (const m of messages) {
    if (m.token && m.tokenStatus === 'unchecked') unchecked = true;
    if (!m.token || !UNRECOGNIZED.has(m.serverAction)) continue;
    unrecognized = true;
    if (!store.snapshot) continue;
    const causes = unknownTokenCauses(
      { token: m.token, to: m.to, date: m.date, sendingAddress, uid: m.calendarUid ?? null, attendees: m.calendarAttendees ?? [] },
      ctx,
    );
    m.findings.unshift(...causes.map((f) => ({ ...f, evidence: { message: m.label, ...f.evidence } })));
  }
  const about = (f: Finding): boolean => f.id === 'token-store.unreadable' || f.id === 'token-store.unsupported';
  return store.findings
    .filter((f) => unrecognized || unchecked || !about(f))
    .map((f) => (about(f) && !unrecognized ? { ...f, severity: 'info' as const } : f))
    .map((f) => withArea(f, 'token-store', 'replies'));
}

export interface DiagnoseOptions {
  /** The config as loaded by loadForCommand, or why it could not be. */
  config: { ctx: ConfigContext; path: string } | { error: string; path: string | null };
  /** `--server-version`, for when the config cannot be read. */
  serverVersion?: string;
  messages: string[];
  logs: string[];
  directory?: string;
  probe?: ProbeKind;
  stateDir?: string;
  /** `--token-store PATH|URL`: the server's token store instead of the one the config names. */
  tokenStore?: string;
  conn: ConnectOptions;
  now?: Date;
  /** Where `--message -` reads from. */
  stdin?: NodeJS.ReadableStream;
  /** Plus probe: wait override (tests). */
  probeWaitMs?: number;
  /** `--offline`: no SMTP test, no mailbox, no probe. */
  offline?: boolean;
}

export type { InputRecord } from './types.js';

export interface MessageRow {
  source: ExaminedMessage['source'];
  label: string;
  path?: string;
  uid?: number;
  number?: number;
  seen?: boolean;
  messageId: string | null;
  from: string;
  to: string;
  date: string | null;
  serverAction: string;
  token: string | null;
  tokenless: boolean;
  logLine: string;
  causes: string[];
  /** What could not be read as the server reads it (MIME), as poll lists it: checks that were skipped. */
  problems: string[];
  logged?: ExaminedMessage['logged'];
}

export interface LogEntryJson {
  id: string;
  severity: string;
  area: AreaId;
  text: string;
  meaning: string;
  fix: string;
  count: number;
  first: string | null;
  last: string | null;
  example: string;
  exampleFile: string;
  exampleLine: number;
  formats: Record<string, number>;
  values: Record<string, Array<{ value: string; count: number }>>;
}

export interface DiagnoseReport {
  command: 'diagnose';
  ok: boolean;
  exitCode: number;
  serverVersion: ServerVersion;
  config: string | null;
  inputs: InputRecord[];
  areas: AreaStatus[];
  findings: DiagnoseFinding[];
  messages: MessageRow[];
  logs: { files: LogFileResult[]; entries: LogEntryJson[] } | null;
  mailbox: { server: string; port: number; protocol: string; username: string; readOnly: boolean; exists: number; seen: number; examined: number; error?: string } | null;
  probes: { plusAddress?: PlusProbeResult; injection?: InjectionProbeResult };
  /** The connection tests diagnose ran itself: SMTP always unless --offline; the mailbox test when --message replaced the mailbox. */
  tests: { smtp: (ConnectionTest & { stages: ProbeReport['stages'] }) | null; mailbox: (ConnectionTest & { stages: ProbeReport['stages'] }) | null };
  summary: {
    line: string;
    /** Every area tested (or not applicable) and none with a problem: the only case that says "healthy". */
    healthy: boolean;
    errors: number;
    warnings: number;
    notes: number;
    areasWithProblems: string[];
    areasNotTested: string[];
    inputsExamined: number;
    inputErrors: number;
  };
}

function connectionTest(r: ProbeReport): ConnectionTest & { stages: ProbeReport['stages'] } {
  const tls = r.target.tls === 'starttls' ? 'STARTTLS' : r.target.tls === 'implicit' ? 'TLS' : 'no TLS';
  const bad = r.stages.find((st) => !st.ok && !st.skipped);
  return {
    ok: r.ok,
    target: `${r.target.host}:${r.target.port} (${tls})`,
    ...(bad ? { failed: `${bad.stage}${bad.error ? `: ${bad.error}` : ''}` } : {}),
    stages: r.stages,
  };
}

/** `DEFAULT_CONFIG` (stdconfig.py): ErrorLogFile ("error.log" under LogRoot /var/log/caldavd; 2.x an absolute default). */
export function configLogFile(ctx: ConfigContext): { path: string; how: 'config' | 'default' } {
  const eff = ctx.config.effective;
  const written = getPath(eff, 'ErrorLogFile');
  const file = typeof written === 'string' && written ? written : ctx.version.line === '2.x' ? '/var/log/caldavd/error.log' : 'error.log';
  const how = typeof written === 'string' && written ? 'config' : 'default';
  if (isAbsolute(file)) return { path: file, how };
  const logRoot = getPath(eff, 'LogRoot');
  let root = typeof logRoot === 'string' && logRoot ? logRoot : '/var/log/caldavd';
  if (!isAbsolute(root)) {
    const serverRoot = getPath(eff, 'ServerRoot');
    root = resolve(typeof serverRoot === 'string' && serverRoot ? serverRoot : '/var/db/caldavd', root);
  }
  return { path: resolve(root, file), how: typeof logRoot === 'string' ? 'config' : how };
}

function inputFinding(kind: InputRecord['kind'], path: string, error: string, area: AreaId): DiagnoseFinding {
  const what = { config: 'config', message: 'message', log: 'log', directory: 'directory file', mailbox: 'receiving mailbox' }[kind];
  const fix = {
    config: 'Give the config with --config PATH (or IMIP_CONFIG); the rest of the diagnosis ran without it.',
    message: 'Give a saved mail message (.eml, RFC 5322 text with its headers), or "-" to read one from stdin.',
    log: 'Give Calendar Server\'s error log (plain text or .gz), e.g. /var/log/caldavd/error.log.',
    directory: 'Give the XML accounts file the server reads (DirectoryService → params → xmlFile), e.g. /etc/caldavd/accounts.xml.',
    mailbox: 'Run "imip test-mailbox" to see which stage fails (connect, TLS, login), fix it, and run diagnose again.',
  }[kind];
  return {
    id: 'diagnose.input-unreadable',
    severity: 'error',
    area,
    source: 'input',
    path,
    message: `The ${what} ${path} could not be examined: ${error}.`,
    evidence: { kind, path, error },
    fix,
  };
}

/** The `didn't find a token` lines whose message is gone: their quoted To, judged by the same causes. */
function causesFromLoggedTo(scan: LogScanResult, linked: Set<string>, sendingAddress: string, version: ServerVersion): DiagnoseFinding[] {
  const byCause = new Map<string, { example: Finding; count: number; ids: string[] }>();
  for (const line of scan.noToken.values()) {
    if (linked.has(line.messageId)) continue;
    const input: MessageInput = {
      headers: new HeaderList([
        ['Message-ID', line.messageId],
        ...(line.to && line.to !== 'None' ? ([['To', line.to]] as Array<[string, string]>) : []),
      ]),
      root: { part: '', type: 'text/plain', params: {}, disposition: null, dispositionParams: {}, encoding: '7bit', size: 0, children: [] },
      bodies: new Map(),
    };
    // Only the To header is known: "absent" needs the whole message, so it is not claimed.
    for (const f of tokenCauses(input, { sendingAddress, version })) {
      if (f.id === 'token.absent') continue;
      const agg = byCause.get(f.id) ?? { example: f, count: 0, ids: [] };
      agg.count += line.count;
      if (agg.ids.length < 5) agg.ids.push(line.messageId);
      byCause.set(f.id, agg);
    }
  }
  return [...byCause.values()].map(({ example, count, ids }) => ({
    ...example,
    area: 'replies' as const,
    source: 'log',
    message: `From the To header quoted by ${count} "didn't find a token" log line${count === 1 ? '' : 's'} whose message is no longer at hand: ${example.message}`,
    evidence: { ...example.evidence, loggedLines: count, messageIds: ids },
  }));
}

function logEntryJson(e: LogEntry): LogEntryJson {
  const values: Record<string, Array<{ value: string; count: number }>> = {};
  for (const group of e.values.keys()) values[group] = topValues(e, group, 10).map((v) => ({ value: v.value, count: v.count }));
  return {
    id: e.id,
    severity: e.pattern.severity,
    area: e.pattern.area,
    text: e.pattern.text,
    meaning: e.pattern.meaning,
    fix: e.pattern.fix,
    count: e.count,
    first: e.first.text || null,
    last: e.last.text || null,
    example: e.example,
    exampleFile: e.last.file,
    exampleLine: e.last.line,
    formats: e.formats,
    values,
  };
}

/** A log entry that names a problem, as a finding. */
function logFinding(e: LogEntry, extra: Record<string, unknown> = {}): DiagnoseFinding {
  const p = e.pattern;
  const when = e.first.text && e.last.text ? (e.count === 1 ? ` at ${e.last.text}` : ` from ${e.first.text} to ${e.last.text}`) : '';
  const top: Record<string, unknown> = {};
  for (const group of e.values.keys()) {
    const vals = topValues(e, group, 5);
    if (group === 'to') continue;
    const key = group === 'id' ? 'messageIds' : group;
    if (vals.length) top[key] = vals.map((v) => (v.count > 1 ? `${v.value} (${v.count}×)` : v.value)).join(', ');
  }
  return {
    id: p.id,
    severity: p.severity,
    area: p.area,
    source: 'log',
    path: `${e.last.file}:${e.last.line}`,
    message: `${e.count} line${e.count === 1 ? '' : 's'} "${p.text.split(' | ')[0]}"${when}. ${p.meaning}`,
    evidence: { count: e.count, first: e.first.text || null, last: e.last.text || null, latest: e.example, file: e.last.file, line: e.last.line, ...top, ...extra },
    fix: p.fix,
  };
}

export async function diagnose(o: DiagnoseOptions): Promise<DiagnoseReport> {
  const now = o.now ?? new Date();
  const inputs: InputRecord[] = [];
  const findings: DiagnoseFinding[] = [];
  const ctx = 'ctx' in o.config ? o.config.ctx : null;
  const version = ctx?.version ?? (o.serverVersion ? parseServerVersion(o.serverVersion) : defaultServerVersion());
  const notes: Partial<Record<AreaId, string[]>> = {};
  const note = (area: AreaId, text: string): void => void (notes[area] ??= []).push(text);

  // ---- config (as check-config) -----------------------------------------------------------------
  let configFindings: Finding[] = [];
  if (ctx) {
    inputs.push({ kind: 'config', path: o.config.path ?? '', how: 'given', status: 'read', detail: `judged as ${version.text} (${version.line})` });
    configFindings = runConfigChecks(ctx);
  } else {
    const err = (o.config as { error: string }).error;
    // Named (--config, IMIP_CONFIG) and unreadable is exit 2 at the end; none found at all is not.
    inputs.push({ kind: 'config', path: o.config.path ?? '(none)', how: o.config.path ? 'given' : 'default', status: 'error', error: err });
    findings.push(inputFinding('config', o.config.path ?? '(no config)', err, 'config'));
  }
  const settings = ctx?.settings ?? null;
  const sendingAddress = settings?.sending.address ?? '';
  const protocol = settings?.receiving.protocol ?? 'imap';

  // ---- the token lookup and classification context, as poll --once ------------------------------
  const [{ deleteAllMailFor, classifyContext }, { loadTokenLookup }] = await Promise.all([import('../poll/cycle.js'), import('../tokens/combine.js')]);
  // The server's token store, read once (read-only); send-test's records when it cannot be read.
  const tokens = await loadTokenLookup({
    effective: ctx?.config.effective ?? null,
    version,
    override: o.tokenStore,
    timeoutMs: o.conn.timeoutMs,
    stateDir: o.stateDir,
  });
  const cycleCtx = {
    settings: settings ?? ({ sending: { address: '' }, receiving: {} } as never),
    version,
    protocol,
    connect: o.conn,
    now,
    // The server's store decides known/unknown; without it only send-test's own tokens are known
    // and any other token is "unchecked", never "unknown" (the server may well know it).
    lookupToken: (t: string) => (tokens.store.snapshot ? tokens.lookup(t) : (tokens.lookup(t) ?? undefined)),
    tokenRow: tokens.row,
    tokenStore: tokens.summary,
    deleteAllMail: settings ? deleteAllMailFor(settings, version) : false,
  };

  // ---- logs -----------------------------------------------------------------------------------
  let logPaths: Array<{ path: string; how: InputRecord['how'] }> = o.logs.map((p) => ({ path: p, how: 'given' }));
  if (!logPaths.length && ctx) {
    const named = configLogFile(ctx);
    if (existsSync(named.path)) logPaths = [named];
    else inputs.push({ kind: 'log', path: named.path, how: named.how, status: 'not-found', detail: 'the server\'s error log (ErrorLogFile) is not on this machine; give --log FILE' });
  }
  const scanner = new LogScanner();
  const logScan = (async (): Promise<LogScanResult | null> => {
    if (!logPaths.length) return null;
    for (const l of logPaths) {
      const r = await scanner.scanFile(l.path);
      const mb = (r.bytes / 1024 / 1024).toFixed(r.bytes < 10 * 1024 * 1024 ? 1 : 0);
      // Lines past MAX_LINE are skipped unread: said here, as a line the server wrote there may be one of them.
      const long = r.longLines ? `, ${r.longLines.toLocaleString('en-US')} line${r.longLines === 1 ? '' : 's'} over 1 MiB skipped unread` : '';
      const detail = `${r.gzip ? 'gzip, ' : ''}${mb} MB, ${r.lines.toLocaleString('en-US')} line${r.lines === 1 ? '' : 's'}, ${r.recognised.toLocaleString('en-US')} recognised${long}`;
      inputs.push({ kind: 'log', path: l.path, how: l.how, status: r.status, ...(r.error ? { error: r.error } : {}), ...(r.status === 'error' ? {} : { detail }) });
      if (r.status !== 'read') findings.push(inputFinding('log', l.path, r.status === 'partial' ? `${r.error} (read up to ${mb} MB; the part before was scanned)` : r.error ?? 'unreadable', 'config'));
    }
    return scanner.result();
  })();

  // ---- messages: saved, or the mailbox --------------------------------------------------------
  const messages: ExaminedMessage[] = [];
  let mailbox: MailboxRead | null = null;
  const readMessages = (async (): Promise<void> => {
    if (o.messages.length) {
      for (const path of o.messages) {
        try {
          const input = await readMessage(path, (o.stdin ?? process.stdin) as never);
          const label = path === '-' ? 'stdin' : path;
          messages.push(examine(input, classifyContext(cycleCtx, undefined), { source: path === '-' ? 'stdin' : 'file', label, ...(path === '-' ? {} : { path }) }));
          inputs.push({ kind: 'message', path: label, how: 'given', status: 'read' });
        } catch (err) {
          const why = err instanceof MessageReadError ? err.message : (err as Error).message;
          inputs.push({ kind: 'message', path: path === '-' ? 'stdin' : path, how: 'given', status: 'error', error: why });
          findings.push(inputFinding('message', path === '-' ? 'stdin' : path, why, 'replies'));
        }
      }
      return;
    }
    if (!settings || o.offline) return;
    const r = settings.receiving;
    if (!r.protocol || !r.server.trim() || !r.port) {
      note('receiving', 'mailbox not read: Receiving.Server, Port or Type is not usable (see the config findings)');
      return;
    }
    mailbox = await readMailbox({ ...cycleCtx, settings, protocol: r.protocol });
    const where = `${r.protocol === 'imap' ? 'imap' : 'pop'}://${r.username ? `${encodeURIComponent(r.username)}@` : ''}${r.server}:${r.port}/INBOX`;
    // How the server's own client connects here: its findings, as test-mailbox gives them.
    for (const f of mailbox.access?.findings ?? []) findings.push(withArea(f, 'probe', 'receiving'));
    if (mailbox.stopped) {
      inputs.push({ kind: 'mailbox', path: where, how: 'config', status: 'error', error: mailbox.stopped });
      return;
    }
    if (!mailbox.info && mailbox.error) {
      inputs.push({ kind: 'mailbox', path: where, how: 'config', status: 'error', error: mailbox.error });
      // The finding test-mailbox gives for the stage that failed (mailbox.login-failed, ...),
      // else the mailbox as an input that could not be examined.
      if (mailbox.openFindings) findings.push(...mailbox.openFindings.map((f) => withArea(f, 'probe', 'receiving')));
      else findings.push(inputFinding('mailbox', where, mailbox.error, 'receiving'));
      return;
    }
    inputs.push({
      kind: 'mailbox',
      path: where,
      how: 'config',
      status: mailbox.error ? 'partial' : 'read',
      ...(mailbox.error ? { error: mailbox.error } : {}),
      detail: `${mailbox.messages.length} message${mailbox.messages.length === 1 ? '' : 's'} read-only${r.protocol === 'imap' ? ` (${mailbox.seen} \\Seen)` : ''}`,
    });
    if (mailbox.error) findings.push(inputFinding('mailbox', where, mailbox.error, 'receiving'));
    messages.push(...mailbox.messages);
  })();

  // ---- directory ------------------------------------------------------------------------------
  const directoryRef: DirectoryRef | null = ctx ? directoryOf(ctx.config, version) : null;
  let directory: DirectoryFile | null = null;
  const dirPath = o.directory ?? (version.line === '2.x' && directoryRef?.kind === 'xml' && directoryRef.xmlFile ? directoryRef.xmlFile : null);
  const dirHow: InputRecord['how'] = o.directory ? 'given' : 'config';
  const readDir = (async (): Promise<void> => {
    if (!dirPath) return;
    // Only 2.x injects as a directory user (twistedcaldav/mail.py `injectMessage`, Digest auth);
    // 3.x-4.x send a shared secret and 5.0+ inject in-process: a file given for them is not read,
    // and one that cannot be read is no error of the judged release.
    const injection = LINES[version.line].injection;
    if (injection !== 'digest-user') {
      const hint = version.source === 'flag' ? '' : '; if this server is 2.x, give --server-version 2.5';
      inputs.push({ kind: 'directory', path: dirPath, how: dirHow, status: 'not-used', detail: `${version.text} (${version.line}) ${INJECTION_TEXT[injection]}, with no directory user to look up${hint}` });
      return;
    }
    if (!o.directory && !existsSync(dirPath)) {
      inputs.push({ kind: 'directory', path: dirPath, how: dirHow, status: 'not-found', detail: `the accounts file the config names (${directoryRef?.how}) is not on this machine; give --directory FILE` });
      return;
    }
    try {
      directory = await readDirectoryFile(dirPath);
      inputs.push({ kind: 'directory', path: dirPath, how: dirHow, status: 'read', detail: `${directory.format === 'accounts' ? '<accounts>' : '<directory>'} file, ${userCount(directory)} users` });
    } catch (err) {
      const why = err instanceof DirectoryReadError ? err.message : (err as Error).message;
      inputs.push({ kind: 'directory', path: dirPath, how: dirHow, status: 'error', error: why });
      findings.push(inputFinding('directory', dirPath, why, 'injection'));
    }
  })();

  // ---- connection tests: SMTP (nothing sent), and the mailbox when saved messages replace it -----
  let smtpReport: ProbeReport | null = null;
  let mailboxReport: ProbeReport | null = null;
  const connTests = (async (): Promise<void> => {
    if (o.offline || !settings) return;
    const jobs: Array<Promise<void>> = [];
    if (settings.sending.server.trim()) {
      jobs.push(import('../probes/smtp-probe.js').then(async (m) => void (smtpReport = await m.probeSmtp(settings.sending, o.conn))));
    }
    const r = settings.receiving;
    if (o.messages.length && r.protocol && r.server.trim() && r.port) {
      jobs.push(import('../probes/mailbox-probe.js').then(async (m) => void (mailboxReport = await m.probeMailbox(r, o.conn, version))));
    }
    await Promise.all(jobs);
  })();

  const [scan] = await Promise.all([logScan, readMessages, readDir, connTests]);
  const smtpDone = smtpReport as ProbeReport | null;
  const mailboxDone = mailboxReport as ProbeReport | null;
  // The SMTP test's stage that ran past --timeout, if one did: the plus-address probe does not wait on it again.
  const smtpTimeout = smtpDone?.stages.find((st) => st.ok === false && /timed out/i.test(st.error ?? ''))?.error ?? null;
  const testFindings: DiagnoseFinding[] = [
    ...(smtpDone?.findings ?? []).map((f) => withArea(f, 'probe', 'sending')),
    ...(mailboxDone?.findings ?? []).map((f) => withArea(f, 'probe', 'receiving')),
  ];
  // Inputs in a stable order: config, mailbox, messages, logs, directory (each in the order given).
  const KIND_ORDER: InputRecord['kind'][] = ['config', 'mailbox', 'message', 'log', 'directory'];
  inputs.sort((a, b) => KIND_ORDER.indexOf(a.kind) - KIND_ORDER.indexOf(b.kind));

  // ---- link "didn't find a token" lines to the messages ---------------------------------------
  const linked = new Set<string>();
  if (scan) {
    const byId = new Map<string, ExaminedMessage[]>();
    for (const m of messages) if (m.messageId) byId.set(m.messageId.trim(), [...(byId.get(m.messageId.trim()) ?? []), m]);
    for (const line of scan.noToken.values()) {
      const hits = byId.get(line.messageId);
      if (!hits) continue;
      linked.add(line.messageId);
      for (const m of hits) {
        m.logged = { count: line.count, last: line.last.text, file: line.last.file, line: line.last.line };
        if (!m.tokenless) {
          m.notes.push(
            `the log says the server found no token in this message, but its first To address carries one for Sending.Address "${sendingAddress}": the server runs with another Sending.Address, or the log is from another server`,
          );
        }
      }
    }
  }

  // ---- "found a token but didn't recognize it": the causes, from the server's store --------------
  const storeFindings = tokenStoreDiagnosis(messages, tokens.store, scan, sendingAddress, now);

  // ---- findings: config, messages, logs ---------------------------------------------------------
  const msgFindings: DiagnoseFinding[] = [];
  for (const m of messages) {
    for (const f of m.findings) {
      const ev = m.logged ? { ...f.evidence, logged: `${m.logged.count}× "didn't find a token", last ${m.logged.last || `${m.logged.file}:${m.logged.line}`}` } : f.evidence;
      msgFindings.push(withArea({ ...f, evidence: ev }, m.source === 'mailbox' ? 'mailbox' : 'message'));
    }
  }
  const logFindings: DiagnoseFinding[] = [];
  if (scan) {
    for (const e of scan.entries.values()) {
      if (e.pattern.severity === 'info') continue;
      const extra: Record<string, unknown> = {};
      if (e.id === 'log.no-token') {
        if (linked.size) extra.stillAtHand = [...linked].slice(0, 10);
        extra.linkedMessages = linked.size;
        if (scan.noTokenDropped) extra.messageIdsNotKept = scan.noTokenDropped;
      }
      logFindings.push(logFinding(e, extra));
    }
    logFindings.push(...causesFromLoggedTo(scan, linked, sendingAddress, version));
  }

  // ---- injection causes -------------------------------------------------------------------------
  const inj = settings
    ? injectionCauses({
        settings,
        version,
        ...(scan?.entries.get('log.injection-principal-not-found') ? { principalLog: scan.entries.get('log.injection-principal-not-found')! } : {}),
        directoryRef,
        directory,
      })
    : null;
  if (inj) for (const n of inj.notes) note('injection', n);

  const configDiag: DiagnoseFinding[] = configFindings
    .filter((f) => !inj?.settled.has(f.id))
    .map((f) => withArea(f, 'config', areaOf(f.id)));

  // ---- probes -----------------------------------------------------------------------------------
  const probes: DiagnoseReport['probes'] = {};
  const probeFindings: DiagnoseFinding[] = [];
  if (o.probe && settings) {
    if (o.probe === 'plus-address' || o.probe === 'all') {
      const { probePlusAddress } = await import('./plus-address-probe.js');
      probes.plusAddress = await probePlusAddress({
        settings,
        version,
        // The mailbox is opened as the server's own client connects (what the access check found).
        conn: (mailbox as MailboxRead | null)?.access ? { ...o.conn, mailboxUpgrade: (mailbox as MailboxRead | null)!.access!.upgrade } : o.conn,
        ...((mailbox as MailboxRead | null)?.stopped ? { mailboxStopped: (mailbox as MailboxRead | null)!.stopped! } : {}),
        ...(o.probeWaitMs !== undefined ? { waitMs: o.probeWaitMs } : {}),
        mailboxMismatch: configFindings.some((f) => f.id === 'receiving.mailbox-mismatch'),
        ...((mailbox as MailboxRead | null)?.timedOut ? { mailboxTimedOut: (mailbox as MailboxRead | null)?.error ?? 'timed out' } : {}),
        ...(smtpTimeout ? { smtpTimedOut: smtpTimeout } : {}),
      });
      probeFindings.push(...probes.plusAddress.findings);
    }
    if (o.probe === 'injection' || o.probe === 'all') {
      const { probeInjection } = await import('./injection-probe.js');
      probes.injection = await probeInjection(settings, version, o.conn);
      probeFindings.push(...probes.injection.findings);
    }
  } else if (o.probe && !settings) {
    note('plus', 'not probed: the probes need the config');
  }

  // Injection: the log's principal finding and the probe's may name the same cause; keep both
  // sources in one finding each (the log's first), most telling first.
  // What a config rule says, the mailbox checks may say again (5.0's POP3 reader, say): once.
  const fresh = notSaidBy(configDiag);
  const earlier = findings.splice(0).filter(fresh);
  // ...and what a connection test states with what it saw, the config rule does not say again.
  const configKept = configDiag.filter(notSupersededBy([...testFindings, ...earlier]));
  findings.push(...earlier, ...configKept, ...testFindings.filter(fresh), ...(inj?.findings ?? []), ...probeFindings, ...storeFindings, ...msgFindings, ...logFindings);

  // ---- areas, summary, exit -------------------------------------------------------------------
  const mb = mailbox as MailboxRead | null;
  const examined = inputs.filter((i) => i.status === 'read' || i.status === 'partial').length;
  const areas = assessAreas({
    version,
    ctx,
    findings,
    messages,
    scan,
    mailbox: mb,
    probes,
    notes,
    inputs,
    offline: Boolean(o.offline),
    smtp: smtpDone ? connectionTest(smtpDone) : null,
    mailboxTest: mailboxDone ? connectionTest(mailboxDone) : null,
  });
  const count = (s: string): number => findings.filter((f) => f.severity === s).length;
  const errors = count('error');
  const warnings = count('warning');
  const problems = areas.filter((a) => a.status === 'error' || a.status === 'warning').map((a) => a.title);
  const inputErrors = findings.filter((f) => f.id === 'diagnose.input-unreadable').length;
  // Like grep: an input named on the command line that could not be read is exit 2, after the rest.
  const givenUnreadable = inputs.filter((i) => i.how === 'given' && i.status === 'error').length;
  const exitCode = examined === 0 || givenUnreadable ? EXIT_CANNOT_RUN : errors + warnings > 0 ? EXIT_PROBLEMS : EXIT_OK;
  const notTested = areas.filter((a) => a.status === 'not-tested').map((a) => a.title);
  const healthy = exitCode === EXIT_OK && notTested.length === 0;
  const plural = (n: number, w: string): string => `${n} ${w}${n === 1 ? '' : 's'}`;
  const what = inputs
    .filter((i) => i.status === 'read' || i.status === 'partial')
    .map((i) => (i.kind === 'mailbox' ? `mailbox (${i.detail})` : i.kind))
    .filter((v, i, a) => a.indexOf(v) === i)
    .join(', ');
  const tested = [smtpReport ? 'SMTP' : '', mailboxReport ? 'mailbox test' : ''].filter(Boolean);
  const examinedText = `${what || 'nothing'}${tested.length ? `, ${tested.join(', ')}` : ''}`;
  const line =
    examined === 0
      ? `Nothing could be examined: ${findings.filter((f) => f.id === 'diagnose.input-unreadable').map((f) => f.message).join(' ')}`
      : errors + warnings > 0 || givenUnreadable
        ? `Found ${plural(errors, 'error')} and ${plural(warnings, 'warning')} in ${plural(problems.length, 'area')} (${problems.join(', ')})${inputErrors ? `; ${plural(inputErrors, 'input')} could not be examined` : ''}${notTested.length ? `; not tested: ${notTested.join(', ')}` : ''}.`
        : healthy
          ? `No problems found: iMIP looks healthy (examined ${examinedText}${probes.plusAddress ? '; plus addresses kept' : ''}${probes.injection?.outcome === 'ok' ? '; injection credentials accepted' : ''}).`
          : `No problems found in what was tested (examined ${examinedText}), but not every area was tested: ${notTested.join(', ')}. Not a clean bill of health; see each area for how to test it.`;

  const rows: MessageRow[] = messages.map((m) => ({
    source: m.source,
    label: m.label,
    ...(m.path ? { path: m.path } : {}),
    ...(m.uid !== undefined ? { uid: m.uid } : {}),
    ...(m.number !== undefined ? { number: m.number } : {}),
    ...(m.seen !== undefined ? { seen: m.seen } : {}),
    messageId: m.messageId,
    from: m.from,
    to: m.to,
    date: m.date,
    serverAction: m.serverAction,
    token: m.token,
    tokenless: m.tokenless,
    logLine: m.logLine,
    causes: m.findings.map((f) => f.id),
    problems: m.problems,
    ...(m.logged ? { logged: m.logged } : {}),
  }));
  const r = settings?.receiving;
  return {
    command: 'diagnose',
    ok: exitCode === EXIT_OK,
    exitCode,
    serverVersion: version,
    config: 'ctx' in o.config ? o.config.path : null,
    inputs,
    areas,
    findings,
    messages: rows,
    logs: scan ? { files: scan.files, entries: [...scan.entries.values()].map(logEntryJson) } : null,
    mailbox:
      mb && r
        ? {
            server: r.server,
            port: r.port,
            protocol: r.protocol ?? '',
            username: r.username,
            readOnly: true,
            exists: mb.exists,
            seen: mb.seen,
            examined: mb.messages.length,
            ...(mb.error ? { error: mb.error } : {}),
          }
        : null,
    probes,
    tests: { smtp: smtpDone ? connectionTest(smtpDone) : null, mailbox: mailboxDone ? connectionTest(mailboxDone) : null },
    summary: { line, healthy, errors, warnings, notes: count('info'), areasWithProblems: problems, areasNotTested: notTested, inputsExamined: examined, inputErrors },
  };
}
