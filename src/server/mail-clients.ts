/**
 * How Calendar Server's own mail clients connect, log in and send, per release, as data.
 * Probes (`test-smtp`, `test-mailbox`, `check-config --connect`), `send-test`, `poll` and
 * `diagnose` carry out these rows; none of them decides on its own how a connection is made.
 *
 * Every client in every release is Twisted's: `ESMTPSender` (twisted/mail/smtp.py),
 * `IMAP4Client` (twisted/mail/imap4.py) and `POP3Client` (twisted/mail/pop3client.py). The
 * releases differ only in the TLS context they hand those clients:
 *   - 2.x-8.x: `twisted.internet.ssl.ClientContextFactory()` (SSLv23 method, no verification):
 *     CalendarServer-2.5 and -4.3.2 twistedcaldav/mail.py (`MailHandler.outbound` for SMTP,
 *     the POP3/IMAP4 `MailGatewayService`-side `__init__`s that build
 *     `internet.SSLClient(..., ssl.ClientContextFactory())`); CalendarServer-5.1 and -8.0
 *     txdav/caldav/datastore/scheduling/imip/smtpsender.py `SMTPSender.sendMessage` and
 *     imip/inbound.py `MailRetriever.__init__`.
 *   - 9.x: `twext.internet.ssl.simpleClientContextFactory(Server)` (CalendarServer-9.2
 *     imip/smtpsender.py `SMTPSender.sendMessage`, imip/inbound.py `MailRetriever.__init__`):
 *     a `ChainingOpenSSLContextFactory` with SSLv23 method and VERIFY_NONE for the chain, plus
 *     `_identityVerifyingInfoCallback`, which calls Twisted's `verifyHostname` at the end of
 *     the handshake (ccs-twistedextensions twext/internet/ssl.py).
 *
 * The STARTTLS/STLS upgrades that Twisted starts on its own use its default context instead:
 * `ESMTPSender._getContextFactory` (smtp.py), `IMAP4Client._getContextFactory` (imap4.py) and
 * `POP3Client._getContextFactory` (pop3client.py) all build `ClientContextFactory()` with
 * `method = SSL.TLSv1_METHOD`: TLS 1.0 only, no verification. Unchanged in twisted-12.0.0
 * (shipped with 4.x), twisted-15.2.1 (7.0) and twisted-16.6.0 (9.2).
 */

/** How a session is protected. */
export type TlsMode =
  /** TLS from the first byte (`SSLClient` / `GAIEndpoint` with a context). */
  | 'implicit'
  /** STARTTLS must succeed, else the client gives up (`requireTransportSecurity`). */
  | 'starttls-required'
  /** STARTTLS whenever the server offers it; clear text only when it does not. */
  | 'starttls-when-offered';

/** Which TLS versions the client offers. */
export type TlsVersions =
  /** `SSL.TLSv1_METHOD`: TLS 1.0 and nothing else. */
  | 'tls1.0-only'
  /** `SSLv23_METHOD`: the best version both sides support. */
  | 'negotiate';

/** What the client checks of the server's certificate. */
export type CertificatePolicy =
  /** Nothing: self-signed, expired, unknown CA, another host's name all work. */
  | 'none'
  /** The chain is not checked; the certificate must name `Server` (DNS names only). */
  | 'host-name';

export interface TlsContext {
  versions: TlsVersions;
  certificate: CertificatePolicy;
  /** Where this context comes from, for evidence and `--verbose`. */
  source: string;
}

export type SmtpMechanism = 'CRAM-MD5' | 'LOGIN' | 'PLAIN';
export type ImapMechanism = 'CRAM-MD5' | 'LOGIN' | 'PLAIN';

export interface SmtpClient {
  /** `Sending.UseSSL` true / false. */
  useSSL: { mode: TlsMode; context: TlsContext };
  noSSL: { mode: TlsMode; context: TlsContext };
  /** Tried in this order; the first one the relay lists is used. */
  authOrder: readonly SmtpMechanism[];
  /** Whether another mechanism is tried after a refusal. */
  authFallback: boolean;
  /** AUTH only when `Password` is non-empty and the relay lists AUTH (at the stage reached). */
  authWhen: 'password-and-offered';
  /** HELO after a refused EHLO. */
  heloFallback: boolean;
  /** Mail goes out unauthenticated when AUTH does not happen (`requireAuthentication=False`). */
  requireAuthentication: boolean;
  /** Posts `MailCertificateAlert` when TLS breaks on a certificate. */
  certificateAlert: boolean;
}

