/** The man page documents every command, flag and finding id the program has. */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { buildProgram } from '../../src/cli.js';
import { allConfigRuleMeta } from '../../src/checks/index.js';
import { FINDING_CATALOG } from '../../src/report/catalog.js';

const MAN = readFileSync(new URL('../../man/imip.1', import.meta.url), 'utf8');
const roff = (s: string) => s.replace(/-/g, '\\-');

describe('man/imip.1', () => {
  const program = buildProgram();
  for (const cmd of program.commands) {
    it(`documents "imip ${cmd.name()}" and each of its flags`, () => {
      expect(MAN).toContain(`.SS "imip ${cmd.name()}"`);
      for (const opt of cmd.options) {
        const long = opt.long!.replace(/^--no-/, '--no-');
        expect(MAN, `${cmd.name()} ${long}`).toContain(roff(long));
      }
    });
  }

  it('documents every finding id', () => {
    for (const m of [...allConfigRuleMeta(), ...FINDING_CATALOG]) expect(MAN, m.id).toContain(`.B ${roff(m.id)}`);
  });

  it('has its generated FINDINGS section up to date', () => {
    const r = spawnSync(process.execPath, ['scripts/man-findings.mjs', '--check'], { encoding: 'utf8', cwd: new URL('../..', import.meta.url).pathname });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('documents the exit codes', () => {
    expect(MAN).toMatch(/\.SH EXIT STATUS[\s\S]*\.B 0[\s\S]*\.B 1[\s\S]*\.B 2/);
  });
});
