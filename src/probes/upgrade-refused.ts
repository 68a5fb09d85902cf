/**
 * A receiving server that lists STARTTLS (IMAP) or STLS (POP3) and answers the command itself with
 * an error. No TLS version was tried, so this is not a TLS 1.0 refusal; Calendar Server's client
 * fails its login there all the same, so the server reads nothing (Twisted 12.0.0, 15.2.1 and
 * 16.6.0 alike):
 * - IMAP: imap4.py `IMAP4Client.__cbAuthenticate`'s `ebStartTLS` turns the NO/BAD into
 *   NoSupportedAuthentication; the gateway's `ebAuthenticateFailed` (CalendarServer-4.3
 *   twistedcaldav/mail.py `IMAP4DownloadProtocol`) then calls `login`, whose `__cbLoginCaps`
 *   sends STARTTLS again, and `__ebLoginTLS` passes the failure on.
 * - POP3: pop3client.py `POP3Client._login` starts TLS whenever STLS is listed; `startTLS`'s
 *   `sendShort('STLS')` fails on -ERR and `_loginTLS` is never reached.
 * The tool's own sessions (imapflow goes on in clear text; the POP3 client stops) and the check
 * of the server's own login all say it with this error, so every command gives the same finding.
 */
import { StageError } from '../net/errors.js';

/** The reply as the server sent it (status word included), when it is known. */
export function upgradeRefused(command: 'STARTTLS' | 'STLS', reply?: string, evidence: Record<string, unknown> = {}): StageError {
  const shown = reply === undefined ? undefined : reply.slice(0, 200);
  return new StageError('rejected', shown === undefined ? `the mail server lists ${command} but refused it` : `the mail server lists ${command} but answered it with "${shown}"`, {
    hint: `Fix ${command} on the mail server (its TLS certificate and key are the usual cause), or set Scheduling.iMIP.Receiving.UseSSL to true with the port that speaks TLS from the first byte.`,
    evidence: { ...(shown === undefined ? {} : { reply: shown }), ...evidence },
  });
}
