/**
 * The POP3 half of `imip test-mailbox`, on the project's POP3 client (`./pop3/index.js`), logging
 * in exactly as the gateway's Twisted POP3Client does (`twisted.mail.pop3client.POP3Client.login`,
 * `allowInsecureLogin = False` as `POP3DownloadProtocol` sets it): APOP when the greeting carries
 * a challenge; otherwise STLS when the connection is not yet encrypted and the server offers it;
 * otherwise it refuses to send the password in clear text.
 *
 * resolve → connect → tls (UseSSL true) → greeting (and CAPA) → starttls → login → stat → uidl →
 * sample (TOP, when offered) → quit. Never DELE: the mailbox is left exactly as it was.
 */
import { isIP, type Socket } from 'node:net';
import type { ConnectOptions, ReceivingSettings } from '../config/settings.js';
import {
  StageError,
  checkPort,
  connectTcp,
  detectImplicitTls,
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
  type StageScope,
} from '../net/net-stage.js';
import { Pop3Client, isPop3Error, type Capabilities, type TlsDetails } from '../clients/pop3/index.js';
import type { MailboxSessionOutcome, SampledMessage } from './probe-report.js';
import { missingCredentials, pop3Error } from './mailbox-errors.js';
import { tlsInfoFromParts, type TlsInfo } from '../net/tls-info.js';

const CONFIG = 'Scheduling.iMIP.Receiving';

/** Newest messages looked at (TOP) to judge whether the mailbox is dedicated. */
export const POP3_SAMPLE_SIZE = 20;
/** Body lines read with TOP, enough to meet the MIME part headers of a typical iMIP message. */
const TOP_LINES = 120;
/** Our own stage timers should fire before the POP3 client's. */
const SLACK_MS = 1000;

function capaEvidence(caps: Capabilities | null): Record<string, unknown> {
  if (!caps) return { capa: 'not supported (CAPA answered -ERR)' };
  return {
    capabilities: caps.lines,
    stls: caps.stls,
    sasl: caps.sasl,
    pipelining: caps.pipelining,
    top: caps.top,
    uidl: caps.uidl,
    user: caps.user,
    ...(caps.implementation ? { implementation: caps.implementation } : {}),
    ...(caps.loginDelay !== undefined ? { loginDelay: caps.loginDelay } : {}),
  };
}


// ---------------------------------------------------------------------------------------------
// Headers of the sample

function headerBlock(raw: Buffer): { headers: string; body: string } {
  const text = raw.toString('latin1');
  const m = /\r?\n\r?\n/.exec(text);
  if (!m) return { headers: text, body: '' };
  return { headers: text.slice(0, m.index), body: text.slice(m.index + m[0].length) };
}

function sampleFromTop(n: number, raw: Buffer): SampledMessage {
  const { headers, body } = headerBlock(raw);
  const ct = /^content-type:\s*([^;\r\n]+)/im.exec(headers)?.[1]?.trim().toLowerCase();
  let calendarPart: boolean | null;
  if (ct === 'text/calendar' || ct === 'application/ics') calendarPart = true;
  else if (/content-type:\s*(text\/calendar|application\/ics)/i.test(body) || /filename="?[^"\r\n]*\.ics"?/i.test(body)) calendarPart = true;
  else if (ct && !ct.startsWith('multipart/')) calendarPart = false;
  // A multipart message whose first lines show no calendar part: most likely none; say "false"
  // only when the body shown ended (TOP returned fewer lines than asked).
  else calendarPart = body.split('\n').length < TOP_LINES ? false : null;
  return { id: `#${n}`, headers, calendarPart, ...(ct ? { contentType: ct } : {}) };
}

// ---------------------------------------------------------------------------------------------

export interface Pop3StageContext {
  runner: StageRunner;
  transcript: string[];
  /** The addresses the release's poller connects to (src/server/mail-clients.ts). */
  addressRule?: AddressRule;
}

