/**
 * The SMTP wire: reads replies (multi-line, enhanced status codes) from whichever socket carries
 * the session, writes commands, keeps a transcript in which credentials never appear.
 */
import type net from 'node:net';
import type tls from 'node:tls';
import { StageError, toStageError } from '../../net/net-stage.js';

export interface SmtpReply {
  code: number;
  /** Text of each line, without the code. */
  lines: string[];
  /** The lines joined with a space. */
  text: string;
  /** RFC 3463 enhanced status code, such as `5.7.8`, when the reply starts with one. */
  enhanced?: string;
}

const MAX_LINE = 8192;
/** Lines in one reply: an EHLO answer has a few dozen; past this the server is not answering. */
const MAX_REPLY_LINES = 1000;

/** Reads replies from whichever socket carries the session; writes commands; keeps a transcript. */
export class SmtpWire {
  private socket: net.Socket;
  private buf = '';
  private partial: string[] = [];
  private partialCode = 0;
  private readonly replies: SmtpReply[] = [];
  private waiter: { resolve: (r: SmtpReply) => void; reject: (e: Error) => void } | null = null;
  private broken: StageError | null = null;
  /**
   * Called on every chunk that completes a line: the stage's limit then bounds each line of an
   * answer. A server that sends a byte now and then without ending its line does not hold the
   * stage open past --timeout.
   */
  onAnswer: (() => void) | null = null;

  constructor(
    socket: net.Socket,
    readonly transcript: string[],
  ) {
    this.socket = socket;
    this.attach(socket);
  }

  private readonly onData = (chunk: Buffer): void => {
    if (!this.buf && !this.replies.length && !this.partial.length && chunk.length && !looksTextual(chunk)) {
      this.fail(
        new StageError('protocol', 'the server answered with binary data, not an SMTP greeting', {
          hint: 'The port seems to speak TLS from the first byte or another protocol; check Sending.Port.',
        }),
      );
      return;
    }
    this.buf += chunk.toString('latin1');
    if (chunk.includes(0x0a)) this.onAnswer?.();
    let nl: number;
    while ((nl = this.buf.indexOf('\n')) >= 0) {
      const line = this.buf.slice(0, nl).replace(/\r$/, '');
      this.buf = this.buf.slice(nl + 1);
      this.line(line);
    }
    if (this.buf.length > MAX_LINE) this.fail(new StageError('protocol', 'the server sent a line longer than 8 KB'));
  };

  private readonly onClose = (): void => {
    this.fail(new StageError('closed', 'the server closed the connection'));
  };

  private readonly onError = (err: Error): void => {
    this.fail(toStageError(err));
  };

  private line(line: string): void {
    this.transcript.push(`S: ${line}`);
    const m = /^(\d{3})([ -]?)(.*)$/.exec(line);
    if (!m) {
      this.fail(protocolError(line));
      return;
    }
    const code = Number(m[1]);
    if (this.partial.length && code !== this.partialCode) {
      this.fail(new StageError('protocol', `the server mixed reply codes in one reply (${this.partialCode} then ${code})`));
      return;
    }
    this.partialCode = code;
    this.partial.push(m[3] ?? '');
    if (this.partial.length > MAX_REPLY_LINES) {
      this.fail(new StageError('protocol', `the server sent a reply of more than ${MAX_REPLY_LINES} lines`));
      return;
    }
    if (m[2] !== '-') {
      const lines = this.partial;
      this.partial = [];
      const text = lines.join(' ').trim();
      const enh = /^([245]\.\d{1,3}\.\d{1,3})\b/.exec(lines[0] ?? '');
      const reply: SmtpReply = { code, lines, text, ...(enh ? { enhanced: enh[1] } : {}) };
      if (this.waiter) {
        const w = this.waiter;
        this.waiter = null;
        w.resolve(reply);
      } else {
        this.replies.push(reply);
      }
    }
  }

  private fail(err: StageError): void {
    if (this.broken) return;
    this.broken = err;
    this.detach();
    this.socket.destroy();
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = null;
      w.reject(err);
    }
  }

  private attach(socket: net.Socket): void {
    socket.on('data', this.onData);
    socket.on('close', this.onClose);
    socket.on('error', this.onError);
  }

  detach(): void {
    this.socket.off('data', this.onData);
    this.socket.off('close', this.onClose);
    this.socket.off('error', this.onError);
  }

  /** Whether a line has begun and not ended. */
  midLine(): boolean {
    return this.buf.length > 0;
  }

  /** Data received but not yet consumed (must be none right after the STARTTLS reply). */
  hasUnread(): boolean {
    return this.buf.length > 0 || this.replies.length > 0 || this.partial.length > 0;
  }

  read(signal: AbortSignal): Promise<SmtpReply> {
    const queued = this.replies.shift();
    if (queued) return Promise.resolve(queued);
    if (this.broken) return Promise.reject(this.broken);
    return new Promise((resolve, reject) => {
      const onAbort = (): void => {
        this.waiter = null;
        reject(signal.reason instanceof Error ? signal.reason : new StageError('timeout', 'aborted'));
      };
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiter = {
        resolve: (r) => {
          signal.removeEventListener('abort', onAbort);
          resolve(r);
        },
        reject: (e) => {
          signal.removeEventListener('abort', onAbort);
          reject(e);
        },
      };
    });
  }

  /** Writes one command line; `shown` replaces it in the transcript (credentials). */
  send(line: string, shown?: string): void {
    if (this.broken) throw this.broken;
    this.transcript.push(`C: ${shown ?? line}`);
    this.socket.write(`${line}\r\n`);
  }

  async command(line: string, signal: AbortSignal, shown?: string): Promise<SmtpReply> {
    this.send(line, shown);
    return this.read(signal);
  }

  /** Raw bytes (the message body), not shown line by line. */
  writeRaw(data: string, shown: string): void {
    if (this.broken) throw this.broken;
    this.transcript.push(`C: ${shown}`);
    this.socket.write(data);
  }

  /** Continues the session on the TLS socket that now wraps the old one. */
  upgrade(secure: tls.TLSSocket): void {
    this.detach();
    this.socket = secure;
    this.attach(secure);
    this.transcript.push('-- TLS established --');
  }

  get current(): net.Socket {
    return this.socket;
  }

  close(): void {
    this.detach();
    this.socket.on('error', () => undefined);
    this.socket.destroy();
  }
}

function looksTextual(chunk: Buffer): boolean {
  const n = Math.min(chunk.length, 32);
  let ok = 0;
  for (let i = 0; i < n; i++) {
    const b = chunk[i]!;
    if ((b >= 0x20 && b < 0x7f) || b === 0x0d || b === 0x0a || b === 0x09) ok++;
  }
  return ok / n > 0.9;
}

export function protocolError(line: string): StageError {
  const shown = line.slice(0, 120);
  let hint = 'Check Sending.Server and Sending.Port: this port does not speak SMTP.';
  if (/^\* (OK|PREAUTH|BYE)/i.test(line)) hint = 'This is an IMAP server; Sending.Port must be the SMTP submission port (usually 587).';
  else if (/^[+-](OK|ERR)/i.test(line)) hint = 'This is a POP3 server; Sending.Port must be the SMTP submission port (usually 587).';
  else if (/^HTTP\//i.test(line) || /^SSH-/i.test(line)) hint = 'This port runs another service; Sending.Port must be the SMTP submission port (usually 587).';
  return new StageError('protocol', `the server's answer is not SMTP: "${shown}"`, { hint });
}

export function replyText(r: SmtpReply): string {
  return `${r.code} ${r.text}`.trim();
}

