// The benchmarks' command lines. Each script names the options it takes; `--help` prints the
// script's own header comment (its usage) and exits 0; an option it does not take, or one whose
// value is missing, is said in one line and exits 2 before anything starts. (Before, a mistyped
// `--olny poll`, or `--help`, ran the whole 15-minute benchmark.)
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

/**
 * `options`: { name: 'string' | 'boolean' | { count: min } }. Returns the values given (strings as
 * written, true for switches, numbers for counts); absent ones are undefined. A count must be a
 * whole number of at least `min`. `check(values)` may return a sentence saying what else is wrong.
 */
export function benchArgs(scriptUrl, options, check = () => null) {
  const script = fileURLToPath(scriptUrl);
  const name = `bench/${path.basename(script)}`;
  const spec = { help: { type: 'boolean', short: 'h' } };
  for (const [key, type] of Object.entries(options)) spec[key] = { type: typeof type === 'string' ? type : 'string' };
  let values;
  try {
    ({ values } = parseArgs({ args: process.argv.slice(2), options: spec, strict: true, allowPositionals: false }));
  } catch (err) {
    fail(name, err.message);
  }
  if (values.help) {
    process.stdout.write(`${usage(script)}\n`);
    process.exit(0);
  }
  for (const [key, type] of Object.entries(options)) {
    if (typeof type === 'string' || values[key] === undefined) continue;
    const n = /^\d+$/.test(values[key]) ? Number(values[key]) : NaN;
    if (!(n >= type.count)) fail(name, `--${key} takes a whole number of at least ${type.count}, not ${JSON.stringify(values[key])}`);
    values[key] = n;
  }
  const wrong = check(values);
  if (wrong) fail(name, wrong);
  return values;
}

/**
 * A check for {@link benchArgs}: every comma-separated name given to `--<option>` is one of
 * `names` (a benchmark's sections or cases), so a mistyped one stops the run rather than
 * measuring nothing.
 */
export function namesIn(option, names, what) {
  return (values) => {
    if (values[option] === undefined) return null;
    const unknown = values[option].split(',').filter((s) => !names.includes(s));
    return unknown.length ? `--${option}: no ${what} ${unknown.map((s) => JSON.stringify(s)).join(', ')} (the ${what}s: ${names.join(', ')})` : null;
  };
}

function fail(name, message) {
  process.stderr.write(`${name}: ${message.replace(/\.?$/, '.')} Run it with --help for its options.\n`);
  process.exit(2);
}

/** The header comment after the shebang, without its `//`. */
function usage(script) {
  const lines = [];
  for (const line of readFileSync(script, 'utf8').split('\n').slice(1)) {
    if (!line.startsWith('//')) break;
    lines.push(line.replace(/^\/\/ ?/, ''));
  }
  return lines.join('\n');
}
