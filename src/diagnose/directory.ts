/**
 * The server's directory, as far as the injection user is concerned (2.x looks the injection user
 * up with `principalForShortName("users", Username)`: twistedcaldav/mail.py
 * `IMIPInboxResource.accessControlList`).
 *
 * - Which directory the config names: `DirectoryService.type` and `params` (2.x–6.x
 *   `twistedcaldav.directory.xmlfile.XMLDirectoryService` / `…appleopendirectory.OpenDirectoryService`
 *   / `…ldapdirectory.LdapDirectoryService`; 7.0+ `xml` / `opendirectory` / `ldap`). The XML file
 *   defaults to `/etc/caldavd/accounts.xml` (2.x) or `accounts.xml` relative to ConfigRoot (3.0+).
 * - The XML accounts file, read offline: the 2.x–6.x format (`<accounts>` with `<user>`, short
 *   name in `<uid>`, `repeat="N"` with `%d`/`%02d`) and the 7.0+ format (`<directory>` with
 *   `<record type="user">`, short names in `<short-name>`).
 * - Open Directory and LDAP cannot be read offline: the command that checks the user there.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import { getPath, type LoadedConfig } from '../config/load.js';
import type { PlistValue } from '../config/plist-xml.js';
import { XmlSyntaxError, XmlTokenizer } from '../config/xml-tokens.js';
import { defaultsFor } from '../server/keys.js';
import type { ServerVersion } from '../server/release.js';

/** An accounts file larger than this is not read. */
const MAX_DIRECTORY_BYTES = 64 * 1024 * 1024;
/** `repeat` expansions kept per record. */
const MAX_REPEAT = 10_000;

export type DirectoryKind = 'xml' | 'opendirectory' | 'ldap' | 'other';

export interface DirectoryRef {
  kind: DirectoryKind;
  /** `DirectoryService.type` as written, or the release's default. */
  type: string;
  /** XML: the accounts file the server reads. */
  xmlFile?: string;
  /** How the path or type was chosen. */
  how: string;
  /** Open Directory node (default /Search). */
  node?: string;
  /** LDAP: URI, base and the users' RDN and short-name attribute, as far as the config says. */
  ldap?: { uri: string; base: string; usersRdn: string; attr: string };
}

export interface DirectoryRecord {
  /** `user`, `group`, `location`, `resource`… */
  type: string;
  shortNames: string[];
  guid?: string;
}

export interface DirectoryFile {
  path: string;
  format: 'accounts' | 'directory';
  realm: string | null;
  records: DirectoryRecord[];
}

export class DirectoryReadError extends Error {}

const str = (v: PlistValue | undefined): string | undefined => (typeof v === 'string' ? v : undefined);

/** Which directory the config names (2.x–4.x and 5.0+ types alike). */
export function directoryOf(cfg: LoadedConfig, version: ServerVersion): DirectoryRef {
  const written = getPath(cfg.effective, 'DirectoryService.type');
  const type = str(written) ?? (version.major >= 6 ? 'xml' : 'twistedcaldav.directory.xmlfile.XMLDirectoryService');
  const how = written === undefined ? 'DirectoryService not set: the release\'s default XML directory' : 'DirectoryService.type';
  const t = type.toLowerCase();
  const params = (p: string): PlistValue | undefined => getPath(cfg.effective, `DirectoryService.params.${p}`);
  if (t === 'xml' || t.includes('xmlfile') || t.includes('xmldirectory')) {
    const raw = str(params('xmlFile'));
    const defaults = defaultsFor(version);
    const fallback = version.line === '2.x' ? '/etc/caldavd/accounts.xml' : 'accounts.xml';
    const file = raw ?? fallback;
    let path = file;
    if (!isAbsolute(file)) {
      const serverRoot = str(getPath(cfg.effective, 'ServerRoot')) ?? String(defaults.ServerRoot);
      const configRoot = str(getPath(cfg.effective, 'ConfigRoot')) ?? String(defaults.ConfigRoot);
      const root = isAbsolute(configRoot) ? configRoot : resolve(serverRoot, configRoot);
      path = resolve(root, file);
    }
    return { kind: 'xml', type, xmlFile: path, how: raw === undefined ? `${how}; xmlFile default ${fallback}` : `${how}; DirectoryService.params.xmlFile` };
  }
  if (t.includes('opendirectory')) return { kind: 'opendirectory', type, how, node: str(params('node')) ?? '/Search' };
  if (t.includes('ldap')) {
    const uri = str(params('uri')) ?? 'ldap://localhost/';
    const base = str(params('rdnSchema.base')) ?? 'dc=example,dc=com';
    const usersRdn = str(params('rdnSchema.users.rdn')) ?? str(params('rdnSchema.users')) ?? 'ou=People';
    const mapped = getPath(cfg.effective, 'DirectoryService.params.mapping.shortNames');
    const attr =
      str(params('rdnSchema.users.mapping.recordName')) ??
      (Array.isArray(mapped) && typeof mapped[0] === 'string' ? mapped[0] : undefined) ??
      'uid';
    return { kind: 'ldap', type, how, ldap: { uri, base, usersRdn, attr } };
  }
  return { kind: 'other', type, how };
}

