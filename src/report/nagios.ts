/**
 * `--format nagios`: the monitoring plugin conventions (Nagios, Icinga, Naemon, Shinken).
 *
 * - One line: `IMIP OK - <text> | <perfdata>`, or WARNING, CRITICAL, UNKNOWN.
 * - Exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (only in this mode).
 * - Perfdata `label=value[UOM];[warn];[crit];[min];[max]`, space separated; labels here never need
 *   quotes (letters, digits, `_`, `-`, `.`); times in seconds (`s`), counts without a unit.
 * - `--warning` / `--critical`: `LABEL=RANGE[,LABEL=RANGE…]`, a bare RANGE meaning `time`.
 *   RANGE as the plugin guidelines define it: `10` (outside 0..10), `10:` (below 10), `~:10`
 *   (above 10), `10:20` (outside 10..20), `@10:20` (inside 10..20).
 *
 * State: UNKNOWN when the command could not run at all; CRITICAL for an error finding, a failed
 * check (the command's own exit code not 0, unless that command's exit follows its findings and
 * they are warnings) or a critical threshold crossed; WARNING for a warning finding or a warning
 * threshold; else OK.
 */
import { CannotRunError } from './exit.js';
import type { MonitorSample } from './monitoring.js';
import { forTerminal } from './terminal-text.js';

export type NagiosState = 'OK' | 'WARNING' | 'CRITICAL' | 'UNKNOWN';
export const NAGIOS_EXIT: Record<NagiosState, number> = { OK: 0, WARNING: 1, CRITICAL: 2, UNKNOWN: 3 };

export interface Range {
  text: string;
  start: number;
  end: number;
  /** `@`: alert inside the range instead of outside. */
  inside: boolean;
}

export type Thresholds = Map<string, Range>;

export interface PerfValue {
  label: string;
  value: number;
  uom: '' | 's';
  min?: number;
}

const NUMBER = /^-?\d+(?:\.\d+)?$/;

export function parseRange(text: string): Range | null {
  let t = text.trim();
  const inside = t.startsWith('@');
  if (inside) t = t.slice(1);
  // "10" means 0:10; "10:" means 10:infinity; "~" is minus infinity.
  const parts = t.includes(':') ? t.split(':') : ['', t];
  if (parts.length !== 2) return null;
  const [a = '', b = ''] = parts;
  if (!t.includes(':') && !NUMBER.test(b)) return null;
  const start = a === '~' ? -Infinity : a === '' ? 0 : NUMBER.test(a) ? Number(a) : NaN;
  const end = b === '' ? Infinity : NUMBER.test(b) ? Number(b) : NaN;
  if (Number.isNaN(start) || Number.isNaN(end)) return null;
  if (start > end) return null;
  return { text: text.trim(), start, end, inside };
}

/** `--warning` / `--critical`: `LABEL=RANGE,…` or a bare RANGE for `time`. */
export function parseThresholds(flag: string, value: string | undefined): Thresholds {
  const out: Thresholds = new Map();
  if (value === undefined) return out;
  for (const item of value.split(',').map((s) => s.trim()).filter(Boolean)) {
    const eq = item.indexOf('=');
    const label = eq < 0 ? 'time' : item.slice(0, eq).trim();
    const range = parseRange(eq < 0 ? item : item.slice(eq + 1));
    if (!range || !/^[A-Za-z0-9_.-]+$/.test(label)) {
      throw new CannotRunError(`${flag}: ${JSON.stringify(item)} is not LABEL=RANGE (a perfdata label such as time or leg_reply-arrived, and a range such as 60, 10:, ~:5 or @0:1)`);
    }
    // A label no run ever gives (a typo) would never alert: refused, as a malformed range is.
    if (!knownLabel(label)) {
      // A known group with a stage it has not (smtp_startls): its stages, not the whole catalogue.
      const group = splitLabel(label)?.[0];
      const stages = group ? STAGES_BY_GROUP.get(group) : undefined;
      throw new CannotRunError(
        `${flag}: ${JSON.stringify(label)} is no perfdata label imip gives; ${stages ? `the ${group} stages are ${[...stages].join(', ')}` : LABELS_TEXT}`,
      );
    }
    out.set(label, range);
  }
  return out;
}

