/**
 * `--probe injection` (2.x–4.x): authenticate to the calendar server's `/inbox/` exactly as the
 * mail gateway does (src/poll/inject.ts: 2.x unauthenticated first, then Digest/Basic as
 * Scheduling.iMIP.Username; 3.x–4.x the shared secret in `Scheduling.iMIP.Header`), without
 * delivering anything.
 *
 * The request chosen, and why: a POST to `/inbox/` with an EMPTY body and empty `Originator` and
 * `Recipient` headers. The server checks authentication and the /inbox ACL before it looks at the
 * request (`IMIPReplyInboxResource.http_POST` calls `self.authorize(request, (ScheduleDeliver(),))`
 * first; 2.x–4.x twistedcaldav/mail.py), so:
 *   - 401 means the credentials (2.x) or the secret (3.x–4.x) were refused;
 *   - 2.x: 403 to the very first, unauthenticated request means the ACL could not be built:
 *     "iMIP injection principal not found" (the ACL is computed before any challenge);
 *   - 403 after authenticating means this identity (or this host) is not allowed;
 *   - anything else the server answers after authorize (400, or 403 naming a CalDAV precondition
 *     such as `originator-specified` / `valid-calendar-data`) proves the credentials work.
 * Nothing can be delivered: there is no calendar and no recipient. A GET or OPTIONS would prove
 * less: `/inbox/` only grants schedule-deliver, so a read is refused for every identity, and a
 * resource that answers OPTIONS without authentication says nothing about the credentials.
 */
import type { ConnectOptions, ImipSettings } from '../config/settings.js';
import type { ServerVersion } from '../server/release.js';
import { CannotRunError } from '../report/exit.js';
import { loadCaPem } from '../net/net-stage.js';
import type { DiagnoseFinding } from './findings.js';

export type InjectionProbeOutcome = 'ok' | 'credentials' | 'principal-not-found' | 'forbidden' | 'no-endpoint' | 'unreachable' | 'unexpected' | 'not-applicable';

export interface InjectionProbeResult {
  outcome: InjectionProbeOutcome;
  /** The URL probed (no credentials). */
  url: string | null;
  derivedFrom?: string;
  auth: string | null;
  /** The final HTTP status; null when nothing answered. */
  status: number | null;
  /** Each request: how it authenticated and the status. */
  attempts: Array<{ auth: string; status: number | null }>;
  reason?: string;
  /** One sentence for the Injection status line. */
  summary: string;
  ms: number;
  findings: DiagnoseFinding[];
}

/** CalDAV preconditions and texts the scheduler answers after authorize: the credentials passed. */
const CONTENT_REJECTION = /originator|recipient|calendar[- ]data|valid-calendar|supported-calendar|missing|content-type|parse/i;

