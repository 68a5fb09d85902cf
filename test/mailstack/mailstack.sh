#!/usr/bin/env bash
# A real mail stack on loopback for tests and for people: Postfix (submission
# with STARTTLS, SMTPS, an unauthenticated "MX" port) delivering over LMTP into
# Dovecot (IMAP/STARTTLS, IMAPS, POP3/STLS, POP3S). Everything lives in one
# state directory; every listener is on 127.0.0.1.
#
#   mailstack.sh start DIR   create DIR, start dovecot then postfix, wait for all
#                            7 listeners, write DIR/env (KEY=VALUE lines)
#   mailstack.sh stop DIR    stop both masters by pid and wait for them
#   mailstack.sh check       exit 0 when the needed binaries are installed
#
# Environment for start:
#   MAILSTACK_PORT_OFFSET  added to every base port (default 0)
#   MAILSTACK_PLUS         1 (default) enables recipient_delimiter = +; 0 disables it
#   MAILSTACK_USERS        "user@dom:pw user2@dom:pw2 ..." (passwords without ':' or spaces)
#   MAILSTACK_STRIP_DETAIL 1: a relay that strips "+detail" (see write_strip_detail_config)
#   MAILSTACK_MAX_USERIP   Dovecot mail_max_userip_connections (default 200; Dovecot's own is 10)
#
# Needs root (both masters setuid to their service users) and Debian's packages:
# postfix dovecot-core dovecot-imapd dovecot-pop3d dovecot-lmtpd.
# The pitfalls this script avoids are named in comments where they matter.
set -euo pipefail

readonly DEFAULT_USERS="calendar@example.test:Cal-pw-4412-secret alice@example.test:Alice-pw-9907-secret personal@example.test:Personal-pw-3301-secret"
readonly NEED_MSG="mail stack needs Debian packages: postfix dovecot-core dovecot-imapd dovecot-pop3d dovecot-lmtpd (install: apt-get install -y postfix dovecot-core dovecot-imapd dovecot-pop3d dovecot-lmtpd)"
# uid/gid of Debian's built-in "mail" user: mail storage owner (Dovecot refuses root).
readonly MAIL_UID=8 MAIL_GID=8

PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH

die() { echo "mailstack: $*" >&2; exit 1; }

cmd_check() {
  local b
  for b in /usr/sbin/postfix /usr/sbin/dovecot /usr/bin/doveadm /usr/lib/postfix/sbin/master \
           /usr/lib/postfix/sbin/postlogd /usr/lib/dovecot/imap /usr/lib/dovecot/pop3 \
           /usr/lib/dovecot/lmtp /usr/bin/openssl; do
    if [[ ! -x $b ]]; then echo "$NEED_MSG"; exit 1; fi
  done
  exit 0
}

# ---------------------------------------------------------------- stop

# pid_alive PID: the process exists and is not a zombie. (An exited master is
# reparented to PID 1, which may take a second to reap it; kill -0 still
# succeeds on the zombie.)
pid_alive() {
  [[ -n ${1:-} ]] && kill -0 "$1" 2>/dev/null || return 1
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [[ ${stat:0:1} != Z ]]
}

# All descendants of the given pids (one ps call).
descendants() {
  ps -e -o pid=,ppid= | awk -v roots="$*" '
    BEGIN { n = split(roots, r, " "); for (i = 1; i <= n; i++) want[r[i]] = 1 }
    { kid[NR] = $1; par[NR] = $2 }
    END {
      changed = 1
      while (changed) {
        changed = 0
        for (i = 1; i <= NR; i++) if ((par[i] in want) && !(kid[i] in want)) { want[kid[i]] = 1; changed = 1; print kid[i] }
      }
    }'
}

