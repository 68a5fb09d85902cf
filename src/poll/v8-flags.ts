/**
 * V8 flags for the poll: flat memory on long cycles without paying for it in time, and less
 * optimizing-compiler work competing with the poll and the mail server for the cores.
 *
 * A poll allocates a great deal of short-lived garbage (wire chunks, parsed parts, rows) and
 * little that lives: nothing per message outlives its row. Left to its defaults, V8 lets both of
 * its generations grow far beyond that live data:
 *
 * - The young generation grows to 16 MB per semi-space and its 32 MB stay resident. Held small
 *   (1 MB per semi-space on 64-bit Node when this was measured, 2 MB now that the flags go in
 *   after loading), a 1,000-message poll peaked about 30 MB lower and used no more CPU (more
 *   scavenges, each on a nursery that fits in the cache).
 *   `--max-semi-space-size` is fixed when the heap is set up, and on Node's command line (where
 *   bin/imip's launcher could put it) it makes V8 refuse the compiled code the build ships (the
 *   flags' check, below); the growth factor is read each time the young generation would grow,
 *   so setting it to 1 before the poll allocates holds the size. 0 would crash V8: never pass it.
 * - The old generation is allowed to grow by a factor V8 picks from its collection and
 *   allocation speeds, up to 4 × the live data after each full collection. A poll promotes little
 *   but steadily, so the heap kept growing: a 5,000-reply poll peaked at about 91 MB, 16 MB above
 *   the same poll with the factor held at its floor (1.1 ×, `--heap-growing-percent=10`), which
 *   V8 reads at every full collection. With it, 1,000 to 30,000 replies peak within 8% of each
 *   other (71 to 76 MB), and V8 still schedules its own collections, marking concurrently.
 *
 * - On a long IMAP poll, V8 starts marking once the old generation is half its limit
 *   (`--incremental-marking-hard-trigger=50`, read each time V8 asks whether to start marking:
 *   Heap::IncrementalMarkingLimitReached in V8's heap.cc), for mailboxes of more than
 *   LONG_POLL_MESSAGES messages when opened (EXAMINE's EXISTS). After each full collection V8
 *   lets the old generation grow by at least 8 MB, whatever the growing factor, and it marks only
 *   near that limit: the 30,000-reply poll peaked with 14 to 16 MB of old generation for about
 *   10 MB live. Marking from half the limit, 30,000 replies peak at 74.1 MB against 76.3 MB (10
 *   paired runs, Node 20; the wall time within the noise, 0.98x), within 1.08x of 1,000 replies
 *   (68.6 MB) instead of 1.11x. A poll of up to 10,000 small replies ends about when its first
 *   full collection would come, and there the earlier marking only added work: set from the
 *   start, a 1,000-reply poll took 1.03x the wall time (16 pairs), so shorter polls keep V8's
 *   schedule. A lower trigger (40) saved 1 MB more for 1.03x the CPU; soft triggers
 *   (`--incremental-marking-soft-trigger`, marking started by a task) 10/30 saved 4 MB for 1.04x
 *   the wall time. On Node 24, 30,000 replies peaked at 104.7 MB against 111.1 MB (10 pairs,
 *   before the next flag; 95.1 MB with both).
 * - Young collections go on while V8 marks for a full one (`--no-separate-gc-phases`), as they do
 *   by default on Node 20 and 22, where this is already the flag's value. Node 24's V8 (13.6)
 *   keeps the two apart by default: while it marks, it does not collect the young generation but
 *   gives it pages beyond its size instead (heap.cc `ShouldExpandYoungGenerationOnSlowAllocation`:
 *   "Allocate a new page during full GC incremental marking to avoid prematurely finalizing the
 *   incremental GC"), so the new space, 8 MB in V8's statistics once held, reached 11 to 18 MB
 *   at each full collection, by how much depending on timing. The realistic 5,000-message
 *   mailbox then peaked at 101 to 120 MB (median 107); with the flag at 89 to 92 MB (median 91),
 *   in 0.99x the wall time and the CPU (10 paired runs); over POP3 89.5 MB against 100.9 MB. Like
 *   the others the flag goes in once the mailbox is open, which in every run traced came well
 *   before V8 first began marking (about 75 ms against 330 ms): the switch decides how the next
 *   marking cycles treat young collections, not one under way. V8 14 no longer has the flag (not
 *   14.1, Node 25, nor 14.6, Node 26): it is set only before 14.0.
 * - On V8 14 an IMAP poll makes its full collections without incremental marking
 *   (`--no-incremental-marking`). There young collections always wait while V8 marks, and V8
 *   marks incrementally over 50 to 70 ms (traced on 10,000 small replies, Node 26: its one
 *   background thread shares the core with TurboFan's compiles), during which the poll allocates
 *   another 11 to 15 MB of young objects on pages added for them: a full collection began at 36
 *   and 43 MB of heap where the scavenges before it ended near 21 and 32. Without incremental
 *   marking, V8 collects the whole heap in one pause when the old generation reaches its limit
 *   (9 ms for 20 MB in that trace). On Node 26, IMAP polls of 1,000, 5,000, 10,000 and 30,000
 *   small replies peaked at 86, 90, 95 and 100 MB against 96, 99, 106 and 107 MB (5 runs
 *   each, 0.97 to 1.05 x the wall time), the realistic 5,000-message mailbox at 97 against
 *   110 MB (16 paired runs, 1.04 x the wall time: the pauses add up to about the same, but the
 *   poll's own code ran longer in profiles). V8 reads the flag only to decide whether a marking cycle may start
 *   (`IncrementalMarking::CanBeStarted`), so one under way when it goes in runs to its end:
 *   flipped at random moments of a process marking a quarter of its time, 200 runs each on
 *   Node 25 and Node 26 (46 flips inside a marking cycle) all finished. Over POP3 it does the
 *   opposite: the realistic mailbox, streamed whole through the MIME parser with its 5 MB
 *   attachments, peaked at 114 against 96 MB (6 paired runs), so a POP3 poll keeps V8's marking.
 *   The hard trigger for long IMAP polls (above) only decides when incremental marking starts,
 *   so V8 14 does not get it.
 * - Each scavenge of that small nursery is done by the main thread alone
 *   (`--no-parallel-scavenge`, read at every scavenge). V8 would otherwise split a 1 MB nursery
 *   between two threads, and the second one competes for a core with the mail server the poll
 *   is reading from (Dovecot's imap and imap-login processes on the same host, in the benchmark):
 *   on 5,000 small replies on a 2-core machine the poll took about 4% less wall time and 3% less
 *   CPU without it.
 *
 * - TurboFan inlines less (`--max-inlined-bytecode-size-cumulative=200`, from 920; read by each
 *   optimizing compile). The per-message code (the MIME split, the calendar parse, the verdict)
 *   gets hot a few hundred messages in, and V8 then optimizes some 200 functions on its
 *   background thread, inlining callees into each: about 0.45 s of that thread's CPU in a
 *   5,000-message poll that takes 0.75 s. On a 2-core machine that thread competes with the poll
 *   itself and with the mail server it reads from. With the smaller budget it took about 0.37 s;
 *   the poll used 0.91 × the CPU and 0.96 × the wall time (20 paired runs, Node 20), and
 *   30,000 small replies the same wall time. Optimized code with less inlined is slower once
 *   warm: judging the same 4,750 small messages again and again in one process, 2 to 3% per pass
 *   (5% at a budget of 100, which saved no more time in a poll). An IMAP poll is short-lived;
 *   V8's default is made for code that runs for long. A POP3 poll's does: POP3 has no partial
 *   read, every message goes through the MIME parser whole (5 s for the same mailbox, its 5 MB
 *   attachments included), and with the smaller budget it took 1.06 × the wall time and 1.14 ×
 *   the CPU (8 paired runs). Over POP3 the budget stays V8's.
 *
 * - Maglev's finished compile jobs are destroyed on the main thread
 *   (`--no-maglev-destroy-on-background`; read as each job is installed). Maglev, V8's mid-tier
 *   optimizing compiler, is on in Node 24's V8 (13.6) and off in Node 22's (12.4); Node 20's V8
 *   has no such flag, so it is set only from 12.4, where V8 knows it. By default V8 hands each
 *   installed job back to its background thread to be freed, with the compiler's working memory
 *   still attached; that thread is busy with the next compiles while the poll runs, and the jobs
 *   waited in a queue: V8's own record of its malloc'd memory peaked at 9 to 27 MB in a
 *   5,000-message poll on Node 24, and the poll at 111 to 141 MB. Freed where they are
 *   installed: 3.5 to 4.2 MB and 106 to 113 MB (median 110 against 128 MB), for 1.02 × the wall
 *   time and 1.01 × the CPU (36 paired runs); over POP3 a median of 104 against 109 MB.
 *
 * An earlier version forced a full, stop-the-world collection every 1,000 messages instead. That
 * kept the peak as flat, but each forced collection cost far more than its own pause (about
 * 0.1 s of CPU each, for a 30,000-reply poll 8.2 s against 4.8 s without them).
 *
 * The flags are set once the mailbox is open, not when `poll` starts. V8 compares the flags a
 * compiled file was made under with its own and refuses it under any other: both the code the
 * build ships for dist/ (src/code-cache.ts) and Node's own for its modules (TLS, streams, net).
 * Set at the start, they made a poll compile all of that, and imapflow, from source: a poll of
 * one message took 804 million instructions instead of 678 (0.25 s of CPU instead of 0.225); on
 * 5,000 replies the difference is lost in the noise. By the time the mailbox is open every
 * module of the read-only cycle is loaded. The young generation has grown one step while
 * loading, to 2 MB per semi-space, and is held there: the peak is 2 to 3 MB higher.
 *
 * If V8 refuses a flag, only the peak or the time grows.
 *
 * Tried and left out (5,000 small replies, on a 2-core machine):
 * - Letting the young generation grow as V8 would (no growth factor): 1.58 s against 1.39 s, and
 *   a peak of 108 MB against 76.
 * - Marking flags (`--no-parallel-marking`, `--single-threaded-gc`): changed while V8 marks
 *   concurrently, they crash Node 20 (a failed check in the mark-compact collector). Never set a
 *   flag here that changes how marking itself runs (its threads, its steps); the two above only
 *   decide when a marking cycle starts and whether young collections may run during one.
 * - A larger young generation from the start (`--min-semi-space-size` on the command line, the
 *   only place V8 reads it): V8 then refuses Node's own compiled code for its modules, and TLS,
 *   net and DNS load in 20 ms instead of 9.
 * - Node 24 without TurboFan (`--no-turbofan` once the mailbox is open, Maglev's code only), for
 *   IMAP mailboxes of up to 10,000 messages: as built, against the build without it (10 paired
 *   runs each), the realistic 5,000-message mailbox peaked at 97 MB against 106 MB but took
 *   1.10 × the wall time, and 5,000 small replies 1.15 × with no lower peak. Set from outside
 *   about 200 ms after start instead (once TurboFan had the hottest functions) it looked free up
 *   to 10,000 messages (30,000 took 1.23 ×), but set at 300 or 450 ms the peak did not fall: no
 *   trade to keep. Nor did a shorter TurboFan queue (`--concurrent-recompilation-queue-length=2`),
 *   a later TurboFan (`--invocation-count-for-turbofan=6000`), TurboFan for small functions only
 *   (`--max-optimized-bytecode-size=1500`) or without inlining move the peak beyond the noise.
 * - The old generation: no page promotion (`--page-promotion-threshold=100`),
 *   `--no-concurrent-sweeping` and no allocation-site pretenuring
 *   (`--no-allocation-site-pretenuring`) left the 30,000-reply peak on Node 20 where it was
 *   (10 to 12 paired runs each); the last did not move Node 24's peak either.
 */
