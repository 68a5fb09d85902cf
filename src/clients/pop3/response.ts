/**
 * POP3 answer parsing, with no I/O: status lines (RFC 1939 `+OK` / `-ERR`, RFC 2449 response codes,
 * SASL `+ ` continuations) and multi-line bodies ended by CRLF.CRLF, dot-unstuffed on the fly.
 *
 * `ResponseReader` is fed raw socket chunks in any size and at any boundary (even inside the
 * terminator) and matches complete answers, in order, to a queue of expectations. A body is
 * either collected into one Buffer (CAPA, LIST, UIDL, TOP) or handed to `onChunk` as it arrives
 * (RETR), so a large message is never held in memory.
 */

const CR = 0x0d;
const LF = 0x0a;
const DOT = 0x2e;
const EMPTY = Buffer.alloc(0);

export type StatusKind = 'ok' | 'err' | 'continue';

export interface StatusLine {
  kind: StatusKind;
  ok: boolean;
  /** RFC 2449 response code without brackets, such as `AUTH`, `IN-USE`, `SYS/TEMP`. */
  code?: string;
  /** Text after the indicator and the response code (for `+ ` continuations: the base64 challenge). */
  text: string;
  /** The whole line without CRLF. */
  raw: string;
}

const STATUS_RE = /^(\+OK|-ERR)(?:[ \t]+(.*))?$/i;
const CONTINUE_RE = /^\+(?:[ \t](.*))?$/;
const CODE_RE = /^\[([^\]\r\n]*)\][ \t]*(.*)$/;

/** Parses one status line (without CRLF); `undefined` if it is not a POP3 status line. */
export function parseStatusLine(raw: string): StatusLine | undefined {
  const m = STATUS_RE.exec(raw);
  if (m) {
    const ok = (m[1] ?? '').toUpperCase() === '+OK';
    let text = (m[2] ?? '').trimEnd();
    let code: string | undefined;
    const c = CODE_RE.exec(text);
    if (c) {
      code = (c[1] ?? '').trim();
      text = c[2] ?? '';
    }
    const status: StatusLine = { kind: ok ? 'ok' : 'err', ok, text, raw };
    if (code !== undefined) status.code = code;
    return status;
  }
  const k = CONTINUE_RE.exec(raw);
  if (k) return { kind: 'continue', ok: false, text: (k[1] ?? '').trim(), raw };
  return undefined;
}

/** Splits a collected multi-line body into lines (CRLF or LF), without a trailing empty line. */
export function bodyLines(body: Buffer): string[] {
  if (body.length === 0) return [];
  const text = body.toString('utf8');
  const lines = text.split(/\r?\n/);
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}

export interface ResponseExpectation {
  /** True when a `+OK` answer to this command is followed by a multi-line body. */
  multiline: boolean;
  /** Streams the (dot-unstuffed) body instead of collecting it; `body` is then absent. */
  onChunk?: (chunk: Buffer) => void;
}

export interface Pop3Response {
  status: StatusLine;
  /** The collected multi-line body (unstuffed; CRLF kept; terminator removed). */
  body?: Buffer;
  /** Number of body octets after unstuffing (also when streamed). */
  bodyBytes: number;
}

export interface ReaderHandlers<E extends ResponseExpectation> {
  onResponse(response: Pop3Response, expectation: E): void;
  /** A violation the stream cannot recover from; the reader stops after it. */
  onError(message: string): void;
}

export interface ReaderOptions {
  /** Longest status line accepted (RFC 2449 allows 512 octets; servers exceed it). */
  maxLineLength?: number;
}

/**
 * Incremental reader of POP3 answers. Call `expect()` once per command sent (and once for the
 * greeting), in send order, and `push()` for every chunk received; `onResponse` fires once per
 * complete answer, in order. Re-entrant: handlers may call `expect()`.
 */
export class ResponseReader<E extends ResponseExpectation = ResponseExpectation> {
  private buf: Buffer = EMPTY;
  private off = 0;
  private incoming: Buffer[] = [];
  private readonly queue: E[] = [];
  private state: 'status' | 'body' = 'status';
  private atLineStart = true;
  private status: StatusLine | undefined;
  private parts: Buffer[] = [];
  private bodyBytes = 0;
  private draining = false;
  private failed = false;
  private readonly maxLineLength: number;

  constructor(
    private readonly handlers: ReaderHandlers<E>,
    options: ReaderOptions = {},
  ) {
    this.maxLineLength = options.maxLineLength ?? 64 * 1024;
  }

  /** Answers still expected (including one being read). */
  get pending(): number {
    return this.queue.length;
  }

  /** Octets received but not yet consumed by any answer. */
  get buffered(): number {
    return this.buf.length - this.off + this.incoming.reduce((n, b) => n + b.length, 0);
  }

  /** True while a multi-line body is being read. */
  get inBody(): boolean {
    return this.state === 'body';
  }

