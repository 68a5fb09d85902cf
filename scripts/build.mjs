// `npm run build`: compile src/ with TypeScript into build/ (not shipped), then bundle build/ into
// dist/ with esbuild, so a command loads a handful of files instead of forty modules (README,
// Decisions: "A bundled dist/").
//
// Every module the code imports lazily (`import('./x.js')`) stays a file of its own at the same
// path (dist/commands/poll.js, dist/probes/pop3-probe.js, ...), so what a command loads is still
// decided by those imports; code two of them share goes into dist/chunks/. The npm packages stay
// outside the bundle (commander aside) and load from node_modules as before. The modules that scripts, benchmarks
// and tests import from dist/ are kept at their paths too (ENTRIES below).
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, transform } from 'esbuild';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const PKG = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
const STAGE = path.join(ROOT, 'build');
const OUT = path.join(ROOT, 'dist');

// Modules imported from dist/ by name outside src/: the CLI itself, scripts/man-findings.mjs,
// bench/run.mjs and bench/lib/bulk.mjs, test/state/tokens.test.ts.
const ENTRIES = ['cli.js', 'catalog.js', 'checks/index.js', 'clients/pop3/index.js', 'diagnose/log-patterns.js', 'state/tokens.js'];
// bin/imip loads this one first, before the code caches it installs can apply: it is a file of its
// own, with Node's modules only, not a part of the shared chunks (which would be three files to
// find and compile from source at every start).
const STANDALONE = 'code-cache.js';

rmSync(STAGE, { recursive: true, force: true });
execFileSync(process.execPath, [path.join(ROOT, 'node_modules/typescript7/bin/tsc'), '-p', path.join(ROOT, 'tsconfig.json'), '--outDir', STAGE], { stdio: 'inherit' });

/** Every .js file under dir. */
function files(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(path.join(dir, e.name)) : e.name.endsWith('.js') ? [path.join(dir, e.name)] : []));
}

