/**
 * One POP3 connection: the socket (plain, implicit TLS, or upgraded by STLS), the session state,
 * the per-step timeouts and the ordered queue of commands waiting for answers. Verbs live in
 * `commands/`, one small module each; parsing lives in `response.ts`.
 *
 * Commands go out one at a time unless `pipelining` is on (the facade turns it on when CAPA lists
 * PIPELINING, RFC 2449 §6.6): then several are written without waiting and answers are matched in
 * order. Commands marked `exclusive` (STLS, authentication, QUIT) are never pipelined.
 *
 * Every step is bounded by `timeoutMs`: the TCP connect, the TLS handshake, the greeting, and
 * each answer (the clock restarts whenever the server sends something, so a large RETR that
 * keeps flowing is not cut off, but a server that goes silent is).
 */
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions as TlsConnectionOptions, type SecureContext, type TLSSocket } from 'node:tls';
import { startDeadline, type Deadline } from '../deadline.js';
import { Pop3Error, type Pop3ErrorKind } from './errors.js';
import {
  ResponseReader,
  type Pop3Response,
  type ResponseExpectation,
  type StatusLine,
} from './response.js';

export interface Pop3ConnectOptions {
  host: string;
  port: number;
  /** TLS from the first byte (POP3S, usually port 995); otherwise plain, perhaps upgraded by STLS. */
  implicitTls: boolean;
  /** A TCP connection to the server already made by the caller (`host` still names the server for TLS). */
  socket?: Socket;
  /** SNI and the name the certificate must match; defaults to `host` unless it is an IP address. */
  servername?: string;
  /** PEM trust anchor(s) replacing the system store. */
  ca?: string;
  /**
   * The secure context for each handshake (implicit TLS or the STLS upgrade), instead of `ca`: a
   * caller that connects more than once shares one context rather than building (and copying the
   * trust store into) a new one per connection, and chooses the versions each handshake offers.
   */
  secureContext?: (via: 'implicit' | 'stls') => SecureContext;
  /** Certificate checks; false only when the caller explicitly asked for an insecure connection. */
  rejectUnauthorized: boolean;
  /** Bound for each network step: connect, TLS handshake, greeting, each answer. */
  timeoutMs: number;
  /** Most commands in flight at once when pipelining (default 64). */
  pipelineWindow?: number;
  /** Receives each command (secrets redacted) and each status line; never bodies or passwords. */
  onTranscript?: (entry: TranscriptEntry) => void;
}

export interface TranscriptEntry {
  direction: 'client' | 'server';
  text: string;
}

export interface PeerCertificateInfo {
  subject: string;
  issuer: string;
  /** Entries such as `DNS:mail.example.com`, `IP Address:127.0.0.1`. */
  subjectAltNames: string[];
  validFrom: string;
  validTo: string;
  serialNumber: string;
  fingerprint256: string;
  selfSigned: boolean;
}

export interface TlsDetails {
  /** Such as `TLSv1.3`. */
  protocol: string | null;
  cipher: { name: string; standardName: string; version: string } | null;
  /** The name sent as SNI and checked against the certificate (undefined for an IP host). */
  servername?: string;
  authorized: boolean;
  /** Why the certificate did not verify (only seen when `rejectUnauthorized` is false). */
  authorizationError?: string;
  peerCertificate?: PeerCertificateInfo;
  /** How TLS was reached. */
  via: 'implicit' | 'stls';
}

export type Pop3State = 'connecting' | 'authorization' | 'transaction' | 'closing' | 'closed';

export interface CommandSpec {
  /** The line to send, without CRLF. */
  line: string;
  /** What transcripts and errors show instead of `line` (for secrets). */
  display?: string;
  /** A `+OK` answer is followed by a multi-line body. */
  multiline?: boolean;
  /** Stream the body to this callback instead of collecting it. */
  onChunk?: (chunk: Buffer) => void;
  /** Wait for every earlier answer before sending, and send nothing else until answered. */
  exclusive?: boolean;
  /** Stop reading the plain socket right after a `+OK` (STLS), so no plaintext can be injected. */
  pauseOnOk?: boolean;
  /** A `+OK` ends the session (QUIT): the server's close that follows is expected. */
  endsSession?: boolean;
}

interface Pending extends ResponseExpectation {
  spec: CommandSpec | undefined;
  display: string;
  resolve: (response: Pop3Response) => void;
  reject: (err: Pop3Error) => void;
  sinkError?: unknown;
}

