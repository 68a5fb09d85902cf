/** The man page documents every command, flag and finding id the program has. */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { buildProgram } from '../../src/cli.js';
import { allConfigRuleMeta } from '../../src/checks/index.js';
import { FINDING_CATALOG } from '../../src/catalog.js';

const MAN = readFileSync(new URL('../../man/imip.1', import.meta.url), 'utf8');
const roff = (s: string) => s.replace(/-/g, '\\-');

describe('man/imip.1', () => {
  const program = buildProgram();
  for (const cmd of program.commands) {
    it(`documents "imip ${cmd.name()}" and each of its flags`, () => {
      expect(MAN).toContain(`.SS "imip ${cmd.name()}"`);
      for (const opt of cmd.options) {
        expect(MAN, `${cmd.name()} ${opt.long}`).toContain(roff(opt.long!));
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

describe('finding ids in the source', () => {
  it('are all documented (config rules or the catalog)', async () => {
    const { readdirSync, statSync } = await import('node:fs');
    const { join } = await import('node:path');
    const root = new URL('../../src', import.meta.url).pathname;
    const files: string[] = [];
    const walk = (d: string) => {
      for (const f of readdirSync(d)) {
        const p = join(d, f);
        if (statSync(p).isDirectory()) walk(p);
        else if (p.endsWith('.ts')) files.push(p);
      }
    };
    walk(root);
    const known = new Set([...allConfigRuleMeta(), ...FINDING_CATALOG].map((m) => m.id));
    const families = /['`](?:id: )?((?:imip|key|sending|receiving|patterns|gateway|secrets|include|injection|smtp|mailbox|tls|reply|token|message|log|plus|diagnose|send-test|request|roundtrip)\.[a-z][a-z-]*)['`]/g;
    const missing = new Set<string>();
    const seen = new Set<string>();
    for (const f of files) {
      const text = readFileSync(f, 'utf8');
      for (const line of text.split('\n')) {
        if (!/\bid\b|finding\(|rule\(|meta\(/.test(line)) continue;
        for (const m of line.matchAll(families)) {
          seen.add(m[1]!);
          if (!known.has(m[1]!)) missing.add(`${m[1]} (${f.slice(root.length + 1)})`);
        }
      }
    }
    expect([...missing]).toEqual([]);
    // The scan must really see the ids it guards (config rules, probes, message checks).
    expect(seen.size).toBeGreaterThan(40);
  });
});
