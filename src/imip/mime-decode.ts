/**
 * Content-Transfer-Encoding decoders that work on a stream of body bytes (RFC 2045 §6), as
 * Python's `get_payload(decode=True)` decodes them (calendarserver-imip.md §4.4 step 5):
 * base64 and quoted-printable leniently, everything else as is. Output is capped.
 */

/** Largest decoded body kept per part. */
export const MAX_BODY_BYTES = 2 * 1024 * 1024;

/** Collects decoded bytes up to a cap; past the cap it only remembers that it was truncated. */
export class BodyCollector {
  private readonly chunks: Buffer[] = [];
  private size = 0;
  truncated = false;

  constructor(private readonly cap: number = MAX_BODY_BYTES) {}

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
    return Buffer.concat(this.chunks, this.size);
  }
}

/** Receives the exact body bytes of one part (transfer-encoded), in order. */
export interface BodyDecoder {
  write(raw: Uint8Array): void;
  end(): void;
}

class IdentityDecoder implements BodyDecoder {
  constructor(private readonly out: BodyCollector) {}
  write(raw: Uint8Array): void {
    this.out.push(raw);
  }
  end(): void {}
}

/** The value of a base64 alphabet byte, or -1. */
const B64 = new Int8Array(256).fill(-1);
'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'.split('').forEach((ch, i) => (B64[ch.charCodeAt(0)] = i));

/**
 * Lenient base64: characters outside the alphabet (line breaks, `=`, junk) are skipped, as binascii
 * does; four characters make three bytes, and a tail of two or three characters one or two more.
 * Decoded byte by byte from the raw bytes, with no string in between.
 */
class Base64Decoder implements BodyDecoder {
  /** Characters held (0–3) and their bits. */
  private held = 0;
  private bits = 0;
  constructor(private readonly out: BodyCollector) {}

  write(raw: Uint8Array): void {
    if (this.out.full) {
      this.out.push(raw.subarray(0, 1)); // marks truncation
      return;
    }
    const out = Buffer.allocUnsafe(Math.floor(((this.held + raw.length) * 3) / 4));
    let n = 0;
    let held = this.held;
    let bits = this.bits;
    for (let i = 0; i < raw.length; i++) {
      const v = B64[raw[i]!]!;
      if (v < 0) continue;
      bits = (bits << 6) | v;
      if (++held === 4) {
        out[n++] = (bits >> 16) & 0xff;
        out[n++] = (bits >> 8) & 0xff;
        out[n++] = bits & 0xff;
        held = 0;
        bits = 0;
      }
    }
    this.held = held;
    this.bits = bits;
    if (n) this.out.pushOwned(out.subarray(0, n));
  }

  end(): void {
    if (this.held === 2) this.out.pushOwned(Buffer.from([(this.bits >> 4) & 0xff]));
    else if (this.held === 3) this.out.pushOwned(Buffer.from([(this.bits >> 10) & 0xff, (this.bits >> 2) & 0xff]));
    this.held = 0;
    this.bits = 0;
  }
}

const LINE_BUFFER_LIMIT = 64 * 1024;

/** The value of a hex digit byte, or -1. */
const HEX = new Int8Array(256).fill(-1);
for (let i = 0; i < 10; i++) HEX[0x30 + i] = i;
for (let i = 0; i < 6; i++) HEX[0x41 + i] = HEX[0x61 + i] = 10 + i;

/**
 * Decode `=XX` escapes of `line` into `out` at `at`; an `=` not followed by two hex digits is kept,
 * as quopri does. Returns the new end. The output is never longer than the line.
 */
function decodeQpInto(line: Uint8Array, out: Uint8Array, at: number): number {
  let n = at;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === 0x3d && i + 2 < line.length) {
      const hi = HEX[line[i + 1]!]!;
      const lo = HEX[line[i + 2]!]!;
      if (hi >= 0 && lo >= 0) {
        out[n++] = (hi << 4) | lo;
        i += 2;
        continue;
      }
    }
    out[n++] = c;
  }
  return n;
}

function decodeQpText(line: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(line.length);
  return out.subarray(0, decodeQpInto(line, out, 0));
}

/**
 * Quoted-printable, line by line: trailing white space is dropped, `=` at the end of a line is a
 * soft break, the line break itself is kept as received (CRLF or LF).
 *
 * A line that arrives whole in one write is decoded where it lies, into one output buffer per
 * write; only a line split across writes is gathered first.
 */
class QuotedPrintableDecoder implements BodyDecoder {
  private line: Buffer[] = [];
  private lineLen = 0;
  constructor(private readonly out: BodyCollector) {}

  write(raw: Uint8Array): void {
    // Each line's output is at most its bytes plus its line break: this holds the whole write.
    let sink = Buffer.allocUnsafe(raw.length + this.lineLen);
    let at = 0;
    const flush = (): void => {
      if (at) this.out.pushOwned(sink.subarray(0, at));
      sink = sink.subarray(at);
      at = 0;
    };
    let pos = 0;
    while (pos < raw.length) {
      const nl = raw.indexOf(0x0a, pos);
      if (nl < 0) {
        flush();
        this.append(raw.subarray(pos));
        return;
      }
      if (this.lineLen === 0 && nl - pos <= LINE_BUFFER_LIMIT) at = this.decodeLine(raw.subarray(pos, nl), true, sink, at);
      else {
        flush();
        this.append(raw.subarray(pos, nl));
        this.finishLine(true);
      }
      pos = nl + 1;
    }
    flush();
  }

  end(): void {
    this.finishLine(false);
  }

  private append(part: Uint8Array): void {
    if (!part.length) return;
    this.line.push(Buffer.from(part));
    this.lineLen += part.length;
    if (this.lineLen > LINE_BUFFER_LIMIT) {
      // A hostile line without breaks: decode all but the last two bytes (an escape may straddle).
      const all = Buffer.concat(this.line);
      this.out.push(decodeQpText(all.subarray(0, all.length - 2)));
      this.line = [all.subarray(all.length - 2)];
      this.lineLen = 2;
    }
  }

  /** The gathered line, decoded and handed over. */
  private finishLine(hadBreak: boolean): void {
    const text = Buffer.concat(this.line);
    this.line = [];
    this.lineLen = 0;
    const sink = Buffer.allocUnsafe(text.length + 1);
    const at = this.decodeLine(text, hadBreak, sink, 0);
    if (at) this.out.pushOwned(sink.subarray(0, at));
  }

  /** One line (without its LF) decoded into `sink` at `at`, its line break after it; the new end. */
  private decodeLine(text: Uint8Array, hadBreak: boolean, sink: Uint8Array, at: number): number {
    const cr = text.length > 0 && text[text.length - 1] === 0x0d;
    let end = text.length - (cr ? 1 : 0);
    while (end > 0 && (text[end - 1] === 0x20 || text[end - 1] === 0x09)) end--;
    const soft = end > 0 && text[end - 1] === 0x3d;
    let n = decodeQpInto(text.subarray(0, soft ? end - 1 : end), sink, at);
    if (hadBreak && !soft) {
      if (cr) sink[n++] = 0x0d;
      sink[n++] = 0x0a;
    }
    return n;
  }
}


/** The decoder for a lower-case Content-Transfer-Encoding; unknown encodings are kept as is. */
export function createDecoder(encoding: string, out: BodyCollector): BodyDecoder {
  switch (encoding) {
    case 'base64':
      return new Base64Decoder(out);
    case 'quoted-printable':
      return new QuotedPrintableDecoder(out);
    default:
      return new IdentityDecoder(out);
  }
}
