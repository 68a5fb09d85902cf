/**
 * Finding ids raised outside the config rules (probes, message checks, diagnose), with their
 * usual severity and a one-line summary. With the config rules' own metadata this is the list
 * the man page and `--list-checks` are generated from; a test keeps it in step with the code.
 */
import type { RuleMeta } from '../checks/rule.js';

const ALL = ['2.x', '3.x-4.x', '5.0+'] as const;

export const FINDING_CATALOG: RuleMeta[] = [];

export function catalogIds(): Set<string> {
  return new Set(FINDING_CATALOG.map((m) => m.id));
}

export { ALL as ALL_RELEASE_LINES };
