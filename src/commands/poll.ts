/**
 * `imip poll --once`: one poll cycle over the receiving mailbox with Calendar Server's verdict on
 * every message (calendarserver-imip.md §4, §10). Read-only unless `--apply` (2.x–4.x only).
 * Thin: flags → src/poll (cycle, apply) → src/poll/render.
 */
import { EXIT_CANNOT_RUN, EXIT_OK, EXIT_PROBLEMS, CannotRunError } from '../report/exit.js';
import type { PollMessage, ReaderInfo } from '../poll/cycle.js';
import {
  colours,
  connectOptions,
  loadForCommand,
  outputOptions,
  printJson,
  versionJson,
  versionLine,
  type ConnectFlags,
  type SharedFlags,
} from './shared.js';

/** Characters of output gathered before one write to stdout. */
const OUTPUT_BATCH_CHARS = 64 * 1024;

export interface PollFlags extends SharedFlags, ConnectFlags {
  once?: boolean;
  apply?: boolean;
  injectUrl?: string;
  stateDir?: string;
}

/**
 * A progress line on stderr for long cycles (after a second), only when stderr is a terminal,
 * never with --json or --quiet. `clear()` takes it off before a line goes to stdout, so rows
 * streamed to the same terminal are never garbled.
 */
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
  if (!flags.once) {
    throw new CannotRunError('only one cycle is supported: run "imip poll --once" (Calendar Server itself polls every PollingSeconds)');
  }
  if (flags.injectUrl && !flags.apply) throw new CannotRunError('--inject-url is only used with --apply');
  const out = outputOptions(flags);
  const c = await colours(out);
  const conn = connectOptions(flags);
  const { ctx, configPath } = await loadForCommand(flags);

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

  const { loadTokenStore, deleteAllMailFor, runReadOnlyCycle, hasProblems, policyText } = await import('../poll/cycle.js');
  const store = loadTokenStore(flags.stateDir);
  const cycleCtx = {
    settings: ctx.settings,
    version: ctx.version,
    protocol,
    connect: conn,
    now: new Date(),
    lookupToken: store.lookup,
    tokenStore: store.info,
    deleteAllMail: deleteAllMailFor(ctx.settings, ctx.version),
  };
  const progress = progressReporter(Boolean(process.stderr.isTTY) && !out.json && !out.quiet);

  const render = await import('../poll/render.js');
  const title = [`${c.bold('imip poll --once')}${flags.apply ? c.bold(' --apply') : ''}  ${configPath}`, c.dim(versionLine(ctx.version))];
  // Output goes out in batches of about 64 KB: one write per message cost more than the message's
  // classification (a system call each), and the progress line is cleared once per batch.
  let pending: string[] = [];
  let pendingChars = 0;
  const flush = (): void => {
    if (!pendingChars) return;
    progress.clear();
    process.stdout.write(pending.join(''));
    pending = [];
    pendingChars = 0;
  };
  const write = (text: string): void => {
    pending.push(text);
    pendingChars += text.length;
    if (pendingChars >= OUTPUT_BATCH_CHARS) flush();
  };

  let report;
  if (flags.apply) {
    const [{ runApply }, { injectionTarget }, { stateDir }] = await Promise.all([
      import('../poll/apply.js'),
      import('../poll/inject.js'),
      import('../state/tokens.js'),
    ]);
    const target = injectionTarget(ctx.settings, ctx.version, flags.injectUrl);
    const abort = new AbortController();
    let interrupts = 0;
    const onSigint = (): void => {
      interrupts++;
      if (interrupts === 1) {
        process.stderr.write('\nimip: interrupted: finishing the message in hand, releasing claims, then stopping (Ctrl-C again to quit at once)\n');
        abort.abort();
      } else {
        // Claims left behind are recovered by the next run (see src/poll/apply.ts).
        process.exit(130);
      }
    };
    process.on('SIGINT', onSigint);
    try {
      report = await runApply(cycleCtx, {
        target,
        stateDir: stateDir(flags.stateDir),
        inject: { timeoutMs: conn.timeoutMs, ...(conn.ca ? { ca: conn.ca } : {}), insecure: conn.insecure },
        signal: abort.signal,
        onProgress: progress.update,
      });
    } finally {
      process.off('SIGINT', onSigint);
      progress.end();
    }
    const code = report.error ? EXIT_CANNOT_RUN : hasProblems(report) ? EXIT_PROBLEMS : EXIT_OK;
    if (out.json) {
      const { command, serverVersion, protocol: proto, ...rest } = report;
      printJson({ command, serverVersion: versionJson(serverVersion), protocol: proto, config: configPath, ...rest });
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
  const hooks = out.json
    ? {
        onOpen: ({ commands: _c, ...mailbox }: ReaderInfo) =>
          json.open({ command: 'poll', serverVersion: versionJson(ctx.version), protocol, config: configPath, mailbox, tokenStore: store.info, policy, deleteAllMail: cycleCtx.deleteAllMail }),
        onRow: json.row,
      }
    : out.quiet
      ? {}
      : {
          onOpen: ({ commands: _c, ...mailbox }: ReaderInfo) => write(`${render.renderHead({ title, policy, mailbox, tokenStore: store.info }, c, out).join('\n')}\n`),
          onRow: (row: PollMessage) => write(`${render.renderRow(row, c, out).join('\n')}\n`),
        };
  try {
    report = await runReadOnlyCycle(cycleCtx, { ...hooks, keepRows: false, onProgress: progress.update });
  } finally {
    flush();
    progress.end();
  }
  const code = report.error ? EXIT_CANNOT_RUN : hasProblems(report) ? EXIT_PROBLEMS : EXIT_OK;
  if (out.json) json.close({ summary: report.summary, ...(report.error ? { error: report.error } : {}), stats: report.stats, commands: report.commands });
  else write(`${render.renderFoot(report, c, out).join('\n')}\n`);
  flush();
  return code;
}
