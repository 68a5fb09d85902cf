/**
 * The keys under `Scheduling.iMIP`, their types, defaults and the releases that read them
 * (`DEFAULT_CONFIG["Scheduling"]["iMIP"]`, 3.0+ `twistedcaldav/stdconfig.py`; 2.x `defaultConfig`,
 * `twistedcaldav/config.py`), plus the few top-level keys the gateway uses.
 */
import { atLeast, type ServerVersion } from './release.js';

export type KeyType = 'bool' | 'int' | 'string' | 'string-array' | 'dict';

export interface KeySpec {
  /** Relative to `Scheduling.iMIP`. */
  key: string;
  type: KeyType;
  /** First release that reads it. */
  since: [number, number];
  /** Last release line that reads it (inclusive major), or null for all. */
  untilMajor: number | null;
  /** Read only up to this release (inclusive), though still in the defaults after. */
  readUntil?: [number, number];
  defaultValue: (v: ServerVersion) => unknown;
  /** Holds a secret: never printed. */
  secret?: boolean;
}

const always = [2, 0] as [number, number];
const TEMPLATES_OLD = '/usr/share/caldavd/share/email_templates';
const TEMPLATES_APP = '/Applications/Server.app/Contents/ServerRoot/usr/share/caldavd/share/email_templates';
const ICONS_OLD = '/usr/share/caldavd/share/date_icons';
const ICONS_APP = '/Applications/Server.app/Contents/ServerRoot/usr/share/caldavd/share/date_icons';

export const IMIP_KEYS: KeySpec[] = [
  { key: 'Enabled', type: 'bool', since: always, untilMajor: null, defaultValue: () => false },
  { key: 'MailGatewayServer', type: 'string', since: always, untilMajor: 4, defaultValue: () => 'localhost' },
  { key: 'MailGatewayPort', type: 'int', since: always, untilMajor: 4, defaultValue: () => 62310 },
  { key: 'Username', type: 'string', since: always, untilMajor: 4, defaultValue: () => 'com.apple.calendarserver' },
  { key: 'Password', type: 'string', since: always, untilMajor: 4, defaultValue: () => '', secret: true },
  { key: 'GUID', type: 'string', since: [3, 0], untilMajor: 4, defaultValue: () => 'B86ED9D3-49BD-44F8-8F5E-C89D08753DAC' },
  { key: 'Header', type: 'string', since: [3, 0], untilMajor: 4, defaultValue: () => 'x-calendarserver-internal' },
  { key: 'Sending', type: 'dict', since: always, untilMajor: null, defaultValue: () => ({}) },
  { key: 'Sending.Server', type: 'string', since: always, untilMajor: null, defaultValue: () => '' },
  { key: 'Sending.Port', type: 'int', since: always, untilMajor: null, defaultValue: () => 587 },
  { key: 'Sending.Address', type: 'string', since: always, untilMajor: null, defaultValue: () => '' },
  { key: 'Sending.UseSSL', type: 'bool', since: always, untilMajor: null, defaultValue: () => true },
  { key: 'Sending.Username', type: 'string', since: always, untilMajor: null, defaultValue: () => '' },
  { key: 'Sending.Password', type: 'string', since: always, untilMajor: null, defaultValue: () => '', secret: true },
  { key: 'Sending.SuppressionDays', type: 'int', since: [4, 1], untilMajor: null, defaultValue: () => 7 },
  { key: 'Receiving', type: 'dict', since: always, untilMajor: null, defaultValue: () => ({}) },
  { key: 'Receiving.Server', type: 'string', since: always, untilMajor: null, defaultValue: () => '' },
  { key: 'Receiving.Port', type: 'int', since: always, untilMajor: null, defaultValue: () => 0 },
  { key: 'Receiving.UseSSL', type: 'bool', since: always, untilMajor: null, defaultValue: () => true },
  { key: 'Receiving.Type', type: 'string', since: always, untilMajor: null, defaultValue: () => '' },
  { key: 'Receiving.PollingSeconds', type: 'int', since: always, untilMajor: null, defaultValue: () => 30 },
  { key: 'Receiving.Username', type: 'string', since: always, untilMajor: null, defaultValue: () => '' },
  { key: 'Receiving.Password', type: 'string', since: always, untilMajor: null, defaultValue: () => '', secret: true },
  { key: 'AddressPatterns', type: 'string-array', since: always, untilMajor: null, defaultValue: () => [] },
  {
    key: 'MailTemplatesDirectory',
    type: 'string',
    since: always,
    untilMajor: null,
    defaultValue: (v) => (v.major >= 4 ? TEMPLATES_APP : TEMPLATES_OLD),
  },
  {
    key: 'MailIconsDirectory',
    type: 'string',
    since: always,
    untilMajor: null,
    readUntil: [4, 1],
    defaultValue: (v) => (v.major >= 4 ? ICONS_APP : ICONS_OLD),
  },
  { key: 'InvitationDaysToLive', type: 'int', since: always, untilMajor: null, defaultValue: () => 90 },
];

