/**
 * chalk, loaded only when colour is on (src/report/style.ts imports this module lazily). The
 * build bundles chalk into this file, as it does commander: chalk is an ES module, and loading it
 * from node_modules started Node's ES module loader: 50 million instructions, about 25 ms, of
 * every coloured run (`imip check-config` on a terminal).
 */
import { Chalk, type ChalkInstance } from 'chalk';

/** A chalk with 16 colours, whatever chalk itself detects (style.ts decides whether colour is on). */
export function newChalk(): ChalkInstance {
  return new Chalk({ level: 1 });
}
