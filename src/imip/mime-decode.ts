/**
 * Content-Transfer-Encoding decoders that work on a stream of body bytes (RFC 2045 §6), as the
 * server's Python 2 `get_payload(decode=True)` decodes them (`processReply`, `checkDSN`):
 * base64 and quoted-printable by binascii's rules, uuencode by the `uu` module's, everything else
 * as is. Output is capped.
 */

import { bufferView } from './bytes.js';
import { isPySpaceCode } from './mime-headers.js';
import type { MimePart } from './mime-part.js';

/** Largest decoded body kept per part (a text/calendar part may keep more: {@link bodyCap}). */
export const MAX_BODY_BYTES = 2 * 1024 * 1024;

/**
 * Decoded bytes kept of the text/calendar parts of one message together. The server reads the
 * whole calendar part, whatever its size (`get_payload(decode=True)`, then the parser: 2.5
 * twistedcaldav/mail.py and 4.3 `MailHandler.processReply`, 5.0-9.2 txdav/caldav/datastore/
 * scheduling/imip/inbound.py `MailReceiver.processReply`), and a calendar it cannot parse is a
 * different verdict: so a calendar is kept whole up to this size, which is past what mail
 * systems commonly accept in one message (Postfix's default `message_size_limit` is 10 MB).
 */
export const MAX_CALENDAR_BYTES = 32 * 1024 * 1024;

/**
 * The cap on a part's kept body: MAX_BODY_BYTES, except for a text/calendar part, which gets
 * what is left of the message's MAX_CALENDAR_BYTES after the calendar parts before it
 * (`calendarKept` bytes), and never less than MAX_BODY_BYTES.
 */
export function bodyCap(type: string, calendarKept: number, base = MAX_BODY_BYTES, calendarBudget = MAX_CALENDAR_BYTES): number {
  return type === 'text/calendar' ? Math.max(base, calendarBudget - calendarKept) : base;
}

/** Collects decoded bytes up to a cap; past the cap it only remembers that it was truncated. */
export class BodyCollector {
  private readonly chunks: Buffer[] = [];
  private size = 0;
  truncated = false;
  /**
   * The part's encoding failed in a way Python's `get_payload` absorbs (base64 with incorrect
   * padding, uuencode without its begin or end line): these are its bytes undecoded, as the
   * server takes them, and `undecodedWhy` says why.
   */
  undecoded = false;
  undecodedWhy = '';
  /**
   * The decoding raised an exception that `get_payload` lets through (uuencode with an illegal
   * character): its text, as Python prints it. Nothing was collected.
   */
  decodeError: string | null = null;

  constructor(readonly cap: number = MAX_BODY_BYTES) {}

  get full(): boolean {
    return this.size >= this.cap;
  }

  /** Bytes kept so far. */
  get kept(): number {
    return this.size;
  }

  /** Copies: callers may reuse their buffers. */
  push(buf: Uint8Array): void {
    const take = this.fit(buf);
    if (take) this.keep(Buffer.from(take));
  }

  /** Like {@link push}, for a buffer nobody else will write to: kept without a copy. */
  pushOwned(buf: Buffer): void {
    const take = this.fit(buf);
    if (take) this.keep(take);
  }

  /** The bytes as a decoder was handed them: kept as they are when `owned`, else copied. */
  pushAs(bytes: Uint8Array, owned: boolean): void {
    if (owned) this.pushOwned(bufferView(bytes));
    else this.push(bytes);
  }

  /** The part of `buf` that fits under the cap (null when none does); notes a cut. */
  private fit<T extends Uint8Array>(buf: T): T | null {
    if (buf.length === 0) return null;
    const room = this.cap - this.size;
    if (buf.length > room) this.truncated = true;
    if (room <= 0) return null;
    return buf.length <= room ? buf : (buf.subarray(0, room) as T);
  }

  private keep(buf: Buffer): void {
    this.chunks.push(buf);
    this.size += buf.length;
  }

  result(): Buffer {
    // One chunk is already the collector's own (a copy, or a buffer nobody else writes to).
    if (this.chunks.length === 1) return this.chunks[0]!;
    return Buffer.concat(this.chunks, this.size);
  }

  /** Forget what was collected (a decoder that hands over the undecoded bytes instead). */
  clear(): void {
    this.chunks.length = 0;
    this.size = 0;
    this.truncated = false;
    this.undecoded = false;
    this.undecodedWhy = '';
    this.decodeError = null;
  }

