/** `imip check-config`: the config as the server will read it, judged rule by rule. */
import { capStrings } from '../report/cap.js';
import { writeWhole } from '../report/closed-pipe.js';
import { redactedSettings } from '../config/effective.js';
import { describeOrigin, originOf } from '../config/load.js';
import { allConfigRuleMeta, runConfigChecks } from '../checks/index.js';
import { EXIT_OK, EXIT_PROBLEMS } from '../report/exit.js';
import { hasErrors, notSaidBy, notSupersededBy, type Finding } from '../report/finding.js';
import { insecureNotice, renderFindings, renderStages, summaryLine } from '../report/render.js';
import type { StageResult } from '../config/settings.js';
import {
  colours,
  connectOptions,
  loadForCommand,
  outputOptions,
  overridesField,
  overridesLine,
  printJson,
  versionJson,
  versionLine,
  type ConnectFlags,
  type SharedFlags,
} from './shared.js';

export interface CheckConfigFlags extends SharedFlags, ConnectFlags {
  connect?: boolean;
  listChecks?: boolean;
}

interface ProbeSection {
  name: 'smtp' | 'mailbox';
  target: unknown;
  stages: StageResult[];
  ok: boolean;
  /** Why the test did not run: the static findings already name what to fix first. */
  notRun?: string;
}

/** Files (the main one first) listed in the JSON document; past this, only their number (`filesNotListed`). */
const FILES_IN_JSON = 1000;
/** Included files named one by one in the human output. */
const FILES_LISTED = 100;

/** A connection test the config rules out; the static finding says why, once. */
function notRun(name: ProbeSection['name'], reason: string): ProbeSection {
  return { name, target: null, stages: [], ok: false, notRun: reason };
}

export async function run(flags: CheckConfigFlags): Promise<number> {
  const out = outputOptions(flags);
  const c = await colours(out);
  if (flags.listChecks) return listChecks(out.json);

  const conn = flags.connect ? connectOptions(flags) : null;
  const { ctx, configPath, overrides } = await loadForCommand(flags);
  const findings: Finding[] = runConfigChecks(ctx);
  const probes: ProbeSection[] = [];
  /** The connection tests whose own findings hold an error (the others stopped, if at all, on a warning). */
  const withErrors = new Set<ProbeSection['name']>();

  if (conn) {
    const s = ctx.settings;
    const smtpBlocked = !s.sending.server.trim() ? 'Sending.Server is empty (sending.server-missing)' : null;
    const mailboxBlocked = !s.receiving.server.trim()
      ? 'Receiving.Server is empty (receiving.server-missing)'
      : s.receiving.port <= 0
        ? 'Receiving.Port is 0 (receiving.port-missing)'
        : !s.receiving.protocol
          ? `this release reads no mailbox with Receiving.Type "${s.receiving.type}" (receiving.type-invalid)`
          : null;
    const [smtp, mailbox] = await Promise.all([
      smtpBlocked ? null : import('../probes/smtp-probe.js').then((m) => m.probeSmtp(s.sending, conn, ctx.version)),
      mailboxBlocked ? null : import('../probes/mailbox-probe.js').then((m) => m.probeMailbox(s.receiving, conn, ctx.version)),
    ]);
    probes.push(smtp ? { name: 'smtp', target: smtp.target, stages: smtp.stages, ok: smtp.ok } : notRun('smtp', smtpBlocked!));
    probes.push(mailbox ? { name: 'mailbox', target: mailbox.target, stages: mailbox.stages, ok: mailbox.ok } : notRun('mailbox', mailboxBlocked!));
    if (smtp && hasErrors(smtp.findings)) withErrors.add('smtp');
    if (mailbox && hasErrors(mailbox.findings)) withErrors.add('mailbox');
    const tests = [...(smtp?.findings ?? []), ...(mailbox?.findings ?? [])];
    const kept = findings.splice(0).filter(notSupersededBy(tests));
    findings.push(...kept, ...tests.filter(notSaidBy(kept)));
  }

  const ok = !hasErrors(findings) && probes.every((p) => p.ok);
  if (out.json) {
    printJson({
      command: 'check-config',
      ok,
      serverVersion: versionJson(ctx.version),
      ...overridesField(overrides),
      config: configPath,
      files: ctx.config.files.length > FILES_IN_JSON ? ctx.config.files.slice(0, FILES_IN_JSON) : ctx.config.files,
      ...(ctx.config.files.length > FILES_IN_JSON ? { filesNotListed: ctx.config.files.length - FILES_IN_JSON } : {}),
      settings: capStrings(redactedSettings(ctx.settings)),
      ...(conn ? { probes } : {}),
      findings,
    }, writeWhole);
    return ok ? EXIT_OK : EXIT_PROBLEMS;
  }

  const lines: string[] = [];
  if (!out.quiet) {
    lines.push(`${c.bold('imip check-config')}  ${configPath}`);
    lines.push(c.dim(versionLine(ctx.version)), ...overridesLine(overrides).map((l) => c.yellow(l)));
    // The files listed one by one up to a limit (--json has them all).
    const others = ctx.config.files.slice(1);
    for (const f of others.slice(0, FILES_LISTED)) {
      lines.push(c.dim(`  ${f.role} ${f.path}: ${f.status}${f.listedBy ? ` (listed by ${f.listedBy})` : ''}`));
    }
    if (others.length > FILES_LISTED) lines.push(c.dim(`  … and ${others.length - FILES_LISTED} more included files (--json lists up to ${FILES_IN_JSON.toLocaleString('en-US')})`));
    const { notice, rest } = insecureNotice(findings, c);
    lines.push(...notice);
    if (out.verbose) lines.push('', ...settingsLines(ctx));
    lines.push('');
    if (findings.some((f) => f.id === 'tls.insecure')) {
      lines.push(c.bold('Certificate checks are OFF (--insecure): the connection results below do not show whether certificates are trusted.'), '');
    }
    for (const p of probes) {
      lines.push(c.bold(p.name === 'smtp' ? 'Sending (SMTP)' : 'Receiving (mailbox)'));
      if (p.notRun) lines.push(`  ${c.dim(`not run: ${p.notRun}`)}`);
      else lines.push(...renderStages(p.stages, c, { verbose: out.verbose, indent: '  ', findings: rest, stoppedOnWarning: !withErrors.has(p.name) }));
      lines.push('');
    }
    lines.push(...renderFindings(rest, c, { verbose: out.verbose }));
  }
  const failed = probes.filter((p) => !p.ok && !p.notRun && withErrors.has(p.name)).length;
  const short = probes.filter((p) => !p.ok && !p.notRun && !withErrors.has(p.name)).length;
  const skipped = probes.filter((p) => p.notRun).length;
  const extra = [
    failed ? `${failed} connection test${failed === 1 ? '' : 's'} with errors` : '',
    short ? `${short} connection test${short === 1 ? '' : 's'} stopped early on a warning` : '',
    skipped ? `${skipped} not run` : '',
    // With --quiet the overrides line is not printed: the summary still says the run was not the plist alone.
    out.quiet && overrides.length ? `with --set ${overrides.map((o) => o.given).join(', ')}` : '',
  ].filter(Boolean).join(', ');
  lines.push(summaryLine(findings, c, extra ? `; ${extra}` : ''));
  writeWhole(`${lines.join('\n')}\n`);
  return ok ? EXIT_OK : EXIT_PROBLEMS;
}

