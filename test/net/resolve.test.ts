/**
 * The resolve stage's first step: an address given as the server name is used as it is, with its
 * family, and a name goes to the system resolver. The first test of a process takes a path of its
 * own (src/net/connect.ts ipFamily), so this file starts with an IPv6 literal.
 */
import { describe, expect, it } from 'vitest';
import { ipFamily, resolveHost } from '../../src/net/connect.js';
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

describe('ipFamily', () => {
  it('is net.isIP: 4, 6, or 0 for a name, whatever came before', () => {
    for (const [host, family] of [['192.0.2.1', 4], ['2001:db8::1', 6], ['::ffff:192.0.2.1', 6], ['mail.example.com', 0], ['1.2.3', 0], ['face:b00c', 0], ['', 0]] as const) {
      expect(ipFamily(host), host).toBe(family);
    }
  });
});
