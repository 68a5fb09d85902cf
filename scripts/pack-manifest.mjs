// npm pack/publish: the packed package.json carries no `prepare` script. `prepare` builds dist/
// in a clone (`npm install`) and for git installs; the tarball already holds dist/, and current
// npm warns about every lifecycle script a package carries, even one it does not run.
//   node scripts/pack-manifest.mjs strip     (prepack: keep a copy, drop `prepare`, build)
//   node scripts/pack-manifest.mjs restore   (postpack: put the copy back)
import { copyFileSync, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';

const SAVED = 'package.json.pack-orig';
const mode = process.argv[2];
if (mode === 'strip') {
  if (!existsSync(SAVED)) copyFileSync('package.json', SAVED);
  const pkg = JSON.parse(readFileSync('package.json', 'utf8'));
  delete pkg.scripts.prepare;
  writeFileSync('package.json', `${JSON.stringify(pkg, null, 2)}\n`);
} else if (mode === 'restore') {
  if (existsSync(SAVED)) renameSync(SAVED, 'package.json');
} else {
  process.stderr.write('usage: pack-manifest.mjs strip|restore\n');
  process.exitCode = 2;
}
