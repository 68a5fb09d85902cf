/**
 * Addresses as Calendar Server handles them: Python 2.7's `email.utils.parseaddr` (the FIRST
 * address of a list, `''` when nothing parses), the token split, the plus address.
 */

export interface ParsedAddress {
  name: string;
  address: string;
  /**
   * What Python raises instead of answering: comments nested past its recursion limit
   * ({@link COMMENT_NESTING_LIMIT}). Name and address are then empty.
   */
  raises?: string;
}

/**
 * Comment nesting past which Python's parser fails. `getcomment` calls `getdelimited`, which calls
 * `getcomment` again for a nested "(": two frames per level (Python 2.7 email/_parseaddr.py), and
 * Python raises RuntimeError ("maximum recursion depth exceeded", or "... in cmp") past its limit
 * of 1000 frames. Measured with Python 2.7.18: parseaddr called with 20, 40 or 60 frames already
 * in use fails at 485, 475 or 465 levels. The server gets there from Twisted's reactor and its
 * Deferred callbacks, a few dozen frames deep: 480 is taken as the limit, and a message within
 * about ten levels of it may go either way.
 */
export const COMMENT_NESTING_LIMIT = 480;
export const RECURSION_ERROR = 'maximum recursion depth exceeded';

/** Python's RuntimeError from nesting; caught by {@link parseaddr} and {@link splitAddressList}. */
class RecursionLimit extends Error {}

/**
 * Python 2.7's `email._parseaddr.AddrlistClass`, the parser behind `email.utils.parseaddr` and
 * `getaddresses` in the Python every Calendar Server release runs (CPython 2.7
 * `Lib/email/_parseaddr.py`), step for step. Python 3 differs in places and the server does not
 * follow it: 3.x keeps the spaces inside an unquoted local part (`John Doe cal+tok@y` gives
 * `John Doe cal+tok@y`, 2.7 gives `JohnDoecal+tok@y`), and 3.13 (and security releases of 3.11
 * and 3.12) add a strict mode that returns `('', '')` for malformed input.
 */
class AddrlistClass {
  private pos = 0;
  /** Comments open at this point, as Python's frames count them. */
  private nesting = 0;
  private commentlist: string[] = [];
  private static readonly SPECIALS = '()<>@,:;."[]';
  private static readonly LWS = ' \t';
  private static readonly FWS = ' \t\r\n';
  private static readonly ATOMENDS = '()<>@,:;."[] \t\r\n';
  private static readonly PHRASEENDS = '()<>@,:;"[] \t\r\n';

  constructor(private readonly field: string) {}

  private at(): string {
    return this.field[this.pos]!;
  }

  private gotonext(): void {
    while (this.pos < this.field.length) {
      const c = this.at();
      if (' \t\n\r'.includes(c)) this.pos++;
      else if (c === '(') this.commentlist.push(this.getcomment());
      else break;
    }
  }

  getaddrlist(): ParsedAddress[] {
    const result: ParsedAddress[] = [];
    while (this.pos < this.field.length) {
      const ad = this.getaddress();
      if (ad.length) result.push(...ad);
      else result.push({ name: '', address: '' });
    }
    return result;
  }

  private getaddress(): ParsedAddress[] {
    this.commentlist = [];
    this.gotonext();
    const oldpos = this.pos;
    const oldcl = this.commentlist;
    const plist = this.getphraselist();
    this.gotonext();
    let returnlist: ParsedAddress[] = [];
    const len = this.field.length;
    if (this.pos >= len) {
      if (plist.length) returnlist = [{ name: this.commentlist.join(' '), address: plist[0]! }];
    } else if ('.@'.includes(this.at())) {
      this.pos = oldpos;
      this.commentlist = oldcl;
      const addrspec = this.getaddrspec();
      returnlist = [{ name: this.commentlist.join(' '), address: addrspec }];
    } else if (this.at() === ':') {
      returnlist = [];
      this.pos++;
      while (this.pos < len) {
        this.gotonext();
        if (this.pos < len && this.at() === ';') {
          this.pos++;
          break;
        }
        returnlist = returnlist.concat(this.getaddress());
      }
    } else if (this.at() === '<') {
      const routeaddr = this.getrouteaddr();
      returnlist = this.commentlist.length
        ? [{ name: `${plist.join(' ')} (${this.commentlist.join(' ')})`, address: routeaddr }]
        : [{ name: plist.join(' '), address: routeaddr }];
    } else if (plist.length) {
      returnlist = [{ name: this.commentlist.join(' '), address: plist[0]! }];
    } else if (AddrlistClass.SPECIALS.includes(this.at())) {
      this.pos++;
    }
    this.gotonext();
    if (this.pos < len && this.at() === ',') this.pos++;
    return returnlist;
  }

