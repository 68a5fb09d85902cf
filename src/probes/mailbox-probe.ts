/**
 * The probe behind `imip test-mailbox` (and the receiving half of `check-config --connect`):
 * dispatches on `Receiving.Type` to the IMAP or POP3 stages, then draws the conclusions that
 * span stages, judged by the release's behaviour (`IMAP4DownloadProtocol`/`POP3DownloadProtocol`
 * of 2.x–4.x `twistedcaldav/mail.py` and 5.0+ `imip/inbound.py`, over Twisted's mail clients):
 * a `UseSSL` that does not match the port, messages already read that 5.1+ never processes, a
 * mailbox that also receives mail that is not iMIP traffic (which the server may delete).
 *
 * Nothing here changes the mailbox: IMAP uses EXAMINE and BODY.PEEK, POP3 never sends DELE.
 */
import { decodeWords, parseHeaderBlock } from '../imip/mime.js';
import type { ConnectOptions, ReceivingSettings, StageResult } from '../config/settings.js';
import type { Finding } from '../report/finding.js';
import { splitAddressList } from '../server/address.js';
import { featuresOf, type ServerVersion } from '../server/release.js';
import { Redactor, StageError, StageRunner, resolveHost, secondsText, type StageFailure } from '../net/net-stage.js';
import { RESOLVER_TIMEOUT_HINT } from '../net/errors.js';
import { addressRule, ipv6ServerText, mailClientsFor, type MailClients } from '../server/mail-clients.js';
import { checkLoginPlan, type LoginPlan } from './mailbox-login-plan.js';
import { certificateFindings, cleartextFindings, imapLoginBlockedFinding, pop3NeverLogsInFinding, popNoLoginFinding, tls10RefusedFinding } from './mailbox-findings.js';
import {
  finishReport,
  maybeInsecure,
  type MailboxSessionOutcome,
  type ProbeReport,
  type SampledMessage,
} from './probe-report.js';

const CONFIG = 'Scheduling.iMIP.Receiving';

