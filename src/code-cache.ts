/**
 * V8 code for the program's own files, compiled when the package is built rather than at every
 * start (README, Decisions: "Compiled code shipped with the build").
 *
 * Compiling the JavaScript a command loads is one of the largest parts of its start-up
 * (`check-config` reads and compiles about 240 KB before it does anything). V8 can serialise what
 * it compiled and take it back instead of compiling again, but a cache written right after
 * loading covers only each file's top level: most functions are compiled lazily, on their first
 * call. So the build runs the commands that can run without a network (scripts/code-cache.mjs:
 * `check-config` on the bundled example, `--help`, `--version`, `diagnose --offline` on saved
 * replies, `send-test --dry-run`) in one process with
 * {@link recordCodeCache}, and writes each file's cache when that process ends, functions compiled
 * on the way included. Nothing is written when the program runs: the tool is often run as root,
 * and code it wrote one day would be executed the next.
 *
 * The same goes for the files of imapflow, which every IMAP command loads (about 17 ms of
 * compiling in a `test-mailbox`), and for what the connection tests run once they are connected:
 * the training also runs `test-smtp` and `test-mailbox` over IMAP and POP3 against servers of its
 * own on 127.0.0.1 (scripts/code-cache.mjs).
 *
 * {@link useCodeCache} (called by bin/imip before anything else loads) compiles each file of
 * dist/, and of those packages, with its cache. A cache is used only for the file it was made
 * from: its header holds that file's size and a time ({@link HEADER}), as Python's own byte-code
 * files do (V8 itself compares only the length of the source, its own version and its flags, and
 * refuses the rest). A file that changed, a cache V8 refuses, a missing or unreadable cache: the
 * file is compiled from its source as usual. `IMIP_CODE_CACHE=off` turns it off.
 */
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import type NodeModuleApi from 'node:module';
import { dirname, join, resolve, sep } from 'node:path';
import { Script } from 'node:vm';

/**
 * Node's CommonJS loader, `Module`. Taken from the main module (bin/imip, an instance of it) rather
 * than loaded as node:module, whose public face also loads parts of Node's ES module loader and
 * its source maps: about 0.3 ms of every start. The build's training has an ES module as its
 * main, and gets node:module. (Named imports above, not `import path from`, for the same reason:
 * a default import becomes a copy of the whole module, one getter per export, at every start.)
 */
const Module = (process.mainModule?.constructor ?? process.getBuiltinModule('node:module')) as typeof NodeModuleApi;

/**
 * The program's folder (dist/, given by bin/imip and the build: this module's own file may be a
 * shared chunk) and where the caches live: dist/code-cache/<path of the file in dist>.bin, and
 * dist/code-cache/node_modules/<package>/<path of the file in it>.bin for a package's file.
 */
let DIST = '';
let CACHE_DIR = '';
/**
 * The caches of the command this run names, when the build made them:
 * dist/code-cache/by-command/<command>/, laid out as dist/code-cache/ is. Empty otherwise.
 *
 * A file's cache holds every function the training compiled in it, and V8 takes all of it back
 * when the file loads, used or not. Trained on every command, the caches of the files all
 * commands share (cli.js with commander, the config reader, the checks) held commander's help,
 * the offline diagnosis and the invitation too: `check-config` read 413 KB of caches and took
 * back code it never ran (354 KB with its own). So the build also trains each command alone
 * (scripts/code-cache.mjs), and a run of that command takes its files' caches from there: 3-5%
 * less wall time for `check-config` on the bundled example (README, Decisions). A file the
 * command's training never loaded (another path of it) takes the shared cache, as before.
 */
let COMMAND_DIR = '';

/**
 * The files a trained command loads, in one file: dist/packs/<command>.js, written by the build
 * after that command's own training ({@link Pack}). Loading a file of ours costs about 0.1–0.4 ms
 * besides running it (its source and its cache read, its status, a script of its own), and
 * `check-config` loads 17; from one pack with one cache it starts in 0.94–0.97× the wall time.
 * Null when the run's command has none.
 */
let PACK: Pack | null = null;

