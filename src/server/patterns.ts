/**
 * AddressPatterns as the server applies them (calendarserver-imip.md §2.6): `re.match(pattern,
 * cuaddr)`, anchored at the start only, no flags; from 3.0 the address is lower-cased first (CalendarServer-3.2 twistedcaldav/scheduling/delivery.py `matchCalendarUserAddress`).
 * Patterns are Python regular expressions; what JavaScript spells differently is translated.
 */

export interface TranslatedPattern {
  source: string;
  /** The JavaScript regex, sticky so that it is anchored at the start like `re.match`. */
  regex: RegExp | null;
  /** Why it does not compile as Python would read it. */
  error: string | null;
  /** Python-only constructs that were rewritten, for evidence. */
  translated: string[];
}

const FLAG_LETTERS: Record<string, string> = { i: 'i', m: 'm', s: 's', x: 'x', u: '', a: '', L: '' };

/** Translate one Python pattern into a JavaScript RegExp. */
export function translatePythonPattern(pattern: string): TranslatedPattern {
  const notes: string[] = [];
  let src = pattern;
  let flags = '';

  // Leading global inline flags: (?i), (?ix) ...
  const inline = /^\(\?([aiLmsux]+)\)/.exec(src);
  if (inline) {
    for (const f of inline[1]!) {
      const js = FLAG_LETTERS[f];
      if (js === undefined) continue;
      if (js && !flags.includes(js)) flags += js;
    }
    src = src.slice(inline[0].length);
    notes.push(`inline flags (?${inline[1]})`);
  }
  let verbose = false;
  if (flags.includes('x')) {
    verbose = true;
    flags = flags.replace('x', '');
  }

  let out = '';
  let inClass = false;
  for (let i = 0; i < src.length; i++) {
    const c = src[i]!;
    if (c === '\\') {
      const n = src[i + 1];
      if (n === undefined) {
        return { source: pattern, regex: null, error: 'the pattern ends with a lone backslash', translated: notes };
      }
      if (!inClass && n === 'Z') {
        out += '$(?![\\s\\S])';
        notes.push('\\Z');
      } else if (!inClass && n === 'A') {
        out += '^';
        notes.push('\\A');
      } else {
        out += c + n;
      }
      i++;
      continue;
    }
    if (inClass) {
      if (c === ']') inClass = false;
      out += c;
      continue;
    }
    if (c === '[') {
      inClass = true;
      out += c;
      if (src[i + 1] === '^') {
        out += '^';
        i++;
      }
      if (src[i + 1] === ']') {
        out += '\\]';
        i++;
      }
      continue;
    }
    if (verbose && /\s/.test(c)) continue;
    if (verbose && c === '#') {
      while (i < src.length && src[i] !== '\n') i++;
      continue;
    }
    if (c === '(' && src.startsWith('(?P<', i)) {
      out += '(?<';
      i += 3;
      notes.push('(?P<name>...)');
      continue;
    }
    if (c === '(' && src.startsWith('(?P=', i)) {
      const end = src.indexOf(')', i);
      if (end < 0) return { source: pattern, regex: null, error: 'unterminated (?P=name)', translated: notes };
      out += `\\k<${src.slice(i + 4, end)}>`;
      i = end;
      notes.push('(?P=name)');
      continue;
    }
    if (c === '(' && src.startsWith('(?<', i) && src[i + 3] !== '=' && src[i + 3] !== '!') {
      return {
        source: pattern,
        regex: null,
        error: 'Python does not know (?<name>...); it spells a named group (?P<name>...)',
        translated: notes,
      };
    }
    if (c === '(' && src.startsWith('(?#', i)) {
      // A Python comment group.
      const end = src.indexOf(')', i);
      if (end < 0) return { source: pattern, regex: null, error: 'unterminated comment (?#...)', translated: notes };
      i = end;
      notes.push('(?#comment)');
      continue;
    }
    const midFlags = c === '(' ? /^\(\?([aiLmsux]+)\)/.exec(src.slice(i)) : null;
    if (midFlags) {
      // Python 2.7 (every Calendar Server release runs on it) applies a flag group anywhere in
      // the pattern to the whole pattern.
      for (const f of midFlags[1]!) {
        const js = FLAG_LETTERS[f];
        if (js && js !== 'x' && !flags.includes(js)) flags += js;
      }
      i += midFlags[0].length - 1;
      notes.push(`inline flags (?${midFlags[1]}) mid-pattern`);
      continue;
    }
    if (c === '$' && !flags.includes('m')) {
      // Python's $ also matches before a final newline.
      out += '(?=\\n?$(?![\\s\\S]))';
      continue;
    }
    if (c === '{' && src[i + 1] === ',') {
      out += '{0';
      notes.push('{,n}');
      continue;
    }
    out += c;
  }
  try {
    const regex = new RegExp(out, flags + 'y');
    return { source: pattern, regex, error: null, translated: notes };
  } catch (e) {
    return { source: pattern, regex: null, error: (e as Error).message.replace(/^Invalid regular expression: /, ''), translated: notes };
  }
}

/** `re.match`: does the pattern match at the start of the address? */
export function pythonMatch(p: TranslatedPattern, address: string): boolean {
  if (!p.regex) return false;
  p.regex.lastIndex = 0;
  return p.regex.test(address);
}

export interface PatternVerdict {
  /** The address the server compares (lower-cased from 3.0). */
  compared: string;
  matched: string | null;
  invalid: string[];
}

/** Would the server route this calendar user address to iMIP? */
export function matchAddressPatterns(patterns: readonly string[], cuaddr: string, lowercase: boolean): PatternVerdict {
  const compared = lowercase ? cuaddr.toLowerCase() : cuaddr;
  const invalid: string[] = [];
  for (const source of patterns) {
    const p = translatePythonPattern(source);
    if (!p.regex) {
      invalid.push(source);
      continue;
    }
    if (pythonMatch(p, compared)) return { compared, matched: source, invalid };
  }
  return { compared, matched: null, invalid };
}
