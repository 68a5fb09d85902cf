/**
 * Certificate and TLS evidence from a connected TLSSocket, and the verdict on the certificate in
 * plain words. Probes always handshake with Node's own rejection turned off and judge here, so a
 * certificate that does not verify still shows who it was issued to, by whom and until when.
 */
import type { DetailedPeerCertificate, PeerCertificate, TLSSocket } from 'node:tls';
import { capitalised } from '../report/words.js';

/** Why a certificate does not verify, as an admin would say it. */
export type CertificateProblem =
  | 'self-signed'
  | 'expired'
  | 'not-yet-valid'
  | 'name-mismatch'
  | 'unknown-issuer'
  | 'revoked'
  | 'other';

export interface TlsInfo {
  /** `TLSv1.3`, `TLSv1.2`, ... */
  protocol: string | null;
  /** Standard (IANA) cipher suite name. */
  cipher: string | null;
  /** The name the certificate was checked against. */
  checkedName: string;
  subjectCN: string | null;
  issuer: string | null;
  /** Subject alternative names as written in the certificate: `DNS:mail.example.com`, `IP Address:192.0.2.1`. */
  sans: string[];
  /** ISO 8601. */
  validFrom: string | null;
  validTo: string | null;
  /** Whole days until `validTo`; negative once expired. */
  daysLeft: number | null;
  /** SHA-256 fingerprint of the server certificate. */
  fingerprint256: string | null;
  /** Subjects from the server certificate up to the last certificate the server sent (or the root found). */
  chain: string[];
  /** The chain verified against the trust anchors and the name matched. */
  verified: boolean;
  /** The chain verified against the trust anchors (whatever the name). */
  chainTrusted: boolean;
  /**
   * The certificate names `checkedName` as a DNS name, the way Calendar Server 9.x checks it
   * (service_identity: dNSName entries, the CN only when there are none). Always false for an
   * IP address, which service_identity never matches.
   */
  nameMatches: boolean;
  /** Node's/OpenSSL's code when not verified, such as `DEPTH_ZERO_SELF_SIGNED_CERT`. */
  verifyCode?: string;
  problem?: CertificateProblem;
  /** Why it does not verify, in one sentence. */
  reason?: string;
  /** What to do about it. */
  hint?: string;
  /** `--insecure`: the verdict was not enforced. */
  checksDisabled: boolean;
}

export interface TlsInfoOptions {
  /** Host name or address as configured (what the certificate must name). */
  host: string;
  insecure: boolean;
  /** A `--ca-file` was given (changes the advice). */
  caGiven?: boolean;
}

const MS_PER_DAY = 86_400_000;

function name(part: PeerCertificate['subject'] | undefined): string | null {
  if (!part) return null;
  const cn = first(part.CN);
  const o = first(part.O);
  if (cn && o && o !== cn) return `${cn} (${o})`;
  return cn ?? o ?? null;
}

