/**
 * Which TLS mode does a port speak? A sniff that races a plain greeting against a TLS handshake,
 * used to explain `UseSSL` mismatches instead of running into the time limit.
 */
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { startDeadline } from '../clients/deadline.js';
import type { StageError } from './errors.js';
import type { Endpoint } from './connect.js';
import { elapsed, nowMs, type StageScope } from './stage.js';

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
  opts: { timeoutMs?: number; address?: string; signal?: AbortSignal; only?: 'plain' | 'implicit-tls' } = {},
): Promise<PortModeResult> {
  const timeoutMs = Math.max(200, opts.timeoutMs ?? 3000);
  const target = opts.address ?? host;
  const started = nowMs();
  return new Promise((resolve) => {
    let done = false;
    let tcpOk = false;
    let plainOver = false;
    let tlsOver = false;
    const sockets: Socket[] = [];
    const finish = (r: Omit<PortModeResult, 'ms'>): void => {
      if (done) return;
      done = true;
      timer.clear();
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
    // A greeting that arrived while this process was busy still counts (../clients/deadline.ts).
    const timer = startDeadline(timeoutMs, () => finish({ mode: tcpOk ? 'silent' : 'unreachable' }));
    if (opts.signal) {
      if (opts.signal.aborted) return finish({ mode: 'silent' });
      opts.signal.addEventListener('abort', () => finish({ mode: tcpOk ? 'silent' : 'unreachable' }), { once: true });
    }

    // `only`: one leg, when the caller's own connection already is the other (no second
    // connection waiting on the same silence).
    if (opts.only === 'implicit-tls') plainOver = true;
    if (opts.only === 'plain') tlsOver = true;
    const plain = opts.only === 'implicit-tls' ? null : netConnect({ host: target, port });
    if (plain) {
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
    }
    if (opts.only === 'plain') return;

    const raw = netConnect({ host: target, port });
    sockets.push(raw);
    raw.on('error', () => {
      tlsOver = true;
      maybeOver();
    });
    raw.on('connect', () => {
      tcpOk = true;
      const secure = tlsConnect({
        socket: raw,
        rejectUnauthorized: false,
        ...(isIP(host) ? {} : { servername: host }),
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

/** The longest the other-mode check of a silent port may take. */
const SNIFF_MAX_MS = 1000;

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
      // One short check of the other mode only: the client's own connection already waits for
      // what it expects, and a second connection waiting as long on a silent port would double
      // the wait a stalled server costs. A port that really speaks the other mode answers in far
      // less than a second.
      const budget = Math.max(200, Math.min(SNIFF_MAX_MS, opts.scope.remaining() - 100));
      const other = opts.expecting === 'plain' ? 'implicit-tls' : 'plain';
      detectImplicitTls(opts.endpoint.host, opts.endpoint.port, {
        timeoutMs: budget,
        address: opts.address,
        signal: stop.signal,
        only: other,
      }).then(
        (probe) => {
          if (stop.signal.aborted) return;
          opts.scope.evidence.portSpeaks = probe.mode;
          if (probe.greeting) opts.scope.evidence.portGreeting = probe.greeting;
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

