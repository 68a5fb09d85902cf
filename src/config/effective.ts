/**
 * From loaded plists to what the server will use: the release to judge by (given or inferred),
 * and the typed iMIP settings (defaults and load-time hooks of `twistedcaldav/stdconfig.py`; 2.x
 * `twistedcaldav/config.py`).
 */
import { existsSync } from 'node:fs';
import { CannotRunError } from '../report/exit.js';
import { atLeast, candidateConfigFiles, defaultServerVersion, lineOf, LINES, type ServerVersion } from '../server/release.js';
import type { ImipSettings, MailboxProtocol } from './settings.js';
import { getPath, type LoadedConfig } from './load.js';
import type { PlistFile } from './plist-file.js';
import { isDict } from './plist-file.js';
import { getfqdn } from './host.js';
import { fullServerPath, serverRoots } from './paths.js';
import { join } from 'node:path';
import type { PlistDict, PlistValue } from './plist-xml.js';

/** `--config`, then `$IMIP_CONFIG`, then the platform's default locations (`DEFAULT_CONFIG_FILE` of each release). */
export function locateConfig(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): { path: string; how: string } {
  if (flag) return { path: flag, how: '--config' };
  if (env.IMIP_CONFIG) return { path: env.IMIP_CONFIG, how: '$IMIP_CONFIG' };
  const candidates = candidateConfigFiles();
  for (const c of candidates) if (existsSync(c)) return { path: c, how: 'default location' };
  throw new CannotRunError(
    `no config file: give --config PATH or set IMIP_CONFIG (looked in ${candidates.join(', ')})`,
  );
}

function imipOf(v: PlistDict): PlistDict | undefined {
  const s = v.Scheduling;
  if (!isDict(s)) return undefined;
  return isDict(s.iMIP) ? s.iMIP : undefined;
}

/** Guess the release from keys that exist only in some releases; otherwise the newest line. */
export function inferServerVersion(files: PlistFile[]): ServerVersion {
  const has = (pred: (v: PlistDict) => boolean): PlistFile | undefined => files.find((f) => pred(f.value));
  const inferred = (major: number, minor: number, reason: string): ServerVersion => ({
    major,
    minor,
    text: `${major}.${minor}`,
    line: lineOf(major),
    source: 'inferred',
    reason,
  });
  const b = has((v) => {
    const i = imipOf(v);
    return !!i && (i.GUID !== undefined || i.Header !== undefined);
  });
  if (b) {
    return inferred(4, 3, `inferred 3.x-4.x (judging as 4.3) from Scheduling.iMIP.GUID/Header in ${b.path}, keys only 3.x-4.x read`);
  }
  const imp = has((v) => v.ImportConfig !== undefined);
  if (imp) return inferred(9, 2, `inferred 5.0+ (judging as 9.2) from ImportConfig in ${imp.path}, a key of 6.0 and later`);
  return defaultServerVersion();
}

const num = (v: PlistValue | undefined, fallback: number): number =>
  typeof v === 'number' ? v : typeof v === 'string' && /^\s*\d+\s*$/.test(v) ? Number(v) : fallback;
const str = (v: PlistValue | undefined, fallback = ''): string => (typeof v === 'string' ? v : fallback);
/** Python truthiness: a non-empty string is true, even "false". */
const truthy = (v: PlistValue | undefined, fallback: boolean): boolean =>
  v === undefined ? fallback : typeof v === 'string' ? v.length > 0 : typeof v === 'number' ? v !== 0 : Boolean(v);

/** `pop*` is POP3, `imap*` IMAP; anything else is IMAP on 5.0+ (`MailRetriever.__init__`) and nothing before (`MailGatewayServiceMaker.makeService`). */
export function receivingProtocol(type: string, version: ServerVersion): MailboxProtocol | null {
  const t = type.toLowerCase();
  if (t.startsWith('pop')) return 'pop3';
  if (t.startsWith('imap')) return 'imap';
  return LINES[version.line].invalidReceivingType === 'treated-as-imap' ? 'imap' : null;
}

