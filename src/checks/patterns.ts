/** AddressPatterns (`scheduling/delivery.py` `DeliveryService.matchCalendarUserAddress`): which attendees are invited by mail at all. */
import type { Finding } from '../report/finding.js';
import { translatePythonPattern, canMatchMailto, type TranslatedPattern } from '../server/patterns.js';
import { ALL_LINES, capped, finding, IMIP, LISTED_PER_ID, valueEvidence, type ConfigContext, type ConfigRule } from './rule.js';

const P = `${IMIP}.AddressPatterns`;

/** The compiler's message quotes the whole translated pattern: cut that part, keep the reason. */
function cappedError(error: string): string {
  const m = /^\/([\s\S]*)\/([a-z]*): ([^/]*)$/.exec(error);
  return m && m[1]!.length > 200 ? `/${capped(m[1]!)}/${m[2]}: ${m[3]}` : capped(error, 400);
}

const INVALID_FIX = 'Fix the pattern; remember it is a Python regular expression matched from the start of "mailto:user@domain".';

const TRANSLATED = new WeakMap<readonly string[], TranslatedPattern[]>();

/** Each pattern translated once for the three rules that need it (a list can hold 100,000s). */
function translated(ctx: ConfigContext): TranslatedPattern[] {
  const list = ctx.settings.addressPatterns;
  let t = TRANSLATED.get(list);
  if (!t) {
    t = list.map((p) => translatePythonPattern(p));
    TRANSLATED.set(list, t);
  }
  return t;
}

export const empty: ConfigRule = {
  id: 'patterns.empty',
  severity: 'error',
  lines: ALL_LINES,
  summary: 'AddressPatterns is empty: no attendee is ever invited by mail.',
  check(ctx) {
    if (ctx.settings.addressPatterns.length) return [];
    return [
      finding(
        this,
        P,
        'AddressPatterns is empty: no external attendee matches, so the server never mails an invitation (it logs "Unknown calendar user address" and marks the attendee 3.7)',
        'Add the addresses to invite by mail, for example <array><string>mailto:.*</string></array> for every address.',
        valueEvidence(ctx, P),
      ),
    ];
  },
};

export const invalid: ConfigRule = {
  id: 'patterns.invalid',
  severity: 'error',
  lines: ALL_LINES,
  summary: 'A pattern that does not compile as a Python regular expression: the server skips it.',
  check(ctx) {
    const out: Finding[] = [];
    const all = translated(ctx);
    ctx.settings.addressPatterns.forEach((pat, i) => {
      const t = all[i]!;
      if (t.regex) return;
      // Past the listed ones only counted (checks/index.ts): no message or evidence built for them.
      if (out.length >= LISTED_PER_ID) {
        out.push(finding(this, `${P}[${i}]`, '', INVALID_FIX, {}));
        return;
      }
      out.push(
        finding(
          this,
          `${P}[${i}]`,
          `AddressPatterns item ${i} "${capped(pat)}" is not a valid Python regular expression (${cappedError(t.error ?? '')}); the server logs "Invalid regular expression for Scheduling configuration 'iMIP/LocalAddresses'" and skips it`,
          INVALID_FIX,
          { pattern: capped(pat), error: t.error === null ? null : cappedError(t.error), source: valueEvidence(ctx, P).source },
        ),
      );
    });
    return out;
  },
};

/** Upper-case letters that are literal (not part of an escape like \S, \W, \A). */
function literalUppercase(pattern: string): string[] {
  const stripped = pattern
    .replace(/\\./g, '')
    .replace(/\(\?P<[^>]*>/g, '(')
    .replace(/\(\?P=[^)]*\)/g, '');
  return [...new Set(stripped.match(/[A-Z]/g) ?? [])];
}

export const uppercase: ConfigRule = {
  id: 'patterns.uppercase',
  severity: 'error',
  lines: ALL_LINES,
  summary: 'Upper-case letters in a pattern: from 3.0 addresses are lower-cased before matching, so it never matches.',
  check(ctx) {
    const out: Finding[] = [];
    const all = translated(ctx);
    ctx.settings.addressPatterns.forEach((pat, i) => {
      if (/^\(\?[aiLmsux]*i[aiLmsux]*\)/.test(pat)) return;
      const letters = literalUppercase(pat);
      if (!letters.length || !all[i]!.regex) return;
      const lower = ctx.features.patternsLowercase;
      out.push(
        finding(
          this,
          `${P}[${i}]`,
          lower
            ? `AddressPatterns item ${i} "${capped(pat)}" has upper-case letters (${letters.join(', ')}); ${ctx.version.text} lower-cases every address before matching, so this pattern never matches`
            : `AddressPatterns item ${i} "${capped(pat)}" has upper-case letters (${letters.join(', ')}); 2.x matches case-sensitively, so it only matches addresses written exactly so, and stops matching on 3.0 and later`,
          `Write the pattern in lower case: "${capped(pat.replace(/(\\.)|([A-Z])/g, (m, esc: string | undefined) => (esc ? m : m.toLowerCase())))}".`,
          { pattern: capped(pat), letters, lowercasedBeforeMatch: lower },
          lower ? 'error' : 'warning',
        ),
      );
    });
    return out;
  },
};

export const noMailto: ConfigRule = {
  id: 'patterns.no-mailto',
  severity: 'error',
  lines: ALL_LINES,
  summary: 'A pattern that cannot match an address of the form mailto:user@domain.',
  check(ctx) {
    const out: Finding[] = [];
    const all = translated(ctx);
    ctx.settings.addressPatterns.forEach((pat, i) => {
      if (!all[i]!.regex) return;
      // Simulated on the leading part of the pattern: can it get past "mailto:" at all?
      if (canMatchMailto(pat) !== false) return;
      out.push(
        finding(
          this,
          `${P}[${i}]`,
          `AddressPatterns item ${i} "${capped(pat)}" is matched from the start of the calendar user address, which is "mailto:user@domain"; it cannot match "mailto:" there, so it never matches any attendee`,
          `Start the pattern with mailto:, for example "mailto:${capped(pat.replace(/^\^/, '').replace(/^\(\?P<[^>]*>[^)]*\)/, '.*'))}".`,
          { pattern: capped(pat), example: 'mailto:attendee@example.com' },
        ),
      );
    });
    return out;
  },
};

export const patternRules: ConfigRule[] = [empty, invalid, uppercase, noMailto];
