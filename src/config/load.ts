/**
 * Loading caldavd.plist the way the chosen release does (its `twistedcaldav/stdconfig.py`
 * `PListConfigProvider.loadConfig`):
 * `Includes` (3.0+) and `ImportConfig` (6.0+), shallow or deep merging, missing and cyclic
 * includes, relative paths against ServerRoot/ConfigRoot, then the release's defaults.
 * Every effective value remembers the file (and line) it came from.
 */
import { readdirSync, statSync } from 'node:fs';
import { basename, dirname, isAbsolute, resolve } from 'node:path';
import { LISTED_PER_ID, type Finding } from '../report/finding.js';
import { getfqdn, hostAddress } from './host.js';
import { behaviourOf, featuresOf, type ServerVersion } from '../server/release.js';
import { defaultsFor } from '../server/keys.js';
import { isDict, keysOf, PlistReadError, readPlistFile, readProblem, type PlistFile } from './plist-file.js';
import { resolvePath, setKey, type PlistDict, type PlistValue } from './plist-xml.js';

export interface Origin {
  /** A file path, or `default`. */
  file: string;
  line?: number;
}

export interface ConfigFileInfo {
  path: string;
  role: 'main' | 'include' | 'import';
  status: 'read' | 'missing' | 'unreadable' | 'ignored';
  format?: 'xml' | 'binary';
  /** Listed by this file (for includes). */
  listedBy?: string;
  problem?: string;
}

export interface LoadedConfig {
  mainPath: string;
  files: ConfigFileInfo[];
  /** Every file that was read, parsed. */
  parsed: PlistFile[];
  /** What the files say, merged as the release merges them, before defaults. */
  merged: PlistDict;
  /** Defaults ← merged. */
  effective: PlistDict;
  /** Dotted path → where the effective value came from (use {@link originOf}). */
  origins: OriginIndex;
  /** Problems found while loading: include.missing, include.cycle, ... */
  findings: Finding[];
}

/** Where each effective value came from, answered per path when a finding asks. */
export interface OriginIndex {
  get(path: string): Origin | undefined;
  /** An origin that overrides the files' (`--set`). */
  set(path: string, origin: Origin): void;
  /**
   * The value at `path` (not a dict, or absent) is about to be replaced by a dict made to hold an
   * override: it keeps the origin it has now, and what is below it has none of its own.
   */
  replacedByDict(path: string): void;
}

/**
 * Dicts the loader made itself: the merged tree's, and copies. Only these are changed in place.
 * Every other dict belongs to a parsed file and is shared by reference (a file's subtree is not
 * copied key by key), so a merge that must change one copies it first, one level at a time.
 */
const owned = new WeakSet<PlistDict>();

function ownDict(): PlistDict {
  const d: PlistDict = {};
  owned.add(d);
  return d;
}

/** A dict that may be changed in place: `d` itself if the loader made it, else a shallow copy. */
export function writableDict(d: PlistDict): PlistDict {
  if (owned.has(d)) return d;
  const out = ownDict();
  for (const k of Object.keys(d)) setKey(out, k, d[k]!);
  return out;
}

/**
 * Which file set a key of the merged tree: recorded where a value was placed whole (the key of an
 * owned dict); everything below it came from the same file, unless a later file merged into it,
 * which records its own keys deeper down. A replaced dict takes its records with it. A dict that
 * was empty when a file was merged into it records that file once for all its keys (the first
 * file merged into the empty root sets every top-level key: 100,000s of them in a large file).
 */
class SetPoints {
  private readonly byKey = new WeakMap<PlistDict, Map<string, PlistFile>>();
  private readonly whole = new WeakMap<PlistDict, PlistFile>();

  record(target: PlistDict, key: string, pf: PlistFile): void {
    let m = this.byKey.get(target);
    if (!m) {
      m = new Map();
      this.byKey.set(target, m);
    }
    m.set(key, pf);
  }

  recordWhole(target: PlistDict, pf: PlistFile): void {
    this.whole.set(target, pf);
  }

  /** The file that set `target[key]`, if recorded at this level. */
  get(target: PlistDict, key: string): PlistFile | undefined {
    return this.byKey.get(target)?.get(key) ?? this.whole.get(target);
  }
}

