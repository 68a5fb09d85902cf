/**
 * What `imip test-smtp`, `imip test-mailbox` and `imip check-config --connect` get back from a
 * connection probe: the target, every stage in order, and the findings drawn across stages.
 */
import type { ConnectOptions, StageResult } from '../config/settings.js';
import type { Finding } from '../report/finding.js';
import type { PortModeResult, Redactor } from '../net/net-stage.js';
import type { TlsInfo } from '../net/tls-info.js';

export type ProbeProtocol = 'smtp' | 'imap' | 'pop3' | 'unknown';

/** How the session is (to be) protected: STARTTLS upgrade, TLS from the first byte, or neither. */
export type ProbeTls = 'starttls' | 'implicit' | 'none';

export interface ProbeTarget {
  host: string;
  port: number;
  protocol: ProbeProtocol;
  tls: ProbeTls;
}

export interface ProbeReport {
  target: ProbeTarget;
  stages: StageResult[];
  findings: Finding[];
  /** Every attempted stage passed and no finding is an error. */
  ok: boolean;
  /** The protocol exchange, client lines `C:` and server lines `S:`; credentials never appear. For `-v`. */
  transcript?: string[];
}

/** What a mailbox session found, for the findings drawn across stages. */
export interface MailboxCounts {
  total: number;
  /** IMAP only: POP3 has no flags. */
  unseen: number | null;
  seen: number | null;
  /** POP3 STAT: size of the maildrop. */
  octets?: number;
}

/** One message of the bounded sample taken to judge whether the mailbox is dedicated. */
export interface SampledMessage {
  /** `uid 17` (IMAP) or `#3` (POP3). */
  id: string;
  /** The header block as fetched: selected fields (IMAP) or the whole header (POP3 TOP). */
  headers: string;
  /** Decoded, when the protocol gives them (IMAP ENVELOPE); otherwise read from `headers`. */
  from?: string;
  subject?: string;
  to?: string[];
  /** Top-level content type when known from the structure. */
  contentType?: string;
  /** A text/calendar (or .ics) part: true/false when the structure was seen, null when unknown. */
  calendarPart: boolean | null;
  seen?: boolean;
}

export interface MailboxSessionOutcome {
  /** How the session was protected in the end. */
  tlsMode: ProbeTls;
  tls?: TlsInfo;
  /** Set when the port was sniffed and speaks the other TLS mode. */
  portMode?: PortModeResult;
  counts?: MailboxCounts;
  sample?: SampledMessage[];
  /** The login that worked: `AUTHENTICATE PLAIN`, `LOGIN`, `APOP`, `USER`, ... */
  mechanism?: string;
  /** IMAP with UseSSL false: how Calendar Server would log in before any TLS (password in clear). */
  cleartextLogin?: string;
}


/** `--insecure`: said in every report that ran with it. */
export function insecureFinding(configPath: string, evidence: Record<string, unknown> = {}): Finding {
  return {
    id: 'tls.insecure',
    severity: 'info',
    path: configPath,
    message: 'Certificate checks were turned off (--insecure): the TLS results below do not show whether the certificate is trusted.',
    evidence,
    fix: 'Drop --insecure, and pass the server\'s CA with --ca-file if it is a private one.',
  };
}

/** Assembles the report: `ok`, and one last pass of the redactor over everything. */
export function finishReport(
  parts: { target: ProbeTarget; stages: StageResult[]; findings: Finding[]; transcript?: string[] },
  redactor: Redactor,
): ProbeReport {
  const ok = parts.stages.length > 0 && parts.stages.every((s) => s.ok && !s.skipped) && !parts.findings.some((f) => f.severity === 'error');
  const report: ProbeReport = { target: parts.target, stages: parts.stages, findings: parts.findings, ok };
  if (parts.transcript) report.transcript = parts.transcript;
  return redactor.deep(report);
}

/** The `tls.insecure` finding when asked for, with what the certificate check would have said. */
export function maybeInsecure(opts: ConnectOptions, configPath: string, tlsEvidence: unknown): Finding[] {
  if (!opts.insecure) return [];
  const ev: Record<string, unknown> = {};
  if (tlsEvidence && typeof tlsEvidence === 'object') {
    const t = tlsEvidence as { verified?: boolean; reason?: string; subjectCN?: string | null };
    ev.certificateVerified = t.verified ?? null;
    if (t.reason) ev.wouldFail = t.reason;
    if (t.subjectCN) ev.subjectCN = t.subjectCN;
  }
  return [insecureFinding(configPath, ev)];
}
