// Preloaded with `node --import`: records every module URL the program loads into
// $IMIP_TRACE_FILE, so a test can prove what `imip --help` does not load. dist/ is CommonJS, so
// both loaders are watched: ES module resolution (npm packages loaded with import()) and
// require() (our own modules, commander, the CommonJS packages). Our own files are required by
// their path (src/code-cache.ts), without Node's search: every CommonJS module, found either way,
// is seen when it enters Node's module cache.
import { appendFileSync } from 'node:fs';
import { createRequire, register } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

register(
  'data:text/javascript,' +
    encodeURIComponent(`
      import { appendFileSync } from 'node:fs';
      export async function resolve(specifier, context, next) {
        const r = await next(specifier, context);
        if (process.env.IMIP_TRACE_FILE) appendFileSync(process.env.IMIP_TRACE_FILE, r.url + '\\n');
        return r;
      }`),
);

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