const DEFAULT_WINDOW = 64;

export class Pop3Connection {
  readonly host: string;
  readonly port: number;
  readonly timeoutMs: number;
  private readonly opts: Pop3ConnectOptions;
  private socket: Socket | undefined;
  private readonly reader: ResponseReader<Pending>;
  private readonly waiting: Pending[] = [];
  private readonly inFlight: Pending[] = [];
  private timer: Deadline | undefined;
  private closedError: Pop3Error | undefined;
  private paused = false;
  private upgrading = false;
  private stlsDone = false;
  private tlsInfo: TlsDetails | undefined;
  private greetingLine: StatusLine | undefined;

  state: Pop3State = 'connecting';
  /** Send commands without waiting for earlier answers (set when CAPA lists PIPELINING). */
  pipelining = false;
  /** Highest number of commands that were in flight at once (shows pipelining happened). */
  peakInFlight = 0;
  /** Which authentication succeeded, set by the auth commands. */
  authMethod: 'APOP' | 'USER' | 'AUTH PLAIN' | undefined;

  private constructor(opts: Pop3ConnectOptions) {
    this.opts = opts;
    this.host = opts.host;
    this.port = opts.port;
    this.timeoutMs = opts.timeoutMs;
    this.reader = new ResponseReader<Pending>({
      onResponse: (response, pending) => this.onResponse(response, pending),
      onError: (message) => this.fail(new Pop3Error('protocol', `POP3 protocol error: ${message}`)),
    });
  }

  /** Connects, does the TLS handshake for implicit TLS, and reads the greeting. */
  static async connect(opts: Pop3ConnectOptions): Promise<Pop3Connection> {
    if (!(opts.timeoutMs > 0)) throw new TypeError('timeoutMs must be a positive number');
    const conn = new Pop3Connection(opts);
    await conn.open();
    return conn;
  }

  /** The greeting's status line. */
  get greeting(): StatusLine {
    return this.greetingLine as StatusLine;
  }

  /** The APOP challenge (`<...>`) from the greeting, if the server sent one. */
  get apopChallenge(): string | undefined {
    return apopChallengeOf(this.greetingLine?.text ?? '');
  }

  get secure(): boolean {
    return this.tlsInfo !== undefined;
  }

  get stlsUsed(): boolean {
    return this.stlsDone;
  }

  get tls(): TlsDetails | undefined {
    return this.tlsInfo;
  }

  get closed(): boolean {
    return this.state === 'closed';
  }

  /** Sends one command; resolves with its answer (`+OK` or `-ERR` alike), rejects on I/O failure. */
  command(spec: CommandSpec): Promise<Pop3Response> {
    const display = spec.display ?? spec.line;
    if (this.closedError || this.state === 'closed' || this.state === 'closing' || this.state === 'connecting') {
      return Promise.reject(
        this.closedError ?? new Pop3Error('closed', `POP3 connection is closed; cannot send ${display}`, { command: display }),
      );
    }
    if (/[\r\n\0]/.test(spec.line)) {
      return Promise.reject(
        new Pop3Error('protocol', `refusing to send ${display.split(' ')[0]}: an argument contains CR, LF or NUL`, {
          command: display.split(' ')[0],
        }),
      );
    }
    return new Promise<Pop3Response>((resolve, reject) => {
      const pending: Pending = { spec, display, multiline: spec.multiline ?? false, resolve, reject };
      if (spec.onChunk) {
        const sink = spec.onChunk;
        pending.onChunk = (chunk) => {
          if (pending.sinkError !== undefined) return;
          try {
            sink(chunk);
          } catch (err) {
            pending.sinkError = err ?? new Error('onChunk failed');
          }
        };
      }
      this.waiting.push(pending);
      this.pump();
    });
  }

  /**
   * Replaces the plain socket with TLS after the server's `+OK` to STLS. Certificate checks follow
   * the connect options; a failure closes the connection with kind 'tls'.
   */
  async upgradeToTls(): Promise<TlsDetails> {
    if (this.secure) throw new Pop3Error('protocol', 'the connection already uses TLS', { command: 'STLS' });
    const plain = this.socket;
    if (!plain || this.closedError) throw this.closedError ?? new Pop3Error('closed', 'POP3 connection is closed');
    if (this.reader.buffered > 0 || this.inFlight.length > 0) {
      const err = new Pop3Error('protocol', 'server sent data after +OK to STLS before the TLS handshake (possible injection)', {
        command: 'STLS',
      });
      this.fail(err);
      throw err;
    }
    this.detach(plain);
    try {
      const secure = await this.handshake(plain, 'stls');
      this.attach(secure);
      this.stlsDone = true;
      this.upgrading = false;
      this.pump();
      return this.tlsInfo as TlsDetails;
    } catch (err) {
      const e = err instanceof Pop3Error ? err : new Pop3Error('tls', `TLS upgrade failed: ${String(err)}`, { cause: err });
      this.fail(e);
      throw e;
    }
  }

