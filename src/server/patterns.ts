/**
 * AddressPatterns as the server applies them: `re.match(pattern,
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

/** A flag group such as `(?i)` at a given position (sticky). */
const MID_FLAGS = /\(\?([aiLmsux]+)\)/y;

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
  /**
   * Start of a run of characters copied as written, or -1. A run is appended in one piece: a
   * string grown one character at a time is a chain of millions of pieces on a long pattern.
   */
  let plain = -1;
  for (let i = 0; i < src.length; i++) {
    const c = src[i]!;
    if (c === '\\' && i + 1 < src.length && (inClass || (src[i + 1] !== 'Z' && src[i + 1] !== 'A'))) {
      // An escape other than \Z and \A is copied as written.
      if (plain < 0) plain = i;
      i++;
      continue;
    }
    const copied = inClass
      ? c !== '\\'
      : !(c === '\\' || c === '[' || c === '(' || c === '$' || c === '{' || (verbose && (c === '#' || /\s/.test(c))));
    if (copied) {
      if (inClass && c === ']') inClass = false;
      if (plain < 0) plain = i;
      continue;
    }
    if (plain >= 0) {
      out += src.slice(plain, i);
      plain = -1;
    }
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
    MID_FLAGS.lastIndex = i;
    const midFlags = c === '(' ? MID_FLAGS.exec(src) : null;
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
  if (plain >= 0) out += src.slice(plain);
  // No stack trace is kept for a pattern that does not compile (a list can hold 100,000 of them).
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    const regex = new RegExp(out, flags + 'y');
    return { source: pattern, regex, error: null, translated: notes };
  } catch (e) {
    return { source: pattern, regex: null, error: (e as Error).message.replace(/^Invalid regular expression: /, ''), translated: notes };
  } finally {
    Error.stackTraceLimit = limit;
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

/**
 * One leading atom, as data (no closure per atom: a list of 100,000 patterns makes millions):
 * a character (folded when case is ignored), a regular expression for one character, any
 * character but a newline, or nothing at all.
 */
interface Atom {
  kind: 'char' | 're' | 'any' | 'never';
  ch: string;
  re: RegExp | null;
  ignoreCase: boolean;
  min: number;
  max: number;
}

/** The one-character classes `\w \d \s \W \D \S`. */
const CLASS_RE: Record<string, RegExp> = { w: /\w/, d: /\d/, s: /\s/, W: /\W/, D: /\D/, S: /\S/ };

function atomMatches(a: Atom, ch: string): boolean {
  switch (a.kind) {
    case 'char':
      return (a.ignoreCase ? ch.toLowerCase() : ch) === a.ch;
    case 're':
      return a.re!.test(ch);
    case 'any':
      return ch !== '\n';
    case 'never':
      return false;
  }
}

/** Index of the `)` closing the group that opens at `open`, or -1. */
function groupEnd(src: string, open: number): number {
  let depth = 0;
  let inClass = false;
  for (let i = open; i < src.length; i++) {
    const c = src[i];
    if (c === '\\') {
      i++;
      continue;
    }
    if (inClass) {
      if (c === ']') inClass = false;
      continue;
    }
    if (c === '[') {
      inClass = true;
      if (src[i + 1] === '^') i++;
      if (src[i + 1] === ']') i++;
    } else if (c === '(') depth++;
    else if (c === ')' && --depth === 0) return i;
  }
  return -1;
}

/** Whether a group's own top level has a `|`. */
function hasTopLevelAlternation(body: string): boolean {
  let depth = 0;
  let inClass = false;
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (c === '\\') {
      i++;
      continue;
    }
    if (inClass) {
      if (c === ']') inClass = false;
      continue;
    }
    if (c === '[') inClass = true;
    else if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === '|' && depth === 0) return true;
  }
  return false;
}

/**
 * The leading atoms of a pattern as a flat list, or null when the pattern uses something this
 * simple reading does not follow (alternation, a quantified group, lookaround, back-reference,
 * anchors other than a leading `^`/`\A`).
 */
