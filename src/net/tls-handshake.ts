/**
 * TLS on a connected socket: the trust anchors, the secure contexts shared by a run, the
 * handshake with the versions the server's client would offer, and the implicit-TLS stage.
 */
import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import type { ConnectOptions } from '../config/settings.js';
import { StageError, errMessage, toStageError } from './errors.js';
import type { Endpoint } from './connect.js';
import { detectImplicitTls, type PortModeResult } from './port-mode.js';
import type { StageScope } from './stage.js';
import { tlsInfo, type TlsInfo } from './tls-info.js';

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

