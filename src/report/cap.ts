/**
 * Length caps for values echoed in output (a header, an address, a line of a log). A hostile or
 * broken input can carry a 1 MB header; echoed in several fields of a report it would cost
 * hundreds of MB and megabytes of JSON. Every such value is cut at a fixed length and the cut is
 * said in the value itself, so a reader knows there was more.
 */

/** Characters of one echoed value kept at most. */
export const ECHO_CAP = 2000;

/** `text` if it is short enough, else its start and a note of the cut: `… [cut: 1048576 characters, first 2000 shown]`. */
export function capText(text: string, max = ECHO_CAP): string {
  if (text.length <= max) return text;
  return `${text.slice(0, max)}… [cut: ${text.length} characters, first ${max} shown]`;
}

/** `capText` for a value that may be null. */
export function capMaybe(text: string | null, max = ECHO_CAP): string | null {
  return text === null ? null : capText(text, max);
}

/**
 * A copy of `value` with every string in it (at any depth, in arrays and plain objects) capped.
 * Non-plain objects are returned as they are. Depth is bounded (nested beyond 20 levels: kept).
 */
export function capStrings<T>(value: T, max = ECHO_CAP, depth = 0): T {
  if (typeof value === 'string') return capText(value, max) as T;
  if (depth > 20 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => capStrings(v, max, depth + 1)) as T;
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) out[k] = capStrings(v, max, depth + 1);
  return out as T;
}
