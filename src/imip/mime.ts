/**
 * Structural MIME parsing for raw RFC 5322 messages (POP3 RETR, a saved .eml, stdin), push-based
 * so a 50 MB message never sits in memory: only the bodies a caller asks for are kept (decoded,
 * capped), everything else is counted and dropped as it streams. Mirrors what the server's Python
 * `email.message_from_string` makes of a message where the verdict depends on it
 * (`MailHandler.inbound`/`MailReceiver.inbound`): boundaries of every enclosing multipart end a
 * part, a missing closing boundary runs to the end, a line that is not a header ends a header
 * block.
 * No dependencies. Hostile input yields `problems`, never an exception.
 */
import { bufferView } from './bytes.js';
import { BodyCollector, bodyCap, createDecoder, MAX_BODY_BYTES, MAX_CALENDAR_BYTES, noteDecoding, transferEncodingRead, type BodyDecoder } from './mime-decode.js';
import { decodeHeaderBytes, HEADER_BLOCK_ENDED, HeaderList, isHeaderLineBytes, MAX_HEADER_BYTES, parseHeaderLines, VERDICT_HEADER_FIELDS } from './mime-headers.js';
import {
  childNumber,
  embeddedRootNumber,
  isMessageType,
  partFromHeaders,
  type MimePart,
} from './mime-part.js';

export {
  HeaderList,
  headerBytesToString,
  parseHeaderBlock,
  parseHeaderLines,
  decodeWords,
  decodeCharset,
  parseParams,
  paramsFromPairs,
  MAX_HEADER_BYTES,
  type ParsedParams,
} from './mime-headers.js';
export { MAX_BODY_BYTES, MAX_CALENDAR_BYTES } from './mime-decode.js';
export {
  nestingDepth,
  walkParts,
  leafParts,
  fileName,
  childNumber,
  embeddedRootNumber,
  type MimePart,
} from './mime-part.js';
export {
  fromBodyStructure,
  headersFromEnvelope,
  imapDownloadPart,
  type ImapBodyStructure,
  type ImapEnvelope,
} from './mime-bodystructure.js';

export interface MimeLimits {
  /** Per header block (message or part). */
  maxHeaderBytes: number;
  /** Multiparts and encapsulated messages inside each other. */
  maxDepth: number;
  /** Decoded bytes kept per wanted part. */
  maxBodyBytes: number;
  /** Decoded bytes kept of the wanted text/calendar parts together (each keeps maxBodyBytes at least). */
  maxCalendarBytes: number;
  /** Parts in the whole message; past it the rest of the message is only counted. */
  maxParts: number;
  /** Header bytes kept for all encapsulated messages together; past it they are kept empty. */
  maxEmbeddedHeaderBytes: number;
}

export const DEFAULT_LIMITS: MimeLimits = {
  maxHeaderBytes: MAX_HEADER_BYTES,
  // Past the depth Calendar Server's own parser reaches (classify.ts MIME_NESTING_LIMIT), so
  // that every message it parses is parsed whole here, and a deeper one is seen to be deeper.
  maxDepth: 1000,
  maxBodyBytes: MAX_BODY_BYTES,
  maxCalendarBytes: MAX_CALENDAR_BYTES,
  maxParts: 10_000,
  maxEmbeddedHeaderBytes: 4 * MAX_HEADER_BYTES,
};

export interface ParsedMessage {
  headers: HeaderList;
  root: MimePart;
  /** Decoded bodies of the wanted leaf parts, by part number. */
  bodies: Map<string, Buffer>;
  problems: string[];
  /** Octets read. */
  size: number;
}

/** Decides, once a leaf part's headers are read, whether its body is kept. */
export type WantBody = (part: MimePart) => boolean;