export async function probeMailbox(receiving: ReceivingSettings, opts: ConnectOptions, version: ServerVersion): Promise<ProbeReport> {
  const redactor = new Redactor([receiving.password]);
  const runner = new StageRunner(opts.timeoutMs, redactor);
  const transcript: string[] = [];
  const host = receiving.server.trim();
  const protocol = receiving.protocol;
  const findings: Finding[] = [];
  let outcome: MailboxSessionOutcome = { tlsMode: receiving.useSSL ? 'implicit' : 'starttls' };

  const clients = mailClientsFor(version);
  // Only the protocol tested is loaded: POP3 never loads imapflow.
  if (protocol === 'imap') {
    const { runImapStages } = await import('./imap-probe.js');
    outcome = await runImapStages(receiving, opts, { runner, addressRule: addressRule(clients, 'receiving') });
  } else if (protocol === 'pop3') {
    const { runPop3Stages } = await import('./pop3-probe.js');
    outcome = await runPop3Stages(receiving, opts, { runner, transcript, addressRule: addressRule(clients, 'receiving') });
  } else {
    runner.record(
      {
        stage: 'protocol',
        ok: false,
        ms: 0,
        evidence: { type: receiving.type, release: version.text },
        error: `${CONFIG}.Type is "${receiving.type}": Calendar Server ${version.text} polls neither IMAP nor POP3 with it`,
        hint: `Set ${CONFIG}.Type to imap or pop.`,
      },
      'config',
    );
  }

  // 5.0 over POP3: the server's reader fails at the greeting (pop3NeverLogsInFinding), so how it
  // would go on (its STLS, its login, what it deletes) is not judged: it never gets there.
  const serverNeverLogsIn = protocol === 'pop3' && featuresOf(version).pop3NeverLogsIn;
  let plan: LoginPlan | undefined;
  if (serverNeverLogsIn) plan = undefined;
  else if (protocol && !receiving.useSSL && !runner.failed) plan = await serverLoginStage(receiving, clients, version, opts, runner);
  else if (protocol === 'imap' && !receiving.useSSL && runner.failure?.stage === 'login' && runner.stages.find((st) => st.stage === 'greeting')?.evidence.starttls === false) {
    // The tool's own login failed on a clear port without STARTTLS: the server's own steps tell
    // whether its client can log in there at all (LOGINDISABLED; 4.1, 4.1.1 and 5.0). Shown only
    // when they could be checked; the tool's own failure stands either way.
    const aside = new StageRunner(opts.timeoutMs, redactor);
    plan = await serverLoginStage(receiving, clients, version, opts, aside);
    if (plan) runner.stages.push(...aside.stages);
  }
  markBlockedLogin(runner.stages, plan);
  // The tool's own LOGIN refused for LOGINDISABLED is what the server meets too (or, on 4.1, 4.1.1
  // and 5.0, the LOGIN it never sends): said once, as the server's verdict. Any other failure of
  // its login (a wrong password) is said as well.
  const loginExplained = runner.failure?.stage === 'login' && runner.failure.evidence.loginDisabled === true && (plan?.loginRefused === true || plan?.loginNeverSent === true);

  // --insecure is said first, before the results it concerns.
  findings.push(...maybeInsecure(opts, `${CONFIG}.Server`, outcome.tls ?? null));
  if (runner.failure && !loginExplained) findings.push(...failureFindings(receiving, runner.failure, outcome, clients));
  if (runner.failure?.kind !== 'certificate' && outcome.tls && (!outcome.tls.chainTrusted || !outcome.tls.nameMatches)) {
    findings.push(...certificateFindings(receiving, outcome.tls, clients));
  }
  findings.push(...cleartextFindings(receiving, plan));
  const blocked = plan ? imapLoginBlockedFinding(receiving, version.text, plan) : null;
  if (blocked) findings.push(blocked);
  if (protocol === 'pop3' && featuresOf(version).pop3NeverLogsIn) {
    // The mailbox may work for this tool; the server's own POP3 reader never gets to log in.
    findings.push(pop3NeverLogsInFinding(receiving, version.text));
  }
  findings.push(...seenFindings(receiving, version, outcome));
  if (!serverNeverLogsIn) findings.push(...dedicatedFindings(receiving, version, outcome));

  return finishReport(
    {
      target: { host, port: receiving.port, protocol: protocol ?? 'unknown', tls: outcome.tlsMode },
      stages: runner.stages,
      findings,
      ...(protocol === 'pop3' ? { transcript } : {}),
    },
    redactor,
  );
}

// ---------------------------------------------------------------------------------------------
// Findings from the failing stage

function defaultPorts(receiving: ReceivingSettings): { implicit: number; plain: number; name: string } {
  return receiving.protocol === 'pop3' ? { implicit: 995, plain: 110, name: 'POP3' } : { implicit: 993, plain: 143, name: 'IMAP' };
}

