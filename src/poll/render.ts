/**
 * Human output of `imip poll --once`: one table row per message in the server's order (a row the
 * server has no usable token for says why, inline, with the causes `imip diagnose` names), the
 * findings of the messages that have any, then a summary grouped by serverAction and, for the
 * tokenless ones, by cause, and one summary line with the counts and the error count. JSON
 * output is the PollReport itself; nothing here decides anything. Every function returns lines
 * for one row or one block, so the caller can write them in large batches.
 */
import type { ChalkInstance } from 'chalk';
import { bySeverity } from '../report/finding.js';
import type { Finding } from '../report/finding.js';
import { formatEvidence, insecureNotice, renderFindings } from '../report/render.js';
import { GLYPH } from '../report/style.js';
import type { ServerAction } from '../server/poll-policy.js';
import { messageName, NO_CAUSE_NAMED, stoppedText, waitingText, type PollMessage, type PollReport, type PollSummary, type ReaderInfo, type ServerLoginReport } from './cycle.js';
import { forTerminal, printable } from '../report/terminal-text.js';

/** The token causes in a few words, for the row and the summary (the ids are those of `imip diagnose`). */
export const TOKEN_CAUSE_SHORT: Record<string, string> = {
  'token.malformed': 'token mangled on the way (re-cased, truncated, encoded)',
  'token.extra-plus': 'two "+" in the To address',
  'token.not-first-recipient': 'Reply All: the token address is not first in To',
  'token.in-other-header': 'token only in Cc, Delivered-To or the like',
  'token.only-in-calendar': '"+token" stripped from To; only the calendar has it',
  'token.to-bare-address': 'sent to the bare Sending.Address, no "+token"',
  'token.other-recipient': 'sent to another address altogether',
  'token.absent': 'no trace of a token anywhere',
  [NO_CAUSE_NAMED]: 'no cause named',
};

export function causeText(id: string): string {
  return TOKEN_CAUSE_SHORT[id] ?? id;
}

const OK_ACTIONS = new Set<ServerAction>(['INJECTION_SUBMITTED']);

function clip(text: string, width: number): string {
  if (text.length <= width) return text.padEnd(width);
  return `${text.slice(0, width - 1)}…`;
}

/** `Mon, 2 Mar 2026 10:15:42 +0100` → `2026-03-02 09:15Z`; unparsable dates as given. */
export function shortDate(value: string | null): string {
  if (!value) return '(none)';
  const t = Date.parse(value.replace(/\s*\([^)]*\)\s*$/, ''));
  if (Number.isNaN(t)) return value;
  return `${new Date(t).toISOString().slice(0, 16).replace('T', ' ')}Z`;
}

/** `calendar+3f2b8c1e-...@example.test` with the token shortened to fit. */
function shortAddress(addr: string, width: number): string {
  if (addr.length <= width) return addr;
  const m = /^([^+@]*\+)([^@]+)(@.*)$/.exec(addr);
  if (m && m[2]!.length > 8) return clip(`${m[1]}${m[2]!.slice(0, 8)}…${m[3]}`, width);
  return clip(addr, width);
}

function idOf(m: PollMessage): string {
  return m.uid !== undefined ? String(m.uid) : String(m.number ?? '?');
}

/**
 * What --apply did to the message in the mailbox, for the Mailbox column: `deleted` only when
 * this run (or the earlier one it finished) deleted it. What the server's own poll would do is
 * said apart, in the --apply line (see {@link applyText}).
 */
export function applyMailbox(a: NonNullable<PollMessage['apply']>): string {
  if (a.deleted) return 'deleted';
  return a.status === 'gone' ? 'gone' : 'kept';
}

