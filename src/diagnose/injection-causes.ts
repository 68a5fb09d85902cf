/**
 * Why replies are not injected, per release line:
 *
 *   2.x      the gateway POSTs replies to /inbox/ as the directory user Scheduling.iMIP.Username
 *            (default com.apple.calendarserver); the server writes "iMIP injection principal not
 *            found: NAME" when its directory has no such `users` record (twistedcaldav/mail.py
 *            `IMIPInboxResource.accessControlList`).
 *   3.x–4.x  a shared secret in a header (calendarserver/provision/root.py
 *            `RootResource.locateChild`); no directory user, no such log line.
 *   5.0+     in-process (imip/inbound.py `injectMessage`); no HTTP, no injection principal.
 *
 * Inputs: the effective config, what the log scan found, the directory file (when it could be
 * read) and the injection probe. Output: `injection.*` findings, most telling first.
 */
import type { ImipSettings } from '../config/settings.js';
import { INJECTION_TEXT, LINES, type ServerVersion } from '../server/release.js';
import { DEFAULT_INJECTION_USER } from '../checks/injection.js';
import type { DiagnoseFinding } from './findings.js';
import { findUser, lookupCommand, readyRecord, userCount, type DirectoryFile, type DirectoryRef } from './directory.js';
import { topValues, type LogEntry } from './log-scan.js';

export interface InjectionInputs {
  settings: ImipSettings;
  version: ServerVersion;
  /** What the log scan found for `log.injection-principal-not-found` (undefined: no log, or not seen). */
  principalLog?: LogEntry;
  /** Which directory the config names (null without a config). */
  directoryRef: DirectoryRef | null;
  /** The XML accounts file when it was read. */
  directory: DirectoryFile | null;
}

export interface InjectionCauses {
  findings: DiagnoseFinding[];
  /** Config findings to drop because the directory settles them. */
  settled: Set<string>;
  /** Notes for the Injection status line. */
  notes: string[];
}

const f = (id: string, severity: DiagnoseFinding['severity'], source: string, path: string, message: string, evidence: Record<string, unknown>, fix: string): DiagnoseFinding => ({
  id,
  severity,
  area: 'injection',
  source,
  path,
  message,
  evidence,
  fix,
});