export async function runPop3Stages(receiving: ReceivingSettings, opts: ConnectOptions, ctx: Pop3StageContext): Promise<MailboxSessionOutcome> {
  const { runner, transcript } = ctx;
  const host = receiving.server.trim();
  const port = receiving.port;
  const endpoint = { host, port };
  const out: MailboxSessionOutcome = { tlsMode: receiving.useSSL ? 'implicit' : 'starttls' };
  const errCtx = { user: receiving.username, host, port };
  const caGiven = !!(opts.ca || opts.caFile);
  let client: Pop3Client | null = null;
  let pending: Promise<Pop3Client> | null = null;

  const mismatch = (probe: PortModeResult): StageError => {
    out.portMode = probe;
    return probe.mode === 'plain'
      ? new StageError(
          'tls-mismatch',
          `port ${port} greets in plain text (a POP3/STLS port), but with UseSSL true Calendar Server starts TLS from the first byte, which fails here`,
          { hint: `Set ${CONFIG}.UseSSL to false (the server then upgrades with STLS), or use the POP3S port (995) with UseSSL true.` },
        )
      : new StageError(
          'tls-mismatch',
          `port ${port} expects TLS from the first byte (POP3S), but with UseSSL false Calendar Server waits for a plain-text greeting that never comes`,
          { hint: `Set ${CONFIG}.UseSSL to true for this port, or use the STLS port (110) with UseSSL false.` },
        );
  };

  try {
    const addresses: ResolvedAddress[] | undefined = await runner.run('resolve', (s) => resolveHost(host, s, `${CONFIG}.Server`, ctx.addressRule));

    let tcp: Socket | undefined;
    // The address the connect stage reached: later checks (certificate, TLS mode) go to the same one.
    let connectedTo = '';
    let greetingSeen: (() => void) | null = null;
    const greetingArrived = new Promise<void>((resolve) => (greetingSeen = resolve));
    let greetingAt: (() => void) | null = null;
    const onTranscript = (e: { direction: 'client' | 'server'; text: string }): void => {
      transcript.push(`${e.direction === 'client' ? 'C' : 'S'}: ${e.text}`);
      // Each answer restarts the stage's limit (USER then PASS, RSET then QUIT, pipelined TOPs).
      if (e.direction === 'server') runner.progress();
      if (e.direction === 'server' && greetingSeen) {
        greetingAt?.();
        greetingSeen();
        greetingSeen = null;
      }
    };

    // Built before the stage clock starts (the system roots take a while to load the first time).
    let caPem: string | undefined;
    let caProblem: unknown = null;
    try {
      caPem = loadCaPem(opts);
    } catch (err) {
      caProblem = err;
    }
    const connected = await runner.run('connect', async (s) => {
      if (caProblem) throw caProblem;
      checkPort(port, `${CONFIG}.Port`, 'Calendar Server has no default; use 995 for POP3 with UseSSL true, 110 with UseSSL false');
      // The TCP connection is the shared connect stage's (every address, as the server's client
      // tries them); the POP3 client takes it from there.
      const sock = await connectTcp(endpoint, addresses!, s);
      tcp = sock;
      connectedTo = sock.remoteAddress ?? addresses![0]!.address;
      pending = Pop3Client.connect({
        host: connectedTo,
        port,
        socket: sock,
        implicitTls: receiving.useSSL,
        ...(isIP(host) ? {} : { servername: host }),
        // One context per run, the system roots plus --ca-file (no copy of the root store).
        secureContext: () => runContext(caPem),
        rejectUnauthorized: !opts.insecure,
        timeoutMs: opts.timeoutMs + SLACK_MS,
        onTranscript,
      });
      pending.catch(() => undefined);
      return true;
    });
    if (!connected || !pending) {
      skipRest(runner, receiving);
      return out;
    }
    const session = pending as Promise<Pop3Client>;
    const abortSession = (): void => {
      session.then((c) => c.close(), () => undefined);
      (tcp as Socket | undefined)?.destroy();
    };

    if (receiving.useSSL) {
      await runner.run('tls', async (s) => {
        s.signal.addEventListener('abort', abortSession, { once: true });
        greetingAt = () => s.markDone();
        try {
          await Promise.race([greetingArrived, session.then(() => undefined)]);
        } catch (err) {
          const se = pop3Error(err, errCtx);
          if (se.kind === 'certificate') {
            const info = await certificateEvidence(receiving, opts, connectedTo, true, s);
            if (info) {
              s.evidence.tls = info;
              out.tls = info;
              throw new StageError('certificate', `the server certificate is not trusted: ${info.reason ?? se.message}`, { ...(info.hint ? { hint: info.hint } : {}) });
            }
            throw se;
          }
          if (['tls', 'closed', 'protocol'].includes(se.kind) && !s.signal.aborted) {
            const probe = await detectImplicitTls(host, port, { timeoutMs: Math.min(3000, Math.max(200, s.remaining() - 100)), address: connectedTo, signal: s.signal });
            s.evidence.portSpeaks = probe.mode;
            if (probe.mode === 'plain') throw mismatch(probe);
          }
          throw se;
        }
        // The TLS details are on the client once the session (greeting, CAPA) is open; the
        // greeting stage adds them here.
      }, { onTimeout: tlsTimeout });
    }

    client = (await runner.run(
      'greeting',
      async (s) => {
        s.signal.addEventListener('abort', abortSession, { once: true });
        let c: Pop3Client;
        try {
          c = receiving.useSSL
            ? await session
            : await waitExplainingSilence(session, {
                endpoint,
                address: connectedTo,
                expecting: 'plain',
                delayMs: sniffDelay(opts.timeoutMs),
                scope: s,
                onMismatch: mismatch,
              });
        } catch (err) {
          throw pop3Error(err, errCtx);
        }
        s.evidence.greeting = c.greeting;
        s.evidence.apopChallenge = c.hasApopChallenge;
        Object.assign(s.evidence, capaEvidence(c.capabilities));
        if (receiving.useSSL && c.tls) {
          const info = fromDetails(c.tls, host, opts.insecure, caGiven);
          out.tls = info;
          const tlsStage = runner.stages.find((st) => st.stage === 'tls');
          if (tlsStage) tlsStage.evidence.tls = runner.redactor.deep(info);
        }
        return c;
      },
      {
        onTimeout: (ms) =>
          new StageError('timeout', `the server accepted the connection but sent no POP3 greeting within ${ms} ms`, {
            hint: 'The server is overloaded, or something in between holds the connection; raise --timeout to wait longer.',
          }),
      },
    )) ?? null;
    if (!client) {
      skipRest(runner, receiving);
      return out;
    }
    const c = client;

    // ---- Twisted's login order: APOP if challenged; else STLS if offered (and not yet TLS); else refuse.
    const useApop = c.hasApopChallenge;
    if (!useApop && !c.secure && c.capabilities?.stls) {
      await runner.run('starttls', async (s) => {
        s.signal.addEventListener('abort', () => c.close(), { once: true });
        try {
          await c.startTls();
        } catch (err) {
          const se = pop3Error(err, errCtx);
          if (se.kind === 'certificate') {
            const info = await certificateEvidence(receiving, opts, connectedTo, false, s);
            if (info) {
              s.evidence.tls = info;
              out.tls = info;
              throw new StageError('certificate', `the server certificate is not trusted: ${info.reason ?? se.message}`, { ...(info.hint ? { hint: info.hint } : {}) });
            }
          }
          throw se;
        }
        if (c.tls) {
          out.tls = fromDetails(c.tls, host, opts.insecure, caGiven);
          s.evidence.tls = out.tls;
        }
        Object.assign(s.evidence, capaEvidence(c.capabilities));
      });
    } else if (!receiving.useSSL && !useApop) {
      out.tlsMode = 'none';
    }

    await runner.run('login', async (s) => {
      s.signal.addEventListener('abort', () => c.close(), { once: true });
      s.evidence.username = receiving.username;
      if (!useApop && !c.secure) {
        throw new StageError(
          'cleartext-login',
          'the server neither sends an APOP challenge nor offers STLS, so Calendar Server refuses to send the password in clear text and never logs in',
          {
            hint: `Set ${CONFIG}.UseSSL to true with the POP3S port (995), enable STLS (or APOP) on the server, or use IMAP.`,
            evidence: { apopChallenge: false, stls: c.capabilities?.stls ?? false },
          },
        );
      }
      const missing = missingCredentials(receiving);
      if (missing) throw missing;
      const method = useApop ? 'apop' : 'user';
      s.evidence.method = useApop ? 'APOP (the greeting has a challenge)' : 'USER/PASS over TLS';
      try {
        out.mechanism = await c.login(receiving.username, receiving.password, { method, stls: false });
      } catch (err) {
        throw pop3Error(err, errCtx);
      }
      s.evidence.mechanism = out.mechanism;
      s.evidence.encrypted = c.secure;
    });

    await runner.run('stat', async (s) => {
      s.signal.addEventListener('abort', () => c.close(), { once: true });
      try {
        const st = await c.stat();
        out.counts = { total: st.count, unseen: null, seen: null, octets: st.size };
        s.evidence.messages = st.count;
        s.evidence.octets = st.size;
      } catch (err) {
        throw pop3Error(err, errCtx);
      }
    });

    await runner.run('uidl', async (s) => {
      s.signal.addEventListener('abort', () => c.close(), { once: true });
      try {
        const ids = await c.uidl();
        s.evidence.count = ids.length;
        s.evidence.first = ids.slice(0, 3).map((u) => `${u.n} ${u.uid}`);
      } catch (err) {
        const se = pop3Error(err, errCtx);
        // UIDL is optional (RFC 1939) and Calendar Server does not use it.
        if (se.kind === 'protocol' && isPop3Error(err) && err.serverText !== undefined) {
          s.evidence.supported = false;
          s.evidence.reply = err.serverText;
          return;
        }
        throw se;
      }
    });

    await runner.run('sample', async (s) => {
      s.signal.addEventListener('abort', () => c.close(), { once: true });
      const total = out.counts?.total ?? 0;
      if (total === 0) {
        out.sample = [];
        s.evidence.sampled = 0;
        return;
      }
      if (c.capabilities && !c.capabilities.top) {
        s.evidence.sampled = 0;
        s.evidence.note = 'the server does not list TOP in CAPA; no sample taken';
        return;
      }
      const first = Math.max(1, total - POP3_SAMPLE_SIZE + 1);
      const ns = Array.from({ length: total - first + 1 }, (_, i) => first + i);
      try {
        const tops = await c.topMany(ns, TOP_LINES);
        out.sample = tops.map((raw, i) => sampleFromTop(ns[i]!, raw));
      } catch (err) {
        const se = pop3Error(err, errCtx);
        if (se.kind === 'protocol') {
          s.evidence.sampled = 0;
          s.evidence.note = `TOP refused: ${se.message}`;
          return;
        }
        throw se;
      }
      s.evidence.range = `${first}-${total}`;
      s.evidence.sampled = out.sample.length;
      s.evidence.command = `TOP n ${TOP_LINES}`;
    });

    await runner.run('quit', async (s) => {
      s.signal.addEventListener('abort', () => c.close(), { once: true });
      try {
        // RSET, then QUIT: on QUIT alone Dovecot stores \Seen on every message TOP retrieved.
        await c.endReadOnly();
      } catch (err) {
        throw pop3Error(err, errCtx);
      }
      s.evidence.command = 'RSET, QUIT';
      s.evidence.deleted = 0;
    });
  } catch (err) {
    runner.record({ stage: 'internal', ok: false, ms: 0, evidence: {}, error: toStageError(err).message });
  } finally {
    // Dropping the connection without QUIT makes the server discard any DELE marks (there are none).
    if (client) client.close();
    else if (pending) (pending as Promise<Pop3Client>).then((cl) => cl.close(), () => undefined);
  }
  return out;
}