/**
 * A pack's module: for each file, by its path in dist/, the function Node would have wrapped the
 * file in and the file's size and modification time when the pack was made. A file is taken
 * from the pack only while it still has that size and time (as a cache, {@link HEADER}); each
 * still loads once, into Node's module cache under its own path, so a file the pack lacks, or
 * one loaded before the pack, is the same module for everyone.
 */
interface Pack {
  stamps: Record<string, [size: number, mtimeMs: number]>;
  files: Record<string, (exports: unknown, require: NodeJS.Require, module: NodeModule, filename: string, dirname: string) => void>;
}

function setDist(dist: string): void {
  DIST = resolve(dist);
  CACHE_DIR = join(DIST, 'code-cache');
  COMMAND_DIR = '';
  PACK = null;
}

/** dist/packs/<command>.js (see {@link PACK}). */
function packFile(dist: string, command: string): string {
  return join(resolve(dist), 'packs', `${command}.js`);
}

/** Every file under `dir`, as paths relative to it with `/`. */
function filesUnder(dir: string, prefix = ''): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? filesUnder(join(dir, e.name), `${prefix}${e.name}/`) : [`${prefix}${e.name}`],
  );
}

/**
 * The build's side of a pack (scripts/code-cache.mjs): the files of dist/ that the command's own
 * training compiled, those with a cache in its folder, written into dist/packs/<command>.js with
 * their stamps. Not dist/cli.js, which bin/imip requires through Node before any pack applies.
 * Returns how many files went in.
 */
export function writePack(dist: string, command: string): number {
  setDist(dist);
  const rels = filesUnder(commandDir(command))
    .filter((f) => f.endsWith('.js.bin') && !f.startsWith('node_modules/') && !f.startsWith('packs/'))
    .map((f) => f.slice(0, -'.bin'.length))
    .filter((rel) => rel !== 'cli.js')
    .sort();
  const stamps: Pack['stamps'] = {};
  const parts: string[] = [];
  for (const rel of rels) {
    const file = join(DIST, rel);
    const st = statSync(file);
    stamps[rel] = [st.size, stamp(file, st)];
    parts.push(`${JSON.stringify(rel)}: function (exports, require, module, __filename, __dirname) {\n${readFileSync(file, 'utf8')}\n}`);
  }
  const out = packFile(DIST, command);
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `module.exports = {\nstamps: ${JSON.stringify(stamps)},\nfiles: {\n${parts.join(',\n')}\n}\n};\n`);
  return rels.length;
}

/** Load the pack of `command`, if the build made one: through the compile hook, with its cache. */
function loadPack(command: string): void {
  const file = packFile(DIST, command);
  try {
    statSync(file);
  } catch {
    return;
  }
  try {
    PACK = (Module.createRequire(file) as NodeJS.Require)(file) as Pack;
  } catch {
    PACK = null; // the files load one by one, as without a pack
  }
}

/** The pack's function for `filename` (a file of dist/), when the pack has it as the file is now. */
function packed(filename: string): Pack['files'][string] | undefined {
  if (!PACK) return undefined;
  const rel = filename.slice(DIST.length + 1);
  const fn = PACK.files[rel];
  const stamp = PACK.stamps[rel];
  if (!fn || !stamp) return undefined;
  try {
    return unchanged(filename, stamp[0], stamp[1]) ? fn : undefined;
  } catch {
    return undefined;
  }
}

/** Where the caches of `command` live (see {@link COMMAND_DIR}). */
function commandDir(command: string): string {
  return join(CACHE_DIR, 'by-command', command);
}

/**
 * The command whose caches a run takes: the command it names (`imip check-config …`), unless it
 * asks for help, which runs commander's help code and no command. Null for anything else.
 */
function cachedCommand(argv: readonly string[]): string | null {
  const name = argv[2];
  if (!name || !/^[a-z][a-z-]*$/.test(name)) return null;
  return argv.includes('--help') || argv.includes('-h') ? null : name;
}
/**
 * Header: the source file's size and a time (ms), two float64 values. The time must match within
 * a millisecond: a copy that keeps timestamps may keep no finer.
 *
 * For the program's files the time is the modification time, which every build changes. A
 * package's files keep whatever modification time their installer gave them (a tarball's own, or
 * a fixed one), so another version of a file with the same size could pass: for those the time is
 * the status change time, which changes whenever the file is written and which no tool sets back.
 */