/** Labels given whatever the command (`roundtrip` by send-test --reply-from). */
const FIXED_LABELS = new Set(['time', 'errors', 'warnings', 'roundtrip']);
/** The round trip's legs (roundtrip/run.ts `LegName`). */
const LEGS = new Set(['sent', 'delivered', 'reply-sent', 'reply-arrived', 'token', 'server-action']);
/**
 * The stages each group of a stage's label ({@link perfValues}) can name: the protocol of a
 * connection test (smtp, imap, pop3, or unknown for a Type no release polls), check-config
 * --connect's probe names (smtp, mailbox), poll's cycle, diagnose's probe, and the command itself
 * where a document names no protocol. The probes' stage names (src/probes/, src/net/) are kept
 * in step with this list by test/report/stage-labels.test.ts.
 */
const SMTP_STAGES = ['resolve', 'connect', 'greeting', 'ehlo', 'starttls', 'ehlo-tls', 'auth', 'mail-from', 'rcpt-to', 'data', 'relay-check', 'quit', 'send', 'internal'];
const MAILBOX_STAGES = ['resolve', 'connect', 'server-login', 'tls', 'greeting', 'starttls', 'login', 'inbox', 'stat', 'uidl', 'sample', 'logout', 'quit', 'protocol', 'internal'];
const ANY_STAGE = [...new Set([...SMTP_STAGES, ...MAILBOX_STAGES, 'cycle', 'plus-address'])];
export const STAGES_BY_GROUP: ReadonlyMap<string, ReadonlySet<string>> = new Map<string, ReadonlySet<string>>([
  ['smtp', new Set(SMTP_STAGES)],
  ...(['imap', 'pop3', 'unknown', 'mailbox'] as const).map((g) => [g, new Set(MAILBOX_STAGES)] as [string, ReadonlySet<string>]),
  ['poll', new Set(['cycle'])],
  ['probe', new Set(['plus-address'])],
  ...(['check-config', 'test-smtp', 'test-mailbox', 'send-test', 'diagnose', 'tokens'] as const).map((g) => [g, new Set(ANY_STAGE)] as [string, ReadonlySet<string>]),
]);
const LABELS_TEXT =
  'the labels are time, errors, warnings, a stage as <group>_<stage> (smtp_starttls, smtp_auth, imap_login, pop3_login, mailbox_login, poll_cycle, …), ' +
  'messages_<action> (poll: messages_no_token, …), roundtrip and leg_<leg> (send-test: leg_sent, leg_delivered, leg_reply-sent, leg_reply-arrived)';

/** A label's family (a stage's group, `leg`, `messages`) and what follows its first "_". */
function splitLabel(text: string): [string, string] | null {
  const m = /^([A-Za-z0-9.-]+)_(.+)$/.exec(text);
  return m ? [m[1]!, m[2]!] : null;
}

/** Whether some run of some command gives this perfdata label. */
export function knownLabel(text: string): boolean {
  if (FIXED_LABELS.has(text)) return true;
  const split = splitLabel(text);
  if (!split) return false;
  const [family, rest] = split;
  if (family === 'leg') return LEGS.has(rest);
  if (family === 'messages') return /^[a-z_]+$/.test(rest);
  return STAGES_BY_GROUP.get(family)?.has(rest) ?? false;
}

export function alerts(range: Range, value: number): boolean {
  const outside = value < range.start || value > range.end;
  return range.inside ? !outside : outside;
}

const label = (s: string): string => s.replace(/[^A-Za-z0-9_.-]+/g, '_');
const round = (n: number): number => Math.round(n * 1000) / 1000;

