/**
 * The quoted-printable decoder decodes whole lines where they lie (src/imip/mime-decode.ts). Its
 * output must not depend on that: the oracle below is the line-gathering decoder it replaced,
 * byte for byte the rules of Python's quopri as the server decodes (trailing white space dropped,
 * `=` at a line end a soft break, the line break kept as received, a bad escape kept), run on
 * generated bodies cut into writes at random places.
 */
import { describe, expect, it } from 'vitest';
import { BodyCollector, createDecoder } from '../../src/imip/mime-decode.js';

// ---- the previous decoder, as the oracle
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

function decoded(writes: Uint8Array[], cap?: number): { bytes: Buffer; truncated: boolean } {
  const out = new BodyCollector(cap);
  const d = createDecoder('quoted-printable', out);
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

  it('the cap cuts the output and says so', () => {
    const r = decoded([Buffer.from('0123456789\r\n0123456789\r\n')], 15);
    expect(r.bytes.toString()).toBe('0123456789\r\n012');
    expect(r.truncated).toBe(true);
  });
});
