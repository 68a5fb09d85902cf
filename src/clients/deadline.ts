/**
 * A time limit on one network step that never blames the server for the process's own delays.
 *
 * Node runs a due timer in the timers phase of the event loop, before the I/O callbacks of the
 * same turn. When the process itself was busy past the limit (loading modules while a connection
 * opens, classifying a large message, a machine short of CPU), the answer may already be waiting
 * when the timer comes due: a plain `setTimeout` would then report "timed out" for a server that
 * answered in time, and the admin would chase a slow DNS or a firewall that is not there. So when
 * the limit is reached, the I/O that has arrived is handled first (`setImmediate` runs after the
 * poll phase), and the step expires only if it is still waiting after that.
 *
 * Shared by every client and stage runner that bounds a step; it imports nothing.
 */
export interface Deadline {
  /** The step ended: nothing fires any more. Safe to call more than once. */
  clear(): void;
}

/**
 * Call `onExpire` once `ms` have passed and the I/O that arrived meanwhile has been handled,
 * unless `clear()` was called first. `unref`: the limit alone does not keep the process alive.
 */
export function startDeadline(ms: number, onExpire: () => void, opts: { unref?: boolean } = {}): Deadline {
  let immediate: NodeJS.Immediate | undefined;
  let timer: NodeJS.Timeout | undefined = setTimeout(() => {
    timer = undefined;
    immediate = setImmediate(() => {
      immediate = undefined;
      onExpire();
    });
    if (opts.unref) immediate.unref();
  }, ms);
  if (opts.unref) timer.unref();
  return {
    clear() {
      if (timer) clearTimeout(timer);
      if (immediate) clearImmediate(immediate);
      timer = undefined;
      immediate = undefined;
    },
  };
}
