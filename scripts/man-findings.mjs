#!/usr/bin/env node
// Regenerate the FINDINGS list of man/imip.1 from the rules' metadata (run after `npm run build`).
// `node scripts/man-findings.mjs --check` exits 1 when the man page is out of date.
import { readFileSync, writeFileSync } from 'node:fs';

const { allConfigRuleMeta } = await import('../dist/checks/index.js');
const { FINDING_CATALOG } = await import('../dist/catalog.js');

const FAMILIES = [
  ['Configuration (check-config)', /^(imip|key|sending|receiving|patterns|gateway|secrets|include|config|plist)\./],
  ['Injection (check-config, diagnose)', /^injection\./],
  ['Sending path (test-smtp)', /^smtp\./],
  ['Mailbox (test-mailbox)', /^mailbox\./],
  ['TLS', /^tls\./],
  ['Invitations (send-test)', /^(request|send-test)\./],
  ['Round trip (send-test --reply-from)', /^roundtrip\./],
  ['Replies (poll, diagnose)', /^reply\./],
  ['Missing token (diagnose)', /^token\./],
  ['Plus addressing (diagnose --probe plus-address)', /^plus\./],
  ['Logs (diagnose)', /^log\./],
  ['Inputs (diagnose)', /^diagnose\./],
  ['Other', /./],
];

const esc = (s) => s.replace(/\\/g, '\\e').replace(/-/g, '\\-').replace(/^\./, '\\&.').replace(/^'/, "\\&'");
const all = [...allConfigRuleMeta(), ...FINDING_CATALOG];
const seen = new Set();
const lines = [];
for (const [title, re] of FAMILIES) {
  const group = all.filter((m) => re.test(m.id) && !seen.has(m.id));
  if (!group.length) continue;
  lines.push(`.SS "${title}"`);
  for (const m of group.sort((a, b) => a.id.localeCompare(b.id))) {
    seen.add(m.id);
    lines.push('.TP', `.B ${esc(m.id)}`, `(${m.severity}; ${m.lines.join(', ').replace(/-/g, '\\(en')}) ${esc(m.summary)}`);
  }
}

const path = new URL('../man/imip.1', import.meta.url);
const text = readFileSync(path, 'utf8');
const begin = text.indexOf('\n', text.indexOf('.\\" BEGIN FINDINGS')) + 1;
const end = text.indexOf('.\\" END FINDINGS');
if (begin <= 0 || end < 0) throw new Error('FINDINGS markers missing in man/imip.1');
const next = text.slice(0, begin) + lines.join('\n') + '\n' + text.slice(end);
if (process.argv.includes('--check')) {
  if (next !== text) {
    console.error('man/imip.1 FINDINGS section is out of date: run "npm run man"');
    process.exit(1);
  }
} else {
  writeFileSync(path, next);
  console.log(`man/imip.1: ${seen.size} finding ids`);
}