/** What --apply did and why, under the row; the Mailbox column says whether it was deleted or kept. */
export function applyText(m: PollMessage): string {
  const a = m.apply;
  if (!a) return '';
  let text: string;
  switch (a.status) {
    case 'injected':
      text = `injected (${a.httpStatus})`;
      break;
    case 'injected-not-deleted':
      text = `injected (${a.httpStatus ?? 'by an earlier run'}); not deleted yet: the next run deletes it without injecting it again`;
      break;
    case 'deleted-earlier-injection':
      text = a.deleted ? 'injected by an earlier run' : 'injected by an earlier run; not deleted yet: the next run deletes it without injecting it again';
      break;
    case 'failed':
      text = `injection failed: ${a.reason ?? ''}${a.uncertain ? ' (may have reached the server)' : ''}`;
      break;
    case 'claimed-elsewhere':
      text = `claimed by another run; left alone${a.reason ? ` (${a.reason})` : ''}`;
      break;
    case 'gone':
      // Who expunged it cannot be known: another poller that injected it, or a person or client that deleted it.
      text = 'gone from the mailbox before this run could inject it: expunged by another client or run';
      break;
    default:
      text = `not injected${a.reason ? `: ${a.reason}` : ''}`;
  }
  // Where the server's own poll would leave the message otherwise than this run did, say so, apart.
  const here = applyMailbox(a);
  const serverDeletes = m.mailboxEffect.startsWith('deleted');
  if (m.thisCycle && here !== 'gone' && (here === 'deleted') !== serverDeletes) {
    text += serverDeletes ? "; the server's own poll would delete it" : `; the server's own poll would leave it (${m.mailboxEffect})`;
  }
  return text;
}

const PAD = ' '.repeat(8);

/** The table's heading line. */
export function tableHead(protocol: string, c: ChalkInstance, apply = false): string {
  const idHead = protocol === 'imap' ? 'UID' : 'No.';
  // --apply: the last column is what this run did to each message, not what the server's poll does.
  return c.bold(`${idHead.padStart(6)}  ${'Date'.padEnd(17)}  ${'From'.padEnd(26)}  ${'To (first address)'.padEnd(32)}  ${'Token'.padEnd(9)}  ${'Server action'.padEnd(28)}  ${apply ? 'Mailbox (this run)' : 'Mailbox'}`);
}

/**
 * The fixes a run's table has shown, each with the message it was shown under: a mailbox of 500
 * human replies printed the same three-line fix 500 times. Later rows with the same finding and
 * the same fix point back to the first (`--verbose` repeats it in full).
 */
export type FixesShown = Map<string, string>;