function first(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

function isoDate(text: string | undefined): string | null {
  if (!text) return null;
  const t = Date.parse(text);
  return Number.isNaN(t) ? null : new Date(t).toISOString();
}

/** Turn Node's `authorizationError` (a string code in practice, typed as Error) into a code. */
function codeOf(v: unknown): string | undefined {
  if (!v) return undefined;
  if (typeof v === 'string') return v;
  if (typeof v === 'object') {
    const o = v as { code?: unknown; message?: unknown };
    if (typeof o.code === 'string') return o.code;
    if (typeof o.message === 'string') return o.message;
  }
  return String(v);
}

/** Map an OpenSSL/Node verification code to a problem class. */
export function classifyVerifyCode(code: string): CertificateProblem {
  switch (code) {
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
    case 'SELF_SIGNED_CERT_IN_CHAIN':
      return 'self-signed';
    case 'CERT_HAS_EXPIRED':
      return 'expired';
    case 'CERT_NOT_YET_VALID':
      return 'not-yet-valid';
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
    case 'HOSTNAME_MISMATCH':
      return 'name-mismatch';
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
    case 'UNABLE_TO_GET_ISSUER_CERT':
    case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY':
    case 'CERT_UNTRUSTED':
    case 'CERT_CHAIN_TOO_LONG':
      return 'unknown-issuer';
    case 'CERT_REVOKED':
      return 'revoked';
    default:
      return 'other';
  }
}

/** True when an error thrown by a handshake is about the certificate rather than the connection. */
export function isCertificateErrorCode(code: string | undefined): boolean {
  return !!code && classifyVerifyCode(code) !== 'other';
}

export interface CertificateVerdict {
  problem: CertificateProblem;
  reason: string;
  hint: string;
}

/**
 * Whether this Node.js leaves out the CAs of `NODE_EXTRA_CA_CERTS` on a connection given
 * `--ca-file` (src/net/tls-handshake.ts `runContext`): 20.x, 21.x and 22 before 22.7 build such a
 * context from their bundled roots alone; 22.7 and later keep those CAs. Only when the variable is set.
 */
export function extraCaCertsHidden(env: NodeJS.ProcessEnv = process.env, version: string = process.versions.node): boolean {
  if (!env.NODE_EXTRA_CA_CERTS) return false;
  const [major = 0, minor = 0] = version.split('.').map(Number);
  return major < 22 || (major === 22 && minor < 7);
}

/** The plain-words reason and the advice for a verification failure. */
export function describeCertificateProblem(
  code: string,
  ctx: { host: string; subjectCN?: string | null; sans?: string[]; issuer?: string | null; validTo?: string | null; caGiven?: boolean },
): CertificateVerdict {
  const problem = classifyVerifyCode(code);
  const fixCert = 'or install a certificate from a CA that the Calendar Server host trusts';
  const caAdvice = ctx.caGiven
    ? 'the --ca-file given does not vouch for it either: check that it holds the CA that issued this certificate'
    : 'if you trust it, pass the CA (or the certificate itself) with --ca-file';
  // An admin who trusts the issuer through NODE_EXTRA_CA_CERTS would otherwise chase the server.
  const hidden =
    ctx.caGiven && extraCaCertsHidden()
      ? ` Node.js ${process.versions.node} leaves out NODE_EXTRA_CA_CERTS when --ca-file is given (22.7 and later keep it): if the issuer is there, add it to the --ca-file.`
      : '';
  switch (problem) {
    case 'self-signed':
      return {
        problem,
        reason: `the certificate is self-signed${ctx.subjectCN ? ` (${ctx.subjectCN})` : ''}, so nothing vouches for it`,
        hint: `${capitalised(caAdvice)}, ${fixCert}.${hidden}`,
      };
    case 'expired':
      return {
        problem,
        reason: `the certificate expired${ctx.validTo ? ` on ${ctx.validTo.slice(0, 10)}` : ''}`,
        hint: 'Renew the certificate on the mail server; --ca-file cannot fix an expired certificate.',
      };
    case 'not-yet-valid':
      return {
        problem,
        reason: 'the certificate is not valid yet (check the clocks of both machines)',
        hint: 'Fix the clock of the mail server or of this machine, or reissue the certificate.',
      };
    case 'name-mismatch': {
      const names = (ctx.sans ?? []).map((s) => s.replace(/^(DNS|IP Address):/, '')).filter(Boolean);
      const listed = names.length ? names.slice(0, 6).join(', ') : ctx.subjectCN ?? 'other names';
      return {
        problem,
        reason: `the certificate is for ${listed}, not for ${ctx.host}`,
        hint: `Use a server name the certificate lists (${listed}) in the configuration, or fix the certificate to include ${ctx.host}.`,
      };
    }
    case 'unknown-issuer':
      return {
        problem,
        reason: `the certificate was issued by ${ctx.issuer ?? 'an issuer'} that is not trusted here (unknown CA, or the server does not send its intermediate certificates)`,
        hint: `${capitalised(caAdvice)}, or fix the certificate chain on the server (send the intermediate certificates).${hidden}`,
      };
    case 'revoked':
      return { problem, reason: 'the certificate has been revoked', hint: 'Install a new certificate on the mail server.' };
    default:
      return {
        problem,
        reason: `the certificate does not verify (${code})`,
        hint: `${capitalised(caAdvice)}, or fix the certificate on the server.${hidden}`,
      };
  }
}

function chainOf(cert: DetailedPeerCertificate | PeerCertificate): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  let c: DetailedPeerCertificate | undefined = cert as DetailedPeerCertificate;
  while (c && c.raw && out.length < 8) {
    const key = c.fingerprint256 ?? String(out.length);
    if (seen.has(key)) break;
    seen.add(key);
    out.push(name(c.subject) ?? '(no subject)');
    if (!c.issuerCertificate || c.issuerCertificate === c) break;
    c = c.issuerCertificate;
  }
  return out;
}

