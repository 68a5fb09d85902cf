/** Writing caldavd.plist fixtures for tests: a valid base per release line, then one change. */
import { mkdtempSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'plist';

export type Obj = Record<string, unknown>;

export function tempDir(prefix = 'imip-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function writePlist(dir: string, name: string, value: Obj, mode = 0o600): string {
  const path = join(dir, name);
  writeFileSync(path, build(value as never));
  chmodSync(path, mode);
  return path;
}

/** A config that is clean (no errors, no warnings) on the given release. */
export function baseConfig(version: string): Obj {
  const major = Number(version.split('.')[0]);
  const imip: Obj = {
    Enabled: true,
    Sending: {
      Server: 'smtp.example.test',
      Port: 587,
      UseSSL: true,
      Address: 'Calendar <calendar@example.test>',
      Username: 'calendar@example.test',
      Password: 'send-secret-1',
    },
    Receiving: {
      Server: 'imap.example.test',
      Port: 993,
      UseSSL: true,
      Type: 'imap',
      Username: 'calendar@example.test',
      Password: 'recv-secret-2',
      PollingSeconds: 30,
    },
    AddressPatterns: ['mailto:.*'],
  };
  if (major <= 4) {
    imip.Username = 'caldav-gateway';
    imip.Password = 'gateway-secret-3';
  }
  return { ServerHostName: 'cal.example.test', Scheduling: { iMIP: imip } };
}

/** Set (or with `undefined`, delete) a dotted path in a deep copy. */
export function withChange(obj: Obj, path: string, value: unknown): Obj {
  const copy = structuredClone(obj);
  const parts = path.split('.');
  let node: Obj = copy;
  for (const p of parts.slice(0, -1)) node = (node[p] ??= {}) as Obj;
  const last = parts[parts.length - 1]!;
  if (value === undefined) delete node[last];
  else node[last] = value;
  return copy;
}
