/**
 * Calendars changed line by line, for the tests that compare a port with the library the server
 * ran (test/oracle/pycalendar-validate.test.ts, vobject-serialize.test.ts): each mutant takes one
 * of `calendars` and makes 1 to `maxEdits` edits inside its VCALENDAR: a line of `lines` added
 * (twice as likely), a block of `blocks` added, a line removed, or a property line repeated.
 * The same seed gives the same mutants on every run.
 */
import { rng } from './python.js';

export interface MutantOptions {
  seed: number;
  count: number;
  maxEdits: number;
  lines: readonly string[];
  blocks: ReadonlyArray<readonly string[]>;
}

/** `calendars` followed by `count` mutants of them, lines joined with CRLF. */
export function lineMutants(calendars: readonly string[], o: MutantOptions): string[] {
  const r = rng(o.seed);
  /** A line index inside the calendar (after BEGIN:VCALENDAR, before its END). */
  const inside = (ls: string[]): number => {
    const end = ls.lastIndexOf('END:VCALENDAR');
    return 1 + r.int(Math.max(1, (end < 1 ? ls.length : end) - 1));
  };
  const mutations: Array<(ls: string[]) => void> = [
    (ls) => void ls.splice(inside(ls), 0, r.pick(o.lines)),
    (ls) => void ls.splice(inside(ls), 0, r.pick(o.lines)),
    (ls) => void ls.splice(inside(ls), 0, ...r.pick(o.blocks)),
    (ls) => void ls.splice(inside(ls), 1),
    (ls) => {
      const i = inside(ls);
      if (ls[i] && !/^(BEGIN|END):/.test(ls[i]!)) ls.splice(i, 0, ls[i]!);
    },
  ];
  const cases = [...calendars];
  for (let i = 0; i < o.count; i++) {
    const ls = r.pick(calendars).split(/\r?\n/);
    for (let k = 0, n = 1 + r.int(o.maxEdits); k < n; k++) r.pick(mutations)(ls);
    cases.push(ls.join('\r\n'));
  }
  return cases;
}
