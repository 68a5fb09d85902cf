/** The SMTP side (`MailHandler.outbound` / 5.0+ `MailSender.outbound`, Twisted `ESMTPSenderFactory`): where invitations leave and which address carries the token. */
import { parseaddr } from '../server/address.js';
import { ALL_LINES, finding, IMIP, valueEvidence, type ConfigRule } from './rule.js';

const S = `${IMIP}.Sending`;

export const serverMissing: ConfigRule = {
  id: 'sending.server-missing',
  severity: 'error',
  lines: ALL_LINES,
  summary: 'No SMTP server (Sending.Server is empty): no invitation can leave.',
  check(ctx) {
    if (ctx.settings.sending.server.trim()) return [];
    return [
      finding(this, `${S}.Server`, 'Sending.Server is empty: the server has no SMTP server to send invitations through', 'Set Sending.Server to your SMTP relay, for example <string>smtp.example.com</string>.', valueEvidence(ctx, `${S}.Server`)),
    ];
  },
};

export const addressMissing: ConfigRule = {
  id: 'sending.address-missing',
  severity: 'error',
  lines: ALL_LINES,
  summary: 'No Sending.Address: no From address and no plus address for replies.',
  check(ctx) {
    if (ctx.settings.sending.address.trim()) return [];
    return [
      finding(this, `${S}.Address`, 'Sending.Address is empty: the server cannot build the plus address (calendar+token@domain) that replies come back to', 'Set Sending.Address to the dedicated mailbox the server polls, for example <string>calendar@example.com</string>.', valueEvidence(ctx, `${S}.Address`)),
    ];
  },
};

export const addressInvalid: ConfigRule = {
  id: 'sending.address-invalid',
  severity: 'error',
  lines: ALL_LINES,
  summary: 'Sending.Address, without its display name, does not hold exactly one @: every outbound mail fails.',
  check(ctx) {
    const raw = ctx.settings.sending.address;
    if (!raw.trim()) return [];
    const { address } = parseaddr(raw);
    const ats = address.split('@').length - 1;
    const [local, domain] = address.split('@');
    if (ats === 1 && local && domain) return [];
    return [
      finding(
        this,
        `${S}.Address`,
        `Sending.Address "${raw}" gives the address "${address}", which has ${ats} "@" signs${ats === 1 ? ' and an empty side' : ''}; the server splits it on "@" to build calendar+token@domain and every invitation fails (ValueError)`,
        'Write a plain address such as calendar@example.com, or "Calendar <calendar@example.com>".',
        { ...valueEvidence(ctx, `${S}.Address`), parsedAddress: address },
      ),
    ];
  },
};

export const addressPlus: ConfigRule = {
  id: 'sending.address-plus',
  severity: 'error',
  lines: ALL_LINES,
  summary: 'The local part of Sending.Address already holds a +: no token can ever be read from a reply.',
  check(ctx) {
    const { address } = parseaddr(ctx.settings.sending.address);
    const local = address.split('@')[0] ?? '';
    if (!local.includes('+')) return [];
    return [
      finding(
        this,
        `${S}.Address`,
        `Sending.Address "${address}" already has a "+" in its local part, so replies go to ${local}+<token>@…, with two "+"; the server splits on "+" expecting exactly one and finds no token in any reply ("didn't find a token in message")`,
        `Use an address without "+", for example ${local.split('+')[0]}@${address.split('@')[1] ?? 'example.com'}, and let the server add the +token itself.`,
        { ...valueEvidence(ctx, `${S}.Address`), localPart: local },
      ),
    ];
  },
};

export const implicitTlsPort: ConfigRule = {
  id: 'sending.implicit-tls-port',
  severity: 'error',
  lines: ALL_LINES,
  summary: 'Sending.Port is 465: TLS from the first byte, which the server cannot speak; sending hangs.',
  check(ctx) {
    if (ctx.settings.sending.port !== 465) return [];
    return [
      finding(
        this,
        `${S}.Port`,
        'Sending.Port is 465, which expects TLS from the first byte; Calendar Server only speaks STARTTLS when sending, so the SMTP exchange hangs and no invitation leaves',
        'Use the submission port 587 with UseSSL true (STARTTLS), or port 25 if your relay accepts it.',
        { ...valueEvidence(ctx, `${S}.Port`), useSSL: ctx.settings.sending.useSSL },
      ),
    ];
  },
};

export const cleartextAuth: ConfigRule = {
  id: 'sending.cleartext-auth',
  severity: 'warning',
  lines: ALL_LINES,
  summary: 'A sending username with UseSSL false: nothing requires TLS, so the password may cross the network in clear.',
  check(ctx) {
    const s = ctx.settings.sending;
    if (!s.username || s.useSSL) return [];
    return [
      finding(
        this,
        `${S}.UseSSL`,
        'Sending.Username is set but Sending.UseSSL is false: STARTTLS is not required, so if the relay does not offer it (or something strips it) the SMTP password crosses the network unencrypted',
        'Set Sending.UseSSL to <true/> (STARTTLS required) and use port 587.',
        { ...valueEvidence(ctx, `${S}.UseSSL`), username: s.username },
      ),
    ];
  },
};

export const sendingRules: ConfigRule[] = [serverMissing, addressMissing, addressInvalid, addressPlus, implicitTlsPort, cleartextAuth];