export interface ImapClient {
  /** `Receiving.UseSSL` true: TLS from the first byte with this context. */
  useSSL: { mode: 'implicit'; context: TlsContext };
  /** STARTTLS started by Twisted itself (authenticate without a known mechanism; LOGIN). */
  starttls: TlsContext;
  /** Mechanisms Twisted has registered (CRAM-MD5, LOGIN, PLAIN); order does not matter. */
  known: readonly ImapMechanism[];
  /** Whose order decides: the server's `AUTH=` list, first known one wins. */
  order: 'server-list';
  /** The login sequence, step by step. */
  steps: readonly string[];
}

export interface Pop3Client {
  useSSL: { mode: 'implicit'; context: TlsContext };
  /** STLS started by Twisted itself. */
  stls: TlsContext;
  /** APOP when the greeting has a challenge, else STLS then USER/PASS, never a cleartext USER/PASS. */
  steps: readonly string[];
  allowInsecureLogin: boolean;
}

/**
 * How a client turns `Server` into the addresses it connects to.
 *
 * Twisted's TCP client before 12.1 (`tcp.Client.resolveAddress`, twisted-8.2.0 to -12.0.0) takes
 * a dotted-quad `Server` as it is and looks anything else up with `reactor.resolve`, which is
 * `socket.gethostbyname`: one IPv4 address, the first the resolver gives. Its socket is AF_INET.
 * An IPv6 address as `Server` is looked up as a name, and the lookup fails (DNSLookupError).
 * twext's `GAIEndpoint` (4.1 and later) calls `getaddrinfo(Server, Port, AF_UNSPEC)` instead and
 * starts a `TCP4ClientEndpoint` for every result, a moment apart, the first to connect winning;
 * on Twisted 12.0.0 (4.x) each of those goes through the same `tcp.Client`, so the IPv6 results
 * fail and only the IPv4 ones can connect. Twisted 12.1 taught `tcp.Client` IPv6 literals
 * (`_resolveIPv6`), so from 5.0 (Twisted 12.3.0 and later) every result can.
 */
export type Addressing =
  /** `gethostbyname`: the first IPv4 address only; no IPv6. */
  | 'first-ipv4'
  /** `getaddrinfo`, every IPv4 address in its order; the IPv6 ones fail. */
  | 'ipv4'
  /** `getaddrinfo`, every address, IPv6 and IPv4, in its order. */
  | 'any';

export interface MailClients {
  /** Releases this row covers, in words. */
  releases: string;
  /** Twisted release the server shipped with. */
  twisted: string;
  /**
   * How the sender and the poller find the mail server's addresses.
   * - SMTP: 2.x-3.x `reactor.connectTCP(Server, Port, factory)` (CalendarServer-2.5 and -3.3
   *   twistedcaldav/mail.py `MailHandler.outbound`/`sendMail`); 4.1-4.3.2
   *   `connect(GAIEndpoint(_reactor, Server, Port), factory)` (mail.py, twext adaptendpoint);
   *   5.0+ `GAIEndpoint` (imip/smtpsender.py `SMTPSender.sendMessage`).
   * - IMAP/POP3: 2.x-4.x `internet.SSLClient`/`internet.TCPClient(Server, Port, ...)`, which is
   *   `reactor.connectSSL`/`connectTCP` (CalendarServer-2.5, -3.3, -4.3.2 mail.py, the
   *   `POP3Service`/`IMAP4Service` `__init__`s); 5.0+ `GAIEndpoint` (imip/inbound.py
   *   `MailRetriever.__init__`/`fetchMail`).
   */
  addressing: { sending: Addressing; receiving: Addressing };
  smtp: SmtpClient;
  imap: ImapClient;
  pop3: Pop3Client;
}

// --- TLS contexts -------------------------------------------------------------------------------

/** twisted/internet/ssl.py `ClientContextFactory` (SSLv23_METHOD, no verify callback). */
const PLAIN_CONTEXT: TlsContext = {
  versions: 'negotiate',
  certificate: 'none',
  source: 'Twisted ClientContextFactory (no certificate checks)',
};

