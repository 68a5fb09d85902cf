/** Human rendering of the round trip: one line per leg with its latency and verdict, then cleanup. */
import type { ChalkInstance } from 'chalk';
import { GLYPH, type OutputOptions } from '../report/style.js';
import type { LegName, RoundTripReport } from './run.js';
import { forTerminal } from '../report/terminal-text.js';

const LEG_TEXT: Record<LegName, string> = {
  sent: 'sent',
  delivered: 'at attendee',
  'reply-sent': 'reply sent',
  'reply-arrived': 'reply arrived',
  token: 'token',
  'server-action': 'server action',
};

export function renderRoundTrip(r: Omit<RoundTripReport, 'findings'>, c: ChalkInstance, out: OutputOptions): string[] {
  r = forTerminal(r);
  const lines = ['', c.bold(`Round trip as ${r.client} via ${r.account.imap} (sending through ${r.account.submission})`)];
  for (const leg of r.legs) {
    const glyph = leg.ok === null ? c.dim(GLYPH.skipped) : leg.ok ? c.green(GLYPH.ok) : c.red(GLYPH.error);
    const time = leg.seconds === null ? '' : c.dim(`  ${leg.seconds.toFixed(1)} s`);
    lines.push(`  ${glyph} ${LEG_TEXT[leg.leg].padEnd(14)}${leg.verdict}${time}`);
  }
  const result = r.exitCode === 0 ? c.green('passed') : c.red('failed');
  lines.push(`  ${c.bold('result')}        ${result} in ${r.totalSeconds.toFixed(1)} s (exit ${r.exitCode})`);
  const clean: string[] = [];
  if (r.cleanup.attendee) clean.push(`attendee invitation ${r.cleanup.attendee.removed}`);
  if (r.cleanup.gateway) clean.push(r.cleanup.gateway.kept ? 'reply kept in the gateway mailbox (--keep-reply)' : `gateway reply ${r.cleanup.gateway.removed}`);
  if (clean.length) lines.push(`  ${c.dim(`cleanup: ${clean.join(', ')}`)}`);
  if (r.serverMayTakeIt && (out.verbose || r.cleanup.gateway?.kept)) {
    const s = r.serverMayTakeIt;
    lines.push(
      `  ${c.dim(`If Calendar Server polls the gateway mailbox it may take the reply first: the token is imip's, not one it issued, so it would do ${s.serverAction}${s.logLine ? `, log "${s.logLine}"` : ''} (mailbox: ${s.mailboxEffect}).`)}`,
    );
  }
  return lines;
}