const NAME_CODES = new Set(['ERR_TLS_CERT_ALTNAME_INVALID', 'HOSTNAME_MISMATCH']);

/**
 * Does the certificate name `host` as a DNS name? RFC 6125 as service_identity 16.0.0
 * (`verify_hostname`, `DNS_ID`, `_hostname_matches`) does it: dNSName entries of the
 * subjectAltName, the CN only when the certificate has no dNSName at all; a wildcard only as the
 * whole left-most label; an IP address never matches (`DNS_ID` refuses one).
 */
export function certificateNamesHost(host: string, sans: readonly string[], cn: string | null): boolean {
  const h = host.trim().toLowerCase().replace(/\.$/, '');
  if (!h || /^[0-9.]+$/.test(h) || h.includes(':')) return false;
  const dns = sans.filter((s) => /^DNS:/i.test(s)).map((s) => s.slice(4).trim().toLowerCase());
  const names = dns.length ? dns : cn ? [cn.toLowerCase()] : [];
  return names.some((n) => {
    const name = n.replace(/\.$/, '');
    if (name === h) return true;
    if (!name.startsWith('*.')) return false;
    const rest = name.slice(2);
    const dot = h.indexOf('.');
    return dot > 0 && h.slice(dot + 1) === rest && rest.includes('.');
  });
}

/** Everything worth showing about a TLS session, with the verdict on the certificate. */
export function tlsInfo(socket: TLSSocket, opts: TlsInfoOptions): TlsInfo {
  let cert: DetailedPeerCertificate | null;
  try {
    const c = socket.getPeerCertificate(true);
    cert = c && Object.keys(c).length ? c : null;
  } catch {
    cert = null;
  }
  const cipher = socket.getCipher?.();
  const validTo = isoDate(cert?.valid_to);
  const daysLeft = validTo ? Math.floor((Date.parse(validTo) - Date.now()) / MS_PER_DAY) : null;
  const sans = (cert?.subjectaltname ?? '')
    .split(/,\s*/)
    .map((s) => s.trim())
    .filter(Boolean);
  const info: TlsInfo = {
    protocol: socket.getProtocol?.() ?? null,
    cipher: cipher ? (cipher.standardName ?? cipher.name) : null,
    checkedName: opts.host,
    subjectCN: cert ? first(cert.subject?.CN) ?? null : null,
    issuer: cert ? name(cert.issuer) : null,
    sans,
    validFrom: isoDate(cert?.valid_from),
    validTo,
    daysLeft,
    fingerprint256: cert?.fingerprint256 ?? null,
    chain: cert ? chainOf(cert) : [],
    verified: socket.authorized === true,
    chainTrusted: socket.authorized === true || NAME_CODES.has(codeOf(socket.authorizationError) ?? ''),
    nameMatches: false,
    checksDisabled: opts.insecure,
  };
  info.nameMatches = certificateNamesHost(opts.host, sans, info.subjectCN);
  if (!info.verified) {
    let code = codeOf(socket.authorizationError) ?? (cert ? 'UNKNOWN' : 'NO_CERTIFICATE');
    // OpenSSL reports the chain problem first; an expired self-signed certificate is worth both words.
    if (daysLeft !== null && daysLeft < 0 && classifyVerifyCode(code) !== 'expired') {
      const base = describeCertificateProblem(code, { ...info, host: opts.host, caGiven: opts.caGiven });
      info.verifyCode = code;
      info.problem = base.problem;
      info.reason = `${base.reason}, and it expired on ${validTo!.slice(0, 10)}`;
      info.hint = base.hint.replace(/\.$/, '') + '; it must also be renewed.';
    } else {
      if (code === 'NO_CERTIFICATE') code = 'UNKNOWN';
      const v = describeCertificateProblem(code, { ...info, host: opts.host, caGiven: opts.caGiven });
      info.verifyCode = code;
      info.problem = v.problem;
      info.reason = v.reason;
      info.hint = v.hint;
    }
    if (opts.insecure) info.hint = `Not enforced because of --insecure. ${info.hint ?? ''}`.trim();
  }
  return info;
}

