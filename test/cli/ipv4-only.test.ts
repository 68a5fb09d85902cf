/**
 * 2.x-4.x connect to mail servers over IPv4 only (src/server/mail-clients.ts `Addressing`): an
 * IPv6 address as Server stops their sender and their poller before any connection. The tool's
 * connection tests stop at the same point, say why once (the config rule's id), and open nothing:
 * no server is needed here.
 */
import { describe, expect, it } from 'vitest';
import { jsonOf, runCli } from '../helpers/cli.js';
import { baseConfig, tempDir, withChange, writePlist } from '../helpers/plist.js';

const I = 'Scheduling.iMIP';

function v6Config(version: string): string {
  let c = baseConfig(version);
  c = withChange(c, `${I}.Sending.Server`, '::1');
  c = withChange(c, `${I}.Receiving.Server`, '::1');
  return writePlist(tempDir(), 'caldavd.plist', c, 0o600);
}

const ids = (doc: { findings: Array<{ id: string }> }) => doc.findings.map((f) => f.id);

describe('an IPv6 address as Server on an IPv4-only release', () => {
  it('test-smtp on 4.3 stops at the resolve stage with the config rule\'s finding', async () => {
    const r = await runCli(['test-smtp', '--config', v6Config('4.3'), '--server-version', '4.3', '--json', '--timeout', '3']);
    expect(r.code).toBe(1);
    const doc = jsonOf(r);
    expect(ids(doc)).toEqual(['sending.server-ipv6-address']);
    expect(doc.findings[0].message).toBe(
      'Sending.Server is the IPv6 address ::1. Calendar Server 4.x connects to mail servers over IPv4 only: it looks ::1 up as a host name, the lookup fails, and no invitation goes out.',
    );
    expect(doc.stages.map((s: { stage: string; ok: boolean }) => [s.stage, s.ok])[0]).toEqual(['resolve', false]);
    expect(doc.stages.find((s: { stage: string }) => s.stage === 'connect')?.ok ?? false).toBe(false);
  });

  it('test-mailbox on 2.5 says the same for the poller', async () => {
    const r = await runCli(['test-mailbox', '--config', v6Config('2.5'), '--server-version', '2.5', '--json', '--timeout', '3']);
    expect(r.code).toBe(1);
    const doc = jsonOf(r);
    expect(ids(doc)).toEqual(['receiving.server-ipv6-address']);
    expect(doc.findings[0].message).toMatch(/^Receiving\.Server is the IPv6 address ::1\. Calendar Server 2\.x to 3\.x connects .* no reply is read\.$/);
  });

  it('check-config --connect says each once, from the config rules', async () => {
    const r = await runCli(['check-config', '--config', v6Config('4.3'), '--server-version', '4.3', '--connect', '--json', '--timeout', '3']);
    expect(r.code).toBe(1);
    const found = ids(jsonOf(r));
    expect(found.filter((id) => id === 'sending.server-ipv6-address')).toHaveLength(1);
    expect(found.filter((id) => id === 'receiving.server-ipv6-address')).toHaveLength(1);
  });
});
