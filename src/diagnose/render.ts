/**
 * Human output of `imip diagnose`, like a doctor (`brew doctor`): what was examined, one
 * status line per area, then each area's findings (cause, evidence, fix; findings of the same id
 * over several messages are shown once, with the others listed), then one summary line. JSON
 * output is the DiagnoseReport itself; nothing here decides anything.
 */
import type { ChalkInstance } from 'chalk';
import { evidenceLine, insecureNotice } from '../report/render.js';
import { GLYPH } from '../report/style.js';
import { SEVERITY_ORDER } from '../report/finding.js';
import { AREAS, AREA_TITLES, type DiagnoseFinding } from './findings.js';
import type { AreaState } from './areas.js';
import type { DiagnoseReport } from './run.js';
import { forTerminal } from '../report/terminal-text.js';

const STATE_GLYPH: Record<AreaState, string> = { ok: GLYPH.ok, warning: GLYPH.warning, error: GLYPH.error, 'not-tested': GLYPH.skipped, 'not-applicable': GLYPH.skipped };

/** Evidence keys shown in the fix or too long for a line. */
const HIDDEN_EVIDENCE = new Set(['record', 'plistKeys']);
/** A log finding's message already says these; its path is file:line. */
const LOG_EVIDENCE_IN_MESSAGE = new Set(['count', 'first', 'last', 'file', 'line']);

function stateColour(c: ChalkInstance, s: AreaState | DiagnoseFinding['severity']): (t: string) => string {
  return s === 'error' ? c.red : s === 'warning' ? c.yellow : s === 'ok' ? c.green : s === 'info' ? c.cyan : c.dim;
}

function indentBlock(text: string, ind: string): string[] {
  return text.split('\n').map((l) => `${ind}${l}`);
}

export interface RenderOptions {
  verbose: boolean;
  quiet: boolean;
}