/** A line longer than this cannot be a boundary; it is passed on in pieces. */
const LONG_LINE = 8 * 1024;
const DASH = 0x2d;
const CRLF = Buffer.from('\r\n');
const LF = Buffer.from('\n');
const CR = Buffer.from('\r');
/** Fields kept past a header block's maxHeaderBytes, in lower case (see storeHeader). */
const KEPT_PAST_CAP: readonly string[] = VERDICT_HEADER_FIELDS.map((f) => f.toLowerCase());

/** White space `trimEnd()` takes off a name read as Latin-1: tab, LF, VT, FF, CR, space, no-break space. */
function trimmedLatin1(c: number): boolean {
  return (c >= 0x09 && c <= 0x0d) || c === 0x20 || c === 0xa0;
}

/** `buf[at, at + target.length)` is `target` (lower-case ASCII) in any ASCII case. */
function asciiCaseEquals(buf: Buffer, at: number, target: string): boolean {
  for (let i = 0; i < target.length; i++) {
    const b = buf[at + i]!;
    if ((b >= 0x41 && b <= 0x5a ? b + 0x20 : b) !== target.charCodeAt(i)) return false;
  }
  return true;
}

/**
 * Whether the header line `buf[from, to)` starts a field kept past the cap: its name (up to the
 * colon, or its first 200 bytes) read as Latin-1, trailing white space trimmed and lower-cased, is
 * one of {@link KEPT_PAST_CAP} or starts with `content-`. Read on the bytes: no string per line.
 * (A Latin-1 letter past ASCII lower-cases to another one past ASCII, so it never matches.)
 */
function isVerdictField(buf: Buffer, from: number, to: number): boolean {
  let colon = from;
  while (colon < to && buf[colon] !== 0x3a) colon++;
  let end = colon === to ? from + Math.min(to - from, 200) : colon;
  while (end > from && trimmedLatin1(buf[end - 1]!)) end--;
  const n = end - from;
  if (n >= 8 && asciiCaseEquals(buf, from, 'content-')) return true;
  for (const name of KEPT_PAST_CAP) if (name.length === n && asciiCaseEquals(buf, from, name)) return true;
  return false;
}

interface Frame {
  part: MimePart;
  depth: number;
  bodyStart: number;
  /** `--boundary` of a multipart whose parts are being parsed. */
  delimiter: Buffer | null;
  closed: boolean;
  children: number;
  collector: BodyCollector | null;
  decoder: BodyDecoder | null;
}

/**
 * Bytes of an owned input held as one range, `buf[start, end)`, until they are handed on: lines that
 * follow each other in the input grow it instead of being viewed one by one.
 */
class InputRun {
  private buf: Buffer | null = null;
  private start = 0;
  private end = 0;

  /** `buf[from, to)` when the run ends at `from` in the same input: the run grows to `to`. */
  extend(buf: Buffer, from: number, to: number): boolean {
    if (this.buf !== buf || this.end !== from) return false;
    this.end = to;
    return true;
  }

  begin(buf: Buffer, from: number, to: number): void {
    this.buf = buf;
    this.start = from;
    this.end = to;
  }

  /** The range as one view (null when there is none), and the run empty again. */
  take(): Buffer | null {
    const buf = this.buf;
    if (!buf) return null;
    this.buf = null;
    return buf.subarray(this.start, this.end);
  }
}

type HeaderTarget = { readonly kind: 'top' } | { kind: 'child'; parent: Frame } | { kind: 'embedded'; parent: Frame };
const TOP: HeaderTarget = { kind: 'top' };

type Mode = 'header' | 'body' | 'stopped';

/**
 * Push-based parser: `write()` chunks of any size, then `end()`. `wantBody` is asked once per leaf
 * part when its headers are complete.
 */
/**
 * The part whose header block the parse ended at a line that is not a header, from the problem it
 * noted: `''` for the message's own, a part number for a part's, null for any other problem (and
 * for an encapsulated message's block).
 */