/** One message: its table row, then (indented) what --apply did, its findings, and with --verbose the details. */
export function renderRow(m: PollMessage, c: ChalkInstance, opts: { verbose: boolean; fixesShown?: FixesShown }): string[] {
  m = forTerminal(m);
  const lines: string[] = [];
  // A message the cycle does not reach: its action (what happens once it is reached) is dimmed, not judged.
  const action = !m.thisCycle ? c.dim(clip(m.serverAction, 28)) : OK_ACTIONS.has(m.serverAction) ? c.green(clip(m.serverAction, 28)) : c.red(clip(m.serverAction, 28));
  lines.push(
    [
      idOf(m).padStart(6),
      clip(shortDate(m.date), 17),
      clip(m.from || '(none)', 26),
      shortAddress(m.to || '(none)', 32).padEnd(32),
      clip(m.tokenStatus === 'unchecked' && !m.token ? '-' : m.tokenStatus, 9),
      action,
      // --apply: what this run did to the message; otherwise what the server's poll does to it.
      m.apply ? applyMailbox(m.apply) : m.thisCycle ? m.mailboxEffect : c.dim(m.waitsBehind?.everyPoll ? 'never reached' : `${m.mailboxEffect} (next poll)`),
    ].join('  '),
  );
  if (m.tokenRecord) {
    const t = m.tokenRecord;
    const from = t.source === 'server' ? 'server store' : 'send-test record, not the server store';
    lines.push(`${PAD}${c.dim(`token → organizer ${t.organizer}, attendee ${t.attendee}, event ${t.uid} (${from})`)}`);
  }
  if (m.tokenCauses) {
    const [first, ...more] = m.tokenCauses;
    const text = first ? `${causeText(first)} (${first}${more.length ? `; also ${more.join(', ')}` : ''})` : 'no cause named (run "imip diagnose" on this message)';
    lines.push(`${PAD}${c.dim('why:')} ${text}`);
  }
  if (m.apply) lines.push(`${PAD}${c.dim('--apply:')} ${m.apply.status === 'failed' ? c.red(applyText(m)) : applyText(m)}`);
  for (const f of [...m.findings].sort(bySeverity)) {
    const col = f.severity === 'error' ? c.red : f.severity === 'warning' ? c.yellow : c.cyan;
    lines.push(`${PAD}${col(GLYPH[f.severity])} ${c.bold(f.id)}  ${f.message}`);
    if (opts.verbose) {
      const ev = formatEvidence(f.evidence);
      if (ev) lines.push(`${PAD}  ${c.dim('evidence:')} ${ev}`);
    }
    if (f.severity !== 'info' || opts.verbose) {
      const key = `${f.id}\n${f.fix}`;
      const first = opts.verbose ? undefined : opts.fixesShown?.get(key);
      if (first) lines.push(`${PAD}  ${c.dim(`fix: as for ${first} above`)}`);
      else {
        lines.push(`${PAD}  ${c.green('fix:')} ${f.fix}`);
        opts.fixesShown?.set(key, messageName(m));
      }
    }
  }
  if (opts.verbose) {
    if (m.messageId) lines.push(`${PAD}${c.dim(`Message-ID ${m.messageId}`)}`);
    if (m.token) lines.push(`${PAD}${c.dim(`token ${m.token}`)}`);
    if (m.logLine) lines.push(`${PAD}${c.dim(`server log: ${m.logLine}`)}`);
    for (const n of m.notes) lines.push(`${PAD}${c.dim(`note: ${n}`)}`);
    for (const p of m.problems) lines.push(`${PAD}${c.yellow(`MIME: ${p}`)}`);
  } else if (!m.thisCycle) {
    lines.push(`${PAD}${c.dim(waitingText(m))}`);
  }
  return lines;
}

/** `14 messages: 5 INJECTION_SUBMITTED, 2 NO_TOKEN; 3 \Seen not read`. */
export function pollSummaryLine(summary: PollSummary, c: ChalkInstance, extra = ''): string {
  const counts = Object.entries(summary.byServerAction)
    .filter(([, n]) => n > 0)
    .map(([a, n]) => `${n} ${a}`);
  let text = `${summary.messages} message${summary.messages === 1 ? '' : 's'}${counts.length ? `: ${counts.join(', ')}` : ''}`;
  const nr = summary.notReached;
  if (nr) {
    const then = Object.entries(nr.byServerAction)
      .filter(([, n]) => n > 0)
      .map(([a, n]) => `${n} ${a}`)
      .join(', ');
    const at = messageName(nr.behind);
    text += nr.everyPoll
      ? `; ${nr.messages} never reached while ${at} stays (once reached: ${then})`
      : `; ${nr.messages} wait${nr.messages === 1 ? 's' : ''} for the next poll behind ${at} (then: ${then})`;
  }
  if (summary.seenNotRead) text += `; ${summary.seenNotRead} \\Seen not read by the server`;
  if (summary.vanished) text += `; ${summary.vanished} vanished during the cycle`;
  if (summary.injected !== undefined) {
    text += `; --apply: ${summary.injected} injected, ${summary.deleted ?? 0} deleted, ${summary.failed ?? 0} failed`;
    if (summary.notInjected) text += `, ${summary.notInjected} not injected (still in the mailbox)`;
    if (summary.gone) text += `, ${summary.gone} gone (expunged by another client or run)`;
  }
  if (summary.errorFindings) text += `; ${summary.errorFindings} error finding${summary.errorFindings === 1 ? '' : 's'}`;
  text += extra;
  const bad =
    Object.entries(summary.byServerAction).some(([a, n]) => n > 0 && !OK_ACTIONS.has(a as ServerAction)) ||
    (summary.notReached?.messages ?? 0) > 0 ||
    (summary.failed ?? 0) > 0 ||
    (summary.notInjected ?? 0) > 0;
  return bad ? c.red(text) : summary.errorFindings ? c.yellow(text) : c.green(text);
}

