/**
 * One status per area, as a doctor prints it: the worst finding decides the glyph; the sentence
 * says what was examined and what it showed. `skipped` means nothing in the area was examined
 * (a probe not asked for, a release line the area does not apply to).
 */
import type { ConfigContext } from '../checks/rule.js';
import type { ServerVersion } from '../server/release.js';
import { AREAS, AREA_TITLES, type AreaId, type DiagnoseFinding } from './findings.js';
import type { LogScanResult } from './log-scan.js';
import type { ExaminedMessage, MailboxRead } from './messages.js';
import type { InjectionProbeResult } from './injection-probe.js';
import type { PlusProbeResult } from './plus-address-probe.js';
import type { InputRecord } from './types.js';

export type AreaState = 'ok' | 'warning' | 'error' | 'skipped';

export interface AreaStatus {
  area: AreaId;
  title: string;
  status: AreaState;
  /** One sentence. */
  summary: string;
  /** Ids of the area's error and warning findings, distinct, in report order. */
  causes: string[];
}

export interface AreaInputs {
  version: ServerVersion;
  ctx: ConfigContext | null;
  findings: DiagnoseFinding[];
  messages: ExaminedMessage[];
  scan: LogScanResult | null;
  mailbox: MailboxRead | null;
  probes: { plusAddress?: PlusProbeResult; injection?: InjectionProbeResult };
  notes: Partial<Record<AreaId, string[]>>;
  inputs: InputRecord[];
}

const plural = (n: number, w: string): string => `${n} ${w}${n === 1 ? '' : 's'}`;

function logCount(scan: LogScanResult | null, id: string): number {
  return scan?.entries.get(id)?.count ?? 0;
}

export function assessAreas(a: AreaInputs): AreaStatus[] {
  const out: AreaStatus[] = [];
  for (const area of AREAS) {
    const own = a.findings.filter((f) => f.area === area);
    const errors = own.filter((f) => f.severity === 'error');
    const warnings = own.filter((f) => f.severity === 'warning');
    const causes = [...new Set([...errors, ...warnings].map((f) => f.id))];
    const { examined, summary } = describe(area, a, errors.length, warnings.length);
    const status: AreaState = errors.length ? 'error' : warnings.length ? 'warning' : examined ? 'ok' : 'skipped';
    const extra = a.notes[area]?.length ? `; ${a.notes[area]!.join('; ')}` : '';
    out.push({ area, title: AREA_TITLES[area], status, summary: `${summary}${extra}`, causes });
  }
  return out;
}

function problems(errors: number, warnings: number): string {
  const parts = [];
  if (errors) parts.push(plural(errors, 'error'));
  if (warnings) parts.push(plural(warnings, 'warning'));
  return parts.join(', ');
}

function describe(area: AreaId, a: AreaInputs, errors: number, warnings: number): { examined: boolean; summary: string } {
  const bad = problems(errors, warnings);
  const s = a.ctx?.settings;
  switch (area) {
    case 'config': {
      const own = a.findings.filter((f) => f.area === 'config');
      const unreadable = own.filter((f) => f.id === 'diagnose.input-unreadable' && f.evidence.kind !== 'config').length;
      const inputs = unreadable ? `; ${plural(unreadable, 'input')} could not be examined` : '';
      if (!a.ctx) return { examined: false, summary: `the config could not be read${inputs}` };
      const path = a.ctx.config.mainPath;
      const fromConfig = own.filter((f) => f.source === 'config');
      const inFile = problems(fromConfig.filter((f) => f.severity === 'error').length, fromConfig.filter((f) => f.severity === 'warning').length);
      return { examined: true, summary: `${inFile ? `${inFile} in ${path}` : `no problems in ${path} (judged as ${a.version.text}, ${a.version.line})`}${inputs}` };
    }
    case 'sending': {
      const sent = logCount(a.scan, 'log.sent');
      const failed = logCount(a.scan, 'log.send-failed');
      const plus = a.probes.plusAddress;
      const parts: string[] = [];
      if (s) parts.push(s.sending.server ? `${s.sending.server}:${s.sending.port}${s.sending.useSSL ? ' (STARTTLS required)' : ''}` : 'no Sending.Server');
      if (plus?.smtp.accepted) parts.push('the probe was accepted');
      else if (plus?.smtp.error) parts.push(`the probe could not be sent: ${plus.smtp.error}`);
      if (a.scan && (sent || failed)) parts.push(`log: ${sent} sent, ${failed} failed`);
      if (bad) parts.unshift(bad);
      return { examined: Boolean(s) || sent + failed > 0, summary: parts.join('; ') || 'nothing examined' };
    }
    case 'receiving': {
      const mb = a.mailbox;
      const parts: string[] = [];
      if (bad) parts.push(bad);
      if (mb?.info) {
        parts.push(
          `${mb.info.protocol === 'imap' ? 'IMAP' : 'POP3'} ${mb.info.server}:${mb.info.port} read-only: ${plural(mb.messages.length, 'message')}${mb.info.protocol === 'imap' ? ` (${mb.seen} \\Seen)` : ''}`,
        );
      } else if (a.inputs.some((i) => i.kind === 'message' && i.status === 'read')) parts.push('saved messages examined instead of the mailbox');
      const logins = logCount(a.scan, 'log.imap-login-failed') + logCount(a.scan, 'log.pop-login-failed');
      if (logins) parts.push(`log: ${plural(logins, 'failed login')}`);
      return { examined: Boolean(mb?.info) || Boolean(s), summary: parts.join('; ') || 'mailbox not read' };
    }
    case 'plus': {
      const p = a.probes.plusAddress;
      if (p) return { examined: true, summary: bad && p.outcome === 'kept' ? `${bad}; ${p.summary}` : p.summary };
      if (bad) return { examined: true, summary: bad };
      return { examined: false, summary: 'not probed ("--probe plus-address" sends one probe and removes it)' };
    }
    case 'replies': {
      const msgs = a.messages;
      const tokenless = msgs.filter((m) => m.tokenless);
      const parts: string[] = [];
      if (msgs.length) parts.push(`${plural(msgs.length, 'message')} examined, ${tokenless.length} without a usable token`);
      const noToken = logCount(a.scan, 'log.no-token');
      const injected = logCount(a.scan, 'log.injected');
      if (a.scan) parts.push(`log: ${noToken} "didn't find a token", ${injected} injected`);
      if (bad) parts.unshift(bad);
      return { examined: msgs.length > 0 || Boolean(a.scan), summary: parts.join('; ') || 'no messages and no log examined' };
    }
    case 'injection': {
      const probe = a.probes.injection;
      if (a.version.line === '5.0+' && !bad) {
        return { examined: false, summary: `not applicable: ${a.version.text} injects replies in-process, with no injection user and no /inbox/` };
      }
      const parts: string[] = [];
      if (bad) parts.push(bad);
      if (probe) parts.push(`probe: ${probe.summary}`);
      const principal = logCount(a.scan, 'log.injection-principal-not-found');
      if (a.scan && a.version.line !== '5.0+') parts.push(`log: ${principal} "injection principal not found", ${logCount(a.scan, 'log.injected')} injected`);
      if (s && a.version.line === '2.x') parts.push(`injects as "${s.username || '(empty)'}"`);
      return { examined: Boolean(a.ctx) || Boolean(a.scan), summary: parts.join('; ') || 'nothing examined' };
    }
  }
}
