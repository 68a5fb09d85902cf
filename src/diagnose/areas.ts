/**
 * One status per area, as a doctor prints it. A ✓ is earned: an area is `ok` only when something
 * in it was actually tested (a connection made, a mailbox read, a message or log judged, a probe
 * run) and showed no problem. An area nothing tested is `not-tested`, with the reason and the
 * way to test it; an area the release line does not have is `not-applicable`. The worst finding
 * decides between `warning` and `error`.
 */
import type { ConfigContext } from '../checks/rule.js';
import type { ServerVersion } from '../server/release.js';
import { AREAS, AREA_TITLES, type AreaId, type DiagnoseFinding } from './findings.js';
import type { LogScanResult } from './log-scan.js';
import type { ExaminedMessage, MailboxRead } from './messages.js';
import type { InjectionProbeResult } from './injection-probe.js';
import type { PlusProbeResult } from './plus-address-probe.js';
import type { InputRecord } from './types.js';

export type AreaState = 'ok' | 'warning' | 'error' | 'not-tested' | 'not-applicable';

export interface AreaStatus {
  area: AreaId;
  title: string;
  status: AreaState;
  /** Whether anything in the area was actually tested. */
  tested: boolean;
  /** One sentence. */
  summary: string;
  /** Ids of the area's error and warning findings, distinct, in report order. */
  causes: string[];
}

/** The connection tests diagnose ran itself (not with --offline): their outcome in a line. */
export interface ConnectionTest {
  ok: boolean;
  /** `smtp.example.com:587 (STARTTLS)`. */
  target: string;
  /** The stage that failed, with its error, when not ok. */
  failed?: string;
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
  /** `--offline`: no network test ran. */
  offline: boolean;
  /** The SMTP test (connect, EHLO, STARTTLS, AUTH, QUIT; nothing sent), when it ran. */
  smtp: ConnectionTest | null;
  /** The read-only mailbox test, when it ran instead of reading the mailbox (with --message). */
  mailboxTest: ConnectionTest | null;
}

const plural = (n: number, w: string): string => `${n} ${w}${n === 1 ? '' : 's'}`;

function logCount(scan: LogScanResult | null, id: string): number {
  return scan?.entries.get(id)?.count ?? 0;
}

/** Whether any log given was actually read (in whole or in part): a log that could not be read tests nothing. */
function logRead(scan: LogScanResult | null): boolean {
  return Boolean(scan?.files.some((f) => f.status !== 'error'));
}

export function assessAreas(a: AreaInputs): AreaStatus[] {
  const out: AreaStatus[] = [];
  for (const area of AREAS) {
    const own = a.findings.filter((f) => f.area === area);
    const errors = own.filter((f) => f.severity === 'error');
    const warnings = own.filter((f) => f.severity === 'warning');
    const causes = [...new Set([...errors, ...warnings].map((f) => f.id))];
    const { examined, summary, notApplicable } = describe(area, a, errors.length, warnings.length);
    let status: AreaState = errors.length ? 'error' : warnings.length ? 'warning' : notApplicable ? 'not-applicable' : examined ? 'ok' : 'not-tested';
    // The plus-address probe went through Sending.* and could not be sent: no ✓ for Sending.
    const plus = a.probes.plusAddress;
    if (area === 'sending' && status === 'ok' && plus && !plus.smtp.accepted && plus.smtp.error) {
      status = 'warning';
      causes.push(...plus.findings.filter((f) => f.severity !== 'info').map((f) => f.id));
    }
    const extra = a.notes[area]?.length ? `; ${a.notes[area]!.join('; ')}` : '';
    const text = status === 'not-tested' && !summary.startsWith('not tested') ? `not tested: ${summary}` : summary;
    out.push({ area, title: AREA_TITLES[area], status, tested: examined, summary: `${text}${extra}`, causes });
  }
  return out;
}

function problems(errors: number, warnings: number): string {
  const parts = [];
  if (errors) parts.push(plural(errors, 'error'));
  if (warnings) parts.push(plural(warnings, 'warning'));
  return parts.join(', ');
}