  /** Closes the socket after QUIT was answered; resolves once it is closed (bounded by the timeout). */
  async end(): Promise<void> {
    const sock = this.socket;
    this.state = 'closed';
    this.clearTimer();
    this.rejectAll(new Pop3Error('closed', 'POP3 connection closed by the client'));
    if (!sock || sock.destroyed) return;
    await new Promise<void>((resolve) => {
      const t = startDeadline(
        this.timeoutMs,
        () => {
          sock.destroy();
          resolve();
        },
        { unref: true },
      );
      sock.once('close', () => {
        t.clear();
        resolve();
      });
      sock.end();
    });
  }

  /** Drops the connection at once (no QUIT: a POP3 server then discards any DELE marks). */
  destroy(): void {
    this.state = 'closed';
    this.clearTimer();
    this.rejectAll(new Pop3Error('closed', 'POP3 connection closed by the client'));
    this.socket?.destroy();
  }

  // ---- internals ----

  private transcript(direction: TranscriptEntry['direction'], text: string): void {
    const sink = this.opts.onTranscript;
    if (!sink) return;
    try {
      sink({ direction, text });
    } catch {
      // a transcript sink must not break the session
    }
  }

  private where(): string {
    return `${this.host}:${this.port}`;
  }

  private async open(): Promise<void> {
    const tcp = await this.tcpConnect();
    let sock: Socket = tcp;
    if (this.opts.implicitTls) {
      sock = await this.handshake(tcp, 'implicit');
    }
    this.attach(sock);
    this.state = 'authorization';
    const greeting = await new Promise<Pop3Response>((resolve, reject) => {
      const pending: Pending = { spec: undefined, display: 'greeting', multiline: false, resolve, reject };
      this.inFlight.push(pending);
      this.reader.expect(pending);
      this.armTimer();
    }).catch((err: unknown) => {
      this.destroy();
      throw err;
    });
    if (!greeting.status.ok) {
      this.destroy();
      throw new Pop3Error('connect', `POP3 server at ${this.where()} refused the session: ${greeting.status.raw}`, {
        serverText: greeting.status.text,
        ...(greeting.status.code !== undefined ? { responseCode: greeting.status.code } : {}),
      });
    }
    this.greetingLine = greeting.status;
  }

  private tcpConnect(): Promise<Socket> {
    const { host, port, timeoutMs } = this.opts;
    if (this.opts.socket) return Promise.resolve(this.opts.socket);
    return new Promise((resolve, reject) => {
      const sock = netConnect({ host, port });
      const timer = startDeadline(timeoutMs, () => {
        sock.destroy();
        reject(new Pop3Error('timeout', `POP3 connect timed out after ${secondsText(timeoutMs)} (TCP to ${this.where()})`, { step: 'connect' }));
      });
      sock.once('connect', () => {
        timer.clear();
        sock.removeAllListeners('error');
        resolve(sock);
      });
      sock.once('error', (err: NodeJS.ErrnoException) => {
        timer.clear();
        sock.destroy();
        reject(
          new Pop3Error('connect', `cannot connect to ${this.where()}: ${err.code ?? err.message}`, {
            ...(err.code !== undefined ? { code: err.code } : {}),
            cause: err,
          }),
        );
      });
    });
  }

