/**
 * A reader that closes early (`imip poll --once | head -3`) must end the program quietly, as it
 * ends `cat` or `grep`: no "Unhandled 'error' event", no stack trace. When stdout or stderr
 * reports EPIPE, further output is dropped and the process exits with 141 (128 + SIGPIPE), the
 * status a shell reports for a writer whose pipe closed (what `set -o pipefail` sees for `cat`).
 *
 * A run that changes something (`poll --once --apply`) is not cut short by a closed pipe: its
 * output is dropped and it finishes its work (so no message is left half-handled), then exits 141.
 */
import { writeSync } from 'node:fs';

export const EXIT_CLOSED_PIPE = 141;

let closed = false;

/** True once stdout or stderr reported a closed pipe. */
export function pipeClosed(): boolean {
  return closed;
}

/**
 * Writes a command's whole output to stdout with one synchronous write, without creating
 * `process.stdout`: that stream loads Node's stream modules (and net for a pipe), about 2% of
 * Node's own start-up, which `check-config` would pay for one write. Only for a command whose
 * output is this one call: a later `process.stdout.write` could not overtake it, but an earlier
 * one still queued could be overtaken. Where the descriptor is non-blocking and full (EAGAIN),
 * the rest goes through `process.stdout`, which waits; a reader that has gone (EPIPE) ends the
 * run with the closed-pipe status, as for the streams.
 */
export function writeWhole(text: string): void {
  const buf = Buffer.from(text);
  let done = 0;
  try {
    while (done < buf.length) done += writeSync(1, buf, done);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EPIPE') closed = true;
    else process.stdout.write(buf.subarray(done));
  }
}

function silence(stream: NodeJS.WriteStream): void {
  // Drop whatever is still written: the reader is gone.
  stream.write = ((_chunk: unknown, enc?: unknown, cb?: unknown) => {
    const done = typeof enc === 'function' ? enc : cb;
    if (typeof done === 'function') queueMicrotask(() => (done as () => void)());
    return true;
  }) as typeof stream.write;
}

/**
 * Install the handlers on stdout and stderr. `finishWork` says whether the run must finish its
 * work before exiting (it changes state, e.g. `--apply`).
 *
 * Each handler is attached when the program first uses that stream, not before: creating
 * `process.stdout` loads Node's stream modules (and net, for a pipe), which a command that writes
 * its output with one synchronous write (`check-config`) never needs.
 */
export function endQuietlyOnClosedPipe(finishWork: () => boolean = () => false): void {
  const onError = (err: NodeJS.ErrnoException): void => {
    if (err.code !== 'EPIPE' && err.code !== 'ERR_STREAM_DESTROYED') throw err;
    closed = true;
    silence(process.stdout);
    silence(process.stderr);
    process.exitCode = EXIT_CLOSED_PIPE;
    if (!finishWork()) process.exit(EXIT_CLOSED_PIPE);
  };
  for (const name of ['stdout', 'stderr'] as const) {
    const own = Object.getOwnPropertyDescriptor(process, name);
    const getter = own?.get;
    if (!getter || !own.configurable) {
      process[name].on('error', onError);
      continue;
    }
    Object.defineProperty(process, name, {
      configurable: true,
      enumerable: own.enumerable,
      get() {
        const stream = getter.call(process) as NodeJS.WriteStream;
        Object.defineProperty(process, name, { configurable: true, enumerable: own.enumerable, get: () => stream });
        stream.on('error', onError);
        return stream;
      },
    });
  }
}
