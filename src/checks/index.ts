/**
 * Every config rule, and the metadata of findings raised elsewhere (while loading includes), so
 * `--list-checks` and the man page come from one list.
 */
import type { Finding } from '../report/finding.js';
import { bySeverity, SEVERITY_ORDER } from '../report/finding.js';
import { capStrings, capText, ECHO_CAP } from '../report/cap.js';
import { ALL_LINES, IMIP, imipConfigured, LISTED_PER_ID, type ConfigContext, type ConfigRule, type RuleMeta } from './rule.js';
import { getPath } from '../config/load.js';
import { isDict } from '../config/plist-file.js';
import { presenceRules, disabled, misplaced } from './presence.js';
import { keyRules, wrongType } from './keys.js';
import { keyRange } from './structure.js';
import { sendingRules } from './sending.js';
import { receivingRules } from './receiving.js';
import { patternRules } from './patterns.js';
import { injectionRules } from './injection.js';
import { secretRules } from './secrets.js';
import { serverAddressRules } from './server-address.js';

export const CONFIG_RULES: ConfigRule[] = [
  ...presenceRules,
  ...keyRules,
  keyRange,
  ...sendingRules,
  ...receivingRules,
  ...patternRules,
  ...injectionRules,
  ...secretRules,
  ...serverAddressRules,
];

/** Findings the loader raises (src/config/load.ts). */
export const LOADER_FINDINGS: RuleMeta[] = [
  { id: 'include.missing', severity: 'error', lines: ['3.x-4.x', '5.0+'], summary: 'An include (or ImportConfig) file that does not exist or cannot be read: fatal on 3.x-4.x and for ImportConfig, skipped with a warning on 5.0+.' },
  { id: 'include.cycle', severity: 'error', lines: ['3.x-4.x', '5.0+'], summary: 'Includes that include each other.' },
  { id: 'include.unsupported', severity: 'warning', lines: ['2.x'], summary: '2.x has no Includes or ImportConfig: only the main file is read.' },
  { id: 'include.nested-ignored', severity: 'warning', lines: ['3.x-4.x', '5.0+'], summary: 'An include lists Includes of its own, which releases before 6.0 do not follow.' },
  { id: 'include.no-server-root', severity: 'error', lines: ['3.x-4.x', '5.0+'], summary: 'A file that lists Includes (or ImportConfig) without defining ServerRoot and ConfigRoot itself: 3.x-4.x and 6.0+ stop loading with an AttributeError.' },
  { id: 'config.binary-plist', severity: 'error', lines: ['2.x', '3.x-4.x', '5.0+'], summary: 'A binary plist (main file, include or ImportConfig): the server reads XML plists only and does not start; its settings are not judged.' },
  { id: 'plist.key-without-value', severity: 'warning', lines: ['2.x', '3.x-4.x', '5.0+'], summary: 'A <key> with no value after it: the server drops the key silently and uses the default.' },
  { id: 'include.shallow-replace', severity: 'warning', lines: ['3.x-4.x'], summary: '3.x-4.x: an include that defines Scheduling replaces the main file\'s whole Scheduling dict.' },
];

export function allConfigRuleMeta(): RuleMeta[] {
  return [...CONFIG_RULES.map(({ id, severity, lines, summary }) => ({ id, severity, lines, summary })), ...LOADER_FINDINGS];
}

/**
 * A finding whose echoed values stay short: a 1 MB key name or pattern is cut in the path, the
 * message, the fix and the evidence, and the cut is said in the value itself (../report/cap.ts).
 */
function capEchoes(f: Finding): Finding {
  const long = (t: string): boolean => t.length > ECHO_CAP;
  if (!long(f.path) && !long(f.message) && !long(f.fix) && JSON.stringify(f.evidence).length <= ECHO_CAP) return f;
  return { ...f, path: capText(f.path), message: capText(f.message), fix: capText(f.fix), evidence: capStrings(f.evidence) };
}

