/**
 * A deadline for every network step of one IMAP session: the TCP connect, the TLS handshake, the
 * greeting, each command (CAPABILITY, STARTTLS, LOGIN, EXAMINE, SEARCH, FETCH, STORE, ...) and
 * each response of a streaming FETCH. A step fails when the server has sent nothing for
 * `timeoutMs` while the step waits for it; the error names the protocol and the stage:
 * `IMAP FETCH timed out after 3 s`.
 *
 * Why a clock of our own: imapflow's own socket timeout answers a quiet socket with a recovery
 * NOOP in some states (so a stall costs twice the timeout), its STARTTLS upgrade has a fixed
 * 10 s limit, and its error ("Socket timeout") names no stage. Here the session's socket is
 * watched for incoming bytes; the clock runs only while the caller awaits the server, so a poll
 * busy classifying a window is never taken for a stalled server.
 *
 * The stage of a connect is read from imapflow's debug log entries (the command verb only; the
 * entries are masked by imapflow and nothing of them is kept).
 */
import type net from 'node:net';
import type tls from 'node:tls';
import type { ImapFlow } from 'imapflow';
import { secondsText } from '../net/errors.js';

/** How often the clock looks for incoming bytes (the bound is `timeoutMs` plus at most this). */
const TICK_MS = 200;

export class ImapTimeoutError extends Error {
  override readonly name = 'ImapTimeoutError';
  readonly code = 'ETIMEOUT';
  constructor(
    readonly stage: string,
    readonly timeoutMs: number,
  ) {
    super(`IMAP ${stage} timed out after ${secondsText(timeoutMs)}`);
  }
}

export function isImapTimeout(err: unknown): err is ImapTimeoutError {
  return err instanceof ImapTimeoutError;
}

type Logged = { src?: string; msg?: unknown };

export class ImapDeadline {
  private client: ImapFlow | null = null;
  private lastVerb: string | null = null;
  private expired: ImapTimeoutError | null = null;

  constructor(
    readonly timeoutMs: number,
    private readonly implicitTls: boolean,
  ) {}

  /**
   * The `logger` option for ImapFlow: learns the verb of each command sent. No `trace` method, so
   * imapflow skips serializing the bulk of FETCH responses; `error` and `fatal` are here so that
   * nothing is written to the console.
   */
  readonly logger = {
    debug: (entry: Logged): void => {
      if (entry?.src !== 'c' || typeof entry.msg !== 'string') return;
      // "<tag> VERB ..." (or "UID FETCH"): the verb only.
      const m = /^\S+\s+(UID\s+)?([A-Za-z]+)/.exec(entry.msg);
      if (m) this.lastVerb = `${m[1] ? 'UID ' : ''}${m[2]!.toUpperCase()}`;
    },
    info: (): void => undefined,
    warn: (): void => undefined,
    error: (): void => undefined,
    fatal: (): void => undefined,
  };

  /** The session the clock watches (before `connect()`). */
  attach(client: ImapFlow): void {
    this.client = client;
  }

  /** The error of the step that timed out, if one did: the session is closed after it. */
  get timedOut(): ImapTimeoutError | null {
    return this.expired;
  }

  /**
   * Run one step; it fails with `IMAP <stage> timed out after N s` when the server sends nothing
   * for `timeoutMs` meanwhile. `stage` undefined: the stage of a connect, read from the session.
   */
  async step<T>(stage: string | undefined, fn: () => Promise<T>): Promise<T> {
    if (this.expired) throw this.expired;
    const client = this.client;
    let timer: NodeJS.Timeout | undefined;
    let confirm: NodeJS.Immediate | undefined;
    const expiry = new Promise<never>((_, reject) => {
      let bytes = this.bytesRead();
      let last = Date.now();
      /** `afterIo`: this look comes after the I/O that had arrived was handled. */
      const check = (afterIo = false): void => {
        const now = Date.now();
        const b = this.bytesRead();
        if (b !== bytes) {
          bytes = b;
          last = now;
          return;
        }
        if (now - last < this.timeoutMs) return;
        if (!afterIo) {
          // Look again once the I/O that has arrived is handled: bytes that came while this
          // process was busy are an answer in time, not a stall (../clients/deadline.ts).
          confirm ??= setImmediate(() => {
            confirm = undefined;
            check(true);
          });
          return;
        }
        clearInterval(timer);
        this.expired = new ImapTimeoutError(stage ?? this.stage(), this.timeoutMs);
        try {
          client?.close();
        } catch {
          // closed already
        }
        reject(this.expired);
      };
      timer = setInterval(() => check(), TICK_MS);
      timer.unref?.();
    });
    const work = fn();
    try {
      return await Promise.race([work, expiry]);
    } catch (err) {
      // A step that fails because the clock closed the session reports the timeout.
      throw this.expired ?? err;
    } finally {
      clearInterval(timer);
      if (confirm) clearImmediate(confirm);
      work.catch(() => undefined);
    }
  }

  /** An async iteration (a streaming FETCH) where each next item is one step. */
  async *each<T>(stage: string, iterable: AsyncIterable<T>): AsyncGenerator<T> {
    const it = iterable[Symbol.asyncIterator]();
    try {
      for (;;) {
        const r = await this.step(stage, () => it.next());
        if (r.done) return;
        yield r.value;
      }
    } finally {
      if (!this.expired) await it.return?.().catch(() => undefined);
    }
  }

  private socket(): (net.Socket & Partial<tls.TLSSocket>) | undefined {
    return (this.client as unknown as { socket?: net.Socket & Partial<tls.TLSSocket> } | null)?.socket;
  }

  private bytesRead(): number {
    return this.socket()?.bytesRead ?? 0;
  }

  /** Where a connect stands: TCP, TLS, the greeting, or the last command sent. */
  stage(): string {
    const s = this.socket();
    if (!s || s.connecting) return 'connect';
    if (this.implicitTls && typeof s.getProtocol === 'function' && !s.getProtocol()) return 'TLS handshake';
    if (this.lastVerb === null) return 'greeting';
    if (this.lastVerb === 'STARTTLS') return 'STARTTLS';
    return this.lastVerb;
  }
}
