/**
 * A read-only reader of the SQLite 3 file format, just enough to scan one table: the header, the
 * schema table on page 1, table B-tree pages (interior and leaf), overflow chains and records
 * (https://www.sqlite.org/fileformat2.html: "The Database Header", "B-tree Pages", "Cell Payload
 * Overflow Pages", "Record Format"). It works on bytes already in memory, so it takes no lock and
 * writes nothing. Every offset is checked; a damaged file is a {@link SqliteFormatError}, never a
 * crash or an endless loop.
 */
export class SqliteFormatError extends Error {}

export type SqliteValue = string | number | bigint | Buffer | null;

const MAGIC = 'SQLite format 3\u0000';
/** Content length of serial types 0..11 (10 and 11 are reserved). */
const FIXED_LENGTH = [0, 1, 2, 3, 4, 6, 8, 8, 0, 0, 0, 0];

export interface SqliteFile {
  /** Column names of a table, from its CREATE TABLE statement; null when there is no such table. */
  columns(table: string): string[] | null;
  /** Every row of a table as values in column order (missing trailing columns are null). */
  rows(table: string): SqliteValue[][];
  /** The file is in WAL mode (its latest changes may sit in the -wal file). */
  wal: boolean;
}

export function openSqlite(buf: Buffer): SqliteFile {
  if (buf.length < 100 || buf.toString('latin1', 0, 16) !== MAGIC) throw new SqliteFormatError('not a SQLite database');
  const rawSize = buf.readUInt16BE(16);
  const pageSize = rawSize === 1 ? 65536 : rawSize;
  if (pageSize < 512 || (pageSize & (pageSize - 1)) !== 0) throw new SqliteFormatError(`bad page size ${rawSize}`);
  const usable = pageSize - buf[20]!;
  const encoding = buf.readUInt32BE(56) || 1;
  if (encoding < 1 || encoding > 3) throw new SqliteFormatError(`bad text encoding ${encoding}`);
  const pages = Math.floor(buf.length / pageSize);
  const wal = buf[18] === 2 || buf[19] === 2;

  const page = (n: number): number => {
    if (!Number.isInteger(n) || n < 1 || n > pages) throw new SqliteFormatError(`page ${n} is outside the file (${pages} pages)`);
    return (n - 1) * pageSize;
  };
  /** A varint as a number (values above 2^53 are refused: no length or offset gets that big). */
  const varint = (src: Buffer, at: number, end: number): [number, number] => {
    let v = 0;
    for (let i = 0; i < 9; i++) {
      if (at + i >= end) throw new SqliteFormatError('truncated varint');
      const b = src[at + i]!;
      if (i === 8) {
        v = v * 256 + b;
        if (v > Number.MAX_SAFE_INTEGER) throw new SqliteFormatError('value out of range');
        return [v, at + 9];
      }
      v = v * 128 + (b & 0x7f);
      if (!(b & 0x80)) {
        if (v > Number.MAX_SAFE_INTEGER) throw new SqliteFormatError('value out of range');
        return [v, at + i + 1];
      }
    }
    throw new SqliteFormatError('bad varint');
  };
  const text = (b: Buffer, start: number, end: number): string => {
    if (encoding === 1) return b.toString('utf8', start, end);
    if (encoding === 2) return b.toString('utf16le', start, end);
    const swapped = Buffer.from(b.subarray(start, end));
    swapped.swap16();
    return swapped.toString('utf16le');
  };

  /** A table leaf cell's payload: the local part, then the overflow chain. */
  const payload = (at: number, size: number, pageEnd: number): Buffer => {
    const maxLocal = usable - 35;
    if (size <= maxLocal) {
      if (at + size > pageEnd) throw new SqliteFormatError('cell runs past its page');
      return buf.subarray(at, at + size);
    }
    const minLocal = Math.floor(((usable - 12) * 32) / 255) - 23;
    const k = minLocal + ((size - minLocal) % (usable - 4));
    const local = k <= maxLocal ? k : minLocal;
    if (at + local + 4 > pageEnd) throw new SqliteFormatError('cell runs past its page');
    const parts: Buffer[] = [buf.subarray(at, at + local)];
    let left = size - local;
    let next = buf.readUInt32BE(at + local);
    const seen = new Set<number>();
    while (left > 0) {
      if (seen.has(next)) throw new SqliteFormatError('overflow chain loops');
      seen.add(next);
      const o = page(next);
      const take = Math.min(left, usable - 4);
      parts.push(buf.subarray(o + 4, o + 4 + take));
      left -= take;
      next = buf.readUInt32BE(o);
    }
    return Buffer.concat(parts);
  };

  const record = (p: Buffer): SqliteValue[] => {
    const [headerEnd, afterSize] = varint(p, 0, p.length);
    if (headerEnd > p.length || headerEnd < afterSize) throw new SqliteFormatError('bad record header');
    let at = afterSize;
    let body = headerEnd;
    const out: SqliteValue[] = [];
    while (at < headerEnd) {
      const [t, n] = varint(p, at, headerEnd);
      at = n;
      const len = t >= 12 ? Math.floor((t - 12) / 2) : FIXED_LENGTH[t]!;
      if (body + len > p.length) throw new SqliteFormatError('record body too short');
      if (t === 0) out.push(null);
      else if (t <= 5) out.push(p.readIntBE(body, len));
      else if (t === 6) {
        const v = p.readBigInt64BE(body);
        out.push(v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v);
      } else if (t === 7) out.push(p.readDoubleBE(body));
      else if (t === 8) out.push(0);
      else if (t === 9) out.push(1);
      else if (t >= 13 && t % 2 === 1) out.push(text(p, body, body + len));
      else if (t >= 12) out.push(Buffer.from(p.subarray(body, body + len)));
      else throw new SqliteFormatError(`reserved serial type ${t}`);
      body += len;
    }
    return out;
  };

  /** Every row of the table B-tree rooted at `root`, in rowid order (iterative, loop-safe). */
  const scan = (root: number): SqliteValue[][] => {
    const out: SqliteValue[][] = [];
    const stack = [root];
    const seen = new Set<number>();
    while (stack.length) {
      const n = stack.pop()!;
      if (seen.has(n)) throw new SqliteFormatError('B-tree loops');
      seen.add(n);
      const base = page(n);
      const h = n === 1 ? base + 100 : base;
      const end = base + pageSize;
      const kind = buf[h];
      const cells = buf.readUInt16BE(h + 3);
      if (kind === 0x0d) {
        if (h + 8 + 2 * cells > end) throw new SqliteFormatError('cell pointers run past the page');
        for (let i = 0; i < cells; i++) {
          const ptr = base + buf.readUInt16BE(h + 8 + 2 * i);
          if (ptr >= end) throw new SqliteFormatError('cell pointer outside its page');
          const [size, a] = varint(buf, ptr, end);
          const [, b] = varint(buf, a, end);
          out.push(record(payload(b, size, end)));
        }
      } else if (kind === 0x05) {
        if (h + 12 + 2 * cells > end) throw new SqliteFormatError('cell pointers run past the page');
        // Children pushed right to left, so they are visited left to right.
        stack.push(buf.readUInt32BE(h + 8));
        for (let i = cells - 1; i >= 0; i--) {
          const ptr = base + buf.readUInt16BE(h + 12 + 2 * i);
          if (ptr + 4 > end) throw new SqliteFormatError('cell pointer outside its page');
          stack.push(buf.readUInt32BE(ptr));
        }
      } else {
        throw new SqliteFormatError(`page ${n} is not a table B-tree page (type ${kind})`);
      }
    }
    return out;
  };

  // sqlite_schema: type, name, tbl_name, rootpage, sql.
  const schema = scan(1);
  const table = (name: string): { root: number; sql: string } | null => {
    const row = schema.find((r) => r[0] === 'table' && typeof r[1] === 'string' && r[1].toLowerCase() === name.toLowerCase());
    return row ? { root: Number(row[3]), sql: String(row[4] ?? '') } : null;
  };
  return {
    wal,
    columns(name) {
      const t = table(name);
      return t ? columnNames(t.sql) : null;
    },
    rows(name) {
      const t = table(name);
      if (!t) throw new SqliteFormatError(`no table ${name}`);
      const width = columnNames(t.sql).length;
      return scan(t.root).map((r) => (r.length >= width ? r : [...r, ...new Array<null>(width - r.length).fill(null)]));
    },
  };
}

/** Column names from `CREATE TABLE name (col type, ..., table constraints)`. */
export function columnNames(sql: string): string[] {
  const open = sql.indexOf('(');
  const close = sql.lastIndexOf(')');
  if (open < 0 || close < open) return [];
  const parts: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of sql.slice(open + 1, close)) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      parts.push(cur);
      cur = '';
    } else cur += ch;
  }
  parts.push(cur);
  const out: string[] = [];
  for (const p of parts) {
    const m = /^\s*(?:"([^"]+)"|`([^`]+)`|\[([^\]]+)\]|(\S+))/.exec(p);
    const quoted = m?.[1] ?? m?.[2] ?? m?.[3];
    const name = quoted ?? m?.[4];
    if (!name) continue;
    if (!quoted && /^(constraint|primary|unique|check|foreign)$/i.test(name)) continue;
    out.push(name);
  }
  return out;
}
