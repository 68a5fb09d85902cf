/**
 * One SMTP session carried out the way Calendar Server's sender (Twisted `ESMTPSender`) would make
 * it, as named stages. The row of src/server/mail-clients.ts decides every choice: STARTTLS
 * required or whenever offered, TLS 1.0 only or negotiated, AUTH only with a password and only
 * with the first mechanism of CRAM-MD5, LOGIN, PLAIN that the relay lists, no fallback, no HELO.
 * `test-smtp`, `check-config --connect` and `send-test` all run this, so their verdicts agree.
 *
 * The tool's own safety on top: the certificate is verified for the tool's connection; when it
 * does not verify (and no `--insecure`), nothing but EHLO and QUIT follows the handshake: no
 * password, no message.
 *
 * resolve → connect → greeting → ehlo → starttls → ehlo-tls → auth → mail-from → rcpt-to → data → quit
 */
import { hostname } from 'node:os';
import { keychainUnread } from '../../config/keychain.js';
import type { ConnectOptions, SendingSettings } from '../../config/settings.js';
import {
  Redactor,
  StageError,
  StageRunner,
  checkPort,
  connectTcp,
  loadCaPem,
  nowMs,
  resolveHost,
  secondsText,
  sniffDelay,
  tlsHandshake,
  toStageError,
  waitExplainingSilence,
  type ResolvedAddress,
  type StageScope,
} from '../../net/net-stage.js';
import { tlsInfo, type TlsInfo } from '../../net/tls-info.js';
import { addressRule, describeVersions, smtpTransport, type MailClients, type SmtpMechanism, type TlsContext, type TlsMode } from '../../server/mail-clients.js';
import { authExchange, authFailure, firstOffered } from './auth.js';
import { extensionEvidence, parseEhlo, type SmtpExtensions } from './extensions.js';
import { queueIdOf } from './message.js';
import { replyText, SmtpWire, type SmtpReply } from './wire.js';

export const CONFIG = 'Scheduling.iMIP.Sending';

/** A relay-check recipient outside any domain a relay serves (RFC 2606), never sent to. */
export const RELAY_CHECK_RECIPIENT = 'imip-relay-check@example.invalid';

export interface SmtpSessionOptions extends ConnectOptions {
  /** The server's mail clients for the release judged by. */
  clients: MailClients;
  /** Name given in EHLO; defaults to this machine's host name (Twisted's `DNSNAME`). */
  heloName?: string;
  /** A message to send: envelope and DATA text (CRLF, dot-stuffed, ending with `.`). */
  mail?: {
    from: string;
    to: string[];
    data: string;
    shown: string;
    /**
     * When every recipient is refused: ask, in the same transaction, whether this address is
     * refused too (RCPT TO, then RSET; nothing is sent). The plus-address probe asks it of the bare
     * Sending.Address, to tell "plus addresses refused" from "this recipient refused".
     */
    recipientCheck?: string;
  };
  /**
   * With AUTH skipped and no message: ask the relay (MAIL FROM, RCPT TO, RSET; nothing is sent)
   * whether it takes unauthenticated mail for an outside recipient.
   */
  relayCheckFrom?: string;
  /** After the server's mechanism is refused, try the others to explain (the tool's own try). */
  explainAuth?: boolean;
}

/** Why AUTH did not happen, when it did not. */
/** `keychain`: macOS, the server logs in with the System keychain's password, which imip does not read. */
export type AuthSkipReason = 'no-password' | 'not-offered' | 'no-known-mechanism' | 'keychain';

export interface SmtpSessionResult {
  runner: StageRunner;
  redactor: Redactor;
  transcript: string[];
  host: string;
  port: number;
  /** The mode and context the server's client uses here. */
  mode: TlsMode;
  context: TlsContext;
  tls: TlsInfo | null;
  /** STARTTLS was offered in the first EHLO. */
  starttlsOffered: boolean | null;
  /** AUTH mechanisms before and after TLS. */
  authBeforeTls: string[] | null;
  authAfterTls: string[] | null;
  authenticated: boolean;
  /** The mechanism the server would use. */
  mechanism: SmtpMechanism | null;
  authSkipped: AuthSkipReason | null;
  /** AUTH went out before TLS. */
  authInClear: boolean;
  /** The tool stopped after the handshake because the certificate did not verify. */
  stoppedForCertificate: boolean;
  /** The unauthenticated relay check: RCPT reply, and whether it was accepted. */
  relayCheck: { reply: string; accepted: boolean } | null;
  /** The answer to `mail.recipientCheck`, when it was asked. */
  recipientCheck: { to: string; reply: string; accepted: boolean } | null;
  /** Final reply to DATA. */
  final: SmtpReply | null;
  queueId: string | null;
  accepted: string[];
  rejected: string[];
  ms: number;
}