  /** Hand over the undecoded payload instead of what was decoded. */
  takeUndecoded(raw: BodyCollector, why: string): void {
    this.clear();
    this.pushOwned(raw.result());
    this.undecoded = true;
    this.undecodedWhy = why;
    if (raw.truncated) this.truncated = true;
  }
}

/**
 * After a part's body went through its decoder: mark on the part (when known) what the server's
 * `get_payload` makes of it, undecoded or raising, and say so in `problems`. The raw parser and
 * the IMAP reader both end a part's decoding here.
 */
export function noteDecoding(part: MimePart | undefined, label: string, collector: BodyCollector, problems: string[]): void {
  const where = `part ${label || '(message)'}`;
  if (collector.undecoded) {
    if (part) {
      part.undecoded = true;
      part.undecodedWhy = collector.undecodedWhy;
    }
    problems.push(`${where}: ${collector.undecodedWhy}, so the server's Python (get_payload) takes it undecoded`);
  }
  if (collector.decodeError !== null) {
    if (part) part.decodeError = collector.decodeError;
    problems.push(`${where}: decoding it raises "${collector.decodeError}" inside the server's Python (get_payload)`);
  }
}

/** Receives the exact body bytes of one part (transfer-encoded), in order. */
export interface BodyDecoder {
  write(raw: Uint8Array): void;
  end(): void;
}

class IdentityDecoder implements BodyDecoder {
  constructor(
    private readonly out: BodyCollector,
    private readonly owned: boolean,
  ) {}
  write(raw: Uint8Array): void {
    this.out.pushAs(raw, this.owned);
  }
  end(): void {}
}

/**
 * A decoder that also keeps the payload as it came (up to the cap), for the parts the server's
 * Python takes undecoded when their encoding fails in a way `get_payload` absorbs.
 */
abstract class PayloadKeepingDecoder implements BodyDecoder {
  protected readonly raw: BodyCollector;
  constructor(
    protected readonly out: BodyCollector,
    private readonly owned: boolean,
  ) {
    this.raw = new BodyCollector(out.cap);
  }

  /** Keep the bytes as written (without a copy when they are owned). */
  protected keep(raw: Uint8Array): void {
    this.raw.pushAs(raw, this.owned);
  }

  abstract write(raw: Uint8Array): void;
  abstract end(): void;
}

/** The value of a base64 alphabet byte, or -1 (`=` is handled before this table is read). */
const B64 = new Int8Array(256).fill(-1);
'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'.split('').forEach((ch, i) => (B64[ch.charCodeAt(0)] = i));
const PAD = 0x3d;

/**
 * base64 as the server's Python 2 decodes a part: `Message.get_payload(decode=True)` calls
 * `binascii.a2b_base64` and, when that raises "Incorrect padding", returns the payload undecoded
 * (Python 2.7 Lib/email/message.py `Message.get_payload`, Modules/binascii.c
 * `binascii_a2b_base64`; checked against Python 2.7.18, test/imip/mime-decode.test.ts):
 * - bytes outside the alphabet (line breaks, spaces, junk, anything above 0x7f) are skipped;
 * - `=` is skipped at the first or second character of a quad; at the third it ends the input
 *   when the next alphabet character (or `=`) is another `=`, else it is skipped; at the fourth
 *   it ends the input. Whatever follows the end is ignored;
 * - input that ends inside a quad (not at its end, and not ended by `=`) is "Incorrect padding":
 *   the part is then the undecoded bytes, which is what the server parses as the calendar.
 * Decoded byte by byte from the raw bytes, with no string in between. The raw bytes are kept (up
 * to the cap) for that last case.
 */
class Base64Decoder extends PayloadKeepingDecoder {
  private leftchar = 0;
  private leftbits = 0;
  private quadPos = 0;
  /** A `=` at the third character of a quad: the next alphabet character decides. */
  private padPending = false;
  /** A pad sequence ended the input; the rest is ignored. */
  private done = false;