function settingsLines(ctx: Awaited<ReturnType<typeof loadForCommand>>['ctx']): string[] {
  const lines = ['Effective settings (value, and where it came from):'];
  const walk = (obj: Record<string, unknown>, prefix: string): void => {
    for (const [k, v] of Object.entries(obj)) {
      const path = `${prefix}.${k}`;
      // Protocol is no key: what the release makes of Type, said on Type's line.
      if (path === 'Scheduling.iMIP.Receiving.Protocol') continue;
      if (v && typeof v === 'object' && !Array.isArray(v)) walk(v as Record<string, unknown>, path);
      else {
        // A password shows whether it is set, never its value, and not as if "(set)" were the value.
        const shown = /\.Password$/.test(path) ? String(v) : JSON.stringify(v);
        const read = path === 'Scheduling.iMIP.Receiving.Type' ? `; read as ${ctx.settings.receiving.protocol === 'pop3' ? 'POP3' : ctx.settings.receiving.protocol === 'imap' ? 'IMAP' : 'neither IMAP nor POP3'}` : '';
        lines.push(`  ${path} = ${shown}  (${describeOrigin(originOf(ctx.config, path))}${read})`);
      }
    }
  };
  walk(capStrings(redactedSettings(ctx.settings)), 'Scheduling.iMIP');
  return lines;
}

function listChecks(json: boolean): number {
  const meta = allConfigRuleMeta();
  if (json) {
    printJson({ command: 'check-config', checks: meta }, writeWhole);
    return EXIT_OK;
  }
  writeWhole(meta.map((m) => `${m.id.padEnd(30)} ${m.severity.padEnd(8)} ${m.lines.join(', ').padEnd(22)} ${m.summary}\n`).join(''));
  return EXIT_OK;
}
