/**
 * The server host's time zone as the server's Python reads it (time.tzname; python-dateutil's
 * tzlocal), from TZ or /etc/localtime: src/server/host-zone.ts.
 */
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ruleNames, thisMachineZone, UTC_HOST, zoneFileNames } from '../../src/server/host-zone.js';

/** A TZif file (RFC 8536): version, the types (utoff, isdst, abbreviation), and for version 2 a footer rule. */
function tzif(version: '\0' | '2', types: Array<[number, boolean, string]>, footer?: string): Buffer {
  const chars = Buffer.from(types.map((t) => `${t[2]}\0`).join(''), 'latin1');
  const block = (): Buffer => {
    const header = Buffer.alloc(44);
    header.write('TZif', 0, 'latin1');
    header.write(version, 4, 'latin1');
    header.writeUInt32BE(types.length, 36);
    header.writeUInt32BE(chars.length, 40);
    const ttinfo = Buffer.alloc(types.length * 6);
    let abbr = 0;
    types.forEach(([utoff, isdst, name], i) => {
      ttinfo.writeInt32BE(utoff, i * 6);
      ttinfo[i * 6 + 4] = isdst ? 1 : 0;
      ttinfo[i * 6 + 5] = abbr;
      abbr += name.length + 1;
    });
    return Buffer.concat([header, ttinfo, chars]);
  };
  return version === '2' ? Buffer.concat([block(), block(), Buffer.from(`\n${footer ?? ''}\n`, 'latin1')]) : block();
}

const noFile = (): Buffer => {
  throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
};

describe('the zone names Python takes for the host (time.tzname)', () => {
  it("a POSIX rule's standard and daylight names; one name twice without daylight time", () => {
    expect(ruleNames('CET-1CEST,M3.5.0,M10.5.0/3')).toEqual(['CET', 'CEST']);
    expect(ruleNames('EST5EDT')).toEqual(['EST', 'EDT']);
    expect(ruleNames('JST-9')).toEqual(['JST', 'JST']);
    expect(ruleNames('<-03>3')).toEqual(['-03', '-03']);
    expect(ruleNames('UTC0')).toEqual(['UTC', 'UTC']);
    expect(ruleNames('Europe/Paris')).toBeNull();
  });

  it('a zone file: its footer rule from version 2, else the abbreviations of its types', () => {
    expect(zoneFileNames(tzif('2', [[0, false, 'LMT']], 'CET-1CEST,M3.5.0,M10.5.0/3'))).toEqual(['CET', 'CEST']);
    expect(zoneFileNames(tzif('\0', [[-18000, false, 'EST'], [-14400, true, 'EDT']]))).toEqual(['EST', 'EDT']);
    expect(zoneFileNames(Buffer.from('not a zone file at all, but long enough to be read'))).toBeNull();
  });

  it('read where glibc reads it: TZ (a zone name, a file, a rule, empty), else /etc/localtime', () => {
    const paris = tzif('2', [[3600, false, 'CET']], 'CET-1CEST,M3.5.0,M10.5.0/3');
    const files = (want: string) => (file: string): Buffer => (file === want ? paris : noFile());
    expect(thisMachineZone({ TZ: 'Europe/Paris' }, files('/usr/share/zoneinfo/Europe/Paris'))).toMatchObject({ names: ['CET', 'CEST'], source: 'TZ=Europe/Paris' });
    expect(thisMachineZone({ TZ: ':/srv/zone' }, files('/srv/zone')).names).toEqual(['CET', 'CEST']);
    expect(thisMachineZone({}, files('/etc/localtime'))).toMatchObject({ names: ['CET', 'CEST'], source: '/etc/localtime' });
    expect(thisMachineZone({ TZ: 'EST5EDT' }, noFile).names).toEqual(['EST', 'EDT']);
    expect(thisMachineZone({ TZ: '' }, noFile).names).toEqual(['UTC', 'UTC']);
    // Nothing readable: a host in UTC, as its C library then runs.
    expect(thisMachineZone({}, noFile)).toBe(UTC_HOST);
  });

  it.runIf(existsSync('/usr/share/zoneinfo/America/Los_Angeles'))('the zone files this system ships', () => {
    expect(zoneFileNames(readFileSync('/usr/share/zoneinfo/America/Los_Angeles'))).toEqual(['PST', 'PDT']);
    expect(zoneFileNames(readFileSync('/usr/share/zoneinfo/Europe/Paris'))).toEqual(['CET', 'CEST']);
    expect(zoneFileNames(readFileSync('/usr/share/zoneinfo/Asia/Tokyo'))).toEqual(['JST', 'JST']);
  });
});
