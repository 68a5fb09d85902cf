/**
 * `--log FILE…`: Calendar Server logs, plain or gzip, streamed with bounded memory (a 1 GB log is
 * never read whole): chunks of 1 MiB, a line longer than 1 MiB is skipped, and only matched lines
 * are ever turned into strings of their own. Each file is scanned once for all the
 * {@link LOG_PATTERNS} needles at once, in the raw bytes (needle-search.ts); a hit's line is matched
 * against the patterns that own the needle. Per finding id the scan keeps the count, the first and last time, the latest line
 * (the example) and a bounded set of captured values (Message-IDs of "didn't find a token" lines
 * with their To, principal names, users...), for the diagnosis to link and judge.
 *
 * Line formats recognised (liberal):
 *   2.x/3.x–4.x twistd   `2011-05-10 12:00:00-0700 [-] [mailgateway] Mail gateway didn't …`
 *   5.0+ namespaced      `2016-03-02 10:00:00+0000 [-] [txdav.caldav.datastore.scheduling.imip.inbound#error] …`
 *   anything else        the text anywhere in the line (syslog, a pasted excerpt)
 */
import { createReadStream } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { createGunzip } from 'node:zlib';
import { Readable } from 'node:stream';
import { LOG_PATTERNS, type LogPattern } from './log-patterns.js';
import { NeedleSearch } from './needle-search.js';

/** Bytes read per chunk. */
const CHUNK = 1024 * 1024;
/** Longest line kept; longer ones are counted and skipped. */
export const MAX_LINE = 1024 * 1024;
/** Distinct values kept per captured group (beyond: counted only). */
const MAX_VALUES = 1000;
/** Distinct Message-IDs of "didn't find a token" lines kept for linking. */
const MAX_NO_TOKEN_IDS = 10_000;
/** Bytes of decompressed data examined to tell a text log from binary data. */
const SNIFF_BYTES = 64 * 1024;
/** Example lines are cut to this many characters. */
const EXAMPLE_CHARS = 600;

export type LogFormat = 'twistd-gateway' | 'twistd' | 'namespaced' | 'other';

export interface LogTime {
  /** As written in the line. */
  text: string;
  /** Milliseconds since the epoch when the text carries a full date; null otherwise. */
  ms: number | null;
  file: string;
  line: number;
}

export interface CapturedValue {
  value: string;
  count: number;
  last: LogTime;
}

export interface LogEntry {
  id: string;
  pattern: LogPattern;
  count: number;
  first: LogTime;
  last: LogTime;
  /** The latest line (by time, else by position), cut to 600 characters. */
  example: string;
  formats: Record<LogFormat, number>;
  /** Captured named groups: group → value → stats (bounded). */
  values: Map<string, Map<string, CapturedValue>>;
  /** Values not kept because of the bound. */
  valuesDropped: number;
  /** 5.0+ namespace#level of the example line, when it has one. */
  namespace?: string;
  level?: string;
}

export interface NoTokenLine {
  messageId: string;
  /** The raw To header the server quoted. */
  to: string;
  count: number;
  last: LogTime;
}

export interface LogFileResult {
  path: string;
  status: 'read' | 'partial' | 'error';
  error?: string;
  gzip: boolean;
  /** Bytes of log text scanned (after decompression). */
  bytes: number;
  lines: number;
  /** Lines recognised (any pattern). */
  recognised: number;
  /** Lines longer than 1 MiB, skipped. */
  longLines: number;
  formats: Record<LogFormat, number>;
  ms: number;
}

export interface LogScanResult {
  files: LogFileResult[];
  /** By finding id, in table order of first appearance. */
  entries: Map<string, LogEntry>;
  /** "didn't find a token in message <id> (<To>)": by Message-ID (bounded). */
  noToken: Map<string, NoTokenLine>;
  noTokenDropped: number;
}

const emptyFormats = (): Record<LogFormat, number> => ({ 'twistd-gateway': 0, twistd: 0, namespaced: 0, other: 0 });

/** Every needle, longest first (so the alternation prefers the most specific). */
const NEEDLES = [...new Set(LOG_PATTERNS.flatMap((p) => p.needles))].sort((a, b) => b.length - a.length);
/** All needles at once, over raw bytes. */
const SEARCH = new NeedleSearch(NEEDLES);

