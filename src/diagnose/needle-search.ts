/**
 * Finds any of many literal texts in raw bytes at once (Wu and Manber's multi-pattern search,
 * "A fast algorithm for multi-pattern searching", 1994): a window as long as the shortest text
 * slides over the bytes; a table keyed by the window's last three bytes says how far it may jump
 * without skipping a match (usually most of the window), and only where the table says 0 are the
 * texts that end their first window with those bytes compared. Most bytes of a log are never
 * looked at, and no string is built: the log scan turns only the lines around hits into text.
 *
 * Case-sensitive, byte for byte (the texts are ASCII, as the server writes them).
 */

const TABLE_BITS = 15;
const TABLE_MASK = (1 << TABLE_BITS) - 1;
/** Bytes hashed per window position. */
const BLOCK = 3;

function hash3(a: number, b: number, c: number): number {
  return ((a << 10) ^ (b << 5) ^ c) & TABLE_MASK;
}

export class NeedleSearch {
  private readonly needles: Buffer[];
  /** Length of the shortest needle: the window. */
  private readonly m: number;
  private readonly shift: Uint8Array;
  /** Needles (indexes) whose first window ends with a block of this hash. */
  private readonly buckets: Array<number[] | undefined>;

  constructor(texts: readonly string[]) {
    this.needles = [...new Set(texts)].filter((t) => t.length > 0).map((t) => Buffer.from(t, 'latin1'));
    if (!this.needles.length) throw new Error('NeedleSearch: no texts');
    this.m = Math.min(...this.needles.map((n) => n.length));
    if (this.m < BLOCK) throw new Error(`NeedleSearch: texts must be at least ${BLOCK} bytes long`);
    const maxShift = Math.min(255, this.m - BLOCK + 1);
    this.shift = new Uint8Array(1 << TABLE_BITS).fill(maxShift);
    this.buckets = new Array<number[] | undefined>(1 << TABLE_BITS);
    this.needles.forEach((n, idx) => {
      for (let j = BLOCK - 1; j < this.m; j++) {
        const h = hash3(n[j - 2]!, n[j - 1]!, n[j]!);
        const s = this.m - 1 - j;
        if (s < this.shift[h]!) this.shift[h] = s;
      }
      const h = hash3(n[this.m - 3]!, n[this.m - 2]!, n[this.m - 1]!);
      (this.buckets[h] ??= []).push(idx);
    });
  }

  /**
   * Call `onHit(position)` for matches in `buf[from, to)`, in order. `onHit` returns where to go
   * on searching (e.g. the end of the line just handled), at least one past the hit.
   */
  scan(buf: Uint8Array, from: number, to: number, onHit: (at: number) => number): void {
    const { m, shift, buckets, needles } = this;
    let pos = from + m - 1;
    while (pos < to) {
      const s = shift[hash3(buf[pos - 2]!, buf[pos - 1]!, buf[pos]!)]!;
      if (s !== 0) {
        pos += s;
        continue;
      }
      const start = pos - m + 1;
      let hit = false;
      for (const idx of buckets[hash3(buf[pos - 2]!, buf[pos - 1]!, buf[pos]!)]!) {
        const n = needles[idx]!;
        if (start + n.length > to) continue;
        let k = 0;
        while (k < n.length && buf[start + k] === n[k]) k++;
        if (k === n.length) {
          hit = true;
          break;
        }
      }
      if (hit) {
        const next = onHit(start);
        pos = Math.max(next, start + 1) + m - 1;
      } else pos++;
    }
  }
}