# stop_pids PID... : TERM the masters, then wait (bounded ~5 s) for them and
# every descendant recorded beforehand; KILL whatever is left after that.
#
# Dovecot's master and its "log" process linger about 1 s after every other
# Dovecot process has exited. Once nothing but masters and "log" is left (the
# mail processes are gone, so nothing is left to flush) the rest get KILL, which
# makes a stop take ~0.1 s instead of ~1.1 s. MAILSTACK_GRACEFUL_STOP=1 waits for
# them to exit on their own instead. (Postfix's master exits at once.)
stop_pids() {
  local masters=() p
  for p in "$@"; do pid_alive "$p" && masters+=("$p"); done
  ((${#masters[@]})) || return 0
  local all=("${masters[@]}")
  mapfile -t -O ${#all[@]} all < <(descendants "${masters[@]}")
  kill -TERM "${masters[@]}" 2>/dev/null || true
  local deadline=$((SECONDS + 5)) left busy comm killed=0
  while :; do
    left=() busy=0
    for p in "${all[@]}"; do
      pid_alive "$p" || continue
      left+=("$p")
      [[ " ${masters[*]} " == *" $p "* ]] && continue
      comm=$(cat "/proc/$p/comm" 2>/dev/null) || continue
      [[ $comm == log ]] || busy=1
    done
    ((${#left[@]})) || return 0
    if ((SECONDS >= deadline)); then
      kill -KILL "${left[@]}" 2>/dev/null || true
      sleep 0.1
      return 0
    fi
    if ((!busy && !killed)) && [[ ${MAILSTACK_GRACEFUL_STOP:-0} != 1 ]]; then
      kill -KILL "${left[@]}" 2>/dev/null || true
      killed=1
    fi
    sleep 0.02
  done
}

# read_pid FILE: the pid in a master.pid file, if that process still is a
# postfix or dovecot master (a stale pid file must not make us signal a stranger).
read_pid() {
  local pid exe
  [[ -s $1 ]] || return 0
  pid=$(tr -dc '0-9' <"$1")
  [[ -n $pid ]] || return 0
  exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || return 0
  case ${exe% (deleted)} in
    */postfix/sbin/master) echo "$pid" ;;
    # Dovecot's command line names its config, so check it is this stack's.
    */sbin/dovecot) [[ $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) == *" ${1%/run/master.pid}/dovecot.conf"* ]] && echo "$pid" ;;
  esac
}

cmd_stop() {
  local dir=${1:-}
  [[ -n $dir ]] || die "usage: mailstack.sh stop DIR"
  [[ -d $dir ]] || return 0
  dir=$(cd "$dir" && pwd)
  stop_pids "$(read_pid "$dir/postfix/spool/pid/master.pid")" "$(read_pid "$dir/dovecot/run/master.pid")" \
    "$(read_pid "$dir/dovecot-cram/run/master.pid")"
}

# ---------------------------------------------------------------- start

write_postfix_config() {
  local D=$1 domains=$2 plus=$3
  local etc=$D/postfix/etc
  cat >"$etc/main.cf" <<EOF
# generated by mailstack.sh
compatibility_level = 3.6
queue_directory = $D/postfix/spool
data_directory = $D/postfix/data
mail_owner = postfix
setgid_group = postdrop
myhostname = mail.example.test
mydomain = example.test
myorigin = \$myhostname
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
biff = no
append_dot_mydomain = no
smtpd_banner = \$myhostname ESMTP mailstack
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
maillog_file = $D/log/postfix.log
maillog_file_prefixes = $D/log

# Local domains are virtual mailbox domains delivered over LMTP into Dovecot.
virtual_mailbox_domains = $domains
virtual_mailbox_maps = texthash:$etc/vmailbox
virtual_transport = lmtp:unix:$D/dovecot/run/lmtp
# One RCPT per LMTP transaction, so Dovecot adds Delivered-To to every copy.
lmtp_destination_recipient_limit = 1
recipient_delimiter = $DELIM

# Nothing can leave the box.
relay_domains =
default_transport = error:mailstack delivers to local domains only
relay_transport = error:mailstack delivers to local domains only
local_transport = error:mailstack has no local delivery

# TLS (key first) and SASL through Dovecot; AUTH only after TLS.
smtpd_tls_chain_files = $D/tls/key.pem, $D/tls/cert.pem
smtpd_tls_security_level = may
smtpd_tls_auth_only = yes
smtpd_tls_loglevel = 0
smtpd_sasl_type = dovecot
smtpd_sasl_path = $D/dovecot/run/auth-postfix
smtpd_sasl_auth_enable = no
smtpd_relay_restrictions = reject_unauth_destination
smtpd_recipient_restrictions = reject_unlisted_recipient, permit_sasl_authenticated, reject
message_size_limit = 52428800

# Fast for tests.
in_flow_delay = 0
smtpd_error_sleep_time = 0
smtpd_soft_error_limit = 1000
smtpd_hard_error_limit = 1000
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 5s
maximal_queue_lifetime = 1h
bounce_queue_lifetime = 1h
EOF

  local o='127.0.0.1'
  cat >"$etc/master.cf" <<EOF
# generated by mailstack.sh: no chroot anywhere, listeners on 127.0.0.1 only.
# service type  private unpriv  chroot  wakeup  maxproc command
$o:$SMTP_PORT inet n - n - - smtpd
  -o syslog_name=postfix/submission
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_tls_auth_only=yes
$o:$SMTPS_PORT inet n - n - - smtpd
  -o syslog_name=postfix/smtps
  -o smtpd_tls_wrappermode=yes
  -o smtpd_sasl_auth_enable=yes
$o:$MX_PORT inet n - n - - smtpd
  -o syslog_name=postfix/mx
  -o smtpd_sasl_auth_enable=no
  -o smtpd_recipient_restrictions=reject_unlisted_recipient,permit_auth_destination,reject
pickup     unix  n - n 60 1 pickup
cleanup    unix  n - n - 0 cleanup
qmgr       unix  n - n 300 1 qmgr
tlsmgr     unix  - - n 1000? 1 tlsmgr
rewrite    unix  - - n - - trivial-rewrite
bounce     unix  - - n - 0 bounce
defer      unix  - - n - 0 bounce
trace      unix  - - n - 0 bounce
verify     unix  - - n - 1 verify
flush      unix  n - n 1000? 0 flush
proxymap   unix  - - n - - proxymap
proxywrite unix  - - n - 1 proxymap
smtp       unix  - - n - - smtp
relay      unix  - - n - - smtp
showq      unix  n - n - - showq
error      unix  - - n - - error
retry      unix  - - n - - error
discard    unix  - - n - - discard
lmtp       unix  - - n - - lmtp
anvil      unix  - - n - 1 anvil
scache     unix  - - n - 1 scache
postlog    unix-dgram n - n - 1 postlogd
EOF
}

# A relay that strips "+detail" from recipients, as some forwarders and "address normalising"
# gateways do: local+anything@domain is accepted (virtual alias to local@domain) and cleanup
# rewrites the recipient headers (To, Cc) the same way. Used with MAILSTACK_PLUS=0.
write_strip_detail_config() {
  local D=$1
  local etc=$D/postfix/etc
  printf '%s\n' '/^([^+@]+)\+[^@]*@(.+)$/ ${1}@${2}' >"$etc/strip-detail"
  cat >>"$etc/main.cf" <<EOF

# MAILSTACK_STRIP_DETAIL=1: strip +detail (envelope and recipient headers).
virtual_alias_maps = regexp:$etc/strip-detail
recipient_canonical_maps = regexp:$etc/strip-detail
recipient_canonical_classes = envelope_recipient, header_recipient
EOF
}

write_dovecot_config() {
  local D=$1 plus=$2
  cat >"$D/dovecot/dovecot.conf" <<EOF
# generated by mailstack.sh (standalone: does not include /etc/dovecot)
base_dir = $D/dovecot/run
state_dir = $D/dovecot/state
instance_name = $INSTANCE
log_path = $D/log/dovecot.log
hostname = mail.example.test
postmaster_address = postmaster@example.test
protocols = imap pop3 lmtp
# MAILSTACK_PLAIN_REASON comes from the environment "start" gives the master.
import_environment = TZ MAILSTACK_PLAIN_REASON
listen = 127.0.0.1
shutdown_clients = yes

ssl = yes
ssl_cert = <$D/tls/cert.pem
ssl_key = <$D/tls/key.pem
ssl_dh = </usr/share/dovecot/dh.pem
ssl_min_protocol = TLSv1.2

# Plaintext passwords only after TLS (STARTTLS/STLS or implicit); no APOP.
disable_plaintext_auth = yes
auth_mechanisms = plain login
auth_failure_delay = 0
auth_cache_size = 0

first_valid_uid = $MAIL_UID
last_valid_uid = $MAIL_UID
first_valid_gid = $MAIL_GID
last_valid_gid = $MAIL_GID
mail_location = maildir:~/Maildir
# A throwaway test stack: no fsync on save (faster LMTP deliveries and saves).
mail_fsync = never
mail_max_userip_connections = ${MAILSTACK_MAX_USERIP:-200}
recipient_delimiter = $DELIM
lmtp_save_to_detail_mailbox = no
lmtp_hdr_delivery_address = final
pop3_uidl_format = %08Xu%08Xv

# Dovecot treats a connection whose remote IP equals its local IP as "secured",
# so on loopback disable_plaintext_auth alone would still accept USER/PASS and
# LOGIN without TLS. This passdb refuses plaintext logins on imap/pop3 unless the
# connection really is TLS (%{secured} is "secured" there, "TLS" after
# STARTTLS/STLS or on the implicit-TLS ports). SMTP AUTH (service smtp) is not
# affected: Postfix only offers AUTH after TLS. The reason text has spaces, which
# override_fields cannot hold, hence %{env:...}.
passdb {
  driver = passwd-file
  args = username_format=%{service}-%{secured} $D/dovecot/plain-deny
  override_fields = reason=%{env:MAILSTACK_PLAIN_REASON}
}
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $D/dovecot/users
}
userdb {
  driver = passwd-file
  args = username_format=%u $D/dovecot/users
  default_fields = uid=$MAIL_UID gid=$MAIL_GID home=$D/mail/%d/%n
}

service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $IMAP_PORT
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = $IMAPS_PORT
    ssl = yes
  }
}
service pop3-login {
  inet_listener pop3 {
    address = 127.0.0.1
    port = $POP3_PORT
  }
  inet_listener pop3s {
    address = 127.0.0.1
    port = $POP3S_PORT
    ssl = yes
  }
}
service lmtp {
  unix_listener lmtp {
    mode = 0600
    user = postfix
    group = postfix
  }
}
service auth {
  unix_listener auth-postfix {
    mode = 0600
    user = postfix
    group = postfix
  }
}
# No exponential auth penalty for repeated failures from 127.0.0.1.
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
protocol imap {
  mail_max_userip_connections = ${MAILSTACK_MAX_USERIP:-200}
}
protocol pop3 {
  mail_max_userip_connections = ${MAILSTACK_MAX_USERIP:-200}
}
EOF
}

# probe_plain PORT EXPECT_PREFIX: 0 when the banner starts with the prefix.
# ---------------------------------------------------------------------------------------------
# Client-behaviour variants (how Calendar Server's own mail clients connect): listeners that
# differ from the defaults above in one respect each. Kept apart from the base config so that
# other additions merge cleanly.
#   SMTP_TLS10_PORT  submission, STARTTLS, accepts TLS 1.0 (OpenSSL security level lowered here only)
#   SMTP_CRAM_PORT   submission, AUTH after STARTTLS, lists CRAM-MD5 (which the server's client
#                    picks first) also for a user whose password is stored hashed and so cannot
#                    answer CRAM-MD5
#   SMTP_OTHER_PORT  submission whose certificate names another host (other.example.test)
#   127.0.0.2:IMAP_PORT/POP3_PORT  not "secured" for Dovecot (another local address), so IMAP
#                    says LOGINDISABLED before TLS; accepts TLS 1.0
#   127.0.0.3:IMAP_PORT/POP3_PORT  the same, but TLS 1.2 at least (refuses the TLS 1.0 that the
#                    server's STARTTLS/STLS offers)
#   127.0.0.4:IMAP_PORT  no TLS at all (no STARTTLS), and LOGINDISABLED: the server's client sends
#                    LOGIN in clear text anyway and is refused
# The base listeners keep today's defaults: TLS 1.2 at least (so STARTTLS/STLS with TLS 1.0 is
# refused), and on 127.0.0.1 Dovecot treats the connection as secured (AUTH=PLAIN before TLS).
readonly HASHED_USER="hashed@example.test" HASHED_PASSWORD="Hashed-pw-5150-secret"

setup_client_variants() {
  local D=$1 out hash
  if ! out=$(openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
      -subj "/CN=other.example.test" -addext "subjectAltName=DNS:other.example.test" \
      -keyout "$D/tls/other-key.pem" -out "$D/tls/other-cert.pem" 2>&1); then
    echo "$out" >>"$D/log/start.log"
    die "openssl could not create the other-name certificate"
  fi
  chmod 0600 "$D/tls/other-key.pem"
  chmod 0644 "$D/tls/other-cert.pem"
  hash=$(doveadm pw -s SHA512-CRYPT -p "$HASHED_PASSWORD") || die "doveadm pw failed"
  printf '%s:%s::::::\n' "$HASHED_USER" "$hash" >"$D/dovecot/hashed"
  chown root:dovecot "$D/dovecot/hashed"
  chmod 0640 "$D/dovecot/hashed"
}

write_postfix_variants() {
  local D=$1 o='127.0.0.1' etc=$1/postfix/etc
  cat >>"$etc/master.cf" <<EOF
$o:$SMTP_TLS10_PORT inet n - n - - smtpd
  -o syslog_name=postfix/submission-tls10
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_tls_auth_only=yes
  -o smtpd_tls_protocols=>=TLSv1
  -o tls_medium_cipherlist=DEFAULT:@SECLEVEL=0
$o:$SMTP_CRAM_PORT inet n - n - - smtpd
  -o syslog_name=postfix/submission-cram
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_tls_auth_only=yes
  -o smtpd_sasl_path=$D/dovecot-cram/run/auth-postfix
  -o smtpd_sasl_mechanism_filter=cram-md5,plain,login
$o:$SMTP_OTHER_PORT inet n - n - - smtpd
  -o syslog_name=postfix/submission-other
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_tls_auth_only=yes
  -o smtpd_tls_chain_files=$D/tls/other-key.pem,$D/tls/other-cert.pem
EOF
  # Today's default minimum on every other listener: TLS 1.2 (Debian's Postfix would still take
  # TLS 1.0 from a client that lowers its security level).
  printf '%s\n' 'smtpd_tls_protocols = >=TLSv1.2' 'smtpd_tls_mandatory_protocols = >=TLSv1.2' >>"$etc/main.cf"
}

write_dovecot_variants() {
  local D=$1
  cat >>"$D/dovecot/dovecot.conf" <<EOF
service imap-login {
  inet_listener imap_legacy {
    address = 127.0.0.2
    port = $IMAP_PORT
  }
}
service pop3-login {
  inet_listener pop3_legacy {
    address = 127.0.0.2
    port = $POP3_PORT
  }
  inet_listener pop3_modern {
    address = 127.0.0.3
    port = $POP3_PORT
  }
}
service imap-login {
  inet_listener imap_modern {
    address = 127.0.0.3
    port = $IMAP_PORT
  }
  inet_listener imap_notls {
    address = 127.0.0.4
    port = $IMAP_PORT
  }
}
local 127.0.0.2 {
  ssl_min_protocol = TLSv1
  ssl_cipher_list = DEFAULT:@SECLEVEL=0
}
local 127.0.0.4 {
  ssl = no
}
EOF
  # An auth-only Dovecot for the CRAM-MD5 relay: mechanisms are global to a Dovecot, and the
  # main one must not list CRAM-MD5 (IMAP would use it before TLS).
  mkdir -p "$D/dovecot-cram/run" "$D/dovecot-cram/state"
  cat >"$D/dovecot-cram/dovecot.conf" <<EOF
base_dir = $D/dovecot-cram/run
state_dir = $D/dovecot-cram/state
instance_name = $INSTANCE-cram
log_path = $D/log/dovecot-cram.log
protocols = none
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login cram-md5
auth_failure_delay = 0
auth_cache_size = 0
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $D/dovecot/users
}
passdb {
  driver = passwd-file
  args = username_format=%u $D/dovecot/hashed
}
service auth {
  unix_listener auth-postfix {
    mode = 0600
    user = postfix
    group = postfix
  }
}
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
EOF
}