export const KEY_BY_NAME = new Map(IMIP_KEYS.map((k) => [k.key, k]));

/** Is the key read by this release? */
export function keyKnownIn(spec: KeySpec, v: ServerVersion): boolean {
  if (!atLeast(v, spec.since[0], spec.since[1])) return false;
  if (spec.untilMajor !== null && v.major > spec.untilMajor) return false;
  return true;
}

/** Top-level keys the gateway reads, with their defaults (`DEFAULT_CONFIG` in `stdconfig.py`; 2.x `defaultConfig` in `config.py`). */
export const TOP_LEVEL_DEFAULTS: Record<string, (v: ServerVersion) => unknown> = {
  ServerHostName: () => '',
  HTTPPort: () => 0,
  SSLPort: () => 0,
  EnableSSL: () => false,
  ServerRoot: () => '/var/db/caldavd',
  ConfigRoot: (v) => (v.major >= 4 ? 'Config' : '/etc/caldavd'),
  DataRoot: (v) => (v.major >= 3 ? 'Data' : '/Library/CalendarServer/Data'),
};

/** The defaults of this release as a plist dict fragment: `{ Scheduling: { iMIP: {...} }, ... }`. */
export function defaultsFor(v: ServerVersion): Record<string, unknown> {
  const imip: Record<string, unknown> = {};
  for (const spec of IMIP_KEYS) {
    if (!keyKnownIn(spec, v)) continue;
    const parts = spec.key.split('.');
    let node = imip;
    for (const p of parts.slice(0, -1)) node = (node[p] ??= {}) as Record<string, unknown>;
    const last = parts[parts.length - 1]!;
    if (spec.type === 'dict') node[last] ??= {};
    else node[last] = spec.defaultValue(v);
  }
  const top: Record<string, unknown> = { Scheduling: { iMIP: imip } };
  for (const [k, f] of Object.entries(TOP_LEVEL_DEFAULTS)) top[k] = f(v);
  return top;
}

/** Keys longer than this get no "did you mean": no key the server knows is anywhere near as long. */
export const MAX_GUESS_KEY_LENGTH = 64;

/**
 * Levenshtein distance, for "did you mean" (a case difference costs half). Two rows: O(n) memory.
 * With `limit`, stops as soon as every cell of a row exceeds it and returns `Infinity`.
 */
export function editDistance(a: string, b: string, limit = Infinity): number {
  const n = b.length;
  // Lower-cased once; where lower-casing changes a length (a few non-ASCII letters), no half cost.
  const al = a.toLowerCase().length === a.length ? a.toLowerCase() : a;
  const bl = b.toLowerCase().length === b.length ? b.toLowerCase() : b;
  let prev = new Float64Array(n + 1);
  let cur = new Float64Array(n + 1);
  for (let j = 0; j <= n; j++) prev[j] = j;
  for (let i = 1; i <= a.length; i++) {
    cur[0] = i;
    let rowMin = i;
    const ca = a.charCodeAt(i - 1);
    const cal = al.charCodeAt(i - 1);
    for (let j = 1; j <= n; j++) {
      const cost = ca === b.charCodeAt(j - 1) ? 0 : cal === bl.charCodeAt(j - 1) ? 0.5 : 1;
      const v = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + cost);
      cur[j] = v;
      if (v < rowMin) rowMin = v;
    }
    if (rowMin > limit) return Infinity;
    [prev, cur] = [cur, prev];
  }
  return prev[n]!;
}

