/**
 * The shared machinery of the SMTP, IMAP and POP3 probes: a stage runner (timing, a time limit
 * per stage, failures turned into one sentence and a hint), the resolve and connect stages, the
 * TLS handshake, and `detectImplicitTls`, which tells whether a port speaks TLS from the first
 * byte or greets in plain text, to explain `UseSSL` mismatches.
 */
import { lookup } from 'node:dns/promises';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import type { ConnectOptions, StageResult } from '../config/settings.js';
import { describeCertificateProblem, isCertificateErrorCode, tlsInfo, type TlsInfo } from './tls-info.js';

/** What went wrong, coarse enough for a probe to pick its finding. */
export type FailureKind =
  | 'config'
  | 'dns'
  | 'refused'
  | 'unreachable'
  | 'timeout'
  | 'closed'
  | 'tls'
  | 'certificate'
  | 'tls-mismatch'
  | 'starttls-missing'
  | 'protocol'
  | 'rejected'
  | 'auth'
  | 'basic-auth-disabled'
  | 'auth-not-offered'
  | 'cleartext-login'
  | 'internal';

/** A stage's failure as the stage function reports it: one sentence, a hint, what was seen. */
export class StageError extends Error {
  override readonly name = 'StageError';
  readonly kind: FailureKind;
  readonly hint?: string;
  readonly evidence: Record<string, unknown>;

  constructor(kind: FailureKind, message: string, opts: { hint?: string; evidence?: Record<string, unknown>; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.kind = kind;
    if (opts.hint !== undefined) this.hint = opts.hint;
    this.evidence = opts.evidence ?? {};
  }
}

export function isStageError(err: unknown): err is StageError {
  return err instanceof StageError;
}

/** What a stage function gets. */
export interface StageScope {
  /** Fill in what was seen; copied into the stage result (after redaction). */
  readonly evidence: Record<string, unknown>;
  /** Aborted when the stage runs out of time, with the StageError that ends it as the reason. */
  readonly signal: AbortSignal;
  /** `Date.now()` value at which the stage gives up. */
  readonly deadline: number;
  /** Milliseconds left before the stage gives up. */
  remaining(): number;
  /**
   * Marks the moment the stage's event happened, when it is observed in a callback that runs
   * before this stage's own continuation (so unrelated synchronous work is not timed).
   */
  markDone(): void;
}

export interface StageOptions {
  /** Overrides the runner's per-stage limit. */
  timeoutMs?: number;
  /** What running out of time means at this stage. */
  onTimeout?: (ms: number) => StageError;
}

/** The failing stage, as probes need it to write their findings. */
export interface StageFailure {
  stage: string;
  kind: FailureKind;
  error: string;
  hint?: string;
  evidence: Record<string, unknown>;
}

/**
 * Removes secrets from everything that leaves a probe. Passwords are never put into evidence on
 * purpose; this is the second line of defence for server and library texts that echo input.
 */
export class Redactor {
  static readonly MASK = '<redacted>';
  private readonly needles: string[];

  constructor(secrets: ReadonlyArray<string | null | undefined>) {
    const set = new Set<string>();
    for (const s of secrets) {
      // Very short secrets would mask ordinary text; they are never written anywhere anyway.
      if (!s || s.length < 4) continue;
      set.add(s);
      set.add(Buffer.from(s, 'utf8').toString('base64').replace(/=+$/, ''));
      const enc = encodeURIComponent(s);
      if (enc !== s) set.add(enc);
      const json = JSON.stringify(s).slice(1, -1);
      if (json !== s) set.add(json);
    }
    // Longest first, so a secret that contains another is masked whole.
    this.needles = [...set].filter((n) => n.length >= 4).sort((a, b) => b.length - a.length);
  }

  text(s: string): string {
    let out = s;
    for (const n of this.needles) if (out.includes(n)) out = out.split(n).join(Redactor.MASK);
    return out;
  }

  /** A deep copy with every string scrubbed. */
  deep<T>(value: T): T {
    return this.walk(value, 0) as T;
  }