  private handshake(socket: Socket, via: TlsDetails['via']): Promise<TLSSocket> {
    const { host, ca, rejectUnauthorized, timeoutMs } = this.opts;
    const servername = this.opts.servername ?? (isIP(host) ? undefined : host);
    return new Promise((resolve, reject) => {
      const options: TlsConnectionOptions = { socket, host, rejectUnauthorized };
      if (servername !== undefined) options.servername = servername;
      if (this.opts.secureContext) options.secureContext = this.opts.secureContext(via);
      else if (ca !== undefined) options.ca = ca;
      const sock = tlsConnect(options);
      const timer = startDeadline(timeoutMs, () => {
        // Both: before the handshake completes, destroying the TLS socket leaves the TCP one open.
        sock.destroy();
        socket.destroy();
        reject(
          new Pop3Error('timeout', `POP3 TLS handshake timed out after ${secondsText(timeoutMs)} (${via === 'stls' ? 'after STLS, ' : ''}${this.where()})`, {
            step: via === 'stls' ? 'STLS' : 'TLS handshake',
          }),
        );
      });
      sock.once('secureConnect', () => {
        timer.clear();
        sock.removeAllListeners('error');
        this.tlsInfo = tlsDetails(sock, servername, via);
        resolve(sock);
      });
      sock.once('error', (err: NodeJS.ErrnoException) => {
        timer.clear();
        sock.destroy();
        socket.destroy();
        const code = err.code;
        reject(
          new Pop3Error('tls', `TLS with ${this.where()} failed: ${describeTlsError(err)}`, {
            ...(code !== undefined ? { code } : {}),
            cause: err,
          }),
        );
      });
    });
  }

  private readonly onData = (chunk: Buffer): void => {
    if (this.paused) {
      this.fail(new Pop3Error('protocol', 'server sent data after +OK to STLS before the TLS handshake (possible injection)', { command: 'STLS' }));
      return;
    }
    if (this.inFlight.length > 0) this.armTimer();
    this.reader.push(chunk);
  };

  private readonly onClose = (): void => {
    if (this.state === 'closed') return;
    if (this.state === 'closing' && this.inFlight.length === 0 && this.waiting.length === 0) {
      this.state = 'closed';
      this.clearTimer();
      return;
    }
    const head = this.inFlight[0];
    const during = head ? ` while waiting for the answer to ${head.display}` : '';
    this.fail(new Pop3Error('closed', `POP3 server at ${this.where()} closed the connection${during}`, head ? { command: head.display } : {}));
  };

  private readonly onError = (err: NodeJS.ErrnoException): void => {
    if (this.state === 'closed' || this.state === 'closing') return;
    const kind: Pop3ErrorKind = this.secure && /SSL|TLS/i.test(String(err.code ?? err.message)) ? 'tls' : 'closed';
    this.fail(
      new Pop3Error(kind, `POP3 connection to ${this.where()} failed: ${err.code ?? err.message}`, {
        ...(err.code !== undefined ? { code: err.code } : {}),
        cause: err,
      }),
    );
  };

  private attach(sock: Socket): void {
    this.socket = sock;
    this.paused = false;
    sock.on('data', this.onData);
    sock.on('close', this.onClose);
    sock.on('error', this.onError);
  }

  private detach(sock: Socket): void {
    sock.removeListener('data', this.onData);
    sock.removeListener('close', this.onClose);
    sock.removeListener('error', this.onError);
    sock.on('error', () => {
      // errors now surface on the TLS socket that wraps this one
    });
  }

  private canSend(next: Pending): boolean {
    if (this.inFlight.length === 0) return true;
    if (!this.pipelining || next.spec?.exclusive) return false;
    if (this.inFlight.some((p) => p.spec?.exclusive || p.spec === undefined)) return false;
    return this.inFlight.length < (this.opts.pipelineWindow ?? DEFAULT_WINDOW);
  }

  private pump(): void {
    const sock = this.socket;
    if (!sock || this.closedError || this.upgrading) return;
    let sent = 0;
    sock.cork();
    try {
      while (this.waiting.length > 0 && this.canSend(this.waiting[0] as Pending) && !this.closedError) {
        const next = this.waiting.shift() as Pending;
        this.inFlight.push(next);
        this.peakInFlight = Math.max(this.peakInFlight, this.inFlight.length);
        // Written before expect(): expect() may complete answers already buffered and re-enter
        // pump(), whose writes must then follow this one on the wire.
        sock.write(`${(next.spec as CommandSpec).line}\r\n`, 'utf8');
        this.transcript('client', next.display);
        sent++;
        this.reader.expect(next);
      }
    } finally {
      sock.uncork();
    }
    if (sent > 0 && this.timer === undefined && this.inFlight.length > 0) this.armTimer();
  }

