/**
 * `imip poll --once`: one poll cycle over the receiving mailbox with Calendar Server's verdict on
 * every message (2.x–4.x `twistedcaldav/mail.py`, 5.0+ `imip/inbound.py`). Read-only unless
 * `--apply` (2.x–4.x only).
 * Thin: flags → src/poll (cycle, apply) → src/poll/render.
 */
import { EXIT_CANNOT_RUN, EXIT_OK, EXIT_PROBLEMS, CannotRunError } from '../report/exit.js';
import type { PollMessage, ReaderInfo, ServerLoginReport } from '../poll/cycle.js';
import type { Finding } from '../report/finding.js';
import { isMailboxOpenError, type MailboxOpenError } from '../mailbox/open-error.js';
import { setPollV8Flags } from '../poll/v8-flags.js';
import { OutputBatch } from '../report/output-batch.js';
import { stdoutRoom } from '../report/output-room.js';
import {
  colours,
  connectOptions,
  loadForCommand,
  outputOptions,
  docSinkActive,
  overridesField,
  overridesLine,
  printJson,
  versionJson,
  versionLine,
  type ConnectFlags,
  type SharedFlags,
} from './shared.js';

export interface PollFlags extends SharedFlags, ConnectFlags {
  once?: boolean;
  apply?: boolean;
  injectUrl?: string;
  stateDir?: string;
  tokenStore?: string;
  singlePoller?: boolean;
}

const SIGNAL_EXIT: Record<string, number> = { SIGHUP: 129, SIGINT: 130, SIGTERM: 143 };

/**
 * A progress line on stderr for long cycles (after a second), whenever stderr is a terminal: also
 * with --json or --quiet, whose stdout stays clean (the line is on stderr only). `clear()` takes it
 * off before a line goes to stdout, so rows streamed to the same terminal are never garbled.
 */
export function progressEnabled(stderr: { isTTY?: boolean }): boolean {
  return Boolean(stderr.isTTY);
}

function progressReporter(enabled: boolean): { update: (done: number, total: number) => void; clear: () => void; end: () => void } {
  if (!enabled) return { update: () => undefined, clear: () => undefined, end: () => undefined };
  const started = Date.now();
  let last = 0;
  let shown = false;
  const clear = (): void => {
    if (shown) process.stderr.write('\r\x1b[2K');
    shown = false;
  };
  return {
    update(done, total) {
      const now = Date.now();
      if (now - started < 1000 || now - last < 100) return;
      last = now;
      shown = true;
      process.stderr.write(`\r\x1b[2Kpoll: ${done}/${total} messages classified`);
    },
    clear,
    end: clear,
  };
}