const TS_RE = /(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2})(?:[.,](\d+))?\s?(Z|UTC|[+-]\d{2}:?\d{2})?/;
const SYSLOG_TS_RE = /^([A-Z][a-z]{2} {1,2}\d{1,2} \d{2}:\d{2}:\d{2})/;
const NAMESPACE_RE = /\[([\w.^]+)#(debug|info|warn|error|critical)\]/;

/** The time at the start of a line (first 48 characters), as text and, when complete, as ms. */
export function lineTime(line: string): { text: string; ms: number | null } | null {
  const head = line.slice(0, 48);
  const m = TS_RE.exec(head);
  if (m) {
    const [, date, time, frac, zone] = m;
    let tz = '';
    if (zone === 'Z' || zone === 'UTC') tz = 'Z';
    else if (zone) tz = zone.includes(':') ? zone : `${zone.slice(0, 3)}:${zone.slice(3)}`;
    const iso = `${date}T${time}${frac ? `.${frac.slice(0, 3).padEnd(3, '0')}` : ''}${tz || 'Z'}`;
    const ms = Date.parse(iso);
    return { text: m[0], ms: Number.isNaN(ms) ? null : ms };
  }
  const s = SYSLOG_TS_RE.exec(head);
  if (s) return { text: s[1]!, ms: null };
  return null;
}

export function lineFormat(line: string): LogFormat {
  if (NAMESPACE_RE.test(line)) return 'namespaced';
  if (/\[(?:mailgateway|mail ?gateway|caldav_mailgateway)\]/i.test(line)) return 'twistd-gateway';
  if (/^\S+ \S+ \[[^\]]*\]/.test(line)) return 'twistd';
  return 'other';
}

/** Whether `a` is later than `b` (by time when both have one, else by scan order). */
function later(a: LogTime, b: LogTime): boolean {
  if (a.ms !== null && b.ms !== null) return a.ms >= b.ms;
  return true;
}

function earlier(a: LogTime, b: LogTime): boolean {
  if (a.ms !== null && b.ms !== null) return a.ms < b.ms;
  return false;
}

/** A text log, or binary data? NUL bytes, or many control characters, say binary. */
export function looksBinary(sample: Buffer): boolean {
  if (!sample.length) return false;
  let control = 0;
  for (let i = 0; i < sample.length; i++) {
    const b = sample[i]!;
    if (b === 0) return true;
    if (b < 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0d && b !== 0x0c && b !== 0x1b) control++;
  }
  return control / sample.length > 0.05;
}

function fsError(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  switch (e.code) {
    case 'ENOENT':
      return 'no such file';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EISDIR':
      return 'is a directory, not a log file';
    case 'Z_DATA_ERROR':
    case 'Z_BUF_ERROR':
      return `gzip data is corrupt (${e.message})`;
    default:
      return e.message ?? String(err);
  }
}

/**
 * A plain file in chunks of {@link CHUNK} bytes, read into two buffers in turn: the next chunk is
 * read (on libuv's thread pool) while the caller scans this one, so the scan never waits for the
 * disk or the page cache between chunks; waiting there was a quarter of the time of a 300 MB scan.
 * Each chunk is only valid until the next one is asked for (the scan copies what it keeps: a
 * partial last line).
 */
async function* reusedChunks(path: string): AsyncGenerator<Buffer> {
  const fh = await open(path, 'r');
  const buffers = [Buffer.allocUnsafe(CHUNK), Buffer.allocUnsafe(CHUNK)];
  let next = 0;
  // One read in flight at a time (reads at the file position follow each other).
  let pending: Promise<{ bytesRead: number }> | null = fh.read(buffers[0]!, 0, CHUNK, null);
  try {
    for (;;) {
      const { bytesRead } = await pending!;
      pending = null;
      if (bytesRead === 0) return;
      const current = buffers[next]!;
      next ^= 1;
      // Into the other buffer: the chunk the caller scanned last time, which it is done with.
      pending = fh.read(buffers[next]!, 0, CHUNK, null);
      yield current.subarray(0, bytesRead);
    }
  } finally {
    // A read still in flight (the caller stopped early) ends before the file closes.
    await pending?.catch(() => undefined);
    await fh.close();
  }
}

/**
 * The first bytes of a stream that cannot be read twice (at least 2, for the gzip magic, unless it
 * ends first), and the whole stream again from its first byte.
 */