export function renderDiagnose(r: DiagnoseReport, c: ChalkInstance, o: RenderOptions, versionLine: string): string {
  r = forTerminal(r);
  const lines: string[] = [];
  // A ✓ only for a clean bill of health: every area tested (or not applicable) and passed.
  const summaryColour = r.summary.healthy ? c.green : r.exitCode === 0 ? c.yellow : c.red;
  const summaryGlyph = r.summary.healthy ? GLYPH.ok : r.exitCode === 0 ? GLYPH.skipped : GLYPH.error;
  if (o.quiet) return `${summaryColour(`${summaryGlyph} ${r.summary.line}`)}\n`;

  lines.push(`${c.bold('imip diagnose')}  ${r.config ?? '(no config)'}`);
  lines.push(c.dim(versionLine));
  for (const i of r.inputs) {
    const status = i.status === 'read' ? '' : i.status === 'not-found' ? ' (not found)' : i.status === 'not-used' ? ' (not used)' : i.status === 'partial' ? ' (partly read)' : ' (could not be examined)';
    const text = `  ${i.kind} ${i.path}${status}${i.detail ? `: ${i.detail}` : ''}${i.error ? ` — ${i.error}` : ''}`;
    lines.push(i.status === 'error' ? c.red(text) : c.dim(text));
  }
  // --insecure is said before the results it concerns, once.
  const { notice } = insecureNotice(r.findings, c);
  lines.push(...notice);
  lines.push('');

  const width = Math.max(...AREAS.map((a) => AREA_TITLES[a].length)) + 2;
  for (const a of r.areas) {
    const col = stateColour(c, a.status);
    lines.push(`${col(`[${STATE_GLYPH[a.status]}]`)} ${c.bold(a.title.padEnd(width))}${a.status === 'not-tested' || a.status === 'not-applicable' ? c.dim(a.summary) : a.summary}`);
  }

  for (const area of AREAS) {
    const own = r.findings.filter((f) => f.area === area && f.id !== 'tls.insecure' && (f.severity !== 'info' || o.verbose || f.source === 'directory' || f.source === 'probe'));
    if (!own.length) continue;
    lines.push('', c.bold(AREA_TITLES[area]));
    // Group by id (the same cause over several messages), errors first, report order otherwise.
    const groups = new Map<string, DiagnoseFinding[]>();
    for (const f of own) {
      const key = f.source === 'mailbox' || f.source === 'message' ? f.id : `${f.id}\u0000${f.path}\u0000${f.source}`;
      groups.set(key, [...(groups.get(key) ?? []), f]);
    }
    const sorted = [...groups.values()].sort((x, y) => SEVERITY_ORDER[x[0]!.severity] - SEVERITY_ORDER[y[0]!.severity]);
    for (const group of sorted) {
      const f = group[0]!;
      const col = stateColour(c, f.severity);
      const where = typeof f.evidence.message === 'string' ? f.evidence.message : f.path;
      lines.push(`  ${col(GLYPH[f.severity])} ${c.bold(f.id)}  ${c.dim(where)}`);
      lines.push(...indentBlock(f.message, '    '));
      const ev: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(f.evidence)) {
        if (HIDDEN_EVIDENCE.has(k) || k === 'message') continue;
        if (!o.verbose && f.source === 'log' && f.id.startsWith('log.') && LOG_EVIDENCE_IN_MESSAGE.has(k)) continue;
        ev[k] = v;
      }
      const evText = evidenceLine(ev, o.verbose, [f.message, f.fix, where], { listsAsJson: true });
      if (evText) lines.push(`    ${c.dim('evidence:')} ${c.dim(evText)}`);
      const [firstFix, ...restFix] = f.fix.split('\n');
      lines.push(`    ${c.green('fix:')} ${firstFix}`);
      for (const l of restFix) lines.push(`    ${l}`);
      if (group.length > 1) {
        const others = group.slice(1).map((g) => String(g.evidence.message ?? g.path));
        const shown = o.verbose ? others : others.slice(0, 8);
        lines.push(`    ${c.dim(`also in ${others.length} more: ${shown.join(', ')}${shown.length < others.length ? ', …' : ''}`)}`);
      }
    }
  }

  if (o.verbose) {
    if (r.messages.length) {
      lines.push('', c.bold('Messages'));
      for (const m of r.messages) {
        // The mark is the worst of the message's own findings, as its area's line counts them: a
        // message the server fails on is ✗ whatever its token, and a bounce without a token that
        // is no problem of the setup (no finding) is ✓.
        const own = r.findings.filter((f) => (f.source === 'message' || f.source === 'mailbox') && f.evidence.message === m.label);
        const worst = own.some((f) => f.severity === 'error') ? 'error' : own.some((f) => f.severity === 'warning') ? 'warning' : 'ok';
        const flag = stateColour(c, worst)(GLYPH[worst]);
        lines.push(`  ${flag} ${m.label}  ${m.messageId ?? '(no Message-ID)'}  ${m.serverAction}${m.seen ? ' \\Seen' : ''}`);
        lines.push(c.dim(`      To ${m.to || '(none)'}; server logs: ${m.logLine || '(nothing)'}`));
        if (m.causes.length) lines.push(c.dim(`      causes: ${m.causes.join(', ')}`));
        for (const p of m.problems) lines.push(`      ${c.yellow(`MIME: ${p}`)}`);
      }
    }
    if (r.logs?.entries.length) {
      lines.push('', c.bold('Log lines recognised'));
      for (const e of r.logs.entries) {
        lines.push(`  ${stateColour(c, e.severity as DiagnoseFinding['severity'])(e.id.padEnd(34))} ${String(e.count).padStart(7)}  ${e.first ?? '?'} … ${e.last ?? '?'}`);
        lines.push(c.dim(`      ${e.example}`));
      }
    }
  }

  lines.push('', summaryColour(`${summaryGlyph} ${r.summary.line}`));
  return `${lines.join('\n')}\n`;
}
