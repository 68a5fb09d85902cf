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
  for (const pf of ctx.config.parsed) {
    const inc = pf.value.Includes;
    if (inc !== undefined && ctx.features.includes) {
      const ok = Array.isArray(inc) && inc.every((x) => typeof x === 'string');
      if (!ok) {
        const what = typeof inc === 'string'
          ? 'a single <string>: the server iterates it character by character and tries to include a file per character'
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