  write(raw: Uint8Array): void {
    this.keep(raw);
    if (this.done) return;
    if (this.out.full) {
      this.out.push(raw.subarray(0, 1)); // marks truncation
      return;
    }
    const out = Buffer.allocUnsafe(Math.floor(((this.leftbits >> 1) + raw.length * 6) / 8) + 1);
    let n = 0;
    let { leftchar, leftbits, quadPos, padPending } = this;
    for (let i = 0; i < raw.length; i++) {
      const c = raw[i]!;
      if (c === PAD) {
        if (padPending || quadPos === 3) {
          // A pad sequence: no more input (binascii resets the bits of the open quad).
          this.done = true;
          leftbits = 0;
          leftchar = 0;
          break;
        }
        if (quadPos === 2) padPending = true;
        continue;
      }
      const v = B64[c]!;
      if (v < 0) continue;
      // The `=` at the third character was not followed by another: it is skipped.
      padPending = false;
      quadPos = (quadPos + 1) & 3;
      leftchar = ((leftchar << 6) | v) & 0xffff;
      leftbits += 6;
      if (leftbits >= 8) {
        leftbits -= 8;
        out[n++] = (leftchar >> leftbits) & 0xff;
        leftchar &= (1 << leftbits) - 1;
      }
    }
    this.leftchar = leftchar;
    this.leftbits = leftbits;
    this.quadPos = quadPos;
    this.padPending = padPending;
    if (n) this.out.pushOwned(out.subarray(0, n));
  }

  end(): void {
    // Incorrect padding: the server's part is the undecoded payload. Not for a part whose output
    // was cut at the cap: decoding stopped there, so how its input ends is not known.
    if (!this.done && this.leftbits !== 0 && !this.out.truncated) this.out.takeUndecoded(this.raw, 'its base64 has incorrect padding');
  }
}

/** The value of a hex digit byte, or -1. */
const HEX = new Int8Array(256).fill(-1);
for (let i = 0; i < 10; i++) HEX[0x30 + i] = i;
for (let i = 0; i < 6; i++) HEX[0x41 + i] = HEX[0x61 + i] = 10 + i;

const EQ = 0x3d;
const LF = 0x0a;
const CR = 0x0d;

/** Where the quoted-printable decoder is between two writes. */
const enum Qp {
  Text,
  /** After `=`. */
  Equals,
  /** After `=` and one hex digit (kept in `hex`). */
  EqualsHex,
  /** After `=` CR: everything up to and including the next LF is dropped. */
  SoftBreak,
}

/**
 * quoted-printable as the server's Python 2 decodes a part: `get_payload(decode=True)` calls
 * `quopri.decodestring`, which is `binascii.a2b_qp` (Python 2.7 Lib/email/utils.py `_qdecode`,
 * Lib/quopri.py `decodestring`, Modules/binascii.c `binascii_a2b_qp`; checked against Python
 * 2.7.18, test/imip/mime-decode.test.ts):
 * - `=XX` with two hex digits (either case) is that byte; `==` is one `=`;
 * - `=` LF is a soft break; `=` CR drops everything up to and including the next LF;
 * - any other `=` is kept as it is, and so is a `=` with one hex digit before the end; a `=` that
 *   is the last byte is dropped;
 * - everything else, trailing white space and line breaks included, is kept as received.
 * A byte machine, so a write may cut the input anywhere.
 */
class QuotedPrintableDecoder implements BodyDecoder {
  private state = Qp.Text;
  private hex = 0;
  constructor(private readonly out: BodyCollector) {}

  write(raw: Uint8Array): void {
    // At most every byte, plus the `=` and digit held from the last write.
    const sink = Buffer.allocUnsafe(raw.length + 2);
    let n = 0;
    let state = this.state;
    for (let i = 0; i < raw.length; i++) {
      const c = raw[i]!;
      switch (state) {
        case Qp.Text:
          if (c === EQ) state = Qp.Equals;
          else sink[n++] = c;
          break;
        case Qp.Equals:
          if (c === LF) state = Qp.Text;
          else if (c === CR) state = Qp.SoftBreak;
          else if (c === EQ) {
            sink[n++] = EQ;
            state = Qp.Text;
          } else if (HEX[c]! >= 0) {
            this.hex = c;
            state = Qp.EqualsHex;
          } else {
            sink[n++] = EQ;
            sink[n++] = c;
            state = Qp.Text;
          }
          break;
        case Qp.EqualsHex:
          if (HEX[c]! >= 0) {
            sink[n++] = (HEX[this.hex]! << 4) | HEX[c]!;
            state = Qp.Text;
          } else {
            // Not an escape: the `=` and the digit as they are, then this byte from the start.
            sink[n++] = EQ;
            sink[n++] = this.hex;
            if (c === EQ) state = Qp.Equals;
            else {
              sink[n++] = c;
              state = Qp.Text;
            }
          }
          break;
        case Qp.SoftBreak:
          if (c === LF) state = Qp.Text;
          break;
      }
    }
    this.state = state;
    if (n) this.out.pushOwned(sink.subarray(0, n));
  }

