/**
 * Colours for humans: only on a TTY, never with NO_COLOR or --no-color. chalk is loaded only when
 * colour is on ({@link loadPalette}); without colour every style is the identity, so a run whose
 * output goes to a pipe or a file never loads it.
 */
import type { ChalkInstance } from 'chalk';
import { fstatSync, statSync } from 'node:fs';

export interface OutputOptions {
  json: boolean;
  color: boolean;
  quiet: boolean;
  verbose: boolean;
}

/**
 * Colour on or off for stdout. Whether stdout is a terminal is judged by its descriptor: only a
 * character device other than the null device can be one, so output to a pipe, a file or
 * /dev/null is settled without creating `process.stdout` or loading node:tty (both load Node's
 * stream and net modules).
 */
export function wantColor(flag: boolean | undefined, env = process.env): boolean {
  if (flag === false) return false;
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '0') return true;
  return stdoutIsTerminal();
}

function stdoutIsTerminal(): boolean {
  let out;
  try {
    out = fstatSync(1);
  } catch {
    return false;
  }
  if (!out.isCharacterDevice()) return false;
  // The null device (`> /dev/null`, as from cron) is a character device too, never a terminal.
  if (isNullDevice(out.rdev)) return false;
  if (process.platform === 'linux' && linuxTerminal(out.rdev)) return true;
  return process.getBuiltinModule('node:tty').isatty(1);
}

/**
 * Whether a Linux character device is a terminal by its major number, as the kernel assigns them
 * (Documentation/admin-guide/devices.txt): 4 the virtual consoles and serial ports, 5 /dev/tty,
 * /dev/console and the serial call-out devices, 136 to 143 the pseudo-terminals that terminal
 * emulators, ssh and `script` give a program. Said so without node:tty, which loads Node's net and
 * stream modules: about 3 ms of every run on a terminal. Any other device is asked with isatty.
 */
export function linuxTerminal(rdev: number): boolean {
  // glibc's `major()` of a 64-bit dev_t: bits 8-19, then 44 and up.
  const major = ((rdev / 256) & 0xfff) | (Math.floor(rdev / 2 ** 32) & ~0xfff);
  return major === 4 || major === 5 || (major >= 136 && major <= 143);
}

function isNullDevice(rdev: number): boolean {
  try {
    return statSync('/dev/null').rdev === rdev;
  } catch {
    return false;
  }
}

/**
 * chalk's interface without colour: any style (chained or not) returns its arguments joined by a
 * space, as chalk does at level 0.
 */
const PLAIN: ChalkInstance = new Proxy(function plain() {} as unknown as ChalkInstance, {
  // Not a thenable (it is returned from an async function) and no symbol protocols: styles only.
  get: (_target, key) => (key === 'level' ? 0 : key === 'then' || typeof key === 'symbol' ? undefined : PLAIN),
  apply: (_target, _this, args: unknown[]) => args.join(' '),
});

let makeChalk: (() => ChalkInstance) | null = null;

/** The palette for `color`; chalk is loaded only when colour is on. */
export async function loadPalette(color: boolean): Promise<ChalkInstance> {
  if (!color) return PLAIN;
  makeChalk ??= (await import('./chalk.js')).newChalk;
  return makeChalk();
}

/** The palette, synchronously: without colour always; with colour once {@link loadPalette} has run. */
export function palette(color: boolean): ChalkInstance {
  if (!color || !makeChalk) return PLAIN;
  return makeChalk();
}

export const GLYPH = { error: '✗', warning: '!', info: '•', ok: '✓', skipped: '-' } as const;
