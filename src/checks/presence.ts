/** Is iMIP switched on, and is its dict where the server looks for it (`Scheduling.iMIP` in `DEFAULT_CONFIG`)? */
import { getPath } from '../config/load.js';
import { isDict } from '../config/plist-file.js';
import type { PlistValue } from '../config/plist-xml.js';
import { ALL_LINES, cappedList, finding, IMIP, keysOf, LISTED_PER_ID, valueEvidence, type ConfigRule } from './rule.js';

export const disabled: ConfigRule = {
  id: 'imip.disabled',
  severity: 'warning',
  lines: ALL_LINES,
  summary: 'Scheduling.iMIP.Enabled is false or absent: no invitation is mailed and no reply is read.',
  check(ctx) {
    if (ctx.settings.enabled) return [];
    const v = getPath(ctx.config.merged, `${IMIP}.Enabled`);
    return [
      finding(
        this,
        `${IMIP}.Enabled`,
        v === undefined ? 'Scheduling.iMIP.Enabled is not set, and it defaults to false: iMIP is off' : 'Scheduling.iMIP.Enabled is false: iMIP is off',
        'Set <key>Enabled</key><true/> inside Scheduling → iMIP and restart the server.',
        valueEvidence(ctx, `${IMIP}.Enabled`),
      ),
    ];
  },
};

/** Every place an `iMIP` key appears other than Scheduling.iMIP (paths are built only where the walk goes on). */
function misplacedPaths(node: PlistValue, path: string, out: string[], depth = 0): void {
  if (!isDict(node) || depth > 8) return;
  for (const k of keysOf(node)) {
    const v = node[k]!;
    if (k !== 'iMIP' && !isDict(v)) continue;
    const p = path ? `${path}.${k}` : k;
    if (k === 'iMIP' && p !== IMIP) out.push(p);
    misplacedPaths(v, p, out, depth + 1);
  }
}

export const misplaced: ConfigRule = {
  id: 'imip.misplaced',
  severity: 'error',
  lines: ALL_LINES,
  summary: 'An iMIP dict outside Scheduling (as the FAQ outline suggests): the server never reads it.',
  check(ctx) {
    const paths: string[] = [];
    misplacedPaths(ctx.config.merged, '', paths);
    const fix = 'Move the iMIP dict inside the Scheduling dict (Scheduling → iMIP), merging it with any iMIP dict already there.';
    return paths.map((p, i) => {
      // Past the listed ones only counted (checks/index.ts): no message or evidence built for them.
      if (i >= LISTED_PER_ID) return finding(this, p, '', fix, {});
      const keys = Object.keys((getPath(ctx.config.merged, p) as object) ?? {});
      return finding(
        this,
        p,
        p === 'iMIP'
          ? 'iMIP is a top-level key: the server logs "Ignoring unknown configuration option: \'iMIP\'" and drops it; it reads only Scheduling → iMIP'
          : `an iMIP dict at ${p} is never read; the server reads only Scheduling → iMIP`,
        fix,
        { keys: cappedList(keys), source: valueEvidence(ctx, p, 'keys').source, ...(keys.length > 100 ? { keyCount: keys.length } : {}) },
      );
    });
  },
};

export const presenceRules: ConfigRule[] = [disabled, misplaced];