  end(): void {
    // A last `=` is dropped; a last `=` and one digit are kept as they are.
    if (this.state === Qp.EqualsHex) this.out.pushOwned(Buffer.from([EQ, this.hex]));
    this.state = Qp.Text;
  }
}

/** The Content-Transfer-Encodings Python 2's `get_payload` decodes with the `uu` module. */
const UU_ENCODINGS: ReadonlySet<string> = new Set(['x-uuencode', 'uuencode', 'uue', 'x-uue']);

/**
 * `binascii.a2b_uu` on one line, `line[start, end)` (Python 2.7 Modules/binascii.c
 * `binascii_a2b_uu`): the first byte gives the length (as `(c - 32) & 63`, never checked), the
 * characters after it are read as 6-bit groups; a line break, or the end of the line, reads as 0,
 * so a short line is padded with NUL bytes; any other byte outside `' '..'`'` is "Illegal char";
 * after the data only spaces, backticks and line breaks may follow, else "Trailing garbage".
 * Returns the bytes, or the error text.
 */
function a2bUu(line: Buffer, start: number, end: number): Buffer | string {
  let i = start;
  let len = end - start;
  const binLen = ((len > 0 ? line[i]! : 0) - 0x20) & 0x3f;
  i++;
  len--;
  const out = Buffer.alloc(binLen);
  let o = 0;
  let leftchar = 0;
  let leftbits = 0;
  for (let remaining = binLen; remaining > 0; len--, i++) {
    let ch = len > 0 ? line[i]! : 0;
    if (ch === 0x0a || ch === 0x0d || len <= 0) ch = 0;
    else {
      if (ch < 0x20 || ch > 0x60) return 'Illegal char';
      ch = (ch - 0x20) & 0x3f;
    }
    leftchar = (leftchar << 6) | ch;
    leftbits += 6;
    if (leftbits >= 8) {
      leftbits -= 8;
      out[o++] = (leftchar >> leftbits) & 0xff;
      leftchar &= (1 << leftbits) - 1;
      remaining--;
    }
  }
  while (len-- > 0) {
    const ch = line[i++]!;
    if (ch !== 0x20 && ch !== 0x60 && ch !== 0x0a && ch !== 0x0d) return 'Trailing garbage';
  }
  return out;
}

/** Python 2's `int(s, 8)` accepts this (white space around and after the sign, `0o`). */
const PY_OCTAL = /^[ \t\n\v\f\r]*[+-]?[ \t\n\v\f\r]*(?:0[oO])?[0-7]+[ \t\n\v\f\r]*$/;

export type UuOutcome = { bytes: Buffer } | { missing: 'begin' | 'end' } | { error: string };

/**
 * What `get_payload(decode=True)` makes of a uuencoded payload (Python 2.7 Lib/email/message.py
 * `Message.get_payload`, Lib/uu.py `decode` with `quiet=True`; checked against Python 2.7.18,
 * test/imip/mime-decode.test.ts). The payload plus a line break is read line by line (a line ends
 * after `\n`):
 * - the first line that starts with `begin` and splits on single spaces into `begin`, an octal
 *   number as `int(…, 8)` reads it, and a name, starts the data; none: uu.Error ("No valid begin
 *   line"), and `get_payload` returns the payload undecoded (`missing: 'begin'`);
 * - each line up to one that is `end` once stripped is decoded with `a2b_uu`; the input running
 *   out first is uu.Error ("Truncated input file"): undecoded again (`missing: 'end'`);
 * - a line `a2b_uu` refuses is decoded again cut to the length its first byte announces (uu.py's
 *   "workaround for broken uuencoders"); if that fails too, binascii.Error is not caught by
 *   `get_payload` and reaches the server's code (`error`).
 */
