/**
 * The resolve and connect stages: the system resolver (as the server's GAIEndpoint uses) and a
 * TCP connection tried address by address, bounded by the stage.
 */
import { lookup } from 'node:dns/promises';
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import type { Addressing } from '../server/mail-clients.js';
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
  if (ipTestCompiled) return isIP(host);
  ipTestCompiled = true;
  setFlagsFromString('--no-regexp-optimization');
  try {
    // The second run is the one V8 compiles to machine code.
    isIP(host);
    return isIP(host);
  } finally {
    setFlagsFromString('--regexp-optimization');
  }
}

/** How the release's client picks its addresses (src/server/mail-clients.ts `Addressing`). */
export interface AddressRule {
  addressing: Addressing;
  /** The releases that connect so, in words ("2.x to 3.x"), for messages. */
  releases: string;
}

/** What the release's client connects to, of what the resolver gave (in the resolver's order). */
export function usableAddresses(all: readonly ResolvedAddress[], addressing: Addressing): ResolvedAddress[] {
  if (addressing === 'any') return [...all];
  const v4 = all.filter((a) => a.family === 4);
  return addressing === 'first-ipv4' ? v4.slice(0, 1) : v4;
}

/**
 * The system resolver, all addresses (`dns.lookup`, as Calendar Server's GAIEndpoint and
 * `gethostbyname` use), narrowed to those the release's client connects to: its connect stage
 * then succeeds or fails where the server's would. The resolver's whole answer stays in the
 * evidence.
 */
export async function resolveHost(host: string, scope: StageScope, configPath?: string, rule?: AddressRule): Promise<ResolvedAddress[]> {
  if (!host.trim()) {
    throw new StageError('config', `no server name is configured${configPath ? ` (${configPath} is empty)` : ''}`, {
      hint: configPath ? `Set ${configPath} to the mail server's host name.` : 'Set the mail server\'s host name.',
    });
  }
  scope.evidence.host = host;
  const family = ipFamily(host);
  let all: ResolvedAddress[];
  if (family) {
    scope.evidence.addresses = [host];
    scope.evidence.literal = true;
    all = [{ address: host, family }];
  } else {
    try {
      all = (await lookup(host, { all: true, verbatim: true })).map((a) => ({ address: a.address, family: a.family }));
      scope.evidence.addresses = all.map((a) => a.address);
      if (!all.length) throw Object.assign(new Error('no address'), { code: 'ENODATA' });
    } catch (err) {
      throw toStageError(err, { host });
    }
  }
  if (!rule || rule.addressing === 'any') return all;
  const used = usableAddresses(all, rule.addressing);
  if (!used.length) {
    const why = family
      ? `${host} is an IPv6 address, and Calendar Server ${rule.releases} connects over IPv4 only: it looks ${host} up as a host name, which fails`
      : `${host} has only IPv6 addresses (${all.map((a) => a.address).join(', ')}), and Calendar Server ${rule.releases} connects over IPv4 only`;
    throw new StageError('dns', why, {
      hint: `Give ${configPath ?? 'Server'} a host name with an IPv4 address (an A record), or the IPv4 address itself; Calendar Server 5.0 and later connect over IPv6 as well.`,
      evidence: { ipv4Only: true, releases: rule.releases },
    });
  }
  if (used.length < all.length) {
    scope.evidence.serverConnectsTo = used.map((a) => a.address);
    scope.evidence.addressing =
      rule.addressing === 'first-ipv4'
        ? `Calendar Server ${rule.releases} connects to the first IPv4 address only (gethostbyname) and tries no other`
        : `Calendar Server ${rule.releases} connects over IPv4 only`;
  }
  return used;
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
function connectOnce(address: string, port: number, signal: AbortSignal): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = netConnect({ host: address, port });
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
 * The TCP connect stage, as twext's `GAIEndpoint.connect` does it (CalendarServer-4.1 and later;
 * ccs-twistedextensions twext/internet/gaiendpoint.py): one attempt per address, in the
 * resolver's order, each started a turn of the event loop after the one before (its LoopingCall
 * at interval 0) and left running; the first to connect wins and the others are cancelled. So an
 * address that drops packets does not hold up the next, for the server or for this stage. When
 * every attempt fails the stage reports the failure of the last address, with every attempt in
 * the evidence. (2.x-3.x and the 4.x poller have one address here: resolveHost keeps only the
 * one `gethostbyname` gives.) The socket is handed on to the protocol stages.
 */