const HEADER = 16;

/** The time a cache's header holds for `filename` (see {@link HEADER}). */
function stamp(filename: string, st: { mtimeMs: number; ctimeMs: number }): number {
  return ours(filename) ? st.mtimeMs : st.ctimeMs;
}

/** Whether `filename` still has the size and time recorded for it (times within a millisecond). */
function unchanged(filename: string, size: number, time: number): boolean {
  const st = statSync(filename);
  return st.size === size && Math.abs(stamp(filename, st) - time) < 1;
}

/**
 * False once V8 refused a cache. It compares the flags a cache was made under with its own, so
 * after `poll` set its V8 flags (src/poll/v8-flags.ts) it would refuse every one: the files loaded
 * from then on (and after any other refusal: another Node, a damaged file) compile from source,
 * without reading their caches.
 */
let active = true;

type Compile = (this: NodeModule, content: string, filename: string, format?: string) => unknown;
interface ModuleInternals {
  new (id: string, parent?: NodeModule): NodeModule & { _compile: Compile; paths: string[] };
  prototype: { _compile: Compile };
  wrap(content: string): string;
  _cache: Record<string, NodeModule | undefined>;
  _extensions: Record<string, unknown>;
  _nodeModulePaths(dir: string): string[];
  _resolveFilename(request: string, parent: NodeModule, isMain: boolean, options?: { paths?: string[] }): string;
  _resolveLookupPaths(request: string, parent: NodeModule): string[] | null;
}

/**
 * The packages whose CommonJS files get caches too: those the network commands load before their
 * first byte goes out. nodemailer loads only to send (`send-test`), after its checks; ical.js is
 * an ES module, which Node compiles without this hook.
 */
const PACKAGES = ['imapflow'];
const NODE_MODULES = `${sep}node_modules${sep}`;

/**
 * Where `filename` sits in one of {@link PACKAGES} (`imapflow/dist/cjs/imap-flow.js`), from its
 * innermost node_modules folder; null for any other file.
 */
function packagePath(filename: string): string | null {
  const at = filename.lastIndexOf(NODE_MODULES);
  if (at < 0 || !filename.endsWith('.js')) return null;
  const rel = filename.slice(at + NODE_MODULES.length);
  return PACKAGES.some((p) => rel.startsWith(p + sep)) ? rel : null;
}

/** The cache of a file that has one ({@link cached}), in the folder of caches `dir`. */
function cacheFile(filename: string, dir: string): string {
  if (filename.startsWith(DIST + sep)) return `${dir}${filename.slice(DIST.length)}.bin`;
  return `${dir}${NODE_MODULES}${packagePath(filename)}.bin`;
}

/** Whether `filename` is one of the program's own compiled files (not a cache, not a package). */
function ours(filename: string): boolean {
  return filename.startsWith(DIST + sep) && !filename.startsWith(CACHE_DIR + sep) && filename.endsWith('.js');
}

/** Whether `filename` is compiled with a cache: the program's own files and those of {@link PACKAGES}. */
function cached(filename: string): boolean {
  return ours(filename) || packagePath(filename) !== null;
}

/**
 * The cached data for `filename` when it was made from the file as it is now, else undefined:
 * the command's own ({@link COMMAND_DIR}) when it has one, else the shared one.
 */
function validCache(filename: string): Buffer | undefined {
  return (COMMAND_DIR ? cacheIn(COMMAND_DIR, filename) : undefined) ?? cacheIn(CACHE_DIR, filename);
}

function cacheIn(dir: string, filename: string): Buffer | undefined {
  try {
    const data = readFileSync(cacheFile(filename, dir));
    if (data.length <= HEADER || !unchanged(filename, data.readDoubleLE(0), data.readDoubleLE(8))) return undefined;
    return data.subarray(HEADER);
  } catch {
    return undefined;
  }
}

/**
 * Install the compile hook. `onScript` sees each script compiled (the build keeps them to write
 * their caches); `cachedData` supplies a file's cache (none when recording).
 */