export async function run(flags: PollFlags): Promise<number> {
  // One cycle is the only mode (the server itself polls every PollingSeconds): `poll` alone is `poll --once`.
  if (flags.injectUrl && !flags.apply) throw new CannotRunError('--inject-url is only used with --apply');
  if (flags.singlePoller && !flags.apply) throw new CannotRunError('--single-poller is only used with --apply');
  const out = outputOptions(flags);
  const c = await colours(out);
  const conn = connectOptions(flags);
  const { ctx, configPath, overrides } = await loadForCommand(flags);

  if (flags.apply && ctx.version.line === '5.0+') {
    throw new CannotRunError(
      `--apply is for Calendar Server 2.x–4.x, where a separate mail gateway injects replies over HTTP. ` +
        `${ctx.version.text} (5.0 and later) injects them in-process through its work queue: ` +
        'there is no /inbox/ endpoint to post to, so this tool cannot do the gateway\'s work. Run without --apply to see the verdicts.',
    );
  }
  const protocol = ctx.settings.receiving.protocol;
  if (!protocol) {
    throw new CannotRunError(
      `Scheduling.iMIP.Receiving.Type "${ctx.settings.receiving.type}" is neither pop* nor imap*: the ${ctx.version.line} gateway logs ` +
        '"Invalid iMIP type in configuration" and polls nothing. Set Type to "imap" or "pop".',
    );
  }

  // The mailbox first: the access check (and, read-only, the reader's session) connect now, and
  // the classifier, ical.js and the token store load while the mail server answers (connect.ts).
  const { checkAccess, openForReading } = await import('../poll/connect.js');
  const mailboxCtx: import('../poll/connect.js').MailboxContext = { settings: ctx.settings, version: ctx.version, protocol, connect: conn };
  const opening = flags.apply ? null : await openForReading(mailboxCtx);
  const [{ deleteAllMailFor, runReadOnlyCycle, hasProblems, policyText, serverLoginReport, accessStops, stoppedText }, { loadTokenLookup }] = await Promise.all([
    import('../poll/cycle.js'),
    import('../tokens/combine.js'),
  ]);
  // The server's token store: ONE read-only query, made while the mailbox connection is opened;
  // every message is then looked up in memory.
  const tokensReady = loadTokenLookup({
    effective: ctx.config.effective,
    version: ctx.version,
    override: flags.tokenStore,
    timeoutMs: conn.timeoutMs,
    stateDir: flags.stateDir,
  });
  let tokens: Awaited<typeof tokensReady> | null = null;
  const ready = tokensReady.then((t) => {
    tokens = t;
    cycleCtx.tokenStore = t.summary;
    store.info = t.summary;
  });
  // Awaited by the cycle; this branch only keeps an early failure from going unhandled.
  void ready.catch(() => undefined);
  const unread = { path: '', records: null };
  const store: { info: import('../tokens/combine.js').TokenStoreSummary | typeof unread } = { info: unread };
  // The same object as the mailbox's context: the access check sets how the reader connects.
  const cycleCtx: import('../poll/cycle.js').CycleContext = Object.assign(mailboxCtx, {
    now: new Date(),
    lookupToken: (t: string) => tokens!.lookup(t),
    tokenRow: (t: string) => tokens!.row(t),
    tokenStore: unread,
    deleteAllMail: deleteAllMailFor(ctx.settings, ctx.version),
    ready,
  });
  const render = await import('../poll/render.js');
  const title = [`${c.bold('imip poll --once')}${flags.apply ? c.bold(' --apply') : ''}  ${configPath}`, c.dim(versionLine(ctx.version)), ...overridesLine(overrides).map((l) => c.yellow(l))];
  // How Calendar Server's own client connects and logs in here; the reader then connects the same
  // way. Where the server cannot log in, or the tool stops before its login, nothing is read.
  // Nothing is read: the report says why, with its findings, and the exit code is 1.
  const reportUnread = (login: ServerLoginReport, findings: Finding[], detail?: string): number => {
    const doc = {
      command: 'poll',
      ok: false,
      serverVersion: versionJson(ctx.version),
      ...overridesField(overrides),
      protocol,
      config: configPath,
      serverLogin: login,
      findings,
      messages: [],
      error: stoppedText(login.stopped, findings, detail),
    };
    if (out.json || docSinkActive()) printJson(doc);
    else process.stdout.write(render.renderStopped(title, login, findings, c, out, detail));
    return EXIT_PROBLEMS;
  };
  // A mailbox that cannot be opened (not reached, no answer in time, login or INBOX refused) is a
  // problem found, not a mistake on the command line: the same findings as `test-mailbox`.
  const notOpened = async (err: MailboxOpenError, login: ServerLoginReport | null, earlier: Finding[]): Promise<number> => {
    const { mailboxOpenFindings } = await import('../probes/mailbox-open-findings.js');
    const findings = mailboxOpenFindings(ctx.settings.receiving, ctx.version, err);
    return reportUnread({ steps: login?.steps ?? [], tlsUpgrade: login?.tlsUpgrade ?? null, stopped: 'mailbox-not-opened' }, [...earlier, ...findings], err.message);
  };
  const access = await (opening ? opening.access : checkAccess(cycleCtx)).catch(async (err: unknown) => {
    await opening?.abandon();
    await ready.catch(() => undefined);
    if (isMailboxOpenError(err)) return err;
    throw err;
  });
  if (isMailboxOpenError(access)) return notOpened(access, null, []);
  const serverLogin = serverLoginReport(cycleCtx, access);
  const connFindings = access.findings;
  if (accessStops(access)) {
    await opening?.abandon();
    await ready.catch(() => undefined);
    return reportUnread(serverLogin, connFindings);
  }
  const shown = progressReporter(progressEnabled(process.stderr));
  // How far the cycle got, for the Ctrl-C message.
  const got = { done: 0, total: 0 };
  const progress = { ...shown, update: (done: number, total: number): void => {
    got.done = done;
    got.total = total;
    shown.update(done, total);
  } };

  // Output goes out in batches of about 64 KB (output-batch.ts); the progress line is cleared once
  // per batch.
  const batch = new OutputBatch((bytes) => {
    progress.clear();
    process.stdout.write(bytes);
  });
  const flush = (): void => batch.flush();
  const write = (text: string): void => batch.write(text);
  // A fix is printed in full under the first message it applies to; later rows point back to it.
  const rowOpts = { ...out, fixesShown: new Map<string, string>() };

  let report;
  if (flags.apply) {
    const [{ runApply }, { injectionTarget }, { stateDir }, { newStatus, statusText }] = await Promise.all([
      import('../poll/apply.js'),
      import('../poll/inject.js'),
      import('../state/tokens.js'),
      import('../poll/apply-jobs.js'),
    ]);
    const target = injectionTarget(ctx.settings, ctx.version, flags.injectUrl);
    if (flags.singlePoller && protocol !== 'pop3') throw new CannotRunError('--single-poller is for POP3 mailboxes: over IMAP every message is claimed on the server, whatever the number of hosts');
    // The first SIGINT, SIGTERM or SIGHUP asks for a stop: the POST in flight finishes and is
    // recorded, nothing new starts, what was injected is deleted. A second one stops at once; the
    // journal lets the next run finish (a reply whose POST was cut may then be POSTed twice).
    const stop = new AbortController();
    const status = newStatus();
    let signals = 0;
    const onSignal = (sig: NodeJS.Signals): void => {
      signals++;
      progress.clear();
      if (signals === 1) {
        process.stderr.write(
          `\nimip: ${sig}: stopping after the step in hand (${statusText(status)}); nothing new is started. ` +
            `Send it again to stop at once: the next run finishes the rest.\n`,
        );
        stop.abort(sig);
      } else {
        process.stderr.write(`\nimip: ${sig} again: stopping at once (${statusText(status)}). The next "imip poll --once --apply" finishes what this one left.\n`);
        process.exit(SIGNAL_EXIT[sig] ?? 130);
      }
    };
    const stopSignals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
    for (const sig of stopSignals) process.on(sig, onSignal);
    try {
      await ready;
      setPollV8Flags(protocol);
      report = await runApply(cycleCtx, {
        target,
        stateDir: stateDir(flags.stateDir),
        inject: { timeoutMs: conn.timeoutMs, ...(conn.ca ? { ca: conn.ca } : {}), insecure: conn.insecure },
        signal: stop.signal,
        status,
        singlePoller: Boolean(flags.singlePoller),
        onProgress: progress.update,
      });
    } catch (err) {
      // The reader opens its session before anything is claimed, posted or deleted.
      if (isMailboxOpenError(err)) return notOpened(err, serverLogin, connFindings);
      throw err;
    } finally {
      for (const sig of stopSignals) process.off(sig, onSignal);
      progress.end();
    }
    if (stop.signal.aborted && !out.json) {
      process.stderr.write(`imip: stopped on ${String(stop.signal.reason)}: ${statusText(status)}; the next run handles the rest.\n`);
    }
    report.serverLogin = serverLogin;
    report.findings = connFindings;
    // A run stopped by a signal did not do everything it could: 1 even when nothing else is wrong.
    const code = report.error ? EXIT_CANNOT_RUN : hasProblems(report) || stop.signal.aborted ? EXIT_PROBLEMS : EXIT_OK;
    if (out.json) {
      const { command, serverVersion, protocol: proto, ...rest } = report;
      printJson({ command, serverVersion: versionJson(serverVersion), ...overridesField(overrides), protocol: proto, config: configPath, ...rest });
    } else {
      write(render.renderReport(report, c, { verbose: out.verbose, quiet: out.quiet, header: title }));
    }
    flush();
    return code;
  }

  // Read-only: every row is printed as soon as it is final and then forgotten, so a mailbox of any
  // size costs no memory per message (the JSON document is streamed the same way).
  const policy = policyText(ctx.version, protocol, cycleCtx.deleteAllMail);
  const json = render.jsonStream(write);
  // A monitoring format: no stream, one document at the end with the findings counted per severity.
  const tally = { error: 0, warning: 0, info: 0 };
  const monitored = docSinkActive();
  const hooks = monitored
    ? { onRow: (row: PollMessage) => row.findings.forEach((f) => tally[f.severity]++) }
    : out.json
    ? {
        onOpen: ({ commands: _c, ...mailbox }: ReaderInfo) =>
          json.open({
            command: 'poll',
            serverVersion: versionJson(ctx.version),
            ...overridesField(overrides),
            protocol,
            config: configPath,
            mailbox,
            serverLogin,
            findings: connFindings,
            tokenStore: store.info,
            policy,
            deleteAllMail: cycleCtx.deleteAllMail,
          }),
        onRow: json.row,
      }
    : out.quiet
      ? {}
      : {
          // The head goes out at once: the admin sees where the cycle reads before the rows come.
          onOpen: ({ commands: _c, ...mailbox }: ReaderInfo) => {
            write(`${render.renderHead({ title, policy, mailbox, tokenStore: store.info, serverLogin, findings: connFindings }, c, out).join('\n')}\n`);
            flush();
          },
          onRow: (row: PollMessage) => write(`${render.renderRow(row, c, rowOpts).join('\n')}\n`),
        };
  // A signal during a read-only cycle (Ctrl-C; SIGTERM from systemd or `timeout`; SIGHUP), as
  // --apply takes the same three: say how far it got and that nothing changed, end the output as a
  // whole (--json: the document with the rows so far, their summary and the interruption; a
  // monitoring format: UNKNOWN), and exit 130, 143 or 129 (Nagios: 3).
  const monitor = monitored ? await import('./monitor-output.js') : null;
  let tallied: import('../poll/cycle.js').Tally | null = null;
  let jsonOpened = false;
  const stopSignals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  const onSignal = (sig: NodeJS.Signals): void => {
    progress.clear();
    const where = got.total ? `after ${got.done} of ${got.total} messages` : 'before the first message was classified';
    const text = `interrupted by ${sig} ${where}; nothing on the server was changed (read-only: no flag, no delete)`;
    const code = SIGNAL_EXIT[sig] ?? 130;
    if (monitor) {
      process.stderr.write(`\nimip: ${text}\n`);
      process.exit(monitor.monitorInterrupted('poll', flags as PollFlags & import('./monitor-output.js').MonitorFlags, text, code, performance.now() / 1000));
    }
    if (out.json) {
      // The rows so far are in the document already; what closes it says that the run was stopped.
      const summary = tallied?.summary({ seenSkipped: 0, vanished: 0 });
      const tail = { ...(summary ? { summary } : {}), error: text, interrupted: sig, exitCode: code };
      if (jsonOpened) json.close(tail);
      else write(`${JSON.stringify({ command: 'poll', ok: false, serverVersion: versionJson(ctx.version), ...overridesField(overrides), protocol, config: configPath, messages: [], ...tail }, null, 2)}\n`);
    }
    // The rows classified so far are shown.
    flush();
    process.stderr.write(`\nimip: ${text}\n`);
    process.exit(code);
  };
  for (const sig of stopSignals) process.on(sig, onSignal);
  try {
    // The V8 flags go in once the mailbox is open (src/poll/v8-flags.ts), when what the cycle runs is loaded.
    const onOpen = (info: ReaderInfo, exists: number): void => {
      setPollV8Flags(protocol, exists);
      hooks.onOpen?.(info);
      jsonOpened = out.json && !monitored;
    };
    const onTally = (t: import('../poll/cycle.js').Tally): void => {
      tallied = t;
    };
    // The rows go out as they are judged; a reader of stdout that falls behind pauses the read.
    report = await runReadOnlyCycle(cycleCtx, { ...hooks, onOpen, onTally, keepRows: false, onProgress: progress.update, room: stdoutRoom() }, opening?.reader);
  } catch (err) {
    if (isMailboxOpenError(err)) return notOpened(err, serverLogin, connFindings);
    throw err;
  } finally {
    for (const sig of stopSignals) process.off(sig, onSignal);
    flush();
    progress.end();
  }
  const code = report.error ? EXIT_CANNOT_RUN : hasProblems(report) ? EXIT_PROBLEMS : EXIT_OK;
  if (monitored) {
    printJson({ command: 'poll', ok: code === 0, serverVersion: versionJson(ctx.version), protocol, config: configPath, serverLogin, findings: connFindings, summary: report.summary, findingsBySeverity: tally, ...(report.error ? { error: report.error } : {}), stats: report.stats });
  } else if (out.json) json.close({ summary: report.summary, ...(report.error ? { error: report.error } : {}), stats: report.stats, commands: report.commands });
  else write(`${render.renderFoot(report, c, out).join('\n')}\n`);
  flush();
  return code;
}