import { setFlagsFromString } from 'node:v8';
import type { MailboxProtocol } from '../config/settings.js';

/**
 * The flags a poll over `protocol` sets. Each must be one this Node's V8 knows: V8 does not throw
 * for a flag it does not know, it prints "Error: unrecognized flag" on stderr, in every poll
 * (test/poll/v8-flags.test.ts runs them on each Node the suite runs on), and none past
 * {@link NEWEST_CHECKED_V8}. `messages`: the messages in the IMAP mailbox as it was opened
 * (EXAMINE's EXISTS), 0 when not known.
 */
export function pollV8Flags(protocol: MailboxProtocol, v8Version = process.versions.v8, messages = 0): string[] {
  if (!v8AtMost(v8Version, ...NEWEST_CHECKED_V8)) return [];
  const flags = ['--semi-space-growth-factor=1', '--heap-growing-percent=10', '--no-parallel-scavenge'];
  // V8 14 has no `--separate-gc-phases` and always keeps young collections apart from marking:
  // there an IMAP poll makes its full collections without incremental marking (file's comment).
  const v8_14 = v8AtLeast(v8Version, 14, 0);
  if (!v8_14) flags.push('--no-separate-gc-phases');
  if (protocol === 'imap') {
    flags.push('--max-inlined-bytecode-size-cumulative=200');
    if (v8_14) flags.push('--no-incremental-marking');
    else if (messages > LONG_POLL_MESSAGES) flags.push('--incremental-marking-hard-trigger=50');
  }
  if (v8AtLeast(v8Version, 12, 4)) flags.push('--no-maglev-destroy-on-background');
  return flags;
}

