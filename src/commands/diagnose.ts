/**
 * `imip diagnose`: name the cause of "didn't find a token in message" and "iMIP injection
 * principal not found", from the config, the mailbox, saved messages, logs, the directory file
 * and two optional live probes. Thin: flags → src/diagnose/run → src/diagnose/render.
 */
import { CannotRunError } from '../report/exit.js';
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
import type { ProbeKind } from '../diagnose/run.js';

export interface DiagnoseFlags extends SharedFlags, ConnectFlags {
  message?: string[];
  log?: string[];
  directory?: string;
  probe?: ProbeKind;
  stateDir?: string;
  offline?: boolean;
}

export async function run(flags: DiagnoseFlags): Promise<number> {
  const out = outputOptions(flags);
  const c = await colours(out);
  const conn = connectOptions(flags);
  const messages = flags.message ?? [];
  if (messages.filter((m) => m === '-').length > 1) throw new CannotRunError('--message -: stdin holds one message; give "-" once');
  if (flags.offline && flags.probe) throw new CannotRunError('--probe connects to the mail and calendar servers; it cannot go with --offline');
  const explicit = messages.length > 0 || (flags.log?.length ?? 0) > 0 || Boolean(flags.directory);

  let config: Parameters<typeof import('../diagnose/run.js').diagnose>[0]['config'];
  let overrides: Awaited<ReturnType<typeof loadForCommand>>['overrides'] = [];
  try {
    const loaded = await loadForCommand(flags);
    config = { ctx: loaded.ctx, path: loaded.configPath };
    overrides = loaded.overrides;
  } catch (err) {
    // Without inputs of its own, diagnose needs the config: exit 2 as every command does.
    if (!(err instanceof CannotRunError) || !explicit || /--server-version|--set/.test(err.message)) throw err;
    config = { error: err.message, path: flags.config ?? process.env.IMIP_CONFIG ?? null };
  }
  if (flags.probe && !('ctx' in config)) throw new CannotRunError(`--probe needs the config: ${config.error}`);

  const { diagnose } = await import('../diagnose/run.js');
  const report = await diagnose({
    config,
    ...(flags.serverVersion ? { serverVersion: flags.serverVersion } : {}),
    messages,
    logs: flags.log ?? [],
    ...(flags.directory ? { directory: flags.directory } : {}),
    ...(flags.probe ? { probe: flags.probe } : {}),
    ...(flags.stateDir ? { stateDir: flags.stateDir } : {}),
    offline: Boolean(flags.offline),
    conn,
  });

  if (out.json) {
    printJson({ ...report, serverVersion: versionJson(report.serverVersion), ...overridesField(overrides) });
  } else {
    const { renderDiagnose } = await import('../diagnose/render.js');
    process.stdout.write(renderDiagnose(report, c, { verbose: out.verbose, quiet: out.quiet }, [versionLine(report.serverVersion), ...overridesLine(overrides)].join('\n')));
  }
  return report.exitCode;
}
