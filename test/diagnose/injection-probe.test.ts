/** `--probe injection` against the test double of the 2.x and 3.x–4.x /inbox/ endpoint. */
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { probeInjection } from '../../src/diagnose/injection-probe.js';
import { loadForCommand } from '../../src/commands/shared.js';
import { startInboxDouble, type InboxDouble, type InboxDoubleOptions } from '../doubles/inbox-server.js';
import { config, ids, runDiagnose, writeConfig } from '../fixtures/diagnose/helpers.js';

const SECRET = 'gateway-secret-3'; // baseConfig's Scheduling.iMIP.Password
const doubles: InboxDouble[] = [];
afterEach(async () => {
  await Promise.all(doubles.splice(0).map((d) => d.close()));
});

async function start(o: InboxDoubleOptions): Promise<InboxDouble> {
  const d = await startInboxDouble(o);
  doubles.push(d);
  return d;
}

/** The config pointing the gateway's injection URL at the double (host from ServerHostName). */
function pointedAt(version: string, port: number, changes: Record<string, unknown> = {}) {
  return config(version, { ServerHostName: '127.0.0.1', 'Scheduling.iMIP.MailGatewayServer': '127.0.0.1', HTTPPort: port, ...changes });
}

async function probe(version: string, d: { port: number }, changes: Record<string, unknown> = {}) {
  const { ctx } = await loadForCommand({ config: writeConfig(pointedAt(version, d.port, changes)), serverVersion: version });
  return probeInjection(ctx.settings, ctx.version, { timeoutMs: 3000, insecure: false });
}

describe('injection probe, 2.x (Digest as Scheduling.iMIP.Username)', () => {
  it('ok: authenticates as the gateway does, and delivers nothing', async () => {
    const d = await start({ line: '2.x', directory: { 'caldav-gateway': SECRET }, injectionUser: 'caldav-gateway' });
    const r = await probe('2.5', d);
    expect(r).toMatchObject({ outcome: 'ok', url: `http://127.0.0.1:${d.port}/inbox/`, auth: 'digest-user', findings: [] });
    expect(r.attempts).toEqual([
      { auth: 'unauthenticated', status: 401 },
      { auth: 'digest', status: 400 },
    ]);
    expect(d.requests.map((q) => q.authenticatedAs)).toEqual([null, 'caldav-gateway']);
    expect(d.accepted()).toEqual([]);
    expect(d.requests.every((q) => q.body === '')).toBe(true);
  });

  it('401: the password is not the directory user\'s → injection.credentials-rejected', async () => {
    const d = await start({ line: '2.x', directory: { 'caldav-gateway': 'another-password' }, injectionUser: 'caldav-gateway' });
    const r = await probe('2.5', d);
    expect(r.outcome).toBe('credentials');
    expect(r.findings.map((f) => f.id)).toEqual(['injection.credentials-rejected']);
    expect(r.findings[0]!.message).toMatch(/refused Digest authentication as "caldav-gateway" \(401\)/);
    expect(JSON.stringify(r)).not.toContain(SECRET);
  });

  it('401 to Basic (only Basic offered): the finding names Basic, the scheme tried, not Digest', async () => {
    const d = await start({ line: '2.x', directory: { 'caldav-gateway': 'another-password' }, injectionUser: 'caldav-gateway', basicOnly: true });
    const r = await probe('2.5', d);
    expect(r.attempts).toEqual([
      { auth: 'unauthenticated', status: 401 },
      { auth: 'basic', status: 401 },
    ]);
    expect(r.findings.map((f) => f.id)).toEqual(['injection.credentials-rejected']);
    expect(r.findings[0]!.message).toMatch(/refused Basic authentication as "caldav-gateway" \(401\)/);
    expect(r.findings[0]!.message).not.toMatch(/Digest/);
  });

  it('HTTPPort 0: says what diagnose accepts (--set HTTPPort=…), not --inject-url, which only poll has', async () => {
    const r = await probe('2.5', { port: 0 }, { SSLPort: 0 });
    expect(r.outcome).toBe('unreachable');
    expect(r.summary).toMatch(/HTTPPort is 0 .*give --set HTTPPort=8008 for this run/);
    expect(JSON.stringify(r)).not.toContain('--inject-url');
  });

  it('401 with Username empty: no user to answer the challenge', async () => {
    const d = await start({ line: '2.x', directory: { 'caldav-gateway': SECRET }, injectionUser: 'caldav-gateway' });
    const r = await probe('2.5', d, { 'Scheduling.iMIP.Username': '' });
    expect(r.outcome).toBe('credentials');
    expect(r.findings[0]!.message).toMatch(/Username is empty/);
  });

  it('403 before any challenge: the server has no injection principal → injection.principal-not-found', async () => {
    const d = await start({ line: '2.x', directory: { admin: 'admin' }, injectionUser: 'com.apple.calendarserver' });
    const r = await probe('2.5', d, { 'Scheduling.iMIP.Username': undefined });
    expect(r.outcome).toBe('principal-not-found');
    expect(r.findings.map((f) => f.id)).toEqual(['injection.principal-not-found']);
    expect(d.log).toEqual(['iMIP injection principal not found: com.apple.calendarserver']);
  });

  it('403 after authenticating: the server\'s ACL names another user → injection.not-allowed', async () => {
    const d = await start({ line: '2.x', directory: { 'caldav-gateway': SECRET, 'com.apple.calendarserver': 'x' }, injectionUser: 'com.apple.calendarserver' });
    const r = await probe('2.5', d);
    expect(r.outcome).toBe('forbidden');
    expect(r.findings.map((f) => f.id)).toEqual(['injection.not-allowed']);
    expect(r.findings[0]!.message).toMatch(/its \/inbox ACL names another user/);
  });
});

