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

/** Counts messages; every {@link COLLECT_EVERY} of them, one full collection. */
export function heapKeeper(every = COLLECT_EVERY): () => void {
  let n = 0;
  return () => {
    if (++n % every === 0) gcFunction()?.();
  };
}