/**
 * ccs-twistedextensions twext/internet/ssl.py `simpleClientContextFactory(hostname)`:
 * `ChainingOpenSSLContextFactory(sslmethod=SSLv23_METHOD, peerName=hostname)`, VERIFY_NONE,
 * `_identityVerifyingInfoCallback` → Twisted 16.6.0 `_sslverify.verifyHostname` →
 * service_identity 16.0.0 (CalendarServer-9.2 requirements-twisted-default.txt)
 * `pyopenssl.verify_hostname`, which compares `DNS_ID(hostname)` with the certificate's
 * dNSName entries (the CN only when there is no subjectAltName).
 */
const HOST_NAME_CONTEXT: TlsContext = {
  versions: 'negotiate',
  certificate: 'host-name',
  source: 'twext simpleClientContextFactory (host name checked, chain not)',
};

/**
 * twisted/mail/smtp.py `ESMTPSender._getContextFactory`, imap4.py `IMAP4Client._getContextFactory`,
 * pop3client.py `POP3Client._getContextFactory` (twisted-12.0.0, -15.2.1, -16.6.0):
 * `ClientContextFactory()` with `context.method = ssl.SSL.TLSv1_METHOD`.
 */
const TLS10_DEFAULT_CONTEXT: TlsContext = {
  versions: 'tls1.0-only',
  certificate: 'none',
  source: 'Twisted default context (TLSv1_METHOD: TLS 1.0 only, no certificate checks)',
};

// --- The clients --------------------------------------------------------------------------------

function smtpClient(useSSLContext: TlsContext, certificateAlert: boolean): SmtpClient {
  return {
    // CalendarServer-2.5 twistedcaldav/mail.py `MailHandler.outbound`: `ESMTPSenderFactory(Username,
    // Password, ..., contextFactory, requireAuthentication=False, requireTransportSecurity=UseSSL)`;
    // the same call in 4.3.2 mail.py `outbound`, 5.1/8.0/9.2 imip/smtpsender.py `SMTPSender.sendMessage`.
    // twisted smtp.py `ESMTPClient.tryTLS`: STARTTLS when `self.context` and 'STARTTLS' in the
    // EHLO items; else `esmtpTLSRequired` when requireTransportSecurity.
    useSSL: { mode: 'starttls-required', context: useSSLContext },
    // UseSSL false passes contextFactory=None; `ESMTPSender.__init__` replaces None by
    // `_getContextFactory()` (TLS 1.0 only), so `tryTLS` still starts TLS when offered.
    noSSL: { mode: 'starttls-when-offered', context: TLS10_DEFAULT_CONTEXT },
    // smtp.py `ESMTPSender._registerAuthenticators`: CramMD5, LOGIN, PLAIN in that order;
    // `ESMTPClient.authenticate` walks them and uses the first the relay lists, then `return`s:
    // a refusal goes to `esmtpAUTHDeclined` (AUTHDeclinedError), never to the next mechanism.
    authOrder: ['CRAM-MD5', 'LOGIN', 'PLAIN'],
    authFallback: false,
    // smtp.py `ESMTPClient.authenticate`: `if self.secret and items.get('AUTH')`, else
    // `smtpState_from` because requireAuthentication=False.
    authWhen: 'password-and-offered',
    // smtp.py `ESMTPSender.__init__` sets `heloFallback = 0` (ESMTPSenderFactory passes False):
    // a refused EHLO ends the send (`esmtpEHLORequired`).
    heloFallback: false,
    requireAuthentication: false,
    // 8.0 imip/smtpsender.py `SMTPSender.sendMessage._failure`: OpenSSL Error →
    // `postAlert("MailCertificateAlert", ...)`; 9.2 the same through `AlertPoster.postAlert`.
    certificateAlert,
  };
}