function setValue(target: PlistDict, key: string, value: PlistValue, points: SetPoints | null, pf: PlistFile | null): void {
  setKey(target, key, value);
  if (points && pf) points.record(target, key, pf);
}

function isEmpty(d: PlistDict): boolean {
  for (const k in d) if (hasOwn(d, k)) return false;
  return true;
}

const hasOwn = (o: object, k: string): boolean => Object.prototype.hasOwnProperty.call(o, k);

/**
 * `mergeData`: dicts merge recursively; lists and scalars replace wholesale. `target` must be
 * owned (see {@link writableDict}); a dict of the target that a merge goes into is made writable first.
 */
export function deepMerge(target: PlistDict, source: PlistDict, points: SetPoints | null = null, pf: PlistFile | null = null): void {
  // Into an empty dict every key is set whole from this file: recorded once for the dict.
  if (points && pf && isEmpty(target)) {
    points.recordWhole(target, pf);
    points = null;
  }
  // A file's dict never changes: its keys are listed once however often it is merged.
  for (const k of owned.has(source) ? Object.keys(source) : keysOf(source)) {
    const v = source[k]!;
    const existing = hasOwn(target, k) ? target[k] : undefined;
    if (isDict(v) && isDict(existing)) {
      const into = writableDict(existing);
      if (into !== existing) setKey(target, k, into);
      deepMerge(into, v, points, pf);
    } else {
      setValue(target, k, v, points, pf);
    }
  }
}

export interface LoadOptions {
  /** Where relative paths of 5.0 (and `./` paths of 9.x) resolve: the server's working directory. */
  cwd?: string;
}

interface Ctx {
  version: ServerVersion;
  files: ConfigFileInfo[];
  parsed: PlistFile[];
  findings: Finding[];
  cwd: string;
  fqdn?: string;
  address?: string;
  /** Every file read in this load, by path (or why it could not be). */
  read: Map<string, PlistFile | PlistReadError>;
  /** Files looked for so far; past a few, the names of each directory (null: cannot be listed). */
  lookups: number;
  dirs: Map<string, Set<string> | null>;
  /** include.missing findings so far. */
  unreachable: number;
}

function includeFinding(
  id: string,
  severity: Finding['severity'],
  path: string,
  message: string,
  fix: string,
  evidence: Record<string, unknown>,
): Finding {
  return { id, severity, path, message, fix, evidence };
}

function stringList(v: PlistValue | undefined): string[] {
  if (typeof v === 'string') return [v];
  if (Array.isArray(v)) return v.filter((x): x is string => typeof x === 'string');
  return [];
}

/**
 * The files an `Includes` value makes the server read. Only an <array> of paths: the server runs
 * `for include in configDict.Includes`, and over a single <string> that loop takes one character
 * at a time, never the string as a path, so the file it names is never read. What the characters
 * do instead (the server fails to start, or skips them) is the `key.type` finding's to say
 * (checks/structure.ts `includesStringOutcome`).
 */
function includeList(v: PlistValue | undefined): string[] {
  return typeof v === 'string' ? [] : stringList(v);
}

/**
 * An include's own `Includes` holds something (a path list, a <string>, a <dict>, ...): releases
 * before 6.0 never go through it, whatever its shape (include.nested-ignored).
 */
function listsIncludes(v: PlistValue | undefined): boolean {
  if (v === undefined) return false;
  if (typeof v === 'string' || Array.isArray(v)) return v.length > 0;
  if (isDict(v)) return Object.keys(v).length > 0;
  return true;
}

/**
 * Resolve an include (or ImportConfig) path as the release does. `listing` is the dict of the file
 * that names it (6.0+: after its own ImportConfig merge), whose own ServerRoot/ConfigRoot count.
 * - 3.0+: a path starting with "/" or "." is taken as written, "." relative to the server's working
 *   directory (CalendarServer-3.2..9.2 twistedcaldav/config.py `fullServerPath`);
 * - 5.0–5.1: every include as written (twistedcaldav/stdconfig.py `loadConfig`, `_expandPath(include)`);
 * - else against ServerRoot/ConfigRoot of the listing file, which must define both
 *   (`os.path.join(configDict.ServerRoot, configDict.ConfigRoot)`: AttributeError when absent).
 * Returns `missingRoots` when the listing file lacks ServerRoot or ConfigRoot and the release needs them.
 */
