/**
 * The host names the server derives from the machine when the config leaves them empty:
 * `ServerHostName` is Python's `socket.getfqdn()` (not the short host name), falling back to
 * "localhost" (CalendarServer-2.5 twistedcaldav/config.py, CalendarServer-4.3.2..9.2
 * twistedcaldav/stdconfig.py `_updateHostName`), and include paths expand `$` to `getfqdn()` and
 * `#` to `gethostbyname(getfqdn())` (stdconfig.py `_expandPath`, 3.2+).
 */
import { readFileSync } from 'node:fs';

/**
 * node:os, loaded when a host name is needed: most configs name `ServerHostName`, and without
 * this every command that reads a config would load it at start (about 0.25 ms).
 */
const os = (): typeof import('node:os') => process.getBuiltinModule('node:os');

function hostsFile(): string[][] {
  try {
    return readFileSync('/etc/hosts', 'latin1')
      .split('\n')
      .map((l) => l.replace(/#.*/, '').trim().split(/\s+/))
      .filter((f) => f.length >= 2);
  } catch {
    return [];
  }
}

/**
 * Python's `socket.getfqdn()`: the host name, else the first name with a dot among the names the
 * resolver gives for it. Read from /etc/hosts, which is where the resolver finds it on a server
 * (the synchronous part of the lookup); a host name that already has a dot is returned as is.
 */
export function getfqdn(): string {
  const name = os().hostname();
  if (name.includes('.')) return name;
  for (const fields of hostsFile()) {
    const names = fields.slice(1);
    if (!names.includes(name)) continue;
    const dotted = names.find((n) => n.includes('.'));
    if (dotted) return dotted;
  }
  return name || 'localhost';
}

/** `gethostbyname(getfqdn())`: from /etc/hosts when listed there, else the first non-internal IPv4. */
export function hostAddress(): string {
  const fqdn = getfqdn();
  for (const fields of hostsFile()) {
    if (fields.slice(1).includes(fqdn) && /^\d+\.\d+\.\d+\.\d+$/.test(fields[0]!)) return fields[0]!;
  }
  for (const list of Object.values(os().networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return '127.0.0.1';
}