probe_plain() {
  local line=
  { exec 3<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null || return 1
  IFS= read -r -t 2 line <&3 || true
  exec 3<&- 3>&-
  [[ $line == "$2"* ]]
}

# probe_tls PORT: 0 when the TLS handshake succeeds and the cert verifies for 127.0.0.1.
probe_tls() {
  openssl s_client -connect "127.0.0.1:$1" -brief -verify_ip 127.0.0.1 \
    -CAfile "$STATE/tls/cert.pem" </dev/null 2>&1 | grep -q '^Verification: OK'
}

wait_ready() {
  local deadline=$((SECONDS + 15)) pending spec port kind
  local specs=("$SMTP_PORT plain 220" "$MX_PORT plain 220" "$IMAP_PORT plain *"
               "$POP3_PORT plain +OK" "$SMTPS_PORT tls" "$IMAPS_PORT tls" "$POP3S_PORT tls"
               "$SMTP_TLS10_PORT plain 220" "$SMTP_CRAM_PORT plain 220" "$SMTP_OTHER_PORT plain 220")
  while :; do
    pending=()
    for spec in "${specs[@]}"; do
      local expect=
      read -r port kind expect <<<"$spec"
      if [[ $kind == plain ]]; then probe_plain "$port" "$expect" || pending+=("$spec")
      else probe_tls "$port" || pending+=("$spec"); fi
    done
    ((${#pending[@]})) || return 0
    specs=("${pending[@]}")
    if ((SECONDS >= deadline)); then
      echo "mailstack: listeners not ready: ${specs[*]}" >&2
      return 1
    fi
    pid_alive "$(read_pid "$STATE/dovecot/run/master.pid")" || { echo "mailstack: dovecot died" >&2; return 1; }
    sleep 0.03
  done
}

on_start_exit() {
  local rc=$?
  ((rc == 0)) && return 0
  echo "mailstack: start failed (exit $rc); stopping what was started" >&2
  stop_pids "$(read_pid "$STATE/postfix/spool/pid/master.pid")" "$(read_pid "$STATE/dovecot/run/master.pid")" \
    "$(read_pid "$STATE/dovecot-cram/run/master.pid")" || true
  local f
  for f in "$STATE/log/dovecot.log" "$STATE/log/postfix.log" "$STATE/log/start.log"; do
    [[ -s $f ]] || continue
    echo "---- tail $f" >&2
    tail -n 25 "$f" >&2
  done
  exit "$rc"
}

cmd_start() {
  local dir=${1:-}
  [[ -n $dir ]] || die "usage: mailstack.sh start DIR"
  (cmd_check) >/dev/null || { echo "$NEED_MSG" >&2; exit 1; }
  ((EUID == 0)) || die "must run as root (postfix and dovecot masters setuid to their service users)"
  mkdir -p "$dir"
  STATE=$(cd "$dir" && pwd)
  # unix socket paths are limited to 107 bytes: the longest one is under dovecot/run/login/.
  ((${#STATE} <= 60)) || die "state dir path too long for unix sockets (${#STATE} > 60 chars): $STATE"
  [[ -e $STATE/dovecot/run/master.pid ]] && pid_alive "$(read_pid "$STATE/dovecot/run/master.pid")" \
    && die "a stack already runs in $STATE"
  trap on_start_exit EXIT

  local offset=${MAILSTACK_PORT_OFFSET:-0} plus=${MAILSTACK_PLUS:-1} users=${MAILSTACK_USERS:-$DEFAULT_USERS}
  [[ $offset =~ ^[0-9]+$ ]] || die "MAILSTACK_PORT_OFFSET must be a number: $offset"
  case $plus in 0|no|false|off) plus=0 ;; *) plus=1 ;; esac
  SMTP_PORT=$((2525 + offset)) SMTPS_PORT=$((2465 + offset)) MX_PORT=$((2500 + offset))
  IMAP_PORT=$((1143 + offset)) IMAPS_PORT=$((1993 + offset))
  POP3_PORT=$((1110 + offset)) POP3S_PORT=$((1995 + offset))
  SMTP_TLS10_PORT=$((2587 + offset)) SMTP_CRAM_PORT=$((2588 + offset)) SMTP_OTHER_PORT=$((2589 + offset))
  ((SMTP_OTHER_PORT <= 65535)) || die "MAILSTACK_PORT_OFFSET too large: $offset"
  INSTANCE=mailstack-$(basename "$STATE")

  # Layout. The state root must be traversable by postfix, dovecot, dovenull and mail.
  chmod 0755 "$STATE"
  mkdir -p "$STATE"/{tls,log,postfix/etc,postfix/spool,postfix/data,dovecot/run,dovecot/state,mail}
  chown postfix:postfix "$STATE/postfix/data"
  chown "$MAIL_UID:$MAIL_GID" "$STATE/mail"
  chmod 0750 "$STATE/mail"
  : >"$STATE/log/postfix.log"
  : >"$STATE/log/dovecot.log"
  : >"$STATE/log/start.log"

  # A fresh EC P-256 certificate per start; self-signed, so it is its own CA.
  local out
  if ! out=$(openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
      -subj "/CN=mail.example.test" \
      -addext "subjectAltName=DNS:localhost,DNS:mail.example.test,IP:127.0.0.1,IP:127.0.0.2,IP:127.0.0.3" \
      -keyout "$STATE/tls/key.pem" -out "$STATE/tls/cert.pem" 2>&1); then
    echo "$out" >>"$STATE/log/start.log"
    die "openssl could not create the certificate"
  fi
  chmod 0600 "$STATE/tls/key.pem"
  chmod 0644 "$STATE/tls/cert.pem"

  # Users: passwd-file for Dovecot, vmailbox map (base addresses only) for Postfix.
  DELIM=; ((plus)) && DELIM=+
  local u addr pw local_part domain domains=() vmailbox= passwd= user_list=()
  local normalized=()
  read -r -a user_list <<<"$users"
  for u in "${user_list[@]}"; do
    addr=${u%%:*} pw=${u#*:}
    addr=${addr,,}
    [[ $u == *:* && -n $pw && $addr == ?*@?* ]] || die "bad MAILSTACK_USERS entry (want user@domain:password): $u"
    [[ $pw != *:* ]] || die "password for $addr must not contain ':'"
    local_part=${addr%@*} domain=${addr#*@}
    [[ $local_part != *+* ]] || die "user $addr must not contain '+'"
    normalized+=("$addr:$pw")
    passwd+="$addr:{PLAIN}$pw::::::"$'\n'
    vmailbox+="$addr OK"$'\n'
    [[ " ${domains[*]} " == *" $domain "* ]] || domains+=("$domain")
    # Pre-create the Maildir so doveadm, seeding and first delivery find it.
    install -d -o "$MAIL_UID" -g "$MAIL_GID" -m 0700 "$STATE/mail/$domain" "$STATE/mail/$domain/$local_part" \
      "$STATE/mail/$domain/$local_part/Maildir" "$STATE/mail/$domain/$local_part/Maildir/"{cur,new,tmp}
  done
  ((${#domains[@]})) || die "MAILSTACK_USERS is empty"
  users="${normalized[*]}"
  printf '%s' "$passwd" >"$STATE/dovecot/users"
  chown root:dovecot "$STATE/dovecot/users"
  chmod 0640 "$STATE/dovecot/users"
  printf '%s' "$vmailbox" >"$STATE/postfix/etc/vmailbox"
  printf '%s\n' 'imap-secured:::::::nopassword nologin' 'pop3-secured:::::::nopassword nologin' >"$STATE/dovecot/plain-deny"

  local domain_list
  domain_list=$(IFS=,; echo "${domains[*]}")
  write_postfix_config "$STATE" "${domain_list//,/, }" "$plus"
  [[ ${MAILSTACK_STRIP_DETAIL:-0} != 1 ]] || write_strip_detail_config "$STATE"
  write_dovecot_config "$STATE" "$plus"
  setup_client_variants "$STATE"
  write_postfix_variants "$STATE"
  write_dovecot_variants "$STATE"
  # Postfix re-reads a main.cf or map younger than ~2 s until it "cools down":
  # backdate them so the first postfix command does not stall.
  touch -d "@$(($(date +%s) - 60))" "$STATE/postfix/etc/"{main.cf,master.cf,vmailbox}
  [[ ! -e $STATE/postfix/etc/strip-detail ]] || touch -d "@$(($(date +%s) - 60))" "$STATE/postfix/etc/strip-detail"

  # Dovecot first: Postfix needs its auth and lmtp sockets.
  MAILSTACK_PLAIN_REASON="Plaintext authentication disallowed on non-secure (SSL/TLS) connections." \
    dovecot -c "$STATE/dovecot/dovecot.conf" 2>>"$STATE/log/start.log"
  dovecot -c "$STATE/dovecot-cram/dovecot.conf" 2>>"$STATE/log/start.log"
  postfix -c "$STATE/postfix/etc" start >>"$STATE/log/start.log" 2>&1

  wait_ready

  local postfix_pid dovecot_pid
  postfix_pid=$(read_pid "$STATE/postfix/spool/pid/master.pid")
  dovecot_pid=$(read_pid "$STATE/dovecot/run/master.pid")
  pid_alive "$postfix_pid" || die "postfix master is not running"
  pid_alive "$dovecot_pid" || die "dovecot master is not running"

  q() { local v=$1; if [[ $v =~ ^[A-Za-z0-9_./@:+,=-]*$ ]]; then printf '%s' "$v"; else printf "'%s'" "${v//\'/\'\\\'\'}"; fi; }
  {
    echo "MAILSTACK_DIR=$(q "$STATE")"
    echo "MAILSTACK_HOST=localhost"
    echo "MAILSTACK_SMTP_PORT=$SMTP_PORT"
    echo "MAILSTACK_SMTPS_PORT=$SMTPS_PORT"
    echo "MAILSTACK_MX_PORT=$MX_PORT"
    echo "MAILSTACK_IMAP_PORT=$IMAP_PORT"
    echo "MAILSTACK_IMAPS_PORT=$IMAPS_PORT"
    echo "MAILSTACK_POP3_PORT=$POP3_PORT"
    echo "MAILSTACK_POP3S_PORT=$POP3S_PORT"
    echo "MAILSTACK_SMTP_TLS10_PORT=$SMTP_TLS10_PORT"
    echo "MAILSTACK_SMTP_CRAM_PORT=$SMTP_CRAM_PORT"
    echo "MAILSTACK_SMTP_OTHER_PORT=$SMTP_OTHER_PORT"
    echo "MAILSTACK_LEGACY_HOST=127.0.0.2"
    echo "MAILSTACK_MODERN_REMOTE_HOST=127.0.0.3"
    echo "MAILSTACK_NOTLS_HOST=127.0.0.4"
    echo "MAILSTACK_OTHER_CA=$(q "$STATE/tls/other-cert.pem")"
    echo "MAILSTACK_HASHED_USER=$(q "$HASHED_USER:$HASHED_PASSWORD")"
    echo "MAILSTACK_CA=$(q "$STATE/tls/cert.pem")"
    echo "MAILSTACK_USERS=$(q "$users")"
    echo "MAILSTACK_PLUS=$plus"
    echo "MAILSTACK_DOVECOT_CONF=$(q "$STATE/dovecot/dovecot.conf")"
    echo "MAILSTACK_POSTFIX_PID=$postfix_pid"
    echo "MAILSTACK_DOVECOT_PID=$dovecot_pid"
  } >"$STATE/env.tmp"
  chmod 0600 "$STATE/env.tmp"
  mv "$STATE/env.tmp" "$STATE/env"
  trap - EXIT
}

case ${1:-} in
  check) cmd_check ;;
  start) shift; cmd_start "$@" ;;
  stop) shift; cmd_stop "$@" ;;
  *) echo "usage: mailstack.sh start DIR | stop DIR | check" >&2; exit 2 ;;
esac