/** One line for human output: `TLSv1.3, TLS_AES_256_GCM_SHA384, CN=mail.example.com, 63 days left, verified`. */
export function summarizeTls(info: TlsInfo): string {
  const parts = [info.protocol ?? 'TLS', info.cipher ?? undefined, info.subjectCN ? `CN=${info.subjectCN}` : undefined];
  if (info.daysLeft !== null) parts.push(info.daysLeft < 0 ? `expired ${-info.daysLeft} days ago` : `${info.daysLeft} days left`);
  parts.push(info.verified ? 'verified' : `not verified: ${info.reason ?? info.verifyCode ?? 'unknown reason'}`);
  return parts.filter(Boolean).join(', ');
}

/** TLS facts gathered by another client (the POP3 client's `TlsDetails` has this shape). */
export interface TlsParts {
  protocol: string | null;
  cipher: { name?: string; standardName?: string } | null;
  authorized: boolean;
  authorizationError?: string;
  peerCertificate?: {
    /** `CN=mail.example.com, O=Example` */
    subject: string;
    issuer: string;
    subjectAltNames: string[];
    validFrom: string;
    validTo: string;
    fingerprint256: string;
  };
}

function field(dn: string, key: string): string | null {
  const m = new RegExp(`(?:^|,\\s*)${key}=([^,]+)`).exec(dn);
  return m ? m[1]!.trim() : null;
}

/** The same evidence and verdict as `tlsInfo()`, from facts another client collected. */
export function tlsInfoFromParts(parts: TlsParts, opts: TlsInfoOptions): TlsInfo {
  const cert = parts.peerCertificate;
  const validTo = isoDate(cert?.validTo);
  const daysLeft = validTo ? Math.floor((Date.parse(validTo) - Date.now()) / MS_PER_DAY) : null;
  const issuerCN = cert ? field(cert.issuer, 'CN') : null;
  const issuerO = cert ? field(cert.issuer, 'O') : null;
  const info: TlsInfo = {
    protocol: parts.protocol,
    cipher: parts.cipher ? (parts.cipher.standardName ?? parts.cipher.name ?? null) : null,
    checkedName: opts.host,
    subjectCN: cert ? field(cert.subject, 'CN') : null,
    issuer: issuerCN && issuerO && issuerO !== issuerCN ? `${issuerCN} (${issuerO})` : issuerCN ?? issuerO,
    sans: cert?.subjectAltNames ?? [],
    validFrom: isoDate(cert?.validFrom),
    validTo,
    daysLeft,
    fingerprint256: cert?.fingerprint256 ?? null,
    chain: cert ? [field(cert.subject, 'CN') ?? cert.subject] : [],
    verified: parts.authorized,
    chainTrusted: parts.authorized || NAME_CODES.has(parts.authorizationError ?? ''),
    nameMatches: false,
    checksDisabled: opts.insecure,
  };
  info.nameMatches = certificateNamesHost(opts.host, info.sans, info.subjectCN);
  if (!info.verified) {
    const code = parts.authorizationError ?? 'UNKNOWN';
    const v = describeCertificateProblem(code, { ...info, host: opts.host, caGiven: opts.caGiven });
    info.verifyCode = code;
    info.problem = v.problem;
    info.reason = daysLeft !== null && daysLeft < 0 && v.problem !== 'expired' ? `${v.reason}, and it expired on ${validTo!.slice(0, 10)}` : v.reason;
    info.hint = opts.insecure ? `Not enforced because of --insecure. ${v.hint}` : v.hint;
  }
  return info;
}

/** The DNS names among a certificate's subjectAltName entries, as ` (a, b)` for a message, or ''. */
export function dnsNames(sans: readonly string[]): string {
  const names = sans.filter((s) => s.startsWith('DNS:')).map((s) => s.slice(4));
  return names.length ? ` (${names.join(', ')})` : '';
}