/** A lazy import of one of our own files, `import('./x.js')`: the quote, then the path. */
const LAZY_IMPORT = /\bimport\(\s*(['"])(\.{1,2}\/[^'"]+)\1\s*\)/g;

// The targets of the lazy imports: each stays a file, so loading it stays lazy.
const entries = new Set(ENTRIES.map((e) => path.join(STAGE, e)));
for (const f of files(STAGE)) {
  const code = readFileSync(f, 'utf8');
  for (const m of code.matchAll(LAZY_IMPORT)) entries.add(path.resolve(path.dirname(f), m[2]));
  // A second copy of it, bundled into a chunk, would have state of its own.
  if (new RegExp(`(['"])\\.{1,2}/(?:[^'"]*/)?${STANDALONE.replace('.', '\\.')}\\1`).test(code)) {
    throw new Error(`build: ${path.relative(STAGE, f)} imports ${STANDALONE}, which must stay a file of its own`);
  }
}

// commander requires node:child_process when it loads, for executable subcommands, which imip
// does not have. That module pulls in net, dgram and the stream modules: about 5% of Node's own
// start-up, paid by every command. commander gets an object that loads it on first use instead.
const lazyChildProcess = {
  name: 'lazy-child-process',
  setup(b) {
    b.onResolve({ filter: /^(node:)?child_process$/ }, (args) =>
      /[\\/]node_modules[\\/]commander[\\/]/.test(args.importer) ? { path: 'child_process', namespace: 'lazy-builtin' } : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'lazy-builtin' }, () => ({
      contents: "let m; module.exports = new Proxy({}, { get: (_, k) => (m ??= require('node:child_process'))[k] });",
      loader: 'js',
    }));
  },
};

// chalk works out by itself whether stdout takes colour (its vendored supports-color, which loads
// node:tty, and with it Node's net and stream modules, plus node:os and node:process), even for a
// Chalk given its level, as imip's always is (src/report/chalk.ts: src/report/style.ts decides).
// chalk gets the answer of its browser build instead, "no colour" for its default instances,
// which imip never uses. With src/report/style.ts telling a Linux terminal by its device number,
// a coloured run then loads none of those modules.
const chalkWithoutDetection = {
  name: 'chalk-without-detection',
  setup(b) {
    b.onResolve({ filter: /^#supports-color$/ }, (args) =>
      /[\\/]node_modules[\\/]chalk[\\/]/.test(args.importer) ? { path: 'supports-color', namespace: 'chalk-without-detection' } : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'chalk-without-detection' }, () => ({ contents: 'export default { stdout: false, stderr: false };', loader: 'js' }));
  },
};

// commander also requires node:process, which is the global `process` Node starts with; loading
// it as a module costs about 0.1 ms of every start. commander gets the global.
const globalProcess = {
  name: 'global-process',
  setup(b) {
    b.onResolve({ filter: /^(node:)?process$/ }, (args) =>
      /[\\/]node_modules[\\/]commander[\\/]/.test(args.importer) ? { path: 'process', namespace: 'global-process' } : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'global-process' }, () => ({ contents: 'module.exports = process;', loader: 'js' }));
  },
};

// Bundled as ES modules first (esbuild splits code only for that format), into a staging folder.
const ESM = path.join(STAGE, '.esm');
await build({
  entryPoints: [...entries].sort(),
  outbase: STAGE,
  outdir: ESM,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // commander is bundled: every command parses its arguments with it, and loading it from
  // node_modules as a CommonJS package costs more than the code itself. chalk is bundled into
  // the module that loads it when colour is on (src/report/chalk.ts): from node_modules, an ES
  // module, it started Node's ES module loader. The other packages are loaded only by the
  // commands that need them and stay in node_modules.
  external: Object.keys(PKG.dependencies).filter((d) => d !== 'commander' && d !== 'chalk'),
  chunkNames: 'chunks/[name]-[hash]',
  // The version `imip --version` prints, written into the program (src/cli.ts): no package.json
  // to read at every start.
  define: { __IMIP_VERSION__: JSON.stringify(PKG.version) },
  plugins: [lazyChildProcess, globalProcess, chalkWithoutDetection],
  // No `keepNames`: it re-sets the .name of every function and class at load (about 300 calls
  // for check-config, 3 million instructions and a scavenge's worth of garbage) where bundling
  // renamed only a few of commander's classes (Option2, CommanderError2), and nothing shows
  // those names: imip tells commander's errors apart by class and prints their message. Our
  // error classes set their name themselves.
  keepNames: false,
  logLevel: 'warning',
});

/**
 * esbuild's CommonJS form of an ES module reads every export through two getters, its own
 * (`__export`, for a live binding) and that of a copy (`__toCommonJS`), so each call of a function
 * another file exports (`(0, import_x.pyLower)(...)`) first called two more functions, in code V8
 * has not optimised yet. Here a file's export object is its `module.exports` itself, and an
 * export that is a function or a class turns into a plain property the first time it is read
 * once defined (`src/` exports no `let`, so such a binding never changes); any other export
 * keeps its getter.
 */
const EXPORT_HELPER = /var __export=\((\w+),(\w+)\)=>\{for\(var (\w+) in \2\)__defProp\(\1,\3,\{get:\2\[\3\],enumerable:true\}\)\};/;
const DIRECT_EXPORT_HELPER =
  'var __export=(target,all)=>{for(let name in all){const get=all[name];__defProp(target,name,{get(){const v=get();if(typeof v==="function")__defProp(target,name,{value:v,enumerable:true});return v},enumerable:true,configurable:true})}};';
const TO_COMMONJS = /module\.exports=__toCommonJS\((\w+)\);/;
function directExports(code, file) {
  const m = TO_COMMONJS.exec(code);
  if (!m) return code;
  if (!EXPORT_HELPER.test(code) && code.includes('var __export=')) throw new Error(`build: ${file}: esbuild's export helper changed; update directExports in scripts/build.mjs`);
  return code.replace(EXPORT_HELPER, () => DIRECT_EXPORT_HELPER).replace(m[0], () => `__defProp(${m[1]},"__esModule",{value:true});module.exports=${m[1]};`);
}

// Then every file becomes a CommonJS module (dist/package.json says so). Node starts a program
// faster without its ES module loader: about 8% of its own start-up, and a few hundred
// microseconds per module after that, paid by every command. The lazy imports of our own modules
// become require() calls made at the same moment, so what a command loads stays the same; the
// npm packages still load with import() (chalk and ical.js are ES modules), which starts the ES
// module loader only in the commands that use them.
rmSync(OUT, { recursive: true, force: true });
for (const file of files(ESM)) {
  let code = readFileSync(file, 'utf8');
  code = code.replace(LAZY_IMPORT, (_, q, spec) => `Promise.resolve().then(() => require(${q}${spec}${q}))`);
  const usesUrl = code.includes('import.meta.url');
  const out = await transform(code, {
    format: 'cjs',
    platform: 'node',
    target: 'node20',
    // The file's URL, worked out when it is first asked for (most of its uses are in functions
    // that a run may never call), not when the file loads.
    define: usesUrl ? { 'import.meta.url': '__imipModule.url' } : {},
    banner: usesUrl ? 'const __imipModule = { get url() { return require("node:url").pathToFileURL(__filename).href; } };' : '',
    // Only whitespace goes; no name changes here, so stack traces stay readable.
    minifyWhitespace: true,
    logLevel: 'warning',
  });
  const target = path.join(OUT, path.relative(ESM, file));
  mkdirSync(path.dirname(target), { recursive: true });
  writeFileSync(target, directExports(out.code, target));
}
await build({
  entryPoints: [path.join(STAGE, STANDALONE)],
  outfile: path.join(OUT, STANDALONE),
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  minifyWhitespace: true,
  logLevel: 'warning',
});
writeFileSync(path.join(OUT, 'package.json'), `${JSON.stringify({ type: 'commonjs' }, null, 2)}\n`);
rmSync(STAGE, { recursive: true, force: true });

// Last, V8 code caches for dist/ from a training run of the commands that need no network
// (scripts/code-cache.mjs, src/code-cache.ts): less to compile at every start.
execFileSync(process.execPath, [path.join(ROOT, 'scripts/code-cache.mjs')], { stdio: 'inherit' });