function hook(cachedData: (filename: string) => Buffer | undefined, onScript?: (filename: string, script: Script) => void): void {
  const M = Module as unknown as ModuleInternals;
  const original = M.prototype._compile;
  if (typeof original !== 'function' || typeof M.wrap !== 'function') return;
  M.prototype._compile = function (this: NodeModule, content: string, filename: string, format?: string): unknown {
    if (!active || !cached(filename) || (format !== undefined && format !== 'commonjs')) return original.call(this, content, filename, format);
    // Without a cache to take (and none to record), Node compiles the file as it always does.
    const data = cachedData(filename);
    if (!data && !onScript) return original.call(this, content, filename, format);
    // A file with an `import()` (of the PostgreSQL driver, for the 5.0+ token store) is left to
    // Node: a script compiled here has no loader for it. So it is never recorded, and a file with
    // a cache is the file that was recorded.
    if (onScript && content.includes('import(')) return original.call(this, content, filename, format);
    // The function Node itself wraps a CommonJS file in, compiled as a script so that V8 can take
    // and give its code.
    const script = new Script(M.wrap(content), { filename, cachedData: data });
    if (data && script.cachedDataRejected) active = false;
    onScript?.(filename, script);
    const fn = script.runInThisContext({ displayErrors: true }) as (...args: unknown[]) => unknown;
    const dir = dirname(filename);
    const require = ours(filename) ? ownRequire(this, filename, dir) : moduleRequire(this);
    return fn.call(this.exports, this.exports, require, this, filename, dir);
  };
}

/**
 * The `require` Node gives a package's file (its `makeRequireFunction`): every request goes
 * through `Module._load` with the file's module as the parent, as if Node had compiled it.
 */
function moduleRequire(mod: NodeModule): NodeJS.Require {
  const M = Module as unknown as ModuleInternals;
  const require = function (request: string): unknown {
    return mod.require(request);
  } as NodeJS.Require;
  require.resolve = ((request: string, options?: { paths?: string[] }) => M._resolveFilename(request, mod, false, options)) as NodeJS.RequireResolve;
  require.resolve.paths = (request: string) => M._resolveLookupPaths(request, mod);
  require.main = process.mainModule;
  require.extensions = M._extensions as NodeJS.Require['extensions'];
  require.cache = M._cache as NodeJS.Require['cache'];
  return require;
}

/**
 * The `require` of one of the program's files. Its requests for the program's other files
 * (`./chunks/chunk-….js`, `../commands/poll.js`: relative, written by the build) are the path
 * itself: the file is loaded as Node would load it, without Node's search for it (the file's
 * status, its real path, the package.json files above it), which costs more than compiling a
 * small file from its cache. Anything else (node:fs, a package, a path that is not a file of
 * dist/) goes to Node's own `require`.
 */
function ownRequire(parent: NodeModule, filename: string, dir: string): NodeJS.Require {
  const M = Module as unknown as ModuleInternals;
  let node: NodeJS.Require | undefined;
  const nodeRequire = (): NodeJS.Require => (node ??= Module.createRequire(filename));
  const require = function (request: string): unknown {
    if ((request.startsWith('./') || request.startsWith('../')) && request.endsWith('.js')) {
      const target = joinOwn(dir, request);
      const cached = M._cache[target];
      if (cached) return cached.exports;
      if (ours(target)) {
        // From the command's pack, or else the file itself, read as Node would.
        const fromPack = packed(target);
        if (fromPack) {
          const targetDir = dirname(target);
          return loadOwn(parent, target, (module) => fromPack.call(module.exports, module.exports, ownRequire(module, target, targetDir), module, target, targetDir));
        }
        let source: string;
        try {
          source = readFileSync(target, 'utf8');
        } catch {
          return nodeRequire()(request); // Node's own error for a missing file
        }
        return loadOwn(parent, target, (module) => module._compile(source, target));
      }
    }
    return nodeRequire()(request);
  } as NodeJS.Require;
  require.resolve = ((request: string, options?: { paths?: string[] }) => nodeRequire().resolve(request, options)) as NodeJS.RequireResolve;
  require.cache = M._cache as NodeJS.Require['cache'];
  return require;
}