/**
 * The closest key that exists at the same level, if it is close enough to be a typo. Bounded: a
 * key longer than {@link MAX_GUESS_KEY_LENGTH}, or a candidate whose length differs by more than
 * the allowed distance, is not compared at all.
 */
const COUNTS = new Map<string, Map<string, number>>();
/** How often each (lower-cased) character occurs; memoised for the known keys. */
function charCounts(s: string, memoise = false): Map<string, number> {
  const memo = COUNTS.get(s);
  if (memo) return memo;
  const m = new Map<string, number>();
  for (const ch of s.toLowerCase()) m.set(ch, (m.get(ch) ?? 0) + 1);
  if (memoise && COUNTS.size < 1000) COUNTS.set(s, m);
  return m;
}

function countDistance(a: Map<string, number>, b: Map<string, number>): number {
  let d = 0;
  for (const [ch, n] of a) d += Math.abs(n - (b.get(ch) ?? 0));
  for (const [ch, n] of b) if (!a.has(ch)) d += n;
  return d;
}

/** Per character code below 128: scratch counts for {@link asciiCountDistance}, left all zero. */
const SCRATCH = new Int32Array(128);

/** Every code unit below 128. */
function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return false;
  return true;
}
const lowerAscii = (c: number): number => (c >= 0x41 && c <= 0x5a ? c | 0x20 : c);

/** {@link countDistance} for two ASCII strings, without building maps (one unknown key of 100,000s). */
function asciiCountDistance(a: string, b: string): number {
  for (let i = 0; i < a.length; i++) SCRATCH[lowerAscii(a.charCodeAt(i))]!++;
  for (let i = 0; i < b.length; i++) SCRATCH[lowerAscii(b.charCodeAt(i))]!--;
  let d = 0;
  for (let i = 0; i < a.length; i++) {
    const c = lowerAscii(a.charCodeAt(i));
    d += Math.abs(SCRATCH[c]!);
    SCRATCH[c] = 0;
  }
  for (let i = 0; i < b.length; i++) {
    const c = lowerAscii(b.charCodeAt(i));
    d += Math.abs(SCRATCH[c]!);
    SCRATCH[c] = 0;
  }
  return d;
}

const MASKS = new Map<string, number>();

/** One bit per (lower-cased) character present, characters folded onto 32 bits; memoised for the known keys. */
function letterMask(s: string, memoise = false): number {
  const memo = MASKS.get(s);
  if (memo !== undefined) return memo;
  let m = 0;
  for (let i = 0; i < s.length; i++) m |= 1 << (lowerAscii(s.charCodeAt(i)) & 31);
  if (memoise && MASKS.size < 1000) MASKS.set(s, m);
  return m;
}

function bitCount(n: number): number {
  let c = 0;
  for (let x = n >>> 0; x; x &= x - 1) c++;
  return c;
}

export function closestKey(key: string, candidates: readonly string[]): string | null {
  if (key.length > MAX_GUESS_KEY_LENGTH) return null;
  const limit = Math.max(2, Math.floor(key.length / 4));
  let best: string | null = null;
  let bestDist = Infinity;
  const ascii = isAscii(key);
  const mask = ascii ? letterMask(key) : 0;
  let counts: Map<string, number> | null = null;
  for (const c of candidates) {
    if (Math.abs(c.length - key.length) > limit) continue;
    const both = ascii && isAscii(c);
    // Each character present in one and not the other adds at least 1 to the count difference
    // below: the bits of the masks that differ are a cheaper lower bound of it.
    if (both && bitCount(mask ^ letterMask(c, true)) / 2 > limit) continue;
    // Each edit changes the letter counts by at most 2: half their difference is a lower bound.
    const lower = both ? asciiCountDistance(key, c) : countDistance((counts ??= charCounts(key)), charCounts(c, true));
    if (lower / 2 > limit) continue;
    const dist = editDistance(key, c, limit);
    if (dist < bestDist) {
      bestDist = dist;
      best = c;
    }
  }
  return best !== null && bestDist <= limit ? best : null;
}