export interface HeadInput {
  title: string[];
  policy: string;
  mailbox: Omit<ReaderInfo, 'commands'>;
  tokenStore: PollReport['tokenStore'];
  /** How the server's own client connects here, and what that check found. */
  serverLogin?: ServerLoginReport;
  findings?: readonly Finding[];
}

/** The server's login steps (with --verbose) and the connection findings, `--insecure` first. */
export function serverLoginLines(serverLogin: ServerLoginReport | undefined, findings: readonly Finding[], c: ChalkInstance, opts: { verbose: boolean }): string[] {
  const lines: string[] = [];
  const { notice, rest } = insecureNotice(findings, c);
  lines.push(...notice);
  if (serverLogin && opts.verbose && serverLogin.steps.length) {
    lines.push(c.dim(`Calendar Server's own login here: ${serverLogin.steps.join('; ')}`));
    if (serverLogin.tlsUpgrade === 'tls1.0-only') lines.push(c.dim('This session offered TLS 1.0 only on STARTTLS/STLS, as the server\'s client does.'));
  }
  if (rest.length) lines.push('', ...renderFindings(rest, c, opts));
  return lines;
}

/** Nothing was read because of the access check, or the mailbox could not be opened: the findings and why. */
export function renderStopped(
  title: string[],
  serverLogin: ServerLoginReport,
  findings: readonly Finding[],
  c: ChalkInstance,
  opts: { verbose: boolean; quiet?: boolean },
  detail?: string,
): string {
  // The title is ours, already coloured; only what came from the server is made printable.
  [serverLogin, findings] = forTerminal([serverLogin, findings] as const);
  const serious = serverLogin.stopped !== 'certificate-not-verified';
  const text = `${GLYPH[serious ? 'error' : 'warning']} ${stoppedText(serverLogin.stopped, findings, detail === undefined ? undefined : printable(detail))}`;
  const last = serious ? c.red(text) : c.yellow(text);
  // --quiet: the summary line only.
  if (opts.quiet) return `${last}\n`;
  const lines = [...title, ...serverLoginLines(serverLogin, findings, c, opts)];
  if (lines[lines.length - 1] !== '') lines.push('');
  lines.push(last);
  return `${lines.join('\n')}\n`;
}

/** Where tokens were looked up, and why they stay "unchecked" when the server's store cannot be read. */
export function tokenStoreLines(ts: PollReport['tokenStore'], c: ChalkInstance, opts: { verbose: boolean }): string[] {
  const lines: string[] = [];
  const sent = ts.records === null ? 'no send-test records' : `${ts.records} send-test record${ts.records === 1 ? '' : 's'}`;
  if (!('server' in ts)) {
    lines.push(c.dim(`Token store ${ts.path}: ${sent}; the server's store was not read, so tokens are "unchecked"`));
    return lines;
  }
  const sv = ts.server;
  if (sv.readable) {
    lines.push(c.dim(`Server token store ${sv.location} (${sv.how}): ${sv.rows} row${sv.rows === 1 ? '' : 's'} in ${sv.table}, read in ${sv.ms ?? 0} ms; lookup: ${sv.lookupRule}`));
  } else {
    lines.push(c.yellow(`${GLYPH.warning} Server token store${sv.location ? ` ${sv.location}` : ''} not read: ${sv.error ?? 'unknown'}. Tokens are "unchecked" (${sent} used instead).`));
    if (sv.fix) lines.push(`  ${c.green('fix:')} ${sv.fix}`);
  }
  for (const n of sv.notes ?? []) lines.push(c.dim(`  note: ${n}`));
  for (const f of ts.findings) {
    if (f.id === 'token-store.unreadable' || f.id === 'token-store.unsupported') continue;
    const col = f.severity === 'error' ? c.red : f.severity === 'warning' ? c.yellow : c.cyan;
    lines.push(`${col(GLYPH[f.severity])} ${c.bold(f.id)}  ${f.message}`);
    if (opts.verbose) {
      const ev = formatEvidence(f.evidence);
      if (ev) lines.push(`  ${c.dim('evidence:')} ${ev}`);
    }
    lines.push(`  ${c.green('fix:')} ${f.fix}`);
  }
  return lines;
}