function describe(area: AreaId, a: AreaInputs, errors: number, warnings: number): { examined: boolean; summary: string; notApplicable?: boolean } {
  const bad = problems(errors, warnings);
  const s = a.ctx?.settings;
  const offline = '--offline: no connection was made';
  switch (area) {
    case 'config': {
      const own = a.findings.filter((f) => f.area === 'config');
      const unreadable = own.filter((f) => f.id === 'diagnose.input-unreadable' && f.evidence.kind !== 'config').length;
      const inputs = unreadable ? `; ${plural(unreadable, 'input')} could not be examined` : '';
      if (!a.ctx) return { examined: false, summary: `the config could not be read${inputs}` };
      const path = a.ctx.config.mainPath;
      const fromConfig = own.filter((f) => f.source === 'config');
      const inFile = problems(fromConfig.filter((f) => f.severity === 'error').length, fromConfig.filter((f) => f.severity === 'warning').length);
      // The config's findings about one area are listed under it (Injection, Receiving...): the
      // config's own line says where, so it never reads as a clean file when check-config is not.
      const moved = a.findings.filter((f) => f.source === 'config' && f.area !== 'config');
      const movedProblems = problems(moved.filter((f) => f.severity === 'error').length, moved.filter((f) => f.severity === 'warning').length);
      const movedCount = moved.filter((f) => f.severity !== 'info').length;
      const where = [...new Set(moved.filter((f) => f.severity !== 'info').map((f) => AREA_TITLES[f.area]))].join(', ');
      const judged = `(judged as ${a.version.text}, ${a.version.line})`;
      const summary = inFile
        ? `${inFile} in ${path}${movedProblems ? `, and ${movedProblems} under ${where}` : ''}`
        : movedProblems
          ? `no other problems in ${path}: its ${movedProblems} ${movedCount === 1 ? 'is' : 'are'} under ${where} ${judged}`
          : `no problems in ${path} ${judged}`;
      return { examined: true, summary: `${summary}${inputs}` };
    }
    case 'sending': {
      const sent = logCount(a.scan, 'log.sent');
      const failed = logCount(a.scan, 'log.send-failed');
      const plus = a.probes.plusAddress;
      const parts: string[] = [];
      if (a.smtp) parts.push(a.smtp.ok ? `SMTP test passed: ${a.smtp.target} (connect, EHLO, STARTTLS, AUTH, QUIT; nothing sent)` : `SMTP test failed: ${a.smtp.target}${a.smtp.failed ? `: ${a.smtp.failed}` : ''}`);
      if (plus?.smtp.accepted) parts.push('the probe was accepted');
      else if (plus?.smtp.error) parts.push(`the probe could not be sent: ${plus.smtp.error}`);
      if (a.scan && (sent || failed)) parts.push(`log: ${sent} sent, ${failed} failed`);
      if (bad) parts.unshift(bad);
      const tested = Boolean(a.smtp) || Boolean(plus?.smtp.accepted);
      if (!tested && !bad) {
        const why = !s ? 'the config could not be read' : a.offline ? offline : !s.sending.server.trim() ? 'Sending.Server is empty' : 'the SMTP test did not run';
        parts.unshift(`not tested: ${why}`);
      }
      return { examined: tested, summary: parts.join('; ') };
    }
    case 'receiving': {
      const mb = a.mailbox;
      const parts: string[] = [];
      if (bad) parts.push(bad);
      if (mb?.info) {
        parts.push(
          mb.error
            ? `${mb.info.protocol === 'imap' ? 'IMAP' : 'POP3'} ${mb.info.server}:${mb.info.port} read-only: the session ended early, after ${plural(mb.messages.length, 'message')}${mb.info.protocol === 'imap' ? ` of ${mb.exists}` : ''}`
            : `${mb.info.protocol === 'imap' ? 'IMAP' : 'POP3'} ${mb.info.server}:${mb.info.port} read-only: ${plural(mb.messages.length, 'message')}${mb.info.protocol === 'imap' ? ` (${mb.seen} \\Seen)` : ''}`,
        );
      } else if (mb?.stopped) {
        // Not read on purpose: the server's own client cannot log in, or the tool stopped before its login.
        parts.push(`mailbox not read: ${mb.stopped.replace(/^No message was read: /, '').replace(/\. .*$/s, '')}`);
      } else if (a.mailboxTest) {
        parts.push(a.mailboxTest.ok ? `mailbox test passed: ${a.mailboxTest.target} (read-only)` : `mailbox test failed: ${a.mailboxTest.target}${a.mailboxTest.failed ? `: ${a.mailboxTest.failed}` : ''}`);
      }
      const savedInstead = a.inputs.some((i) => i.kind === 'message' && i.status === 'read');
      if (!mb?.info && savedInstead) parts.push('saved messages examined instead of the mailbox');
      const logins = logCount(a.scan, 'log.imap-login-failed') + logCount(a.scan, 'log.pop-login-failed');
      if (logins) parts.push(`log: ${plural(logins, 'failed login')}`);
      const tested = Boolean(mb?.info) || Boolean(a.mailboxTest);
      if (!tested && !bad) {
        const r = s?.receiving;
        const why = !s ? 'the config could not be read' : a.offline ? offline : !r?.server.trim() || !r.port || !r.protocol ? 'Receiving.Server, Port or Type is not usable' : 'the mailbox was not read';
        parts.unshift(`not tested: ${why}`);
      }
      return { examined: tested, summary: parts.join('; ') };
    }
    case 'plus': {
      const p = a.probes.plusAddress;
      if (p) return { examined: p.outcome === 'kept', summary: bad && p.outcome === 'kept' ? `${bad}; ${p.summary}` : p.summary };
      if (bad) return { examined: true, summary: bad };
      return { examined: false, summary: 'not tested: "--probe plus-address" sends one probe and removes it' };
    }
    case 'replies': {
      const msgs = a.messages;
      const tokenless = msgs.filter((m) => m.tokenless);
      const parts: string[] = [];
      if (msgs.length) parts.push(`${plural(msgs.length, 'message')} examined, ${tokenless.length} without a usable token`);
      const noToken = logCount(a.scan, 'log.no-token');
      const injected = logCount(a.scan, 'log.injected');
      const scanned = logRead(a.scan);
      if (scanned) parts.push(`log: ${noToken} "didn't find a token", ${injected} injected`);
      if (bad) parts.unshift(bad);
      // A token the server's store could not check: its verdict is an assumption, not a pass. With
      // nothing else examined (no log), the area is not counted as tested.
      const unchecked = msgs.filter((m) => m.token && m.tokenStatus === 'unchecked').length;
      if (unchecked) {
        const why = `${plural(unchecked, 'token')} not checked (the server's token store could not be used)`;
        if (!bad && !scanned) {
          parts.unshift(`not tested: ${why}`);
          return { examined: false, summary: parts.join('; ') };
        }
        parts.push(why);
      }
      const tested = msgs.length > 0 || scanned;
      if (!tested && !bad) {
        parts.unshift(
          a.mailbox?.info && a.mailbox.error
            ? 'not tested: the mailbox session ended before any message was read, and no log was read'
            : a.mailbox?.info
              ? 'not tested: the mailbox holds no messages and no log was read'
              : 'not tested: no message and no log was examined',
        );
      }
      return { examined: tested, summary: parts.join('; ') };
    }
    case 'injection': {
      const probe = a.probes.injection;
      if (a.version.line === '5.0+' && !bad) {
        return { examined: false, notApplicable: true, summary: `not applicable: ${a.version.text} injects replies in-process, with no injection user and no /inbox/` };
      }
      const parts: string[] = [];
      if (bad) parts.push(bad);
      if (probe) parts.push(`probe: ${probe.summary}`);
      const principal = logCount(a.scan, 'log.injection-principal-not-found');
      if (logRead(a.scan) && a.version.line !== '5.0+') parts.push(`log: ${principal} "injection principal not found", ${logCount(a.scan, 'log.injected')} injected`);
      if (s && a.version.line === '2.x') parts.push(`injects as "${s.username || '(empty)'}"`);
      const tested = probe?.outcome === 'ok' || logRead(a.scan);
      if (!tested && !bad) parts.unshift('not tested: "--probe injection" authenticates to the server\'s /inbox/');
      return { examined: tested, summary: parts.join('; ') };
    }
  }
}