  private walk(v: unknown, depth: number): unknown {
    if (typeof v === 'string') return this.text(v);
    if (v === null || typeof v !== 'object' || depth > 12) return v;
    if (Array.isArray(v)) return v.map((x) => this.walk(x, depth + 1));
    if (v instanceof Date) return v;
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[this.text(k)] = this.walk(x, depth + 1);
    return out;
  }
}

/**
 * Runs named stages in order. Each gets its own time limit; the first failure is recorded and
 * every later stage is listed as skipped.
 */
export class StageRunner {
  readonly stages: StageResult[] = [];
  failure: StageFailure | null = null;

  constructor(
    readonly timeoutMs: number,
    readonly redactor: Redactor = new Redactor([]),
  ) {}

  get failed(): boolean {
    return this.failure !== null;
  }

  /** Records a stage that could not be attempted because an earlier one failed. */
  skip(stage: string, evidence: Record<string, unknown> = {}): void {
    this.stages.push({ stage, ok: false, ms: 0, evidence: this.redactor.deep(evidence), skipped: true });
  }

  /** Records a stage result computed elsewhere (a step that needs no time of its own). */
  record(result: StageResult, kind?: FailureKind): void {
    const r = this.redactor.deep(result);
    this.stages.push(r);
    if (!r.ok && !r.skipped && !this.failure) {
      this.failure = { stage: r.stage, kind: kind ?? 'internal', error: r.error ?? 'failed', evidence: r.evidence, ...(r.hint ? { hint: r.hint } : {}) };
    }
  }

  /**
   * Runs one stage. Resolves to the stage function's value, or `undefined` when it failed,
   * timed out, or an earlier stage had failed (then it is recorded as skipped).
   */
  async run<T>(stage: string, fn: (scope: StageScope) => Promise<T>, options: StageOptions = {}): Promise<T | undefined> {
    if (this.failure) {
      this.skip(stage);
      return undefined;
    }
    const limit = Math.max(1, options.timeoutMs ?? this.timeoutMs);
    const started = performance.now();
    const deadline = Date.now() + limit;
    const ac = new AbortController();
    const evidence: Record<string, unknown> = {};
    let doneAt: number | null = null;
    const scope: StageScope = {
      evidence,
      signal: ac.signal,
      deadline,
      remaining: () => Math.max(0, deadline - Date.now()),
      markDone: () => {
        doneAt ??= performance.now();
      },
    };
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const err =
          options.onTimeout?.(limit) ??
          new StageError('timeout', `no answer within ${limit} ms`, {
            hint: 'A firewall may be dropping the traffic, or the server is overloaded; raise --timeout to wait longer.',
          });
        reject(err);
      }, limit);
    });
    let work: Promise<T>;
    try {
      work = fn(scope);
    } catch (err) {
      work = Promise.reject(err);
    }
    work.catch(() => undefined);
    try {
      const value = await Promise.race([work, timedOut]);
      const ms = doneAt !== null ? Math.round(doneAt - started) : elapsed(started);
      this.stages.push({ stage, ok: true, ms, evidence: this.redactor.deep(evidence) });
      return value;
    } catch (err) {
      const se = toStageError(err);
      if (!ac.signal.aborted) ac.abort(se);
      const result: StageResult = {
        stage,
        ok: false,
        ms: elapsed(started),
        evidence: this.redactor.deep({ ...evidence, ...se.evidence }),
        error: this.redactor.text(se.message),
      };
      if (se.hint) result.hint = this.redactor.text(se.hint);
      this.stages.push(result);
      this.failure = {
        stage,
        kind: se.kind,
        error: result.error!,
        evidence: result.evidence,
        ...(result.hint ? { hint: result.hint } : {}),
      };
      return undefined;
    } finally {
      clearTimeout(timer);
    }
  }
}

function elapsed(started: number): number {
  return Math.round(performance.now() - started);
}

// ---------------------------------------------------------------------------------------------
// Errors in plain words

interface NetErrorContext {
  host?: string;
  port?: number;
  /** What the error interrupted, for the message: `connecting`, `the TLS handshake`, ... */
  during?: string;
}

