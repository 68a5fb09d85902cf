/**
 * `--format nagios|prometheus` on every command: run the command with its JSON document taken
 * (not printed), then render the monitoring format from that document alone.
 *
 * Nagios: one line on stdout, exit 0/1/2/3. Prometheus: the exposition text on stdout, or with
 * `--output FILE` written atomically (a temporary file in the same directory, then rename), and
 * the command's own exit code (0/1/2).
 */
import { lstatSync, readFileSync, realpathSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { CannotRunError, EXIT_CANNOT_RUN } from '../report/exit.js';
import { cannotRunSample, sampleFromDoc, type MonitorSample } from '../report/monitoring.js';
import { NAGIOS_EXIT, parseThresholds, renderNagios, type Thresholds } from '../report/nagios.js';
import { renderPrometheus } from '../report/prometheus.js';
import { setDocSink } from './shared.js';
import { printable } from '../report/terminal-text.js';

export type MonitorFormat = 'nagios' | 'prometheus';

export interface MonitorFlags {
  format?: string;
  warning?: string;
  critical?: string;
  output?: string;
  json?: boolean;
}

/** The monitoring format asked for, or null for human/json output. Flag mistakes: exit 2. */
export function monitorFormat(flags: MonitorFlags): MonitorFormat | null {
  const f = flags.format;
  const monitor = f === 'nagios' || f === 'prometheus' ? f : null;
  if (monitor && flags.json) throw new CannotRunError(`--json and --format ${f} are two outputs; give one`);
  if ((flags.warning !== undefined || flags.critical !== undefined) && monitor !== 'nagios') {
    throw new CannotRunError('--warning and --critical are thresholds for --format nagios');
  }
  if (flags.output !== undefined && monitor !== 'prometheus') throw new CannotRunError('--output writes the --format prometheus text to a file; give --format prometheus');
  if (flags.output !== undefined && !isFileName(flags.output)) throw new CannotRunError(`--output: ${JSON.stringify(flags.output)} is not a file name`);
  return monitor;
}

/** Whether an `--output` value can name a file: not blank, no NUL and no line break. */
function isFileName(s: string): boolean {
  return s.trim() !== '' && !/[\0\r\n]/.test(s);
}

/**
 * Write a file so that a reader sees the old or the new content, never a part: a temporary file
 * in the same directory, renamed over it. Only a regular file is replaced that way, and through a
 * symbolic link the file it names (the link stays). Anything else that exists is written in
 * place: renamed over, `/dev/null` (as root) became a regular file, and a named pipe or
 * `/dev/stdout` would lose its reader.
 */
export function writeAtomically(path: string, text: string): void {
  const kind = fileKind(path);
  if (kind === 'other' || kind === 'dangling link') {
    // Not a regular file, or a link to nothing yet (written through, which creates its file).
    writeInPlace(path, text);
    return;
  }
  const target = kind === 'file' ? realpathSync(path) : path;
  const tmp = join(dirname(target), `.${basename(target)}.${process.pid}.tmp`);
  try {
    writeFileSync(tmp, text, { mode: 0o644 });
    renameSync(tmp, target);
  } catch (e) {
    try {
      unlinkSync(tmp);
    } catch {
      // not created
    }
    throw new CannotRunError(`--output ${path}: ${(e as Error).message}`);
  }
}

/** What `path` is: a regular file (perhaps through links), something else, a link to nothing, or nothing (or unknown). */
function fileKind(path: string): 'file' | 'other' | 'dangling link' | 'none' {
  try {
    const st = statSync(path, { throwIfNoEntry: false });
    if (st) return st.isFile() ? 'file' : 'other';
    return lstatSync(path, { throwIfNoEntry: false })?.isSymbolicLink() ? 'dangling link' : 'none';
  } catch {
    return 'none'; // not reachable (a directory not searchable): the write says why
  }
}

function writeInPlace(path: string, text: string): void {
  try {
    writeFileSync(path, text);
  } catch (e) {
    throw new CannotRunError(`--output ${path}: ${(e as Error).message}`);
  }
}

/** The last text written to `path`, when it is a regular file (a named pipe would wait for a writer). */
function readPrevious(path: string | undefined): string | null {
  if (!path) return null;
  try {
    return fileKind(path) === 'file' ? readFileSync(path, 'utf8') : null;
  } catch {
    return null;
  }
}

/** Run a command under a monitoring format; returns the exit code. */
export async function runMonitored(command: string, format: MonitorFormat, flags: MonitorFlags, run: () => Promise<number>): Promise<number> {
  // Threshold mistakes are the user's: UNKNOWN in Nagios mode, like any bad flag.
  let warn = new Map();
  let crit = new Map();
  const started = process.hrtime.bigint();
  const elapsed = (): number => Number(process.hrtime.bigint() - started) / 1e9;
  let sample: MonitorSample;
  try {
    if (format === 'nagios') {
      warn = parseThresholds('--warning', flags.warning);
      crit = parseThresholds('--critical', flags.critical);
    }
    let doc: unknown = undefined;
    setDocSink((d) => {
      doc = d;
    });
    let code: number;
    try {
      code = await run();
    } finally {
      setDocSink(null);
    }
    sample = doc === undefined ? cannotRunSample(command, 'the command produced no result', code, elapsed()) : sampleFromDoc(command, doc, code, elapsed());
  } catch (e) {
    const message = e instanceof CannotRunError ? e.message : `internal error: ${(e as Error)?.message ?? String(e)}`;
    sample = cannotRunSample(command, message, EXIT_CANNOT_RUN, elapsed());
  }
  return emit(format, flags, sample, warn, crit);
}

/** Write the monitoring output of a sample (Nagios line, Prometheus text or file); returns the exit code. */
function emit(format: MonitorFormat, flags: MonitorFlags, sample: MonitorSample, warn: Thresholds, crit: Thresholds): number {
  if (format === 'nagios') {
    const r = renderNagios(sample, warn, crit);
    process.stdout.write(`${r.line}\n`);
    return r.exitCode;
  }
  if (!writePrometheus(sample, flags.output)) return EXIT_CANNOT_RUN;
  // An interrupted run said why on stderr already.
  if (sample.cannotRun !== null && !sample.interrupted) process.stderr.write(`imip: ${printable(sample.cannotRun)}\n`);
  return sample.exitCode;
}

/**
 * A run stopped by a signal before its document was complete (the message, on stderr already,
 * says how far it got): Nagios UNKNOWN, exit 3; Prometheus `imip_up 0` (the last success kept)
 * and the signal's exit code. Synchronous, for a signal handler that exits right after.
 */
export function monitorInterrupted(command: string, flags: MonitorFlags, message: string, exitCode: number, durationSeconds: number): number {
  const format = flags.format === 'nagios' ? 'nagios' : 'prometheus';
  let warn: Thresholds = new Map();
  let crit: Thresholds = new Map();
  try {
    // Already checked before the run began.
    if (format === 'nagios') [warn, crit] = [parseThresholds('--warning', flags.warning), parseThresholds('--critical', flags.critical)];
  } catch {
    // not shown then
  }
  return emit(format, flags, { ...cannotRunSample(command, message, exitCode, durationSeconds), interrupted: true }, warn, crit);
}

/** Nagios mode asked for on a command line that did not parse: UNKNOWN, exit 3. */
export function nagiosUnknown(command: string, message: string): number {
  const r = renderNagios(cannotRunSample(command, message, EXIT_CANNOT_RUN, 0), new Map(), new Map());
  process.stdout.write(`${r.line}\n`);
  return NAGIOS_EXIT.UNKNOWN;
}

/**
 * The Prometheus text of a sample: to `output` through a temporary file (the last success kept
 * from it), else on stdout (`--output -` too, as for the launcher without node and a flag that
 * did not parse). False when the file could not be written, said on stderr.
 */
function writePrometheus(sample: MonitorSample, file: string | undefined): boolean {
  const output = file === '-' ? undefined : file;
  const text = renderPrometheus(sample, { now: new Date(), previous: readPrevious(output) });
  if (!output) {
    process.stdout.write(text);
    return true;
  }
  try {
    writeAtomically(output, text);
    return true;
  } catch (e) {
    process.stderr.write(`imip: ${printable((e as Error).message)}\n`);
    return false;
  }
}

/**
 * A run stopped by a flag that did not parse under `--format prometheus` (commander has said why on
 * stderr): `imip_up` 0 for the command, to `--output` when it was given (as read from the raw
 * arguments; the last success kept), as for any run that could not be made. Without it a cron job
 * whose flags no longer parse left the collector serving the last run's `imip_up 1`. Returns the
 * exit code, 2.
 */
export function prometheusCannotStart(command: string, output: string | undefined, message: string): number {
  writePrometheus(cannotRunSample(command, message, EXIT_CANNOT_RUN, 0), output !== undefined && isFileName(output) ? output : undefined);
  return EXIT_CANNOT_RUN;
}
