/**
 * The IMAP and POP3 libraries' errors as stage errors: one sentence, a hint, and the kind a
 * finding is chosen by. Shared by `test-mailbox`'s stages and by `poll`, whose reader reports a
 * mailbox it cannot open with the same findings.
 */
import { keychainPasswordFix, keychainUnread } from '../config/keychain.js';
import { StageError, toStageError } from '../net/net-stage.js';
import { isCertificateErrorCode } from '../net/tls-info.js';
import { isPop3Error } from '../clients/pop3/index.js';
import { isBasicAuthDisabled } from './provider-auth.js';
import { IMAP_IDLE_MINIMUM_TEXT, sessionsHeldOpen } from '../server/poll-policy.js';
import { upgradeRefused } from './upgrade-refused.js';

const CONFIG = 'Scheduling.iMIP.Receiving';

/**
 * A login refused because the account has too many sessions open from this address, not for its
 * password: RFC 5530's LIMIT response code, or the text Dovecot (`mail_max_userip_connections`)
 * and other servers give ("Maximum number of connections from user+IP exceeded").
 */
function sessionLimit(text: string, responseCode: string | undefined): boolean {
  return responseCode?.toUpperCase() === 'LIMIT' || /maximum number of connections|too many (?:simultaneous |concurrent )?(?:connections|sessions)/i.test(text);
}

/** The sessions Calendar Server leaves open: ../server/poll-policy.ts `leavesImapSessionOpen`. */
const IMAP_SESSION_LIMIT_HINT =
  'The IMAP server refuses another session for this account from this address; the password was not the problem. Calendar Server itself leaves sessions open: ' +
  'from 7.0 after every poll that read mail (it expunges and never logs out), and from 5.0 after a poll that stopped at a failing message; ' +
  `each stays until the IMAP server drops it as idle, after ${IMAP_IDLE_MINIMUM_TEXT} at the earliest. Allow this account one session per poll for that long ` +
  `(${sessionsHeldOpen(30)} with PollingSeconds 30; Dovecot: mail_max_userip_connections, 10 by default), and see who holds them with "doveadm who".`;

/**
 * An empty Receiving.Username or Receiving.Password: the login stage sends nothing, and says so.
 * The server's client cannot log in either, except on macOS where it takes an empty Password from
 * the System keychain (`keychainAccount`): then the login is only untested here.
 */
export function missingCredentials(receiving: { username: string; password: string; keychainAccount?: string }): StageError | null {
  if (receiving.username && receiving.password) return null;
  if (receiving.keychainAccount) {
    // macOS: the server logs in with the keychain's password, which imip does not read.
    return new StageError('config', `${keychainUnread('Receiving', receiving.keychainAccount)}, so nothing was sent`, {
      hint: keychainPasswordFix('Receiving', receiving.keychainAccount),
      evidence: { missing: 'Password', keychainAccount: receiving.keychainAccount },
    });
  }
  const which = !receiving.username && !receiving.password ? 'Receiving.Username and Receiving.Password are' : !receiving.username ? 'Receiving.Username is' : 'Receiving.Password is';
  return new StageError('config', `${which} empty, so nothing was sent`, {
    hint: 'Set Receiving.Username and Receiving.Password to the dedicated mailbox account.',
    evidence: { missing: !receiving.username ? 'Username' : 'Password' },
  });
}

/** imapflow's errors, as stage errors; server texts are kept (the redactor runs over them later). */
export function imapError(err: unknown, ctx: { user: string; certificate: StageError | null }): StageError {
  if (err instanceof StageError) return err;
  const e = (err ?? {}) as { message?: string; code?: string; response?: string; authenticationFailed?: boolean; tlsFailed?: boolean; serverResponseCode?: string };
  if (e.tlsFailed && ctx.certificate) return ctx.certificate;
  if (e.authenticationFailed) {
    const text = String(e.response ?? e.message ?? 'authentication failed');
    if (/login is disabled/i.test(String(e.message))) {
      return new StageError('auth', 'the server refuses logins without TLS (LOGINDISABLED) and the connection is not encrypted', {
        hint: `Set ${CONFIG}.UseSSL to true with the IMAPS port (993), or enable STARTTLS on the server.`,
        evidence: { loginDisabled: true },
      });
    }
    if (isBasicAuthDisabled(text)) {
      return new StageError('basic-auth-disabled', `the provider refused password login for ${ctx.user}: ${text}`, {
        hint:
          'The provider has turned off password ("basic") authentication, and Calendar Server cannot do OAuth2. Use an app password, ' +
          'a mailbox on a server that accepts passwords, or a local OAuth proxy such as email-oauth2-proxy.',
        evidence: { reply: text, ...(e.serverResponseCode ? { responseCode: e.serverResponseCode } : {}) },
      });
    }
    if (sessionLimit(text, e.serverResponseCode)) {
      return new StageError('auth', `the server refused another session for ${ctx.user} (too many open, not the password): ${text}`, {
        hint: IMAP_SESSION_LIMIT_HINT,
        evidence: { reply: text, sessionLimit: true, ...(e.serverResponseCode ? { responseCode: e.serverResponseCode } : {}) },
      });
    }
    return new StageError('auth', `the server rejected the login for ${ctx.user}: ${text}`, {
      hint: `Check ${CONFIG}.Username and ${CONFIG}.Password (often the full address is the user name). On macOS, Calendar Server may read the password from the keychain account "<Username>@<Server>".`,
      evidence: { reply: text, ...(e.serverResponseCode ? { responseCode: e.serverResponseCode } : {}) },
    });
  }
  switch (e.code) {
    // imapflow's own backstop limits: said in words, the code kept in the evidence.
    case 'GREETING_TIMEOUT':
      return new StageError('timeout', 'the server sent no complete greeting in time', { evidence: { code: e.code } });
    case 'CONNECT_TIMEOUT':
      return new StageError('timeout', 'the connection was not made in time', { evidence: { code: e.code } });
    case 'UPGRADE_TIMEOUT':
      return new StageError('timeout', 'the TLS upgrade did not finish in time', { evidence: { code: e.code } });
    case 'ETIMEOUT':
      return new StageError('timeout', 'the server did not answer in time', { evidence: { code: e.code } });
    case 'NoConnection':
    case 'EConnectionClosed':
    case 'ClosedAfterConnect':
    case 'ClosedAfterConnectText': // imapflow: closed after a plain-text greeting,
    case 'ClosedAfterConnectTLS': // or after TLS
      return new StageError('closed', 'the server closed the connection', { evidence: { code: e.code } });
    default:
      break;
  }
  if (e.tlsFailed) return toStageError(err, { during: 'the STARTTLS handshake' });
  const se = toStageError(err);
  if (se.kind === 'internal' && e.response) return new StageError('rejected', `the server refused: ${e.response}`, { evidence: { code: e.code } });
  return se;
}