function errCode(err: unknown): string | undefined {
  if (err && typeof err === 'object') {
    const c = (err as { code?: unknown }).code;
    if (typeof c === 'string') return c;
  }
  return undefined;
}

function errMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

/** Any error from a socket, DNS or TLS, as a StageError with a sentence and a hint. */
export function toStageError(err: unknown, ctx: NetErrorContext = {}): StageError {
  if (isStageError(err)) return err;
  const code = errCode(err);
  const msg = errMessage(err);
  const where = ctx.host ? `${ctx.host}${ctx.port !== undefined ? `:${ctx.port}` : ''}` : 'the server';
  const evidence: Record<string, unknown> = code ? { code } : {};
  switch (code) {
    case 'ENOTFOUND':
      return new StageError('dns', `${ctx.host ?? 'the server name'} does not resolve (NXDOMAIN: no such name in DNS)`, {
        hint: 'Check the spelling of the server name in the configuration, and that this machine uses the same DNS as the Calendar Server host.',
        evidence,
      });
    case 'EAI_AGAIN':
      return new StageError('dns', `the DNS lookup of ${ctx.host ?? 'the server name'} failed for now (the DNS server did not answer)`, {
        hint: 'Check this machine\'s resolver (/etc/resolv.conf) and try again.',
        evidence,
      });
    case 'ENODATA':
      return new StageError('dns', `${ctx.host ?? 'the server name'} exists in DNS but has no address (no A or AAAA record)`, {
        hint: 'Use the mail server\'s real host name; an MX record alone is not enough for Calendar Server.',
        evidence,
      });
    case 'ECONNREFUSED':
      return new StageError('refused', `connection refused: nothing listens on ${where}`, {
        hint: 'Check the port number and that the mail service is running there; a firewall that rejects also looks like this.',
        evidence,
      });
    case 'ETIMEDOUT':
      return new StageError('timeout', `the TCP connection to ${where} timed out`, {
        hint: 'A firewall is probably dropping the packets, or the host is down; check the port and any firewall between this machine and the server.',
        evidence,
      });
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'EHOSTDOWN':
    case 'ENETDOWN':
      return new StageError('unreachable', `no route to ${where} (${code})`, {
        hint: 'The host is unreachable from this machine: check the address, the network and routing, or a firewall answering with "unreachable".',
        evidence,
      });
    case 'EADDRNOTAVAIL':
      return new StageError('unreachable', `cannot connect to ${where} from this machine (${code})`, { evidence });
    case 'ECONNRESET':
    case 'EPIPE':
      return new StageError('closed', `the server reset the connection${ctx.during ? ` during ${ctx.during}` : ''}`, {
        hint: 'The server (or a firewall) dropped the connection; its logs say why. A TLS/plain-text mismatch also looks like this.',
        evidence,
      });
    case 'ERR_SSL_WRONG_VERSION_NUMBER':
    case 'ERR_SSL_PACKET_LENGTH_TOO_LONG':
    case 'ERR_SSL_HTTP_REQUEST':
    case 'ERR_SSL_UNEXPECTED_EOF_WHILE_READING':
      return new StageError('tls', `the TLS handshake failed: the server did not answer in TLS (${code})`, {
        hint: 'The port probably expects plain text first (STARTTLS) rather than TLS from the first byte.',
        evidence,
      });
    default:
      break;
  }
  if (isCertificateErrorCode(code)) {
    const v = describeCertificateProblem(code!, { host: ctx.host ?? 'the server' });
    return new StageError('certificate', `the server certificate is not trusted: ${v.reason}`, { hint: v.hint, evidence });
  }
  if (code && (code.startsWith('ERR_SSL') || code.startsWith('ERR_TLS') || /ssl|tls/i.test(msg))) {
    return new StageError('tls', `the TLS handshake failed: ${msg}`, {
      hint: 'Compare the TLS versions and ciphers the server allows with what this machine supports (openssl s_client shows them).',
      evidence,
    });
  }
  return new StageError('internal', msg || 'unexpected failure', { evidence });
}

