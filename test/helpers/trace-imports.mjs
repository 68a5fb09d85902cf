// Preloaded with `node --import`: records every module URL the program loads into
// $IMIP_TRACE_FILE, so a test can prove what `imip --help` does not load.
import { register } from 'node:module';
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