/** The findings of the stage where the mailbox session failed (also used by `poll`, whose reader fails at the same stages). */
export function failureFindings(receiving: ReceivingSettings, f: StageFailure, outcome: MailboxSessionOutcome, clients: MailClients): Finding[] {
  const where = `${receiving.server}:${receiving.port}`;
  const ports = defaultPorts(receiving);
  const ev: Record<string, unknown> = {
    server: receiving.server,
    port: receiving.port,
    useSSL: receiving.useSSL,
    protocol: receiving.protocol,
    stage: f.stage,
    error: f.error,
    ...pick(f.evidence, ['code', 'reply', 'responseCode', 'portSpeaks', 'portGreeting', 'addresses']),
  };
  const err = (id: string, path: string, message: string, fix: string, extra: Record<string, unknown> = {}): Finding => ({
    id,
    severity: 'error',
    path,
    message: sentence(message),
    evidence: { ...ev, ...extra },
    fix,
  });
  switch (f.kind) {
    case 'config':
      if (f.stage === 'connect' && !(Number.isInteger(receiving.port) && receiving.port > 0 && receiving.port <= 65535)) {
        return [
          err(
            'mailbox.port-missing',
            `${CONFIG}.Port`,
            `${CONFIG}.Port is ${receiving.port === 0 ? 'not set (0)' : `invalid (${receiving.port})`}: Calendar Server has no default port for receiving and its connection fails.`,
            `Set ${CONFIG}.Port: ${ports.implicit} for ${ports.name} with UseSSL true, ${ports.plain} with UseSSL false.`,
          ),
        ];
      }
      if (f.stage === 'resolve') {
        return [err('mailbox.dns', `${CONFIG}.Server`, `No mailbox server is configured: ${f.error}.`, f.hint ?? `Set ${CONFIG}.Server.`)];
      }
      if (f.stage === 'login' && f.evidence.missing && f.evidence.keychainAccount) {
        // macOS: the config rule's warning (checks/receiving.ts): the server may well log in.
        const account = String(f.evidence.keychainAccount);
        return [
          {
            ...err(
              'receiving.credentials-missing',
              `${CONFIG}.Password`,
              `${CONFIG}.Password is empty; on macOS Calendar Server takes it from the System keychain (account "${account}") and logs in only if it is there. imip does not read the keychain, so the login was not tested.`,
              f.hint ?? `Set ${CONFIG}.Password for this run with --set.`,
              { keychainAccount: account },
            ),
            severity: 'warning',
          },
        ];
      }
      if (f.stage === 'login' && f.evidence.missing) {
        // The config rule's own finding (checks/receiving.ts), so check-config --connect and diagnose say it once.
        return [
          err(
            'receiving.credentials-missing',
            `${CONFIG}.${String(f.evidence.missing)}`,
            `${f.error}: Calendar Server cannot log in to the mailbox ("${receiving.protocol === 'pop3' ? 'POP3' : 'IMAP'} login failed") and no reply is read.`,
            f.hint ?? 'Set Receiving.Username and Receiving.Password.',
          ),
        ];
      }
      return [];
    case 'dns':
      if (f.evidence.ipv4Only && f.evidence.literal) {
        // The config rule's own finding (checks/server-address.ts), so check-config --connect says it once.
        const t = ipv6ServerText('Receiving', receiving.server.trim(), String(f.evidence.releases));
        return [err('receiving.server-ipv6-address', `${CONFIG}.Server`, t.message, t.fix)];
      }
      // The name resolves, to IPv6 addresses only: the release's lookup finds nothing it can use.
      if (f.evidence.ipv4Only) return [err('mailbox.dns', `${CONFIG}.Server`, `${f.error}, so no reply is read.`, f.hint ?? `Fix ${CONFIG}.Server.`)];
      return [err('mailbox.dns', `${CONFIG}.Server`, `The mailbox server name does not resolve: ${f.error}.`, f.hint ?? `Fix ${CONFIG}.Server.`)];
    case 'refused':
    case 'unreachable':
      return [err('mailbox.connect-failed', `${CONFIG}.Port`, `Cannot connect to the ${ports.name} server ${where}: ${f.error}.`, f.hint ?? 'Check the server name, the port and firewalls.')];
    case 'closed':
    case 'protocol':
    case 'tls':
      if (['connect', 'tls', 'greeting', 'starttls'].includes(f.stage)) {
        return [
          err(
            'mailbox.connect-failed',
            `${CONFIG}.Port`,
            `The ${ports.name} session with ${where} failed at the ${f.stage} stage: ${f.error}.`,
            f.hint ?? `Check ${CONFIG}.Port, ${CONFIG}.UseSSL and ${CONFIG}.Type.`,
          ),
        ];
      }
      return [sessionFailed(receiving, f, err)];
    case 'timeout':
      // Before any connection, only this machine's resolver was waited for, not the mail server.
      if (f.stage === 'resolve') {
        return [
          err(
            'mailbox.timeout',
            `${CONFIG}.Server`,
            `The name ${receiving.server} did not resolve in time: ${f.error}.`,
            RESOLVER_TIMEOUT_HINT,
          ),
        ];
      }
      return [
        err(
          'mailbox.timeout',
          `${CONFIG}.Server`,
          `The ${ports.name} server ${where} did not answer in time at the ${f.stage} stage: ${f.error}.`,
          f.hint ?? 'Check firewalls and the port; raise --timeout for a slow server.',
        ),
      ];
    case 'tls-mismatch': {
      const speaksTls = outcome.portMode?.mode === 'implicit-tls' || f.evidence.portSpeaks === 'implicit-tls';
      const works = speaksTls ? 'UseSSL true' : 'UseSSL false';
      const message = speaksTls
        ? `Port ${receiving.port} speaks TLS from the first byte, but ${CONFIG}.UseSSL is false: Calendar Server waits for a plain-text greeting that never comes. ${works} would work on this port.`
        : `Port ${receiving.port} greets in plain text (STARTTLS-style), but ${CONFIG}.UseSSL is true: Calendar Server starts TLS from the first byte and the handshake fails. ${works} would work on this port (the server upgrades with ${receiving.protocol === 'pop3' ? 'STLS' : 'STARTTLS'} when offered).`;
      const fix = speaksTls
        ? `Set ${CONFIG}.UseSSL to true, or use the ${ports.name} port with STARTTLS (${ports.plain}) and keep UseSSL false.`
        : `Set ${CONFIG}.UseSSL to false, or use the ${ports.name} port with TLS from the first byte (${ports.implicit}) and keep UseSSL true.`;
      return [err('mailbox.tls-mismatch', `${CONFIG}.UseSSL`, message, fix, { portSpeaks: speaksTls ? 'implicit-tls' : 'plain', wouldWork: works })];
    }
    case 'certificate':
      return certificateFindings(receiving, outcome.tls, clients, f.error);
    case 'tls10-refused':
      return [tls10RefusedFinding(receiving, ev, f.evidence.steps)];
    case 'auth':
    case 'basic-auth-disabled':
      return [
        err(
          'mailbox.login-failed',
          // Too many sessions open: the account, not its password (mailbox-errors.ts `sessionLimit`).
          f.evidence.sessionLimit ? `${CONFIG}.Username` : `${CONFIG}.Password`,
          `${ports.name} login as ${receiving.username} failed: ${f.error}.`,
          f.hint ?? `Check ${CONFIG}.Username and ${CONFIG}.Password.`,
          { username: receiving.username, ...(f.kind === 'basic-auth-disabled' ? { basicAuthDisabled: true } : {}), ...(f.evidence.sessionLimit ? { sessionLimit: true } : {}) },
        ),
      ];
    case 'in-use':
      return [
        err(
          'mailbox.in-use',
          `${CONFIG}.Username`,
          `The POP3 maildrop of ${receiving.username} is locked by another session: ${f.error}. While that session stays, Calendar Server's poll gets the same answer and reads nothing.`,
          f.hint ?? 'Close the other session on this mailbox.',
          { username: receiving.username },
        ),
      ];
    case 'cleartext-login':
      return [popNoLoginFinding(receiving, { ...ev, ...pick(f.evidence, ['apopChallenge', 'stls']) }, f.hint)];
    default:
      // Any other failure still ends the session before the mailbox is read: it gets a finding
      // (the stage alone said it, and poll's JSON, its monitoring line and diagnose had none).
      return [sessionFailed(receiving, f, err)];
  }
}