function fromDetails(d: TlsDetails, host: string, insecure: boolean, caGiven: boolean): TlsInfo {
  return tlsInfoFromParts(
    {
      protocol: d.protocol,
      cipher: d.cipher,
      authorized: d.authorized,
      ...(d.authorizationError ? { authorizationError: d.authorizationError } : {}),
      ...(d.peerCertificate ? { peerCertificate: d.peerCertificate } : {}),
    },
    { host, insecure, caGiven },
  );
}

/**
 * After a certificate failure (the POP3 client enforces the checks), a second session with the
 * checks off to show what the certificate is. No login: it quits right after TLS.
 */
async function certificateEvidence(
  receiving: ReceivingSettings,
  opts: ConnectOptions,
  address: string,
  implicit: boolean,
  s: StageScope,
): Promise<TlsInfo | null> {
  const host = receiving.server.trim();
  const budget = Math.max(200, Math.min(3000, s.remaining() - 100));
  let c: Pop3Client | null = null;
  try {
    const pem = loadCaPem(opts);
    c = await Pop3Client.connect({
      host: address,
      port: receiving.port,
      implicitTls: implicit,
      ...(isIP(host) ? {} : { servername: host }),
      secureContext: () => runContext(pem),
      rejectUnauthorized: false,
      timeoutMs: budget,
    });
    if (!implicit) await c.startTls();
    return c.tls ? fromDetails(c.tls, host, false, !!(opts.ca || opts.caFile)) : null;
  } catch {
    return null;
  } finally {
    if (c) await c.endReadOnly().catch(() => undefined);
  }
}

function skipRest(runner: StageRunner, receiving: ReceivingSettings): void {
  const all = ['resolve', 'connect', ...(receiving.useSSL ? ['tls'] : []), 'greeting', 'login', 'stat', 'uidl', 'sample', 'quit'];
  const seen = new Set(runner.stages.map((s) => s.stage));
  for (const stage of all) if (!seen.has(stage)) runner.skip(stage);
}
