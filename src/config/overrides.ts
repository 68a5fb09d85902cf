/**
 * `--set KEY=VALUE`: try a change without editing the server's plist. A key is a path as the
 * plist spells it, relative to `Scheduling.iMIP` (`Sending.Port`, `Receiving.UseSSL`), or the
 * full path (`Scheduling.iMIP.Sending.Port`), or one of the top-level keys the server's mail
 * side reads (`ServerHostName`, `HTTPPort`, `SSLPort`, `EnableSSL`, `ErrorLogFile`, `LogRoot`,
 * ...). The value is checked against the key's type (`int`, `bool`: true/false/yes/no/1/0,
 * `string`, a list as a JSON array or one string) and replaces the effective value for this run
 * only; its origin becomes `--set`, so every finding that cites it says it is an override.
 */
import { CannotRunError } from '../report/exit.js';
import { closestKey, IMIP_KEYS, KEY_BY_NAME, TOP_LEVEL_DEFAULTS, type KeyType } from '../server/keys.js';
import { isDict } from './plist-file.js';
import type { PlistDict, PlistValue } from './plist-xml.js';
import { getPath, writableDict, type LoadedConfig } from './load.js';

export const OVERRIDE_ORIGIN = '--set';
const IMIP = 'Scheduling.iMIP';

/** Top-level keys that may be overridden, with their types. */
const TOP_LEVEL_TYPES: Record<string, KeyType> = {
  ServerHostName: 'string',
  HTTPPort: 'int',
  SSLPort: 'int',
  EnableSSL: 'bool',
  EnableTimezonesByReference: 'bool',
  ServerRoot: 'string',
  ConfigRoot: 'string',
  DataRoot: 'string',
  LogRoot: 'string',
  ErrorLogFile: 'string',
};
for (const k of Object.keys(TOP_LEVEL_DEFAULTS)) if (!(k in TOP_LEVEL_TYPES)) TOP_LEVEL_TYPES[k] = 'string';

export interface Override {
  /** As given on the command line, before `=`. */
  given: string;
  /** The full dotted path: `Scheduling.iMIP.Sending.Port` or `ServerHostName`. */
  path: string;
  value: PlistValue;
  secret: boolean;
  /** The value the files (or the default) gave, filled in by applyOverrides. */
  was?: PlistValue | null;
}

function typed(given: string, raw: string, type: KeyType): PlistValue {
  switch (type) {
    case 'int':
      if (!/^\s*-?\d+\s*$/.test(raw)) throw new CannotRunError(`--set ${given}: "${raw}" is not an integer (the key is an <integer>)`);
      return Number(raw);
    case 'bool': {
      const v = raw.trim().toLowerCase();
      if (['true', 'yes', '1'].includes(v)) return true;
      if (['false', 'no', '0'].includes(v)) return false;
      throw new CannotRunError(`--set ${given}: "${raw}" is not true or false (the key is a <true/> or <false/>)`);
    }
    case 'string-array': {
      if (raw.trim().startsWith('[')) {
        let v: unknown;
        try {
          v = JSON.parse(raw);
        } catch {
          throw new CannotRunError(`--set ${given}: "${raw}" is not a JSON array of strings, e.g. '["^mailto:.*@example\\\\.com$"]'`);
        }
        if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw new CannotRunError(`--set ${given}: give a JSON array of strings`);
        return v as string[];
      }
      return [raw];
    }
    case 'dict':
      throw new CannotRunError(`--set ${given}: this key is a dictionary; set the keys inside it, e.g. --set ${given}.Port=587`);
    default:
      return raw;
  }
}