function rejected(step: string, r: SmtpReply, hint?: string): StageError {
  return new StageError('rejected', `the server refused ${step}: ${replyText(r)}`, {
    evidence: { reply: replyText(r) },
    ...(hint ? { hint } : {}),
  });
}

/** A session's result before its first stage: nothing seen, nothing sent. */
export function newSmtpResult(o: {
  runner: StageRunner;
  redactor: Redactor;
  transcript: string[];
  host: string;
  port: number;
  transport: Pick<SmtpSessionResult, 'mode' | 'context'>;
}): SmtpSessionResult {
  return {
    runner: o.runner,
    redactor: o.redactor,
    transcript: o.transcript,
    host: o.host,
    port: o.port,
    mode: o.transport.mode,
    context: o.transport.context,
    tls: null,
    starttlsOffered: null,
    authBeforeTls: null,
    authAfterTls: null,
    authenticated: false,
    mechanism: null,
    authSkipped: null,
    authInClear: false,
    stoppedForCertificate: false,
    relayCheck: null,
    recipientCheck: null,
    final: null,
    queueId: null,
    accepted: [],
    rejected: [],
    ms: 0,
  };
}

export async function runSmtpSession(sending: SendingSettings, opts: SmtpSessionOptions): Promise<SmtpSessionResult> {
  const started = nowMs();
  const redactor = new Redactor([sending.password]);
  const runner = new StageRunner(opts.timeoutMs, redactor);
  const transcript: string[] = [];
  const host = sending.server.trim();
  const port = sending.port;
  const endpoint = { host, port };
  const helo = opts.heloName?.trim() || hostname() || 'localhost';
  const transport = smtpTransport(opts.clients, sending.useSSL);
  const res = newSmtpResult({ runner, redactor, transcript, host, port, transport });
  let wire: SmtpWire | null = null;
  let addresses: ResolvedAddress[] | undefined;
  let connectedTo: string | undefined;

  try {
    addresses = await runner.run('resolve', (s) => resolveHost(host, s, `${CONFIG}.Server`, addressRule(opts.clients, 'sending')));

    const socket = await runner.run('connect', async (s) => {
      checkPort(port, `${CONFIG}.Port`, 'usually 587 (submission with STARTTLS) or 25');
      const sock = await connectTcp(endpoint, addresses!, s);
      connectedTo = sock.remoteAddress;
      return sock;
    });
    if (socket) {
      wire = new SmtpWire(socket, transcript);
      // A stage of several round trips (AUTH LOGIN, DATA): --timeout bounds each answer, not their sum.
      wire.onAnswer = () => runner.progress();
    }

    await runner.run(
      'greeting',
      async (s) => {
        const reply = await waitExplainingSilence(wire!.read(s.signal), {
          endpoint,
          address: connectedTo,
          expecting: 'plain',
          delayMs: sniffDelay(opts.timeoutMs),
          scope: s,
          onMismatch: () =>
            new StageError('tls-mismatch', `port ${port} expects TLS from the first byte; Calendar Server only speaks STARTTLS when sending`, {
              hint:
                'Calendar Server opens plain TCP and upgrades with STARTTLS; on a port with TLS from the first byte it waits forever. ' +
                'Use the submission port 587 (STARTTLS) with UseSSL true.',
            }),
        });
        s.evidence.greeting = replyText(reply);
        if (reply.code !== 220) throw rejected('the session', reply, 'The server does not accept mail from this machine right now; its reply says why.');
      },
      {
        onTimeout: (ms) =>
          new StageError('timeout', `SMTP greeting timed out after ${secondsText(ms)}: ${wire?.midLine() ? 'the server began its greeting but did not finish the line' : wire?.hasUnread() ? 'the server sent part of a greeting of several lines, then stopped' : 'the server accepted the connection but sent no greeting'}`, {
            hint: 'The server is overloaded, or something in between (a proxy, a firewall doing inspection) holds the connection; raise --timeout to wait longer.',
          }),
      },
    );

    let ext = await runner.run('ehlo', (s) => ehlo(wire!, helo, s), { onTimeout: timeoutIn('EHLO') });
    if (ext) {
      res.starttlsOffered = ext.starttls;
      res.authBeforeTls = ext.auth;
    }

    // twisted smtp.py `ESMTPClient.tryTLS`: STARTTLS whenever a context is set and the relay
    // offers it; with `requireTransportSecurity` (UseSSL true) its absence ends the send.
    const startTls = !!ext && (transport.mode === 'starttls-required' || ext.starttls);
    if (startTls) {
      const secured = await runner.run(
        'starttls',
        async (s) => {
          s.evidence.calendarServerOffers = describeVersions(transport.context.versions);
          if (!ext!.starttls) {
            throw new StageError('starttls-missing', 'the server does not offer STARTTLS, and with UseSSL true Calendar Server refuses to send without it', {
              hint:
                "Use the server's submission port (587) or enable STARTTLS on it; set Sending.UseSSL to false only for a relay on a trusted network (mail and password then travel in clear text).",
              evidence: { offered: [...ext!.keywords.keys()] },
            });
          }
          const reply = await wire!.command('STARTTLS', s.signal);
          if (reply.code !== 220) throw rejected('STARTTLS', reply, 'The server advertises STARTTLS but does not start it; check its TLS configuration (certificate, key).');
          if (wire!.hasUnread()) {
            throw new StageError('protocol', 'the server sent data after its STARTTLS reply, before the TLS handshake', {
              hint: 'Something between this machine and the server tampers with the connection (or the server is broken).',
            });
          }
          const plain = wire!.current;
          wire!.detach();
          const pem = loadCaPem(opts);
          let secure;
          try {
            secure = await tlsHandshake({ socket: plain, host, ...(pem ? { pem } : {}), versions: transport.context.versions, signal: s.signal, clientSpeaksFirst: true });
          } catch (err) {
            throw handshakeFailure(err, transport.context, sending.useSSL);
          }
          const info = tlsInfo(secure, { host, insecure: opts.insecure, caGiven: !!(opts.ca || opts.caFile) });
          res.tls = info;
          s.evidence.tls = info;
          // The server's own check (9.x: the host name only; before: none).
          if (transport.context.certificate === 'host-name' && !info.nameMatches) {
            secure.destroy();
            throw new StageError('certificate-name', `the certificate does not name ${host}, and Calendar Server checks the host name: the connection breaks`, {
              evidence: { sans: info.sans, subjectCN: info.subjectCN },
            });
          }
          if (!info.verified && !opts.insecure) res.stoppedForCertificate = true;
          wire!.upgrade(secure);
          return true;
        },
        { onTimeout: timeoutIn('STARTTLS') },
      );
      // The second EHLO leaves only once the handshake has completed and, under TLS 1.3, the
      // server's session ticket has arrived (`clientSpeaksFirst`), not in the same write as the
      // TLS Finished message: Postfix then held its reply about 40 ms for our ACK of the ticket.
      if (secured) {
        ext = await runner.run('ehlo-tls', (s) => ehlo(wire!, helo, s), { onTimeout: timeoutIn('EHLO') });
        if (ext) res.authAfterTls = ext.auth;
      }
    }
    // Not offered with UseSSL false: the server stays in clear text (the ehlo stage shows starttls=false).

    // twisted smtp.py `ESMTPClient.authenticate`: only `if self.secret and items.get('AUTH')`.
    const stop = (): boolean => res.stoppedForCertificate && !runner.failed;
    if (!runner.failed && ext) {
      const known = firstOffered(opts.clients.smtp.authOrder, ext.auth);
      res.authSkipped =
        !sending.password && !sending.keychainAccount ? 'no-password' : !ext.auth.length ? 'not-offered' : !known ? 'no-known-mechanism' : !sending.password ? 'keychain' : null;
      if (res.authSkipped === 'keychain') {
        runner.skip('auth', { reason: keychainUnread('Sending', sending.keychainAccount) });
      } else if (!res.authSkipped) {
        if (stop()) {
          runner.skip('auth', { reason: 'stopped before sending the password: the certificate did not verify for this test' });
        } else {
          await runner.run(
            'auth',
            async (s) => {
              res.mechanism = known;
              res.authInClear = !res.tls;
              s.evidence.username = sending.username;
              s.evidence.offered = ext!.auth;
              s.evidence.mechanism = known;
              s.evidence.overTls = !!res.tls;
              const r = await authExchange(wire!, known!, sending.username, sending.password, s.signal);
              s.evidence.reply = replyText(r);
              if (r.code === 235) {
                res.authenticated = true;
                return;
              }
              const failure = authFailure(r, known!);
              if (opts.explainAuth !== false && failure.kind === 'auth') {
                const works = await explainAuth(wire!, opts.clients.smtp.authOrder, ext!.auth, known!, sending, s);
                if (works) {
                  throw new StageError('auth-mechanism', `the relay refused ${known}, the first mechanism Calendar Server picks, and it never tries another`, {
                    evidence: { reply: replyText(r), mechanism: known, worksWith: works },
                  });
                }
              }
              throw failure;
            },
            { onTimeout: timeoutIn('AUTH') },
          );
        }
      }
    }

    if (opts.mail) {
      const mail = opts.mail;
      if (stop()) {
        for (const st of ['mail-from', 'rcpt-to', 'data']) runner.skip(st, { reason: 'stopped: the certificate did not verify for this test' });
      } else {
        await runner.run(
          'mail-from',
          async (s) => {
            s.evidence.from = mail.from;
            const r = await wire!.command(`MAIL FROM:<${mail.from}>`, s.signal);
            s.evidence.reply = replyText(r);
            if (r.code !== 250) throw rejected('the sender', r, mailFromHint(r, res));
          },
          { onTimeout: timeoutIn('MAIL FROM') },
        );
        await runner.run(
          'rcpt-to',
          async (s) => {
            s.evidence.to = mail.to;
            const replies: string[] = [];
            let lastRefusal: SmtpReply | null = null;
            for (const to of mail.to) {
              const r = await wire!.command(`RCPT TO:<${to}>`, s.signal);
              replies.push(replyText(r));
              if (r.code === 250 || r.code === 251) res.accepted.push(to);
              else {
                res.rejected.push(to);
                lastRefusal = r;
              }
            }
            s.evidence.reply = replies.length === 1 ? replies[0] : replies;
            if (!res.accepted.length && lastRefusal && mail.recipientCheck) {
              const r = await wire!.command(`RCPT TO:<${mail.recipientCheck}>`, s.signal);
              res.recipientCheck = { to: mail.recipientCheck, reply: replyText(r), accepted: r.code === 250 || r.code === 251 };
              s.evidence.recipientCheck = { ...res.recipientCheck, note: 'RCPT TO only, then RSET: nothing is sent' };
              await wire!.command('RSET', s.signal).catch(() => null);
            }
            // Twisted's SMTPClient goes on with the recipients accepted; none accepted ends the send.
            if (!res.accepted.length && lastRefusal) throw rejected('the recipient', lastRefusal, rcptHint(lastRefusal, res));
          },
          { onTimeout: timeoutIn('RCPT TO') },
        );
        await runner.run(
          'data',
          async (s) => {
            const go = await wire!.command('DATA', s.signal);
            if (go.code !== 354) throw rejected('DATA', go);
            s.evidence.bytes = Buffer.byteLength(mail.data);
            wire!.writeRaw(mail.data, mail.shown);
            const done = await wire!.read(s.signal);
            res.final = done;
            s.evidence.reply = replyText(done);
            res.queueId = queueIdOf(done.text) ?? null;
            if (res.queueId) s.evidence.queueId = res.queueId;
            if (done.code !== 250) throw rejected('the message', done);
          },
          { onTimeout: timeoutIn('DATA') },
        );
      }
    } else if (res.authSkipped && opts.relayCheckFrom && !runner.failed && !stop()) {
      // Without AUTH the server sends unauthenticated: does the relay take that for an outside
      // attendee? MAIL FROM + RCPT TO + RSET; nothing is sent.
      await runner.run(
        'relay-check',
        async (s) => {
          s.evidence.note = 'MAIL FROM and RCPT TO only, then RSET: nothing is sent';
          const f = await wire!.command(`MAIL FROM:<${opts.relayCheckFrom}>`, s.signal);
          let r = f;
          if (f.code === 250) r = await wire!.command(`RCPT TO:<${RELAY_CHECK_RECIPIENT}>`, s.signal);
          res.relayCheck = { reply: replyText(r), accepted: r.code === 250 || r.code === 251 };
          s.evidence.reply = res.relayCheck.reply;
          s.evidence.accepted = res.relayCheck.accepted;
          // The stage passes when the question got an answer; the answer itself is here and in smtp.auth-skipped.
          s.evidence.answer = res.relayCheck.accepted
            ? 'the relay takes unauthenticated mail for an outside address'
            : 'the relay refuses unauthenticated mail for an outside address';
          await wire!.command('RSET', s.signal).catch(() => null);
        },
        { onTimeout: timeoutIn('RCPT TO') },
      );
    }

    if (!runner.failed) {
      await runner.run(
        'quit',
        async (s) => {
          const r = await wire!.command('QUIT', s.signal).catch((err: unknown) => {
            // Some servers close without answering QUIT; that is not a problem.
            if (err instanceof StageError && err.kind === 'closed') return null;
            throw err;
          });
          s.evidence.reply = r ? replyText(r) : 'connection closed without a reply';
        },
        { onTimeout: timeoutIn('QUIT') },
      );
    }
  } catch (err) {
    // Stage functions report their own failures; this is a bug net so a session never throws.
    runner.record({ stage: 'internal', ok: false, ms: 0, evidence: {}, error: redactor.text(toStageError(err).message) });
  } finally {
    if (wire) {
      try {
        if (runner.failed && !wire.current.destroyed) wire.send('QUIT');
      } catch {
        // the connection is gone already
      }
      wire.close();
    }
  }
  res.ms = nowMs() - started;
  return res;
}


