/** Colours for humans: only on a TTY, never with NO_COLOR or --no-color. */
import { Chalk, type ChalkInstance } from 'chalk';

export interface OutputOptions {
  json: boolean;
  color: boolean;
  quiet: boolean;
  verbose: boolean;
}

export function wantColor(flag: boolean | undefined, stream: NodeJS.WriteStream = process.stdout, env = process.env): boolean {
  if (flag === false) return false;
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '0') return true;
  return Boolean(stream.isTTY);
}

export function palette(color: boolean): ChalkInstance {
  return new Chalk({ level: color ? 1 : 0 });
}

export const GLYPH = { error: '✗', warning: '!', info: '•', ok: '✓', skipped: '-' } as const;
