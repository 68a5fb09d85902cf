/** The IMAP/POP side (2.x–4.x `mail.py`, 5.0+ `inbound.py` `IMAP4DownloadProtocol`/`POP3DownloadProtocol`): where replies are read, and what the server deletes. */
import { getPath } from '../config/load.js';
import { parseaddr } from '../server/address.js';
import { pop3NeverLogsInText } from '../server/mail-clients.js';
import { IMAP_IDLE_MINIMUM_TEXT, leavesImapSessionOpen, sessionsHeldOpen } from '../server/poll-policy.js';
import { describe } from './keys.js';
import { ALL_LINES, finding, IMIP, valueEvidence, type ConfigContext, type ConfigRule } from './rule.js';

const R = `${IMIP}.Receiving`;

export const serverMissing: ConfigRule = {
  id: 'receiving.server-missing',
  severity: 'error',
  lines: ALL_LINES,
  summary: 'No IMAP/POP server (Receiving.Server is empty): replies are never read.',
  check(ctx) {
    if (ctx.settings.receiving.server.trim()) return [];
    return [finding(this, `${R}.Server`, 'Receiving.Server is empty: the server has no mailbox to read replies from', 'Set Receiving.Server to the IMAP or POP server of the dedicated mailbox.', valueEvidence(ctx, `${R}.Server`))];
  },
};

export const portMissing: ConfigRule = {
  id: 'receiving.port-missing',
  severity: 'error',
  lines: ALL_LINES,
  summary: 'Receiving.Port is 0 or absent: the server has no default and connects to port 0.',
  check(ctx) {
    const p = ctx.settings.receiving.port;
    // A negative port is key.range's.
    if (p !== 0) return [];
    const proto = ctx.settings.receiving.protocol ?? 'imap';
    const suggest = proto === 'pop3' ? (ctx.settings.receiving.useSSL ? 995 : 110) : ctx.settings.receiving.useSSL ? 993 : 143;
    return [
      finding(
        this,
        `${R}.Port`,
        `Receiving.Port is ${getPath(ctx.config.merged, `${R}.Port`) === undefined ? 'not set' : p}; the server picks no default port and connects to port 0: ${connectFailureLog(ctx, proto)}`,
        `Set Receiving.Port, for example <integer>${suggest}</integer> for ${proto.toUpperCase()} with UseSSL ${ctx.settings.receiving.useSSL}.`,
        valueEvidence(ctx, `${R}.Port`),
      ),
    ];
  },
};

/**
 * What a poll that cannot connect leaves in the log. 2.x–4.x: the factory's `clientConnectionFailed`
 * ("IMAP factory connection failed", mail.py). From 5.0 the connection goes through an endpoint
 * (twext GAIEndpoint), whose wrapping factory does not call the gateway's: 5.0–5.3 log
 * "Failed to fetch mail (Failure with multiple causes.)" (inbound.py `IMAPPollingWork.doWork`,
 * twext/internet/gaiendpoint.py `MultiFailure`); 6.0 dropped that catch, so the poll's work item
 * itself fails and the job queue runs it again (CalendarServer-6.0..9.2 inbound.py).
 */
function connectFailureLog(ctx: ConfigContext, proto: 'imap' | 'pop3'): string {
  if (ctx.version.line !== '5.0+') return `it logs "${proto === 'pop3' ? 'POP' : 'IMAP'} factory connection failed" every poll`;
  if (ctx.version.major === 5) return 'it logs "Failed to fetch mail (Failure with multiple causes.)" every poll';
  return 'every poll fails inside the job queue, with no line of the mail gateway\'s own in the log';
}

