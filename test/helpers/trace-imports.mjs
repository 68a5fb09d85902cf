// Preloaded with `node --import`: records every module URL the program loads into
// $IMIP_TRACE_FILE, so a test can prove what `imip --help` does not load. dist/ is CommonJS, so
// both loaders are watched: ES module resolution (npm packages loaded with import()) and
// require() (our own modules, commander, the CommonJS packages). Our own files are required by
// their path (src/code-cache.ts), without Node's search: every CommonJS module, found either way,
// is seen when it enters Node's module cache.
import { appendFileSync } from 'node:fs';
import * as nodeModule from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const { createRequire } = nodeModule;

// ES module resolution: with the hooks that run in this thread where Node has them (22.15, 23.5
// and later); `register()`, whose hooks run on a thread of their own, is what Node 20 has, and
// Node 26 deprecates it with a warning on stderr, which tests of a clean stderr would see.
if (typeof nodeModule.registerHooks === 'function') {
  nodeModule.registerHooks({
    resolve(specifier, context, next) {
      const r = next(specifier, context);
      if (process.env.IMIP_TRACE_FILE) appendFileSync(process.env.IMIP_TRACE_FILE, `${r.url}\n`);
      return r;
    },
  });
} else {
  nodeModule.register(
    'data:text/javascript,' +
      encodeURIComponent(`
        import { appendFileSync } from 'node:fs';
        export async function resolve(specifier, context, next) {
          const r = await next(specifier, context);
          if (process.env.IMIP_TRACE_FILE) appendFileSync(process.env.IMIP_TRACE_FILE, r.url + '\\n');
          return r;
        }`),
  );
}

const Module = createRequire(import.meta.url)('node:module');
const record = (file) => {
  if (process.env.IMIP_TRACE_FILE && path.isAbsolute(file)) appendFileSync(process.env.IMIP_TRACE_FILE, `${pathToFileURL(file).href}\n`);
};
const resolveFilename = Module._resolveFilename;
Module._resolveFilename = function (...args) {
  const file = resolveFilename.apply(this, args);
  record(file);
  return file;
};
Module._cache = new Proxy(Module._cache, {
  set(target, key, value) {
    if (typeof key === 'string') record(key);
    target[key] = value;
    return true;
  },
});
