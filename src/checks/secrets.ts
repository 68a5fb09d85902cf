/** Where passwords live: file permissions, and the macOS System keychain (`_updateScheduling` → `twistedcaldav/util.py` `getPasswordFromKeychain`). */
import { isDict } from '../config/plist-file.js';
import type { PlistValue } from '../config/plist-xml.js';
import type { Finding } from '../report/finding.js';
import { ALL_LINES, cappedList, finding, IMIP, keysOf, type ConfigRule } from './rule.js';

function passwordKeys(node: PlistValue | undefined, path: string, out: string[]): void {
  if (!isDict(node)) return;
  for (const k of keysOf(node)) {
    const v = node[k]!;
    const password = k.endsWith('Password') && typeof v === 'string' && v !== '';
    if (!password && !isDict(v)) continue;
    const p = path ? `${path}.${k}` : k;
    if (password) out.push(p);
    else passwordKeys(v, p, out);
  }
}

export const fileReadable: ConfigRule = {
  id: 'secrets.file-readable',
  severity: 'warning',
  lines: ALL_LINES,
  summary: 'A config file that holds a password is readable by group or others.',
  check(ctx) {
    const out: Finding[] = [];
    for (const pf of ctx.config.parsed) {
      const keys: string[] = [];
      passwordKeys(pf.value, '', keys);
      if (!keys.length || (pf.mode & 0o044) === 0) continue;
      const mode = (pf.mode & 0o777).toString(8).padStart(3, '0');
      out.push(
        finding(
          this,
          keys[0]!,
          `${pf.path} holds ${keys.length === 1 ? 'a password' : `${keys.length} passwords`} (${keys.slice(0, 10).join(', ')}${keys.length > 10 ? ', …' : ''}) and is readable by ${pf.mode & 0o004 ? 'every user' : 'its group'} (mode ${mode})`,
          `chmod 600 ${pf.path} (or 640 with the group the server runs as).`,
          { file: pf.path, mode, keys: cappedList(keys), ...(keys.length > 100 ? { keyCount: keys.length } : {}) },
        ),
      );
    }
    return out;
  },
};

export const keychain: ConfigRule = {
  id: 'secrets.keychain',
  severity: 'info',
  lines: ALL_LINES,
  summary: 'macOS: which passwords the server will take from the System keychain instead of the plist (never read by imip).',
  check(ctx) {
    if (ctx.platform !== 'darwin' || !ctx.settings.enabled) return [];
    const out: Finding[] = [];
    const s = ctx.settings;
    const skipDirections = ctx.version.line === '3.x-4.x' && !!s.password;
    if (s.password !== null) {
      const account = s.username || 'com.apple.calendarserver';
      if (ctx.version.line === '2.x' || !s.password) {
        out.push(
          finding(this, `${IMIP}.Password`, `the injection password is taken from the System keychain (account "${account}") when it is there${ctx.version.line === '2.x' ? ', overriding the plist' : ''}`, `Check it with: security find-generic-password -a "${account}" /Library/Keychains/System.keychain`, { account }),
        );
      }
    }
    for (const dir of ['Sending', 'Receiving'] as const) {
      const d = dir === 'Sending' ? s.sending : s.receiving;
      if (!d.username || skipDirections) continue;
      if (ctx.features.keychainOnlyIfEmpty && d.password) continue;
      const account = `${d.username}@${d.server}`;
      out.push(
        finding(
          this,
          `${IMIP}.${dir}.Password`,
          ctx.features.keychainOnlyIfEmpty
            ? `${dir}.Password is empty, so the server takes it from the System keychain (account "${account}") if present`
            : `the server takes ${dir}.Password from the System keychain (account "${account}") when present, overriding the plist`,
          `Check it with: security find-generic-password -a "${account}" /Library/Keychains/System.keychain`,
          { account },
        ),
      );
    }
    if (skipDirections) {
      out.push(
        finding(this, `${IMIP}.Password`, '3.x-4.x skip the Sending/Receiving keychain lookups whenever Scheduling.iMIP.Password is set in the plist', 'Put the Sending and Receiving passwords in the plist.', {}),
      );
    }
    return out;
  },
};

export const secretRules: ConfigRule[] = [fileReadable, keychain];
