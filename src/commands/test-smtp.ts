/** `imip test-smtp`: the sending path, stage by stage, as the server will use it. */
import { CannotRunError } from '../report/exit.js';
import { connectOptions, loadForCommand, outputOptions, type ConnectFlags, type SharedFlags } from './shared.js';
import { emitProbe } from './probe-output.js';
import { validateAddress } from '../imip/address-input.js';

export interface TestSmtpFlags extends SharedFlags, ConnectFlags {
  sendTo?: string;
}

export async function run(flags: TestSmtpFlags): Promise<number> {
  const out = outputOptions(flags);
  const conn = connectOptions(flags);
  const sendTo = flags.sendTo ? validateAddress('--send-to', flags.sendTo) : undefined;
  const { ctx, configPath, overrides } = await loadForCommand(flags);
  if (!ctx.settings.sending.server.trim()) {
    throw new CannotRunError(`Scheduling.iMIP.Sending.Server is empty in ${configPath}: there is no SMTP server to test (run "imip check-config")`);
  }
  const { probeSmtp } = await import('../probes/smtp-probe.js');
  const report = await probeSmtp(ctx.settings.sending, { ...conn, ...(sendTo ? { sendTo } : {}) }, ctx.version);
  return emitProbe('test-smtp', 'sending through', report, ctx.version, out, overrides);
}
