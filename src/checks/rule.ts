/**
 * A config rule: an id, a default severity, the release lines it speaks for, a one-line summary
 * (used by `--list-checks` and the man page), and a pure function from the effective config to
 * findings.
 */
import type { Finding, Severity } from '../report/finding.js';
import type { Features, ReleaseLine, ServerVersion } from '../server/release.js';
import type { ImipSettings } from '../config/settings.js';
import { describeOrigin, getPath, originOf, type LoadedConfig } from '../config/load.js';
import type { PlistDict, PlistValue } from '../config/plist-xml.js';
import { isDict, keysOf } from '../config/plist-file.js';

export { keysOf };

export interface RuleMeta {
  id: string;
  severity: Severity;
  lines: readonly ReleaseLine[];
  summary: string;
}

export interface ConfigContext {
  config: LoadedConfig;
  settings: ImipSettings;
  version: ServerVersion;
  features: Features;
  platform: NodeJS.Platform;
}

export interface ConfigRule extends RuleMeta {
  check(ctx: ConfigContext): Finding[];
}

export const ALL_LINES: readonly ReleaseLine[] = ['2.x', '3.x-4.x', '5.0+'];
export const GATEWAY_LINES: readonly ReleaseLine[] = ['2.x', '3.x-4.x'];

export const IMIP = 'Scheduling.iMIP';

const SECRET_KEY = /(^|\.)Password$/;

/** Evidence for one config value: the value (never a password) and where it came from. */
export function valueEvidence(ctx: ConfigContext, path: string, name = 'value'): Record<string, unknown> {
  const v = getPath(ctx.config.effective, path);
  const shown = SECRET_KEY.test(path) ? (typeof v === 'string' && v ? '(set)' : '(empty)') : jsonValue(v);
  return { [name]: shown, source: describeOrigin(originOf(ctx.config, path)) };
}

export function jsonValue(v: PlistValue | undefined): unknown {
  if (v === undefined) return null;
  if (v instanceof Date) return v.toISOString();
  if (v instanceof Uint8Array) return `<${v.length} bytes of data>`;
  return v;
}

/** Build a finding with the rule's id and severity unless overridden. */
export function finding(
  rule: RuleMeta,
  path: string,
  message: string,
  fix: string,
  evidence: Record<string, unknown>,
  severity: Severity = rule.severity,
): Finding {
  return { id: rule.id, severity, path, message, evidence, fix };
}

/** Was anything under Scheduling.iMIP written in a file (not just defaults)? */
export function imipConfigured(ctx: ConfigContext): boolean {
  const v = getPath(ctx.config.merged, IMIP);
  if (isDict(v)) return keysOf(v).length > 0;
  return typeof v === 'object' && v !== null && Object.keys(v).length > 0;
}

/** Every key of the iMIP tree that rules judge, relative to Scheduling.iMIP (`Sending.Port`), with its value. */
export interface ImipEntries {
  rels: string[];
  values: PlistValue[];
}

const ENTRIES = new WeakMap<PlistDict, ImipEntries>();

/**
 * The keys directly under Scheduling.iMIP and under its Sending and Receiving dicts, in the file's
 * order (each dict before its own keys), walked once for all the key rules.
 */
export function imipEntries(ctx: ConfigContext): ImipEntries {
  const imip = getPath(ctx.config.merged, IMIP);
  const empty: ImipEntries = { rels: [], values: [] };
  if (!isDict(imip)) return empty;
  let e = ENTRIES.get(imip);
  if (e) return e;
  e = empty;
  const walk = (node: PlistDict, rel: string): void => {
    for (const k of keysOf(node)) {
      const v = node[k]!;
      const path = rel ? `${rel}.${k}` : k;
      e!.rels.push(path);
      e!.values.push(v);
      if (isDict(v) && (path === 'Sending' || path === 'Receiving')) walk(v, path);
    }
  };
  walk(imip, '');
  ENTRIES.set(imip, e);
  return e;
}

/** A value echoed in a message or evidence, cut when long (a pattern or string can be megabytes), with the cut noted. */
export function capped(text: string, max = 200): string {
  return text.length > max ? `${text.slice(0, max)}… (${text.length} characters, cut at ${max})` : text;
}

export { LISTED_PER_ID } from '../report/finding.js';

/** A list echoed in evidence: at most `max` items (the count says how many there are). */
export function cappedList<T>(items: readonly T[], max = 100): T[] {
  return items.length > max ? items.slice(0, max) : [...items];
}
