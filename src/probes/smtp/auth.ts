/**
 * SMTP AUTH as Twisted's `ESMTPClient.authenticate` does it (twisted/mail/smtp.py, tags
 * twisted-12.0.0 to -16.6.0): CRAM-MD5, LOGIN, PLAIN, the first the relay lists, PLAIN with the
 * initial response on the AUTH line. The reply to a refusal in words, with a hint.
 */
import { createHmac } from 'node:crypto';
import type { SmtpMechanism } from '../../server/mail-clients.js';
import { StageError } from '../../net/net-stage.js';
import { isBasicAuthDisabled, OAUTH_ONLY_HINT } from '../provider-auth.js';
import { replyText, type SmtpReply, type SmtpWire } from './wire.js';

const b64 = (v: string): string => Buffer.from(v, 'utf8').toString('base64');

/** The first mechanism of `order` that the relay lists (what the server would use), else null. */
export function firstOffered(order: readonly SmtpMechanism[], offered: readonly string[]): SmtpMechanism | null {
  return order.find((m) => offered.includes(m)) ?? null;
}

/** One AUTH exchange; resolves to the final reply (235 on success). Credentials never reach the transcript. */
export async function authExchange(wire: SmtpWire, mech: SmtpMechanism, user: string, pass: string, signal: AbortSignal): Promise<SmtpReply> {
  switch (mech) {
    case 'PLAIN':
      // smtp.py `ESMTPClient.authenticate`: `AUTH PLAIN <base64(\0user\0secret)>` on one line.
      return wire.command(`AUTH PLAIN ${b64(`\0${user}\0${pass}`)}`, signal, 'AUTH PLAIN <credentials hidden>');
    case 'LOGIN': {
      let r = await wire.command('AUTH LOGIN', signal);
      if (r.code !== 334) return r;
      r = await wire.command(b64(user), signal, `<user name ${user}, base64>`);
      if (r.code !== 334) return r;
      return wire.command(b64(pass), signal, '<password hidden>');
    }
    case 'CRAM-MD5': {
      const r = await wire.command('AUTH CRAM-MD5', signal);
      if (r.code !== 334) return r;
      const challenge = Buffer.from(r.text, 'base64').toString('latin1');
      const digest = createHmac('md5', pass).update(challenge, 'latin1').digest('hex');
      return wire.command(b64(`${user} ${digest}`), signal, '<CRAM-MD5 response hidden>');
    }
  }
}

/** A refused AUTH as a StageError with the relay's own words and a hint. */
export function authFailure(r: SmtpReply, mech: string): StageError {
  const text = replyText(r);
  const evidence = { reply: text, mechanism: mech };
  if (isBasicAuthDisabled(text)) {
    return new StageError('basic-auth-disabled', `the provider refused password authentication: ${text}`, { hint: OAUTH_ONLY_HINT, evidence });
  }
  if (r.code === 535 || r.enhanced === '5.7.8' || (r.code === 534 && /invalid|incorrect|bad/i.test(text))) {
    return new StageError('auth', `the server rejected the user name or password with ${mech} (${text})`, {
      hint:
        'Check Sending.Username and Sending.Password (many providers want the full address as user name). ' +
        'On macOS, Calendar Server may take the password from the keychain account "<Username>@<Server>" instead of the plist.',
      evidence,
    });
  }
  if (r.code === 538 || r.enhanced === '5.7.11') {
    return new StageError('auth', `the server requires an encrypted connection for ${mech} (${text})`, {
      hint: 'Set Sending.UseSSL to true so Calendar Server starts TLS (STARTTLS) before AUTH.',
      evidence,
    });
  }
  if (r.code >= 400 && r.code < 500) {
    return new StageError('rejected', `the server could not authenticate right now (${text})`, {
      hint: "A temporary failure on the server (its authentication backend); try again, and read the server's log.",
      evidence,
    });
  }
  return new StageError('auth', `authentication with ${mech} failed (${text})`, {
    hint: 'Check Sending.Username and Sending.Password, and whether the account may use SMTP AUTH.',
    evidence,
  });
}
