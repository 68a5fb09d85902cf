/**
 * chalk, an ES module, loaded with `import()` only when colour is on. Kept apart from
 * src/report/style.ts so that the module every command loads has no `import()`, which the
 * compiled code the build ships cannot serve (src/code-cache.ts).
 */
export function importChalk(): Promise<typeof import('chalk')> {
  return import('chalk');
}
