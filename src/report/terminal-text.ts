/**
 * Text from outside (mail headers, calendar text, server greetings and replies, log lines,
 * plist values) made safe to print on a terminal. A reply's `To:` or a relay's banner can carry
 * escape sequences that clear the screen, move the cursor, recolour or hide text, set the
 * window title or, through a carriage return, write over a line: the admin would read a report
 * the sender wrote. Human output therefore shows every control character as a visible escape
 * (`\x1b`, `\r`), as do the Unicode marks that reorder text on screen. Tabs and line breaks stay.
 *
 * JSON needs none of this: `JSON.stringify` escapes control characters itself, and scripts get
 * the values as they are.
 */

/** C0 controls but tab and line feed, DEL, C1 controls, and the bidirectional marks and overrides. */
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/;
const UNSAFE_ALL = new RegExp(UNSAFE.source, 'g');

const NAMED: Record<string, string> = { '\r': '\\r', '\0': '\\0' };

function visible(ch: string): string {
  const named = NAMED[ch];
  if (named) return named;
  const code = ch.charCodeAt(0);
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
}

/** `text` with every unsafe character shown as an escape; the same string when there is none. */
export function printable(text: string): string {
  return UNSAFE.test(text) ? text.replace(UNSAFE_ALL, visible) : text;
}

/**
 * A copy of `value` with {@link printable} applied to every string in it (object keys too), for
 * the human renderers. Parts without an unsafe character are returned as they are, not copied.
 * Maps and Sets are walked; other objects (Buffers, Dates, class instances) are kept as they are.
 */
export function forTerminal<T>(value: T): T {
  return clean(value, 0) as T;
}

function clean(value: unknown, depth: number): unknown {
  if (typeof value === 'string') return printable(value);
  if (value === null || typeof value !== 'object' || depth > 64) return value;
  if (Array.isArray(value)) {
    let out: unknown[] | null = null;
    for (let i = 0; i < value.length; i++) {
      const v = clean(value[i], depth + 1);
      if (v !== value[i]) (out ??= value.slice())[i] = v;
    }
    return out ?? value;
  }
  if (value instanceof Map) {
    let changed = false;
    const entries = [...value].map(([k, v]) => {
      const ck = clean(k, depth + 1);
      const cv = clean(v, depth + 1);
      if (ck !== k || cv !== v) changed = true;
      return [ck, cv] as const;
    });
    return changed ? new Map(entries) : value;
  }
  if (value instanceof Set) {
    const before = [...value];
    const items = before.map((v) => clean(v, depth + 1));
    return items.some((v, i) => v !== before[i]) ? new Set(items) : value;
  }
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto !== Object.prototype && proto !== null) return value;
  let out: Record<string, unknown> | null = null;
  for (const [k, v] of Object.entries(value)) {
    const ck = printable(k);
    const cv = clean(v, depth + 1);
    if (ck !== k || cv !== v) {
      out ??= { ...(value as Record<string, unknown>) };
      if (ck !== k) delete out[k];
      out[ck] = cv;
    }
  }
  return out ?? value;
}
