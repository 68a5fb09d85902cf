/**
 * Keys under Scheduling.iMIP: unknown (typos the server silently ignores: `stdconfig.py` `_cleanup`
 * checks top-level keys only), of the wrong type, written twice, or no longer read by this release
 * (`DEFAULT_CONFIG`).
 */
import { getPath, describeOrigin, originOf } from '../config/load.js';
import { isDict } from '../config/plist-file.js';
import type { PlistValue } from '../config/plist-xml.js';
import { atLeast } from '../server/release.js';
import { closestKey, IMIP_KEYS, keyKnownIn, KEY_BY_NAME, type KeySpec } from '../server/keys.js';
import { ALL_LINES, finding, IMIP, imipEntries, jsonValue, type ConfigContext, type ConfigRule } from './rule.js';
import type { Finding } from '../report/finding.js';
import { structureFindings } from './structure.js';

const SIBLINGS = new Map<string, string[]>();
function siblings(rel: string): string[] {
  const parent = rel.includes('.') ? rel.slice(0, rel.lastIndexOf('.') + 1) : '';
  let list = SIBLINGS.get(parent);
  if (!list) {
    list = IMIP_KEYS.filter((k) => k.key.startsWith(parent) && !k.key.slice(parent.length).includes('.')).map((k) => k.key.slice(parent.length));
    SIBLINGS.set(parent, list);
  }
  return list;
}

/** Key names echoed in output are capped: a key can be any length. */
const MAX_SHOWN_KEY = 64;
function shownKey(path: string): string {
  return path.length > MAX_SHOWN_KEY ? `${path.slice(0, MAX_SHOWN_KEY)}… (${path.length} characters, cut at ${MAX_SHOWN_KEY})` : path;
}