// ---------------------------------------------------------------------------------------------
// Resolve and connect

export interface Endpoint {
  /** As configured: what the certificate must name. */
  host: string;
  port: number;
}

export interface ResolvedAddress {
  address: string;
  family: number;
}

/** `dns.lookup` (the system resolver, as Calendar Server's GAIEndpoint uses), all addresses. */
export async function resolveHost(host: string, scope: StageScope, configPath?: string): Promise<ResolvedAddress[]> {
  if (!host.trim()) {
    throw new StageError('config', `no server name is configured${configPath ? ` (${configPath} is empty)` : ''}`, {
      hint: configPath ? `Set ${configPath} to the mail server's host name.` : 'Set the mail server\'s host name.',
    });
  }
  scope.evidence.host = host;
  if (net.isIP(host)) {
    scope.evidence.addresses = [host];
    scope.evidence.literal = true;
    return [{ address: host, family: net.isIP(host) }];
  }
  try {
    const all = await lookup(host, { all: true, verbatim: true });
    scope.evidence.addresses = all.map((a) => a.address);
    if (!all.length) throw Object.assign(new Error('no address'), { code: 'ENODATA' });
    return all.map((a) => ({ address: a.address, family: a.family }));
  } catch (err) {
    throw toStageError(err, { host });
  }
}

/** Checks a port number the way the configuration means it (0 = not set). */
export function checkPort(port: number, configPath: string, suggestion: string): void {
  if (!Number.isInteger(port) || port <= 0 || port > 65535) {
    throw new StageError('config', `${configPath} is ${port === 0 ? 'not set (0)' : `not a valid port (${port})`}`, {
      hint: `Set ${configPath}: ${suggestion}.`,
    });
  }
}

/** One TCP connection attempt, bounded by the stage. */
function connectOnce(address: string, port: number, signal: AbortSignal): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: address, port });
    const onAbort = (): void => {
      socket.destroy();
      reject(signal.reason instanceof Error ? signal.reason : new StageError('timeout', 'aborted'));
    };
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    socket.once('connect', () => {
      signal.removeEventListener('abort', onAbort);
      // Commands are small and answered one by one: do not let Nagle hold them back.
      socket.setNoDelay(true);
      socket.removeAllListeners('error');
      // Errors after this point are the protocol code's business; keep one listener so an
      // unread reset never crashes the process.
      socket.on('error', () => undefined);
      resolve(socket);
    });
    socket.once('error', (err) => {
      signal.removeEventListener('abort', onAbort);
      socket.destroy();
      reject(err);
    });
  });
}

/**
 * The TCP connect stage: tries the resolved addresses in order (as getaddrinfo-based clients do)
 * until one accepts. The socket is handed on to the protocol stages.
 */
export async function connectTcp(endpoint: Endpoint, addresses: ResolvedAddress[], scope: StageScope): Promise<net.Socket> {
  const tried: Array<{ address: string; error?: string }> = [];
  scope.evidence.port = endpoint.port;
  let last: unknown;
  for (const a of addresses) {
    try {
      const socket = await connectOnce(a.address, endpoint.port, scope.signal);
      tried.push({ address: a.address });
      scope.evidence.address = a.address;
      scope.evidence.localPort = socket.localPort;
      if (tried.length > 1) scope.evidence.tried = tried;
      return socket;
    } catch (err) {
      if (scope.signal.aborted) throw err;
      last = err;
      tried.push({ address: a.address, error: errCode(err) ?? errMessage(err) });
    }
  }
  if (tried.length > 1) scope.evidence.tried = tried;
  throw toStageError(last, { host: endpoint.host, port: endpoint.port });
}

// ---------------------------------------------------------------------------------------------
// TLS

const caCache = new Map<string, string[]>();
const contextCache = new WeakMap<string[], tls.SecureContext>();

/**
 * The trust anchors: the system's plus `--ca-file`/`ca` when given (added, not replacing).
 * Memoized, so every connection of a run shares one list (and one secure context).
 */
