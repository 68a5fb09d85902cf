/** Paths in the server's configuration, resolved as the server resolves them. */
import { isAbsolute, join, resolve } from 'node:path';
import { defaultsFor } from '../server/keys.js';
import type { ServerVersion } from '../server/release.js';
import type { PlistDict } from './plist-xml.js';

/**
 * `twistedcaldav/config.py` fullServerPath (3.0+): a path starting with "/" or "." is taken as
 * written, anything else is joined to its base. 2.x has no relative roots: taken as written.
 */
export function fullServerPath(base: string, path: string, v: Pick<ServerVersion, 'major'>): string {
  if (!path) return base;
  if (v.major < 3 || path.startsWith('/') || path.startsWith('.')) return isAbsolute(path) ? path : resolve(path);
  return join(base, path);
}

/** ServerRoot, and DataRoot under it, as the release reads them from the effective configuration. */
export function serverRoots(eff: PlistDict, v: ServerVersion): { serverRoot: string; dataRoot: string } {
  const d = defaultsFor(v);
  const text = (x: unknown): string => (typeof x === 'string' ? x : '');
  const serverRoot = text(eff.ServerRoot) || String(d.ServerRoot);
  return { serverRoot, dataRoot: fullServerPath(serverRoot, text(eff.DataRoot) || String(d.DataRoot), v) };
}
