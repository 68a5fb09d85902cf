/**
 * Start-up stays lazy where an admin waits: a POP3 command never loads imapflow (the IMAP
 * library), and chalk is loaded only when the output is coloured. Proved on the real mail stack
 * by recording every module the process loads.
 */
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { builtinRecorder } from '../helpers/builtins.js';
import { BIN } from '../helpers/cli.js';
import { tempDir } from '../helpers/plist.js';
import { getStack } from '../helpers/stack.js';
import { writePollPlist } from '../poll/helpers.js';

const TRACE = fileURLToPath(new URL('../helpers/trace-imports.mjs', import.meta.url));
const EXAMPLE = fileURLToPath(new URL('../../examples/caldavd.plist', import.meta.url));

/** Run the CLI with the import tracer; resolves with the exit code and the modules it loaded. */
function traced(args: string[], env: Record<string, string | undefined> = {}): Promise<{ code: number | null; urls: string[]; stderr: string }> {
  const file = join(tempDir(), 'trace');
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', TRACE, BIN, ...args], { env: { ...process.env, NO_COLOR: undefined, FORCE_COLOR: undefined, ...env, IMIP_TRACE_FILE: file }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      let urls: string[] = [];
      try {
        urls = readFileSync(file, 'utf8').split('\n').filter(Boolean);
      } catch {
        // nothing loaded beyond Node itself
      }
      resolve({ code, urls, stderr });
    });
  });
}

const imapflow = (urls: string[]): string[] => urls.filter((u) => u.includes('/node_modules/imapflow/'));
/** chalk is bundled into dist/report/chalk.js: the package's own files never load (nor Node's ES module loader for them). */
const chalk = (urls: string[]): string[] => urls.filter((u) => u.includes('/node_modules/chalk/') || u.endsWith('/dist/report/chalk.js'));
const chalkPackage = (urls: string[]): string[] => urls.filter((u) => u.includes('/node_modules/chalk/'));

describe('POP3 commands never load imapflow', () => {
  const stack = getStack();
  const user = stack.users[2]!;
  const pop3 = writePollPlist(stack, { version: '9.2', protocol: 'pop3', user });

  it('poll --once over POP3', async () => {
    const r = await traced(['poll', '--once', '--json', '--config', pop3, '--ca-file', stack.ca, '--state-dir', tempDir()]);
    expect(r.stderr).toBe('');
    expect([0, 1]).toContain(r.code);
    expect(r.urls.some((u) => u.includes('/dist/mailbox/pop3-reader.js'))).toBe(true);
    expect(imapflow(r.urls)).toEqual([]);
  });

  it('test-mailbox over POP3', async () => {
    const r = await traced(['test-mailbox', '--json', '--config', pop3, '--ca-file', stack.ca]);
    expect([0, 1]).toContain(r.code);
    expect(imapflow(r.urls)).toEqual([]);
  });

  it('poll --once over IMAP does load it (the tracer sees it)', async () => {
    const imap = writePollPlist(stack, { version: '9.2', protocol: 'imap', user });
    const r = await traced(['poll', '--once', '--json', '--config', imap, '--ca-file', stack.ca, '--state-dir', tempDir()]);
    expect([0, 1]).toContain(r.code);
    expect(imapflow(r.urls).length).toBeGreaterThan(0);
  });
});

describe('chalk only when colour is on', () => {
  it('check-config into a pipe does not load chalk', async () => {
    const r = await traced(['check-config', '--config', EXAMPLE]);
    expect(r.code).toBe(1);
    expect(chalk(r.urls)).toEqual([]);
  });

  /**
   * The Node modules a run of `check-config` into /dev/null loads beyond Node's own start-up
   * (one run, for the two tests below).
   */
  let loadedOnce: string[] | undefined;
  function builtinsLoaded(): string[] {
    if (loadedOnce) return loadedOnce;
    const recorder = builtinRecorder();
    const out = openSync('/dev/null', 'w');
    const r = spawnSync(process.execPath, ['-r', recorder.hook, BIN, 'check-config', '--config', EXAMPLE], { env: { ...process.env, NO_COLOR: undefined, FORCE_COLOR: undefined }, stdio: ['ignore', out, 'pipe'] });
    closeSync(out);
    expect(r.status).toBe(1);
    expect(r.stderr.toString()).toBe('');
    return (loadedOnce = recorder.loaded());
  }

  it('check-config into /dev/null (a character device, never a terminal) loads neither chalk nor node:tty, nor the stream modules', () => {
    const loaded = builtinsLoaded();
    expect(loaded).not.toContain('NativeModule tty');
    expect(loaded).not.toContain('NativeModule net');
    expect(loaded).not.toContain('NativeModule stream');
    // The record is read: the code cache's own module is in it.
    expect(loaded).toContain('NativeModule vm');
  });

  it('check-config on a config that names ServerHostName loads neither node:os nor the public node:module', () => {
    const loaded = builtinsLoaded();
    expect(loaded).not.toContain('NativeModule os');
    expect(loaded).not.toContain('NativeModule module');
  });

  it('check-config with FORCE_COLOR loads it', async () => {
    const r = await traced(['check-config', '--config', EXAMPLE], { FORCE_COLOR: '1' });
    expect(r.code).toBe(1);
    expect(chalk(r.urls).length).toBeGreaterThan(0);
    // Bundled: not imported from node_modules as an ES module.
    expect(chalkPackage(r.urls)).toEqual([]);
  });
});