export function headerBlockEndedIn(problem: string): string | null {
  const m = /^(?:message|part ([\d.]+)): (.*)$/.exec(problem);
  return m && m[2] === HEADER_BLOCK_ENDED ? (m[1] ?? '') : null;
}

export class MimeStreamParser {
  private readonly limits: MimeLimits;
  private readonly problems: string[] = [];
  private readonly bodies = new Map<string, Buffer>();
  private readonly stack: Frame[] = [];
  private mode: Mode = 'header';
  private target: HeaderTarget = TOP;
  private headerChunks: Buffer[] = [];
  /** Header lines of an owned input not yet in headerChunks, with their line ends. */
  private readonly headerRun = new InputRun();
  /** Lines of the block kept with an LF end (each one character short of a CRLF). */
  private headerLfEnds = 0;
  /** Bytes kept of the fields the verdict does not read (at most maxHeaderBytes). */
  private headerLen = 0;
  /** Some of those fields were dropped: they passed maxHeaderBytes. */
  private headerOverflow = false;
  /** Bytes kept of the fields the verdict reads (at most maxHeaderBytes). */
  private verdictLen = 0;
  /** Those fields passed maxHeaderBytes too: nothing more of the block is kept. */
  private headerFull = false;
  /** The field whose lines are arriving is one the verdict reads. */
  private fieldForVerdict = false;
  /** The field whose lines are arriving is kept (false: dropped, past maxHeaderBytes). */
  private fieldKept = true;
  private topHeaders: HeaderList | null = null;
  private root: MimePart | null = null;
  private partial: Buffer[] = [];
  private partialLen = 0;
  private midLine = false;
  /** The last chunk ended with a CR: the line ends there, with or without the next chunk's LF. */
  private crPending = false;
  /** The terminator of the line being handled (a body keeps its own line ends). */
  private lastTerm: Buffer = CRLF;
  private prevTerm = 0;
  private pendingTerm: Buffer | null = null;
  private offset = 0;
  private parts = 0;
  private depthReported = false;
  private embeddedHeaderBytes = 0;
  /** Decoded bytes kept of the text/calendar parts so far (they share maxCalendarBytes). */
  private calendarKept = 0;
  private ended = false;
  private result: ParsedMessage | null = null;
  /**
   * Body bytes of an owned input not yet handed to `bodyRunDecoder`: the lines of one part and the
   * line ends between them, as they lie in the input. A part's body reaches its decoder in one
   * write instead of two per line (a line and its end).
   */
  private readonly bodyRun = new InputRun();
  private bodyRunDecoder: BodyDecoder | null = null;
  /**
   * The caller never writes to the chunks again ({@link parseMessage}): header lines and body
   * lines are read where they lie (InputRun), not copied one by one.
   */
  ownedInput = false;

  constructor(
    private readonly wantBody: WantBody = () => false,
    limits: Partial<MimeLimits> = {},
  ) {
    this.limits = { ...DEFAULT_LIMITS, ...limits };
  }