/** The shell command that checks a user on a directory that cannot be read offline. */
export function lookupCommand(ref: DirectoryRef, name: string): string | null {
  const q = (s: string): string => (/^[\w.@+/:=,-]+$/.test(s) ? s : `'${s.replace(/'/g, "'\\''")}'`);
  if (ref.kind === 'opendirectory') return `dscl ${q(ref.node ?? '/Search')} -read /Users/${q(name)}`;
  if (ref.kind === 'ldap' && ref.ldap) {
    const base = ref.ldap.usersRdn.includes('=') ? `${ref.ldap.usersRdn},${ref.ldap.base}` : ref.ldap.base;
    return `ldapsearch -x -H ${q(ref.ldap.uri)} -b ${q(base)} '(${ref.ldap.attr}=${name.replace(/'/g, "'\\''")})'`;
  }
  return null;
}

// ---- a small XML reader ------------------------------------------------------------------------

interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  children: XmlElement[];
  text: string;
  line: number;
}

/**
 * The accounts file as an element tree, on the same tokenizer as the plist reader (expat's
 * well-formedness rules: the server reads this file with Python's XML parser too).
 */
export function parseXml(text: string): XmlElement {
  const tok = new XmlTokenizer(text);
  const stack: XmlElement[] = [];
  let root: XmlElement | null = null;
  try {
    for (let t = tok.next(); t; t = tok.next()) {
      if (t.kind === 'text') {
        if (stack.length) stack[stack.length - 1]!.text += t.text;
      } else if (t.kind === 'open') {
        const el: XmlElement = { name: t.name, attrs: t.attrs, children: [], text: '', line: t.line };
        if (stack.length) stack[stack.length - 1]!.children.push(el);
        else root = el;
        if (!t.empty) stack.push(el);
      } else {
        stack.pop();
      }
    }
  } catch (e) {
    if (e instanceof XmlSyntaxError) throw new DirectoryReadError(`not well-formed XML: ${e.problem} at line ${e.line}`);
    throw e;
  }
  if (!root) throw new DirectoryReadError('not well-formed XML: no root element');
  return root;
}

/** `user%02d` with n → `user07` (Python %-formatting of the 2.x accounts file). */
function expandRepeat(s: string, n: number): string {
  return s.replace(/%(0?)(\d*)d/g, (_, zero: string, width: string) => String(n).padStart(Number(width || 0), zero ? '0' : ' '));
}

const childText = (el: XmlElement, name: string): string[] => el.children.filter((c) => c.name === name).map((c) => c.text.trim());