export const typeInvalid: ConfigRule = {
  id: 'receiving.type-invalid',
  severity: 'error',
  lines: ALL_LINES,
  summary: 'Receiving.Type does not start with pop or imap: 2.x-4.x disable the whole gateway (outbound too); 5.0+ use IMAP.',
  check(ctx) {
    const t = ctx.settings.receiving.type;
    if (/^(pop|imap)/i.test(t)) return [];
    const gateway = ctx.version.line !== '5.0+';
    return [
      finding(
        this,
        `${R}.Type`,
        gateway
          ? `Receiving.Type is "${t}": ${ctx.version.line} logs "Invalid iMIP type in configuration: ${t}" and starts an empty gateway, so no reply is read and no invitation is sent either`
          : `Receiving.Type is "${t}": 5.0 and later treat anything that does not start with "pop" as IMAP`,
        'Set Receiving.Type to <string>imap</string> or <string>pop</string>.',
        valueEvidence(ctx, `${R}.Type`),
        gateway ? 'error' : 'warning',
      ),
    ];
  },
};

const TLS_PORTS: Record<number, { proto: 'imap' | 'pop3'; implicit: boolean }> = {
  143: { proto: 'imap', implicit: false },
  993: { proto: 'imap', implicit: true },
  110: { proto: 'pop3', implicit: false },
  995: { proto: 'pop3', implicit: true },
};

export const tlsPortMismatch: ConfigRule = {
  id: 'receiving.tls-port-mismatch',
  severity: 'error',
  lines: ALL_LINES,
  summary: 'UseSSL true on 143/110, or false on 993/995: Receiving.UseSSL means TLS from the first byte.',
  check(ctx) {
    const r = ctx.settings.receiving;
    const known = TLS_PORTS[r.port];
    if (!known || known.implicit === r.useSSL) return [];
    const name = known.proto === 'imap' ? 'IMAP' : 'POP3';
    return [
      finding(
        this,
        `${R}.UseSSL`,
        r.useSSL
          ? `Receiving.UseSSL is true on port ${r.port}: the server starts TLS at the first byte, but ${r.port} is plain ${name} (STARTTLS), so the handshake fails every poll`
          : `Receiving.UseSSL is false on port ${r.port}: the server speaks plain ${name}, but ${r.port} expects TLS from the first byte, so the connection hangs or fails every poll`,
        r.useSSL
          ? `Use port ${known.proto === 'imap' ? 993 : 995} with UseSSL true (recommended), or keep ${r.port} and set UseSSL to <false/>.`
          : `Set Receiving.UseSSL to <true/> for port ${r.port}.`,
        { ...valueEvidence(ctx, `${R}.UseSSL`), port: r.port },
      ),
    ];
  },
};

export const portTypeMismatch: ConfigRule = {
  id: 'receiving.port-type-mismatch',
  severity: 'error',
  lines: ALL_LINES,
  summary: 'Receiving.Port is a well-known port of the other protocol (IMAP type on 110/995, POP on 143/993).',
  check(ctx) {
    const r = ctx.settings.receiving;
    const known = TLS_PORTS[r.port];
    if (!known || !r.protocol || known.proto === r.protocol) return [];
    return [
      finding(
        this,
        `${R}.Port`,
        `Receiving.Type makes the server speak ${r.protocol === 'imap' ? 'IMAP' : 'POP3'}, but port ${r.port} is the ${known.proto === 'imap' ? 'IMAP' : 'POP3'} port`,
        r.protocol === 'imap' ? `Use port ${r.useSSL ? 993 : 143}, or set Type to pop.` : `Use port ${r.useSSL ? 995 : 110}, or set Type to imap.`,
        { ...valueEvidence(ctx, `${R}.Port`), type: r.type },
      ),
    ];
  },
};