export function loadCa(opts: { ca?: string; caFile?: string }): string[] | undefined {
  let pem = opts.ca;
  if (!pem && opts.caFile) {
    try {
      pem = readFileSync(opts.caFile, 'utf8');
    } catch (err) {
      throw new StageError('config', `cannot read --ca-file ${opts.caFile}: ${errMessage(err)}`, {
        hint: 'Give a readable PEM file with the CA certificate(s).',
      });
    }
  }
  if (!pem) return undefined;
  let list = caCache.get(pem);
  if (!list) {
    list = [...tls.rootCertificates, pem];
    caCache.set(pem, list);
  }
  return list;
}

/** A secure context for these trust anchors, built once (parsing ~150 roots takes a while). */
export function secureContextFor(ca: string[]): tls.SecureContext {
  let ctx = contextCache.get(ca);
  if (!ctx) {
    ctx = tls.createSecureContext({ ca });
    contextCache.set(ca, ctx);
  }
  return ctx;
}

export interface HandshakeOptions {
  /** The connected TCP socket to wrap. */
  socket: net.Socket;
  /** Name the certificate must carry (also SNI when it is not an IP literal). */
  host: string;
  ca?: string[];
  signal: AbortSignal;
}

/**
 * A TLS handshake on a connected socket. Certificate checks are NOT enforced here: the caller
 * judges with `tlsInfo()` so the evidence survives a certificate that does not verify.
 */
