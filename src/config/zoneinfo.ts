/**
 * The time zones in a server's own zone database (6.0+; where it is: settings.ts `zoneDatabase`):
 * every `<TZID>.ics` under the directory, the name its path without `.ics`, as pycalendar's
 * `TimezoneDatabase.cacheTimezone` finds `<dbpath>/<TZID>.ics` and then compares the zone's TZID
 * exactly (apple/ccs-pycalendar timezonedb.py). Read once per directory, on first use.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

const read = new Map<string, ReadonlySet<string> | null>();

/** The zone names, or null when the directory cannot be read or holds none. */
export function zoneNames(dir: string): ReadonlySet<string> | null {
  if (read.has(dir)) return read.get(dir)!;
  const names = new Set<string>();
  // Bounded: a zoneinfo directory holds some 750 files in a few folders.
  const walk = (rel: string, depth: number): void => {
    if (depth > 4 || names.size > 20_000) return;
    for (const entry of readdirSync(join(dir, rel), { withFileTypes: true })) {
      if (entry.name.startsWith('.')) continue;
      const path = rel ? `${rel}/${entry.name}` : entry.name;
      if (entry.isDirectory()) walk(path, depth + 1);
      else if (entry.name.endsWith('.ics')) names.add(path.slice(0, -'.ics'.length));
    }
  };
  let result: ReadonlySet<string> | null;
  try {
    walk('', 0);
    result = names.size ? names : null;
  } catch {
    result = null;
  }
  read.set(dir, result);
  return result;
}