/** The perfdata values of a sample, in a stable order. */
export function perfValues(s: MonitorSample): PerfValue[] {
  const out: PerfValue[] = [{ label: 'time', value: round(s.durationSeconds), uom: 's', min: 0 }];
  for (const st of s.stages) out.push({ label: label(`${st.group}_${st.stage}`), value: round(st.seconds), uom: 's', min: 0 });
  if (s.roundTripSeconds !== null) out.push({ label: 'roundtrip', value: round(s.roundTripSeconds), uom: 's', min: 0 });
  for (const leg of s.legs ?? []) if (leg.seconds !== null) out.push({ label: label(`leg_${leg.leg}`), value: round(leg.seconds), uom: 's', min: 0 });
  for (const [action, n] of Object.entries(s.messages ?? {})) out.push({ label: label(`messages_${action.toLowerCase()}`), value: n, uom: '', min: 0 });
  out.push({ label: 'errors', value: s.findings.error, uom: '', min: 0 }, { label: 'warnings', value: s.findings.warning, uom: '', min: 0 });
  return out;
}

function perfdata(values: PerfValue[], warn: Thresholds, crit: Thresholds): string {
  return values
    .map((v) => `${v.label}=${v.value}${v.uom};${warn.get(v.label)?.text ?? ''};${crit.get(v.label)?.text ?? ''};${v.min ?? ''};`.replace(/;+$/, ''))
    .join(' ');
}

/** The status text must not hold `|` (it starts the perfdata) nor a line break. */
function clean(text: string, max = 240): string {
  const t = text.replace(/[\r\n]+/g, ' ').replace(/\|/g, '/').replace(/\s+/g, ' ').trim();
  return t.length > max ? `${t.slice(0, max - 1)}…` : t;
}

export interface NagiosResult {
  state: NagiosState;
  exitCode: number;
  line: string;
}

export function renderNagios(s: MonitorSample, warn: Thresholds, crit: Thresholds): NagiosResult {
  s = forTerminal(s);
  const values = perfValues(s);
  const crossed = (t: Thresholds): string[] =>
    values.filter((v) => t.has(v.label) && alerts(t.get(v.label)!, v.value)).map((v) => `${v.label} ${v.value}${v.uom} ${t.get(v.label)!.inside ? 'inside' : 'outside'} ${t.get(v.label)!.text}`);
  let state: NagiosState;
  let text: string;
  if (s.cannotRun !== null) {
    state = 'UNKNOWN';
    text = `${s.command}: ${s.interrupted ? s.cannotRun : `could not run: ${s.cannotRun}`}`;
  } else {
    const critical = crossed(crit);
    const warning = crossed(warn);
    const errors = s.problems.filter((p) => p.severity === 'error');
    const warnings = s.problems.filter((p) => p.severity === 'warning');
    // The counts decide; the first problem (when the document lists them) is named.
    const describe = (list: typeof s.problems, total: number, what: string): string => {
      const first = list[0];
      if (!first) return total ? `${total} ${what}${total === 1 ? '' : 's'}` : '';
      return `${first.id}: ${first.message}${total > 1 ? ` (+${total - 1} more)` : ''}`;
    };
    // A failed exit is CRITICAL unless the command's findings alone decide it (exit 1) and name
    // only warnings.
    const failed = !s.up && !(s.exitFromFindings && s.exitCode === 1 && s.findings.warning > 0);
    if (s.findings.error || failed || critical.length) {
      state = 'CRITICAL';
      const parts = [s.findings.error ? describe(errors, s.findings.error, 'error') : failed ? (s.error ?? 'the check failed') : '', ...critical].filter(Boolean);
      text = `${s.command}: ${parts.join('; ')}`;
    } else if (s.findings.warning || warning.length) {
      state = 'WARNING';
      text = `${s.command}: ${[s.findings.warning ? describe(warnings, s.findings.warning, 'warning') : '', ...warning].filter(Boolean).join('; ')}`;
    } else {
      state = 'OK';
      text = `${s.command}: ${s.summary}`;
    }
  }
  return { state, exitCode: NAGIOS_EXIT[state], line: `IMIP ${state} - ${clean(text)} | ${perfdata(values, warn, crit)}` };
}