export function tlsHandshake(opts: HandshakeOptions): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const options: tls.ConnectionOptions = {
      socket: opts.socket,
      host: opts.host,
      rejectUnauthorized: false,
      ...(net.isIP(opts.host) ? {} : { servername: opts.host }),
      ...(opts.ca ? { secureContext: secureContextFor(opts.ca) } : {}),
    };
    let secure: tls.TLSSocket;
    const onAbort = (): void => {
      // Only the outer socket: destroying the wrapped one as well can crash Node 20.
      if (secure) secure.destroy();
      else opts.socket.destroy();
      reject(opts.signal.reason instanceof Error ? opts.signal.reason : new StageError('timeout', 'aborted'));
    };
    if (opts.signal.aborted) return onAbort();
    opts.signal.addEventListener('abort', onAbort, { once: true });
    try {
      secure = tls.connect(options, () => {
        opts.signal.removeEventListener('abort', onAbort);
        secure.removeAllListeners('error');
        secure.on('error', () => undefined);
        resolve(secure);
      });
    } catch (err) {
      opts.signal.removeEventListener('abort', onAbort);
      reject(err);
      return;
    }
    secure.once('error', (err) => {
      opts.signal.removeEventListener('abort', onAbort);
      secure.destroy();
      reject(toStageError(err, { host: opts.host, during: 'the TLS handshake' }));
    });
    secure.once('close', () => {
      opts.signal.removeEventListener('abort', onAbort);
      reject(new StageError('closed', 'the server closed the connection during the TLS handshake', {
        hint: 'The server refused the TLS session (protocol versions or ciphers), or the port does not speak TLS.',
      }));
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Which TLS mode does a port speak?

export type PortMode = 'implicit-tls' | 'plain' | 'silent' | 'unreachable';

export interface PortModeResult {
  /**
   * `implicit-tls`: a TLS handshake succeeds from the first byte (993, 995, 465).
   * `plain`: the server greets in plain text first (143, 110, 25, 587; STARTTLS ports).
   * `silent`: it accepts connections but neither greets nor completes a handshake.
   * `unreachable`: no TCP connection.
   */
  mode: PortMode;
  /** The first line of a plain greeting (at most 200 characters). */
  greeting?: string;
  /** The TLS version of a successful implicit handshake. */
  tlsProtocol?: string;
  ms: number;
}

function looksLikeText(buf: Buffer): boolean {
  if (!buf.length) return false;
  // A TLS record starts with a content type byte 0x14-0x18; greetings start with a digit, '*' or '+'.
  let printable = 0;
  const n = Math.min(buf.length, 64);
  for (let i = 0; i < n; i++) {
    const b = buf[i]!;
    if ((b >= 0x20 && b < 0x7f) || b === 0x0d || b === 0x0a || b === 0x09) printable++;
  }
  return printable / n > 0.9;
}

/**
 * Tells whether `host:port` speaks TLS from the first byte or greets in plain text. Two
 * connections race: one waits for a plain greeting, one attempts a TLS handshake (without
 * certificate checks: only the mode matters). Whichever gets an answer first decides.
 */
export function detectImplicitTls(
  host: string,
  port: number,
  opts: { timeoutMs?: number; address?: string; signal?: AbortSignal } = {},
): Promise<PortModeResult> {
  const timeoutMs = Math.max(200, opts.timeoutMs ?? 3000);
  const target = opts.address ?? host;
  const started = performance.now();
  return new Promise((resolve) => {
    let done = false;
    let tcpOk = false;
    let plainOver = false;
    let tlsOver = false;
    const sockets: net.Socket[] = [];
    const finish = (r: Omit<PortModeResult, 'ms'>): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      // Destroyed on the next turn, outermost first: destroying a socket that a TLSSocket wraps
      // from inside that TLSSocket's own 'secureConnect' handler crashes Node 20 (SIGSEGV).
      setImmediate(() => {
        for (const s of [...sockets].reverse()) s.destroy();
      });
      resolve({ ...r, ms: elapsed(started) });
    };
    const maybeOver = (): void => {
      if (plainOver && tlsOver) finish({ mode: tcpOk ? 'silent' : 'unreachable' });
    };
    const timer = setTimeout(() => finish({ mode: tcpOk ? 'silent' : 'unreachable' }), timeoutMs);
    if (opts.signal) {
      if (opts.signal.aborted) return finish({ mode: 'silent' });
      opts.signal.addEventListener('abort', () => finish({ mode: tcpOk ? 'silent' : 'unreachable' }), { once: true });
    }

    const plain = net.connect({ host: target, port });
    sockets.push(plain);
    let seen = Buffer.alloc(0);
    plain.on('connect', () => {
      tcpOk = true;
    });
    plain.on('data', (chunk: Buffer) => {
      seen = Buffer.concat([seen, chunk]);
      if (looksLikeText(seen)) {
        const line = seen.toString('latin1').split(/\r?\n/)[0]!.slice(0, 200);
        if (seen.includes(0x0a) || seen.length > 200) finish({ mode: 'plain', greeting: line });
      } else {
        plainOver = true;
        maybeOver();
      }
    });
    plain.on('error', () => {
      plainOver = true;
      maybeOver();
    });
    plain.on('close', () => {
      plainOver = true;
      maybeOver();
    });

    const raw = net.connect({ host: target, port });
    sockets.push(raw);
    raw.on('error', () => {
      tlsOver = true;
      maybeOver();
    });
    raw.on('connect', () => {
      tcpOk = true;
      const secure = tls.connect({
        socket: raw,
        rejectUnauthorized: false,
        ...(net.isIP(host) ? {} : { servername: host }),
      });
      sockets.push(secure);
      secure.on('secureConnect', () => finish({ mode: 'implicit-tls', tlsProtocol: secure.getProtocol() ?? undefined }));
      secure.on('error', () => {
        tlsOver = true;
        maybeOver();
      });
      secure.on('close', () => {
        tlsOver = true;
        maybeOver();
      });
    });
  });
}

/**
 * Waits for `pending` (typically a greeting). If it has not arrived after `delayMs`, sniffs the
 * port with `detectImplicitTls` in parallel: when the port turns out to speak the other TLS mode,
 * the wait ends at once with `onMismatch`'s error instead of running into the time limit.
 */
export async function waitExplainingSilence<T>(
  pending: Promise<T>,
  opts: {
    endpoint: Endpoint;
    address?: string;
    /** What the client expects the port to do first. */
    expecting: 'plain' | 'implicit-tls';
    delayMs: number;
    scope: StageScope;
    onMismatch: (probe: PortModeResult) => StageError;
  },
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const stop = new AbortController();
  const sniffed = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const budget = Math.max(200, opts.scope.remaining() - 100);
      detectImplicitTls(opts.endpoint.host, opts.endpoint.port, {
        timeoutMs: budget,
        address: opts.address,
        signal: stop.signal,
      }).then(
        (probe) => {
          if (stop.signal.aborted) return;
          opts.scope.evidence.portSpeaks = probe.mode;
          if (probe.greeting) opts.scope.evidence.portGreeting = probe.greeting;
          const other = opts.expecting === 'plain' ? 'implicit-tls' : 'plain';
          if (probe.mode === other) reject(opts.onMismatch(probe));
        },
        () => undefined,
      );
    }, Math.max(0, opts.delayMs));
  });
  sniffed.catch(() => undefined);
  try {
    return await Promise.race([pending, sniffed]);
  } finally {
    clearTimeout(timer);
    stop.abort();
  }
}