export function pyUuDecode(payload: Buffer): UuOutcome {
  const data = Buffer.concat([payload, Buffer.from('\n')]);
  let pos = 0;
  let start = 0;
  let end = 0;
  const readline = (): boolean => {
    if (pos >= data.length) return false;
    const nl = data.indexOf(0x0a, pos);
    start = pos;
    end = pos = nl < 0 ? data.length : nl + 1;
    return true;
  };
  for (;;) {
    if (!readline()) return { missing: 'begin' };
    if (end - start < 5 || data.toString('latin1', start, start + 5) !== 'begin') continue;
    // hdr.split(' ', 2): three fields, the first exactly `begin`, the second an octal number.
    if (data[start + 5] !== 0x20) continue;
    const second = data.indexOf(0x20, start + 6);
    if (second < 0 || second >= end) continue;
    if (PY_OCTAL.test(data.toString('latin1', start + 6, second))) break;
  }
  const chunks: Buffer[] = [];
  for (;;) {
    if (!readline()) return { missing: 'end' };
    let a = start;
    let b = end;
    while (a < b && isPySpaceCode(data[a]!)) a++;
    while (b > a && isPySpaceCode(data[b - 1]!)) b--;
    if (b - a === 3 && data.toString('latin1', a, b) === 'end') break;
    let line = a2bUu(data, start, end);
    if (typeof line === 'string') {
      const nbytes = Math.floor((((data[start]! - 0x20) & 0x3f) * 4 + 5) / 3);
      line = a2bUu(data, start, Math.min(end, start + nbytes));
      if (typeof line === 'string') return { error: line };
    }
    chunks.push(line);
  }
  return { bytes: Buffer.concat(chunks) };
}

/**
 * uuencode as the server's Python 2 decodes a part ({@link pyUuDecode}). The whole payload is
 * needed before anything is known, so it is collected (up to the cap) and decoded at the end. A
 * payload cut at the cap is handed over as it is, marked truncated: its end line is not known.
 */
class UuDecoder extends PayloadKeepingDecoder {
  write(raw: Uint8Array): void {
    this.keep(raw);
  }

  end(): void {
    const payload = this.raw.result();
    if (this.raw.truncated) {
      this.out.pushOwned(payload);
      this.out.truncated = true;
      return;
    }
    const r = pyUuDecode(payload);
    if ('bytes' in r) this.out.pushOwned(r.bytes);
    else if ('error' in r) this.out.decodeError = r.error;
    else this.out.takeUndecoded(this.raw, r.missing === 'begin' ? 'its uuencoded data has no begin line' : 'its uuencoded data has no end line');
  }
}

/**
 * The transfer encoding the server's Python undoes for this part. A message/delivery-status part
 * is parsed from its raw lines into status blocks (feedparser) and `checkDSN` reads it back as
 * written, so its Content-Transfer-Encoding is never undone.
 */
export function transferEncodingRead(part: MimePart): string {
  return part.type === 'message/delivery-status' ? '7bit' : part.encoding;
}

/** Whether a part of this Content-Transfer-Encoding is taken as it is (no decoder of {@link createDecoder}'s applies). */
export function keptAsSent(encoding: string): boolean {
  return encoding !== 'base64' && encoding !== 'quoted-printable' && !UU_ENCODINGS.has(encoding);
}

/**
 * A Content-Transfer-Encoding Python takes as it is that names one it decodes once its white
 * space is trimmed ("base64 "): that one; else null. Python compares the value as written
 * (`get_payload`), so such a part is not decoded.
 */
export function encodingNearMiss(encoding: string): string | null {
  if (!keptAsSent(encoding)) return null;
  const trimmed = encoding.trim();
  return trimmed !== encoding && !keptAsSent(trimmed) ? trimmed : null;
}

/**
 * The decoder for a part's Content-Transfer-Encoding as Python compares it (lower-cased, exactly
 * `base64`, `quoted-printable` or one of the uuencode names); anything else is kept as is. `owned`: the bytes written are
 * never changed afterwards (a fetched literal), so they are kept without a copy.
 */
export function createDecoder(encoding: string, out: BodyCollector, opts: { owned?: boolean } = {}): BodyDecoder {
  const owned = opts.owned ?? false;
  switch (encoding) {
    case 'base64':
      return new Base64Decoder(out, owned);
    case 'quoted-printable':
      return new QuotedPrintableDecoder(out);
    default:
      return UU_ENCODINGS.has(encoding) ? new UuDecoder(out, owned) : new IdentityDecoder(out, owned);
  }
}
