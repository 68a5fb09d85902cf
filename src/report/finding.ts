/**
 * The one data shape every check, probe and classifier returns. Human and JSON output are both
 * rendered from these, so an id seen on screen is the id a script can match on.
 */
export type Severity = 'error' | 'warning' | 'info';

export interface Finding {
  /** Stable id, such as `sending.implicit-tls-port`. Part of the public contract. */
  id: string;
  severity: Severity;
  /** Dotted config path or message part the finding is about, such as `Scheduling.iMIP.Sending.Port`. */
  path: string;
  message: string;
  /** Values and where they came from. Never a password. */
  evidence: Record<string, unknown>;
  /** The concrete change to make. */
  fix: string;
}

export const SEVERITY_ORDER: Record<Severity, number> = { error: 0, warning: 1, info: 2 };

export function bySeverity(a: Finding, b: Finding): number {
  return SEVERITY_ORDER[a.severity] - SEVERITY_ORDER[b.severity] || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/**
 * A test that says again what a config rule said (the same id about the same setting, such as
 * 5.0's POP3 reader from both check-config and the mailbox checks): kept only where said first.
 */
export function notSaidBy(said: readonly Finding[]): (f: Finding) => boolean {
  const keys = new Set(said.map((f) => `${f.id} ${f.path}`));
  return (f) => !keys.has(`${f.id} ${f.path}`);
}

/**
 * Config rules whose cause a connection test states with what it saw: 9.x's IP address as Server
 * (`*.server-ip-address`) and the test's `*.certificate-name-mismatch` on the same Server, which
 * names the certificate's names too. Where the test said it, the rule's finding is left out.
 */
const SAID_BY_TEST: Readonly<Record<string, string>> = {
  'sending.server-ip-address': 'smtp.certificate-name-mismatch',
  'receiving.server-ip-address': 'mailbox.certificate-name-mismatch',
};

export function notSupersededBy(tests: readonly Finding[]): (f: Finding) => boolean {
  const keys = new Set(tests.map((f) => `${f.id} ${f.path}`));
  return (f) => {
    const by = SAID_BY_TEST[f.id];
    return !by || !keys.has(`${by} ${f.path}`);
  };
}

export function hasErrors(findings: readonly Finding[]): boolean {
  return findings.some((f) => f.severity === 'error');
}

export function countBySeverity(findings: readonly Finding[]): Record<Severity, number> {
  const counts: Record<Severity, number> = { error: 0, warning: 0, info: 0 };
  for (const f of findings) counts[f.severity]++;
  return counts;
}

/** Findings of one id listed one by one; past that, one finding counts the rest (checks/index.ts). */
export const LISTED_PER_ID = 100;
