/**
 * Whether stdout is a terminal, told from Linux's device numbers where the kernel reserves them
 * for terminals (src/report/style.ts `linuxTerminal`), and asked of isatty otherwise.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { linuxTerminal } from '../../src/report/style.js';
import { builtinRecorder } from '../helpers/builtins.js';
import { BIN } from '../helpers/cli.js';

/** A Linux device number (glibc's `makedev` for a 64-bit dev_t). */
const makedev = (major: number, minor: number): number =>
  (minor & 0xff) + (major & 0xfff) * 2 ** 8 + (minor & ~0xff) * 2 ** 12 + (major & ~0xfff) * 2 ** 32;

describe('linuxTerminal', () => {
  it('is true for the majors Linux gives terminals: consoles and serial ports, /dev/tty and /dev/console, pseudo-terminals', () => {
    for (const [major, minor] of [[4, 1], [4, 64], [5, 0], [5, 1], [136, 0], [136, 300], [143, 1048575]] as const) {
      expect(linuxTerminal(makedev(major, minor)), `${major},${minor}`).toBe(true);
    }
  });

  it('is false for other character devices (they are asked with isatty)', () => {
    for (const [major, minor] of [[1, 3], [1, 5], [1, 9], [10, 200], [188, 0], [144, 0], [3, 0], [4096 + 136, 0]] as const) {
      expect(linuxTerminal(makedev(major, minor)), `${major},${minor}`).toBe(false);
    }
  });
});

const EXAMPLE = fileURLToPath(new URL('../../examples/caldavd.plist', import.meta.url));
/** util-linux `script`, and a pseudo-terminal it can open here (a container may have none). */
const hasScript = spawnSync('script', ['-qec', 'true', '/dev/null']).status === 0;

describe.runIf(process.platform === 'linux' && hasScript)('check-config on a pseudo-terminal', () => {
  it('is coloured, and tells the terminal without loading node:tty', () => {
    const recorder = builtinRecorder();
    const quote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
    const command = [process.execPath, '-r', recorder.hook, BIN, 'check-config', '--config', EXAMPLE].map(quote).join(' ');
    const env = { ...process.env, NO_COLOR: undefined, FORCE_COLOR: undefined, TERM: 'xterm' };
    const r = spawnSync('script', ['-qec', command, '/dev/null'], { env, encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stdout).toContain('\u001b[31m');
    expect(r.stdout).toContain('1 error, 2 warnings, 1 note');
    const loaded = recorder.loaded();
    expect(loaded).not.toContain('NativeModule tty');
    expect(loaded).not.toContain('NativeModule net');
  });
});
