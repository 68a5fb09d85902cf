/**
 * TLS on a connected socket: the trust anchors, the secure contexts shared by a run, the
 * handshake with the versions the server's client would offer, and the implicit-TLS stage.
 */
import { readFileSync } from 'node:fs';
import { isIP, type Socket } from 'node:net';
import { connect as tlsConnect, createSecureContext, type ConnectionOptions as TlsConnectionOptions, type SecureContext, type SecureContextOptions, type TLSSocket } from 'node:tls';
import type { ConnectOptions } from '../config/settings.js';
import { StageError, errMessage, toStageError } from './errors.js';
import type { Endpoint } from './connect.js';
import { detectImplicitTls, type PortModeResult } from './port-mode.js';
import type { StageScope } from './stage.js';
import { tlsInfo, type TlsInfo } from './tls-info.js';

// ---------------------------------------------------------------------------------------------
// TLS

const pemCache = new Map<string, string>();
const contextCache = new Map<string, SecureContext>();

/** `--ca-file` (or `ca`) as PEM text, read once per run. */
export function loadCaPem(opts: { ca?: string; caFile?: string }): string | undefined {
  if (opts.ca) return opts.ca;
  if (!opts.caFile) return undefined;
  let pem = pemCache.get(opts.caFile);
  if (pem === undefined) {
    try {
      pem = readFileSync(opts.caFile, 'utf8');
    } catch (err) {
      throw new StageError('config', `cannot read --ca-file ${opts.caFile}: ${errMessage(err)}`, {
        hint: 'Give a readable PEM file with the CA certificate(s).',
      });
    }
    pemCache.set(opts.caFile, pem);
  }
  return pem;
}

/**
 * Which TLS versions a handshake offers, as the server's client would (src/server/mail-clients.ts):
 * `tls1.0-only` is Twisted's default context (`TLSv1_METHOD`). Node refuses TLS 1.0 at OpenSSL's
 * default security level, so only such a context lowers it (`@SECLEVEL=0`); no other connection
 * of the tool does.
 */
export type OfferedVersions = 'tls1.0-only' | 'negotiate';

export function versionOptions(versions: OfferedVersions): SecureContextOptions {
  return versions === 'tls1.0-only' ? { minVersion: 'TLSv1', maxVersion: 'TLSv1', ciphers: 'DEFAULT:@SECLEVEL=0' } : {};
}

/**
 * One secure context per run for each (versions, extra CA) pair: the default context (which uses
 * the system's root store as it is) plus `addCACert` for `--ca-file`, about 1 ms, instead of a copy
 * of every root certificate per context. Every connection of the run uses it: the mail servers'
 * and the calendar server's https (src/poll/inject.ts).
 *
 * `addCACert` gives the context a store of its own. Node 20, 21 and 22 before 22.7 build it from
 * their bundled roots alone, so `NODE_EXTRA_CA_CERTS` is then not trusted on it; 22.7 and later
 * copy those too (checked with 20.20, 21.7, 22.0, 22.6, 22.7, 22.8, 22.9, 22.23, 23.0 and 24.21;
 * test/diagnose/injection-https.test.ts). Adding them here ourselves would cost about 9 ms on
 * those versions whenever both are set (the certificates of the file that Node's bundled roots
 * lack, 22 with Debian's bundle), so it is left to Node.
 */
export function runContext(pem: string | undefined, versions: OfferedVersions = 'negotiate'): SecureContext {
  const key = `${versions}\0${pem ?? ''}`;
  let ctx = contextCache.get(key);
  if (!ctx) {
    ctx = createSecureContext(versionOptions(versions));
    if (pem) (ctx.context as { addCACert(pem: string): void }).addCACert(pem);
    contextCache.set(key, ctx);
  }
  return ctx;
}

export interface HandshakeOptions {
  /** The connected TCP socket to wrap. */
  socket: Socket;
  /** Name the certificate must carry (also SNI when it is not an IP literal). */
  host: string;
  /** Extra trust anchor (`--ca-file`), PEM. */
  pem?: string;
  /** What the client offers; default the best version both sides support. */
  versions?: OfferedVersions;
  signal: AbortSignal;
  /**
   * The client writes first after the handshake (SMTP's EHLO after STARTTLS). Under TLS 1.3 the
   * promise then resolves once the server's session ticket has arrived (at most
   * {@link TICKET_WAIT_MS} after the handshake), so the first command leaves in a segment of its
   * own that also acknowledges the ticket. Written at once, it shared one write with the TLS
   * Finished message, and a server that does not disable Nagle's algorithm (Postfix) held its
   * reply until our delayed ACK of the ticket: about 40 ms on every STARTTLS.
   */
  clientSpeaksFirst?: boolean;
}

/** How long a client that speaks first waits for a TLS 1.3 session ticket that may never come. */
export const TICKET_WAIT_MS = 25;

/**
 * A TLS handshake on a connected socket. Certificate checks are NOT enforced here: the caller
 * judges with `tlsInfo()` so the evidence survives a certificate that does not verify.
 */
export function tlsHandshake(opts: HandshakeOptions): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const options: TlsConnectionOptions = {
      socket: opts.socket,
      host: opts.host,
      rejectUnauthorized: false,
      ...(isIP(opts.host) ? {} : { servername: opts.host }),
      secureContext: runContext(opts.pem, opts.versions),
    };
    let secure: TLSSocket;
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    const onAbort = (): void => {
      settled = true;
      clearTimeout(timer);
      // Only the outer socket: destroying the wrapped one as well can crash Node 20.
      if (secure) secure.destroy();
      else opts.socket.destroy();
      reject(opts.signal.reason instanceof Error ? opts.signal.reason : new StageError('timeout', 'aborted'));
    };
    if (opts.signal.aborted) return onAbort();
    opts.signal.addEventListener('abort', onAbort, { once: true });
    // Resolves once: at 'secureConnect', or for a client that speaks first under TLS 1.3 at the
    // session ticket (on the next turn of the loop: a write from inside TLS's own callback
    // stalls the socket) or after TICKET_WAIT_MS, whichever comes first.
    const done = (): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      secure.removeListener('session', onSession);
      opts.signal.removeEventListener('abort', onAbort);
      secure.removeAllListeners('error');
      secure.on('error', () => undefined);
      resolve(secure);
    };
    let connected = false;
    const onSession = (): void => {
      if (connected) setImmediate(done);
    };
    try {
      secure = tlsConnect(options, () => {
        connected = true;
        if (!opts.clientSpeaksFirst || secure.getProtocol() !== 'TLSv1.3') return done();
        timer = setTimeout(done, TICKET_WAIT_MS);
      });
    } catch (err) {
      opts.signal.removeEventListener('abort', onAbort);
      reject(err);
      return;
    }
    if (opts.clientSpeaksFirst) secure.on('session', onSession);
    secure.once('error', (err) => {
      settled = true;
      clearTimeout(timer);
      opts.signal.removeEventListener('abort', onAbort);
      secure.destroy();
      reject(toStageError(err, { host: opts.host, during: 'the TLS handshake' }));
    });
    secure.once('close', () => {
      if (!settled) clearTimeout(timer);
      settled = true;
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
  socket: Socket;
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
export async function implicitTlsStage(o: ImplicitTlsOptions): Promise<{ secure: TLSSocket; info: TlsInfo }> {
  let secure: TLSSocket;
  const pem = loadCaPem(o.connect);
  try {
    secure = await tlsHandshake({ socket: o.socket, host: o.endpoint.host, ...(pem ? { pem } : {}), signal: o.scope.signal });
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

