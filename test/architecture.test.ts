/**
 * The shape of the code, checked like Go's deps_test: no import cycles (type imports count: a
 * cycle of types is still two modules that cannot be understood apart), folders that only point
 * down, and every package the code imports declared in package.json.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SRC = join(ROOT, 'src');

function files(dir: string, ext: RegExp): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return e.name === 'node_modules' || e.name === 'dist' ? [] : files(p, ext);
    return ext.test(e.name) ? [p] : [];
  });
}

/** Every module specifier a file names: static, type-only, re-exports and dynamic imports. */
function specifiers(text: string): string[] {
  const out: string[] = [];
  const res = [
    /^\s*(?:import|export)\b[^'";]*?\bfrom\s*['"]([^'"]+)['"]/gm, // import … from / export … from, over lines
    /^\s*import\s*['"]([^'"]+)['"]/gm, // bare import for side effects
    /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g, // dynamic import of a literal
  ];
  for (const re of res) for (let m = re.exec(text); m; m = re.exec(text)) out.push(m[1] as string);
  return out;
}

/** src-relative module → the src-relative modules it imports. */
function graph(): Map<string, string[]> {
  const g = new Map<string, string[]>();
  for (const f of files(SRC, /\.ts$/)) {
    const from = relative(SRC, f);
    const to = specifiers(readFileSync(f, 'utf8'))
      .filter((s) => s.startsWith('.'))
      .map((s) => relative(SRC, resolve(dirname(f), s.replace(/\.js$/, '.ts'))));
    g.set(from, to);
  }
  return g;
}

function findCycles(g: Map<string, string[]>): string[][] {
  const cycles: string[][] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (n: string): void => {
    state.set(n, 'open');
    stack.push(n);
    for (const m of g.get(n) ?? []) {
      if (!g.has(m)) continue;
      if (state.get(m) === 'open') cycles.push([...stack.slice(stack.indexOf(m)), m]);
      else if (!state.has(m)) visit(m);
    }
    stack.pop();
    state.set(n, 'done');
  };
  for (const n of [...g.keys()].sort()) if (!state.has(n)) visit(n);
  return cycles;
}

/** The folder a module lives in (`cli`, `catalog` for the top-level modules). */
const folderOf = (mod: string): string => (mod.includes('/') ? (mod.split('/')[0] as string) : mod.replace(/\.ts$/, ''));

describe('architecture', () => {
  const g = graph();

  it('has no import cycle between modules', () => {
    expect(findCycles(g).map((c) => c.join(' → '))).toEqual([]);
  });

  it('has no cycle between folders', () => {
    const folders = new Map<string, string[]>();
    for (const [from, tos] of g) {
      const a = folderOf(from);
      const list = folders.get(a) ?? [];
      for (const to of tos) if (folderOf(to) !== a && !list.includes(folderOf(to))) list.push(folderOf(to));
      folders.set(a, list);
    }
    expect(findCycles(folders).map((c) => c.join(' → '))).toEqual([]);
  });

  // The bottom layers: what each may import of ours (besides its own folder).
  const BOTTOM: Record<string, string[]> = {
    report: [],
    server: ['report'],
    clients: [],
    config: ['server', 'report'],
  };
  for (const [folder, allowed] of Object.entries(BOTTOM)) {
    it(`${folder}/ imports nothing of ours above it`, () => {
      const bad = [...g]
        .filter(([from]) => folderOf(from) === folder)
        .flatMap(([from, tos]) => tos.filter((t) => folderOf(t) !== folder && !allowed.includes(folderOf(t))).map((t) => `${from} → ${t}`));
      expect(bad).toEqual([]);
    });
  }

  it('mailbox readers and probes know nothing of poll, diagnose, send or the commands', () => {
    const upper = ['poll', 'diagnose', 'send', 'commands', 'cli', 'catalog'];
    const bad = [...g]
      .filter(([from]) => ['mailbox', 'probes', 'clients', 'net'].includes(folderOf(from)))
      .flatMap(([from, tos]) => tos.filter((t) => upper.includes(folderOf(t))).map((t) => `${from} → ${t}`));
    expect(bad).toEqual([]);
  });

  it('only the CLI table imports a command module', () => {
    const bad = [...g].flatMap(([from, tos]) =>
      tos.filter((t) => folderOf(t) === 'commands' && folderOf(from) !== 'commands' && from !== 'cli.ts').map((t) => `${from} → ${t}`),
    );
    expect(bad).toEqual([]);
  });

  it('declares every package it imports', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
      dependencies?: Record<string, string>;
      devDependencies?: Record<string, string>;
    };
    const deps = new Set(Object.keys(pkg.dependencies ?? {}));
    const dev = new Set([...deps, ...Object.keys(pkg.devDependencies ?? {})]);
    const builtin = new Set(builtinModules);
    const pkgName = (s: string): string => (s.startsWith('@') ? s.split('/').slice(0, 2).join('/') : (s.split('/')[0] as string));
    const missing = (list: string[], declared: Set<string>): string[] =>
      list.flatMap((f) =>
        specifiers(readFileSync(f, 'utf8'))
          .filter((s) => !s.startsWith('.') && !s.startsWith('node:') && !builtin.has(s))
          .map(pkgName)
          .filter((p) => !declared.has(p))
          .map((p) => `${relative(ROOT, f)}: ${p}`),
      );
    // Shipped code may use only runtime dependencies; tests, benchmarks and scripts also dev ones.
    expect(missing(files(SRC, /\.ts$/), deps)).toEqual([]);
    const other = ['test', 'bench', 'scripts'].flatMap((d) => files(join(ROOT, d), /\.(ts|mjs|js)$/));
    expect(missing(other, dev)).toEqual([]);
  });
});
