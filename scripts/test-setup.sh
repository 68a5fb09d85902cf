#!/usr/bin/env bash
# Runs before the test suite (`npm test`). The integration tests start their own Postfix,
# Dovecot and PostgreSQL on 127.0.0.1 (private ports and directories, stopped afterwards), so
# their Debian packages must be installed. This script:
#   - installs the missing ones with apt-get, as root or through `sudo -n` (no password prompt),
#     with a policy-rc.d that keeps the packages from starting their system services;
#   - never starts, stops or reconfigures a system service;
#   - otherwise says in one line what is missing and how to get it, and exits 1.
# IMIP_TEST_NO_INSTALL=1 turns the installing off (then it only checks).
set -euo pipefail
PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH

# binary → Debian package
declare -A NEED=(
  [/usr/sbin/postfix]=postfix
  [/usr/sbin/dovecot]=dovecot-core
  [/usr/lib/dovecot/imap]=dovecot-imapd
  [/usr/lib/dovecot/pop3]=dovecot-pop3d
  [/usr/lib/dovecot/lmtp]=dovecot-lmtpd
  [/usr/bin/openssl]=openssl
  [/usr/bin/python3]=python3
  # promtool checks the --format prometheus output (test/helpers/monitoring.ts)
  [/usr/bin/promtool]=prometheus
)
missing=()
for bin in "${!NEED[@]}"; do [[ -x $bin ]] || missing+=("${NEED[$bin]}"); done
# PostgreSQL: any major Debian ships.
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || missing+=(postgresql)
# The zone files the server host's time zone is read from (test/server/host-zone.test.ts).
[[ -e /usr/share/zoneinfo/Europe/Paris ]] || missing+=(tzdata)

say() { echo "imip tests: $*" >&2; }

if ((${#missing[@]} > 0)); then
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  hint="sudo apt-get install -y ${missing[*]}"
  if [[ ${IMIP_TEST_NO_INSTALL:-} == 1 ]] || ! command -v apt-get >/dev/null; then
    say "the integration tests need ${missing[*]}; install them ($hint) or run only the unit tests: npm run test:unit"
    exit 1
  fi
  SUDO=()
  if ((EUID != 0)); then
    if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then SUDO=(sudo -n); else
      say "the integration tests need ${missing[*]}; run: $hint (or only the unit tests: npm run test:unit)"
      exit 1
    fi
  fi
  say "installing ${missing[*]} (Debian packages; their system services are not started)"
  made_policy=0
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\n# installed by imip tests for the time of one apt-get run\nexit 101\n' | "${SUDO[@]}" tee /usr/sbin/policy-rc.d >/dev/null
    "${SUDO[@]}" chmod +x /usr/sbin/policy-rc.d
    made_policy=1
  fi
  cleanup() { if ((made_policy)); then "${SUDO[@]}" rm -f /usr/sbin/policy-rc.d; fi; }
  trap cleanup EXIT
  echo "postfix postfix/main_mailer_type select No configuration" | "${SUDO[@]}" debconf-set-selections 2>/dev/null || true
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ((EUID != 0)); then
  say "the integration tests start Postfix and Dovecot, whose masters need root: run sudo npm test (or only the unit tests, as any user: npm run test:unit)"
  exit 1
fi
