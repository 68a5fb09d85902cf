/**
 * A reader that closes early (`imip poll --once | head -3`) must end the program quietly, as it
 * ends `cat` or `grep`: no "Unhandled 'error' event", no stack trace. When stdout or stderr
 * reports EPIPE, further output is dropped and the process exits with 141 (128 + SIGPIPE), the
 * status a shell reports for a writer whose pipe closed (what `set -o pipefail` sees for `cat`).
 *
 * A run that changes something (`poll --once --apply`) is not cut short by a closed pipe: its
 * output is dropped and it finishes its work (so no message is left half-handled), then exits 141.
 */
export const EXIT_CLOSED_PIPE = 141;

let closed = false;

/** True once stdout or stderr reported a closed pipe. */
export function pipeClosed(): boolean {
  return closed;
}

/** A synchronous write to stdout found the reader gone (EPIPE): the run ends as for the streams. */
export function readerGone(): void {
  closed = true;
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
