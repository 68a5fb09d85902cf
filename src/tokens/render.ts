/** Human output of `imip tokens`, from the same report `--json` prints. */
import type { ChalkInstance } from 'chalk';
import { formatEvidence } from '../report/render.js';
import { GLYPH } from '../report/style.js';
import { explanationBeside, type RowOut, type TokensReport } from './report.js';
import { forTerminal } from '../report/terminal-text.js';

function rowLines(r: RowOut, c: ChalkInstance): string[] {
  const age = r.ageDays === null ? 'no date' : `last used ${r.lastUsed?.slice(0, 10)} (${r.ageDays} day${r.ageDays === 1 ? '' : 's'} ago)`;
  const purge = r.purgedAtNextGatewayStart ? c.yellow(' — deleted at the next gateway start') : '';
  // 2.x–4.x: a token in several rows is not recognized, however many of them are listed here.
  const held = r.heldByRows ? c.yellow(`  held by ${r.heldByRows} rows: the server does not recognize it (UNKNOWN_TOKEN)`) : '';
  return [`  ${c.bold(r.token)}${held}`, `    organizer ${r.organizer}`, `    attendee  ${r.attendee}`, `    event     ${r.uid}`, `    ${c.dim(age)}${purge}`];
}

export function renderTokens(r: TokensReport, c: ChalkInstance, opts: { verbose: boolean; quiet: boolean; header: string[] }): string {
  r = forTerminal(r);
  const lines: string[] = [];
  const s = r.store;
  if (!opts.quiet) {
    lines.push(...opts.header);
    lines.push(c.dim(`Token store ${s.location} (${s.how}): ${s.rows} row${s.rows === 1 ? '' : 's'} in ${s.table}; lookup: ${s.lookupRule}`));
    for (const n of s.notes ?? []) lines.push(c.dim(`note: ${n}`));
    lines.push('');
  }
  let summary: string;
  if (r.mode === 'token') {
    const t = r.token!;
    const head = t.acceptedToday ? c.green(`${GLYPH.ok} accepted today (${t.serverAction})`) : c.red(`${GLYPH.error} not recognized (${t.serverAction})`);
    if (!opts.quiet) {
      lines.push(`${c.bold(t.token)}  ${head}`);
      // What a finding below says too is said there only.
      const explanation = explanationBeside(t, r.findings);
      if (explanation) lines.push(`  ${explanation}`);
      for (const row of t.rows) lines.push(...rowLines(row, c));
      if (t.nearMatches.length) {
        lines.push('', c.bold('Near matches (the reply\'s token may have been changed on the way):'));
        for (const n of t.nearMatches) lines.push(...rowLines(n, c).map((l, i) => (i === 0 ? `${l}  ${c.dim(n.how)}` : l)));
      }
    }
    summary = t.acceptedToday ? c.green(`token known: ${t.serverAction}`) : c.red(`token not recognized: ${t.serverAction}`);
  } else if (r.mode === 'list') {
    const rows = r.rows!;
    if (!opts.quiet) for (const row of rows) lines.push(...rowLines(row, c));
    const q = Object.entries(r.query).filter(([, v]) => v).map(([k, v]) => `${k} ${v}`).join(', ');
    // Tokens, not rows: on 2.x–4.x one token may be held by several rows.
    const tokens = new Set(rows.map((x) => x.token)).size;
    const count = `${tokens} token${tokens === 1 ? '' : 's'}${tokens !== rows.length ? ` (${rows.length} rows)` : ''}`;
    summary = rows.length ? c.green(`${count} for ${q}`) : c.red(`no token for ${q}`);
  } else {
    const st = r.stats!;
    if (!opts.quiet) {
      const n = (k: number, w: string): string => `${k} ${w}${k === 1 ? '' : 's'}`;
      lines.push([n(st.rows, 'row'), n(st.tokens, 'token'), n(st.organizers, 'organizer'), n(st.attendees, 'attendee'), n(st.events, 'event')].join(', '));
      if (st.duplicateTokens) lines.push(c.yellow(`${st.duplicateTokens} token${st.duplicateTokens === 1 ? '' : 's'} held by more than one row`));
      if (st.oldest) lines.push(c.dim(`last used: oldest ${st.oldest.slice(0, 10)}, newest ${st.newest?.slice(0, 10)}`));
      lines.push('', c.bold('Age (since the last invitation that used the token)'));
      for (const a of st.ages) lines.push(`  ${a.bucket.padEnd(12)} ${String(a.rows).padStart(7)}`);
      lines.push('');
      if (st.nextPurge) {
        lines.push(
          `Next purge (at the next start of the mail gateway, InvitationDaysToLive ${st.nextPurge.days}): ${st.nextPurge.rows} row${st.nextPurge.rows === 1 ? '' : 's'} (${st.nextPurge.tokens} token${st.nextPurge.tokens === 1 ? '' : 's'}) last used before ${st.nextPurge.before}`,
        );
      } else {
        lines.push(c.dim('This release never deletes tokens (InvitationDaysToLive is not applied from 5.0 on).'));
      }
    }
    summary = `${st.rows} rows in ${s.table}${st.nextPurge ? `; next purge removes ${st.nextPurge.rows}` : ''}`;
  }
  for (const f of r.findings) {
    const col = f.severity === 'error' ? c.red : f.severity === 'warning' ? c.yellow : c.cyan;
    lines.push('', `${col(GLYPH[f.severity])} ${c.bold(f.id)}  ${f.message}`);
    if (opts.verbose) {
      const ev = formatEvidence(f.evidence);
      if (ev) lines.push(`  ${c.dim('evidence:')} ${ev}`);
    }
    lines.push(`  ${c.green('fix:')} ${f.fix}`);
  }
  lines.push(summary);
  return `${lines.join('\n')}\n`;
}