  private getrouteaddr(): string {
    if (this.at() !== '<') return '';
    let expectroute = false;
    this.pos++;
    this.gotonext();
    let adlist = '';
    while (this.pos < this.field.length) {
      if (expectroute) {
        this.getdomain();
        expectroute = false;
      } else if (this.at() === '>') {
        this.pos++;
        break;
      } else if (this.at() === '@') {
        this.pos++;
        expectroute = true;
      } else if (this.at() === ':') {
        this.pos++;
      } else {
        adlist = this.getaddrspec();
        this.pos++;
        break;
      }
      this.gotonext();
    }
    return adlist;
  }

  private getaddrspec(): string {
    const aslist: string[] = [];
    this.gotonext();
    while (this.pos < this.field.length) {
      const c = this.at();
      if (c === '.') {
        aslist.push('.');
        this.pos++;
      } else if (c === '"') {
        aslist.push(`"${this.getquote().replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`);
      } else if (AddrlistClass.ATOMENDS.includes(c)) {
        break;
      } else {
        aslist.push(this.getatom(AddrlistClass.ATOMENDS));
      }
      this.gotonext();
    }
    if (this.pos >= this.field.length || this.at() !== '@') return aslist.join('');
    aslist.push('@');
    this.pos++;
    this.gotonext();
    const domain = this.getdomain();
    if (!domain) return '';
    return aslist.join('') + domain;
  }

  private getdomain(): string {
    const sdlist: string[] = [];
    while (this.pos < this.field.length) {
      const c = this.at();
      if (AddrlistClass.LWS.includes(c)) this.pos++;
      else if (c === '(') this.commentlist.push(this.getcomment());
      else if (c === '[') sdlist.push(`[${this.getdelimited('[', ']\r', false)}]`);
      else if (c === '.') {
        this.pos++;
        sdlist.push('.');
      } else if (c === '@') return '';
      else if (AddrlistClass.ATOMENDS.includes(c)) break;
      else sdlist.push(this.getatom(AddrlistClass.ATOMENDS));
    }
    return sdlist.join('');
  }

  private getdelimited(beginchar: string, endchars: string, allowcomments: boolean): string {
    if (this.at() !== beginchar) return '';
    let out = '';
    let quote = false;
    this.pos++;
    while (this.pos < this.field.length) {
      const c = this.at();
      if (quote) {
        out += c;
        quote = false;
      } else if (endchars.includes(c)) {
        this.pos++;
        break;
      } else if (allowcomments && c === '(') {
        out += this.getcomment();
        continue;
      } else if (c === '\\') {
        quote = true;
      } else {
        out += c;
      }
      this.pos++;
    }
    return out;
  }

  private getquote(): string {
    return this.getdelimited('"', '"\r', false);
  }

  private getcomment(): string {
    if (++this.nesting > COMMENT_NESTING_LIMIT) throw new RecursionLimit(RECURSION_ERROR);
    try {
      return this.getdelimited('(', ')\r', true);
    } finally {
      this.nesting--;
    }
  }

  private getatom(atomends: string): string {
    const start = this.pos;
    while (this.pos < this.field.length && !atomends.includes(this.at())) this.pos++;
    return this.field.slice(start, this.pos);
  }

  private getphraselist(): string[] {
    const plist: string[] = [];
    while (this.pos < this.field.length) {
      const c = this.at();
      if (AddrlistClass.FWS.includes(c)) this.pos++;
      else if (c === '"') plist.push(this.getquote());
      else if (c === '(') this.commentlist.push(this.getcomment());
      else if (AddrlistClass.PHRASEENDS.includes(c)) break;
      else plist.push(this.getatom(AddrlistClass.PHRASEENDS));
    }
    return plist;
  }
}

/** `email.utils.getaddresses([value])` of Python 2.7: every address of the header, empty ones dropped. */
export function splitAddressList(value: string): ParsedAddress[] {
  if (!value) return [];
  try {
    return new AddrlistClass(value).getaddrlist().filter((a) => a.address !== '' || a.name !== '');
  } catch (err) {
    if (err instanceof RecursionLimit) return [];
    throw err;
  }
}

/** `email.utils.parseaddr` of Python 2.7: the first entry of the address list, or empty strings. */
export function parseaddr(value: string | undefined | null): ParsedAddress {
  if (!value) return { name: '', address: '' };
  try {
    return new AddrlistClass(value).getaddrlist()[0] ?? { name: '', address: '' };
  } catch (err) {
    if (err instanceof RecursionLimit) return { name: '', address: '', raises: RECURSION_ERROR };
    throw err;
  }
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

/** `"%s+%s@%s" % (pre, token, post)`: 2.x–4.x `twistedcaldav/mail.py` `MailHandler.outbound`, 5.0+ `imip/outbound.py` `MailSender.outbound`. */
export function plusAddress(sendingAddress: string, token: string): string {
  const a = serverAddress(sendingAddress);
  if (!a) throw new Error(`Sending.Address "${sendingAddress}" does not hold exactly one @`);
  return `${a.local}+${token}@${a.domain}`;
}

/** Strip a `mailto:` scheme (any case). */
export function stripMailto(value: string): string {
  return value.replace(/^mailto:/i, '');
}