/** `SMTP EHLO timed out after 3 s`: protocol and step in the words of every time-out. */
function timeoutIn(step: string): (ms: number) => StageError {
  return (ms) =>
    new StageError('timeout', `SMTP ${step} timed out after ${secondsText(ms)}`, {
      hint: 'The server or something in between holds the connection; raise --timeout to wait longer.',
    });
}

async function ehlo(wire: SmtpWire, helo: string, s: StageScope): Promise<SmtpExtensions> {
  const r = await wire.command(`EHLO ${helo}`, s.signal);
  if (r.code === 250) {
    const ext = parseEhlo(r);
    Object.assign(s.evidence, { server: r.lines[0] ?? '' }, extensionEvidence(ext));
    return ext;
  }
  // smtp.py: `ESMTPSender` sets heloFallback = 0, so a refused EHLO ends the send (`esmtpEHLORequired`).
  throw rejected('EHLO', r, 'Calendar Server needs EHLO (it does not fall back to HELO); use a relay that speaks ESMTP.');
}

/** A handshake that failed, in the words of the server's client: TLS 1.0 refused is its own cause. */
function handshakeFailure(err: unknown, context: TlsContext, useSSL: boolean): StageError {
  const se = toStageError(err, { during: 'the TLS handshake' });
  if (context.versions === 'tls1.0-only' && (se.kind === 'tls' || se.kind === 'closed')) {
    return new StageError(
      'tls10-refused',
      `the relay refused TLS 1.0, the only version Calendar Server offers after STARTTLS with UseSSL ${useSSL}`,
      { evidence: { openssl: se.message, ...se.evidence } },
    );
  }
  return se;
}

