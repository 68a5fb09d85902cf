/**
 * The resolve and connect stages: the system resolver (as the server's GAIEndpoint uses) and a
 * TCP connection tried address by address, bounded by the stage.
 */
import { lookup } from 'node:dns/promises';
import net from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { StageError, errCode, errMessage, toStageError } from './errors.js';
import type { StageScope } from './stage.js';

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

let ipTestCompiled = false;

/**
 * `net.isIP`, which `dns.lookup` and `tls.connect` also run on every host name. It ends in one
 * large IPv6 regular expression that V8 compiles on its first run, and again to machine code on
 * its second: about 10 ms on a 2-core machine, most of it V8's regexp optimiser, on the path of
 * every connection test to a relay given by name (5% of a `test-smtp`). Here both compiles are
 * done with the optimiser off, under 2 ms; what the expression matches is the same.
 *
 * The flag goes back on at once, before anything else runs: V8 refuses a code cache made under
 * other flags (Node's own for its modules, and the one the build ships for ours), and a poll
 * loads most of its files after it has connected.
 */
export function ipFamily(host: string): number {
  if (ipTestCompiled) return net.isIP(host);
  ipTestCompiled = true;
  setFlagsFromString('--no-regexp-optimization');
  try {
    // The second run is the one V8 compiles to machine code.
    net.isIP(host);
    return net.isIP(host);
  } finally {
    setFlagsFromString('--regexp-optimization');
  }
}

/** `dns.lookup` (the system resolver, as Calendar Server's GAIEndpoint uses), all addresses. */
export async function resolveHost(host: string, scope: StageScope, configPath?: string): Promise<ResolvedAddress[]> {
  if (!host.trim()) {
    throw new StageError('config', `no server name is configured${configPath ? ` (${configPath} is empty)` : ''}`, {
      hint: configPath ? `Set ${configPath} to the mail server's host name.` : 'Set the mail server\'s host name.',
    });
  }
  scope.evidence.host = host;
  const family = ipFamily(host);
  if (family) {
    scope.evidence.addresses = [host];
    scope.evidence.literal = true;
    return [{ address: host, family }];
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

