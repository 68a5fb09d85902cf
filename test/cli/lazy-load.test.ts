/**
 * Start-up stays lazy where an admin waits: a POP3 command never loads imapflow (the IMAP
 * library), and chalk is loaded only when the output is coloured. Proved on the real mail stack
 * by recording every module the process loads.
 */
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
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

  it('check-config into /dev/null (a character device, never a terminal) loads neither chalk nor node:tty', () => {
    const log = join(tempDir(), 'builtins');
    const hook = join(tempDir(), 'hook.cjs');
    writeFileSync(hook, `const M = require('node:module'); const fs = require('node:fs'); const load = M._load;
M._load = function (request, ...rest) { if (request === 'tty' || request === 'node:tty') fs.appendFileSync(${JSON.stringify(log)}, request + '\\n'); return load.call(this, request, ...rest); };`);
    const out = openSync('/dev/null', 'w');
    const r = spawnSync(process.execPath, ['-r', hook, BIN, 'check-config', '--config', EXAMPLE], { env: { ...process.env, NO_COLOR: undefined, FORCE_COLOR: undefined }, stdio: ['ignore', out, 'pipe'] });
    closeSync(out);
    expect(r.status).toBe(1);
    expect(existsSync(log) ? readFileSync(log, 'utf8') : '').toBe('');
  });

  it('check-config with FORCE_COLOR loads it', async () => {
    const r = await traced(['check-config', '--config', EXAMPLE], { FORCE_COLOR: '1' });
    expect(r.code).toBe(1);
    expect(chalk(r.urls).length).toBeGreaterThan(0);
    // Bundled: not imported from node_modules as an ES module.
    expect(chalkPackage(r.urls)).toEqual([]);
  });
});