function recordsOf(root: XmlElement): { format: DirectoryFile['format']; records: DirectoryRecord[] } {
  if (root.name === 'accounts') {
    const records: DirectoryRecord[] = [];
    for (const el of root.children) {
      const repeat = Math.min(Number(el.attrs.repeat ?? 1) || 1, MAX_REPEAT);
      const names = childText(el, 'uid');
      const guid = childText(el, 'guid')[0];
      for (let n = 1; n <= repeat; n++) {
        const expand = (s: string): string => (el.attrs.repeat ? expandRepeat(s, n) : s);
        records.push({ type: el.name, shortNames: names.map(expand), ...(guid ? { guid: expand(guid) } : {}) });
      }
    }
    return { format: 'accounts', records };
  }
  if (root.name === 'directory') {
    const records = root.children
      .filter((el) => el.name === 'record')
      .map((el) => {
        const guid = childText(el, 'uid')[0] ?? childText(el, 'guid')[0];
        return { type: el.attrs.type ?? 'user', shortNames: childText(el, 'short-name'), ...(guid ? { guid } : {}) };
      });
    return { format: 'directory', records };
  }
  throw new DirectoryReadError(
    `XML, but not an accounts file: the root element is <${root.name}>, not <accounts> (2.x–6.x) or <directory> (7.0+)`,
  );
}

/** Read an XML accounts file; DirectoryReadError says why it cannot be used. */
export async function readDirectoryFile(path: string): Promise<DirectoryFile> {
  let buf: Buffer;
  try {
    const st = await stat(path);
    if (st.isDirectory()) throw new DirectoryReadError('is a directory, not an accounts file');
    if (st.size > MAX_DIRECTORY_BYTES) throw new DirectoryReadError(`${st.size} bytes: too large for an accounts file (limit 64 MB)`);
    buf = await readFile(path);
  } catch (err) {
    if (err instanceof DirectoryReadError) throw err;
    const e = err as NodeJS.ErrnoException;
    throw new DirectoryReadError(e.code === 'ENOENT' ? 'no such file' : e.code === 'EACCES' ? 'permission denied' : e.message);
  }
  if (buf.subarray(0, 8192).includes(0)) throw new DirectoryReadError('binary data, not an XML accounts file');
  const text = buf.toString('utf8');
  if (!/^\s*(?:\uFEFF)?\s*</.test(text)) throw new DirectoryReadError('not XML (it does not start with "<")');
  const root = parseXml(text);
  const { format, records } = recordsOf(root);
  return { path, format, realm: root.attrs.realm ?? null, records };
}

/** Whether the file has a `users` record with that short name (exact, as the server compares). */
export function findUser(dir: DirectoryFile, name: string): { user: DirectoryRecord | null; otherType: DirectoryRecord | null } {
  const isUser = (r: DirectoryRecord): boolean => r.type === 'user' || r.type === 'users';
  const user = dir.records.find((r) => isUser(r) && r.shortNames.includes(name)) ?? null;
  const otherType = user ? null : (dir.records.find((r) => !isUser(r) && r.shortNames.includes(name)) ?? null);
  return { user, otherType };
}

export function userCount(dir: DirectoryFile): number {
  return dir.records.filter((r) => r.type === 'user' || r.type === 'users').length;
}

/** A record to paste into the accounts file, and the matching Scheduling.iMIP keys. */
export function readyRecord(format: DirectoryFile['format'], name: string): { record: string; plistKeys: string; password: string } {
  const password = randomBytes(18).toString('base64url');
  const guid = randomUUID().toUpperCase();
  const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  const record =
    format === 'accounts'
      ? [
          '<user>',
          `  <uid>${esc(name)}</uid>`,
          `  <guid>${guid}</guid>`,
          `  <password>${password}</password>`,
          '  <name>iMIP mail gateway</name>',
          '</user>',
        ].join('\n')
      : [
          '<record type="user">',
          `  <uid>${guid}</uid>`,
          `  <short-name>${esc(name)}</short-name>`,
          `  <password>${password}</password>`,
          '  <full-name>iMIP mail gateway</full-name>',
          '</record>',
        ].join('\n');
  const plistKeys = ['<key>Username</key>', `<string>${esc(name)}</string>`, '<key>Password</key>', `<string>${password}</string>`].join('\n');
  return { record, plistKeys, password };
}
