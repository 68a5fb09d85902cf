/**
 * The IMAP half of `imip test-mailbox`: imapflow on a socket this probe opened itself (a custom
 * transport), so resolve, connect and TLS are stages of their own and the STARTTLS certificate is
 * judged here. Read-only throughout: INBOX is opened with EXAMINE, counts come from SEARCH, the
 * sample is fetched with BODY.PEEK, nothing is stored, copied, moved or expunged.
 *
 * resolve → connect → tls (UseSSL true) → greeting → starttls (UseSSL false, when offered) →
 * login → inbox → sample → logout
 *
 * With `UseSSL` false it behaves like the gateway's Twisted client: it upgrades with STARTTLS when
 * the server offers it, and otherwise goes on in clear text (Twisted
 * `twisted.mail.imap4.IMAP4Client.login`).
 */
import { isIP, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { ImapTransport, ImapTransportSocket } from 'imapflow';
import { ImapFlow, openInbox } from '../mailbox/imapflow-module.js';
import type { ConnectOptions, ReceivingSettings } from '../config/settings.js';
import {
  StageError,
  checkPort,
  connectTcp,
  implicitTlsStage,
  loadCaPem,
  resolveHost,
  runContext,
  sniffDelay,
  tlsTimeout,
  toStageError,
  waitExplainingSilence,
  type PortModeResult,
  type AddressRule,
  type ResolvedAddress,
  type StageRunner,
} from '../net/net-stage.js';
import type { MailboxCounts, MailboxSessionOutcome } from './probe-report.js';
import { readSample, SAMPLE_ITEMS } from './imap-sample.js';
import { imapError, missingCredentials } from './mailbox-errors.js';
import { upgradeRefused } from './upgrade-refused.js';
import { tlsInfo } from '../net/tls-info.js';

const CONFIG = 'Scheduling.iMIP.Receiving';

/** How many of the newest messages are looked at to judge whether the mailbox is dedicated. */
export const IMAP_SAMPLE_SIZE = 50;
/** Twisted's IMAP4Client registers these SASL mechanisms, in this order, then falls back to LOGIN. */
const SERVER_SASL = ['CRAM-MD5', 'LOGIN', 'PLAIN'];

/** Promises that stage boundaries inside imapflow's connect() settle. */
class Milestones {
  private readonly waiters = new Map<string, { promise: Promise<void>; resolve: () => void; reject: (e: unknown) => void }>();
  private failure: unknown = null;
  private readonly reached = new Set<string>();

  private entry(name: string) {
    let e = this.waiters.get(name);
    if (!e) {
      let resolve!: () => void;
      let reject!: (e: unknown) => void;
      const promise = new Promise<void>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      promise.catch(() => undefined);
      e = { promise, resolve, reject };
      this.waiters.set(name, e);
      if (this.reached.has(name)) resolve();
      else if (this.failure !== null) reject(this.failure);
    }
    return e;
  }

  reach(name: string): void {
    this.reached.add(name);
    this.entry(name).resolve();
  }

  wait(name: string): Promise<void> {
    return this.entry(name).promise;
  }

  has(name: string): boolean {
    return this.reached.has(name);
  }

  fail(err: unknown): void {
    if (this.failure !== null) return;
    this.failure = err ?? new Error('connection failed');
    for (const [name, e] of this.waiters) if (!this.reached.has(name)) e.reject(this.failure);
  }
}

/** Wraps an imapflow method on this instance to learn when the session gets there. */
function hook(client: ImapFlow, method: 'startSession' | 'authenticate', before: () => void): boolean {
  const c = client as unknown as Record<string, unknown>;
  const original = c[method];
  if (typeof original !== 'function') return false;
  c[method] = function (this: unknown, ...args: unknown[]): unknown {
    before();
    return (original as (...a: unknown[]) => unknown).apply(client, args);
  };
  return true;
}

function capabilityList(client: ImapFlow): string[] {
  return [...client.capabilities.keys()];
}

function authMechanisms(caps: string[]): string[] {
  return caps.filter((c) => /^AUTH=/i.test(c)).map((c) => c.slice(5).toUpperCase());
}

/** What Calendar Server's client would try with these capabilities (`IMAP4DownloadProtocol`). */
function serverLoginPlan(caps: string[]): string[] {
  // Twisted's IMAP4Client walks the server's AUTH= list in the server's order and takes the
  // first mechanism it has; on failure it falls back to the LOGIN command.
  const first = authMechanisms(caps).find((m) => SERVER_SASL.includes(m));
  return first ? [`AUTHENTICATE ${first}`, 'LOGIN'] : ['LOGIN'];
}

export interface ImapStageContext {
  runner: StageRunner;
  /** The addresses the release's poller connects to (src/server/mail-clients.ts). */
  addressRule?: AddressRule;
}

/** Runs the IMAP stages into `ctx.runner`; returns what the findings need. */
export async function runImapStages(receiving: ReceivingSettings, opts: ConnectOptions, ctx: ImapStageContext): Promise<MailboxSessionOutcome> {
  const { runner } = ctx;
  const host = receiving.server.trim();
  const port = receiving.port;
  const endpoint = { host, port };
  const out: MailboxSessionOutcome = { tlsMode: receiving.useSSL ? 'implicit' : 'starttls' };
  let socket: Socket | undefined;
  let client: ImapFlow | null = null;
  let addresses: ResolvedAddress[] | undefined;

  const mismatch = (probe: PortModeResult): StageError => {
    out.portMode = probe;
    return probe.mode === 'plain'
      ? new StageError(
          'tls-mismatch',
          `port ${port} greets in plain text (a STARTTLS port), but with UseSSL true Calendar Server starts TLS from the first byte, which fails here`,
          { hint: `Set ${CONFIG}.UseSSL to false (the server then upgrades with STARTTLS), or use the IMAPS port (993) with UseSSL true.` },
        )
      : new StageError(
          'tls-mismatch',
          `port ${port} expects TLS from the first byte (IMAPS), but with UseSSL false Calendar Server waits for a plain-text greeting that never comes`,
          { hint: `Set ${CONFIG}.UseSSL to true for this port, or use the STARTTLS port (143) with UseSSL false.` },
        );
  };

  try {
    addresses = await runner.run('resolve', (s) => resolveHost(host, s, `${CONFIG}.Server`, ctx.addressRule));
    socket = await runner.run('connect', async (s) => {
      checkPort(port, `${CONFIG}.Port`, 'Calendar Server has no default; use 993 for IMAP with UseSSL true, 143 with UseSSL false');
      return connectTcp(endpoint, addresses!, s);
    });
    const address = socket?.remoteAddress;

    let sessionSocket: Socket | undefined = socket;
    if (receiving.useSSL && socket) {
      const done = await runner.run('tls', (s) =>
        implicitTlsStage({ socket: socket!, endpoint, address, connect: opts, scope: s, onPlain: mismatch }),
        { onTimeout: tlsTimeout },
      );
      if (done) {
        out.tls = done.info;
        sessionSocket = done.secure;
      } else {
        sessionSocket = undefined;
      }
    }
    if (!sessionSocket || runner.failed) {
      skipRest(runner, receiving);
      return out;
    }

    // ---- imapflow on our socket
    const milestones = new Milestones();
    const state: { certificate: StageError | null; preTlsCaps: string[] | null; loginCaps: string[]; startTlsBegun: boolean } = {
      certificate: null,
      preTlsCaps: null,
      loginCaps: [],
      startTlsBegun: false,
    };
    const open = sessionSocket;
    // Every chunk from the server restarts the running stage's limit: a stage of several round
    // trips (greeting then CAPABILITY, EXAMINE then SEARCH) is bounded answer by answer. Listened to
    // only once imapflow has piped the socket (its onConnect and onSecure do so at once), so the
    // listener never starts the flow of data before imapflow reads it.
    const progress = (): void => runner.progress();
    const transport: ImapTransport = {
      connect(_options, onConnect): ImapTransportSocket {
        setImmediate(() => {
          onConnect();
          open.on('data', progress);
        });
        return open as unknown as ImapTransportSocket;
      },
      prepareUpgrade(): void {
        // The TLS socket takes the connection over; it gets its own listener.
        open.off('data', progress);
        state.startTlsBegun = true;
        state.preTlsCaps = client ? capabilityList(client) : [];
        milestones.reach('capabilities');
      },
      upgrade(plain, _options, onSecure): ImapTransportSocket {
        const pem = loadCaPem(opts); // a --ca-file that cannot be read fails the starttls stage
        const secure = tlsConnect({
          socket: plain as unknown as Socket,
          host,
          rejectUnauthorized: false,
          ...(isIP(host) ? {} : { servername: host }),
          secureContext: runContext(pem),
        });
        secure.once('secureConnect', () => {
          const info = tlsInfo(secure, { host, insecure: opts.insecure, caGiven: !!(opts.ca || opts.caFile) });
          out.tls = info;
          if (!info.verified && !opts.insecure) {
            state.certificate = new StageError('certificate', `the server certificate is not trusted: ${info.reason ?? info.verifyCode}`, {
              ...(info.hint ? { hint: info.hint } : {}),
            });
            setImmediate(() => secure.destroy(state.certificate!));
            return;
          }
          onSecure();
          secure.on('data', progress);
        });
        return secure as unknown as ImapTransportSocket;
      },
    };
    const slack = 1000; // imapflow's own timers fire after ours, so our stage messages win
    client = new ImapFlow({
      host,
      port,
      secure: receiving.useSSL,
      ...(isIP(host) ? {} : { servername: host }),
      // Twisted's behaviour with UseSSL false: STARTTLS when offered, clear text otherwise.
      doSTARTTLS: undefined,
      transport,
      // Without a user name and a password nothing is sent: imapflow then stops at its login step
      // ("Please configure the login") and the login stage says which is empty.
      ...(receiving.username && receiving.password ? { auth: { user: receiving.username, pass: receiving.password } } : {}),
      logger: false,
      // Backstops only, well behind the stages: a plain timer that comes due while the process is
      // busy fires before an answer that is already waiting (../clients/deadline.ts).
      connectionTimeout: opts.timeoutMs * 2 + slack,
      greetingTimeout: opts.timeoutMs * 2 + slack,
      socketTimeout: opts.timeoutMs * 3 + slack,
      disableAutoIdle: true,
      disableCompression: true,
      // No ENABLE (CONDSTORE, ...): the probe leaves no trace beyond a read-only session.
      disableAutoEnable: true,
      clientInfo: { name: 'imip', vendor: 'imip (Calendar Server iMIP toolkit)' },
    });
    client.on('error', () => undefined);
    const c = client;
    hook(c, 'startSession', () => milestones.reach('greeting'));
    hook(c, 'authenticate', () => {
      if (!state.startTlsBegun) state.preTlsCaps = capabilityList(c);
      state.loginCaps = capabilityList(c);
      milestones.reach('capabilities');
      milestones.reach('tls-done');
    });
    const session = c.connect();
    session.then(
      () => {
        milestones.reach('greeting');
        milestones.reach('capabilities');
        milestones.reach('tls-done');
      },
      (err: unknown) => milestones.fail(err),
    );
    const mapErr = (err: unknown): StageError => imapError(err, { user: receiving.username, certificate: state.certificate });

    await runner.run(
      'greeting',
      async (s) => {
        try {
          const waiting = milestones.wait('capabilities');
          if (receiving.useSSL) await waiting;
          else {
            await waitExplainingSilence(waiting, {
              endpoint,
              address,
              expecting: 'plain',
              delayMs: sniffDelay(opts.timeoutMs),
              scope: s,
              onMismatch: mismatch,
            });
          }
        } catch (err) {
          throw mapErr(err);
        }
        s.evidence.greeting = c.greeting ?? '';
        const caps = state.preTlsCaps ?? capabilityList(c);
        s.evidence.capabilities = caps;
        s.evidence.authMechanisms = authMechanisms(caps);
        s.evidence.starttls = caps.includes('STARTTLS');
        if (caps.includes('LOGINDISABLED')) s.evidence.loginDisabled = true;
        if (!receiving.useSSL) {
          const sasl = authMechanisms(caps).filter((m) => SERVER_SASL.includes(m));
          // Twisted authenticates with what is offered before TLS; only when none of its
          // mechanisms is offered does it try STARTTLS, and without STARTTLS it falls back to LOGIN.
          const first = serverLoginPlan(caps)[0]!;
          if (sasl.length && first !== 'AUTHENTICATE CRAM-MD5') out.cleartextLogin = first;
          else if (!sasl.length && !caps.includes('STARTTLS') && !caps.includes('LOGINDISABLED')) out.cleartextLogin = 'LOGIN';
          s.evidence.calendarServer = !caps.includes('STARTTLS')
            ? 'no STARTTLS offered: Calendar Server logs in without TLS (the password crosses the network in clear text unless CRAM-MD5 is used)'
            : sasl.length
              ? `Calendar Server tries AUTHENTICATE ${sasl[0]} before any STARTTLS, because it is offered before TLS (Twisted starts TLS only when none of its mechanisms is offered)`
              : 'Calendar Server starts TLS with STARTTLS before logging in';
        }
      },
      {
        onTimeout: (ms) =>
          new StageError(
            'timeout',
            milestones.has('greeting')
              ? `the server sent its greeting, then did not answer CAPABILITY within ${ms} ms`
              : `the server accepted the connection but sent no IMAP greeting within ${ms} ms`,
            { hint: 'The server is overloaded, or something in between holds the connection; raise --timeout to wait longer.' },
          ),
      },
    );

    if (!receiving.useSSL && !runner.failed && state.startTlsBegun) {
      await runner.run('starttls', async (s) => {
        try {
          await milestones.wait('tls-done');
        } catch (err) {
          if (out.tls) s.evidence.tls = out.tls;
          throw mapErr(err);
        }
        // imapflow goes on in clear text when STARTTLS is answered NO or BAD; Calendar Server's client does not.
        if (!c.secureConnection) throw upgradeRefused('STARTTLS');
        s.evidence.tls = out.tls;
        s.evidence.capabilities = state.loginCaps;
        s.evidence.authMechanisms = authMechanisms(state.loginCaps);
      });
    } else if (!receiving.useSSL && !runner.failed) {
      out.tlsMode = 'none';
    }

    await runner.run('login', async (s) => {
      s.evidence.username = receiving.username;
      const missing = missingCredentials(receiving);
      if (missing) throw missing;
      try {
        await session;
      } catch (err) {
        throw mapErr(err);
      }
      const used = [...((c as unknown as { authCapabilities?: Map<string, boolean> }).authCapabilities ?? new Map<string, boolean>())]
        .filter(([, v]) => v === true)
        .map(([k]) => k.replace(/^AUTH=/i, 'AUTHENTICATE '));
      s.evidence.mechanism = used[0] ?? 'LOGIN';
      // Twisted authenticates with the capabilities it has: before TLS if one of its mechanisms is
      // offered there, otherwise after STARTTLS (or TLS from the first byte).
      const pre = state.preTlsCaps ?? [];
      const preUsable = !receiving.useSSL && authMechanisms(pre).some((m) => SERVER_SASL.includes(m));
      s.evidence.calendarServerTries = serverLoginPlan(preUsable ? pre : state.loginCaps);
      s.evidence.encrypted = c.secureConnection;
      out.mechanism = String(s.evidence.mechanism);
    });

    await runner.run('inbox', async (s) => {
      let box;
      try {
        box = await openInbox(c, true);
      } catch (err) {
        throw new StageError('rejected', `INBOX could not be opened read-only (EXAMINE): ${mapErr(err).message}`, {
          hint: 'The account may have no INBOX, or the server refuses EXAMINE; Calendar Server needs to SELECT INBOX.',
        });
      }
      // EXAMINE answered: the SEARCH that follows gets the limit afresh (--timeout bounds each answer).
      s.progress();
      s.evidence.command = 'EXAMINE INBOX';
      s.evidence.readOnly = box.readOnly !== false;
      s.evidence.uidValidity = String(box.uidValidity);
      s.evidence.uidNext = box.uidNext;
      const total = box.exists;
      let unseen = 0;
      if (total > 0) {
        const found = await c.search({ seen: false }, { uid: true });
        unseen = Array.isArray(found) ? found.length : 0;
      }
      const counts: MailboxCounts = { total, unseen, seen: total - unseen };
      out.counts = counts;
      Object.assign(s.evidence, counts);
    });

    await runner.run('sample', async (s) => {
      const total = out.counts?.total ?? 0;
      if (total === 0) {
        s.evidence.sampled = 0;
        out.sample = [];
        return;
      }
      const first = Math.max(1, total - IMAP_SAMPLE_SIZE + 1);
      const range = `${first}:${total}`;
      out.sample = await readSample(c, range);
      s.evidence.range = range;
      s.evidence.sampled = out.sample.length;
      s.evidence.fetched = SAMPLE_ITEMS;
    });

    await runner.run('logout', async (s) => {
      await c.logout();
      s.evidence.closed = true;
    });
  } catch (err) {
    runner.record({ stage: 'internal', ok: false, ms: 0, evidence: {}, error: toStageError(err).message });
  } finally {
    if (client) {
      try {
        client.close();
      } catch {
        // already closed
      }
    } else if (socket && !socket.destroyed) {
      socket.destroy();
    }
    if (out.tls && !receiving.useSSL) out.tlsMode = 'starttls';
  }
  return out;
}

/** Lists every stage not reached as skipped, so the report shows the whole path. */
function skipRest(runner: StageRunner, receiving: ReceivingSettings): void {
  const all = ['resolve', 'connect', ...(receiving.useSSL ? ['tls'] : []), 'greeting', 'login', 'inbox', 'sample', 'logout'];
  const seen = new Set(runner.stages.map((s) => s.stage));
  for (const stage of all) if (!seen.has(stage)) runner.skip(stage);
}