/** What is known before the first message: command, release, what the release reads, where. */
export function renderHead(h: HeadInput, c: ChalkInstance, opts: { verbose: boolean }): string[] {
  // The title is ours, already coloured; only what came from the server is made printable.
  h = { ...forTerminal({ ...h, title: [] }), title: h.title };
  const mb = h.mailbox;
  const lines = [...h.title, c.dim(`Reads: ${h.policy}`)];
  lines.push(
    c.dim(`${mb.protocol === 'imap' ? 'IMAP' : 'POP3'} ${mb.username}@${mb.server}:${mb.port} (TLS: ${mb.tls}${mb.tlsVersion ? `, ${mb.tlsVersion}` : ''}; ${mb.readOnly ? 'read-only: nothing on the server changes' : 'read-write'})`),
  );
  lines.push(...serverLoginLines(h.serverLogin, h.findings ?? [], c, opts));
  lines.push(...tokenStoreLines(h.tokenStore, c, opts));
  lines.push('', tableHead(mb.protocol, c, !mb.readOnly));
  return lines;
}

/** Messages per serverAction, most first; under each tokenless action, its rows per cause. */
export function renderGroupedSummary(summary: PollSummary, c: ChalkInstance): string[] {
  const nr = summary.notReached;
  const lines: string[] = [];
  const block = (heading: string, counts: PollSummary['byServerAction'], byCause: PollSummary['byTokenCause'], judged: boolean): void => {
    const actions = Object.entries(counts)
      .filter(([, n]) => n > 0)
      .sort((a, b) => b[1] - a[1]);
    if (!actions.length) return;
    const width = String(Math.max(...actions.map(([, n]) => n))).length;
    lines.push(c.bold(heading));
    for (const [action, n] of actions) {
      // Not judged: messages not reached this poll (the action is what happens once they are).
      const col = !judged ? c.dim : OK_ACTIONS.has(action as ServerAction) ? c.green : c.red;
      lines.push(`  ${String(n).padStart(width)}  ${col(action)}`);
      const causes = Object.entries(byCause?.[action as ServerAction] ?? {}).sort((a, b) => b[1] - a[1]);
      for (const [cause, k] of causes) lines.push(`  ${' '.repeat(width)}    ${String(k).padStart(width)}  ${causeText(cause)}${cause === NO_CAUSE_NAMED ? '' : c.dim(` (${cause})`)}`);
    }
  };
  block(nr ? 'Summary: processed by this poll' : 'Summary', summary.byServerAction, summary.byTokenCause, true);
  if (nr) {
    const at = messageName(nr.behind);
    block(
      nr.everyPoll ? `Never reached while ${at} stays (what the server does once it reaches them)` : `Waiting for the next poll, behind ${at} (what the server does then)`,
      nr.byServerAction,
      nr.byTokenCause,
      false,
    );
  }
  return lines;
}