export const credentialsMissing: ConfigRule = {
  id: 'receiving.credentials-missing',
  severity: 'error',
  lines: ALL_LINES,
  summary: 'Receiving username or password empty: the server cannot log in (a warning on macOS, where it takes an empty password from the System keychain).',
  check(ctx) {
    const r = ctx.settings.receiving;
    if (r.username && r.password) return [];
    const which = !r.username && !r.password ? 'Receiving.Username and Receiving.Password are' : !r.username ? 'Receiving.Username is' : 'Receiving.Password is';
    // Set by the command's loader where the server takes the empty password from the keychain.
    const keychain = r.keychainAccount;
    return [
      finding(
        this,
        !r.username ? `${R}.Username` : `${R}.Password`,
        keychain
          ? `${which} empty; on macOS the server looks for the password in the System keychain (account "${keychain}") and logs in only if it is there`
          : `${which} empty: the server cannot log in to the mailbox ("${r.protocol === 'pop3' ? 'POP3' : 'IMAP'} login failed") and no reply is read`,
        keychain
          ? `Make sure the System keychain holds a generic password for account "${keychain}", or set Receiving.Password.`
          : 'Set Receiving.Username and Receiving.Password to the dedicated mailbox account.',
        { username: r.username || '(empty)', password: r.password ? '(set)' : '(empty)', platform: ctx.platform },
        keychain ? 'warning' : 'error',
      ),
    ];
  },
};

export const pollingInvalid: ConfigRule = {
  id: 'receiving.polling-invalid',
  severity: 'error',
  lines: ALL_LINES,
  summary: 'PollingSeconds is not a positive number: the poll timer never runs as intended.',
  check(ctx) {
    const v = getPath(ctx.config.effective, `${R}.PollingSeconds`);
    if (typeof v === 'number' && v > 0) return [];
    return [
      finding(
        this,
        `${R}.PollingSeconds`,
        `Receiving.PollingSeconds is ${typeof v === 'number' ? v : v === undefined ? 'not set' : describe(v)}, not a positive number of seconds: the mailbox is ${typeof v === 'number' ? 'polled in a tight loop or never' : 'never polled (the timer fails)'}`,
        'Set <key>PollingSeconds</key><integer>30</integer> (the default).',
        valueEvidence(ctx, `${R}.PollingSeconds`),
      ),
    ];
  },
};

export const mailboxMismatch: ConfigRule = {
  id: 'receiving.mailbox-mismatch',
  severity: 'warning',
  lines: ALL_LINES,
  summary: 'The receiving account does not look like the mailbox of Sending.Address, so replies may never reach it.',
  check(ctx) {
    const user = ctx.settings.receiving.username.trim().toLowerCase();
    const { address } = parseaddr(ctx.settings.sending.address);
    const [local, domain] = address.toLowerCase().split('@');
    if (!user || !local || !domain) return [];
    const userLocal = user.includes('@') ? user.split('@')[0]! : user;
    const userDomain = user.includes('@') ? user.split('@')[1]! : null;
    if (userLocal === local && (userDomain === null || userDomain === domain)) return [];
    return [
      finding(
        this,
        `${R}.Username`,
        `replies go to ${local}+<token>@${domain}, but the server reads the mailbox of "${ctx.settings.receiving.username}"; unless your mail system delivers ${local}@${domain} into that account, no reply is ever seen`,
        `Read the mailbox that receives ${local}@${domain} (set Receiving.Username accordingly), or change Sending.Address to the address of the account you read. "imip diagnose --probe plus-address" checks delivery for real.`,
        { sendingAddress: address, receivingUsername: ctx.settings.receiving.username },
      ),
    ];
  },
};

/** 5.1+ `inbound.py` `shouldDeleteAllMail`. */
export function deletesAllMail(ctx: ConfigContext): boolean {
  const r = ctx.settings.receiving;
  const host = ctx.settings.serverHostName;
  return (r.server === host || r.server === 'localhost') && r.username === 'com.apple.calendarserver';
}

