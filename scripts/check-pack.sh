#!/usr/bin/env bash
# The package as npm would publish it: pack, install the tarball globally into a temporary
# prefix, and check that `imip` runs, the man page is installed, and npm printed no warning.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
tgz=$(npm pack --silent --pack-destination "$tmp" | tail -n 1)
npm install -g --no-audit --no-fund --prefix "$tmp/prefix" "$tmp/$tgz" >"$tmp/install.log" 2>&1
if grep -qiE 'npm (warn|err)' "$tmp/install.log"; then
  echo "check-pack: npm warned while installing the tarball:" >&2
  cat "$tmp/install.log" >&2
  exit 1
fi
"$tmp/prefix/bin/imip" --version >/dev/null
"$tmp/prefix/bin/imip" check-config --config examples/caldavd.plist >/dev/null && status=0 || status=$?
[ "$status" = 1 ] || { echo "check-pack: the installed imip exited $status on the example (expected 1)" >&2; exit 1; }
[ -f "$tmp/prefix/share/man/man1/imip.1" ] || { echo "check-pack: the man page was not installed" >&2; exit 1; }
echo "check-pack: $tgz installs cleanly; imip and its man page work"