describe('injection probe, 3.x–4.x (the shared-secret header)', () => {
  it('ok with the same secret, 401 with another', async () => {
    const good = await start({ line: '3.x-4.x', secret: SECRET });
    const ok = await probe('4.3', good);
    expect(ok).toMatchObject({ outcome: 'ok', auth: 'shared-secret-header', attempts: [{ auth: 'header', status: 400 }] });
    expect(good.accepted()).toEqual([]);
    expect(good.requests[0]!.authenticatedAs).toBe('header');

    const bad = await start({ line: '3.x-4.x', secret: 'the-server-has-another' });
    const r = await probe('4.3', bad);
    expect(r.outcome).toBe('credentials');
    expect(r.findings[0]).toMatchObject({ id: 'injection.credentials-rejected', severity: 'error' });
    expect(r.findings[0]!.message).toMatch(/refused the shared secret in the x-calendarserver-internal header/);
  });

  it('a custom Header is used', async () => {
    const d = await start({ line: '3.x-4.x', header: 'x-imip-secret', secret: SECRET });
    expect((await probe('4.3', d, { 'Scheduling.iMIP.Header': 'x-imip-secret' })).outcome).toBe('ok');
  });
});

describe('injection probe: nothing to judge', () => {
  it('a port where nothing listens → injection.probe-failed', async () => {
    const srv = net.createServer();
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as net.AddressInfo).port;
    await new Promise<void>((r) => srv.close(() => r()));
    const r = await probe('4.3', { port });
    expect(r.outcome).toBe('unreachable');
    expect(r.findings.map((f) => [f.id, f.severity])).toEqual([['injection.probe-failed', 'warning']]);
  });

  it('5.0+: not applicable', async () => {
    const r = await probe('9.2', { port: 1 });
    expect(r).toMatchObject({ outcome: 'not-applicable', findings: [] });
  });
});

describe('diagnose --probe injection', () => {
  it('reports the probe in the Injection area, with the log and config causes', async () => {
    const d = await start({ line: '3.x-4.x', secret: 'the-server-has-another' });
    const r = await runDiagnose({ version: '4.3', cfg: pointedAt('4.3', d.port), probe: 'injection' });
    expect(ids(r, 'injection.')).toEqual(['injection.credentials-rejected']);
    expect(r.probes.injection).toMatchObject({ outcome: 'credentials', status: 401 });
    const area = r.areas.find((a) => a.area === 'injection')!;
    expect(area.status).toBe('error');
    expect(area.summary).toMatch(/probe: refused \(401\)/);
  });

  it('healthy: the Injection area is ok', async () => {
    const d = await start({ line: '2.x', directory: { 'caldav-gateway': SECRET }, injectionUser: 'caldav-gateway' });
    const r = await runDiagnose({ version: '2.5', cfg: pointedAt('2.5', d.port), probe: 'injection' });
    expect(ids(r, 'injection.')).toEqual([]);
    expect(r.areas.find((a) => a.area === 'injection')).toMatchObject({ status: 'ok' });
    expect(r.areas.find((a) => a.area === 'injection')!.summary).toMatch(/probe: authenticated as the gateway does \(digest as "caldav-gateway"\)/);
  });
});
