/**
 * The V8 code the build ships for dist/ (src/code-cache.ts): the program behaves the same with
 * it, V8 takes it, and a file changed after the build runs as it is now, never as the cache
 * remembers it.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { cacheCounter, cachedFiles, countedCaches } from '../helpers/cache-counter.js';
import { runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/plist.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const EXAMPLE = join(ROOT, 'examples', 'caldavd.plist');

/** This environment without IMIP_CODE_CACHE (whatever the suite was started with). */
function withoutSwitch(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.IMIP_CODE_CACHE;
  return env;
}

/** A copy of the built program (bin, dist with its caches, timestamps kept) using this checkout's packages. */
function copyOfProgram(): string {
  const dir = tempDir();
  for (const part of ['bin', 'dist', 'examples']) cpSync(join(ROOT, part), join(dir, part), { recursive: true, preserveTimestamps: true });
  cpSync(join(ROOT, 'package.json'), join(dir, 'package.json'), { preserveTimestamps: true });
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  mkdirSync(join(dir, 'state'));
  return dir;
}

describe('the compiled code the build ships', () => {
  it('gives the same report as compiling from source', async () => {
    const withCache = await runCli(['check-config', '--json', EXAMPLE], { env: { IMIP_CODE_CACHE: undefined } });
    const without = await runCli(['check-config', '--json', EXAMPLE], { env: { IMIP_CODE_CACHE: 'off' } });
    expect(withCache.code).toBe(1);
    expect(without.code).toBe(1);
    expect(withCache.stdout).toBe(without.stdout);
    expect(withCache.stderr).toBe(without.stderr);
  });

  it('is taken by V8 for the files check-config loads (none refused), and not used when turned off', async () => {
    const on = await runCli(['check-config', EXAMPLE], { nodeArgs: ['-r', cacheCounter()], env: { IMIP_CODE_CACHE: undefined } });
    const seen = countedCaches(on.stderr);
    expect(seen.rejected).toBe(0);
    // The command line, and the command's pack with every other file it loads.
    expect(cachedFiles(on.stderr).map((f) => relative(join(ROOT, 'dist'), f)).sort()).toEqual(['cli.js', join('packs', 'check-config.js')]);
    const off = await runCli(['check-config', EXAMPLE], { nodeArgs: ['-r', cacheCounter()], env: { IMIP_CODE_CACHE: 'off' } });
    expect(countedCaches(off.stderr)).toEqual({ cached: 0, rejected: 0 });
  });

  it('loads each file once, so an error of one file is known to another (a user mistake exits 2 with its message)', async () => {
    // The error class lives in one shared file; the config loader throws it and the command line
    // recognises it: a second copy of that file would make the mistake an internal error.
    const args = ['check-config', '--config', join(tempDir(), 'missing.plist')];
    const withCache = await runCli(args, { env: { IMIP_CODE_CACHE: undefined } });
    const without = await runCli(args, { env: { IMIP_CODE_CACHE: 'off' } });
    expect(withCache.code).toBe(2);
    expect(withCache.stderr).toMatch(/^imip: .*missing\.plist/);
    expect(withCache.stderr).not.toContain('internal error');
    expect(withCache.stderr).toBe(without.stderr);
  });

  it('reports a file missing from dist/ as Node does, without a stack trace', () => {
    const dir = copyOfProgram();
    rmSync(join(dir, 'dist', 'commands', 'check-config.js'));
    for (const IMIP_CODE_CACHE of [undefined, 'off']) {
      const env = withoutSwitch();
      if (IMIP_CODE_CACHE) env.IMIP_CODE_CACHE = IMIP_CODE_CACHE;
      const r = spawnSync(process.execPath, [join(dir, 'bin', 'imip'), 'check-config', join(dir, 'examples', 'caldavd.plist')], { encoding: 'utf8', env });
      expect(r.status).toBe(2);
      expect(r.stderr).toContain("Cannot find module './commands/check-config.js'");
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
  });

  it('is not used for a file changed after the build, even one of the same length', async () => {
    const dir = copyOfProgram();
    const bin = join(dir, 'bin', 'imip');
    const cli = join(dir, 'dist', 'cli.js');
    // The copy, as built, runs on its caches.
    const run = (): { stdout: string; stderr: string } => spawnSync(process.execPath, ['-r', cacheCounter(), bin, '--help'], { encoding: 'utf8', env: withoutSwitch() });
    const asBuilt = run();
    expect(asBuilt.stdout).toContain('the way the server reads it');
    expect(countedCaches(asBuilt.stderr).cached).toBeGreaterThan(0);
    // Edited in place, same length: V8 alone would take the old code (it compares lengths).
    const source = readFileSync(cli, 'utf8');
    expect(source).toContain('the way the server reads it');
    writeFileSync(cli, source.replace('the way the server reads it', 'THE WAY THE SERVER READS IT'));
    const edited = run();
    expect(edited.stdout).toContain('THE WAY THE SERVER READS IT');
    expect(edited.stdout).not.toContain('the way the server reads it');
  });

  it('is ignored when damaged: the program runs from source, and reads no other cache', async () => {
    const dir = copyOfProgram();
    // check-config takes the caches of its own training (see below), its pack's first.
    damage(join(dir, 'dist', 'code-cache', 'by-command', 'check-config', 'packs', 'check-config.js.bin'));
    const r = spawnSync(process.execPath, ['-r', cacheCounter(), join(dir, 'bin', 'imip'), 'check-config', '--json', join(dir, 'examples', 'caldavd.plist')], { encoding: 'utf8', env: withoutSwitch() });
    expect(r.status).toBe(1);
    expect(JSON.parse(r.stdout).command).toBe('check-config');
    // The pack is the first file with a cache; after V8 refused it, no other cache is read (as
    // after the poll sets V8 flags of its own, which makes V8 refuse them all).
    expect(countedCaches(r.stderr), r.stderr).toEqual({ cached: 0, rejected: 1 });
  });

  it("is the command's own where the build trained it alone, the shared one for a file it lacks, and the shared one for help", () => {
    const dir = copyOfProgram();
    const own = join(dir, 'dist', 'code-cache', 'by-command', 'check-config');
    const run = (...args: string[]): { status: number | null; stdout: string; stderr: string } =>
      spawnSync(process.execPath, ['-r', cacheCounter(), join(dir, 'bin', 'imip'), ...args], { encoding: 'utf8', env: withoutSwitch() });
    const example = join(dir, 'examples', 'caldavd.plist');
    const asBuilt = run('check-config', example);
    expect(asBuilt.status).toBe(1);
    const files = cachedFiles(asBuilt.stderr);
    expect(countedCaches(asBuilt.stderr).rejected).toBe(0);
    // Every file it loads has a cache of its own training.
    for (const f of files) expect(existsSync(join(own, `${relative(join(dir, 'dist'), f)}.bin`)), f).toBe(true);

    // One of them gone from its own: that file takes the shared cache, and the run is the same.
    rmSync(join(own, 'cli.js.bin'));
    const partly = run('check-config', example);
    expect(partly.stdout).toBe(asBuilt.stdout);
    expect(cachedFiles(partly.stderr).sort()).toEqual([...files].sort());

    // Its own pack's cache damaged: check-config's runs refuse it; its help, which runs
    // commander's help and not the command, takes the shared caches and refuses none.
    damage(join(own, 'packs', 'check-config.js.bin'));
    expect(countedCaches(run('check-config', example).stderr)).toEqual({ cached: 0, rejected: 1 });
    const help = run('check-config', '--help');
    expect(help.stdout).toContain('--config');
    expect(countedCaches(help.stderr).rejected).toBe(0);
    expect(countedCaches(help.stderr).cached).toBeGreaterThan(0);
  });
});

describe("a command's pack (its files in one, dist/packs/<command>.js)", () => {
  it('gives the same report without it, and never a file as it was when the file changed since', () => {
    const dir = copyOfProgram();
    const run = (): { status: number | null; stdout: string } =>
      spawnSync(process.execPath, [join(dir, 'bin', 'imip'), 'check-config', join(dir, 'examples', 'caldavd.plist')], { encoding: 'utf8', env: withoutSwitch() });
    const asBuilt = run();
    expect(asBuilt.status).toBe(1);
    expect(asBuilt.stdout).toContain('is not a key the server knows');
    // A file the pack holds, edited in place with the same length: the run takes the file.
    const chunk = readdirSync(join(dir, 'dist', 'chunks'))
      .map((f) => join(dir, 'dist', 'chunks', f))
      .find((f) => readFileSync(f, 'utf8').includes('is not a key the server knows'))!;
    expect(readFileSync(join(dir, 'dist', 'packs', 'check-config.js'), 'utf8')).toContain('is not a key the server knows');
    writeFileSync(chunk, readFileSync(chunk, 'utf8').replaceAll('is not a key the server knows', 'IS NOT A KEY THE SERVER KNOWS'));
    const edited = run();
    expect(edited.stdout).toContain('IS NOT A KEY THE SERVER KNOWS');
    expect(edited.stdout).not.toContain('is not a key the server knows');
    // No pack at all: each file loads by itself, and the report is the same.
    rmSync(join(dir, 'dist', 'packs'), { recursive: true });
    expect(run().stdout).toBe(edited.stdout);
  });
});

/** Keep a cache's header (the stamp still matches), break what follows. */
function damage(cache: string): void {
  const data = readFileSync(cache);
  writeFileSync(cache, Buffer.concat([data.subarray(0, 16), Buffer.alloc(data.length - 16, 0x5a)]));
}
