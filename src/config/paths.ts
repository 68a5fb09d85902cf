/** Paths in the server's configuration, resolved as the server resolves them. */
import { isAbsolute, join, resolve } from 'node:path';
import type { ServerVersion } from '../server/release.js';

/**
 * `twistedcaldav/config.py` fullServerPath (3.0+): a path starting with "/" or "." is taken as
 * written, anything else is joined to its base. 2.x has no relative roots: taken as written.
 */
export function fullServerPath(base: string, path: string, v: Pick<ServerVersion, 'major'>): string {
  if (!path) return base;
  if (v.major < 3 || path.startsWith('/') || path.startsWith('.')) return isAbsolute(path) ? path : resolve(path);
  return join(base, path);
}