function sameValue(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * What the typo costs: the intended key is not written anywhere, so the server uses its default,
 * and the value written under the typo differs from that default. Null when harmless.
 */
function typoEffect(ctx: ConfigContext, rel: string, guess: string, written: PlistValue): { intended: string; effective: unknown } | null {
  const parent = rel.includes('.') ? rel.slice(0, rel.lastIndexOf('.') + 1) : '';
  const intended = `${parent}${guess}`;
  const spec = KEY_BY_NAME.get(intended);
  if (!spec || !keyKnownIn(spec, ctx.version) || spec.type === 'dict') return null;
  if (getPath(ctx.config.merged, `${IMIP}.${intended}`) !== undefined) return null;
  const def = spec.defaultValue(ctx.version);
  if (sameValue(jsonValue(written), def)) return null;
  return { intended, effective: spec.secret ? (def ? '(set)' : '(empty)') : def };
}

/** How many harmless unknown keys are listed one by one. */
const UNKNOWN_LISTED = 50;

export const unknownKey: ConfigRule = {
  id: 'key.unknown',
  severity: 'warning',
  lines: ALL_LINES,
  summary:
    'A key under Scheduling.iMIP that no release knows (a typo such as SupressionDays): silently ignored. An error when the key it was meant to be is then left at a default that differs from the value written (UseSsl false leaves UseSSL true); a warning when harmless.',
  check(ctx) {
    const out: Finding[] = [];
    // Harmless unknown keys are listed one by one up to a limit, then counted in one finding, so a
    // file with 100,000s of stray keys costs no more than its size; the ones that change what
    // the server does (errors) are always listed.
    let harmless = 0;
    let notListed = 0;
    const { rels, values } = imipEntries(ctx);
    for (let i = 0; i < rels.length; i++) {
      const rel = rels[i]!;
      if (KEY_BY_NAME.has(rel)) continue;
      const written = values[i]!;
      const name = rel.slice(rel.lastIndexOf('.') + 1);
      const guess = closestKey(name, siblings(rel));
      const effect = guess ? typoEffect(ctx, rel, guess, written) : null;
      if (!effect && ++harmless > UNKNOWN_LISTED) {
        notListed++;
        continue;
      }
      const path = `${IMIP}.${rel}`;
      const secret = /Password|Secret/i.test(rel) || (guess !== null && /Password|Secret/i.test(guess));
      const shownWritten = secret ? '(set)' : jsonValue(written);
      const evidence = { key: shownKey(name), closest: guess, source: describeOrigin(originOf(ctx.config, path)) };
      if (effect) {
        out.push(
          finding(
            this,
            path,
            `${shownKey(path)} is not a key the server knows (did you mean ${guess}?): the server ignores it and uses the default ${effect.intended} = ${JSON.stringify(effect.effective)}, not the ${JSON.stringify(shownWritten)} written here`,
            `Rename ${shownKey(name)} to ${guess}.`,
            { ...evidence, written: shownWritten, effective: effect.effective },
            'error',
          ),
        );
        continue;
      }
      out.push(
        finding(
          this,
          path,
          `${shownKey(path)} is not a key the server knows; it is kept and never read${guess ? ` (did you mean ${guess}?)` : ''}`,
          guess ? `Rename ${shownKey(name)} to ${guess}.` : `Remove ${shownKey(name)}, or move it where it belongs.`,
          evidence,
        ),
      );
    }
    if (notListed > 0) {
      out.push(
        finding(
          this,
          IMIP,
          `${notListed} more keys under ${IMIP} are not keys the server knows (kept and never read); only the first ${UNKNOWN_LISTED} are listed`,
          'Remove the keys the server does not read; a caldavd.plist needs only the keys it sets.',
          { notListed, listed: UNKNOWN_LISTED },
        ),
      );
    }
    return out;
  },
};

function typeProblem(spec: KeySpec, v: PlistValue): string | null {
  switch (spec.type) {
    case 'bool':
      if (typeof v === 'boolean') return null;
      if (typeof v === 'string') {
        return `is the string "${v}", not <true/> or <false/>; the server tests it as Python does, so any non-empty string, "false" included, means true`;
      }
      return `is ${describe(v)}, not <true/> or <false/>`;
    case 'int':
      if (typeof v === 'number' && Number.isInteger(v)) return null;
      if (typeof v === 'string') return `is the string "${v}", not an <integer>; the server passes it on as text and the connection or timer fails`;
      return `is ${describe(v)}, not a whole number`;
    case 'string':
      return typeof v === 'string' ? null : `is ${describe(v)}, not a <string>`;
    case 'string-array':
      if (Array.isArray(v)) {
        const bad = v.findIndex((x) => typeof x !== 'string');
        return bad < 0 ? null : `item ${bad} is ${describe(v[bad]!)}, not a <string>`;
      }
      if (typeof v === 'string') return `is a single <string>, not an <array>; the server iterates it character by character, so every character becomes a pattern`;
      return `is ${describe(v)}, not an <array> of <string>`;
    case 'dict':
      // Every release's config hook reads Sending.Username, then Receiving.Username, when iMIP is enabled.
      return isDict(v) ? null : `is ${describe(v)}, not a <dict>: it replaces the server's ${spec.key} settings, so none of them is read, and with iMIP enabled the server fails as soon as it reads one of them (${spec.key}.Username, at start-up where it looks for the password in the keychain)`;
  }
}

/** A value in the words of the plist: the string "x", the integer 3, <true/>, an <array>. */
export function describe(v: PlistValue): string {
  if (typeof v === 'string') return `the string "${v}"`;
  if (typeof v === 'number') return Number.isInteger(v) ? `the integer ${v}` : `the number ${v}`;
  if (typeof v === 'boolean') return v ? '<true/>' : '<false/>';
  if (Array.isArray(v)) return 'an <array>';
  if (v instanceof Date) return 'a <date>';
  if (v instanceof Uint8Array) return 'a <data> block';
  return 'a <dict>';
}

function typeFix(spec: KeySpec, name: string): string {
  switch (spec.type) {
    case 'bool':
      return `Write <key>${name}</key><true/> or <key>${name}</key><false/>.`;
    case 'int':
      return `Write <key>${name}</key><integer>N</integer> with a whole number, no quotes.`;
    case 'string':
      return `Write <key>${name}</key><string>…</string>.`;
    case 'string-array':
      return `Write <key>${name}</key><array><string>mailto:.*@example\\.com</string></array>.`;
    case 'dict':
      return `Write <key>${name}</key><dict>…</dict>.`;
  }
}

export const wrongType: ConfigRule = {
  id: 'key.type',
  severity: 'error',
  lines: ALL_LINES,
  summary: 'A value of the wrong type: a port as a string, UseSSL as the string "true", a pattern list that is not an array. Scheduling, iMIP, Sending or Receiving that is not a dict: the server fails when it reads it, and the keys it hides are not judged.',
  check(ctx) {
    const out: Finding[] = structureFindings(this, ctx);
    const { rels, values } = imipEntries(ctx);
    for (let i = 0; i < rels.length; i++) {
      const rel = rels[i]!;
      const spec = KEY_BY_NAME.get(rel);
      if (!spec || !keyKnownIn(spec, ctx.version)) continue;
      const v = values[i]!;
      const problem = typeProblem(spec, v);
      if (!problem) continue;
      const path = `${IMIP}.${rel}`;
      const name = rel.slice(rel.lastIndexOf('.') + 1);
      out.push(
        finding(this, path, `${path} ${problem}`, typeFix(spec, name), {
          value: spec.secret ? '(set)' : jsonValue(v),
          expected: spec.type,
          source: describeOrigin(originOf(ctx.config, path)),
        }),
      );
    }
    return out;
  },
};

export const unusedKey: ConfigRule = {
  id: 'key.unused',
  severity: 'info',
  lines: ALL_LINES,
  summary: 'A key this release does not read (MailGatewayServer on 5.0+, SuppressionDays before 4.1, GUID on 2.x).',
  check(ctx) {
    const out: Finding[] = [];
    for (const rel of imipEntries(ctx).rels) {
      const spec = KEY_BY_NAME.get(rel);
      if (!spec) continue;
      const path = `${IMIP}.${rel}`;
      const src = describeOrigin(originOf(ctx.config, path));
      if (!keyKnownIn(spec, ctx.version)) {
        const when = spec.untilMajor !== null && ctx.version.major > spec.untilMajor
          ? `was removed after ${spec.untilMajor}.x`
          : `arrived in ${spec.since.join('.')}`;
        out.push(
          finding(this, path, `${path} is not read by ${ctx.version.text} (it ${when}); it has no effect`, `Remove ${rel}, or check --server-version.`, {
            key: rel,
            serverVersion: ctx.version.text,
            source: src,
          }),
        );
      } else if (spec.readUntil && !atLeast({ major: spec.readUntil[0], minor: spec.readUntil[1] }, ctx.version.major, ctx.version.minor)) {
        out.push(
          finding(this, path, `${path} is no longer read after ${spec.readUntil.join('.')}; it has no effect on ${ctx.version.text}`, `Remove ${rel}.`, {
            key: rel,
            serverVersion: ctx.version.text,
            source: src,
          }),
        );
      }
    }
    return out;
  },
};

export const duplicateKey: ConfigRule = {
  id: 'key.duplicate',
  severity: 'warning',
  lines: ALL_LINES,
  summary: 'A key written twice in the same dict: the later value silently wins.',
  check(ctx: ConfigContext) {
    return ctx.config.parsed.flatMap((pf) =>
      pf.duplicates.map((d) =>
        finding(this, d.path, `${d.path} is written twice in ${pf.path} (lines ${d.firstLine} and ${d.line}); the server uses the second`, `Delete one of the two, keeping the value you mean.`, {
          file: pf.path,
          lines: [d.firstLine, d.line],
        }),
      ),
    );
  },
};

export const keyRules: ConfigRule[] = [unknownKey, wrongType, unusedKey, duplicateKey];
