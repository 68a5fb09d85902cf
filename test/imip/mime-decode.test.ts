/**
 * The transfer decoders work on bytes where they lie (src/imip/mime-decode.ts): quoted-printable
 * decodes whole lines in place, base64 decodes byte by byte. Their output must not depend on that.
 * The base64 oracle is the string-based lenient decoder it replaced (binascii's rule: anything
 * outside the alphabet skipped). The quoted-printable oracle is the line-gathering decoder it replaced,
 * byte for byte the rules of Python's quopri as the server decodes (trailing white space dropped,
 * `=` at a line end a soft break, the line break kept as received, a bad escape kept), run on
 * generated bodies cut into writes at random places.
 */
import { describe, expect, it } from 'vitest';
import { BodyCollector, createDecoder } from '../../src/imip/mime-decode.js';

// ---- the previous decoders, as the oracles
/** Lenient base64: characters outside the alphabet are skipped, as binascii does. */
class OracleBase64 {
  private carry = '';
  constructor(private readonly out: { push(b: Uint8Array): void; full: boolean }) {}

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
class OracleDecoder {
  private line: Buffer[] = [];
  private lineLen = 0;
  constructor(private readonly out: { push(b: Uint8Array): void }) {}

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

function oracle(writes: Uint8Array[]): Buffer {
  const chunks: Buffer[] = [];
  const d = new OracleDecoder({ push: (b) => b.length && chunks.push(Buffer.from(b)) });
  for (const w of writes) d.write(w);
  d.end();
  return Buffer.concat(chunks);
}

function oracleBase64(writes: Uint8Array[]): Buffer {
  const chunks: Buffer[] = [];
  const d = new OracleBase64({ push: (b) => b.length && chunks.push(Buffer.from(b)), full: false });
  for (const w of writes) d.write(w);
  d.end();
  return Buffer.concat(chunks);
}

function decoded(writes: Uint8Array[], cap?: number, encoding = 'quoted-printable'): { bytes: Buffer; truncated: boolean } {
  const out = new BodyCollector(cap);
  const d = createDecoder(encoding, out);
  for (const w of writes) d.write(w);
  d.end();
  return { bytes: out.result(), truncated: out.truncated };
}

describe('quoted-printable decoding', () => {
  let seed = 4242;
  const rnd = (n: number): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
  const pieces = ['a', 'Z', ' ', '\t', '=', '=3D', '=0D=0A', '=e9', '=C3=A9', '=G1', '=4', '\r\n', '\n', '\r', '=\r\n', '=\n', '= \r\n', '  \r\n', 'é'];
  it('equals the line-gathering decoder on 2,000 generated bodies, however the writes cut them', () => {
    for (let n = 0; n < 2000; n++) {
      const body = Buffer.from(Array.from({ length: rnd(60) }, () => pieces[rnd(pieces.length)]).join(''));
      const cuts = [0, ...Array.from({ length: rnd(4) }, () => rnd(body.length + 1)).sort((a, b) => a - b), body.length];
      const writes = cuts.slice(1).map((end, i) => body.subarray(cuts[i], end));
      expect(decoded(writes).bytes.toString('latin1'), JSON.stringify(body.toString('latin1'))).toBe(oracle(writes).toString('latin1'));
      expect(decoded([body]).bytes.equals(oracle([body]))).toBe(true);
    }
  });

  it('a line longer than the line buffer, whole in one write or cut, decodes the same', () => {
    const long = Buffer.from(`${'=3D'.repeat(30000)}ab  \r\nnext=\r\n line\r\n`);
    for (const writes of [[long], [long.subarray(0, 70001), long.subarray(70001)], [long.subarray(0, 3), long.subarray(3)]]) {
      expect(decoded(writes).bytes.equals(oracle(writes))).toBe(true);
    }
  });

  it('base64: equals the string-based lenient decoder on 2,000 generated bodies cut at random', () => {
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
    const junk = ['\r\n', '\n', '=', '==', ' ', '*', '-', '_', 'é'];
    for (let n = 0; n < 2000; n++) {
      const text = Array.from({ length: rnd(80) }, () => (rnd(6) ? alphabet[rnd(64)] : junk[rnd(junk.length)])).join('');
      const body = Buffer.from(text);
      const cuts = [0, ...Array.from({ length: rnd(4) }, () => rnd(body.length + 1)).sort((a, b) => a - b), body.length];
      const writes = cuts.slice(1).map((end, i) => body.subarray(cuts[i], end));
      expect(decoded(writes, undefined, 'base64').bytes.toString('hex'), JSON.stringify(text)).toBe(oracleBase64(writes).toString('hex'));
    }
    const real = Buffer.from('BEGIN:VCALENDAR\r\nMETHOD:REPLY\r\nEND:VCALENDAR\r\n').toString('base64').replace(/.{10}/g, '$&\r\n');
    expect(decoded([Buffer.from(real)], undefined, 'base64').bytes.toString()).toBe('BEGIN:VCALENDAR\r\nMETHOD:REPLY\r\nEND:VCALENDAR\r\n');
  });

  it('the cap cuts the output and says so', () => {
    const r = decoded([Buffer.from('0123456789\r\n0123456789\r\n')], 15);
    expect(r.bytes.toString()).toBe('0123456789\r\n012');
    expect(r.truncated).toBe(true);
  });
});
