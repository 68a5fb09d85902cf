/**
 * `--probe plus-address`: does mail to `local+detail@domain` of Sending.Address reach the
 * receiving mailbox with the `+detail` intact (a mail system without a recipient delimiter
 * refuses it; a forwarder that rewrites To loses it)?
 *
 * 1. Note what is in the mailbox now (POP3: the UIDLs; IMAP needs nothing, the probe is found
 *    by its Message-ID).
 * 2. Send one small message through Sending.* with the server's semantics (src/send/smtp-send.ts:
 *    STARTTLS required when UseSSL, AUTH when a username is set) to
 *    `local+imip-probe-<nonce>@domain`, MAIL FROM the bare Sending.Address. When RCPT TO the plus
 *    address is refused, RCPT TO the bare Sending.Address in the same transaction, then RSET
 *    (nothing is sent): only a relay that takes the bare address refuses plus addressing
 *    (plus.rejected); one that refuses both refuses the recipient itself (plus.address-refused:
 *    unknown user, relay access denied).
 * 3. Wait (bounded: twice --timeout, at least 10 s, at most 2 min) for it in the mailbox, reading
 *    only: IMAP `UID SEARCH HEADER Message-ID` after a NOOP, every half second on one session;
 *    POP3 a new session every second (a maildrop is a snapshot), TOP of the new messages only.
 * 4. Found: read To, Delivered-To, X-Original-To (and Received `for <…>`), then remove exactly that
 *    message: IMAP `UID STORE +FLAGS (\Deleted)` and `UID EXPUNGE <uid>` (UIDPLUS); without
 *    UIDPLUS it stays flagged \Deleted (a bare EXPUNGE would remove other \Deleted messages too);
 *    POP3 `DELE` of the message matched by UIDL and Message-ID, then QUIT.
 * 5. Not found although the relay accepted it: a control message to the bare Sending.Address,
 *    waited for and removed the same way, tells "plus addresses are lost" (the control arrives)
 *    from "this mailbox is not the mailbox of Sending.Address" (neither arrives).
 *
 * Calendar Server, if it polls the same mailbox meanwhile, may read the probe first: it logs
 * `found a token (imip-probe-<nonce>) but didn't recognize it` (and 2.x–5.0 delete the message).
 * That is said when the probe is not found.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { ConnectOptions, ImipSettings } from '../config/settings.js';
import { headerBytesToString, parseHeaderBlock, type HeaderList } from '../imip/mime-headers.js';
import { serverAddress, splitAddressList } from '../server/address.js';
import type { ServerVersion } from '../server/release.js';
import type { DiagnoseFinding } from './findings.js';

export interface ProbeSighting {
  /** Where it was found: `UID 12` or `message 3 (UIDL …)`. */
  where: string;
  to: string | null;
  deliveredTo: string[];
  xOriginalTo: string[];
  receivedFor: string[];
  /** How the probe was removed. */
  removed: 'expunged' | 'flagged-deleted' | 'dele' | 'not-removed';
  removeNote?: string;
}

export interface PlusProbeResult {
  outcome: 'kept' | 'stripped' | 'rejected' | 'address-refused' | 'lost' | 'wrong-mailbox' | 'not-verified';
  address: string;
  messageId: string | null;
  smtp: { accepted: boolean; reply: string | null; error?: string; kind?: string };
  /** When RCPT TO the plus address was refused: the same question for the bare Sending.Address (RCPT TO, then RSET). */
  bareCheck?: { to: string; reply: string; accepted: boolean };
  waitedMs: number;
  sighting?: ProbeSighting;
  control?: { address: string; messageId: string; accepted: boolean; arrived: boolean; reply: string | null; sighting?: ProbeSighting; error?: string };
  summary: string;
  findings: DiagnoseFinding[];
}

