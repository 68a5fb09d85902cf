/**
 * Flat memory on long cycles. Nothing per message outlives its row, but V8 collects its old
 * generation lazily: it lets the heap grow to several times the live data before it compacts, so
 * a 30,000-message cycle peaked 50 MB above a 1,000-message one with the same live data (about
 * 16 MB). A full collection every {@link COLLECT_EVERY} messages (about 20 ms each on a 2-core
 * machine, under 2% of the cycle) keeps the peak where the first thousand messages put it.
 *
 * `gc` is not exposed without `--expose-gc`, which a launcher cannot pass portably; V8 lets the
 * flag be set at run time and the function be taken from a fresh context. If that ever fails, the
 * hint is a no-op and only the peak grows.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** Messages between two full collections. */
export const COLLECT_EVERY = 1000;

let collector: (() => void) | null | undefined;

function gcFunction(): (() => void) | null {
  if (collector !== undefined) return collector;
  try {
    setFlagsFromString('--expose-gc');
    const fn: unknown = runInNewContext('gc');
    collector = typeof fn === 'function' ? (fn as () => void) : null;
  } catch {
    collector = null;
  }
  return collector;
}

/**
 * Keep V8's young generation at its first size (1 MB per semi-space on 64-bit Node) instead of
 * letting it grow to 16 MB per semi-space. A poll allocates a great deal of short-lived garbage
 * (wire chunks, parsed parts, rows) and little that lives, so the young generation grew to its
 * maximum and its 32 MB stayed resident: a 1,000-message poll peaked at about 115 MB with 13 MB of
 * live heap. Held at 1 MB, the peak is about 85 MB, and the poll used no more CPU in our
 * measurements (more scavenges, each on a nursery that fits in the cache).
 *
 * The launcher cannot pass `--max-semi-space-size` portably, and V8 fixes that limit when the
 * heap is set up; the growth factor is read each time the young generation would grow, so
 * setting it to 1 here (before the poll allocates) holds the size. 0 would crash V8: never pass it.
 */
export function holdYoungGeneration(): void {
  try {
    setFlagsFromString('--semi-space-growth-factor=1');
  } catch {
    // Only the peak grows.
  }
}

/** Counts messages; every {@link COLLECT_EVERY} of them, one full collection. */
export function heapKeeper(every = COLLECT_EVERY): () => void {
  let n = 0;
  return () => {
    if (++n % every === 0) gcFunction()?.();
  };
}