function resolveIncludePath(raw: string, listing: PlistDict, ctx: Ctx): { path: string; note?: string; missingRoots?: string[] } {
  const f = featuresOf(ctx.version);
  let p = raw;
  if (f.includePathExpansion) {
    // Looked up only for a path that needs them, once per load (a file can list 100,000s of includes).
    // stdconfig.py `_expandPath`: `$` if there is one, else `#`; never both (CalendarServer-3.1..9.2).
    if (p.includes('$')) p = p.replace(/\$/g, (ctx.fqdn ??= getfqdn()));
    else if (p.includes('#')) p = p.replace(/#/g, (ctx.address ??= hostAddress()));
  }
  if (!f.includesRelativeToConfigRoot) {
    return { path: resolve(ctx.cwd, p), note: '5.0 and 5.1 take include paths as written: relative to the server process working directory' };
  }
  const missing = f.includeNeedsOwnRoots ? ['ServerRoot', 'ConfigRoot'].filter((k) => typeof listing[k] !== 'string') : [];
  if (p.startsWith('/')) return missing.length ? { path: p, missingRoots: missing } : { path: p };
  if (p.startsWith('.')) {
    return { path: resolve(ctx.cwd, p), note: 'a path starting with "." is relative to the server process working directory', ...(missing.length ? { missingRoots: missing } : {}) };
  }
  const defaults = defaultsFor(ctx.version);
  const serverRoot = typeof listing.ServerRoot === 'string' ? listing.ServerRoot : (defaults.ServerRoot as string);
  const configRoot = typeof listing.ConfigRoot === 'string' ? listing.ConfigRoot : (defaults.ConfigRoot as string);
  const root = isAbsolute(configRoot) ? configRoot : resolve(serverRoot, configRoot);
  return { path: resolve(root, p), note: `relative to ConfigRoot ${root}`, ...(missing.length ? { missingRoots: missing } : {}) };
}

/** The listing file lacks ServerRoot/ConfigRoot: the server stops while loading (once per file). */
function reportMissingRoots(listedBy: string, key: string, missing: string[], ctx: Ctx): void {
  if (ctx.findings.some((f) => f.id === 'include.no-server-root' && f.evidence.file === listedBy)) return;
  ctx.findings.push(
    includeFinding(
      'include.no-server-root',
      'error',
      key,
      `${listedBy} lists ${key} but does not define ${missing.join(' and ')} itself: ${ctx.version.text} computes include paths from that file's own ServerRoot and ConfigRoot and stops loading with an AttributeError, so the server does not start`,
      `Add <key>ServerRoot</key> and <key>ConfigRoot</key> to ${listedBy}, next to its ${key}.`,
      { file: listedBy, missing, releaseLine: ctx.version.line },
    ),
  );
}

const BINARY_PROBLEM = 'a binary plist, which the server cannot read (it reads XML plists only)';

/**
 * A binary plist: every release reads its config with Python 2 `plistlib.readPlist`, XML only
 * (CalendarServer-2.5..9.2 twistedcaldav/stdconfig.py `PListConfigProvider._parseConfigFromFile`,
 * `NoUnicodePlistParser.parse`), so the server does not start. Its contents are not judged.
 */
function reportBinary(path: string, role: ConfigFileInfo['role'], ctx: Ctx): void {
  ctx.findings.push(
    includeFinding(
      'config.binary-plist',
      'error',
      role === 'main' ? '' : role === 'import' ? 'ImportConfig' : 'Includes',
      `${path} is a binary plist: the server reads XML plists only, so it fails to load its configuration and does not start; its settings are not judged here`,
      `Convert it back to XML: plutil -convert xml1 ${path} (on Linux: python3 -c "import plistlib,sys; p=sys.argv[1]; d=plistlib.load(open(p,'rb')); plistlib.dump(d, open(p,'wb'))" ${path}).`,
      { file: path, role },
    ),
  );
}

/** `<key>` with no value: plistlib drops it and the server starts without that setting. */
function reportKeysWithoutValue(pf: PlistFile, ctx: Ctx): void {
  for (const k of pf.keysWithoutValue) {
    ctx.findings.push(
      includeFinding(
        'plist.key-without-value',
        'warning',
        k.path,
        `${pf.path}:${k.line}: <key> ${k.path} has no value after it; the server drops the key and uses its default`,
        'Add the value after the <key>, or remove the key.',
        { file: pf.path, line: k.line },
      ),
    );
  }
}

function tryRead(path: string, role: ConfigFileInfo['role'], listedBy: string, ctx: Ctx): PlistFile | 'missing' | 'unreadable' | 'binary' {
  // A missing file is told without an exception (a file can list 100,000s of missing includes).
  if (noSuchFile(path, ctx)) {
    ctx.files.push({ path, role, status: 'missing', listedBy, problem: readProblem(path, 'no such file') });
    return 'missing';
  }
  // A file listed again (the same include 100 times) is read and parsed once per load.
  let got = ctx.read.get(path);
  if (!got) {
    try {
      got = readPlistFile(path);
    } catch (e) {
      // imip's own limit: the server reads this include, so the merged config cannot be judged.
      if (!(e instanceof PlistReadError) || e.ownLimit) throw e;
      got = e;
    }
    ctx.read.set(path, got);
  }
  try {
    if (got instanceof PlistReadError) throw got;
    const pf = got;
    if (pf.format === 'binary') {
      ctx.files.push({ path, role, status: 'unreadable', format: 'binary', listedBy, problem: BINARY_PROBLEM });
      reportBinary(path, role, ctx);
      return 'binary';
    }
    ctx.files.push({ path, role, status: 'read', format: pf.format, listedBy });
    ctx.parsed.push(pf);
    reportKeysWithoutValue(pf, ctx);
    return pf;
  } catch (e) {
    if (!(e instanceof PlistReadError)) throw e;
    const missing = e.problem === 'no such file';
    ctx.files.push({ path, role, status: missing ? 'missing' : 'unreadable', listedBy, problem: e.message });
    return missing ? 'missing' : 'unreadable';
  }
}

const foldName = (name: string): string => name.normalize('NFC').toLowerCase();

/**
 * Nothing at `path` (other problems, such as a parent that cannot be searched, are left to the
 * read). With many includes the names in each directory are listed once, not one stat per include.
 */
function noSuchFile(path: string, ctx: Ctx): boolean {
  if (ctx.lookups++ >= 64) {
    const dir = dirname(path);
    let names = ctx.dirs.get(dir);
    if (names === undefined) {
      try {
        // Compared without case and Unicode form: a macOS file system may match names so.
        names = new Set(readdirSync(dir).map(foldName));
      } catch {
        names = null;
      }
      ctx.dirs.set(dir, names);
    }
    if (names && !names.has(foldName(basename(path)))) return true;
  }
  try {
    return statSync(path, { throwIfNoEntry: false }) === undefined;
  } catch {
    return false;
  }
}

function reportUnreachable(
  kind: 'missing' | 'unreadable' | 'binary',
  role: 'include' | 'import',
  path: string,
  listedBy: string,
  ctx: Ctx,
  note?: string,
): void {
  if (kind === 'binary') return;
  const line = behaviourOf(ctx.version);
  const key = role === 'import' ? 'ImportConfig' : 'Includes';
  const fatal = role === 'import' || line.missingInclude === 'error' || kind === 'unreadable';
  const problem = ctx.files[ctx.files.length - 1]?.problem ?? '';
  // Past the ones listed, only counted (checks/index.ts): no message or evidence kept for them.
  if (++ctx.unreachable > LISTED_PER_ID) {
    ctx.findings.push(includeFinding('include.missing', fatal ? 'error' : 'warning', key, '', kind === 'missing' ? `Create ${path}, or remove it from ${key} in ${listedBy}.` : `Fix or remove ${path}.`, {}));
    return;
  }
  ctx.findings.push(
    includeFinding(
      'include.missing',
      fatal ? 'error' : 'warning',
      key,
      kind === 'missing'
        ? `${key} names ${path}, which does not exist: ${
            fatal ? 'the server refuses to start ("Configuration file does not exist or is inaccessible")' : 'this release skips it and runs without its settings'
          }`
        : `${key} names ${path}, which cannot be read: ${problem}`,
      kind === 'missing' ? `Create ${path}, or remove it from ${key} in ${listedBy}.` : `Fix or remove ${path}.`,
      { include: path, listedBy, resolution: note ?? 'absolute path', releaseLine: line.line },
    ),
  );
}

/** 5.0+: ImportConfig first (6.0+), the file on top, then its Includes (recursively from 6.0). */
function loadDeep(pf: PlistFile, chain: string[], ctx: Ctx, result: PlistDict, points: SetPoints, depth: number): void {
  const f = featuresOf(ctx.version);
  const imp = pf.value.ImportConfig;
  if (f.importConfig && typeof imp === 'string' && imp !== '') {
    const { path, note, missingRoots } = resolveIncludePath(imp, pf.value, ctx);
    if (missingRoots && !imp.startsWith('.')) reportMissingRoots(pf.path, 'ImportConfig', missingRoots, ctx);
    if (chain.includes(path)) {
      reportCycle(path, pf.path, chain, ctx, 'ImportConfig');
    } else {
      const base = tryRead(path, 'import', pf.path, ctx);
      if (typeof base === 'string') reportUnreachable(base, 'import', path, pf.path, ctx, note);
      else loadDeep(base, [...chain, path], ctx, result, points, depth + 1);
    }
  }
  deepMerge(result, pf.value, points, pf);
  if (depth > 0 && !f.recursiveIncludes) {
    if (listsIncludes(pf.value.Includes)) {
      ctx.findings.push(
        includeFinding(
          'include.nested-ignored',
          'warning',
          'Includes',
          `${pf.path} lists Includes of its own; releases before 6.0 do not follow includes inside includes`,
          'Move those entries to the Includes of the main file.',
          { file: pf.path, includes: stringList(pf.value.Includes) },
        ),
      );
    }
    return;
  }
  // 6.0+ `_loadIncludes(parentDict)`: the main file after its ImportConfig merge, or the included file itself.
  const listing = depth === 0 ? result : pf.value;
  for (const raw of includeList(pf.value.Includes)) {
    const { path, note, missingRoots } = resolveIncludePath(raw, listing, ctx);
    if (missingRoots) reportMissingRoots(pf.path, 'Includes', missingRoots, ctx);
    if (chain.includes(path)) {
      reportCycle(path, pf.path, chain, ctx, 'Includes');
      continue;
    }
    const inc = tryRead(path, 'include', pf.path, ctx);
    if (typeof inc === 'string') {
      reportUnreachable(inc, 'include', path, pf.path, ctx, note);
      continue;
    }
    loadDeep(inc, [...chain, path], ctx, result, points, depth + 1);
  }
}

function reportCycle(path: string, listedBy: string, chain: string[], ctx: Ctx, key: string): void {
  ctx.files.push({ path, role: key === 'ImportConfig' ? 'import' : 'include', status: 'ignored', listedBy, problem: 'include cycle' });
  ctx.findings.push(
    includeFinding(
      'include.cycle',
      'error',
      key,
      `${listedBy} includes ${path}, which is already being loaded: the files include each other`,
      `Remove ${path} from ${key} in ${listedBy}.`,
      { cycle: [...chain.slice(chain.indexOf(path)), path] },
    ),
  );
}

/** 3.x-4.x: each include replaces whole top-level keys of the main file (`dict.update`). */
function loadShallow(main: PlistFile, ctx: Ctx, result: PlistDict, points: SetPoints): void {
  deepMerge(result, main.value, points, main);
  for (const raw of includeList(main.value.Includes)) {
    const { path, note, missingRoots } = resolveIncludePath(raw, main.value, ctx);
    if (missingRoots) reportMissingRoots(main.path, 'Includes', missingRoots, ctx);
    if (path === resolve(ctx.cwd, main.path)) {
      reportCycle(path, main.path, [path], ctx, 'Includes');
      continue;
    }
    const inc = tryRead(path, 'include', main.path, ctx);
    if (typeof inc === 'string') {
      reportUnreachable(inc, 'include', path, main.path, ctx, note);
      continue;
    }
    for (const k of Object.keys(inc.value)) {
      const v = inc.value[k]!;
      const before = result[k];
      if (k === 'Scheduling' && isDict(before) && isDict(v)) {
        const lost = Object.keys(before).filter((x) => !Object.prototype.hasOwnProperty.call(v, x));
        const lostImip = isDict(before.iMIP) && !isDict(v.iMIP);
        if (lost.length || lostImip || (isDict(before.iMIP) && isDict(v.iMIP))) {
          ctx.findings.push(
            includeFinding(
              'include.shallow-replace',
              'warning',
              'Scheduling',
              `${path} defines Scheduling, which on 3.x-4.x replaces the whole Scheduling dict of ${main.path}: its keys there are ignored`,
              `Keep the whole Scheduling dict (with iMIP) in one file, either ${main.path} or ${path}.`,
              { include: path, replacedFrom: main.path, keysIgnored: Object.keys(before) },
            ),
          );
        }
      }
      if (inc.value.Includes !== undefined && k === 'Includes') continue;
      setValue(result, k, v, points, inc);
    }
    if (listsIncludes(inc.value.Includes)) {
      ctx.findings.push(
        includeFinding(
          'include.nested-ignored',
          'warning',
          'Includes',
          `${inc.path} lists Includes of its own; 3.x-4.x do not follow includes inside includes`,
          'Move those entries to the Includes of the main file.',
          { file: inc.path, includes: stringList(inc.value.Includes) },
        ),
      );
    }
  }
}

/**
 * Load the main file and everything it pulls in, for the given release.
 * Throws PlistReadError (exit 2) when the main file itself cannot be used.
 */
export function loadConfig(mainPath: string, version: ServerVersion, opts: LoadOptions = {}, main?: PlistFile): LoadedConfig {
  const ctx: Ctx = { version, files: [], parsed: [], findings: [], cwd: opts.cwd ?? process.cwd(), read: new Map(), lookups: 0, dirs: new Map(), unreachable: 0 };
  const mainFile = main ?? readPlistFile(mainPath);
  ctx.files.push({ path: mainFile.path, role: 'main', status: mainFile.format === 'binary' ? 'unreadable' : 'read', format: mainFile.format });
  ctx.parsed.push(mainFile);
  if (mainFile.format === 'binary') reportBinary(mainFile.path, 'main', ctx);
  else reportKeysWithoutValue(mainFile, ctx);
  const merged = ownDict();
  const points = new SetPoints();
  const line = behaviourOf(version);
  if (line.includeMerge === 'unsupported') {
    deepMerge(merged, mainFile.value, points, mainFile);
    const listed = [...stringList(mainFile.value.Includes), ...stringList(mainFile.value.ImportConfig)];
    if (listed.length) {
      ctx.findings.push(
        includeFinding(
          'include.unsupported',
          'warning',
          'Includes',
          '2.x has no Includes or ImportConfig: it logs "Ignoring unknown configuration option" and reads only the main file',
          'Copy the iMIP settings into the main file.',
          { ignored: listed },
        ),
      );
    }
  } else if (line.includeMerge === 'shallow') {
    loadShallow(mainFile, ctx, merged, points);
  } else {
    // The chain holds absolute paths, as the includes are resolved: a main file given by a
    // relative path that lists itself is a cycle, not a second file.
    loadDeep(mainFile, [resolve(ctx.cwd, mainFile.path)], ctx, merged, points, 0);
  }

  // Defaults, then what the files say. The defaults tree is fresh (owned); the files' subtrees
  // are shared, not copied.
  const effective = writableTree(defaultsFor(version) as PlistDict);
  deepMerge(effective, merged);
  const origins = new EffectiveOrigins(effective, merged, defaultsFor(version) as PlistDict, points, mainFile.path);
  return { mainPath: mainFile.path, files: ctx.files, parsed: ctx.parsed, merged, effective, origins, findings: ctx.findings };
}

/** Mark a tree the loader built itself (the defaults) as owned, dict by dict. */
function writableTree(d: PlistDict): PlistDict {
  owned.add(d);
  for (const k of Object.keys(d)) {
    const v = d[k];
    if (isDict(v)) writableTree(v);
  }
  return d;
}

/**
 * The origin of every effective value, worked out when asked rather than recorded per key (a file
 * can hold 100,000s of keys, and only findings ask). The rules are those of the merges above:
 * - a dict that is a dict both in the defaults and in the files keeps the defaults' origin;
 * - anything else the files wrote comes from the file that set it last (its set point), at the
 *   line of its `<key>` in that file;
 * - the rest is a default; `--set` overrides are recorded as given.
 */
class EffectiveOrigins implements OriginIndex {
  private readonly explicit = new Map<string, Origin>();

  constructor(
    private readonly effective: PlistDict,
    private readonly merged: PlistDict,
    /** Untouched defaults of the release. */
    private readonly defaults: PlistDict,
    private readonly points: SetPoints,
    private readonly mainPath: string,
  ) {}

  /** Dicts made for overrides, with the origin of what they replaced. */
  private readonly made = new Map<string, Origin | undefined>();

  set(path: string, origin: Origin): void {
    this.explicit.set(path, origin);
  }

  replacedByDict(path: string): void {
    if (!this.made.has(path)) this.made.set(path, this.get(path));
  }

  get(path: string): Origin | undefined {
    const given = this.explicit.get(path);
    if (given) return given;
    if (this.made.size) {
      if (this.made.has(path)) return this.made.get(path);
      for (const m of this.made.keys()) if (path.startsWith(`${m}.`)) return undefined;
    }
    const steps = resolvePath(this.effective, path);
    // Origins are kept for values reached through dicts only (not inside arrays).
    if (!steps || steps.some((s) => typeof s.key !== 'string')) return undefined;
    const keys = steps.map((s) => s.key as string);
    let m: PlistValue | undefined = this.merged;
    let d: PlistValue | undefined = this.defaults;
    for (const key of keys) {
      m = isDict(m) && hasOwn(m, key) ? m[key] : undefined;
      d = isDict(d) && hasOwn(d, key) ? d[key] : undefined;
      if (isDict(m) && isDict(d)) continue;
      return m === undefined ? { file: 'default' } : this.fromFiles(keys, path);
    }
    return { file: 'default' };
  }

  /** The file that set the value last: the deepest set point on the way down the merged tree. */
  private fromFiles(keys: string[], path: string): Origin {
    let setBy: PlistFile | null = null;
    let x: PlistValue | undefined = this.merged;
    for (const k of keys) {
      if (!isDict(x) || !hasOwn(x, k)) break;
      setBy = this.points.get(x, k) ?? setBy;
      x = x[k];
    }
    if (!setBy) return { file: this.mainPath };
    const line = setBy.lines.get(path);
    return line ? { file: setBy.path, line } : { file: setBy.path };
  }
}

/** The value at a dotted path, or undefined. */
export function getPath(root: PlistDict, path: string): PlistValue | undefined {
  let node: PlistValue | undefined = root;
  for (const part of path.split('.')) {
    if (!isDict(node) || !Object.prototype.hasOwnProperty.call(node, part)) return undefined;
    node = node[part];
  }
  return node;
}

/** "caldavd.plist:42", "default", or the file alone. */
export function describeOrigin(o: Origin | undefined): string {
  if (!o) return 'unknown';
  if (o.file === 'default') return 'default';
  return o.line ? `${o.file}:${o.line}` : o.file;
}

export function originOf(cfg: LoadedConfig, path: string): Origin | undefined {
  let p = path;
  // Nesting stops at 64 levels; a key with thousands of dots is not walked up dot by dot.
  for (let steps = 0; ; steps++) {
    const o = cfg.origins.get(p);
    if (o) return o;
    const dot = steps < 70 ? p.lastIndexOf('.') : p.indexOf('.');
    if (dot < 0) return undefined;
    p = p.slice(0, dot);
  }
}
