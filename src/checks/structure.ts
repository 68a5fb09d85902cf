/**
 * The shape of the iMIP tree and its parents, and the ranges of its numbers: `Scheduling` and
 * `Scheduling.iMIP` must be dicts, `Includes` a list of strings, `ImportConfig` a string, ports
 * 1–65535. The server merges the file over its defaults with `mergeData` (a dict replaces a dict
 * key by key, anything else replaces the whole value: CalendarServer-3.2..9.2
 * twistedcaldav/config.py `mergeData`/`_mergeData`), so a `Scheduling` array replaces the whole
 * default dict and the server fails when it reads `config.Scheduling.iMIP`; `Includes` is iterated
 * with a Python `for` (twistedcaldav/stdconfig.py `PListConfigProvider.loadConfig`), so a string
 * yields its characters and a dict its keys.
 */
import { getPath } from '../config/load.js';
import { isDict } from '../config/plist-file.js';
import type { PlistValue } from '../config/plist-xml.js';
import type { Finding } from '../report/finding.js';
import { KEY_BY_NAME, keyKnownIn } from '../server/keys.js';
import { ALL_LINES, finding, IMIP, valueEvidence, type ConfigContext, type ConfigRule } from './rule.js';

function kind(v: PlistValue): string {
  if (typeof v === 'string') return 'a <string>';
  if (typeof v === 'number') return Number.isInteger(v) ? 'an <integer>' : 'a <real>';
  if (typeof v === 'boolean') return v ? '<true/>' : '<false/>';
  if (Array.isArray(v)) return 'an <array>';
  if (v instanceof Date) return 'a <date>';
  if (v instanceof Uint8Array) return 'a <data> block';
  return 'a <dict>';
}

/** Type problems of the parents of the iMIP tree and of the include keys (rule id key.type). */
export function structureFindings(rule: ConfigRule, ctx: ConfigContext): Finding[] {
  const out: Finding[] = [];
  const merged = ctx.config.merged;
  const sched = getPath(merged, 'Scheduling');
  if (sched !== undefined && !isDict(sched)) {
    out.push(
      finding(
        rule,
        'Scheduling',
        `Scheduling is ${kind(sched)}, not a <dict>: it replaces the server's whole Scheduling dict, and the server fails when it reads Scheduling → iMIP (iMIP, CalDAV and iSchedule scheduling settings are all lost)`,
        'Make Scheduling a <dict> that holds <key>iMIP</key><dict>…</dict>.',
        { ...valueEvidence(ctx, 'Scheduling', 'type'), type: kind(sched) },
      ),
    );
  } else if (isDict(sched) && sched.iMIP !== undefined && !isDict(sched.iMIP)) {
    out.push(
      finding(
        rule,
        IMIP,
        `Scheduling.iMIP is ${kind(sched.iMIP)}, not a <dict>: it replaces the server's iMIP settings, and the server fails when it reads Scheduling.iMIP.Enabled`,
        'Make iMIP a <dict> with Enabled, Sending and Receiving inside.',
        { ...valueEvidence(ctx, IMIP, 'type'), type: kind(sched.iMIP) },
      ),
    );
  }
  for (const [i, pf] of ctx.config.parsed.entries()) {
    const inc = pf.value.Includes;
    // Before 6.0 the server goes through the main file's Includes only: an include's own, of
    // whatever shape, is never iterated (include.nested-ignored says so, config/load.ts).
    const iterated = i === 0 || ctx.features.recursiveIncludes;
    if (inc !== undefined && ctx.features.includes && iterated) {
      const ok = Array.isArray(inc) && inc.every((x) => typeof x === 'string');
      if (!ok) {
        const what = typeof inc === 'string'
          ? includesStringOutcome(inc, ctx)
          : isDict(inc)
            ? 'a <dict>: the server iterates its keys and tries to include a file named after each key'
            : Array.isArray(inc)
              ? 'an <array> with items that are not <string>: the server fails on them while loading'
              : `${kind(inc)}: the server fails when it iterates it while loading`;
        out.push(
          finding(rule, 'Includes', `Includes in ${pf.path} is ${what}`, 'Write <key>Includes</key><array><string>/path/to/file.plist</string></array>.', {
            file: pf.path,
            line: pf.lines.get('Includes') ?? null,
            type: kind(inc),
          }),
        );
      }
    }
    const imp = pf.value.ImportConfig;
    if (imp !== undefined && ctx.features.importConfig && typeof imp !== 'string') {
      out.push(
        finding(rule, 'ImportConfig', `ImportConfig in ${pf.path} is ${kind(imp)}, not a <string> path: the server fails while loading`, 'Write <key>ImportConfig</key><string>/path/to/base.plist</string>.', {
          file: pf.path,
          line: pf.lines.get('ImportConfig') ?? null,
          type: kind(imp),
        }),
      );
    }
  }
  return out;
}