/**
 * At most {@link LISTED_PER_ID} findings of each id, in the order found, then one finding per id
 * that counts the rest (at the worst severity among them), so a file with 100,000s of bad entries
 * gives a report of bounded size. Rules with their own summary (key.unknown) stay under the limit.
 */
export function capFindings(findings: readonly Finding[]): Finding[] {
  const seen = new Map<string, number>();
  const rest = new Map<string, Finding[]>();
  const out: Finding[] = [];
  for (const f of findings) {
    const n = (seen.get(f.id) ?? 0) + 1;
    seen.set(f.id, n);
    if (n <= LISTED_PER_ID) out.push(capEchoes(f));
    else {
      let r = rest.get(f.id);
      if (!r) rest.set(f.id, (r = []));
      r.push(f);
    }
  }
  for (const [id, more] of rest) {
    const worst = more.reduce((s, f) => (SEVERITY_ORDER[f.severity] < SEVERITY_ORDER[s] ? f.severity : s), more[0]!.severity);
    out.push({
      id,
      severity: worst,
      path: commonPath(more.map((f) => f.path)),
      message: `${more.length} more ${id} findings are not listed; only the first ${LISTED_PER_ID} are (the rest are of the same kind)`,
      fix: more[0]!.fix,
      evidence: { notListed: more.length, listed: LISTED_PER_ID },
    });
  }
  return out;
}

/** The longest dotted prefix the paths share ('' when none). */
function commonPath(paths: string[]): string {
  let p = paths[0]!;
  for (const q of paths) {
    let i = 0;
    while (i < p.length && i < q.length && p.charCodeAt(i) === q.charCodeAt(i)) i++;
    if (i < p.length) p = p.slice(0, i);
    if (!p) return '';
  }
  // Whole segments only: the prefix ends where every path ends or has a dot.
  if (paths.every((q) => q.length === p.length || q[p.length] === '.')) return p;
  const dot = p.lastIndexOf('.');
  return dot < 0 ? '' : p.slice(0, dot);
}

/** Run every rule that speaks for this release line, after the loader's findings. */
export function runConfigChecks(ctx: ConfigContext): Finding[] {
  return capFindings(allFindings(ctx)).sort(bySeverity);
}

function allFindings(ctx: ConfigContext): Finding[] {
  const findings: Finding[] = [];
  // One at a time: a spread of 100,000s of findings overflows the stack.
  for (const f of ctx.config.findings) findings.push(f);
  // A binary main file: the server cannot read it at all, so its contents are not judged.
  if (ctx.config.files[0]?.format === 'binary') return findings;
  // Scheduling, iMIP, Sending or Receiving written as something other than a dict replaces the
  // server's whole dict and the server fails when it reads it (key.type says so): what the keys
  // under it lack or say is not judged, and iMIP is not "off".
  const broken = NOT_DICT_PARENTS.filter((p) => {
    const v = getPath(ctx.config.merged, p);
    return v !== undefined && !isDict(v);
  });
  const shapeOnly = [misplaced, wrongType, keyRange, ...secretRules];
  // An iMIP section that was never written: say it is off, not thirty things it lacks; the shape
  // and range checks still run.
  const rules = broken.some((p) => p === 'Scheduling' || p === IMIP) ? shapeOnly : imipConfigured(ctx) || ctx.settings.enabled ? CONFIG_RULES : [disabled, ...shapeOnly];
  const under = broken.map((p) => `${p}.`);
  for (const rule of rules) {
    if (!rule.lines.includes(ctx.version.line)) continue;
    // One at a time: a spread of a rule's findings overflows the stack on a file with 100,000s of keys.
    for (const f of rule.check(ctx)) if (!under.some((u) => f.path.startsWith(u))) findings.push(f);
  }
  return findings;
}

/** The dicts whose replacement by another type hides everything under them. */
const NOT_DICT_PARENTS = ['Scheduling', IMIP, `${IMIP}.Sending`, `${IMIP}.Receiving`] as const;

export { ALL_LINES, LISTED_PER_ID };
