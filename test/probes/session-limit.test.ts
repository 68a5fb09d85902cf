/**
 * A login refused because the account has too many sessions open is not a password problem. A
 * real Dovecot with mail_max_userip_connections = 1 answers the second login
 * "NO [LIMIT] Maximum number of connections from user+IP exceeded"; test-mailbox must say so and
 * name the sessions Calendar Server leaves open (CalendarServer-7.0..9.2 inbound.py
 * `fetchNextMessage` ends with EXPUNGE and no LOGOUT), not send the admin to the password.
 */
import { ImapFlow } from 'imapflow';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, jsonOf } from '../helpers/cli.js';
import { config, writeConfig } from '../fixtures/diagnose/helpers.js';
import { freePortOffset, startStack, stopStack, type StackInfo } from '../mailstack/stack.js';

const CAL = { address: 'cal-limit@example.test', password: 'Cal-limit-pw-7731' };

let stack: StackInfo;
let cfgPath: string;

beforeAll(async () => {
  stack = await startStack({ portOffset: await freePortOffset(30000, process.pid % 20, 20), users: [CAL], maxUserIp: 1 });
  cfgPath = writeConfig(
    config('9.2', {
      'Scheduling.iMIP.Receiving.Server': stack.host,
      'Scheduling.iMIP.Receiving.Port': stack.ports.imaps,
      'Scheduling.iMIP.Receiving.UseSSL': true,
      'Scheduling.iMIP.Receiving.Username': CAL.address,
      'Scheduling.iMIP.Receiving.Password': CAL.password,
    }),
  );
}, 60_000);

afterAll(async () => {
  if (stack) await stopStack(stack, { remove: true });
}, 60_000);

describe('test-mailbox when the account has no session left', () => {
  it('says the session limit, on the account, with the sessions Calendar Server leaves open; the same login passes once the other session is gone', async () => {
    const held = new ImapFlow({
      host: stack.host,
      port: stack.ports.imaps,
      secure: true,
      tls: { ca: readFileSync(stack.ca) },
      auth: { user: CAL.address, pass: CAL.password },
      logger: false,
    });
    await held.connect();
    try {
      const r = await runCli(['test-mailbox', '--config', cfgPath, '--ca-file', stack.ca, '--json']);
      expect(r.code).toBe(1);
      const f = (jsonOf(r) as { findings: { id: string; path: string; message: string; fix: string; evidence: Record<string, unknown> }[] }).findings.find((x) => x.id === 'mailbox.login-failed')!;
      expect(f.path).toBe('Scheduling.iMIP.Receiving.Username');
      expect(f.evidence).toMatchObject({ sessionLimit: true });
      expect(f.message).toMatch(/refused another session for cal-limit@example\.test \(too many open, not the password\): .*Maximum number of connections from user\+IP exceeded/);
      expect(f.fix).toMatch(/from 7\.0 after every poll that read mail \(it expunges and never logs out\)/);
      expect(f.fix).not.toMatch(/Check Scheduling\.iMIP\.Receiving\.Password/);
    } finally {
      await held.logout();
    }
    const ok = await runCli(['test-mailbox', '--config', cfgPath, '--ca-file', stack.ca]);
    expect(ok.code, ok.stdout + ok.stderr).toBe(0);
  }, 60_000);
});