/** Port keys and what a value outside 1–65535 does. */
const PORTS = ['Sending.Port', 'Receiving.Port', 'MailGatewayPort'] as const;

export const keyRange: ConfigRule = {
  id: 'key.range',
  severity: 'error',
  lines: ALL_LINES,
  summary: 'A number outside its range: a port that is not 1–65535 (a negative or too large port fails every connection).',
  check(ctx) {
    const out: Finding[] = [];
    for (const rel of PORTS) {
      const spec = KEY_BY_NAME.get(rel);
      if (!spec || !keyKnownIn(spec, ctx.version)) continue;
      const path = `${IMIP}.${rel}`;
      const v = getPath(ctx.config.merged, path);
      if (typeof v !== 'number' || !Number.isInteger(v)) continue;
      // Receiving.Port 0 is receiving.port-missing's case.
      if ((v >= 1 && v <= 65535) || (rel === 'Receiving.Port' && v === 0)) continue;
      out.push(
        finding(
          this,
          path,
          `${rel} is ${v}, which is not a TCP port (1–65535): every connection the server makes with it fails`,
          `Set ${rel} to the port of the service, for example ${rel === 'Sending.Port' ? 587 : rel === 'Receiving.Port' ? 993 : 62310}.`,
          valueEvidence(ctx, path),
        ),
      );
    }
    return out;
  },
};

/**
 * What the server makes of `Includes` written as one <string>: `for include in Includes` takes it
 * one character at a time, so the file it names is never read (the loader reads nothing of it
 * either, config/load.ts `includeList`), and each character is tried as a path:
 * - 3.x-4.x read each with no existence check (`_parseConfigFromFile(fullServerPath(configRoot,
 *   include))`), so the first character already fails: "/" and "." are directories, any other
 *   character is ConfigRoot/<character>, which does not exist; ConfigurationError("Configuration
 *   file does not exist or is inaccessible") stops the start-up (CalendarServer-3.0..4.3.2
 *   stdconfig.py `PListConfigProvider.loadConfig`, `_parseConfigFromFile`);
 * - 5.0 and later skip a path that does not exist ("Missing configuration file"), but "/" and "."
 *   exist, as directories, and reading one fails the same way (CalendarServer-5.0..9.2
 *   stdconfig.py `_loadIncludes` / `loadConfig`, `os.path.exists`); a string without either
 *   character is skipped whole.
 */
function includesStringOutcome(value: string, ctx: ConfigContext): string {
  const chars = [...value];
  const never = `a single <string>: the server goes through it one character at a time, so ${JSON.stringify(value)} itself is never read`;
  const stops = (path: string) => `it stops at start-up with "Configuration file does not exist or is inaccessible: ${path}"`;
  if (ctx.version.line === '3.x-4.x') {
    const first = chars[0] ?? '';
    if (!first) return `${never}, and with no character there is nothing to include`;
    const dir = first === '/' || first === '.';
    return `${never}; it reads the first character, "${first}", as a file (${dir ? 'a directory' : `ConfigRoot/${first}, which does not exist`}), and ${stops(dir ? first : `<ConfigRoot>/${first}`)}`;
  }
  const dir = chars.find((c) => c === '/' || c === '.');
  if (dir) return `${never}; the character "${dir}" names a directory, which exists, and reading it as a file fails: ${stops(dir)}`;
  return `${never}; it looks for a file named after each character, finds none, and reads only this file`;
}
