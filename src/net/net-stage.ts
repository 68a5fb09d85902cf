/**
 * The machinery the probes share, in one import: the stage runner (stage.ts), errors in plain
 * words (errors.ts), resolve and connect (connect.ts), TLS (tls-handshake.ts) and the sniff of a
 * port's TLS mode (port-mode.ts).
 */
export { StageError, isStageError, secondsText, toStageError, type FailureKind } from './errors.js';
export { Redactor, StageRunner, elapsed, nowMs, type StageFailure, type StageOptions, type StageScope } from './stage.js';
export { checkPort, connectTcp, resolveHost, usableAddresses, type AddressRule, type Endpoint, type ResolvedAddress } from './connect.js';
export { detectImplicitTls, sniffDelay, waitExplainingSilence, type PortMode, type PortModeResult } from './port-mode.js';
export {
  versionOptions,
  enforceCertificate,
  implicitTlsStage,
  loadCaPem,
  runContext,
  tlsHandshake,
  tlsTimeout,
  type HandshakeOptions,
  type ImplicitTlsOptions,
  type OfferedVersions,
} from './tls-handshake.js';