/** The POP3 client's errors as stage errors. */
export function pop3Error(err: unknown, ctx: { user: string; host: string; port: number }): StageError {
  if (err instanceof StageError) return err;
  if (!isPop3Error(err)) return toStageError(err, ctx);
  const evidence: Record<string, unknown> = {};
  if (err.code) evidence.code = err.code;
  if (err.serverText) evidence.reply = err.serverText;
  if (err.responseCode) evidence.responseCode = err.responseCode;
  switch (err.kind) {
    case 'timeout':
      return new StageError('timeout', err.message, { evidence });
    case 'connect':
      if (err.code) return toStageError(err, ctx);
      return new StageError('rejected', err.message, { evidence });
    case 'tls': {
      // STLS answered -ERR: no handshake was tried.
      if (err.command === 'STLS' && err.serverText !== undefined) return upgradeRefused('STLS', `-ERR ${err.serverText}`);
      if (isCertificateErrorCode(err.code)) return toStageError(err, { host: ctx.host, port: ctx.port });
      const se = err.code ? toStageError(err, { host: ctx.host, port: ctx.port, during: 'the TLS handshake' }) : null;
      if (se && se.kind !== 'internal') return se;
      return new StageError('tls', err.message, { evidence });
    }
    case 'auth': {
      const text = err.serverText ?? err.message;
      // RFC 2449 section 8.1.1: IN-USE comes after a successful authentication, when the maildrop
      // is locked by another session (Dovecot: pop3_lock_session = yes). The password is right.
      if (err.responseCode?.toUpperCase() === 'IN-USE') {
        return new StageError('in-use', `the server accepted the login for ${ctx.user}, but another POP3 session holds the maildrop (${err.command ?? 'login'}: -ERR [IN-USE] ${text})`, {
          hint: 'Find and close the other session on this mailbox (a mail client left open, a second Calendar Server host, another poller; Dovecot lists them with "doveadm who"). A mailbox for Calendar Server should be read by Calendar Server alone.',
          evidence,
        });
      }
      if (isBasicAuthDisabled(text)) {
        return new StageError('basic-auth-disabled', `the provider refused password login for ${ctx.user}: ${text}`, {
          hint:
            'The provider has turned off password ("basic") authentication, and Calendar Server cannot do OAuth2. Use an app password, ' +
            'a mailbox on a server that accepts passwords, or a local OAuth proxy such as email-oauth2-proxy.',
          evidence,
        });
      }
      // Calendar Server's POP3 client always ends with QUIT: the other sessions are someone else's.
      if (sessionLimit(text, err.responseCode)) {
        return new StageError('auth', `the server refused another session for ${ctx.user} (too many open, not the password): ${err.command ?? 'login'}: ${text}`, {
          hint: 'The POP3 server refuses another session for this account from this address; the password was not the problem. Find and close the other sessions (Dovecot lists them with "doveadm who"), or raise the limit for this account (Dovecot: mail_max_userip_connections).',
          evidence: { ...evidence, sessionLimit: true },
        });
      }
      return new StageError('auth', `the server rejected the login for ${ctx.user} (${err.command ?? 'login'}: ${text})`, {
        hint: `Check ${CONFIG}.Username and ${CONFIG}.Password. On macOS, Calendar Server may read the password from the keychain account "<Username>@<Server>".`,
        evidence,
      });
    }
    case 'protocol':
      return new StageError('protocol', err.message, {
        hint: 'Check Receiving.Port and Receiving.Type: this port may not speak POP3.',
        evidence,
      });
    case 'closed':
    default:
      return new StageError('closed', err.message, { evidence });
  }
}