export interface PlusProbeOptions {
  settings: ImipSettings;
  version: ServerVersion;
  conn: ConnectOptions;
  /** Override of the wait (tests). */
  waitMs?: number;
  /** Poll interval (ms). */
  intervalMs?: number;
  /** Evidence from check-config, for the "not found" judgement. */
  mailboxMismatch?: boolean;
  /**
   * Set when diagnose's own read of the mailbox just ran past --timeout: the probe then does not
   * open the mailbox again (a stalled server would cost a second full wait) and says why.
   */
  mailboxTimedOut?: string;
  /**
   * Set when diagnose's own read did not open the mailbox on purpose (Calendar Server's client
   * cannot log in there, or the certificate did not verify for the tool): the probe does not either.
   */
  mailboxStopped?: string;
  /**
   * Set when diagnose's own SMTP test just ran past --timeout: the probe then does not connect to
   * the relay again (a stalled server would cost a second full wait) and says why.
   */
  smtpTimedOut?: string;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function rfc2822Date(d = new Date()): string {
  return d.toUTCString().replace(/GMT$/, '+0000').replace(/^(\w{3}), 0?/, '$1, ');
}

function probeMessage(from: string, to: string, messageId: string, nonce: string, control: boolean): string {
  return [
    `Date: ${rfc2822Date()}`,
    `Message-ID: ${messageId}`,
    `From: imip diagnose <${from}>`,
    `To: ${to}`,
    `Subject: imip diagnose: ${control ? 'control message' : 'plus-address probe'} ${nonce}`,
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=us-ascii',
    'Content-Transfer-Encoding: 7bit',
    'Auto-Submitted: auto-generated',
    '',
    control
      ? 'A control message of "imip diagnose --probe plus-address", sent to the bare address of'
      : 'A probe of "imip diagnose --probe plus-address": does mail to a plus address reach the',
    control ? "Calendar Server's iMIP mailbox. The probe removes it when it finds it; if it is still" : "mailbox of Calendar Server's iMIP gateway with the +detail intact? The probe removes it",
    control ? 'here, delete it.' : 'when it finds it; if it is still here, delete it.',
    '',
  ].join('\r\n');
}

/** Where the probe is, and what it carries; null when not (yet) there. */
interface Finder {
  find(messageId: string): Promise<{ headers: HeaderList; where: string; remove: () => Promise<Pick<ProbeSighting, 'removed' | 'removeNote'>> } | null>;
  close(): Promise<void>;
}

const PROBE_HEADERS = ['to', 'delivered-to', 'x-original-to', 'received', 'message-id'];

async function imapFinder(o: PlusProbeOptions): Promise<Finder> {
  const { ImapReader } = await import('../mailbox/imap-reader.js');
  // SELECT (not EXAMINE) so exactly the probe can be removed; everything is read with PEEK.
  const reader = await ImapReader.open(o.settings.receiving, o.conn, { readOnly: false });
  const client = reader.client;
  // Every command bounded by --timeout, named when it stalls (`IMAP UID SEARCH timed out after 3 s`).
  const step = <T>(stage: string, fn: () => Promise<T>): Promise<T> => reader.deadline.step(stage, fn);
  return {
    async find(messageId) {
      await step('NOOP', () => client.noop());
      const found = await step('UID SEARCH', () => client.search({ header: { 'message-id': messageId } }, { uid: true }));
      const uids = Array.isArray(found) ? found : [];
      for (const uid of uids) {
        const msg = await step('UID FETCH', () => client.fetchOne(String(uid), { uid: true, headers: PROBE_HEADERS }, { uid: true }));
        if (!msg || !msg.headers) continue;
        const headers = parseHeaderBlock(headerBytesToString(msg.headers));
        if ((headers.get('Message-ID') ?? '').trim() !== messageId) continue;
        return {
          headers,
          where: `UID ${uid}`,
          remove: async () => {
            const flagged = await step('UID STORE', () => client.messageFlagsAdd(String(uid), ['\\Deleted'], { uid: true }));
            if (!flagged) return { removed: 'not-removed', removeNote: `the server refused to flag UID ${uid} \\Deleted` };
            if (!reader.uidplus) {
              return {
                removed: 'flagged-deleted',
                removeNote: `the server has no UIDPLUS, so UID ${uid} was only flagged \\Deleted (a plain EXPUNGE would also remove other messages flagged \\Deleted); the server's next poll expunges it`,
              };
            }
            const res = await step('UID EXPUNGE', () => (client as unknown as { exec: (c: string, a: unknown[]) => Promise<{ next: () => void }> }).exec('UID EXPUNGE', [{ type: 'SEQUENCE', value: String(uid) }]));
            res.next();
            return { removed: 'expunged' };
          },
        };
      }
      return null;
    },
    close: () => reader.close(),
  };
}

async function popFinder(o: PlusProbeOptions): Promise<Finder & { snapshot(): Promise<void> }> {
  const { Pop3Reader } = await import('../mailbox/pop3-reader.js');
  const before = new Set<string>();
  let beforeCount = 0;
  const open = async () => {
    // The maildrop can be locked by the server's own poll: retry a few times.
    for (let i = 0; ; i++) {
      try {
        return await Pop3Reader.open(o.settings.receiving, o.conn, { readOnly: false });
      } catch (err) {
        if (i >= 4 || !/in use|IN-USE/i.test((err as Error).message)) throw err;
        await sleep(1000);
      }
    }
  };
  return {
    async snapshot() {
      const r = await open();
      try {
        const list = await r.client.list();
        beforeCount = list.length;
        for (const u of await r.client.uidl().catch(() => [])) before.add(u.uid);
      } finally {
        await r.close();
      }
    },
    async find(messageId) {
      const r = await open();
      let keep = false;
      try {
        const list = await r.client.list();
        const uidls = new Map((await r.client.uidl().catch(() => [])).map((u) => [u.n, u.uid]));
        const fresh = list.filter((e) => (uidls.size ? !before.has(uidls.get(e.n) ?? '') : e.n > beforeCount));
        for (const e of fresh) {
          const head = await r.client.top(e.n, 0);
          const headers = parseHeaderBlock(headerBytesToString(head));
          if ((headers.get('Message-ID') ?? '').trim() !== messageId) continue;
          keep = true;
          const uidl = uidls.get(e.n);
          return {
            headers,
            where: `message ${e.n}${uidl ? ` (UIDL ${uidl})` : ''}`,
            remove: async () => {
              await r.dele(e.n);
              await r.commit();
              return { removed: 'dele' as const };
            },
          };
        }
        return null;
      } finally {
        if (!keep) await r.close();
      }
    },
    close: async () => undefined,
  };
}

function sightingOf(headers: HeaderList, where: string, removal: Pick<ProbeSighting, 'removed' | 'removeNote'>): ProbeSighting {
  const all = (name: string): string[] => headers.getAll(name).map((v) => v.trim());
  const receivedFor = all('Received').flatMap((v) => [...v.matchAll(/\bfor\s+<?([^\s<>;]+@[^\s<>;]+)>?/gi)].map((m) => m[1]!));
  return {
    where,
    to: headers.get('To')?.trim() ?? null,
    deliveredTo: all('Delivered-To'),
    xOriginalTo: all('X-Original-To'),
    receivedFor,
    ...removal,
  };
}

async function waitFor(finder: Finder, messageId: string, waitMs: number, intervalMs: number): Promise<{ sighting: ProbeSighting | null; waited: number }> {
  const started = Date.now();
  for (;;) {
    const hit = await finder.find(messageId);
    if (hit) {
      let removal: Pick<ProbeSighting, 'removed' | 'removeNote'>;
      try {
        removal = await hit.remove();
      } catch (err) {
        removal = { removed: 'not-removed', removeNote: (err as Error).message };
      }
      return { sighting: sightingOf(hit.headers, hit.where, removal), waited: Date.now() - started };
    }
    if (Date.now() - started >= waitMs) return { sighting: null, waited: Date.now() - started };
    await sleep(intervalMs);
  }
}

const finding = (id: string, severity: DiagnoseFinding['severity'], path: string, message: string, evidence: Record<string, unknown>, fix: string): DiagnoseFinding => ({
  id,
  severity,
  area: 'plus',
  source: 'probe',
  path,
  message,
  evidence,
  fix,
});

/** A probe finding about the sending path itself (the relay refuses Sending.Address): listed under Sending. */
const inSending = (...args: Parameters<typeof finding>): DiagnoseFinding => ({ ...finding(...args), area: 'sending' });

const PLUS_FIX =
  'Turn plus addressing on for the calendar mailbox: Postfix `recipient_delimiter = +` (and Dovecot `recipient_delimiter = +` for LMTP/LDA), Exim a `local_part_suffix = +*` router option, Sendmail `FEATURE(preserve_local_plus_detail)`, Exchange Online `Set-OrganizationConfig -DisablePlusAddressInRecipients $false`; or point Sending.Address at a mailbox on a system that keeps "+detail".';

/** Whether an address list holds `address` (case-insensitive on the domain). */
function holds(values: string[], address: string): boolean {
  const want = address.toLowerCase();
  return values.some((v) => splitAddressList(v).some((a) => a.address.toLowerCase() === want));
}

export async function probePlusAddress(o: PlusProbeOptions): Promise<PlusProbeResult> {
  const waitMs = o.waitMs ?? Math.min(Math.max(o.conn.timeoutMs * 2, 10_000), 120_000);
  const intervalMs = o.intervalMs ?? (o.settings.receiving.protocol === 'pop3' ? 1000 : 500);
  const server = serverAddress(o.settings.sending.address);
  const nonce = randomBytes(6).toString('hex');
  const none = (summary: string, finds: DiagnoseFinding[], extra: Partial<PlusProbeResult> = {}): PlusProbeResult => ({
    outcome: 'not-verified',
    address: server ? `${server.local}+imip-probe-${nonce}@${server.domain}` : '',
    messageId: null,
    smtp: { accepted: false, reply: null },
    waitedMs: 0,
    summary,
    findings: finds,
    ...extra,
  });
  const notVerified = (why: string, evidence: Record<string, unknown> = {}, fix = 'Fix what is named above, then run the probe again.'): DiagnoseFinding =>
    finding('plus.not-verified', 'warning', 'Scheduling.iMIP', `The plus-address probe could not run to the end: ${why}.`, evidence, fix);

  if (!server) return none('not probed: Sending.Address has no single @', [notVerified('Sending.Address does not hold exactly one "@"', { sendingAddress: o.settings.sending.address }, 'Set Scheduling.iMIP.Sending.Address to the calendar mailbox address.')]);
  if (!o.settings.receiving.protocol || !o.settings.receiving.server || !o.settings.receiving.port) {
    return none('not probed: no usable Receiving settings', [notVerified('the Receiving settings do not name a mailbox to look in (Server, Port, Type)', {}, 'Complete Scheduling.iMIP.Receiving ("imip check-config" says what is missing).')]);
  }
  const address = `${server.local}+imip-probe-${nonce}@${server.domain}`;
  const domain = server.domain.replace(/[^\w.-]/g, '') || 'localhost';
  const messageId = `<imip-probe-${nonce}.${Date.now().toString(36)}@${domain}>`;

  if (o.mailboxTimedOut) {
    const why = `the receiving mailbox stopped answering when diagnose read it (${o.mailboxTimedOut}); not tried a second time`;
    return none(`not probed: ${why}`, [notVerified(why, {}, 'Run "imip test-mailbox" to see which stage stalls.')], { address, messageId });
  }
  if (o.mailboxStopped) {
    const why = `the receiving mailbox was not opened: ${o.mailboxStopped.replace(/^No message was read: /, '')}`;
    return none(`not probed: ${why}`, [notVerified(why, {}, 'Fix the Receiving findings first ("imip test-mailbox" shows each stage), then probe again.')], { address, messageId });
  }
  if (o.smtpTimedOut) {
    const why = `the SMTP server stopped answering when diagnose tested it (${o.smtpTimedOut}); not tried a second time`;
    return none(`not probed: ${why}`, [notVerified(why, {}, 'Run "imip test-smtp" to see which stage stalls.')], { address, messageId });
  }

  let finder: (Finder & { snapshot?: () => Promise<void> }) | null = null;
  try {
    finder = o.settings.receiving.protocol === 'imap' ? await imapFinder(o) : await popFinder(o);
    await finder.snapshot?.();
  } catch (err) {
    await finder?.close().catch(() => undefined);
    const why = `the receiving mailbox could not be opened (${(err as Error).message})`;
    return none(`not probed: ${why}`, [notVerified(why, {}, 'Run "imip test-mailbox" to see which stage fails.')], { address, messageId });
  }

  try {
    const { sendRaw, SmtpSendError } = await import('../send/smtp-send.js');
    type Sent = { accepted: boolean; reply: string | null; error?: string; kind?: string; rcptRefused?: boolean; bareCheck?: { to: string; reply: string; accepted: boolean } };
    const send = async (to: string, id: string, control: boolean): Promise<Sent> => {
      try {
        const r = await sendRaw({
          sending: o.settings.sending,
          conn: o.conn,
          envelope: { from: server.address, to: [to] },
          raw: probeMessage(server.address, to, id, nonce, control),
          heloName: hostname(),
          // The plus address refused: is the bare address refused too? (RCPT TO, then RSET; nothing is sent.)
          ...(control ? {} : { recipientCheck: server.address }),
        });
        return r.rejected.length ? { accepted: false, reply: r.reply, rcptRefused: true } : { accepted: true, reply: r.reply };
      } catch (err) {
        if (err instanceof SmtpSendError) {
          const rcptRefused = err.recipientCheck !== null || (err.kind === 'rejected' && (err.message.includes(to) || /recipient|RCPT|user unknown|mailbox unavailable|5\.1\.[0-9]/i.test(err.reply ?? '')));
          return { accepted: false, reply: err.reply, error: err.message, kind: err.kind, rcptRefused, ...(err.recipientCheck ? { bareCheck: err.recipientCheck } : {}) };
        }
        return { accepted: false, reply: null, error: (err as Error).message };
      }
    };

    const sent = await send(address, messageId, false);
    const smtp = { accepted: sent.accepted, reply: sent.reply, ...(sent.error ? { error: sent.error } : {}), ...(sent.kind ? { kind: sent.kind } : {}) };
    const ev = { probeAddress: address, messageId, smtpReply: sent.reply ?? sent.error ?? null, ...(sent.bareCheck ? { bareAddress: sent.bareCheck.to, bareReply: sent.bareCheck.reply, bareAccepted: sent.bareCheck.accepted } : {}) };
    const bareCheck = sent.bareCheck ? { bareCheck: sent.bareCheck } : {};
    if (!sent.accepted && sent.rcptRefused && sent.bareCheck && !sent.bareCheck.accepted) {
      // The bare address is refused too: the relay refuses this recipient, whatever its +detail.
      return {
        outcome: 'address-refused',
        address,
        messageId,
        smtp,
        ...bareCheck,
        waitedMs: 0,
        summary: `not tested: the relay refuses the recipient itself, not plus addressing: RCPT TO:<${address}> got "${sent.reply ?? sent.error}" and RCPT TO:<${server.address}> got "${sent.bareCheck.reply}"`,
        findings: [
          inSending(
            'plus.address-refused',
            'error',
            'Scheduling.iMIP.Sending.Address',
            `The relay ${o.settings.sending.server}:${o.settings.sending.port} refused the probe to ${address} (${sent.reply ?? sent.error}) and refused the bare ${server.address} too (${sent.bareCheck.reply}): it refuses the recipient itself, not plus addressing, so no reply to ${server.local}+<token>@${server.domain} gets through it. Whether plus addresses are kept is not known.`,
            ev,
            `Find why the relay refuses ${server.address} in its reply: an unknown user (5.1.1) means Sending.Address is not a mailbox on that system (set Sending.Address to the calendar mailbox's address); "Relay access denied" means the relay takes mail for that domain only after login (Sending.Username/Password; see smtp.auth-skipped). Then probe again.`,
          ),
        ],
      };
    }
    if (!sent.accepted && sent.rcptRefused && !sent.bareCheck) {
      const why = `the relay refused RCPT TO:<${address}> (${sent.reply ?? sent.error}), and whether it refuses the bare ${server.address} too could not be asked, so plus addressing is not judged`;
      return { ...none(`not probed: ${why}`, [notVerified(why, ev, 'Run "imip test-smtp" for a stage-by-stage view of the sending path, then probe again.')]), address, messageId, smtp };
    }
    if (!sent.accepted && sent.rcptRefused) {
      return {
        outcome: 'rejected',
        address,
        messageId,
        smtp,
        ...bareCheck,
        waitedMs: 0,
        summary: `the mail system refuses plus addresses: RCPT TO:<${address}> got "${sent.reply ?? sent.error}", while RCPT TO:<${server.address}> got "${sent.bareCheck?.reply}"`,
        findings: [
          finding(
            'plus.rejected',
            'error',
            'Scheduling.iMIP.Sending.Address',
            `The relay refused the recipient ${address} (${sent.reply ?? sent.error}) and accepted the bare ${server.address} (${sent.bareCheck?.reply}): the mail system does not accept "+detail" addresses for ${server.address}, so every attendee reply to ${server.local}+<token>@${server.domain} bounces and never reaches the server.`,
            ev,
            PLUS_FIX,
          ),
        ],
      };
    }
    if (!sent.accepted) {
      const why = `sending the probe through SMTP ${o.settings.sending.server}:${o.settings.sending.port} failed (${sent.error ?? sent.reply})`;
      return { ...none(`not probed: ${why}`, [notVerified(why, ev, 'Run "imip test-smtp" for a stage-by-stage view of the sending path, fix it, then probe again.')]), address, messageId, smtp };
    }

    const { sighting, waited } = await waitFor(finder, messageId, waitMs, intervalMs);
    if (sighting) {
      const toKept = sighting.to !== null && holds([sighting.to], address);
      const delivered = [...sighting.deliveredTo, ...sighting.xOriginalTo];
      const deliveredKept = delivered.length ? holds(delivered, address) : null;
      const findings: DiagnoseFinding[] = [];
      const evidence = { ...ev, foundAt: sighting.where, To: sighting.to, 'Delivered-To': sighting.deliveredTo, 'X-Original-To': sighting.xOriginalTo, waitedMs: waited };
      if (!toKept) {
        findings.push(
          finding(
            'plus.detail-stripped',
            'error',
            'Scheduling.iMIP.Sending.Address',
            `The probe arrived (${sighting.where}), but its To header is "${sighting.to ?? '(none)'}", not ${address}: something on the way rewrote the recipient, so the server would find no token in replies.`,
            evidence,
            'Remove the rewriting of To on the way to the calendar mailbox (forwarding, alias expansion with header rewriting, "friendly" address normalisation); the server reads the token from To only.',
          ),
        );
      } else if (deliveredKept === false) {
        findings.push(
          finding(
            'plus.delivered-to-stripped',
            'info',
            'Scheduling.iMIP.Sending.Address',
            `The probe arrived (${sighting.where}) with ${address} in To, but Delivered-To/X-Original-To show ${delivered.join(', ')}: harmless for the server, which reads To only.`,
            evidence,
            'Nothing to do for Calendar Server.',
          ),
        );
      }
      if (sighting.removed === 'flagged-deleted' || sighting.removed === 'not-removed') {
        findings.push(finding('plus.probe-left', 'warning', 'Scheduling.iMIP.Receiving', `The probe message could not be removed exactly: ${sighting.removeNote ?? sighting.removed}.`, evidence, 'Delete the message with the subject "imip diagnose: plus-address probe" by hand, or let the server\'s next poll remove it.'));
      }
      const kept = toKept;
      return {
        outcome: kept ? 'kept' : 'stripped',
        address,
        messageId,
        smtp,
        waitedMs: waited,
        sighting,
        summary: kept
          ? `a probe to ${address} arrived in ${(waited / 1000).toFixed(1)} s with "+imip-probe-${nonce}" kept in To${deliveredKept === null ? '' : deliveredKept ? ' and Delivered-To' : ' (Delivered-To shows the base address)'}; it was ${sighting.removed === 'expunged' || sighting.removed === 'dele' ? 'removed' : 'left flagged'}`
          : `the probe arrived, but To lost the "+detail": ${sighting.to ?? '(none)'}`,
        findings,
      };
    }

    // Not found: a control message to the bare address tells which cause the evidence supports.
    const controlId = `<imip-probe-${nonce}.control.${Date.now().toString(36)}@${domain}>`;
    const c = await send(server.address, controlId, true);
    const control: NonNullable<PlusProbeResult['control']> = { address: server.address, messageId: controlId, accepted: c.accepted, arrived: false, reply: c.reply, ...(c.error ? { error: c.error } : {}) };
    if (c.accepted) {
      const got = await waitFor(finder, controlId, waitMs, intervalMs);
      control.arrived = got.sighting !== null;
      if (got.sighting) control.sighting = got.sighting;
    }
    const race = `If Calendar Server polls this mailbox, it may have read the probe first: its log then says "found a token (imip-probe-${nonce}) but didn't recognize it".`;
    const evidence = { ...ev, waitedMs: waited, control: control.arrived ? `arrived (${control.sighting?.where})` : c.accepted ? 'accepted, never arrived' : `refused: ${c.error ?? c.reply}`, configMismatch: o.mailboxMismatch ?? null };
    if (control.arrived) {
      return {
        outcome: 'lost',
        address,
        messageId,
        smtp,
        waitedMs: waited,
        control,
        summary: `the relay accepted ${address}, but it never arrived within ${Math.round(waited / 1000)} s, while mail to the bare ${server.address} did: plus addresses are lost`,
        findings: [
          finding(
            'plus.lost',
            'error',
            'Scheduling.iMIP.Sending.Address',
            `The relay accepted ${address} (${sent.reply}), but it did not reach the receiving mailbox within ${Math.round(waited / 1000)} s, while a control message to ${server.address} did: the mail system loses "+detail" addresses (delivers them elsewhere, or drops them). ${race}`,
            evidence,
            PLUS_FIX,
          ),
        ],
      };
    }
    return {
      outcome: 'wrong-mailbox',
      address,
      messageId,
      smtp,
      waitedMs: waited,
      control,
      summary: `neither ${address} nor the bare ${server.address} reached the mailbox of ${o.settings.receiving.username || '(no user)'}@${o.settings.receiving.server}: it is not the mailbox of Sending.Address`,
      findings: [
        finding(
          'plus.wrong-mailbox',
          'error',
          'Scheduling.iMIP.Receiving.Username',
          `Neither the probe to ${address} nor a control message to ${server.address} reached the mailbox Receiving.* opens (${o.settings.receiving.username}@${o.settings.receiving.server}) within ${Math.round(waited / 1000)} s each: the evidence points at the receiving account not being the mailbox of Sending.Address${o.mailboxMismatch ? ' (check-config says so too: receiving.mailbox-mismatch)' : ''}, or at delivery slower than the wait. ${race}`,
          evidence,
          `Make Receiving.Username/Server the mailbox that receives mail for ${server.address} (or set Sending.Address to the address of the mailbox Receiving opens); then probe again (a larger --timeout waits longer).`,
        ),
      ],
    };
  } finally {
    await finder.close().catch(() => undefined);
  }
}