async function readHead(source: Readable): Promise<{ source: Readable; head: Buffer; stream: Readable }> {
  const it = source[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const first: Buffer[] = [];
  let length = 0;
  let done = false;
  while (length < 2) {
    const r = await it.next();
    if (r.done) {
      done = true;
      break;
    }
    first.push(r.value);
    length += r.value.length;
  }
  const head = Buffer.concat(first, length);
  async function* again(): AsyncGenerator<Buffer> {
    if (head.length) yield head;
    if (done) return;
    for (;;) {
      const r = await it.next();
      if (r.done) return;
      yield r.value;
    }
  }
  return { source, head, stream: Readable.from(again(), { objectMode: false }) };
}

export class LogScanner {
  readonly files: LogFileResult[] = [];
  readonly entries = new Map<string, LogEntry>();
  readonly noToken = new Map<string, NoTokenLine>();
  private noTokenDropped = 0;

  /** Scan one file; never throws (a problem is the file's `error`). */
  async scanFile(path: string): Promise<LogFileResult> {
    const started = Date.now();
    const result: LogFileResult = { path, status: 'read', gzip: false, bytes: 0, lines: 0, recognised: 0, longLines: 0, formats: emptyFormats(), ms: 0 };
    this.files.push(result);
    let source: Readable | null = null;
    let stream: AsyncIterable<Buffer>;
    try {
      const st = await stat(path);
      if (st.isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
      if (st.isFile()) {
        const fh = await open(path, 'r');
        const magic = Buffer.alloc(2);
        try {
          await fh.read(magic, 0, 2, 0);
        } finally {
          await fh.close();
        }
        result.gzip = magic[0] === 0x1f && magic[1] === 0x8b;
        // Plain: one buffer, read into again and again (no garbage per chunk, so the peak stays at
        // a few MB whatever the size). Gzip: the file streams through zlib in chunks of that size.
        source = result.gzip ? createReadStream(path, { highWaterMark: CHUNK }) : null;
        stream = source ? source.pipe(createGunzip({ chunkSize: CHUNK })) : reusedChunks(path);
      } else {
        // A pipe (`--log <(ssh host cat error.log)`), a FIFO or a device: read once, from the
        // front, as grep does; it cannot be read again at position 0 to tell gzip from text.
        const piped = await readHead(createReadStream(path, { highWaterMark: CHUNK }));
        source = piped.source;
        result.gzip = piped.head[0] === 0x1f && piped.head[1] === 0x8b;
        stream = result.gzip ? piped.stream.pipe(createGunzip({ chunkSize: CHUNK })) : piped.stream;
      }
    } catch (err) {
      source?.destroy();
      result.status = 'error';
      result.error = fsError(err);
      result.ms = Date.now() - started;
      return result;
    }
    if (source && source !== stream) source.on('error', (err) => (stream as Readable).destroy(err));
    try {
      await this.scanStream(stream, result);
    } catch (err) {
      result.status = result.bytes > 0 && result.status !== 'error' ? 'partial' : 'error';
      result.error ??= fsError(err);
      source?.destroy();
      if (source) (stream as Readable).destroy();
    }
    result.ms = Date.now() - started;
    return result;
  }

  private async scanStream(stream: AsyncIterable<Buffer>, result: LogFileResult): Promise<void> {
    /** The start of a line that continues in the next chunk (copied: at most MAX_LINE bytes). */
    let carry: Buffer | null = null;
    let skipping = false;
    let sniffed = 0;
    for await (const chunk of stream) {
      // Binary data (an image, a database, a core file) is refused before anything is matched.
      if (sniffed < SNIFF_BYTES) {
        const piece = chunk.subarray(0, SNIFF_BYTES - sniffed);
        sniffed += piece.length;
        if (looksBinary(piece)) {
          result.status = 'error';
          result.error = result.gzip ? 'the decompressed data is binary, not a text log' : 'binary data, not a text log';
          throw new Error(result.error);
        }
      }
      result.bytes += chunk.length;
      let from = 0;
      if (skipping) {
        const nl = chunk.indexOf(10);
        if (nl < 0) continue;
        from = nl + 1;
        skipping = false;
        result.lines++;
      }
      if (carry) {
        const nl = chunk.indexOf(10, from);
        if (nl < 0) {
          if (carry.length + chunk.length - from > MAX_LINE) {
            skipping = true;
            result.longLines++;
            carry = null;
          } else carry = Buffer.concat([carry, chunk.subarray(from)]);
          continue;
        }
        // Only the carried line is joined; the rest of the chunk is searched where it lies.
        const line: Buffer = Buffer.concat([carry, chunk.subarray(from, nl + 1)]);
        carry = null;
        from = nl + 1;
        if (line.length - 1 > MAX_LINE) {
          result.longLines++;
          result.lines++;
        } else this.scanBlock(line, 0, line.length, result);
      }
      const lastNl = chunk.lastIndexOf(10);
      if (lastNl >= from) {
        this.scanBlock(chunk, from, lastNl + 1, result);
        from = lastNl + 1;
      }
      const rest = chunk.length - from;
      if (rest > MAX_LINE) {
        skipping = true;
        result.longLines++;
      } else if (rest) carry = Buffer.from(chunk.subarray(from));
    }
    if (carry && carry.length) this.scanBlock(Buffer.concat([carry, Buffer.from('\n')]), 0, carry.length + 1, result);
    else if (skipping) result.lines++;
  }

  /**
   * Whole lines `block[from, to)` (the last ends with \n): every server text is looked for in the
   * raw bytes at once ({@link NeedleSearch}); only a line with a hit becomes a string. Newlines
   * are counted natively (indexOf) for the line numbers and the file's line count.
   */
  private scanBlock(block: Buffer, from: number, to: number, result: LogFileResult): void {
    let lineNo = result.lines;
    let counted = from;
    SEARCH.scan(block, from, to, (at) => {
      const start = at > from ? block.lastIndexOf(10, at - 1) + 1 : from;
      const lineStart = start < from ? from : start;
      let end = block.indexOf(10, at);
      if (end < 0 || end >= to) end = to - 1;
      for (let i = block.indexOf(10, counted); i >= 0 && i < lineStart; i = block.indexOf(10, i + 1)) lineNo++;
      counted = lineStart;
      this.matchLine(block, lineStart, end, block.toString('latin1', lineStart, end), lineNo + 1, result);
      return end + 1;
    });
    for (let i = block.indexOf(10, counted); i >= 0 && i < to; i = block.indexOf(10, i + 1)) lineNo++;
    result.lines = lineNo;
  }

  private matchLine(block: Buffer, start: number, end: number, latin1: string, lineNo: number, result: LogFileResult): void {
    const candidates = LOG_PATTERNS.filter((p) => p.needles.some((n) => latin1.includes(n)));
    if (!candidates.length) return;
    // Decode the line properly now that it matters (names and addresses may be UTF-8).
    const line = block.toString('utf8', start, end).replace(/\r$/, '');
    for (const p of candidates) {
      const m = p.re.exec(line);
      if (!m) continue;
      result.recognised++;
      const format = lineFormat(line);
      result.formats[format]++;
      this.record(p, m, line, format, result.path, lineNo);
      return;
    }
  }

  private record(p: LogPattern, m: RegExpExecArray, line: string, format: LogFormat, file: string, lineNo: number): void {
    const t = lineTime(line);
    const when: LogTime = { text: t?.text ?? '', ms: t?.ms ?? null, file, line: lineNo };
    let e = this.entries.get(p.id);
    if (!e) {
      e = { id: p.id, pattern: p, count: 0, first: when, last: when, example: '', formats: emptyFormats(), values: new Map(), valuesDropped: 0 };
      this.entries.set(p.id, e);
    }
    e.count++;
    e.formats[format]++;
    if (earlier(when, e.first)) e.first = when;
    if (e.count === 1 || later(when, e.last)) {
      e.last = when;
      e.example = line.length > EXAMPLE_CHARS ? `${line.slice(0, EXAMPLE_CHARS)}…` : line;
      const ns = NAMESPACE_RE.exec(line);
      if (ns) {
        e.namespace = ns[1]!;
        e.level = ns[2]!;
      } else {
        delete e.namespace;
        delete e.level;
      }
    }
    for (const [group, raw] of Object.entries(m.groups ?? {})) {
      if (raw === undefined) continue;
      const value = raw.trim();
      let byValue = e.values.get(group);
      if (!byValue) e.values.set(group, (byValue = new Map()));
      const v = byValue.get(value);
      if (v) {
        v.count++;
        if (later(when, v.last)) v.last = when;
      } else if (byValue.size < MAX_VALUES) byValue.set(value, { value, count: 1, last: when });
      else e.valuesDropped++;
    }
    if (p.id === 'log.no-token' && m.groups?.id) {
      const id = m.groups.id;
      const seen = this.noToken.get(id);
      if (seen) {
        seen.count++;
        if (later(when, seen.last)) seen.last = when;
      } else if (this.noToken.size < MAX_NO_TOKEN_IDS) this.noToken.set(id, { messageId: id, to: m.groups.to ?? '', count: 1, last: when });
      else this.noTokenDropped++;
    }
  }

  result(): LogScanResult {
    return { files: this.files, entries: this.entries, noToken: this.noToken, noTokenDropped: this.noTokenDropped };
  }
}

/** Values of one captured group, most frequent first. */
export function topValues(e: LogEntry, group: string, n = 10): CapturedValue[] {
  const byValue = e.values.get(group);
  if (!byValue) return [];
  return [...byValue.values()].sort((a, b) => b.count - a.count || (b.last.ms ?? 0) - (a.last.ms ?? 0)).slice(0, n);
}