export function toSettings(cfg: LoadedConfig, version: ServerVersion): ImipSettings {
  const e = cfg.effective;
  const g = (p: string): PlistValue | undefined => getPath(e, `Scheduling.iMIP.${p}`);
  const patterns = g('AddressPatterns');
  const type = str(g('Receiving.Type'));
  const gateway = version.line !== '5.0+';
  return {
    enabled: truthy(g('Enabled'), false),
    sending: {
      server: str(g('Sending.Server')),
      port: num(g('Sending.Port'), 587),
      useSSL: truthy(g('Sending.UseSSL'), true),
      address: str(g('Sending.Address')),
      username: str(g('Sending.Username')),
      password: str(g('Sending.Password')),
      suppressionDays: g('Sending.SuppressionDays') === undefined ? null : num(g('Sending.SuppressionDays'), 7),
    },
    receiving: {
      server: str(g('Receiving.Server')),
      port: num(g('Receiving.Port'), 0),
      useSSL: truthy(g('Receiving.UseSSL'), true),
      type,
      protocol: receivingProtocol(type, version),
      username: str(g('Receiving.Username')),
      password: str(g('Receiving.Password')),
      pollingSeconds: num(g('Receiving.PollingSeconds'), 30),
    },
    addressPatterns: Array.isArray(patterns) ? patterns.filter((p): p is string => typeof p === 'string') : typeof patterns === 'string' ? [patterns] : [],
    mailGatewayServer: gateway ? str(g('MailGatewayServer'), 'localhost') : null,
    mailGatewayPort: gateway ? num(g('MailGatewayPort'), 62310) : null,
    username: gateway ? str(g('Username')) : null,
    password: gateway ? str(g('Password')) : null,
    header: version.line === '3.x-4.x' ? str(g('Header'), 'x-calendarserver-internal') : null,
    guid: version.line === '3.x-4.x' ? str(g('GUID')) : null,
    // Empty: the server fills it with socket.getfqdn() (stdconfig.py `_updateHostName`).
    serverHostName: str(e.ServerHostName) || getfqdn(),
    httpPort: num(e.HTTPPort, 0),
    sslPort: num(e.SSLPort, 0),
    enableSSL: truthy(e.EnableSSL, false),
    // stdconfig.py: False in 3.1–5.1, True from 5.2 (CalendarServer-5.1/5.2); twistedcaldav/ical.py tests it as Python does.
    timezonesByReference: atLeast(version, 3, 1) ? truthy(e.EnableTimezonesByReference, atLeast(version, 5, 2)) : null,
    // `tuple(configDict.SupportedComponents)`: a list as it is, a string letter by letter (CalendarServer-6.0..9.2 stdconfig.py).
    supportedComponents: atLeast(version, 6) ? pyTuple(e.SupportedComponents) : null,
    zoneDatabase: atLeast(version, 6) ? zoneDatabaseOf(e, version) : null,
  };
}

/** The effective iMIP values for `--json`, every password replaced by "(set)" or "(empty)". */
export function redactedSettings(s: ImipSettings): Record<string, unknown> {
  const secret = (v: string | null): string | null => (v === null ? null : v ? '(set)' : '(empty)');
  return {
    Enabled: s.enabled,
    Sending: {
      Server: s.sending.server,
      Port: s.sending.port,
      UseSSL: s.sending.useSSL,
      Address: s.sending.address,
      Username: s.sending.username,
      Password: secret(s.sending.password),
      ...(s.sending.suppressionDays !== null ? { SuppressionDays: s.sending.suppressionDays } : {}),
    },
    Receiving: {
      Server: s.receiving.server,
      Port: s.receiving.port,
      UseSSL: s.receiving.useSSL,
      Type: s.receiving.type,
      Protocol: s.receiving.protocol,
      Username: s.receiving.username,
      Password: secret(s.receiving.password),
      PollingSeconds: s.receiving.pollingSeconds,
    },
    AddressPatterns: s.addressPatterns,
    ...(s.mailGatewayServer !== null
      ? { MailGatewayServer: s.mailGatewayServer, MailGatewayPort: s.mailGatewayPort, Username: s.username, Password: secret(s.password) }
      : {}),
    ...(s.header !== null ? { Header: s.header, GUID: s.guid } : {}),
  };
}

/**
 * CalendarServer-6.0..9.2 twistedcaldav/timezones.py `TimezoneCache.getDBPath`; BasePath is
 * relative to DataRoot (stdconfig.py RELATIVE_PATHS), DataRoot to ServerRoot. The package's
 * directory (the zones the release ships) is null.
 */
function zoneDatabaseOf(e: PlistDict, version: ServerVersion): string | null {
  const { dataRoot } = serverRoots(e, version);
  const service = isDict(e.TimezoneService) ? e.TimezoneService : {};
  // TimezoneService.Enabled is True by default (6.0..9.2 stdconfig.py).
  const basePath = str(service.BasePath);
  if (truthy(service.Enabled, true) && basePath) return fullServerPath(dataRoot, basePath, version);
  if (truthy(e.UsePackageTimezones, false) || !existsSync(dataRoot)) return null;
  return join(dataRoot, 'zoneinfo');
}

/** Python's `tuple()` of a plist value, as far as component names go: strings kept, a string split into letters. */
function pyTuple(v: PlistValue | undefined): string[] {
  if (v === undefined) return ['VEVENT', 'VTODO'];
  if (typeof v === 'string') return [...v];
  if (Array.isArray(v)) return v.filter((x): x is string => typeof x === 'string');
  // A dict iterates over its keys.
  if (isDict(v)) return Object.keys(v);
  return [];
}