/** The delay before a silent server is sniffed: soon, but not before a slow greeting could come. */
export function sniffDelay(timeoutMs: number): number {
  return Math.min(1500, Math.max(100, Math.floor(timeoutMs / 4)));
}

// ---------------------------------------------------------------------------------------------
// TLS stages shared by the probes

/** Fails the stage when the certificate does not verify, unless `--insecure`. */
export function enforceCertificate(info: TlsInfo, insecure: boolean): void {
  if (!info.verified && !insecure) {
    throw new StageError('certificate', `the server certificate is not trusted: ${info.reason ?? info.verifyCode ?? 'it does not verify'}`, {
      ...(info.hint ? { hint: info.hint } : {}),
    });
  }
}

export interface ImplicitTlsOptions {
  socket: net.Socket;
  endpoint: Endpoint;
  /** The address the socket is connected to (for the sniff). */
  address?: string;
  connect: ConnectOptions;
  scope: StageScope;
  /** The error for a port that turns out to greet in plain text. */
  onPlain: (probe: PortModeResult) => StageError;
}

/**
 * TLS from the first byte on a connected socket, with the certificate judged and, when the
 * handshake fails, the port sniffed: a port that greets in plain text gets `onPlain`'s error
 * (the `UseSSL` mismatch) instead of an OpenSSL message.
 */
export async function implicitTlsStage(o: ImplicitTlsOptions): Promise<{ secure: tls.TLSSocket; info: TlsInfo }> {
  let secure: tls.TLSSocket;
  const ca = loadCa(o.connect);
  try {
    secure = await tlsHandshake({ socket: o.socket, host: o.endpoint.host, ca, signal: o.scope.signal });
  } catch (err) {
    const se = toStageError(err, { ...o.endpoint, during: 'the TLS handshake' });
    if (o.scope.signal.aborted || !['tls', 'closed', 'protocol', 'internal'].includes(se.kind)) throw se;
    const probe = await detectImplicitTls(o.endpoint.host, o.endpoint.port, {
      timeoutMs: Math.min(3000, Math.max(200, o.scope.remaining() - 100)),
      address: o.address,
      signal: o.scope.signal,
    });
    o.scope.evidence.portSpeaks = probe.mode;
    if (probe.greeting) o.scope.evidence.portGreeting = probe.greeting;
    if (probe.mode === 'plain') throw o.onPlain(probe);
    throw se;
  }
  const info = tlsInfo(secure, { host: o.endpoint.host, insecure: o.connect.insecure, caGiven: !!(o.connect.ca || o.connect.caFile) });
  o.scope.evidence.tls = info;
  try {
    enforceCertificate(info, o.connect.insecure);
  } catch (err) {
    secure.destroy();
    throw err;
  }
  return { secure, info };
}

/** The error of a TLS handshake that never completes (shared by the mailbox probes). */
export const tlsTimeout = (ms: number): StageError =>
  new StageError('timeout', `the server accepted the connection but did not complete a TLS handshake within ${ms} ms`, {
    hint: 'Something holds the connection (a proxy or firewall), or the server is overloaded; raise --timeout to wait longer.',
  });
