/** `imip test-mailbox`: the receiving path, stage by stage, read-only. */
import { CannotRunError } from '../report/exit.js';
import { connectOptions, loadForCommand, outputOptions, type ConnectFlags, type SharedFlags } from './shared.js';
import { emitProbe } from './probe-output.js';

export async function run(flags: SharedFlags & ConnectFlags): Promise<number> {
  const out = outputOptions(flags);
  const conn = connectOptions(flags);
  const { ctx, configPath, overrides } = await loadForCommand(flags);
  const r = ctx.settings.receiving;
  if (!r.server.trim()) {
    throw new CannotRunError(`Scheduling.iMIP.Receiving.Server is empty in ${configPath}: there is no mailbox to test (run "imip check-config")`);
  }
  if (!r.protocol) {
    throw new CannotRunError(
      `Scheduling.iMIP.Receiving.Type is "${r.type}" in ${configPath}: ${ctx.version.text} reads neither IMAP nor POP with it (set Type to imap or pop)`,
    );
  }
  const { probeMailbox } = await import('../probes/mailbox-probe.js');
  const report = await probeMailbox(r, conn, ctx.version);
  return emitProbe('test-mailbox', 'reading', report, ctx.version, out, overrides);
}
