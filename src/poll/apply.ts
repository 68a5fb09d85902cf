/**
 * `poll --once --apply` on a 2.x–4.x server: do the mail gateway's work for one cycle
 * (`twistedcaldav/mail.py`: `IMAP4DownloadProtocol`/`POP3DownloadProtocol` read,
 * `MailHandler.inbound` classifies, `injectMessage` injects) with one rule the
 * gateway does not have: **a message is deleted only after its injection succeeded**. Everything
 * else stays in the mailbox for the next run (the gateway itself would delete every message it read).
 *
 * Nothing lost, nothing injected twice, whatever happens mid-cycle:
 *  - src/poll/apply-imap.ts: a per-message claim (conditional STORE of `$ImipClaimed` and this
 *    poller's keyword, read back), so any number of runs on any number of hosts inject each
 *    message once;
 *  - src/poll/apply-pop3.ts: the server's maildrop lock, or `--single-poller`;
 *  - src/poll/journal.ts: every step written before it is taken, so the next run finishes what a
 *    crash, a cut connection or a signal left;
 *  - a stop request (the first SIGINT/SIGTERM/SIGHUP, `opts.signal`) lets the POST in flight
 *    finish and records it; nothing new starts.
 * The two cases where a reply can reach the server twice: the process dies during a POST
 * (SIGKILL, power loss, a second signal), or the server's answer is lost (a timeout, a cut
 * connection after the request went out). The message is kept and POSTed again by the next run;
 * a repeated iTIP REPLY restates the same PARTSTAT.
 */
import { CannotRunError } from '../report/exit.js';
import type { CycleContext, PollReport } from './cycle.js';
import { newStatus, type ApplyOptions } from './apply-jobs.js';

export type { ApplyOptions, ApplyStatus } from './apply-jobs.js';
export { JOURNAL_FILE, Journal, type JournalEntry, type JournalState } from './journal.js';

export async function runApply(ctx: CycleContext, opts: ApplyOptions): Promise<PollReport> {
  if (ctx.version.line === '5.0+') throw new CannotRunError('--apply is for 2.x–4.x: 5.0 and later inject replies in-process, with no /inbox/ to POST to');
  const status = opts.status ?? newStatus();
  if (ctx.protocol === 'imap') {
    const { applyImap } = await import('./apply-imap.js');
    return applyImap(ctx, opts, status);
  }
  const { applyPop3 } = await import('./apply-pop3.js');
  return applyPop3(ctx, opts, status);
}