  private onResponse(response: Pop3Response, pending: Pending): void {
    const head = this.inFlight.shift();
    if (head !== pending) {
      this.fail(new Pop3Error('protocol', 'POP3 answers out of step with commands'));
      return;
    }
    this.transcript('server', response.status.raw + (response.status.ok && pending.multiline ? ` (multi-line, ${response.bodyBytes} octets)` : ''));
    if (pending.spec?.pauseOnOk && response.status.ok) {
      this.paused = true;
      this.upgrading = true;
      this.socket?.pause();
    }
    if (pending.spec?.endsSession && response.status.ok) this.state = 'closing';
    if (this.inFlight.length > 0) this.armTimer();
    else this.clearTimer();
    if (pending.sinkError !== undefined) {
      pending.reject(
        new Pop3Error('protocol', `consumer of ${pending.display} failed: ${String(pending.sinkError)}`, {
          command: pending.display,
          cause: pending.sinkError,
        }),
      );
    } else {
      pending.resolve(response);
    }
    this.pump();
  }

  private armTimer(): void {
    this.clearTimer();
    this.timer = startDeadline(this.timeoutMs, () => {
      const head = this.inFlight[0];
      // The stage: the greeting, or the command's verb (never its arguments: PASS, AUTH).
      const stage = head ? (head.spec ? (head.display.startsWith('<') ? 'AUTH' : (head.display.split(' ')[0] ?? head.display)) : 'greeting') : 'answer';
      this.fail(
        new Pop3Error('timeout', `POP3 ${stage} timed out after ${secondsText(this.timeoutMs)} (${this.where()} sent nothing)`, { step: stage, ...(head?.spec ? { command: head.display } : {}) }),
      );
    });
  }

  private clearTimer(): void {
    this.timer?.clear();
    this.timer = undefined;
  }

  private rejectAll(err: Pop3Error): void {
    const all = this.inFlight.splice(0).concat(this.waiting.splice(0));
    for (const p of all) p.reject(err);
  }

  private fail(err: Pop3Error): void {
    if (this.closedError) return;
    this.closedError = err;
    this.state = 'closed';
    this.clearTimer();
    this.socket?.destroy();
    this.rejectAll(err);
  }
}

/** `3 s`, `0.5 s`: how the tool states a timeout. */
export function secondsText(ms: number): string {
  const s = ms / 1000;
  return `${Number.isInteger(s) ? s : Number(s.toFixed(2))} s`;
}

/** The APOP challenge in a greeting text: the first `<...>` (RFC 1939 §7), or undefined. */
export function apopChallengeOf(greetingText: string): string | undefined {
  const m = /<[^<>\s]+>/.exec(greetingText);
  return m ? m[0] : undefined;
}

function nameString(name: unknown): string {
  if (!name || typeof name !== 'object') return '';
  return Object.entries(name as Record<string, string | string[]>)
    .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join('+') : v}`)
    .join(', ');
}

function tlsDetails(sock: TLSSocket, servername: string | undefined, via: TlsDetails['via']): TlsDetails {
  const cipher = sock.getCipher();
  const details: TlsDetails = {
    protocol: sock.getProtocol(),
    cipher: cipher ? { name: cipher.name, standardName: cipher.standardName, version: cipher.version } : null,
    authorized: sock.authorized,
    via,
  };
  if (servername !== undefined) details.servername = servername;
  if (sock.authorizationError) details.authorizationError = String(sock.authorizationError);
  const cert = sock.getPeerCertificate(false);
  if (cert && Object.keys(cert).length > 0) {
    const subject = nameString(cert.subject);
    const issuer = nameString(cert.issuer);
    details.peerCertificate = {
      subject,
      issuer,
      subjectAltNames: cert.subjectaltname ? cert.subjectaltname.split(/,\s*/) : [],
      validFrom: cert.valid_from,
      validTo: cert.valid_to,
      serialNumber: cert.serialNumber,
      fingerprint256: cert.fingerprint256,
      selfSigned: subject === issuer,
    };
  }
  return details;
}

function describeTlsError(err: NodeJS.ErrnoException): string {
  const code = err.code ?? '';
  const untrusted = new Set([
    'DEPTH_ZERO_SELF_SIGNED_CERT',
    'SELF_SIGNED_CERT_IN_CHAIN',
    'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
    'UNABLE_TO_GET_ISSUER_CERT',
    'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
    'CERT_UNTRUSTED',
  ]);
  if (untrusted.has(code)) return `certificate not trusted (${code}); pass the issuing CA or fix the chain`;
  if (code === 'CERT_HAS_EXPIRED') return 'certificate has expired (CERT_HAS_EXPIRED)';
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') return `certificate does not match the host name: ${err.message}`;
  return code ? `${code}: ${err.message}` : err.message;
}