function leadingAtoms(src: string, ignoreCase: boolean): Atom[] | null {
  const atoms: Atom[] = [];
  let i = 0;
  if (src.startsWith('^')) i = 1;
  else if (src.startsWith('\\A')) i = 2;
  const flat = (s: string): string | null => {
    // Inline groups that are neither quantified nor alternations: (..), (?:..), (?P<n>..).
    let out = '';
    for (let k = 0; k < s.length; k++) {
      const c = s[k]!;
      if (c === '\\') {
        out += c + (s[k + 1] ?? '');
        k++;
        continue;
      }
      if (c === '[') {
        const end = s.indexOf(']', k + (s[k + 1] === '^' ? 3 : 2));
        if (end < 0) return null;
        out += s.slice(k, end + 1);
        k = end;
        continue;
      }
      if (c === '(') {
        const end = groupEnd(s, k);
        if (end < 0) return null;
        const head = /^\((\?:|\?P<[^>]*>)?/.exec(s.slice(k))![0];
        if (s[k + 1] === '?' && head.length === 1) return null;
        const body = s.slice(k + head.length, end);
        if (hasTopLevelAlternation(body) || /^[*+?{]/.test(s.slice(end + 1))) return null;
        const inner = flat(body);
        if (inner === null) return null;
        out += inner;
        k = end;
        continue;
      }
      if (c === '|' || c === ')') return null;
      out += c;
    }
    return out;
  };
  const body = flat(src.slice(i));
  if (body === null) return null;
  for (let k = 0; k < body.length; ) {
    const c = body[k]!;
    // One shape for every atom, built at one place below.
    let kind: Atom['kind'] = 'char';
    let ch = '';
    let re: RegExp | null = null;
    if (c === '\\') {
      const n = body[k + 1] ?? '';
      const cls = Object.prototype.hasOwnProperty.call(CLASS_RE, n) ? CLASS_RE[n]! : null;
      if (cls) {
        kind = 're';
        re = cls;
      } else if (/[A-Za-z0-9]/.test(n)) return null;
      else ch = ignoreCase ? n.toLowerCase() : n;
      k += 2;
    } else if (c === '[') {
      const end = body.indexOf(']', k + (body[k + 1] === '^' ? 3 : 2));
      try {
        re = new RegExp(body.slice(k, end + 1), ignoreCase ? 'i' : '');
      } catch {
        return null;
      }
      kind = 're';
      k = end + 1;
    } else if (c === '.') {
      kind = 'any';
      k++;
    } else if ('^$'.includes(c)) {
      // `$` inside the scheme can never hold: the address goes on after it.
      if (c === '$') kind = 'never';
      else return null;
      k++;
    } else if ('*+?{'.includes(c)) return null;
    else {
      ch = ignoreCase ? c.toLowerCase() : c;
      k++;
    }
    let min = 1;
    let max = 1;
    const qm = /^(\*|\+|\?|\{(\d*)(,(\d*))?\})\??/.exec(body.slice(k));
    if (qm) {
      if (qm[1] === '*') [min, max] = [0, Infinity];
      else if (qm[1] === '+') [min, max] = [1, Infinity];
      else if (qm[1] === '?') [min, max] = [0, 1];
      else {
        min = qm[2] ? Number(qm[2]) : 0;
        max = qm[3] === undefined ? min : qm[4] ? Number(qm[4]) : Infinity;
      }
      k += qm[0].length;
    }
    atoms.push({ kind, ch, re, ignoreCase, min, max });
  }
  return atoms;
}

/**
 * Can the pattern match at the start of any "mailto:…" address (re.match)? False only when it
 * surely cannot; null when the pattern is beyond this reading (then it is given the benefit of the
 * doubt). The scheme is compared as the server compares it: lower-cased from 3.0.
 */
export function canMatchMailto(pattern: string): boolean | null {
  let src = pattern;
  let ignoreCase = false;
  const inline = /^\(\?([aiLmsux]+)\)/.exec(src);
  if (inline) {
    if (inline[1]!.includes('x')) return null;
    ignoreCase = inline[1]!.includes('i');
    src = src.slice(inline[0].length);
  }
  if (/\(\?[aiLmsux]+\)/.test(src)) return null;
  const atoms = leadingAtoms(src, ignoreCase);
  if (!atoms) return null;
  // States: [atom index, times matched so far (capped at min)].
  const closure = (states: Array<[number, number]>): Array<[number, number]> => {
    const seen = new Set<string>();
    const out: Array<[number, number]> = [];
    const stack = [...states];
    while (stack.length) {
      const [i, n] = stack.pop()!;
      const key = `${i}:${n}`;
      if (seen.has(key)) continue;
      seen.add(key);
      out.push([i, n]);
      if (i < atoms.length && n >= atoms[i]!.min) stack.push([i + 1, 0]);
    }
    return out;
  };
  let states = closure([[0, 0]]);
  for (const ch of 'mailto:') {
    if (states.some(([i]) => i === atoms.length)) return true;
    const next: Array<[number, number]> = [];
    for (const [i, n] of states) {
      const a = atoms[i];
      if (!a || !atomMatches(a, ch)) continue;
      if (n + 1 <= a.max) next.push([i, Math.min(n + 1, a.min)]);
      if (n + 1 >= a.min && n + 1 <= a.max) next.push([i + 1, 0]);
    }
    states = closure(next);
    if (!states.length) return false;
  }
  return true;
}