  /**
   * Feed the next bytes. The parser copies what it keeps; the caller may reuse `chunk`.
   *
   * Lines end at CRLF, LF or a bare CR, as in Python's email parser (`email.feedparser`, which the
   * server's `message_from_string` uses: its NLCRE splits on `\r\n|\r|\n`). A CR at the end of a
   * chunk waits for the next one, which may start with its LF.
   */
  write(chunk: Uint8Array): void {
    if (this.ended) throw new Error('MimeStreamParser: write() after end()');
    const buf = bufferView(chunk);
    let pos = 0;
    if (this.crPending) {
      this.crPending = false;
      // The line before ended with a CR at the end of the last chunk: CRLF or a bare CR.
      const withLf = buf.length > 0 && buf[0] === 0x0a;
      const line = this.takePartial(withLf ? CRLF : CR);
      this.completeLine(line, 0, line.length);
      if (withLf) pos = 1;
    }
    // Next CR and next LF, each searched once per chunk and again only when passed (linear).
    let nextLf = buf.indexOf(0x0a, pos);
    let nextCr = buf.indexOf(0x0d, pos);
    while (pos < buf.length) {
      if (nextLf >= 0 && nextLf < pos) nextLf = buf.indexOf(0x0a, pos);
      if (nextCr >= 0 && nextCr < pos) nextCr = buf.indexOf(0x0d, pos);
      let end: number;
      if (nextCr >= 0 && (nextLf < 0 || nextCr < nextLf)) {
        if (nextCr === buf.length - 1) {
          // CR at the end of the chunk: CRLF or a bare CR, decided by the next chunk.
          this.addPartial(buf.subarray(pos, nextCr));
          this.crPending = true;
          return;
        }
        end = buf[nextCr + 1] === 0x0a ? nextCr + 2 : nextCr + 1;
      } else if (nextLf >= 0) {
        end = nextLf + 1;
      } else {
        this.addPartial(buf.subarray(pos));
        return;
      }
      if (this.partialLen) {
        const line = Buffer.concat([...this.partial, buf.subarray(pos, end)]);
        this.partial = [];
        this.partialLen = 0;
        this.completeLine(line, 0, line.length);
      } else {
        // The common case, a line within the chunk: read where it lies.
        this.completeLine(buf, pos, end);
      }
      pos = end;
    }
  }

  /** The partial line plus its terminator, as one line. */
  private takePartial(term: Buffer): Buffer {
    const line = Buffer.concat([...this.partial, term]);
    this.partial = [];
    this.partialLen = 0;
    return line;
  }

  /** No more input: close every open part and return the result. */
  end(): ParsedMessage {
    if (this.result) return this.result;
    this.ended = true;
    if (this.crPending) {
      this.crPending = false;
      const line = this.takePartial(CR);
      this.completeLine(line, 0, line.length);
    }
    if (this.partialLen) {
      const last = Buffer.concat(this.partial);
      this.partial = [];
      this.partialLen = 0;
      const start = this.offset;
      this.offset += last.length;
      this.segment(last, 0, last.length, 0, true, start);
    }
    if (this.offset === 0) this.problems.push('empty message');
    if (this.mode === 'header') this.finishHeaders(this.offset, true);
    // At the end of input no boundary follows, yet Python's parser still takes the last line break
    // from a part that is a child of a multipart (feedparser `_parsegen`: the "newline preceding
    // the boundary" is cut from the last subpart whenever its parse ends); a top-level body, or
    // the body of an encapsulated message, keeps it.
    const top = this.stack[this.stack.length - 1];
    const parent = this.stack[this.stack.length - 2];
    const childOfMultipart = parent !== undefined && parent.part.type.startsWith('multipart/');
    this.flushRun();
    if (top?.decoder && this.pendingTerm && !childOfMultipart) top.decoder.write(this.pendingTerm);
    this.pendingTerm = null;
    while (this.stack.length) this.closeFrame(this.stack.pop()!, this.offset);
    if (!this.root) {
      this.root = partFromHeaders(new HeaderList(), '', 'text/plain');
    }
    this.result = {
      headers: this.topHeaders ?? new HeaderList(),
      root: this.root,
      bodies: this.bodies,
      problems: this.problems,
      size: this.offset,
    };
    return this.result;
  }

  // ---- line splitting -------------------------------------------------------------------

  /** The line `buf[from, end)`, its terminator included, read where it lies (no view is made of it). */
  private completeLine(buf: Buffer, from: number, end: number): void {
    // CRLF, or one byte: LF or a bare CR.
    const term = end - from >= 2 && buf[end - 2] === 0x0d && buf[end - 1] === 0x0a ? 2 : 1;
    this.lastTerm = term === 2 ? CRLF : buf[end - 1] === 0x0d ? CR : LF;
    const start = this.offset;
    this.offset += end - from;
    this.segment(buf, from, end - term, term, true, start);
  }

