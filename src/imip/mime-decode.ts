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
    if (buf.length === 0) return;
    const room = this.cap - this.size;
    if (room <= 0) {
      this.truncated = true;
      return;
    }
    const take = buf.length <= room ? buf : buf.subarray(0, room);
    if (take.length < buf.length) this.truncated = true;
    this.chunks.push(Buffer.from(take));
    this.size += take.length;
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

/** Lenient base64: characters outside the alphabet are skipped, as binascii does. */
class Base64Decoder implements BodyDecoder {
  private carry = '';
  constructor(private readonly out: BodyCollector) {}

  write(raw: Uint8Array): void {
    if (this.out.full) {
      this.out.push(raw.subarray(0, 1)); // marks truncation
      return;
    }
    const text = this.carry + Buffer.from(raw).toString('latin1').replace(/[^A-Za-z0-9+/]/g, '');
    const whole = text.length - (text.length % 4);
    this.carry = text.slice(whole);
    if (whole) this.out.push(Buffer.from(text.slice(0, whole), 'base64'));
  }

  end(): void {
    if (this.carry.length >= 2) this.out.push(Buffer.from(this.carry, 'base64'));
    this.carry = '';
  }
}

const LINE_BUFFER_LIMIT = 64 * 1024;

function isHex(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
}

/** Decode `=XX` escapes; an `=` not followed by two hex digits is kept, as quopri does. */
function decodeQpText(line: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(line.length);
  let n = 0;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === 0x3d && i + 2 < line.length && isHex(line[i + 1]!) && isHex(line[i + 2]!)) {
      out[n++] = parseInt(String.fromCharCode(line[i + 1]!, line[i + 2]!), 16);
      i += 2;
    } else out[n++] = c;
  }
  return out.subarray(0, n);
}

/**
 * Quoted-printable, line by line: trailing white space is dropped, `=` at the end of a line is a
 * soft break, the line break itself is kept as received (CRLF or LF).
 */
class QuotedPrintableDecoder implements BodyDecoder {
  private line: Buffer[] = [];
  private lineLen = 0;
  constructor(private readonly out: BodyCollector) {}

  write(raw: Uint8Array): void {
    let pos = 0;
    while (pos < raw.length) {
      const nl = raw.indexOf(0x0a, pos);
      if (nl < 0) {
        this.append(raw.subarray(pos));
        return;
      }
      this.append(raw.subarray(pos, nl));
      this.finishLine(true);
      pos = nl + 1;
    }
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

  private finishLine(hadBreak: boolean): void {
    let text = Buffer.concat(this.line);
    this.line = [];
    this.lineLen = 0;
    const cr = text.length > 0 && text[text.length - 1] === 0x0d;
    let end = text.length - (cr ? 1 : 0);
    while (end > 0 && (text[end - 1] === 0x20 || text[end - 1] === 0x09)) end--;
    text = text.subarray(0, end);
    const soft = text.length > 0 && text[text.length - 1] === 0x3d;
    this.out.push(decodeQpText(soft ? text.subarray(0, text.length - 1) : text));
    if (hadBreak && !soft) this.out.push(cr ? CRLF : LF);
  }
}

const CRLF = Buffer.from('\r\n');
const LF = Buffer.from('\n');

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
