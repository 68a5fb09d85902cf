/**
 * Every stage a probe can record is a perfdata label `--warning`/`--critical` accept: the list the
 * threshold check holds (src/report/nagios.ts) is read against the stage names in the sources, so
 * a stage added or renamed without it would be refused as a typo, and a typo in the list shows.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { knownLabel, STAGES_BY_GROUP } from '../../src/report/nagios.js';

const SRC = join(import.meta.dirname, '../../src');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

/** Stage names as the probes write them: `runner.run('x'`, `.skip('x'`, `record({ stage: 'x'`. */
function stageNames(files: string[]): Set<string> {
  const out = new Set<string>();
  const patterns = [/\brun\(\s*'([a-z-]+)'/g, /\.skip\(\s*'([a-z-]+)'/g, /\brecord\(\s*\{\s*stage: '([a-z-]+)'/g, /\.record\(\s*\{\s*\n\s*stage: '([a-z-]+)'/g];
  for (const f of files) {
    const text = readFileSync(f, 'utf8');
    for (const re of patterns) for (const m of text.matchAll(re)) out.add(m[1]!);
  }
  return out;
}

describe('perfdata stage labels', () => {
  const smtp = stageNames(sources(join(SRC, 'probes/smtp')).concat(join(SRC, 'probes/smtp-probe.ts')));
  const mailbox = stageNames(
    ['imap-probe.ts', 'pop3-probe.ts', 'mailbox-probe.ts', 'server-access.ts'].map((f) => join(SRC, 'probes', f)),
  );

  it('the stage names are found in the sources (the patterns still match how stages are written)', () => {
    expect(smtp).toEqual(new Set(['resolve', 'connect', 'greeting', 'ehlo', 'starttls', 'ehlo-tls', 'auth', 'mail-from', 'rcpt-to', 'data', 'relay-check', 'quit', 'internal']));
    expect([...mailbox]).toEqual(expect.arrayContaining(['server-login', 'tls', 'login', 'inbox', 'stat', 'uidl', 'sample', 'logout', 'protocol']));
  });

  it('every SMTP stage is a label for smtp and for check-config --connect; every mailbox stage for imap, pop3 and mailbox', () => {
    for (const st of smtp) {
      expect(knownLabel(`smtp_${st}`), st).toBe(true);
      expect(knownLabel(`check-config_${st}`), st).toBe(true);
    }
    for (const st of mailbox) for (const g of ['imap', 'pop3', 'mailbox', 'unknown']) expect(knownLabel(`${g}_${st}`), `${g}_${st}`).toBe(true);
  });

  it('the list names no stage the sources never record (besides the sent message, the poll cycle and the plus-address probe)', () => {
    const recorded = new Set([...smtp, ...mailbox, 'send', 'cycle', 'plus-address']);
    const listed = new Set([...STAGES_BY_GROUP.values()].flatMap((s) => [...s]));
    expect([...listed].filter((s) => !recorded.has(s))).toEqual([]);
  });
});