/**
 * One of our files as Node loads a module: a Module in Node's cache under its own path while
 * `run` fills its exports (taken out again when that throws), then marked loaded.
 */
function loadOwn(parent: NodeModule, target: string, run: (module: NodeModule & { _compile: Compile }) => void): unknown {
  const M = Module as unknown as ModuleInternals;
  const module = new M(target, parent);
  module.filename = target;
  module.paths = modulePaths(target);
  M._cache[target] = module;
  try {
    run(module);
  } catch (err) {
    delete M._cache[target];
    throw err;
  }
  module.loaded = true;
  return module.exports;
}

/**
 * `path.join(dir, request)` for the requests the build writes (`./x.js`, `./chunks/x.js`,
 * `../chunks/x.js`: leading `./` or `../` only), with string operations. `path.join` normalises
 * the whole path, and a hundred calls in one run made V8 optimise Node's path code on a second
 * thread (13 million instructions in a `diagnose --offline` of 275 million). Anything else, and
 * any other separator than `/`, goes to `path.join`.
 */
function joinOwn(dir: string, request: string): string {
  if (sep !== '/') return join(dir, request);
  let base = dir;
  let rest = request;
  if (rest.startsWith('./')) rest = rest.slice(2);
  else {
    while (rest.startsWith('../')) {
      const cut = base.lastIndexOf('/');
      if (cut <= 0) return join(dir, request);
      base = base.slice(0, cut);
      rest = rest.slice(3);
    }
  }
  if (rest.startsWith('.') || rest.includes('/.') || rest.includes('//')) return join(dir, request);
  return `${base}/${rest}`;
}

/** Node's `node_modules` search list for a module in the folder of `filename`, made once per folder. */
const searchLists = new Map<string, string[]>();
function modulePaths(filename: string): string[] {
  const dir = dirname(filename);
  let list = searchLists.get(dir);
  if (!list) {
    list = (Module as unknown as ModuleInternals)._nodeModulePaths(dir);
    searchLists.set(dir, list);
  }
  return list;
}

/**
 * Compile the program's files in `dist` with the caches the build made (bin/imip calls this
 * first, with the run's arguments: the command they name picks its own caches, {@link COMMAND_DIR}).
 */
export function useCodeCache(dist: string, argv: readonly string[] = []): void {
  if (process.env.IMIP_CODE_CACHE === 'off') return;
  setDist(dist);
  try {
    statSync(CACHE_DIR);
  } catch {
    return; // built without caches
  }
  const command = cachedCommand(argv);
  if (command) {
    try {
      if (statSync(commandDir(command)).isDirectory()) COMMAND_DIR = commandDir(command);
    } catch {
      // No training of its own (poll, help): the shared caches.
    }
  }
  hook(validCache);
  if (COMMAND_DIR && command) loadPack(command);
}

/**
 * The build's side: compile every file loaded from now on without a cache and, when the process
 * exits, write each one's cache (with whatever was compiled while it ran). Returns how many files
 * were recorded so far, for the build's message.
 */
export function recordCodeCache(dist: string, command?: string): () => number {
  setDist(dist);
  // The training of one command writes that command's caches (scripts/code-cache.mjs).
  const into = command ? commandDir(command) : CACHE_DIR;
  const scripts = new Map<string, Script>();
  hook(
    () => undefined,
    (filename, script) => scripts.set(filename, script),
  );
  // The pack's own cache, with what the training compiles in it (scripts/code-cache.mjs makes the
  // pack from a first training, then trains again).
  if (command) loadPack(command);
  process.on('exit', () => {
    for (const [filename, script] of scripts) {
      const st = statSync(filename);
      const header = Buffer.alloc(HEADER);
      header.writeDoubleLE(st.size, 0);
      header.writeDoubleLE(stamp(filename, st), 8);
      const target = cacheFile(filename, into);
      mkdirSync(dirname(target), { recursive: true });
      writeFileSync(target, Buffer.concat([header, script.createCachedData()]));
    }
  });
  return () => scripts.size;
}
