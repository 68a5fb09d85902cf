/**
 * The poll's FETCH commands, written and read by us on the connection imapflow opened and logged
 * in (connect, TLS and login stay imapflow's; see imap-reader.ts). While borrowed, the socket is
 * unpiped from imapflow's response parser and read with {@link ResponseSplitter}; commands are
 * pipelined (RFC 3501 §5.5: the client may send the next command before the previous one
 * completes). On {@link RawSession.release} the socket goes back to imapflow, which has not
 * missed a byte: every command we sent has completed by then.
 *
 * Untagged FETCH responses are handed to one callback whatever command they answer: each carries
 * its UID (every UID FETCH answer does), so the caller files it by UID and by what it contains.
 */
import type { ImapFlow } from 'imapflow';
import type { Duplex, Writable } from 'node:stream';
import { parseResponse, ResponseSplitter, type WireValue } from './imap-wire.js';

interface FlowInternals {
  socket?: Duplex & { bytesRead?: number; bytesWritten?: number };
  writeSocket?: Writable;
  streamer?: Writable;
  _deflate?: unknown;
}

export class RawSessionError extends Error {
  constructor(
    message: string,
    readonly responseText?: string,
  ) {
    super(message);
  }
}

interface Waiting {
  tag: string;
  command: string;
  resolve: () => void;
  reject: (err: Error) => void;
}

export class RawSession {
  private readonly splitter: ResponseSplitter;
  private readonly waiting = new Map<string, Waiting>();
  private seq = 0;
  /** Where the UIDs of untagged SEARCH answers go while a SEARCH runs. */
  private searchSink: number[] | null = null;
  private failed: Error | null = null;
  private released = false;
  private readonly onData = (chunk: Buffer): void => {
    try {
      this.splitter.push(chunk);
    } catch (err) {
      this.fail(err instanceof Error ? err : new Error(String(err)));
      this.socket.destroy();
    }
  };
  private readonly onClose = (): void => this.fail(new Error('the server closed the connection'));
  private readonly onError = (err: Error): void => this.fail(err);

  private constructor(
    private readonly socket: Duplex,
    private readonly streamer: Writable,
    private readonly onFetch: (attrs: WireValue[], cut: boolean) => void,
    private readonly deferStructure: boolean,
  ) {
    this.splitter = new ResponseSplitter((raw) => this.onResponse(raw));
    socket.unpipe(streamer);
    socket.on('data', this.onData);
    socket.on('close', this.onClose);
    socket.on('error', this.onError);
    // unpipe() pauses the socket when it leaves no destination: read on.
    socket.resume();
  }

  /**
   * Take over imapflow's connection for raw commands; null when it cannot be done safely (no
   * socket, or COMPRESS in use): the caller then uses imapflow's own fetch. `deferStructure`: each
   * FETCH's BODYSTRUCTURE is handed over as its bytes, unparsed (imap-wire.ts `parseStructure`).
   */
  static borrow(client: ImapFlow, onFetch: (attrs: WireValue[], cut: boolean) => void, opts: { deferStructure?: boolean } = {}): RawSession | null {
    const f = client as unknown as FlowInternals;
    if (!f.socket || !f.streamer || f._deflate || (f.writeSocket && f.writeSocket !== f.socket)) return null;
    if (f.socket.destroyed) return null;
    return new RawSession(f.socket, f.streamer, onFetch, opts.deferStructure === true);
  }

  /** Send a command (`UID FETCH ...`); resolves on its tagged OK, rejects on NO/BAD or a lost connection. */
  command(text: string): Promise<void> {
    if (this.failed) return Promise.reject(this.failed);
    const tag = `X${++this.seq}`;
    return new Promise<void>((resolve, reject) => {
      this.waiting.set(tag, { tag, command: text, resolve, reject });
      this.socket.write(`${tag} ${text}\r\n`);
    });
  }

  /**
   * Send several commands in one write (one TLS record and one system call rather than one per
   * command; on loopback each call also does the receiving side's work). Each promise is as
   * {@link command}'s.
   */
  commands(texts: readonly string[]): Promise<void>[] {
    if (texts.length < 2) return texts.map((t) => this.command(t));
    this.socket.cork();
    try {
      return texts.map((t) => this.command(t));
    } finally {
      this.socket.uncork();
    }
  }

  /**
   * `UID SEARCH <criteria>`: the UIDs of every untagged SEARCH answer (RFC 3501 §7.2.5), read
   * straight from the bytes.
   */
  async search(criteria: string): Promise<number[]> {
    const found: number[] = [];
    this.searchSink = found;
    try {
      await this.command(`UID SEARCH ${criteria}`);
    } finally {
      this.searchSink = null;
    }
    return found;
  }

  /** Give the connection back to imapflow (every command sent has completed). */
  release(): void {
    if (this.released) return;
    this.released = true;
    this.socket.off('data', this.onData);
    this.socket.off('close', this.onClose);
    this.socket.off('error', this.onError);
    if (!this.failed && !this.socket.destroyed) this.socket.pipe(this.streamer);
  }

  private fail(err: Error): void {
    this.failed ??= err;
    for (const w of this.waiting.values()) w.reject(this.failed);
    this.waiting.clear();
  }

  private onResponse(raw: Buffer): void {
    if (this.searchSink && isSearchAnswer(raw)) {
      searchNumbers(raw, this.searchSink);
      return;
    }
    const r = parseResponse(raw, this.deferStructure);
    if (r.fetch) {
      this.onFetch(r.fetch, r.cut === true);
      return;
    }
    if (r.tag === '*' || r.tag === '+') {
      // BYE: the server is closing; the close handler rejects what is waiting.
      if (r.tag === '*' && /^BYE\b/i.test(r.text ?? '')) this.failed ??= new RawSessionError(`the server said goodbye: ${r.text}`, r.text);
      return;
    }
    const w = this.waiting.get(r.tag);
    if (!w) return;
    this.waiting.delete(r.tag);
    const text = r.text ?? '';
    if (/^OK\b/i.test(text)) w.resolve();
    else w.reject(new RawSessionError(`the server refused ${w.command.split(' (')[0]}: ${text}`, text));
  }
}

const SEARCH_PREFIX = Buffer.from('* SEARCH');

/** `* SEARCH` followed by a space or the line end (any case). */
function isSearchAnswer(raw: Buffer): boolean {
  if (raw.length < SEARCH_PREFIX.length) return false;
  for (let i = 0; i < SEARCH_PREFIX.length; i++) if ((raw[i]! | (i > 1 ? 0x20 : 0)) !== (SEARCH_PREFIX[i]! | (i > 1 ? 0x20 : 0))) return false;
  const next = raw[SEARCH_PREFIX.length];
  return next === 0x20 || next === 0x0d || next === 0x0a;
}

/** The numbers of a `* SEARCH n n n` line; stops at anything else (a `(MODSEQ n)` suffix). */
function searchNumbers(raw: Buffer, out: number[]): void {
  let n = -1;
  for (let i = SEARCH_PREFIX.length; i < raw.length; i++) {
    const c = raw[i]!;
    if (c >= 0x30 && c <= 0x39) n = (n < 0 ? 0 : n * 10) + (c - 0x30);
    else {
      if (n >= 0) out.push(n);
      n = -1;
      if (c !== 0x20) break;
    }
  }
  if (n >= 0) out.push(n);
}