const IMAP_STEPS = [
  // CalendarServer-2.5/-4.3.2 twistedcaldav/mail.py and 5.1-9.2 imip/inbound.py
  // `IMAP4DownloadProtocol.serverGreeting` → `authenticate(Password)`; `IMAP4DownloadFactory`
  // registers CramMD5ClientAuthenticator, LOGINAuthenticator, PLAINAuthenticator.
  // twisted imap4.py `IMAP4Client.__cbAuthenticate`: walk the server's AUTH= list in its
  // order, AUTHENTICATE with the first known mechanism, before any TLS.
  'AUTHENTICATE with the first of CRAM-MD5, LOGIN, PLAIN in the server\'s own AUTH= list, before TLS',
  // `__cbAuthenticate` without a known mechanism: `startTLS()` (default context) then
  // `__cbAuthTLS` with the capabilities after TLS.
  'none known: STARTTLS (TLS 1.0 only) and try again with the list after TLS',
  // `ebAuthenticateFailed` → `login(Username, Password)`; imap4.py `__cbLoginCaps`: STARTTLS
  // first when offered and not yet in TLS, else LOGIN (in clear on a clear connection).
  'that fails: LOGIN, after STARTTLS (TLS 1.0 only) when offered, else in clear text',
];

const POP3_STEPS = [
  // twisted pop3client.py `POP3Client._login`: APOP when the greeting carried a challenge;
  // else `startTLS()` when STLS is in CAPA, then `_plaintext` (USER/PASS); else, with
  // `allowInsecureLogin` False (set by `POP3DownloadProtocol` in every release), fail with
  // InsecureAuthenticationDisallowed.
  'APOP when the greeting carries a challenge',
  'else STLS (TLS 1.0 only) when offered, then USER/PASS',
  'else refuse to log in (never USER/PASS in clear text)',
];

function imapClient(implicit: TlsContext): ImapClient {
  return {
    useSSL: { mode: 'implicit', context: implicit },
    starttls: TLS10_DEFAULT_CONTEXT,
    known: ['CRAM-MD5', 'LOGIN', 'PLAIN'],
    order: 'server-list',
    steps: IMAP_STEPS,
  };
}

function pop3Client(implicit: TlsContext): Pop3Client {
  return { useSSL: { mode: 'implicit', context: implicit }, stls: TLS10_DEFAULT_CONTEXT, steps: POP3_STEPS, allowInsecureLogin: false };
}

/** One row per stretch of releases whose clients behave alike. */
export const MAIL_CLIENTS = {
  /** CalendarServer-2.5 (Twisted 8.2 branch), -3.0 (10.1.0), -3.1 to -3.3 (11.0.0): IPv4 through gethostbyname. */
  gethostbyname: {
    releases: '2.x to 3.x',
    twisted: '8.2 to 11.0.0',
    addressing: { sending: 'first-ipv4', receiving: 'first-ipv4' },
    smtp: smtpClient(PLAIN_CONTEXT, false),
    imap: imapClient(PLAIN_CONTEXT),
    pop3: pop3Client(PLAIN_CONTEXT),
  },
  /** CalendarServer-4.1 to -4.3.2 (Twisted 12.0.0): the sender through GAIEndpoint, IPv4 only; the poller as 3.x. */
  ipv4Only: {
    releases: '4.x',
    twisted: '12.0.0',
    addressing: { sending: 'ipv4', receiving: 'first-ipv4' },
    smtp: smtpClient(PLAIN_CONTEXT, false),
    imap: imapClient(PLAIN_CONTEXT),
    pop3: pop3Client(PLAIN_CONTEXT),
  },
  /** CalendarServer-5.0 (Twisted 12.3.0), -5.1, -6.x (13.2.0 and later), -7.0, -7.1 (15.2.1). */
  unverified: {
    releases: '5.x to 7.x',
    twisted: '12.3.0 to 15.2.1',
    addressing: { sending: 'any', receiving: 'any' },
    smtp: smtpClient(PLAIN_CONTEXT, false),
    imap: imapClient(PLAIN_CONTEXT),
    pop3: pop3Client(PLAIN_CONTEXT),
  },
  /** CalendarServer-8.0, -8.1 (Twisted 15.4.0, setup.py): same clients, plus `MailCertificateAlert` on a TLS error. */
  alerting: {
    releases: '8.x',
    twisted: '15.4.0',
    addressing: { sending: 'any', receiving: 'any' },
    smtp: smtpClient(PLAIN_CONTEXT, true),
    imap: imapClient(PLAIN_CONTEXT),
    pop3: pop3Client(PLAIN_CONTEXT),
  },
  /**
   * CalendarServer-9.0 (Twisted 15.4.0, service_identity 14.0.0) and 9.1, 9.2 (Twisted 16.6.0,
   * service_identity 16.0.0): twext `simpleClientContextFactory` with Twisted's `_tolerateErrors`,
   * and `DNS_ID` refusing an IP address, in both.
   */
  hostNameChecked: {
    releases: '9.x',
    twisted: '15.4.0 (9.0), 16.6.0 (9.1 and later)',
    addressing: { sending: 'any', receiving: 'any' },
    smtp: smtpClient(HOST_NAME_CONTEXT, true),
    imap: imapClient(HOST_NAME_CONTEXT),
    pop3: pop3Client(HOST_NAME_CONTEXT),
  },
} as const satisfies Record<string, MailClients>;

