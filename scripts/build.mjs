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
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const STAGE = path.join(ROOT, 'build');
const OUT = path.join(ROOT, 'dist');

// Modules imported from dist/ by name outside src/: the CLI itself, scripts/man-findings.mjs,
// bench/run.mjs and bench/lib/bulk.mjs, test/state/tokens.test.ts.
const ENTRIES = ['cli.js', 'catalog.js', 'checks/index.js', 'clients/pop3/index.js', 'diagnose/log-patterns.js', 'state/tokens.js'];

rmSync(STAGE, { recursive: true, force: true });
execFileSync(process.execPath, [path.join(ROOT, 'node_modules/typescript7/bin/tsc'), '-p', path.join(ROOT, 'tsconfig.json'), '--outDir', STAGE], { stdio: 'inherit' });

/** Every .js file under dir. */
function files(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(path.join(dir, e.name)) : e.name.endsWith('.js') ? [path.join(dir, e.name)] : []));
}

// The targets of the lazy imports: each stays a file, so loading it stays lazy.
const entries = new Set(ENTRIES.map((e) => path.join(STAGE, e)));
for (const f of files(STAGE)) {
  for (const m of readFileSync(f, 'utf8').matchAll(/\bimport\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/g)) entries.add(path.resolve(path.dirname(f), m[1]));
}

rmSync(OUT, { recursive: true, force: true });
await build({
  entryPoints: [...entries].sort(),
  outbase: STAGE,
  outdir: OUT,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // commander is bundled: every command parses its arguments with it, and loading it from
  // node_modules as a CommonJS package costs more than the code itself. The other packages are
  // loaded only by the commands that need them and stay in node_modules.
  external: Object.keys(JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')).dependencies).filter((d) => d !== 'commander'),
  // commander's require() calls of Node's own modules, in an ES module.
  banner: { js: "import { createRequire as __imipCreateRequire } from 'node:module'; const require = __imipCreateRequire(import.meta.url);" },
  chunkNames: 'chunks/[name]-[hash]',
  // Names stay as written (a class's or function's .name: commander names its errors after
  // their class); only whitespace goes.
  minifyWhitespace: true,
  keepNames: true,
  logLevel: 'warning',
});
rmSync(STAGE, { recursive: true, force: true });
