/**
 * The resolve stage's first step: an address given as the server name is used as it is, with its
 * family, and a name goes to the system resolver. The first test of a process takes a path of its
 * own (src/net/connect.ts ipFamily), so this file starts with an IPv6 literal.
 */
import { describe, expect, it } from 'vitest';
import { ipFamily, resolveHost, usableAddresses } from '../../src/net/connect.js';
import { StageError } from '../../src/net/errors.js';
import { addressRule, mailClientsFor } from '../../src/server/mail-clients.js';
import { parseServerVersion } from '../../src/server/release.js';
import type { StageScope } from '../../src/net/stage.js';

function scope(): StageScope {
  return { evidence: {}, signal: new AbortController().signal, deadline: Date.now() + 5000, remaining: () => 5000, mark: () => undefined } as unknown as StageScope;
}

describe('resolveHost', () => {
  it('takes an IPv6 literal as the address, on the first test of the process and after it', async () => {
    const s = scope();
    expect(await resolveHost('fe80::1%lo', s)).toEqual([{ address: 'fe80::1%lo', family: 6 }]);
    expect(s.evidence).toMatchObject({ host: 'fe80::1%lo', addresses: ['fe80::1%lo'], literal: true });
    expect(await resolveHost('::1', scope())).toEqual([{ address: '::1', family: 6 }]);
  });

  it('takes an IPv4 literal as the address', async () => {
    expect(await resolveHost('127.0.0.1', scope())).toEqual([{ address: '127.0.0.1', family: 4 }]);
  });

  it('asks the system resolver for a name (localhost is in every hosts file)', async () => {
    const s = scope();
    const all = await resolveHost('localhost', s);
    expect(all.length).toBeGreaterThan(0);
    for (const a of all) expect(['127.0.0.1', '::1']).toContain(a.address);
    expect(s.evidence.literal).toBeUndefined();
  });
});

describe('the addresses each release connects to', () => {
  const rule = (v: string, side: 'sending' | 'receiving') => addressRule(mailClientsFor(parseServerVersion(v)), side);
  const answer = [
    { address: '2001:db8::1', family: 6 },
    { address: '192.0.2.1', family: 4 },
    { address: '192.0.2.2', family: 4 },
  ];

  it('2.x-3.x: gethostbyname, the first IPv4 address only, for both clients', () => {
    for (const v of ['2.5', '3.0', '3.3']) {
      for (const side of ['sending', 'receiving'] as const) expect(usableAddresses(answer, rule(v, side).addressing), `${v} ${side}`).toEqual([answer[1]]);
    }
  });

  it('4.x: the sender tries every IPv4 address (GAIEndpoint on an IPv4-only Twisted), the poller only the first', () => {
    expect(usableAddresses(answer, rule('4.3', 'sending').addressing)).toEqual([answer[1], answer[2]]);
    expect(usableAddresses(answer, rule('4.1', 'receiving').addressing)).toEqual([answer[1]]);
  });

  it('5.0 and later: every address, IPv6 first when the resolver says so', () => {
    for (const v of ['5.0', '7.1', '9.2']) for (const side of ['sending', 'receiving'] as const) expect(usableAddresses(answer, rule(v, side).addressing)).toEqual(answer);
  });

  it('an IPv6 address as Server fails the resolve stage on 2.x-4.x, naming why; 5.0 connects to it', async () => {
    const s = scope();
    const err = await resolveHost('::1', s, 'Scheduling.iMIP.Sending.Server', rule('4.3', 'sending')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StageError);
    expect((err as StageError).kind).toBe('dns');
    expect((err as StageError).message).toBe('::1 is an IPv6 address, and Calendar Server 4.x connects over IPv4 only: it looks ::1 up as a host name, which fails');
    expect((err as StageError).hint).toMatch(/^Give Scheduling\.iMIP\.Sending\.Server a host name with an IPv4 address/);
    expect(await resolveHost('::1', scope(), 'x', rule('5.0', 'sending'))).toEqual([{ address: '::1', family: 6 }]);
  });

  it('an IPv4 address is used as it is on every release', async () => {
    for (const v of ['2.5', '4.3', '9.2']) expect(await resolveHost('127.0.0.1', scope(), 'x', rule(v, 'receiving'))).toEqual([{ address: '127.0.0.1', family: 4 }]);
  });
});

describe('ipFamily', () => {
  it('is net.isIP: 4, 6, or 0 for a name, whatever came before', () => {
    for (const [host, family] of [['192.0.2.1', 4], ['2001:db8::1', 6], ['::ffff:192.0.2.1', 6], ['mail.example.com', 0], ['1.2.3', 0], ['face:b00c', 0], ['', 0]] as const) {
      expect(ipFamily(host), host).toBe(family);
    }
  });
});
