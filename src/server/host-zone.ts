/**
 * The time zone of the server host, as the server's Python sees it, for python-dateutil's reading
 * of a reply's `Date` header (7.0+ unknown tokens, src/imip/classify.ts):
 *
 * - `time.tzname`: a zone name in the header that is one of these becomes `tz.tzlocal()`, an aware
 *   datetime, where any other name without an offset (`EST`, `CET`) leaves it naive and the server
 *   fails on the message (python-dateutil 1.5..2.6.0 `parser.parse`). Python 2.7 on glibc takes
 *   the zone abbreviations in force on 1 January and 1 July (Modules/timemodule.c `inittimezone`);
 *   on macOS the C library's `tzname` after `tzset()`, the zone's standard and daylight names.
 *   Both come from `TZ`, else `/etc/localtime`; this reads the same place, the way glibc's
 *   `tzset` does: the zone file's closing rule (`CET-1CEST,M3.5.0,M10.5.0/3`), or a `TZ` that is
 *   such a rule itself (`EST5EDT`).
 * - `tz.tzlocal()`'s offset for a wall-clock time, and `datetime.now()`: the host's local time,
 *   which Node keeps from the same `TZ` or `/etc/localtime`.
 *
 * The toolkit takes this machine's zone for the server host's: `poll` and `diagnose` usually run
 * there. `TZ=Zone/Name imip ...` judges for a server elsewhere.
 */
import { readFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';

/** What python-dateutil asks of the host's zone (../imip/dateutil-parse.ts). */
export interface LocalZone {
  /** Python's `time.tzname`: the names dateutil takes as the host's own zone. */
  names: readonly [string, string];
  /** `tz.tzlocal().utcoffset(dt)` in seconds east of UTC, for a wall-clock time given as UTC fields (ms). */
  offsetAtWall(wallMs: number): number;
}

export interface HostZone extends LocalZone {
  /** Where the names came from, in words (`TZ=America/Los_Angeles`, `/etc/localtime`). */
  source: string;
  /** `datetime.now()` on the host: its wall-clock time, as UTC fields. */
  wallNow(now: Date): Date;
}

/** A host that runs in UTC, the assumption where no zone is known (and in the unit tests). */
export const UTC_HOST: HostZone = { names: ['UTC', 'UTC'], source: 'UTC', offsetAtWall: () => 0, wallNow: (now) => now };

const ZONEINFO = '/usr/share/zoneinfo';

/**
 * The standard and daylight names of a POSIX TZ rule (`CET-1CEST,M3.5.0,M10.5.0/3`, `<-03>3`,
 * `JST-9`), the standard one twice when the rule has no daylight time; null when `rule` is not one.
 */
export function ruleNames(rule: string): [string, string] | null {
  const m = /^(<[^>]+>|[A-Za-z]{3,})[-+]?\d{1,2}(?::\d{1,2}){0,2}(<[^>]+>|[A-Za-z]{3,})?/.exec(rule.trim());
  if (!m) return null;
  const name = (s: string): string => s.replace(/^<|>$/g, '');
  const std = name(m[1]!);
  return [std, m[2] ? name(m[2]) : std];
}

/**
 * The names of a TZif zone file (RFC 8536): its footer rule (version 2 and later), or else the
 * last standard and daylight abbreviations its types use. Null when `data` is not a zone file.
 */
export function zoneFileNames(data: Buffer): [string, string] | null {
  if (data.length < 44 || data.toString('latin1', 0, 4) !== 'TZif') return null;
  const version = data[4]!;
  if (version >= 0x32) {
    const end = data.length - 1;
    const start = data.lastIndexOf(10, end - 1);
    if (data[end] === 10 && start >= 0) {
      const names = ruleNames(data.toString('latin1', start + 1, end));
      if (names) return names;
    }
  }
  // Version 1 data: the types' abbreviations.
  const count = (at: number): number => data.readUInt32BE(20 + at * 4);
  const [isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt] = [count(0), count(1), count(2), count(3), count(4), count(5)];
  const types = 44 + timecnt * 5;
  const chars = types + typecnt * 6;
  if (chars + charcnt + leapcnt * 8 + isstdcnt + isutcnt > data.length) return null;
  let std: string | null = null;
  let dst: string | null = null;
  for (let i = 0; i < typecnt; i++) {
    const at = types + i * 6;
    const abbr = data.toString('latin1', chars + data[at + 5]!, data.indexOf(0, chars + data[at + 5]!));
    if (data[at + 4]) dst = abbr;
    else std = abbr;
  }
  return std ? [std, dst ?? std] : null;
}

/** Where glibc's `tzset` looks for `TZ` (unset: /etc/localtime), and what it finds there. */
function readZone(tz: string | undefined, read: (file: string) => Buffer): { names: [string, string]; source: string } | null {
  if (tz === '') return { names: ['UTC', 'UTC'], source: 'TZ is empty (UTC)' };
  const fileOf = (name: string): string => (isAbsolute(name) ? name : join(ZONEINFO, name));
  const tryFile = (file: string): [string, string] | null => {
    try {
      return zoneFileNames(read(file));
    } catch {
      return null;
    }
  };
  if (tz === undefined) {
    const names = tryFile('/etc/localtime');
    return names ? { names, source: '/etc/localtime' } : null;
  }
  const name = tz.startsWith(':') ? tz.slice(1) : tz;
  const fromFile = tryFile(fileOf(name));
  if (fromFile) return { names: fromFile, source: `TZ=${tz}` };
  const fromRule = tz.startsWith(':') ? null : ruleNames(tz);
  return fromRule ? { names: fromRule, source: `TZ=${tz}` } : null;
}

/** The wall-clock fields of `d` in this process's local time zone, as a UTC date. */
function localWall(d: Date): Date {
  return new Date(d.getTime() - d.getTimezoneOffset() * 60000);
}

let memo: HostZone | undefined;

/**
 * This machine's zone, read once per process ({@link UTC_HOST} when neither `TZ` nor
 * /etc/localtime says, as Python's C library then runs in UTC too).
 */
export function thisMachineZone(env: NodeJS.ProcessEnv = process.env, read: (file: string) => Buffer = readFileSync): HostZone {
  if (env === process.env && memo) return memo;
  const found = readZone(env['TZ'], read);
  const zone: HostZone = !found
    ? UTC_HOST
    : {
        names: found.names,
        source: found.source,
        offsetAtWall(wallMs) {
          // The instant whose local wall-clock time this is (the later of two in a repeated hour, as
          // the Date constructor picks), and the offset there.
          const w = new Date(wallMs);
          const local = new Date(0);
          local.setFullYear(w.getUTCFullYear(), w.getUTCMonth(), w.getUTCDate());
          local.setHours(w.getUTCHours(), w.getUTCMinutes(), w.getUTCSeconds(), 0);
          return -local.getTimezoneOffset() * 60;
        },
        wallNow: localWall,
      };
  if (env === process.env) memo = zone;
  return zone;
}