/** A stage of the session failed after the connection was made, in a way no finding above names. */
function sessionFailed(receiving: ReceivingSettings, f: StageFailure, err: (id: string, path: string, message: string, fix: string) => Finding): Finding {
  const ports = defaultPorts(receiving);
  const where = `${receiving.server}:${receiving.port}`;
  const what =
    f.stage === 'server-login'
      ? `Checking Calendar Server's own login steps with ${where} (a connection of its own) failed: ${f.error}.`
      : f.stage === 'internal'
        ? `The ${ports.name} session with ${where} stopped on an unexpected error: ${f.error}.`
        : `The ${ports.name} session with ${where} failed at the ${f.stage} stage: ${f.error}.`;
  // Before INBOX is open, the server's own poll cannot get further than this either.
  const beforeRead = ['server-login', 'connect', 'tls', 'greeting', 'starttls', 'login', 'inbox'].includes(f.stage);
  return err(
    'mailbox.session-failed',
    `${CONFIG}.Server`,
    beforeRead ? `${what} Calendar Server's poll stops at the same point and reads nothing.` : what,
    f.hint ?? `Run imip test-mailbox --verbose to see the exchange, and look in the mail server's log for this connection.`,
  );
}

// ---------------------------------------------------------------------------------------------
// IMAP login before TLS

