#!/usr/bin/env node
// Rewrite the README's sample outputs from the commands they name: every fenced block preceded
// by `<!-- sample: imip ARGS -->` gets what `imip ARGS --no-color` prints now (run from the
// repository root, after `npm run build`). test/cli/readme-samples.test.ts checks they match.
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const path = `${root}README.md`;
const text = readFileSync(path, 'utf8');
const out = text.replace(/(<!-- sample: imip (.+?) -->\n```text\n)[\s\S]*?(\n```)/g, (_m, head, args, tail) => {
  const r = spawnSync(process.execPath, [`${root}bin/imip`, ...args.split(' '), '--no-color'], { cwd: root, encoding: 'utf8', env: { ...process.env, IMIP_CONFIG: '', NO_COLOR: '' } });
  return `${head}${r.stdout.replace(/\n$/, '')}${tail}`;
});
writeFileSync(path, out);
process.stdout.write(out === text ? 'README samples already up to date\n' : 'README samples rewritten\n');
