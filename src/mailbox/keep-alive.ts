/**
 * A read that waits for the reader of its output, without losing the mail session.
 *
 * `imip poll --once | less` prints rows faster than a person reads them. Node queues what a pipe
 * does not take yet, so without a pause the whole cycle's output would wait in memory (about
 * 6 MB of JSON for 5,000 messages, 36 MB for 30,000). Before it asks the server for more
 * messages, the IMAP reader asks whoever takes the rows for room ({@link OnRoom}); while there is
 * none it asks for nothing more and says NOOP now and then, so that the session outlives the
 * pause: the server's idle limit (at least 30 minutes, RFC 3501 section 5.4) and this tool's
 * clock, which ends a step after --timeout without a byte from the server (imap-deadline.ts),
 * both count from the last exchange. A read-only IMAP session holds nothing another client
 * needs. A POP3 session does (the maildrop's lock, RFC 1939 section 4), so POP3 reads on.
 */
import type { OnRoom } from './types.js';

/** How often a paused read says NOOP: twice per --timeout, at most every 20 s, at least every 100 ms. */
export function keepAliveEveryMs(timeoutMs: number): number {
  return Math.min(20_000, Math.max(100, Math.floor(timeoutMs / 2)));
}

/**
 * If `room` says to wait, wait until it settles, sending `noop` every `everyMs` meanwhile (each
 * awaited before the next). Returns the number of NOOPs sent; a failed NOOP ends the wait with
 * its error, as any failed command ends the read.
 */
export async function waitForRoom(room: OnRoom | undefined, noop: () => Promise<void>, everyMs: number): Promise<number> {
  const pending = room?.();
  if (!pending) return 0;
  let ready = false;
  const settled = pending.then(
    () => {
      ready = true;
    },
    () => {
      ready = true;
    },
  );
  let sent = 0;
  for (;;) {
    let timer: NodeJS.Timeout | undefined;
    const tick = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, everyMs);
    });
    await Promise.race([settled, tick]);
    clearTimeout(timer);
    if (ready) return sent;
    await noop();
    sent++;
  }
}
