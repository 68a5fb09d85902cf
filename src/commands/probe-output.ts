/** Output of a connectivity probe, shared by `test-smtp` and `test-mailbox`. */
import type { ProbeReport } from '../probes/probe-report.js';
import { EXIT_OK, EXIT_PROBLEMS } from '../report/exit.js';
import { insecureNotice, renderFindings, renderStages, summaryLine } from '../report/render.js';
import type { OutputOptions } from '../report/style.js';
import { colours, overridesField, overridesLine, printJson, versionJson, versionLine } from './shared.js';
import type { Override } from '../config/overrides.js';
import type { ServerVersion } from '../server/release.js';

export async function emitProbe(command: string, title: string, report: ProbeReport, version: ServerVersion, out: OutputOptions, overrides: readonly Override[] = []): Promise<number> {
  const code = report.ok ? EXIT_OK : EXIT_PROBLEMS;
  if (out.json) {
    const { transcript, ...rest } = report;
    printJson({ command, serverVersion: versionJson(version), ...overridesField(overrides), ...rest, ...(out.verbose && transcript ? { transcript } : {}) });
    return code;
  }
  const c = await colours(out);
  const lines: string[] = [];
  const failed = report.stages.filter((s) => !s.ok && !s.skipped).length;
  const errors = report.findings.some((f) => f.severity === 'error');
  if (!out.quiet) {
    const t = report.target;
    const tls = t.tls === 'starttls' ? 'STARTTLS' : t.tls === 'implicit' ? 'TLS from the first byte' : 'no TLS';
    lines.push(`${c.bold(`imip ${command}`)}  ${title} ${t.protocol.toUpperCase()} ${t.host}:${t.port} (${tls})`);
    const { notice, rest } = insecureNotice(report.findings, c);
    lines.push(c.dim(versionLine(version)), ...overridesLine(overrides).map((l) => c.yellow(l)), ...notice, '');
    lines.push(...renderStages(report.stages, c, { verbose: out.verbose, findings: rest, stoppedOnWarning: !errors }), '');
    lines.push(...renderFindings(rest, c, { verbose: out.verbose }));
    if (out.verbose && report.transcript?.length) lines.push(c.bold('Transcript'), ...report.transcript.map((l) => `  ${c.dim(l)}`), '');
  }
  const notRun = report.stages.filter((s) => s.skipped).length;
  const notRunText = `${notRun} stage${notRun === 1 ? '' : 's'} not run`;
  const tail = failed
    ? errors
      ? `; ${failed} stage${failed === 1 ? '' : 's'} failed`
      : `; stopped at ${report.stages.find((s) => !s.ok && !s.skipped)!.stage} on a warning${notRun ? `, ${notRunText}` : ''}`
    : notRun
      ? `; ${notRunText}`
      : '; every stage passed';
  lines.push(summaryLine(report.findings, c, tail));
  process.stdout.write(`${lines.join('\n')}\n`);
  return code;
}
