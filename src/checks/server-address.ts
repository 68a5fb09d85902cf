/**
 * What a mail server's address as `Server` does to the release's own clients.
 *
 * 2.x-4.x connect over IPv4 only (src/server/mail-clients.ts `Addressing`: Twisted's TCP client
 * before 12.1 looks any `Server` that is not a dotted quad up with `gethostbyname`, and twext's
 * `GAIEndpoint` on 4.x hands each result to that same client), so an IPv6 address there is never
 * reached: the lookup of it as a host name fails.
 *
 * 9.x checks the mail servers' certificates against `Sending.Server` / `Receiving.Server` as a
 * DNS name; an IP address there never matches, so every TLS connection made with the server's
 * checking context breaks (src/server/mail-clients.ts `ipServerBreaksTls`, verified in
 * service_identity 16.0.0 `DNS_ID.__init__`, which refuses an IP address, and Twisted 16.6.0
 * `_sslverify._tolerateErrors`, which drops the connection on that error).
 * The checking context is used by the sender with `Sending.UseSSL` true (STARTTLS) and by the
 * poller with `Receiving.UseSSL` true (TLS from the first byte); the STARTTLS/STLS that Twisted
 * starts by itself with `UseSSL` false does not check names.
 */
import { ipServerBreaksTls, ipv6ServerText, mailClientsFor } from '../server/mail-clients.js';
import { finding, GATEWAY_LINES, IMIP, valueEvidence, type ConfigRule } from './rule.js';

/** Node's own IPv4 test (lib/internal/net.js, `IPv4Reg`): four decimal octets, no leading zeros. */
const IPV4 = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]\d|\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]\d|\d)$/;

/**
 * Whether `s` can be a dotted quad at all: it starts with a digit. A host name rarely does, and
 * then the expression above, whose first use is compiled (about 0.3 ms of `check-config`), is
 * never needed.
 */
const mayBeIpv4 = (s: string): boolean => s.charCodeAt(0) >= 48 && s.charCodeAt(0) <= 57;

/**
 * `net.isIP` without its start-up cost. Loading node:net brings in Node's stream and socket
 * modules, and its IPv6 test is one large regular expression whose first use costs about 15 ms;
 * `check-config` pays neither for a host name. An IPv6 address always holds a colon, so only such
 * a value loads node:net; the answer is the same as `net.isIP`'s.
 */
const isIpAddress = (s: string): boolean =>
  (mayBeIpv4(s) && IPV4.test(s)) || (s.includes(':') && process.getBuiltinModule('node:net').isIPv6(s));

function rule(side: 'Sending' | 'Receiving'): ConfigRule {
  const id = side === 'Sending' ? 'sending.server-ip-address' : 'receiving.server-ip-address';
  const how = side === 'Sending' ? 'STARTTLS to the relay' : 'TLS to the mailbox';
  return {
    id,
    severity: 'error',
    lines: ['5.0+'],
    summary: `9.x: ${side}.Server is an IP address and ${side}.UseSSL is true; the certificate check compares DNS names only, so TLS breaks whatever the certificate names.`,
    check(ctx) {
      const s = side === 'Sending' ? ctx.settings.sending : ctx.settings.receiving;
      const server = s.server.trim();
      if (!server || !isIpAddress(server) || !s.useSSL || !ipServerBreaksTls(mailClientsFor(ctx.version))) return [];
      return [
        finding(
          this,
          `${IMIP}.${side}.Server`,
          `${side}.Server is the IP address ${server}. Calendar Server ${ctx.version.text} checks the mail server's certificate against this value as a DNS name, which an address never matches, so ${how} breaks whatever the certificate names${side === 'Sending' ? ' and the server posts a MailCertificateAlert' : ''}`,
          `Set ${side}.Server to the host name the mail server's certificate names, for example <string>mail.example.com</string>.`,
          { ...valueEvidence(ctx, `${IMIP}.${side}.Server`), useSSL: true },
        ),
      ];
    },
  };
}

function ipv6Rule(side: 'Sending' | 'Receiving'): ConfigRule {
  const id = side === 'Sending' ? 'sending.server-ipv6-address' : 'receiving.server-ipv6-address';
  return {
    id,
    severity: 'error',
    lines: GATEWAY_LINES,
    summary: `2.x-4.x: ${side}.Server is an IPv6 address; these releases connect over IPv4 only, and their lookup of the address as a host name fails.`,
    check(ctx) {
      const s = side === 'Sending' ? ctx.settings.sending : ctx.settings.receiving;
      const server = s.server.trim();
      if (!server.includes(':') || !isIpAddress(server)) return [];
      const clients = mailClientsFor(ctx.version);
      if (clients.addressing[side === 'Sending' ? 'sending' : 'receiving'] === 'any') return [];
      const { message, fix } = ipv6ServerText(side, server, ctx.version.text);
      return [finding(this, `${IMIP}.${side}.Server`, message, fix, { ...valueEvidence(ctx, `${IMIP}.${side}.Server`), twisted: clients.twisted })];
    },
  };
}

export const sendingServerIp = rule('Sending');
export const receivingServerIp = rule('Receiving');
export const serverAddressRules: ConfigRule[] = [sendingServerIp, receivingServerIp, ipv6Rule('Sending'), ipv6Rule('Receiving')];