/** After the last message: the counts, what --apply did, an early end, the summary line. */
export function renderFoot(report: PollReport, c: ChalkInstance, opts: { verbose: boolean; quiet: boolean }): string[] {
  // What it prints of the report (the error, the notes) made printable; the rows are not its part.
  report = { ...forTerminal({ ...report, messages: [] }), messages: report.messages };
  const lines: string[] = [];
  if (!opts.quiet) {
    if (!report.summary.messages) lines.push(c.dim(report.error ? '(no message read before the session ended)' : '(no message to read)'));
    else lines.push('', ...renderGroupedSummary(report.summary, c));
    lines.push('');
    // A session that ended early: its traffic is not known, only what was judged before the end.
    const of = report.protocol === 'imap' || !report.error ? ` of ${report.stats.exists}` : '';
    lines.push(
      c.dim(
        report.error
          ? `${report.stats.selected}${of} messages read before the session ended, in ${report.stats.ms} ms`
          : `${report.stats.selected} of ${report.stats.exists} messages read in ${report.stats.ms} ms, ${report.stats.roundTrips} round trips, ${(report.stats.bytesIn / 1024).toFixed(0)} KiB received`,
      ),
    );
    if (opts.verbose) for (const cmd of report.commands) lines.push(c.dim(`  ${cmd}`));
    if (report.apply) {
      const a = report.apply as { notes?: string[] };
      for (const n of a.notes ?? []) lines.push(`${c.cyan(GLYPH.info)} ${n}`);
    }
  }
  if (report.error) {
    const after = report.mailbox.readOnly ? 'Nothing on the server was changed.' : 'Nothing was deleted that was not injected; the next run finishes the rest.';
    lines.push(c.red(`${GLYPH.error} ${report.error}. ${after}`));
  }
  lines.push(pollSummaryLine(report.summary, c));
  return lines;
}

/** The whole human report at once (the --apply path, and tests). */
export function renderReport(report: PollReport, c: ChalkInstance, opts: { verbose: boolean; quiet: boolean; header: string[] }): string {
  // Each part makes what it prints printable (renderHead, renderRow, renderFoot): no row is walked twice.
  const lines: string[] = [];
  if (!opts.quiet) {
    lines.push(
      ...renderHead(
        {
          title: opts.header,
          policy: report.policy,
          mailbox: report.mailbox,
          tokenStore: report.tokenStore,
          ...(report.serverLogin ? { serverLogin: report.serverLogin } : {}),
          ...(report.findings ? { findings: report.findings } : {}),
        },
        c,
        opts,
      ),
    );
    const rowOpts = { ...opts, fixesShown: new Map<string, string>() };
    for (const m of report.messages) lines.push(...renderRow(m, c, rowOpts));
  }
  lines.push(...renderFoot(report, c, opts));
  return `${lines.join('\n')}\n`;
}

/**
 * The `--json` document written as it is produced: the head once connected, each message as soon
 * as it is final, then the summary. The result is the same document `JSON.stringify(report, null, 2)`
 * gives, without holding the messages.
 */
export function jsonStream(write: (text: string) => void): { open: (head: Record<string, unknown>) => void; row: (row: PollMessage) => void; close: (tail: Record<string, unknown>) => void } {
  let rows = 0;
  // A row is written at the depth it has in the document by stringifying it inside a wrapper of
  // that depth and cutting the wrapper off: no pass over its lines to indent them afterwards.
  const WRAP_HEAD = '{\n  "m": [\n    '.length;
  const WRAP_TAIL = '\n  ]\n}'.length;
  const atDepth = (row: PollMessage): string => {
    const text = JSON.stringify({ m: [row] }, null, 2);
    return text.slice(WRAP_HEAD, text.length - WRAP_TAIL);
  };
  return {
    open(head) {
      write(`${JSON.stringify(head, null, 2).replace(/\n}$/, '')},\n  "messages": [`);
    },
    row(row) {
      // Two writes, not one joined string: joined, the row's text was copied once more to be written.
      write(rows++ ? ',\n    ' : '\n    ');
      write(atDepth(row));
    },
    close(tail) {
      write(`${rows ? '\n  ' : ''}],\n  ${JSON.stringify(tail, null, 2).slice(1, -1).trim()}\n}\n`);
    },
  };
}