/**
 * The server's own login on a clear port (UseSSL false), checked on a connection of its own: does
 * the TLS 1.0 that Twisted's STARTTLS/STLS offers get through, and which step sends the password in
 * clear text. The tool's own session above uses current TLS; the server's does not.
 */
/**
 * The `server-login` stage of a plan whose login cannot succeed shows as failed (✗, and 0 in the
 * monitoring outputs), with the reason; the finding that says it is imapLoginBlockedFinding's, so
 * no runner failure is recorded for it.
 */
function markBlockedLogin(stages: StageResult[], plan: LoginPlan | undefined): void {
  if (!plan || !(plan.loginNeverSent || plan.loginRefused)) return;
  const st = stages.find((x) => x.stage === 'server-login' && x.ok);
  if (!st) return;
  st.ok = false;
  st.error = plan.loginNeverSent ? 'Calendar Server never sends its LOGIN here' : "the server refuses Calendar Server's LOGIN (LOGINDISABLED, no STARTTLS)";
}

async function serverLoginStage(receiving: ReceivingSettings, clients: MailClients, version: ServerVersion, opts: ConnectOptions, runner: StageRunner): Promise<LoginPlan | undefined> {
  return runner.run(
    'server-login',
    async (s) => {
      s.evidence.note = "Calendar Server's own login steps, on a separate connection; no password is sent";
      const addresses = await resolveHost(receiving.server.trim(), s, `${CONFIG}.Server`, addressRule(clients, 'receiving'));
      const plan = await checkLoginPlan(receiving, clients, version, addresses, opts, s);
      if (plan.tls10 === 'refused') {
        const verb = receiving.protocol === 'pop3' ? 'STLS' : 'STARTTLS';
        throw new StageError('tls10-refused', `the mail server refuses TLS 1.0, the only version Calendar Server offers after ${verb} with UseSSL false`, {
          evidence: { steps: plan.steps },
        });
      }
      return plan;
    },
    {
      onTimeout: (ms) => new StageError('timeout', `${receiving.protocol === 'pop3' ? 'POP3' : 'IMAP'} login check timed out after ${secondsText(ms)}`),
    },
  );
}

// ---------------------------------------------------------------------------------------------
// Seen messages (IMAP, 5.1+)

function seenFindings(receiving: ReceivingSettings, version: ServerVersion, outcome: MailboxSessionOutcome): Finding[] {
  const counts = outcome.counts;
  if (receiving.protocol !== 'imap' || !counts || !counts.seen) return [];
  if (!featuresOf(version).imapUnseenOnly) return [];
  return [
    {
      id: 'mailbox.seen-messages',
      severity: 'warning',
      path: `${CONFIG}.Username`,
      message:
        `${counts.seen} of ${counts.total} messages in INBOX are already marked as read (\\Seen). Calendar Server ${version.text} ` +
        `(5.1 and later) searches only UNSEEN messages, so it never processes ${counts.seen === 1 ? 'this one' : 'these'}: ` +
        'a reply read by a person or a mail client is silently ignored.',
      evidence: { total: counts.total, unseen: counts.unseen, seen: counts.seen, release: version.text },
      fix:
        'Do not read this mailbox with a mail client. Mark replies that still matter as unread so the next poll takes them; ' +
        'delete or move the rest (the server leaves mail it could not use marked as read on purpose).',
    },
  ];
}

// ---------------------------------------------------------------------------------------------
// Is the mailbox dedicated to iMIP?

export type SampleKind = 'imip' | 'token-reply' | 'dsn' | 'newsletter' | 'personal' | 'unknown';

function addressesOf(values: string[]): string[] {
  return values.flatMap((v) => splitAddressList(v).map((a) => a.address)).filter(Boolean);
}

function hasPlus(address: string): boolean {
  const at = address.lastIndexOf('@');
  const local = at < 0 ? address : address.slice(0, at);
  return local.includes('+');
}