  get hasFailed(): boolean {
    return this.failed;
  }

  expect(expectation: E): void {
    if (this.failed) return;
    this.queue.push(expectation);
    this.drain();
  }

  push(chunk: Buffer): void {
    if (this.failed || chunk.length === 0) return;
    this.incoming.push(chunk);
    this.drain();
  }

  private merge(): void {
    if (this.incoming.length === 0) return;
    const rest = this.off < this.buf.length ? [this.buf.subarray(this.off)] : [];
    const all = rest.concat(this.incoming);
    this.buf = all.length === 1 ? (all[0] as Buffer) : Buffer.concat(all);
    this.off = 0;
    this.incoming = [];
  }

  private fail(message: string): void {
    this.failed = true;
    this.buf = EMPTY;
    this.off = 0;
    this.incoming = [];
    this.parts = [];
    this.handlers.onError(message);
  }

  private drain(): void {
    if (this.draining) return;
    this.draining = true;
    try {
      for (;;) {
        this.merge();
        if (this.failed) return;
        const progressed =
          this.queue.length > 0 && this.off < this.buf.length
            ? this.state === 'status'
              ? this.readStatus()
              : this.readBody()
            : false;
        if (this.failed) return;
        if (!progressed && this.incoming.length === 0) break;
      }
      if (this.off >= this.buf.length) {
        this.buf = EMPTY;
        this.off = 0;
      } else if (this.queue.length === 0 && this.buf.length - this.off > this.maxLineLength) {
        this.fail(`unsolicited data from the server (${this.buf.length - this.off} octets with no command pending)`);
      }
    } finally {
      this.draining = false;
    }
  }

  /** Reads one status line if complete; returns whether anything was consumed. */
  private readStatus(): boolean {
    const b = this.buf;
    const nl = b.indexOf(LF, this.off);
    if (nl < 0) {
      if (b.length - this.off > this.maxLineLength) {
        this.fail(`status line longer than ${this.maxLineLength} octets`);
      }
      return false;
    }
    if (nl - this.off > this.maxLineLength) {
      this.fail(`status line longer than ${this.maxLineLength} octets`);
      return false;
    }
    let end = nl;
    if (end > this.off && b[end - 1] === CR) end--;
    const raw = b.toString('utf8', this.off, end);
    this.off = nl + 1;
    const status = parseStatusLine(raw);
    if (!status) {
      this.fail(`not a POP3 status line: ${JSON.stringify(raw.slice(0, 200))}`);
      return false;
    }
    const exp = this.queue[0] as E;
    if (status.kind === 'ok' && exp.multiline) {
      this.state = 'body';
      this.atLineStart = true;
      this.status = status;
      this.parts = [];
      this.bodyBytes = 0;
    } else {
      this.queue.shift();
      this.handlers.onResponse({ status, bodyBytes: 0 }, exp);
    }
    return true;
  }

  private emit(from: number, to: number): void {
    if (to <= from) return;
    const chunk = this.buf.subarray(from, to);
    this.bodyBytes += chunk.length;
    const sink = (this.queue[0] as E).onChunk;
    if (sink) sink(chunk);
    else this.parts.push(chunk);
  }

  private finishBody(): void {
    const exp = this.queue.shift() as E;
    const response: Pop3Response = { status: this.status as StatusLine, bodyBytes: this.bodyBytes };
    if (!exp.onChunk) response.body = this.parts.length === 1 ? this.parts[0] : Buffer.concat(this.parts);
    this.state = 'status';
    this.status = undefined;
    this.parts = [];
    this.bodyBytes = 0;
    this.handlers.onResponse(response, exp);
  }

  /**
   * Consumes body octets. Runs of ordinary lines are passed on as one slice; only a `.` at the
   * start of a line splits them (stuffing dot dropped, or the terminator found). A line start
   * that is `.` or `.\r` at the end of the data waits for more (at most 2 octets are held).
   */
  private readBody(): boolean {
    const b = this.buf;
    const n = b.length;
    const start = this.off;
    let i = start;
    let from = start;
    while (i < n) {
      if (this.atLineStart) {
        if (b[i] !== DOT) {
          this.atLineStart = false;
          continue;
        }
        if (i + 1 >= n) break;
        const c1 = b[i + 1];
        if (c1 === LF || (c1 === CR && i + 2 < n && b[i + 2] === LF)) {
          this.emit(from, i);
          this.off = i + (c1 === LF ? 2 : 3);
          this.finishBody();
          return true;
        }
        if (c1 === CR && i + 2 >= n) break;
        // A stuffed dot: drop it, keep the rest of the line.
        this.emit(from, i);
        i += 1;
        from = i;
        this.atLineStart = false;
        continue;
      }
      const nl = b.indexOf(LF, i);
      if (nl < 0) {
        i = n;
        break;
      }
      i = nl + 1;
      this.atLineStart = true;
    }
    this.emit(from, i);
    this.off = i;
    return i > start;
  }
}