/** The row for a release. */
export function mailClientsFor(v: { major: number; minor: number }): MailClients {
  if (v.major >= 9) return MAIL_CLIENTS.hostNameChecked;
  if (v.major === 8) return MAIL_CLIENTS.alerting;
  if (v.major >= 5) return MAIL_CLIENTS.unverified;
  if (v.major === 4) return MAIL_CLIENTS.ipv4Only;
  return MAIL_CLIENTS.gethostbyname;
}

/** How the sender's or the poller's client finds its addresses, with the releases it covers (for the resolve stage). */
export function addressRule(clients: MailClients, side: 'sending' | 'receiving'): { addressing: Addressing; releases: string } {
  return { addressing: clients.addressing[side], releases: clients.releases };
}

/**
 * The sentence and fix for an IPv6 address as `Server` on a release whose client connects over
 * IPv4 only (`Addressing` other than 'any'), shared by check-config and the connection tests.
 */
export function ipv6ServerText(side: 'Sending' | 'Receiving', server: string, release: string): { message: string; fix: string } {
  const lost = side === 'Sending' ? 'no invitation goes out' : 'no reply is read';
  return {
    message: `${side}.Server is the IPv6 address ${server}. Calendar Server ${release} connects to mail servers over IPv4 only: it looks ${server} up as a host name, the lookup fails, and ${lost}`,
    fix: `Set ${side}.Server to a host name with an IPv4 address (an A record), or to the server's IPv4 address; Calendar Server 5.0 and later connect over IPv6 as well.`,
  };
}

/** The TLS mode and context the SMTP client uses for this `UseSSL`. */
export function smtpTransport(clients: MailClients, useSSL: boolean): { mode: TlsMode; context: TlsContext } {
  return useSSL ? clients.smtp.useSSL : clients.smtp.noSSL;
}

/**
 * service_identity 16.0.0 src/service_identity/_common.py `DNS_ID.__init__` raises
 * ValueError("Invalid DNS-ID.") when `_is_ip_address(hostname)`; twext's
 * `_identityVerifyingInfoCallback` catches only VerificationError, and Twisted 16.6.0
 * `_sslverify._tolerateErrors` turns any other exception into `failVerification`, which drops the
 * connection. So on 9.x (pyOpenSSL builds) a `Server` written as an IP address breaks every TLS
 * connection whatever the certificate names. (On macOS 9.2 uses Apple's SecureTransport binding
 * via `set_peer_name`, not service_identity; the finding says "probably" for that reason.)
 */
export function ipServerBreaksTls(clients: MailClients): boolean {
  return clients.smtp.useSSL.context.certificate === 'host-name';
}

/** Plain words for a context, for messages. */
export function describeVersions(v: TlsVersions): string {
  return v === 'tls1.0-only' ? 'TLS 1.0 only' : 'the best TLS version both sides support';
}

export const POP3_GREETING_ERROR = "AttributeError: 'POP3DownloadFactory' object has no attribute 'settings'";

/** The sentence and fix for 5.0 over POP3 (release.ts `pop3NeverLogsIn`), shared with the mailbox checks. */
export function pop3NeverLogsInText(versionText: string): { message: string; fix: string } {
  return {
    message: `Calendar Server ${versionText} never logs in to a POP3 mailbox: its POP3 reader does not keep the settings it is given, so the server's greeting ends every poll with "${POP3_GREETING_ERROR}" (logged as an unhandled error) before the user name is sent. No reply is read or deleted, and "POP3 login failed" never appears`,
    fix: 'Read replies over IMAP (Receiving.Type imap, port 993 with UseSSL true), or move to 5.1 or later, whose POP3 reader works.',
  };
}