/** After the server's mechanism was refused: would another one work? The tool's own try, labelled so. */
async function explainAuth(
  wire: SmtpWire,
  order: readonly SmtpMechanism[],
  offered: string[],
  refused: SmtpMechanism,
  sending: SendingSettings,
  s: StageScope,
): Promise<SmtpMechanism | null> {
  const tries: Record<string, string> = {};
  s.evidence.toolTries = tries;
  for (const m of order) {
    if (m === refused || !offered.includes(m)) continue;
    let r: SmtpReply;
    try {
      r = await authExchange(wire, m, sending.username, sending.password, s.signal);
    } catch {
      return null;
    }
    tries[m] = `${replyText(r)} (tried by imip only to explain; Calendar Server never tries a second mechanism)`;
    if (r.code === 235) return m;
  }
  return null;
}

function mailFromHint(r: SmtpReply, res: SmtpSessionResult): string {
  if (r.code === 530 || r.enhanced === '5.7.0' || /auth/i.test(r.text)) {
    return res.authSkipped === 'keychain'
      ? 'The relay wants authentication, and this test could not log in: the password is in the macOS keychain (see smtp.auth-skipped).'
      : res.authSkipped
      ? 'The relay wants authentication, and Calendar Server does not log in here (see smtp.auth-skipped).'
      : 'The relay wants authentication before MAIL FROM; check the auth stage.';
  }
  return `The relay does not let this account send as this address; use an address the account owns in ${CONFIG}.Address.`;
}

function rcptHint(r: SmtpReply, res: SmtpSessionResult): string {
  if (/relay/i.test(r.text) || r.code === 554) {
    return res.authenticated
      ? 'The relay refuses this recipient even after login; check its restrictions.'
      : 'The relay does not take unauthenticated mail for other domains: Calendar Server must log in (Sending.Username/Password, AUTH offered where it logs in).';
  }
  return "The recipient was refused; check the address, or the relay's restrictions.";
}
