/**
 * Addresses as Calendar Server handles them (shared reference calendarserver-imip.md §2.3, §4.4).
 * Python's `email.utils.parseaddr` is emulated: it yields the FIRST address of a list, the
 * display name dropped, and `''` when nothing parses.
 */

export interface ParsedAddress {
  name: string;
  address: string;
}

/** Split a header value into its addresses, honouring quotes, comments, angle brackets and groups. */
export function splitAddressList(value: string): ParsedAddress[] {
  const out: ParsedAddress[] = [];
  let name = '';
  let angle: string | null = null;
  let bare = '';
  let depth = 0; // comment nesting
  let inQuote = false;
  let inAngle = false;
  const flush = (): void => {
    const address = (angle ?? bare).trim();
    const display = angle !== null ? name.trim().replace(/^"|"$/g, '') : '';
    if (address || display) out.push({ name: display, address: address.replace(/\s+/g, '') });
    name = '';
    angle = null;
    bare = '';
  };
  // Runs of ordinary characters are taken whole (a slice, not one character at a time): a 1 MB
  // header costs one pass and no pile of intermediate strings.
  const plainRun = /[^"(<,:;]+/y;
  const quotedRun = /[^"\\]+/y;
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!;
    if (inQuote && c !== '"' && c !== '\\') {
      quotedRun.lastIndex = i;
      const run = quotedRun.exec(value)![0];
      name += run;
      bare += run;
      i += run.length - 1;
      continue;
    }
    if (inAngle && c !== '>') {
      const j = value.indexOf('>', i);
      const end = j < 0 ? value.length : j;
      angle = (angle ?? '') + value.slice(i, end);
      i = end - 1;
      continue;
    }
    if (!inQuote && !inAngle && depth === 0 && !'"(<,:;'.includes(c)) {
      plainRun.lastIndex = i;
      const run = plainRun.exec(value)![0];
      name += run;
      bare += run;
      i += run.length - 1;
      continue;
    }
    if (inQuote) {
      if (c === '\\' && i + 1 < value.length) {
        name += value[++i];
        continue;
      }
      if (c === '"') inQuote = false;
      name += c;
      bare += c;
      continue;
    }
    if (depth > 0) {
      if (c === '(') depth++;
      else if (c === ')') depth--;
      continue;
    }
    if (inAngle) {
      if (c === '>') inAngle = false;
      else angle = (angle ?? '') + c;
      continue;
    }
    switch (c) {
      case '"':
        inQuote = true;
        name += c;
        bare += c;
        break;
      case '(':
        depth = 1;
        break;
      case '<':
        inAngle = true;
        angle = '';
        break;
      case ',':
        flush();
        break;
      case ':':
        // A group "name: a@b, c@d;" - the group name is not an address.
        name = '';
        bare = '';
        break;
      case ';':
        flush();
        break;
      default:
        name += c;
        bare += c;
    }
  }
  flush();
  return out.filter((a) => a.address !== '' || a.name === '');
}

/** `email.utils.parseaddr`: the first address of the header, or empty strings. */
export function parseaddr(value: string | undefined | null): ParsedAddress {
  if (!value) return { name: '', address: '' };
  const first = splitAddressList(value)[0];
  return first ?? { name: '', address: '' };
}

/** The lower-case UUID the server puts in the plus address (`str(uuid.uuid4())`). */
export const TOKEN_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * `_extractToken`: `pre, post = addr.split('@')`, `pre, token = pre.split('+')`; any other count
 * of `@` or `+` yields nothing. No case folding, no regex.
 */
export function extractToken(address: string): string | null {
  const at = address.split('@');
  if (at.length !== 2) return null;
  const plus = at[0]!.split('+');
  if (plus.length !== 2) return null;
  return plus[1] ? plus[1] : null;
}

export interface SplitAddress {
  local: string;
  domain: string;
}

/** `Sending.Address` with its display name dropped, split once on its single `@`; null when not exactly one `@`. */
export function serverAddress(sendingAddress: string): (SplitAddress & { address: string }) | null {
  const { address } = parseaddr(sendingAddress);
  const parts = address.split('@');
  if (parts.length !== 2 || !parts[0] || !parts[1]) return null;
  return { address, local: parts[0], domain: parts[1] };
}

/** §2.3: `"%s+%s@%s" % (pre, token, post)`. */
export function plusAddress(sendingAddress: string, token: string): string {
  const a = serverAddress(sendingAddress);
  if (!a) throw new Error(`Sending.Address "${sendingAddress}" does not hold exactly one @`);
  return `${a.local}+${token}@${a.domain}`;
}

/** Strip a `mailto:` scheme (any case). */
export function stripMailto(value: string): string {
  return value.replace(/^mailto:/i, '');
}