/** Why a sampled message is (or is not) iMIP traffic. */
export function sampleKind(m: SampledMessage): { kind: SampleKind; reason: string } {
  const h = parseHeaderBlock(m.headers);
  const first = (name: string): string => h.get(name) ?? '';
  const contentType = (m.contentType ?? first('content-type').split(';')[0] ?? '').trim().toLowerCase();
  const fullCt = first('content-type').toLowerCase();
  if (m.calendarPart === true || contentType === 'text/calendar') return { kind: 'imip', reason: 'has a text/calendar part' };
  const to = m.to && m.to.length ? m.to : addressesOf(h.getAll('to'));
  const delivered = addressesOf(h.getAll('delivered-to'));
  if ([...to, ...delivered].some(hasPlus)) return { kind: 'token-reply', reason: 'sent to a plus-address (token)' };
  const from = (m.from ?? first('from')).toLowerCase();
  const returnPath = first('return-path');
  if (
    contentType === 'multipart/report' ||
    /report-type="?delivery-status/.test(fullCt) ||
    /mailer-daemon|postmaster@/.test(from) ||
    returnPath === '<>'
  ) {
    return { kind: 'dsn', reason: 'a delivery status notification' };
  }
  if (h.has('list-id') || h.has('list-unsubscribe') || /^(bulk|list|junk)$/i.test(first('precedence'))) {
    return { kind: 'newsletter', reason: h.has('list-unsubscribe') ? 'a newsletter or list mail (List-Unsubscribe)' : 'list or bulk mail' };
  }
  if (m.calendarPart === null) return { kind: 'unknown', reason: 'structure not seen' };
  return { kind: 'personal', reason: 'no calendar, no token in To, not a bounce' };
}

function dedicatedFindings(receiving: ReceivingSettings, version: ServerVersion, outcome: MailboxSessionOutcome): Finding[] {
  const sample = outcome.sample;
  if (!sample || !sample.length) return [];
  const judged = sample.map((m) => ({ m, ...sampleKind(m) }));
  const foreign = judged.filter((j) => j.kind === 'newsletter' || j.kind === 'personal');
  if (!foreign.length) return [];
  const f = featuresOf(version);
  const pop = receiving.protocol === 'pop3';
  const consequence = !f.selectiveDelete
    ? `Calendar Server ${version.text} deletes every message it fetches from this mailbox, iMIP or not: this mail would be lost.`
    : pop
      ? `Calendar Server ${version.text} downloads every message on every poll and forwards replies without a calendar to organizers; it deletes what it processes.`
      : `Calendar Server ${version.text} marks every unseen message as read while polling and deletes the replies it processes; anything a person reads here is never processed.`;
  const examples = foreign.slice(0, 5).map((j) => ({
    id: j.m.id,
    from: clip(decodeWords(j.m.from ?? parseHeaderBlock(j.m.headers).get('from') ?? '')),
    subject: clip(decodeWords(j.m.subject ?? parseHeaderBlock(j.m.headers).get('subject') ?? '')),
    why: j.reason,
  }));
  const counts = countBy(judged.map((j) => j.kind));
  return [
    {
      id: 'mailbox.not-dedicated',
      severity: 'warning',
      path: `${CONFIG}.Username`,
      message:
        `${foreign.length} of the ${sample.length} newest messages in this mailbox are not iMIP traffic (newsletters or personal mail). ` +
        `Apple's FAQ: use an account dedicated to the calendar server, "because the server will delete any messages that appear in this account". ${consequence}`,
      evidence: { sampled: sample.length, notImip: foreign.length, kinds: counts, examples, release: version.text },
      fix: `Create a mailbox used only by Calendar Server (for example calendar@your-domain) and point ${CONFIG}.Username at it; move the other mail away first.`,
    },
  ];
}

/** One sentence ending in exactly one full stop (server texts often bring their own). */
export function sentence(text: string): string {
  return text.replace(/\s+$/, '').replace(/\.+$/, '') + '.';
}

function clip(s: string, n = 90): string {
  const t = s.replace(/\s+/g, ' ').trim();
  return t.length > n ? `${t.slice(0, n - 1)}…` : t;
}

function countBy(values: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of values) out[v] = (out[v] ?? 0) + 1;
  return out;
}

function pick(obj: Record<string, unknown>, keys: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of keys) if (obj[k] !== undefined) out[k] = obj[k];
  return out;
}
