/**
 * AddressPatterns as send-test applies them (as `DeliveryService.matchCalendarUserAddress` does):
 * the attendee is compared as `mailto:<attendee>`, with Python's `re.match` (anchored at the start
 * only, no flags), lower-cased first from 3.0 on; the first pattern that matches wins; a pattern
 * that does not compile is skipped. One table, then the same rule through the CLI (a dry run: no
 * network).
 */
import { describe, expect, it } from 'vitest';
import { matchAddressPatterns } from '../../src/server/patterns.js';
import { featuresOf, parseServerVersion } from '../../src/server/release.js';
import { runCli, jsonOf } from '../helpers/cli.js';
import { baseConfig, tempDir, withChange, writePlist } from '../helpers/plist.js';

interface Case {
  name: string;
  patterns: string[];
  attendee: string;
  release: string;
  /** The pattern that routes the attendee to iMIP, or null. */
  matched: string | null;
}

const CASES: Case[] = [
  { name: 'the sample config\'s catch-all', patterns: ['mailto:.*'], attendee: 'bob@example.com', release: '9.2', matched: 'mailto:.*' },
  { name: 'a domain pattern', patterns: ['mailto:.*@example\\.com'], attendee: 'bob@example.com', release: '9.2', matched: 'mailto:.*@example\\.com' },
  { name: 'another domain', patterns: ['mailto:.*@example\\.com'], attendee: 'bob@example.org', release: '9.2', matched: null },
  {
    name: 'anchored at the start only: a longer domain still matches',
    patterns: ['mailto:.*@example\\.com'],
    attendee: 'bob@example.com.attacker.test',
    release: '9.2',
    matched: 'mailto:.*@example\\.com',
  },
  { name: '$ anchors the end when written', patterns: ['mailto:.*@example\\.com$'], attendee: 'bob@example.com.attacker.test', release: '9.2', matched: null },
  { name: 'not a search: a pattern without mailto: at its start', patterns: ['@example\\.com'], attendee: 'bob@example.com', release: '9.2', matched: null },
  { name: '.* covers the scheme', patterns: ['.*@example\\.com'], attendee: 'bob@example.com', release: '9.2', matched: '.*@example\\.com' },
  { name: '3.0+: the address is lower-cased first', patterns: ['mailto:bob@example\\.com'], attendee: 'Bob@Example.COM', release: '4.3', matched: 'mailto:bob@example\\.com' },
  { name: '3.0+: an upper-case pattern never matches', patterns: ['mailto:.*@Example\\.com'], attendee: 'bob@Example.com', release: '9.2', matched: null },
  { name: '2.x: compared as written, case-sensitive', patterns: ['mailto:.*@Example\\.com'], attendee: 'bob@Example.com', release: '2.5', matched: 'mailto:.*@Example\\.com' },
  { name: '2.x: a lower-case pattern misses a capitalised address', patterns: ['mailto:.*@example\\.com'], attendee: 'bob@Example.com', release: '2.5', matched: null },
  { name: 'no flags: a pattern (?i) turns case folding on', patterns: ['(?i)mailto:.*@EXAMPLE\\.com'], attendee: 'bob@example.com', release: '9.2', matched: '(?i)mailto:.*@EXAMPLE\\.com' },
  { name: 'the first pattern that matches wins', patterns: ['mailto:.*@other\\.test', 'mailto:bob@.*', 'mailto:.*'], attendee: 'bob@example.com', release: '9.2', matched: 'mailto:bob@.*' },
  { name: 'an invalid pattern is skipped, the next one used', patterns: ['mailto:(', 'mailto:.*'], attendee: 'bob@example.com', release: '9.2', matched: 'mailto:.*' },
  { name: 'empty: nobody is invited by mail', patterns: [], attendee: 'bob@example.com', release: '9.2', matched: null },
  { name: 'a Python named group', patterns: ['mailto:(?P<user>[a-z]+)@example\\.com'], attendee: 'bob@example.com', release: '9.2', matched: 'mailto:(?P<user>[a-z]+)@example\\.com' },
];

describe('AddressPatterns, as send-test matches the attendee', () => {
  for (const c of CASES) {
    it(`${c.name} (${c.release})`, () => {
      const v = parseServerVersion(c.release);
      const verdict = matchAddressPatterns(c.patterns, `mailto:${c.attendee}`, featuresOf(v).patternsLowercase);
      expect(verdict.matched).toBe(c.matched);
    });
  }

  it('reports the invalid patterns it skipped', () => {
    expect(matchAddressPatterns(['mailto:(', 'mailto:[a-'], 'mailto:bob@example.com', true)).toEqual({ compared: 'mailto:bob@example.com', matched: null, invalid: ['mailto:(', 'mailto:[a-'] });
  });
});

describe('AddressPatterns through the CLI (dry run)', () => {
  async function dryRun(patterns: string[], attendee: string, release: string, extra: string[] = []) {
    const cfg = writePlist(tempDir(), 'caldavd.plist', withChange(baseConfig(release), 'Scheduling.iMIP.AddressPatterns', patterns));
    const r = await runCli(['send-test', '--config', cfg, '--to', attendee, '--dry-run', '--json', '--server-version', release, ...extra]);
    return { code: r.code, doc: jsonOf(r) };
  }

  it('the same upper-case pattern routes on 2.5 and refuses on 9.2', async () => {
    const old = await dryRun(['mailto:.*@Example\\.com'], 'bob@Example.com', '2.5');
    expect(old.code).toBe(0);
    expect(old.doc.routing).toMatchObject({ compared: 'mailto:bob@Example.com', matched: 'mailto:.*@Example\\.com' });
    const now = await dryRun(['mailto:.*@Example\\.com'], 'bob@Example.com', '9.2');
    expect(now.code).toBe(1);
    expect(now.doc.routing).toMatchObject({ compared: 'mailto:bob@example.com', matched: null });
    const f = now.doc.findings.find((x: { id: string }) => x.id === 'send-test.attendee-not-routed');
    expect(f.message).toMatch(/upper-case letters never match a lower-cased address/);
    expect(f.evidence).toMatchObject({ patterns: ['mailto:.*@Example\\.com'], lowercased: true });
  });

  it('a mailto: prefix on --to is the same attendee', async () => {
    const r = await dryRun(['mailto:bob@example\\.com'], 'MAILTO:bob@example.com', '9.2');
    expect(r.code).toBe(0);
    expect(r.doc.attendee).toBe('bob@example.com');
  });

  it('empty AddressPatterns: refused, with --force only a warning', async () => {
    const refused = await dryRun([], 'bob@example.com', '9.2');
    expect(refused.code).toBe(1);
    expect(refused.doc.findings[0].message).toMatch(/AddressPatterns is empty/);
    const forced = await dryRun([], 'bob@example.com', '9.2', ['--force']);
    expect(forced.code).toBe(0);
    expect(forced.doc.findings[0]).toMatchObject({ id: 'send-test.attendee-not-routed', severity: 'warning' });
  });
});