/** Parse `KEY=VALUE` items; exit 2 (CannotRunError) on an unknown key or a value of the wrong type. */
export function parseOverrides(items: readonly string[]): Override[] {
  const out: Override[] = [];
  for (const item of items) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw new CannotRunError(`--set ${item}: give KEY=VALUE, e.g. --set Sending.Port=587`);
    const given = item.slice(0, eq).trim();
    const raw = item.slice(eq + 1);
    const rel = given.startsWith(`${IMIP}.`) ? given.slice(IMIP.length + 1) : given;
    const spec = KEY_BY_NAME.get(rel);
    let path: string;
    let type: KeyType;
    let secret = false;
    if (spec) {
      path = `${IMIP}.${rel}`;
      type = spec.type;
      secret = Boolean(spec.secret);
    } else if (!given.startsWith(`${IMIP}.`) && TOP_LEVEL_TYPES[given]) {
      path = given;
      type = TOP_LEVEL_TYPES[given]!;
    } else {
      const guess = closestKey(rel, [...IMIP_KEYS.map((k) => k.key), ...Object.keys(TOP_LEVEL_TYPES)]);
      throw new CannotRunError(
        `--set ${given}: not a key the server's iMIP side reads${guess ? ` (did you mean ${guess}?)` : ''}; keys are relative to Scheduling.iMIP, e.g. Sending.Port, Receiving.UseSSL`,
      );
    }
    if (out.some((o) => o.path === path)) throw new CannotRunError(`--set ${given}: given twice`);
    out.push({ given, path, value: typed(given, raw, type), secret });
  }
  return out;
}

/**
 * Set a value at a dotted path. The dicts on the way are made writable first: the loaded tree
 * shares the files' own dicts, which must keep what the files say.
 */
function setAt(root: PlistDict, path: string, value: PlistValue): void {
  const parts = path.split('.');
  let node: PlistDict = root;
  for (const p of parts.slice(0, -1)) {
    const next = Object.prototype.hasOwnProperty.call(node, p) ? node[p] : undefined;
    const d = writableDict(isDict(next) ? next : {});
    if (d !== next) Object.defineProperty(node, p, { value: d, enumerable: true, writable: true, configurable: true });
    node = d;
  }
  Object.defineProperty(node, parts[parts.length - 1]!, { value, enumerable: true, writable: true, configurable: true });
}

/**
 * Put the overrides into the loaded config (what the files say, and the effective values), with
 * `--set` as their origin. Returns the overrides with the value each replaced.
 */
export function applyOverrides(cfg: LoadedConfig, overrides: readonly Override[]): Override[] {
  return overrides.map((o) => {
    const was = getPath(cfg.effective, o.path);
    const parts = o.path.split('.');
    for (let i = 1; i < parts.length; i++) {
      const prefix = parts.slice(0, i).join('.');
      if (!isDict(getPath(cfg.effective, prefix))) {
        cfg.origins.replacedByDict(prefix);
        break;
      }
    }
    setAt(cfg.merged, o.path, o.value);
    setAt(cfg.effective, o.path, o.value);
    cfg.origins.set(o.path, { file: OVERRIDE_ORIGIN });
    return { ...o, was: was === undefined ? null : was };
  });
}

const show = (o: Override, v: PlistValue | null | undefined): string =>
  o.secret ? (typeof v === 'string' && v ? '(set)' : '(empty)') : v === null || v === undefined ? '(not set)' : JSON.stringify(v);

/**
 * One line per override for human output: `Sending.Port=587 (instead of 465)`, or `(the config
 * gives the same)` when it does. A password never says which.
 */
export function overrideText(o: Override): string {
  if (o.secret) {
    // Whether the two differ is not said: that would tell something of the password.
    const had = typeof o.was === 'string' && o.was ? "instead of the config's" : 'the config has none';
    return `${o.given}=${show(o, o.value)} (${had})`;
  }
  const same = JSON.stringify(o.value) === JSON.stringify(o.was ?? null);
  return `${o.given}=${show(o, o.value)} (${same ? 'the config gives the same' : `instead of ${show(o, o.was)}`})`;
}

/** The overrides for `--json`: never a password. */
export function overridesJson(list: readonly Override[]): Array<Record<string, unknown>> {
  return list.map((o) => ({ key: o.path, value: o.secret ? show(o, o.value) : o.value, was: o.secret ? show(o, o.was) : (o.was ?? null) }));
}
