/**
 * The commands that connect change V8 flags on the way (the resolve stage's IPv6 test,
 * src/net/connect.ts; the poll's V8 flags, src/poll/v8-flags.ts). V8 refuses a code cache made
 * under other flags, so each change must come back, or come after the last file is loaded:
 * otherwise every file loaded later compiles from source, and the command is slower for it.
 * The poll is the command that loads most of its files after it has connected (the connection
 * tests load theirs before their first lookup, so they could not show a flag left off).
 *
 * imapflow's files have caches too, made by the build's connected training runs; a file of the
 * package replaced after the build (same size, same modification time) must not be compiled from
 * the cache of the one before.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { cachedFiles, cacheCounter, countedCaches } from '../helpers/cache-counter.js';
import { runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/plist.js';
import { getStack } from '../helpers/stack.js';
import { writeStackConfig } from '../helpers/stack-config.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** imapflow's files among those compiled with a cache, by their path in the package. */
const IMAPFLOW = '/node_modules/imapflow/';
const imapflowFiles = (files: string[]): string[] => files.filter((f) => f.includes(IMAPFLOW)).map((f) => f.slice(f.lastIndexOf(IMAPFLOW) + IMAPFLOW.length));

/**
 * A copy of the program with a copy of imapflow of its own (the other packages linked), built
 * caches and all: its training run made again there, as `npm install` makes it.
 */
function programWithOwnImapflow(env: NodeJS.ProcessEnv = process.env): { dir: string; build: string } {
  const dir = tempDir();
  for (const part of ['bin', 'dist', 'examples', 'scripts']) cpSync(join(ROOT, part), join(dir, part), { recursive: true, preserveTimestamps: true });
  cpSync(join(ROOT, 'package.json'), join(dir, 'package.json'));
  mkdirSync(join(dir, 'node_modules'));
  for (const name of readdirSync(join(ROOT, 'node_modules'))) {
    if (name === 'imapflow') cpSync(join(ROOT, 'node_modules', name), join(dir, 'node_modules', name), { recursive: true, preserveTimestamps: true });
    else symlinkSync(join(ROOT, 'node_modules', name), join(dir, 'node_modules', name));
  }
  const r = spawnSync(process.execPath, [join(dir, 'scripts', 'code-cache.mjs')], { encoding: 'utf8', env });
  expect(r.status, r.stderr).toBe(0);
  return { dir, build: r.stderr };
}

const counted = async (args: string[]): Promise<{ code: number | null; cached: number; rejected: number }> => {
  const r = await runCli([...args, '--config', writeStackConfig(), '--ca-file', getStack().ca], { nodeArgs: ['-r', cacheCounter()], env: { IMIP_CODE_CACHE: undefined } });
  return { code: r.code, ...countedCaches(r.stderr) };
};

describe('the compiled code the build ships, in the commands that connect', () => {
  it('is taken for every file poll --once loads, before and after it connects', async () => {
    const seen = await counted(['poll', '--once', '--json', '--state-dir', tempDir()]);
    expect([0, 1]).toContain(seen.code);
    expect(seen.rejected).toBe(0);
    expect(seen.cached).toBeGreaterThan(30);
  });

  it('is taken for imapflow\'s files in test-mailbox over IMAP', async () => {
    const r = await runCli(['test-mailbox', '--config', writeStackConfig(), '--ca-file', getStack().ca], { nodeArgs: ['-r', cacheCounter()], env: { IMIP_CODE_CACHE: undefined } });
    expect(r.code, r.stdout).toBe(0);
    expect(countedCaches(r.stderr).rejected).toBe(0);
    const files = imapflowFiles(cachedFiles(r.stderr));
    expect(files).toContain('dist/cjs/imap-flow.js');
    expect(files.length).toBeGreaterThan(20);
  });

  it('is not taken for a file of imapflow replaced after the build with one of the same size and modification time', () => {
    const { dir, build } = programWithOwnImapflow();
    expect(build).toMatch(/^code cache: \d+ files; 7 connected runs, in clear text and with TLS$/m);
    const run = (): { status: number | null; stdout: string; stderr: string } =>
      spawnSync(process.execPath, ['-r', cacheCounter(), join(dir, 'bin', 'imip'), 'test-mailbox', '--config', writeStackConfig(), '--ca-file', getStack().ca], { encoding: 'utf8', env: { ...process.env, IMIP_CODE_CACHE: '', NO_COLOR: '1' } });
    const asBuilt = run();
    expect(asBuilt.status, asBuilt.stdout).toBe(0);
    expect(imapflowFiles(cachedFiles(asBuilt.stderr))).toContain('dist/cjs/imap-flow.js');
    // Another version of the file, as an installer might leave it: the same length, and the
    // modification time set back to the old one. V8 would take the old code (it compares lengths).
    const file = join(dir, 'node_modules', 'imapflow', 'dist', 'cjs', 'imap-flow.js');
    const before = statSync(file);
    const source = readFileSync(file, 'utf8');
    expect(source).toContain('@module imapflow');
    writeFileSync(file, source.replace('@module imapflow', '@module IMAPFLOW'));
    utimesSync(file, before.atime, before.mtime);
    expect(statSync(file).size).toBe(before.size);
    const replaced = run();
    expect(replaced.status, replaced.stdout).toBe(0);
    expect(countedCaches(replaced.stderr).rejected).toBe(0);
    const files = imapflowFiles(cachedFiles(replaced.stderr));
    expect(files).not.toContain('dist/cjs/imap-flow.js');
    expect(files.length).toBeGreaterThan(20);
  });

  it('is made without openssl too: the training then connects in clear text only', () => {
    // A PATH without openssl: no throwaway certificate, so no TLS servers.
    // (imapflow's caches exist either way: the training's last step loads every file.)
    const { build } = programWithOwnImapflow({ ...process.env, PATH: tempDir() });
    expect(build).toMatch(/^code cache: \d+ files; 4 connected runs, in clear text only \(no openssl for a certificate\)$/m);
  });
});