  private addPartial(piece: Buffer): void {
    this.partial.push(Buffer.from(piece));
    this.partialLen += piece.length;
    if (this.partialLen <= LONG_LINE) return;
    const all = Buffer.concat(this.partial);
    const keep = all[all.length - 1] === 0x0d ? 1 : 0; // a CR may be the start of CRLF
    const seg = all.subarray(0, all.length - keep);
    this.partial = keep ? [Buffer.from(all.subarray(all.length - 1))] : [];
    this.partialLen = keep;
    const start = this.offset;
    this.offset += seg.length;
    this.segment(seg, 0, seg.length, 0, false, start);
  }

  /**
   * One piece of a line, `buf[from, to)` without its terminator: the whole line (`complete`) or the
   * start/middle of a long one. Read in place: a view is made only of what is kept (a header line,
   * a line of a wanted body), not of every line.
   */
  private segment(buf: Buffer, from: number, to: number, term: number, complete: boolean, start: number): void {
    const atLineStart = !this.midLine;
    this.midLine = !complete;
    if (this.mode === 'stopped') return;
    if (atLineStart && complete && to - from >= 2 && buf[from] === DASH && buf[from + 1] === DASH) {
      const hit = this.matchBoundary(buf, from, to);
      if (hit >= 0) {
        const index = hit >> 1;
        // Boundary lines of the same multipart right after a separator, closing or not, are
        // consumed before the part starts (Python 2.7 feedparser `_parsegen`: "Consume any
        // multiple boundary lines that may be following").
        if (this.mode === 'header' && this.target.kind === 'child' && this.headerLen === 0 && this.verdictLen === 0 && !this.headerOverflow && this.stack[index] === this.target.parent) {
          this.prevTerm = term;
          return;
        }
        if (this.mode === 'header') this.finishHeaders(start, true);
        this.onBoundary(index, (hit & 1) === 1, start);
        this.prevTerm = term;
        return;
      }
    }
    if (this.mode === 'header') {
      if (atLineStart && complete && to === from) {
        this.finishHeaders(start + term, false);
        this.prevTerm = term;
        return;
      }
      if (atLineStart && !isHeaderLineBytes(buf, from, to)) {
        this.problems.push(`${this.targetLabel()}: ${HEADER_BLOCK_ENDED}`);
        this.finishHeaders(start, false);
        this.midLine = false;
        this.segment(buf, from, to, term, complete, start);
        return;
      }
      this.storeHeader(buf, from, to, term, atLineStart);
    } else {
      this.bodyBytes(buf, from, to, term, atLineStart);
    }
    if (complete) this.prevTerm = term;
  }

  // ---- headers --------------------------------------------------------------------------