/**
 * Past this many messages in the mailbox (EXAMINE's EXISTS), an IMAP poll has V8 start marking
 * once the old generation is half its limit (see the file's comment): a shorter poll ends about
 * when its first full collection would come.
 */
export const LONG_POLL_MESSAGES = 10_000;

/**
 * The newest V8 on which every flag above was checked: Node 26's (14.6; before it Node 20's 11.3,
 * Node 22's 12.4, Node 24's 13.6 and Node 25's 14.1). A newer V8 gets none of them until they
 * are checked there: V8 drops flags between versions (`--separate-gc-phases` by 14.1), and one it
 * no longer knows is not an error it raises but two lines it prints on stderr, "Error:
 * unrecognized flag" and "Try --help for options", in every poll, where a cron job mails them to
 * the admin. Without the flags a poll only peaks higher or takes longer.
 */
export const NEWEST_CHECKED_V8 = [14, 6] as const;

/** `major.minor` of a V8 version string such as "13.6.233.17-node.53". */
function v8MajorMinor(version: string): [number, number] {
  const [a = NaN, b = NaN] = version.split('.', 2).map(Number);
  return [a, b];
}

/** Whether a V8 version string such as "13.6.233.17-node.53" is `major.minor` or later. */
export function v8AtLeast(version: string, major: number, minor: number): boolean {
  const [a, b] = v8MajorMinor(version);
  return a > major || (a === major && b >= minor);
}

/** Whether a V8 version string is `major.minor` or earlier (false for one that cannot be read). */
export function v8AtMost(version: string, major: number, minor: number): boolean {
  const [a, b] = v8MajorMinor(version);
  return a < major || (a === major && b <= minor);
}

/** Set the poll's flags; `messages`: the messages in the IMAP mailbox as it was opened (0 when not known). */
export function setPollV8Flags(protocol: MailboxProtocol, messages = 0): void {
  // Files loaded from here on compile from source (src/code-cache.ts stops reading caches at the
  // first refusal).
  for (const flag of pollV8Flags(protocol, process.versions.v8, messages)) {
    try {
      setFlagsFromString(flag);
    } catch {
      // Only the peak or the time grows.
    }
  }
}
