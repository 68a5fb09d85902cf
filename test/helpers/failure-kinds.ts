/** Every stage failure kind, for tests that check each kind gets a finding. */
import type { FailureKind } from '../../src/net/errors.js';

// A record, so the compiler checks the list is complete: a kind added later must be listed here.
const KINDS: Record<FailureKind, true> = {
  config: true,
  dns: true,
  refused: true,
  unreachable: true,
  timeout: true,
  closed: true,
  tls: true,
  certificate: true,
  'tls-mismatch': true,
  'starttls-missing': true,
  protocol: true,
  rejected: true,
  auth: true,
  'basic-auth-disabled': true,
  'auth-not-offered': true,
  'cleartext-login': true,
  'in-use': true,
  'tls10-refused': true,
  'certificate-name': true,
  'auth-mechanism': true,
  internal: true,
};

export const FAILURE_KINDS = Object.keys(KINDS) as FailureKind[];
