/**
 * The numbers and the verdict that the monitoring formats (Nagios/Icinga, Prometheus) show,
 * read once from the very document `--json` prints: nothing is measured or judged again here.
 * Pure; the document is read by its shape (findings, stages, probes, a poll summary, a round trip),
 * so this module knows no command's types.
 */
import type { Severity } from './finding.js';

export interface MonitorStage {
  /** What was probed: smtp, imap, pop3, mailbox, poll, probe. */
  group: string;
  stage: string;
  ok: boolean;
  seconds: number;
}

export interface MonitorLeg {
  leg: string;
  ok: boolean | null;
  seconds: number | null;
  verdict: string;
}

export interface MonitorProblem {
  id: string;
  severity: Severity;
  message: string;
}

export interface MonitorSample {
  command: string;
  /** The check passed: the command's own exit code was 0. */
  up: boolean;
  /**
   * The command's exit code follows its findings alone (1 for any error or warning), so a run
   * failed only by warnings is a WARNING, not a failed check.
   */
  exitFromFindings: boolean;
  /** The command could not run at all (bad flags, unreadable config): the message; no document. */
  cannotRun: string | null;
  /** With `cannotRun`: the run was stopped by a signal before it finished (the message says how far it got). */
  interrupted?: boolean;
  exitCode: number;
  /** Wall time of the whole command. */
  durationSeconds: number;
  findings: Record<Severity, number>;
  /** Errors first, then warnings (the first few), for the status text. */
  problems: MonitorProblem[];
  stages: MonitorStage[];
  /** poll: messages per server action. */
  messages: Record<string, number> | null;
  /** send-test --reply-from: each leg. */
  legs: MonitorLeg[] | null;
  roundTripSeconds: number | null;
  /** A short phrase for an OK status line. */
  summary: string;
  /** The document's own error text (poll cut short, mailbox unreadable), if any. */
  error: string | null;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
const SEVERITIES: readonly Severity[] = ['error', 'warning', 'info'];
/**
 * Commands whose exit code is 1 exactly when a finding is an error or a warning: `tokens`, and
 * `diagnose` (1 when its findings count an error or a warning, src/diagnose/run.ts).
 */
const EXIT_FROM_FINDINGS: ReadonlySet<string> = new Set(['tokens', 'diagnose']);

function stagesOf(group: string, list: unknown): MonitorStage[] {
  const out: MonitorStage[] = [];
  for (const s of arr(list)) {
    if (!isObj(s) || s.skipped === true) continue;
    const stage = str(s.stage) ?? str(s.name);
    const ms = num(s.ms);
    if (!stage || ms === null) continue;
    out.push({ group, stage, ok: s.ok === true, seconds: ms / 1000 });
  }
  return out;
}

function findingsOf(doc: Obj): { counts: Record<Severity, number>; problems: MonitorProblem[] } {
  const counts: Record<Severity, number> = { error: 0, warning: 0, info: 0 };
  const problems: MonitorProblem[] = [];
  const add = (f: unknown): void => {
    if (!isObj(f)) return;
    const sev = f.severity as Severity;
    if (!SEVERITIES.includes(sev)) return;
    counts[sev]++;
    if (sev !== 'info') problems.push({ id: str(f.id) ?? '', severity: sev, message: str(f.message) ?? '' });
  };
  arr(doc.findings).forEach(add);
  for (const m of arr(doc.messages)) if (isObj(m)) arr(m.findings).forEach(add);
  if (isObj(doc.findingsBySeverity)) for (const s of SEVERITIES) counts[s] += num(doc.findingsBySeverity[s]) ?? 0;
  problems.sort((a, b) => (a.severity === b.severity ? 0 : a.severity === 'error' ? -1 : 1));
  return { counts, problems: problems.slice(0, 5) };
}

function summaryOf(command: string, doc: Obj, stages: MonitorStage[], messages: Record<string, number> | null, legs: MonitorLeg[] | null, rt: number | null): string {
  if (legs && rt !== null) return `round trip ${legs.every((l) => l.ok) ? 'accepted' : 'incomplete'} in ${rt.toFixed(1)} s`;
  if (isObj(doc.reply) && str(doc.reply.outcome)) return `reply ${String(doc.reply.outcome)} after ${num(doc.reply.waitedSeconds) ?? 0} s`;
  if (messages) {
    const total = Object.values(messages).reduce((a, b) => a + b, 0);
    return `${total} message${total === 1 ? '' : 's'} in the mailbox`;
  }
  if (command === 'send-test' && isObj(doc.sent)) return 'invitation sent';
  if (stages.length) return `${stages.length} stage${stages.length === 1 ? '' : 's'} passed`;
  if (command === 'diagnose' && isObj(doc.summary) && str(doc.summary.line)) return String(doc.summary.line);
  return 'no problems found';
}

/**
 * Why a poll cycle failed when no error finding says it: a failed injection (with --apply, the
 * first one's reason), a reply left uninjected, or messages the server does not inject.
 */
function pollProblem(doc: Obj): string | null {
  const summary = isObj(doc.summary) ? doc.summary : null;
  if (!summary) return null;
  // `action`: only a message of that server action counts (summary.notInjected counts the replies
  // the server would inject, not the messages skipped because it never injects them).
  const firstReason = (status: string, action?: string): string => {
    for (const m of arr(doc.messages)) {
      if (isObj(m) && isObj(m.apply) && m.apply.status === status && (!action || m.serverAction === action) && str(m.apply.reason)) return `: ${String(m.apply.reason)}`;
    }
    return '';
  };
  const failed = num(summary.failed) ?? 0;
  if (failed) return `${failed} injection${failed === 1 ? '' : 's'} failed (kept in the mailbox)${firstReason('failed')}`;
  const notInjected = num(summary.notInjected) ?? 0;
  if (notInjected) return `${notInjected} not injected (still in the mailbox)${firstReason('skipped', 'INJECTION_SUBMITTED')}`;
  const byAction = isObj(summary.byServerAction) ? summary.byServerAction : {};
  const others = Object.entries(byAction).filter(([action, n]) => action !== 'INJECTION_SUBMITTED' && (num(n) ?? 0) > 0);
  // The messages behind the one the server's cycle stops at are not processed this poll.
  const nr = isObj(summary.notReached) ? summary.notReached : null;
  const notReached = nr ? (num(nr.messages) ?? 0) : 0;
  const behind = nr && isObj(nr.behind) ? (num(nr.behind.uid) !== null ? `UID ${num(nr.behind.uid)}` : `message ${num(nr.behind.number)}`) : '';
  const waiting = notReached ? `${notReached} ${nr!.everyPoll === true ? 'never reached while' : 'left for the next poll behind'} ${behind}${nr!.everyPoll === true ? ' stays' : ''}` : '';
  if (!others.length) return waiting || null;
  const total = others.reduce((a, [, n]) => a + (num(n) ?? 0), 0);
  return `${total} message${total === 1 ? '' : 's'} the server does not inject: ${others.map(([action, n]) => `${num(n)} ${action}`).join(', ')}${waiting ? `; ${waiting}` : ''}`;
}

/** The sample of a command that produced its document. */
export function sampleFromDoc(command: string, doc: unknown, exitCode: number, durationSeconds: number): MonitorSample {
  const d: Obj = isObj(doc) ? doc : {};
  const stages: MonitorStage[] = [];
  // test-smtp / test-mailbox: one probe; check-config --connect: several.
  if (Array.isArray(d.stages)) stages.push(...stagesOf(isObj(d.target) ? (str(d.target.protocol) ?? command) : command, d.stages));
  for (const p of arr(d.probes)) if (isObj(p)) stages.push(...stagesOf(str(p.name) ?? 'probe', p.stages));
  if (isObj(d.sent) && num(d.sent.ms) !== null) stages.push({ group: 'smtp', stage: 'send', ok: true, seconds: num(d.sent.ms)! / 1000 });
  if (command === 'poll' && isObj(d.stats) && num(d.stats.ms) !== null) stages.push({ group: 'poll', stage: 'cycle', ok: !d.error, seconds: num(d.stats.ms)! / 1000 });
  if (isObj(d.probes) && isObj(d.probes.plusAddress) && num(d.probes.plusAddress.waitedMs) !== null) {
    stages.push({ group: 'probe', stage: 'plus-address', ok: d.probes.plusAddress.outcome === 'kept', seconds: num(d.probes.plusAddress.waitedMs)! / 1000 });
  }
  const byAction = isObj(d.summary) && isObj(d.summary.byServerAction) ? d.summary.byServerAction : null;
  const messages = byAction ? Object.fromEntries(Object.entries(byAction).map(([k, v]) => [k, num(v) ?? 0])) : null;
  const rt = isObj(d.roundTrip) ? d.roundTrip : null;
  const legs = rt
    ? arr(rt.legs)
        .filter(isObj)
        .map((l) => ({ leg: str(l.leg) ?? '', ok: typeof l.ok === 'boolean' ? l.ok : null, seconds: num(l.seconds), verdict: str(l.verdict) ?? '' }))
    : null;
  const roundTripSeconds = rt ? num(rt.totalSeconds) : null;
  const { counts, problems } = findingsOf(d);
  const error = str(d.error) ?? (isObj(d.mailbox) ? str(d.mailbox.error) : null) ?? (command === 'poll' ? pollProblem(d) : null);
  return {
    command,
    up: exitCode === 0,
    exitFromFindings: EXIT_FROM_FINDINGS.has(command),
    cannotRun: null,
    exitCode,
    durationSeconds,
    findings: counts,
    problems,
    stages,
    messages,
    legs,
    roundTripSeconds,
    summary: summaryOf(command, d, stages, messages, legs, roundTripSeconds),
    error,
  };
}

/** The sample of a command that could not run (exit 2 without a document). */
export function cannotRunSample(command: string, message: string, exitCode: number, durationSeconds: number): MonitorSample {
  return {
    command,
    up: false,
    exitFromFindings: false,
    cannotRun: message,
    exitCode,
    durationSeconds,
    findings: { error: 0, warning: 0, info: 0 },
    problems: [],
    stages: [],
    messages: null,
    legs: null,
    roundTripSeconds: null,
    summary: '',
    error: null,
  };
}
