/**
 * What a test's code holds on to: heap and buffer memory still reachable after a full collection.
 * The resident set before a collection also counts garbage, which the collector may let grow
 * well past what is held (Node 24 under load did), so it cannot tell a leak from a lazy collector.
 */
import v8 from 'node:v8';
import vm from 'node:vm';

let gc: (() => void) | undefined;

/** V8's full collection, made callable here as `node --expose-gc` would. */
function fullCollection(): () => void {
  if (!gc) {
    v8.setFlagsFromString('--expose-gc');
    gc = vm.runInNewContext('gc') as () => void;
  }
  return gc;
}

/** Bytes of heap and buffers reachable now (after a full collection). */
export function heldBytes(): number {
  fullCollection()();
  const u = process.memoryUsage();
  return u.heapUsed + u.arrayBuffers;
}