export async function probeInjection(settings: ImipSettings, version: ServerVersion, conn: ConnectOptions, override?: string): Promise<InjectionProbeResult> {
  const started = Date.now();
  const base = { attempts: [] as Array<{ auth: string; status: number | null }>, findings: [] as DiagnoseFinding[] };
  if (version.line === '5.0+') {
    return {
      ...base,
      outcome: 'not-applicable',
      url: null,
      auth: null,
      status: null,
      summary: `${version.text} injects replies in-process through its work queue: there is no /inbox/ endpoint and no injection user to probe`,
      ms: 0,
    };
  }
  const { injectionTarget, injectCalendar, displayUrl } = await import('../poll/inject.js');
  let target;
  try {
    target = injectionTarget(settings, version, override, { noInjectUrl: true });
  } catch (err) {
    const reason = err instanceof CannotRunError ? err.message : (err as Error).message;
    return {
      ...base,
      outcome: 'unreachable',
      url: null,
      auth: null,
      status: null,
      reason,
      summary: `not probed: ${reason}`,
      ms: Date.now() - started,
      findings: [probeFailed(reason, null)],
    };
  }
  const url = displayUrl(target.url);
  const ca = loadCaPem(conn);
  const res = await injectCalendar(target, { organizer: '', attendee: '' }, '', {
    timeoutMs: conn.timeoutMs,
    ...(ca ? { ca } : {}),
    insecure: conn.insecure,
  });
  const common = { url, derivedFrom: target.derivedFrom, auth: target.auth, status: res.status, attempts: res.attempts, ms: Date.now() - started, ...(res.reason ? { reason: res.reason } : {}) };
  const authenticatedTry = res.attempts.find((a) => a.auth !== 'unauthenticated');
  const who = version.line === '2.x' ? `user "${target.username ?? ''}"` : `the ${target.header ?? 'x-calendarserver-internal'} secret`;
  // The scheme the gateway answered the challenge with (the server's own Digest, or Basic when only that was offered).
  const scheme = authenticatedTry?.auth === 'basic' ? 'Basic' : 'Digest';
  const evidence = { url, derivedFrom: target.derivedFrom, attempts: res.attempts.map((a) => `${a.auth}: ${a.status ?? 'no answer'}`).join(', '), reason: res.reason };

  if (res.status === null) {
    return { ...base, ...common, outcome: 'unreachable', summary: `${url} did not answer: ${res.reason ?? 'no answer'}`, findings: [probeFailed(`${url} did not answer: ${res.reason ?? 'no answer'}`, evidence)] };
  }
  if (res.status === 401) {
    const noUser = version.line === '2.x' && !target.username;
    return {
      ...base,
      ...common,
      outcome: 'credentials',
      summary: noUser ? 'refused (401): Scheduling.iMIP.Username is empty, so the gateway cannot answer the Digest challenge' : `refused (401): the server does not accept ${who}`,
      findings: [
        {
          id: 'injection.credentials-rejected',
          severity: 'error',
          area: 'injection',
          source: 'probe',
          path: 'Scheduling.iMIP.Password',
          message:
            version.line === '2.x'
              ? noUser
                ? `The calendar server at ${url} asked for Digest authentication and the gateway has no user name (Scheduling.iMIP.Username is empty): every reply fails with "authentication required for calendar server".`
                : `The calendar server at ${url} refused ${scheme} authentication as "${target.username}" (401): that user's password in the directory is not Scheduling.iMIP.Password ("could not authenticate user ${target.username} with calendar server").`
              : `The calendar server at ${url} refused the shared secret in the ${target.header} header (401): its Scheduling.iMIP.Password differs from this config's ("Authentication required").`,
          evidence,
          fix:
            version.line === '2.x'
              ? `Set the password of the directory user "${target.username || 'com.apple.calendarserver'}" and Scheduling.iMIP.Password to the same value (on macOS the server reads the System keychain item "${target.username || 'com.apple.calendarserver'}" first), then restart the server.`
              : 'Make the calendar server and the mail gateway read the same Scheduling.iMIP.Password (one caldavd.plist; on macOS check the keychain item com.apple.calendarserver), then restart the server so both processes have it.',
        },
      ],
    };
  }
  if (res.status === 403) {
    const first = res.attempts[0];
    const beforeAuth = version.line === '2.x' && !authenticatedTry && first?.auth === 'unauthenticated';
    if (beforeAuth) {
      const name = target.username || '';
      return {
        ...base,
        ...common,
        outcome: 'principal-not-found',
        summary: `403 before any challenge: the server has no injection principal (its directory has no user "${name}")`,
        findings: [
          {
            id: 'injection.principal-not-found',
            severity: 'error',
            area: 'injection',
            source: 'probe',
            path: 'Scheduling.iMIP.Username',
            message: `The calendar server at ${url} refused the gateway's first request with 403 before asking for credentials: the /inbox ACL could not be built, which is what "iMIP injection principal not found" means (the server's directory has no \`users\` record for its Scheduling.iMIP.Username${name ? `, "${name}" in this config` : ''}).`,
            evidence,
            fix: `Create the user "${name || 'com.apple.calendarserver'}" in the server's directory with the password in Scheduling.iMIP.Password (or set Username to an existing user), then restart the server.`,
          },
        ],
      };
    }
    if (!CONTENT_REJECTION.test(res.reason ?? '')) {
      const hostRule = /mail gateway/i.test(res.reason ?? '');
      return {
        ...base,
        ...common,
        outcome: 'forbidden',
        summary: hostRule ? 'authenticated, then refused (403): this host is not MailGatewayServer' : 'authenticated, then refused (403): this identity may not deliver to /inbox/',
        findings: [
          {
            id: 'injection.not-allowed',
            severity: 'error',
            area: 'injection',
            source: 'probe',
            path: hostRule ? 'Scheduling.iMIP.MailGatewayServer' : 'Scheduling.iMIP.Username',
            message: hostRule
              ? `The calendar server at ${url} accepted the credentials but refused the request (403 "Remote server must be the mail gateway"): the reverse DNS of this host is not MailGatewayServer.`
              : version.line === '2.x'
                ? `The calendar server at ${url} authenticated "${target.username}" but refused it (403): its /inbox ACL names another user, so it runs with another Scheduling.iMIP.Username (another config, or it was not restarted).`
                : `The calendar server at ${url} accepted the secret but refused the request (403): the principal the header maps to (Scheduling.iMIP.GUID) is not the one its /inbox ACL grants, so it runs with another config.`,
            evidence,
            fix: hostRule
              ? 'Run the probe on the mail gateway host, or set MailGatewayServer to the name this host\'s address resolves to.'
              : 'Make the calendar server and the gateway read the same caldavd.plist (Username, Password, GUID) and restart the server.',
          },
        ],
      };
    }
  }
  if (res.status === 404 || res.status === 405) {
    const reason = `${url} answered ${res.status}: there is no iMIP /inbox/ there (iMIP not enabled on that server, or the URL derived from the config is not the server's)`;
    return { ...base, ...common, outcome: 'no-endpoint', summary: reason, findings: [probeFailed(reason, evidence)] };
  }
  if (res.ok || (res.status >= 400 && res.status < 500) || (res.status === 403 && CONTENT_REJECTION.test(res.reason ?? ''))) {
    return {
      ...base,
      ...common,
      outcome: 'ok',
      summary: `authenticated as the gateway does (${version.line === '2.x' ? `${authenticatedTry?.auth ?? 'no challenge'} as "${target.username}"` : `${target.header} secret`}); the empty request was then refused for its content (${res.status}), as intended`,
    };
  }
  const reason = `${url} answered ${res.status}${res.reason ? ` (${res.reason})` : ''}`;
  return { ...base, ...common, outcome: 'unexpected', summary: reason, findings: [probeFailed(reason, evidence)] };
}

function probeFailed(reason: string, evidence: Record<string, unknown> | null): DiagnoseFinding {
  return {
    id: 'injection.probe-failed',
    severity: 'warning',
    area: 'injection',
    source: 'probe',
    path: 'Scheduling.iMIP',
    message: `The injection probe could not judge the credentials: ${reason}.`,
    evidence: evidence ?? {},
    fix: 'Check that the calendar server runs and listens where the gateway posts (host from MailGatewayServer/ServerHostName, port from HTTPPort/SSLPort/EnableSSL), and that iMIP is enabled in the config it reads.',
  };
}