  /**
   * Keep one header line (or a piece of a long one). Python's parser keeps every field, however
   * long the block; this parser keeps maxHeaderBytes of the fields the verdict reads
   * (VERDICT_HEADER_FIELDS, the only ones the IMAP reader fetches, and a part's Content-* fields),
   * and maxHeaderBytes of the others, each on its own: a 2 MB X- header, or 100,000 short ones,
   * before From and To changes nothing the verdict reads, as over IMAP. Only when the fields the
   * verdict reads pass the cap is the rest of the block ignored, and that is said as a problem.
   */
  private storeHeader(buf: Buffer, from: number, to: number, term: number, atLineStart: boolean): void {
    const bytes = to - from + term;
    if (this.headerFull) return;
    if (atLineStart && buf[from] !== 0x20 && buf[from] !== 0x09) {
      this.fieldForVerdict = isVerdictField(buf, from, to);
      this.fieldKept = true;
    }
    if (!this.fieldKept) return;
    if (this.fieldForVerdict) {
      if (this.verdictLen + bytes > this.limits.maxHeaderBytes) {
        this.headerFull = true;
        this.problems.push(
          `${this.targetLabel()}: header fields the verdict reads (From, To, Subject, Content-Type, ...) larger than ${this.limits.maxHeaderBytes} bytes; the rest of the header block was ignored`,
        );
        return;
      }
      this.verdictLen += bytes;
    } else {
      if (this.headerLen + bytes > this.limits.maxHeaderBytes) {
        // This line and the rest of its field are dropped; a later field that still fits is kept.
        this.headerOverflow = true;
        this.fieldKept = false;
        return;
      }
      this.headerLen += bytes;
    }
    // An input nobody writes to again is read where it lies: a run of lines that follow each
    // other, each ending in CRLF or LF, is one range of it. Taken as Python's parser splits lines,
    // the block's lines are the same as with every end written as CRLF (a bare CR could not be
    // read as a line end there, so such a line is kept on its own with a CRLF).
    if (this.ownedInput && term > 0 && (term === 2 || buf[to] === 0x0a)) {
      if (!this.headerRun.extend(buf, from, to + term)) {
        this.flushHeaderRun();
        this.headerRun.begin(buf, from, to + term);
      }
      if (term === 1) this.headerLfEnds++;
      return;
    }
    this.flushHeaderRun();
    const content = buf.subarray(from, to);
    this.headerChunks.push(this.ownedInput ? content : Buffer.from(content));
    if (term) this.headerChunks.push(CRLF);
  }

  /** The header lines held as a range of the input go to the block's chunks. */
  private flushHeaderRun(): void {
    const lines = this.headerRun.take();
    if (lines) this.headerChunks.push(lines);
  }

  /** How a problem names where it is: `message`, `part 1.2`, `message in part 2` (see {@link headerBlockEndedIn}). */
  private targetLabel(): string {
    if (this.target.kind === 'top') return 'message';
    if (this.target.kind === 'embedded') return `message in part ${this.target.parent.part.part}`;
    return `part ${childNumber(this.target.parent.part.part, this.target.parent.children + 1)}`;
  }

