/**
 * Content-Transfer-Encoding decoders that work on a stream of body bytes (RFC 2045 §6), as the
 * server's Python 2 `get_payload(decode=True)` decodes them (calendarserver-imip.md §4.4 step 5):
 * base64 and quoted-printable by binascii's rules, everything else as is. Output is capped.
 */

import { bufferView } from './bytes.js';

/** Largest decoded body kept per part. */
export const MAX_BODY_BYTES = 2 * 1024 * 1024;

/** Collects decoded bytes up to a cap; past the cap it only remembers that it was truncated. */
export class BodyCollector {
  private readonly chunks: Buffer[] = [];
  private size = 0;
  truncated = false;
  /** A base64 part with incorrect padding: these are its bytes undecoded, as the server takes them. */
  undecoded = false;

  constructor(readonly cap: number = MAX_BODY_BYTES) {}

  get full(): boolean {
    return this.size >= this.cap;
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
  }
}

/** The problem noted for a part whose base64 could not be decoded. */
export function undecodedProblem(part: string): string {
  return `part ${part || '(message)'}: its base64 has incorrect padding, so the server's Python (get_payload) takes it undecoded`;
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
    if (this.owned) this.out.pushOwned(bufferView(raw));
    else this.out.push(raw);
  }
  end(): void {}
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
class Base64Decoder implements BodyDecoder {
  private leftchar = 0;
  private leftbits = 0;
  private quadPos = 0;
  /** A `=` at the third character of a quad: the next alphabet character decides. */
  private padPending = false;
  /** A pad sequence ended the input; the rest is ignored. */
  private done = false;
  private readonly raw: BodyCollector;
  constructor(
    private readonly out: BodyCollector,
    private readonly owned: boolean,
  ) {
    this.raw = new BodyCollector(out.cap);
  }

  write(raw: Uint8Array): void {
    if (this.owned) this.raw.pushOwned(bufferView(raw));
    else this.raw.push(raw);
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
    if (!this.done && this.leftbits !== 0 && !this.out.truncated) {
      this.out.clear();
      this.out.pushOwned(this.raw.result());
      this.out.undecoded = true;
      if (this.raw.truncated) this.out.truncated = true;
    }
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

/**
 * The decoder for a part's Content-Transfer-Encoding as Python compares it (lower-cased, exactly
 * `base64` or `quoted-printable`); anything else is kept as is. `owned`: the bytes written are
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
      return new IdentityDecoder(out, owned);
  }
}
