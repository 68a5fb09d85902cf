/**
 * Human rendering of findings and stages. JSON output is the same data passed to
 * JSON.stringify by each command; nothing here decides anything.
 */
import type { ChalkInstance } from 'chalk';
import type { StageResult } from './stage.js';
import { bySeverity, countBySeverity, type Finding, type Severity } from './finding.js';
import { GLYPH } from './style.js';
import { forTerminal } from './terminal-text.js';

const HEADINGS: Record<Severity, string> = { error: 'Errors', warning: 'Warnings', info: 'Notes' };

function colourFor(c: ChalkInstance, s: Severity): (t: string) => string {
  return s === 'error' ? c.red : s === 'warning' ? c.yellow : c.cyan;
}

export function formatValue(v: unknown): string {
  if (v === null || v === undefined) return '(none)';
  if (typeof v === 'string') return v === '' ? '""' : v;
  return JSON.stringify(v);
}

export function formatEvidence(evidence: Record<string, unknown>): string {
  return Object.entries(evidence)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${formatValue(v)}`)
    .join(', ');
}

/** Longest evidence value shown without --verbose; longer ones stay in --verbose and --json. */
export const BRIEF_VALUE_MAX = 100;

/**
 * Evidence for human output, said once: without --verbose, short `key=value` pairs only (see
 * briefEvidence), leaving out every value the surrounding text (message, stage error, hint, fix)
 * already says, and values longer than {@link BRIEF_VALUE_MAX}.
 */
export function evidenceLine(
  evidence: Record<string, unknown>,
  verbose: boolean,
  saidAlready: readonly string[] = [],
  /** Findings keep a short list exact (`patterns=["a","b"]`); stages list words (`addresses=a b`). */
  opts: { listsAsJson?: boolean } = {},
): string {
  if (verbose) return formatEvidence(evidence);
  const said = saidAlready.join('\n').toLowerCase();
  const out: Record<string, unknown> = {};
  let long = 0;
  for (const [k, v] of Object.entries(briefEvidence(evidence))) {
    const raw = evidence[k];
    if (raw && typeof raw === 'object' && !Array.isArray(raw) && ('protocol' in raw || 'subjectCN' in raw)) {
      // The certificate in one line; why it is not trusted is the error's or the message's to say.
      out[k] = tlsSummary({ ...(raw as TlsLike), reason: undefined } as TlsLike);
      continue;
    }
    const value = opts.listsAsJson && Array.isArray(raw) && raw.length > 0 && raw.length <= 8 && raw.every((x) => typeof x !== 'object') ? raw : v;
    const text = formatValue(value);
    if (typeof v === 'string' && text.length >= 12 && said.includes(text.toLowerCase())) continue;
    if (text.length > BRIEF_VALUE_MAX) {
      long++;
      continue;
    }
    out[k] = value;
  }
  const line = formatEvidence(out);
  return long ? `${line}${line ? ', ' : ''}(${long} long value${long === 1 ? '' : 's'}: --verbose)` : line;
}

/**
 * `--insecure` is said before the results it concerns: the `tls.insecure` findings as one notice
 * line each, to print above the stages, and the other findings to print as usual.
 */
export function insecureNotice(findings: readonly Finding[], c: ChalkInstance): { notice: string[]; rest: Finding[] } {
  const notice = findings.filter((f) => f.id === 'tls.insecure').map((f) => `${c.yellow(GLYPH.warning)} ${c.bold(f.id)}  ${f.message.replace(/ below /, ' that follow ')}`);
  return { notice: [...new Set(notice)], rest: findings.filter((f) => f.id !== 'tls.insecure') };
}

/** Findings grouped by severity, each with its fix. */
export function renderFindings(findings: readonly Finding[], c: ChalkInstance, opts: { verbose: boolean; indent?: string }): string[] {
  findings = forTerminal(findings);
  const ind = opts.indent ?? '';
  const lines: string[] = [];
  const sorted = [...findings].sort(bySeverity);
  for (const sev of ['error', 'warning', 'info'] as const) {
    const group = sorted.filter((f) => f.severity === sev);
    if (!group.length) continue;
    const col = colourFor(c, sev);
    lines.push(`${ind}${c.bold(col(HEADINGS[sev]))}`);
    for (const f of group) {
      lines.push(`${ind}  ${col(GLYPH[sev])} ${c.bold(f.id)}  ${c.dim(f.path)}`);
      lines.push(`${ind}    ${f.message}`);
      if (sev !== 'info' || opts.verbose) {
        const ev = evidenceLine(f.evidence, opts.verbose, [f.message, f.fix, f.path], { listsAsJson: true });
        if (ev) lines.push(`${ind}    ${c.dim('evidence:')} ${ev}`);
      }
      lines.push(`${ind}    ${c.green('fix:')} ${f.fix}`);
    }
    lines.push('');
  }
  return lines;
}

export function summaryLine(findings: readonly Finding[], c: ChalkInstance, extra = ''): string {
  const n = countBySeverity(findings);
  const plural = (k: number, w: string): string => `${k} ${w}${k === 1 ? '' : 's'}`;
  const text = `${plural(n.error, 'error')}, ${plural(n.warning, 'warning')}, ${n.info} note${n.info === 1 ? '' : 's'}${extra}`;
  return n.error ? c.red(text) : n.warning ? c.yellow(text) : c.green(text);
}

/** One line per stage: glyph, name, milliseconds, the key evidence or the error and hint. */
export function renderStages(
  stages: readonly StageResult[],
  c: ChalkInstance,
  opts: {
    verbose: boolean;
    indent?: string;
    /** The findings printed after the stages: a hint one of them gives as its fix is not repeated here. */
    findings?: readonly Finding[];
    /**
     * The test's own findings hold no error: a stage it stopped at stopped it on a warning (a
     * certificate this tool does not trust, where Calendar Server goes on), shown `!`, not `✗`.
     */
    stoppedOnWarning?: boolean;
  },
): string[] {
  stages = forTerminal(stages);
  const fixes = new Set((opts.findings ?? []).map((f) => f.fix.trim()));
  const ind = opts.indent ?? '';
  const lines: string[] = [];
  for (const s of stages) {
    // A stage that passed over a certificate this tool does not trust is marked too: the test
    // stops before the password there (test-smtp's AUTH), as it does where the TLS stage stops.
    const warned = !s.skipped && (s.ok ? untrustedTls(s.evidence) : opts.stoppedOnWarning === true);
    const glyph = s.skipped ? c.dim(GLYPH.skipped) : warned ? c.yellow(GLYPH.warning) : s.ok ? c.green(GLYPH.ok) : c.red(GLYPH.error);
    const ms = s.skipped ? c.dim('skipped') : c.dim(`${Math.round(s.ms)} ms`);
    lines.push(`${ind}${glyph} ${s.stage.padEnd(12)} ${ms}`);
    if (s.error) lines.push(`${ind}    ${warned ? c.yellow(s.error) : c.red(s.error)}`);
    if (s.hint && (opts.verbose || !fixes.has(s.hint.trim()))) lines.push(`${ind}    ${c.green('hint:')} ${s.hint}`);
    const ev = evidenceLine(s.evidence, opts.verbose, [s.error ?? '', s.hint ?? '']);
    if (ev) lines.push(`${ind}    ${c.dim(ev)}`);
  }
  return lines;
}

/** Stage evidence with a certificate that did not verify, checks on. */
function untrustedTls(evidence: Record<string, unknown>): boolean {
  const t = evidence.tls as TlsLike | undefined;
  return typeof t === 'object' && t !== null && t.verified === false && !t.checksDisabled;
}

interface TlsLike {
  protocol?: string | null;
  cipher?: string | null;
  subjectCN?: string | null;
  issuer?: string | null;
  validTo?: string | null;
  daysLeft?: number | null;
  verified?: boolean;
  reason?: string;
  checksDisabled?: boolean;
}

/** One line for certificate evidence: what an admin reads first. */
export function tlsSummary(t: TlsLike): string {
  const parts = [t.protocol, t.cipher].filter(Boolean).join(' ');
  const cert = t.subjectCN ? `certificate ${t.subjectCN}${t.issuer && t.issuer !== t.subjectCN ? ` issued by ${t.issuer}` : ''}` : '';
  const until = t.validTo ? `valid until ${t.validTo.slice(0, 10)}${typeof t.daysLeft === 'number' ? ` (${t.daysLeft} days)` : ''}` : '';
  const verdict = t.checksDisabled ? 'NOT checked (--insecure)' : t.verified ? 'verified' : `not trusted${t.reason ? `: ${t.reason}` : ''}`;
  return [parts, cert, until, verdict].filter(Boolean).join(', ');
}

/** Without --verbose: scalars and short lists; certificate objects as one line; other objects left out. */
export function briefEvidence(evidence: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(evidence)) {
    if (v === null || v === undefined) continue;
    if (typeof v !== 'object') out[k] = v;
    else if (Array.isArray(v)) {
      if (v.length === 0) out[k] = '(none)';
      else if (v.length <= 8 && v.every((x) => typeof x !== 'object')) out[k] = v.join(' ');
    } else if ('protocol' in v || 'subjectCN' in v) out[k] = tlsSummary(v as TlsLike);
  }
  return out;
}