  /** The header block is complete; create the part and open it. `noBody`: a boundary or the end followed. */
  private finishHeaders(bodyStart: number, noBody: boolean): void {
    this.flushHeaderRun();
    const chunks = this.headerChunks;
    // Decoded into strings here, so the chunks are never kept: one is read as it is.
    const { text, latin1 } = decodeHeaderBytes(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks));
    // The block's length with every line end a CRLF, as it was counted before runs were kept.
    const textLength = text.length + this.headerLfEnds;
    this.headerLfEnds = 0;
    this.headerChunks = [];
    this.headerLen = 0;
    this.headerOverflow = false;
    this.verdictLen = 0;
    this.headerFull = false;
    this.fieldForVerdict = false;
    this.fieldKept = true;
    const problems: string[] = [];
    const { headers } = parseHeaderLines(text, problems, Number.MAX_SAFE_INTEGER);
    headers.latin1 = latin1;
    const label = this.targetLabel();
    for (const p of problems) if (!p.startsWith(HEADER_BLOCK_ENDED)) this.problems.push(`${label}: ${p}`);
    const target = this.target;
    this.target = TOP;
    let part: MimePart;
    let depth: number;
    if (target.kind === 'top') {
      this.topHeaders = headers;
      part = partFromHeaders(headers, '', 'text/plain');
      this.root = part;
      depth = 0;
    } else if (target.kind === 'child') {
      const parent = target.parent;
      parent.children++;
      const defaultType = parent.part.type === 'multipart/digest' ? 'message/rfc822' : 'text/plain';
      part = partFromHeaders(headers, childNumber(parent.part.part, parent.children), defaultType);
      parent.part.children.push(part);
      depth = parent.depth + 1;
    } else {
      const parent = target.parent;
      part = partFromHeaders(headers, '', 'text/plain');
      part.part = embeddedRootNumber(parent.part.part, part.type.startsWith('multipart/'));
      parent.part.embedded = { headers: this.retainEmbedded(headers, textLength, label), root: part };
      depth = parent.depth + 1;
    }
    this.open(part, depth, bodyStart, noBody);
  }

  /** Keep an encapsulated message's headers while the budget lasts. */
  private retainEmbedded(headers: HeaderList, bytes: number, label: string): HeaderList {
    this.embeddedHeaderBytes += bytes;
    if (this.embeddedHeaderBytes <= this.limits.maxEmbeddedHeaderBytes) return headers;
    this.problems.push(`${label}: headers of encapsulated messages exceed ${this.limits.maxEmbeddedHeaderBytes} bytes in total; not kept`);
    return new HeaderList();
  }

  private open(part: MimePart, depth: number, bodyStart: number, noBody: boolean): void {
    this.mode = 'body';
    this.pendingTerm = null;
    const frame: Frame = {
      part,
      depth,
      bodyStart,
      delimiter: null,
      closed: false,
      children: 0,
      collector: null,
      decoder: null,
    };
    this.stack.push(frame);
    if (++this.parts > this.limits.maxParts) {
      this.problems.push(`more than ${this.limits.maxParts} parts; the rest of the message was not parsed`);
      this.mode = 'stopped';
      return;
    }
    if (depth > this.limits.maxDepth) {
      if (!this.depthReported) {
        this.problems.push(`parts nested deeper than ${this.limits.maxDepth} levels (at ${part.part}); their content was skipped`);
        this.depthReported = true;
      }
      return;
    }
    if (part.type.startsWith('multipart/')) this.openMultipart(frame);
    else if (isMessageType(part.type) && ['7bit', '8bit', 'binary'].includes(part.encoding.trim())) {
      if (!noBody) {
        this.mode = 'header';
        this.target = { kind: 'embedded', parent: frame };
      }
    } else this.openLeaf(frame);
  }

  private openMultipart(frame: Frame): void {
    const boundary = frame.part.params['boundary'];
    if (!boundary) {
      this.problems.push(`part ${frame.part.part || '(message)'} is ${frame.part.type} without a boundary; its body was skipped`);
      return;
    }
    frame.delimiter = Buffer.from(`--${boundary}`, 'latin1');
  }

  private openLeaf(frame: Frame): void {
    let want = false;
    try {
      want = this.wantBody(frame.part);
    } catch (err) {
      this.problems.push(`wantBody failed for part ${frame.part.part}: ${(err as Error).message}`);
    }
    if (!want) return;
    frame.collector = new BodyCollector(bodyCap(frame.part.type, this.calendarKept, this.limits.maxBodyBytes, this.limits.maxCalendarBytes));
    // A whole message nobody writes to again: its body lines are kept as views, not copied.
    frame.decoder = createDecoder(transferEncodingRead(frame.part), frame.collector, { owned: this.ownedInput });
  }

  // ---- bodies and boundaries -------------------------------------------------------------

  private bodyBytes(buf: Buffer, from: number, to: number, term: number, atLineStart: boolean): void {
    const top = this.stack[this.stack.length - 1];
    const decoder = top?.decoder;
    if (decoder && this.ownedInput) {
      const pending = atLineStart ? this.pendingTerm : null;
      // The line follows the run in the input, the line end between them being the pending one:
      // the run grows over both. Otherwise the run goes to the decoder and a new one starts here.
      const lineEndAt = from - (pending ? pending.length : 0);
      if (this.bodyRunDecoder !== decoder || !this.bodyRun.extend(buf, lineEndAt, to)) {
        this.flushRun();
        if (pending) decoder.write(pending);
        this.bodyRunDecoder = decoder;
        this.bodyRun.begin(buf, from, to);
      }
    } else if (decoder) {
      if (atLineStart && this.pendingTerm) decoder.write(this.pendingTerm);
      if (to > from) decoder.write(buf.subarray(from, to));
    }
    if (term) this.pendingTerm = this.lastTerm;
    else if (atLineStart) this.pendingTerm = null;
  }

  /**
   * The open multipart whose delimiter the line is: `--b`, `--b--`, then only white space. The
   * outermost one when several share a boundary: Python's feedparser checks a line against the
   * boundary of every enclosing multipart before the innermost reads it (`BufferedSubFile.readline`,
   * its stack of false-EOF matchers), so a repeated boundary ends the nested parts and belongs to
   * the outer one. With distinct boundaries, as RFC 2046 requires, only one can match.
   * The line is `buf[from, to)`. Returns `index * 2 + (closing ? 1 : 0)`, or -1.
   */
  private matchBoundary(buf: Buffer, from: number, to: number): number {
    for (let i = 0; i < this.stack.length; i++) {
      const d = this.stack[i]!.delimiter;
      if (!d || this.stack[i]!.closed || to - from < d.length) continue;
      // The last byte first: a line that starts with another level's delimiter (or any "--"
      // line) most often differs there, without the cost of Buffer's compare.
      if (buf[from + d.length - 1] !== d[d.length - 1] || buf.compare(d, 0, d.length, from, from + d.length) !== 0) continue;
      let j = from + d.length;
      const close = to - j >= 2 && buf[j] === DASH && buf[j + 1] === DASH;
      if (close) j += 2;
      while (j < to && (buf[j] === 0x20 || buf[j] === 0x09)) j++;
      if (j === to) return i * 2 + (close ? 1 : 0);
    }
    return -1;
  }

  /** Hand the body bytes held as a run to their decoder. */
  private flushRun(): void {
    const body = this.bodyRun.take();
    if (body?.length) this.bodyRunDecoder!.write(body);
    this.bodyRunDecoder = null;
  }

  private onBoundary(index: number, close: boolean, lineStart: number): void {
    const end = lineStart - this.prevTerm;
    while (this.stack.length - 1 > index) this.closeFrame(this.stack.pop()!, end);
    const frame = this.stack[index]!;
    this.pendingTerm = null;
    if (close) {
      frame.closed = true;
      this.mode = 'body';
      if (frame.children === 0) this.problems.push(`multipart ${frame.part.part || '(message)'} closed before any part`);
    } else {
      this.mode = 'header';
      this.target = { kind: 'child', parent: frame };
    }
  }

  private closeFrame(frame: Frame, end: number): void {
    frame.part.size = Math.max(0, end - frame.bodyStart);
    if (frame.decoder && this.bodyRunDecoder === frame.decoder) this.flushRun();
    if (frame.decoder && frame.collector) {
      frame.decoder.end();
      this.bodies.set(frame.part.part, frame.collector.result());
      if (frame.part.type === 'text/calendar') this.calendarKept += frame.collector.kept;
      noteDecoding(frame.part, frame.part.part, frame.collector, this.problems);
      if (frame.collector.truncated) {
        frame.part.truncated = true;
        this.problems.push(`part ${frame.part.part || '(message)'}: body longer than ${frame.collector.cap} bytes; kept the first ${frame.collector.cap}`);
      }
    }
    if (frame.delimiter && !frame.closed) {
      const b = frame.delimiter.toString('latin1').slice(2);
      this.problems.push(`multipart ${frame.part.part || '(message)'} (boundary "${b}") has no closing boundary`);
      if (frame.children === 0) this.problems.push(`multipart ${frame.part.part || '(message)'}: boundary "${b}" never found`);
    }
  }
}

/** Parse a whole message held in memory. Without `wantBody`, every leaf body is kept (capped). */
export function parseMessage(
  buf: Uint8Array,
  wantBody: WantBody = () => true,
  limits?: Partial<MimeLimits>,
): ParsedMessage {
  const parser = new MimeStreamParser(wantBody, limits);
  parser.ownedInput = true;
  parser.write(buf);
  return parser.end();
}