export async function connectTcp(endpoint: Endpoint, addresses: ResolvedAddress[], scope: StageScope): Promise<Socket> {
  scope.evidence.port = endpoint.port;
  if (addresses.length === 1) {
    // Recorded before the attempt, so a stage that times out still names the address it waited on.
    scope.evidence.address = addresses[0]!.address;
    try {
      const socket = await connectOnce(addresses[0]!.address, endpoint.port, scope.signal);
      scope.evidence.localPort = socket.localPort;
      return socket;
    } catch (err) {
      if (scope.signal.aborted) throw err;
      throw toStageError(err, { host: endpoint.host, port: endpoint.port });
    }
  }
  return race(endpoint, addresses, scope);
}

/** What became of one address in the race, as the evidence shows it. */
type Attempt = { address: string; error?: string; cancelled?: true; notTried?: true };

async function race(endpoint: Endpoint, addresses: ResolvedAddress[], scope: StageScope): Promise<Socket> {
  // In the evidence from the start and kept up to date, so a stage that times out shows each
  // attempt as it stood: "no answer" for those still waiting, `notTried` for those not yet begun.
  const tried: Attempt[] = addresses.map((a) => ({ address: a.address, notTried: true }));
  scope.evidence.tried = tried;
  const errors: unknown[] = addresses.map(() => undefined);
  const controllers = addresses.map(() => new AbortController());
  const cancelled = (): StageError => new StageError('timeout', 'cancelled');
  const cancelAll = (): void => {
    for (const c of controllers) c.abort(cancelled());
  };
  scope.signal.addEventListener('abort', cancelAll, { once: true });
  let won = -1;
  try {
    const socket = await new Promise<Socket>((resolve, reject) => {
      let pending = addresses.length;
      const settle = (): void => {
        if (--pending > 0 || won >= 0) return;
        // Every attempt failed (or the stage ended): the failure of the last address that has one.
        const last = [...errors].reverse().find((e) => e !== undefined);
        reject(last ?? (scope.signal.reason instanceof Error ? scope.signal.reason : cancelled()));
      };
      const start = (i: number): void => {
        if (won >= 0 || scope.signal.aborted) {
          // Nothing more is begun: this address and every later one are settled as never tried.
          for (let j = i; j < addresses.length; j++) {
            tried[j] = { address: addresses[j]!.address, notTried: true };
            settle();
          }
          return;
        }
        tried[i] = { address: addresses[i]!.address, error: 'no answer' };
        connectOnce(addresses[i]!.address, endpoint.port, controllers[i]!.signal).then(
          (sock) => {
            if (won >= 0) {
              sock.destroy();
              tried[i] = { address: addresses[i]!.address, cancelled: true };
            } else {
              won = i;
              tried[i] = { address: addresses[i]!.address };
              for (const [j, c] of controllers.entries()) if (j !== i) c.abort(cancelled());
              resolve(sock);
            }
            settle();
          },
          (err: unknown) => {
            errors[i] = err;
            tried[i] = won >= 0 || scope.signal.aborted ? { address: addresses[i]!.address, cancelled: true } : { address: addresses[i]!.address, error: errCode(err) ?? errMessage(err) };
            settle();
          },
        );
        if (i + 1 < addresses.length) setImmediate(() => start(i + 1));
      };
      start(0);
    });
    scope.evidence.address = addresses[won]!.address;
    scope.evidence.localPort = socket.localPort;
    return socket;
  } catch (err) {
    if (scope.signal.aborted) throw scope.signal.reason instanceof Error ? scope.signal.reason : err;
    throw toStageError(err, { host: endpoint.host, port: endpoint.port });
  } finally {
    scope.signal.removeEventListener('abort', cancelAll);
  }
}