export const deletesAll: ConfigRule = {
  id: 'receiving.deletes-all-mail',
  severity: 'warning',
  lines: ALL_LINES,
  summary: 'The server will delete every message in the mailbox (local server with the com.apple.calendarserver account on 5.1+; every fetched message before 5.1).',
  check(ctx) {
    const r = ctx.settings.receiving;
    // 5.0 over POP3 never logs in (receiving.pop-never-logs-in): it reads and deletes nothing.
    if (r.protocol === 'pop3' && ctx.features.pop3NeverLogsIn) return [];
    if (!ctx.features.selectiveDelete) {
      if (!r.server) return [];
      return [
        finding(
          this,
          `${R}.Username`,
          `${ctx.version.text} deletes every message it fetches from ${r.username || 'the mailbox'}, processed or not: the account must be dedicated to Calendar Server`,
          'Point Receiving at a mailbox used for nothing else (the FAQ: "your inbox will be wiped out").',
          { server: r.server, username: r.username, serverVersion: ctx.version.text },
          'info',
        ),
      ];
    }
    if (!deletesAllMail(ctx)) return [];
    return [
      finding(
        this,
        `${R}.Username`,
        `Receiving.Server is this host (${r.server}) and Receiving.Username is com.apple.calendarserver: the server deletes EVERY message in that mailbox each poll, not only the replies it handled`,
        'Use a dedicated account other than com.apple.calendarserver, or make sure nothing else is ever delivered to it.',
        { server: r.server, username: r.username, serverHostName: ctx.settings.serverHostName, serverHostNameFromGetfqdn: !getPath(ctx.config.merged, 'ServerHostName') },
      ),
    ];
  },
};

export const pop3NeverLogsIn: ConfigRule = {
  id: 'receiving.pop-never-logs-in',
  severity: 'error',
  lines: ['5.0+'],
  summary: '5.0 only: the POP3 reader fails at every greeting and never logs in, so no reply is ever read.',
  check(ctx) {
    const r = ctx.settings.receiving;
    if (r.protocol !== 'pop3' || !r.server.trim() || !ctx.features.pop3NeverLogsIn) return [];
    const { message, fix } = pop3NeverLogsInText(ctx.version.text);
    return [finding(this, `${R}.Type`, message, fix, { type: r.type, serverVersion: ctx.version.text })];
  },
};

export const sessionsLeftOpen: ConfigRule = {
  id: 'receiving.sessions-left-open',
  severity: 'info',
  lines: ['5.0+'],
  summary: '7.0 and later never log out of an IMAP poll that read mail: the account needs one session per poll for as long as the IMAP server keeps an idle one.',
  check(ctx) {
    const r = ctx.settings.receiving;
    // poll-policy.ts `leavesImapSessionOpen`: one session per poll that read mail, for as long as the IMAP server keeps it.
    if (r.protocol !== 'imap' || !r.server.trim() || !leavesImapSessionOpen(ctx.version)) return [];
    const seconds = r.pollingSeconds > 0 ? r.pollingSeconds : 30;
    const sessions = sessionsHeldOpen(seconds);
    return [
      finding(
        this,
        `${R}.Username`,
        `${ctx.version.text} ends an IMAP poll that read mail with EXPUNGE and never logs out, so each such poll leaves a session open until the IMAP server drops it as idle (after ${IMAP_IDLE_MINIMUM_TEXT} at the earliest): with PollingSeconds ${seconds}, ${sessions} sessions or more for ${r.username || 'the account'} at once when mail arrives at every poll`,
        `Let the IMAP server allow ${r.username || 'this account'} ${sessions} or more sessions from the Calendar Server host (Dovecot: mail_max_userip_connections, 10 by default), or its logins fail as "IMAP login failed" while the password is right.`,
        { pollingSeconds: seconds, sessionsAtOnce: sessions },
      ),
    ];
  },
};

export const receivingRules: ConfigRule[] = [
  serverMissing,
  portMissing,
  typeInvalid,
  tlsPortMismatch,
  portTypeMismatch,
  credentialsMissing,
  pollingInvalid,
  mailboxMismatch,
  deletesAll,
  sessionsLeftOpen,
  pop3NeverLogsIn,
];
