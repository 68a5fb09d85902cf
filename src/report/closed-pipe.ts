/**
 * A reader that closes early (`imip poll --once | head -3`) must end the program quietly, as it
 * ends `cat` or `grep`: no "Unhandled 'error' event", no stack trace. When stdout or stderr
 * reports EPIPE, further output is dropped and the process exits with 141 (128 + SIGPIPE), the
 * status a shell reports for a writer whose pipe closed (what `set -o pipefail` sees for `cat`).
 *
 * Output that cannot be written for another reason (a full disk: `> /dev/full`, ENOSPC; a
 * quota; an I/O error) is said in one line on stderr and the run exits 2: it could not do its
 * job. Before, Node's own dump of the exception ended it with status 1, "problems found".
 *
 * A run that changes something (`poll --once --apply`) is not cut short by either: its output is
 * dropped and it finishes its work (so no message is left half-handled), then exits 141 or 2.
 */
import { writeSync } from 'node:fs';
import { EXIT_CANNOT_RUN } from './exit.js';

export const EXIT_CLOSED_PIPE = 141;

let closed = false;
let failed = false;
/** Whether the run must finish its work before exiting (set by {@link endQuietlyOnClosedPipe}). */
let mustFinish: () => boolean = () => false;

/** The exit status of a run that would end with `code`: 141 after a closed pipe, 2 after output that could not be written. */
export function exitStatus(code: number): number {
  return closed ? EXIT_CLOSED_PIPE : failed ? EXIT_CANNOT_RUN : code;
}

/** A write to stdout or stderr failed with `err`: a closed pipe, or output that cannot be written. */
function outputError(err: NodeJS.ErrnoException): void {
  if (err.code === 'EPIPE' || err.code === 'ERR_STREAM_DESTROYED') {
    if (closed) return;
    closed = true;
    dropOutput();
    process.exitCode = EXIT_CLOSED_PIPE;
  } else {
    if (failed || closed) return;
    failed = true;
    dropOutput();
    try {
      writeSync(2, `imip: cannot write the output: ${err.message}\n`);
    } catch {
      // stderr is gone as well
    }
    process.exitCode = EXIT_CANNOT_RUN;
  }
  if (!mustFinish()) process.exit(process.exitCode);
}

/** Whether `err` is a failed write (a system call's error, or a destroyed stream), not a bug in what was written. */
function isWriteError(err: unknown): err is NodeJS.ErrnoException {
  if (!(err instanceof Error)) return false;
  const e = err as NodeJS.ErrnoException;
  return (typeof e.errno === 'number' && typeof e.syscall === 'string') || e.code === 'ERR_STREAM_DESTROYED';
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
  if (closed || failed) return;
  const buf = Buffer.from(text);
  let done = 0;
  try {
    while (done < buf.length) done += writeSync(1, buf, done);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EAGAIN') process.stdout.write(buf.subarray(done));
    else outputError(err as NodeJS.ErrnoException);
  }
}

function silence(stream: NodeJS.WriteStream): void {
  // Drop whatever is still written: the reader is gone, or the output cannot be written.
  stream.write = ((_chunk: unknown, enc?: unknown, cb?: unknown) => {
    const done = typeof enc === 'function' ? enc : cb;
    if (typeof done === 'function') queueMicrotask(() => (done as () => void)());
    return true;
  }) as typeof stream.write;
}

/**
 * Silence both streams that exist; one created later is silenced then ({@link endQuietlyOnClosedPipe}):
 * creating it here would load its modules for nothing.
 */
function dropOutput(): void {
  for (const name of ['stdout', 'stderr'] as const) {
    const own = Object.getOwnPropertyDescriptor(process, name);
    if (own && 'value' in own) silence(own.value as NodeJS.WriteStream);
  }
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
  mustFinish = finishWork;
  const watch = (stream: NodeJS.WriteStream): NodeJS.WriteStream => {
    // Pipes and sockets report a failed write as an 'error' event; files and devices (a
    // synchronous stream) throw it from write() itself.
    stream.on('error', outputError);
    const write = stream.write;
    stream.write = function (this: NodeJS.WriteStream, ...args: unknown[]): boolean {
      try {
        return (write as (...a: unknown[]) => boolean).apply(this, args);
      } catch (err) {
        if (!isWriteError(err)) throw err;
        outputError(err);
        return true;
      }
    } as typeof stream.write;
    if (closed || failed) silence(stream);
    return stream;
  };
  for (const name of ['stdout', 'stderr'] as const) {
    const own = Object.getOwnPropertyDescriptor(process, name);
    const getter = own?.get;
    if (!getter || !own.configurable) {
      watch(process[name]);
      continue;
    }
    Object.defineProperty(process, name, {
      configurable: true,
      enumerable: own.enumerable,
      get() {
        const stream = watch(getter.call(process) as NodeJS.WriteStream);
        Object.defineProperty(process, name, { configurable: true, enumerable: own.enumerable, value: stream, writable: true });
        return stream;
      },
    });
  }
}