export function injectionCauses(i: InjectionInputs): InjectionCauses {
  const out: InjectionCauses = { findings: [], settled: new Set(), notes: [] };
  const { version } = i;
  const names = i.principalLog ? topValues(i.principalLog, 'name', 20) : [];
  const configured = i.settings.username ?? null;
  const injectionUser = version.line === '2.x' ? configured ?? DEFAULT_INJECTION_USER : null;

  // ---- the log's "iMIP injection principal not found: NAME" ----------------------------------
  if (i.principalLog && version.line !== '2.x') {
    const e = i.principalLog;
    out.findings.push(
      f(
        'injection.not-this-version',
        'error',
        'log',
        'log',
        `The log holds "iMIP injection principal not found" ${e.count} time${e.count === 1 ? '' : 's'} (last ${e.last.text || `line ${e.last.line}`}), a text only 2.x writes, but the config is judged as ${version.text} (${version.line}), which ${INJECTION_TEXT[LINES[version.line].injection]} and has no injection principal: the log is stale, comes from another server, or --server-version is wrong.`,
        { log: e.last.file, line: e.last.line, count: e.count, example: e.example, serverVersion: version.text, versionSource: version.source },
        version.source === 'flag'
          ? 'Check which server wrote this log (and when): if it is a 2.x server, run diagnose with that server\'s config and --server-version 2.5; otherwise look at a current log.'
          : `The release was ${version.source === 'inferred' ? 'inferred' : 'assumed'} (${version.reason}); if this server is 2.x, run again with --server-version 2.5.`,
      ),
    );
  }
  if (i.principalLog && version.line === '2.x') {
    const e = i.principalLog;
    const latest = names[0]?.value ?? '';
    const others = names.slice(1).map((n) => n.value);
    const matches = configured !== null && latest === (configured || '');
    const ev = { loggedName: latest, configuredUsername: configured, count: e.count, first: e.first.text || null, last: e.last.text || null, log: e.last.file, line: e.last.line, example: e.example, ...(others.length ? { otherNames: others } : {}) };
    let message: string;
    let fix: string;
    if (latest === '') {
      message = `The server looked for an injection user with an empty name ("iMIP injection principal not found: ", ${e.count}×): it runs with Scheduling.iMIP.Username empty.`;
      fix = `Set Scheduling.iMIP.Username (for example ${DEFAULT_INJECTION_USER}) to a user of the server's directory, and Password to its password; restart the server.`;
    } else if (matches) {
      message = `The server looked for the user "${latest}" in its directory and did not find it (${e.count}×, last ${e.last.text || `line ${e.last.line}`}); that is the configured Username, so the directory the server reads has no \`users\` record "${latest}" and every reply is refused with 403.`;
      fix = `Create the user "${latest}" in the server's directory with the password in Scheduling.iMIP.Password (or set Username/Password to an existing user), then restart the server.`;
    } else {
      message = `The server looked for the user "${latest}" (${e.count}×, last ${e.last.text || `line ${e.last.line}`}), but this config's Username is "${configured ?? ''}": the server runs with another config, or was not restarted after Username changed.`;
      fix = `Restart the calendar server so it reads this config (check its -f option and Includes); if "${latest}" is the intended user, set Scheduling.iMIP.Username to it.`;
    }
    const dirNote = directoryNote(i, latest);
    if (dirNote) message += ` ${dirNote}`;
    out.findings.push(f('injection.principal-not-found', 'error', 'log', 'Scheduling.iMIP.Username', message, ev, fix));
  }

  // ---- the directory --------------------------------------------------------------------------
  if (version.line === '2.x' && injectionUser !== null) {
    const name = injectionUser || DEFAULT_INJECTION_USER;
    if (i.directory) {
      const { user, otherType } = findUser(i.directory, name);
      if (user) {
        out.settled.add('injection.username-default');
        out.notes.push(`the directory ${i.directory.path} has the user "${name}"`);
      } else {
        const ready = readyRecord(i.directory.format, name);
        out.findings.push(
          f(
            'injection.user-not-in-directory',
            'error',
            'directory',
            'Scheduling.iMIP.Username',
            `The accounts file ${i.directory.path} (${userCount(i.directory)} users) has no user "${name}"${otherType ? ` (there is a ${otherType.type} record with that name, but the server looks in \`users\` only)` : ''}: the gateway injects replies as "${name}", so the server answers 403 and logs "iMIP injection principal not found: ${name}".`,
            { directory: i.directory.path, format: i.directory.format, users: userCount(i.directory), username: name, record: ready.record, plistKeys: ready.plistKeys },
            `Add this record to ${i.directory.path}:\n${indent(ready.record)}\nand set the matching keys under Scheduling → iMIP in caldavd.plist:\n${indent(ready.plistKeys)}\nthen restart the server (the password shown is freshly generated; use the same one in both places).`,
          ),
        );
      }
    } else if (i.directoryRef && (i.directoryRef.kind === 'opendirectory' || i.directoryRef.kind === 'ldap')) {
      const cmd = lookupCommand(i.directoryRef, name);
      out.findings.push(
        f(
          'injection.directory-offline',
          'info',
          'directory',
          'DirectoryService',
          `The server's directory is ${i.directoryRef.kind === 'ldap' ? 'LDAP' : 'Open Directory'} (${i.directoryRef.type}), which cannot be read offline: whether the user "${name}" exists is checked on that system.`,
          { type: i.directoryRef.type, username: name, command: cmd },
          `Run: ${cmd}\nIf it finds nothing, create the user "${name}" there with the password in Scheduling.iMIP.Password.`,
        ),
      );
    }
  } else if (version.line === '3.x-4.x') {
    out.notes.push('3.x–4.x authenticate the gateway with the shared secret (Scheduling.iMIP.Password in the x-calendarserver-internal header): no directory user is needed');
  }
  return out;
}

/** What the directory file says about a name the log named, in one sentence. */
function directoryNote(i: InjectionInputs, name: string): string | null {
  if (!name) return null;
  if (i.directory) {
    const { user, otherType } = findUser(i.directory, name);
    if (user) {
      return `Yet ${i.directory.path} has that user: the server reads another directory (check DirectoryService), or was not restarted after the user was added.`;
    }
    return `${i.directory.path} has no such user either${otherType ? ` (only a ${otherType.type} record)` : ''}.`;
  }
  if (i.directoryRef && (i.directoryRef.kind === 'opendirectory' || i.directoryRef.kind === 'ldap')) {
    return `Check it on the directory: ${lookupCommand(i.directoryRef, name)}`;
  }
  return null;
}

function indent(s: string): string {
  return s
    .split('\n')
    .map((l) => `    ${l}`)
    .join('\n');
}
