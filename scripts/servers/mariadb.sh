#!/usr/bin/env bash
# A throw-away MariaDB server for tests (DESIGN.md section 5: real parts, not mocks).
#
#   mariadb.sh install          apt-get install mariadb-server mariadb-client when missing
#   mariadb.sh start DIR PORT   mariadb-install-db DIR/data on first use, start on
#                               127.0.0.1:PORT, wait until it answers
#   mariadb.sh stop DIR         mariadb-admin shutdown (clean)
#   mariadb.sh kill DIR         SIGKILL the server (crash: InnoDB recovery on next start)
#   mariadb.sh status DIR       exit 0 when running
#
# The server runs as the Debian 'mysql' user (as yourself when not root), listens on
# 127.0.0.1 only, keeps its socket (DIR/mysqld.sock), pid file (DIR/mariadb.pid) and log
# (DIR/error.log) in DIR, reads no my.cnf (--no-defaults), and uses utf8mb4 and UTC.
# LOAD DATA LOCAL INFILE is enabled; SELECT ... INTO OUTFILE and LOAD DATA INFILE work in
# DIR/files only (--secure-file-priv). TLS is on when DIR/tls holds server-cert.pem,
# server-key.pem and ca.pem at start.
#
# Accounts: 'etl'@'127.0.0.1' and 'etl'@'localhost', password 'etl', ALL on shop.* plus
# FILE. Admin: 'root'@'localhost' through unix_socket authentication on DIR/mysqld.sock
# (when not run as root: the account named after you).
#
# Environment: SLUICE_SERVER_START_TIMEOUT (seconds, default 60).
set -euo pipefail
SELF_NAME=mariadb.sh
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
clean_client_env

TIMEOUT=${SLUICE_SERVER_START_TIMEOUT:-60}
DB=shop
ETL_USER=etl
ETL_PASSWORD=etl

usage() {
  sed -n '2,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

# find_bin NAME...: the first of the names found (new MariaDB names first, then MySQL's).
find_bin() {
  local n p
  for n in "$@"; do
    p=$(PATH="$PATH:/usr/sbin:/usr/local/sbin:/sbin" command -v "$n" 2>/dev/null) && {
      echo "$p"
      return 0
    }
  done
  return 1
}

find_bins() {
  MARIADBD=$(find_bin mariadbd mysqld) || die "mariadbd/mysqld not found; run '$0 install'"
  INSTALL_DB=$(find_bin mariadb-install-db mysql_install_db) || die "mariadb-install-db not found; run '$0 install'"
  ADMIN=$(find_bin mariadb-admin mysqladmin) || die "mariadb-admin not found; run '$0 install'"
  CLIENT=$(find_bin mariadb mysql) || die "mariadb client not found; run '$0 install'"
}

cmd_install() {
  local installed
  installed=$(apt_install mariadb-server mariadb-client)
  if [[ -n $installed ]]; then
    # The postinst may start the system server on port 3306 (unless a policy-rc.d forbids
    # services). Ours use their own ports, sockets and folders; stop the stray one anyway.
    if command -v service >/dev/null; then service mariadb stop >/dev/null 2>&1 || true; fi
  fi
  find_bins
  id mysql >/dev/null 2>&1 || ((EUID != 0)) || die "the 'mysql' user does not exist after install"
  note "ok: $("$MARIADBD" --version)"
}

# Paths and users for DIR (absolute).
setup_paths() {
  DIR=$1
  DATA=$DIR/data
  FILES=$DIR/files
  SOCK=$DIR/mysqld.sock
  PIDFILE=$DIR/mariadb.pid
  LAUNCHPID=$DIR/launch.pid
  LOG=$DIR/error.log
  RUN_USER=$(service_user mysql)
  if ((EUID == 0)); then ADMIN_USER=root; else ADMIN_USER=$(id -un); fi
}

# is_server_pid PID: PID is alive and is a MariaDB server (not a reused pid).
is_server_pid() {
  pid_alive "$1" || return 1
  local comm
  comm=$(cat "/proc/$1/comm" 2>/dev/null) || return 1
  [[ $comm == mariadbd || $comm == mysqld ]]
}

# server_pid: print the pid of the server running from DIR, fail if none.
server_pid() {
  local f pid
  for f in "$PIDFILE" "$LAUNCHPID"; do
    [[ -s $f ]] || continue
    pid=$(tr -dc '0-9' <"$f")
    if is_server_pid "$pid" && [[ $(readlink "/proc/$pid/cwd" 2>/dev/null) == "$DATA" ]]; then
      echo "$pid"
      return 0
    fi
  done
  return 1
}

admin() {
  "$ADMIN" --no-defaults --socket="$SOCK" --user="$ADMIN_USER" --connect-timeout=5 "$@"
}

STARTED_PID=""
on_exit() {
  if (($1 != 0)) && [[ -n $STARTED_PID ]] && is_server_pid "$STARTED_PID"; then
    note "killing the half-started server (pid $STARTED_PID)"
    kill -KILL "$STARTED_PID" 2>/dev/null || true
    wait_pid_gone "$STARTED_PID" 10 || true
  fi
}

cmd_start() {
  (($# == 2)) || usage
  local dir port
  port=$2
  check_port "$port"
  dir=$(resolve_dir "$1")
  check_socket_path "$dir/mysqld.sock"
  find_bins
  cd / # the server user may not be able to read the caller's working folder
  setup_paths "$dir"
  ((EUID != 0)) || id mysql >/dev/null 2>&1 || die "user 'mysql' missing; run '$0 install'"
  claim_dir "$DIR" mariadb
  lock_dir "$DIR"

  if server_pid >/dev/null; then
    die "a server from $DATA is already running (pid $(server_pid)); stop it first"
  fi

  mkdir -p "$FILES" "$DIR/tmp"
  own_by "$RUN_USER" "$DIR" "$FILES" "$DIR/tmp"
  chmod 0700 "$DIR"
  check_writable "$RUN_USER" "$DIR"

  # A data folder counts as made only once it was fully provisioned; a half-made one (an
  # interrupted first start) is made anew.
  if [[ ! -f $DIR/.provisioned ]]; then
    rm -rf -- "${DATA:?}"
    mkdir -p "$DATA"
    own_by "$RUN_USER" "$DATA"
    if ! "$INSTALL_DB" --no-defaults --datadir="$DATA" --user="$RUN_USER" --skip-test-db \
      --auth-root-authentication-method=socket >"$DIR/install-db.log" 2>&1 9>&-; then
      die_with_log "mariadb-install-db failed for $DATA" "$DIR/install-db.log"
    fi
    ((EUID != 0)) || chown -R "$RUN_USER": "$DATA"
  fi

  rm -f -- "$PIDFILE" "$LAUNCHPID"
  touch "$LOG"
  own_by "$RUN_USER" "$LOG"
  echo "==== $(date -u '+%F %T') start on port $port ====" >>"$LOG"

  local args=(
    --no-defaults # must come first: read no my.cnf
    --datadir="$DATA"
    --socket="$SOCK"
    --pid-file="$PIDFILE"
    --log-error="$LOG"
    --tmpdir="$DIR/tmp"
    --port="$port"
    --bind-address=127.0.0.1
    --skip-networking=0
    --skip-name-resolve
    --local-infile=1
    --secure-file-priv="$FILES"
    --character-set-server=utf8mb4
    --collation-server=utf8mb4_general_ci
    --default-time-zone=+00:00
    # Real durability: tests SIGKILL the server and expect committed data to survive.
    --innodb-flush-log-at-trx-commit=1
  )
  ((EUID == 0)) && args+=(--user="$RUN_USER")
  # TLS when DIR/tls holds server-cert.pem, server-key.pem and ca.pem (tests put them there).
  if [[ -f $DIR/tls/server-cert.pem ]]; then
    own_by "$RUN_USER" "$DIR/tls" "$DIR/tls"/*
    args+=(--ssl-cert="$DIR/tls/server-cert.pem" --ssl-key="$DIR/tls/server-key.pem"
      --ssl-ca="$DIR/tls/ca.pem")
  fi
  # Own session, stdin/stdout/stderr away from the caller (a caller that captures our output
  # must not wait on a pipe the server holds), and not holding our folder lock (fd 9).
  setsid "$MARIADBD" "${args[@]}" </dev/null >>"$LOG" 2>&1 9>&- &
  local launch=$!
  echo "$launch" >"$LAUNCHPID"
  # From here on, a failure must not leave a half-started server behind.
  STARTED_PID=$launch
  trap 'on_exit $?' EXIT

  local end=$((SECONDS + TIMEOUT))
  until admin ping >/dev/null 2>&1; do
    if ! is_server_pid "$launch" && ! server_pid >/dev/null; then
      sleep 0.2 # let the last log lines land
      die_with_log "mariadbd exited while starting in $DIR on 127.0.0.1:$port" "$LOG"
    fi
    if ((SECONDS >= end)); then
      die_with_log "MariaDB in $DIR did not answer within $TIMEOUT s (port $port)" "$LOG"
    fi
    sleep 0.2
  done
  # Provisioning, idempotent: runs on every start, cheap.
  if ! "$CLIENT" --no-defaults --socket="$SOCK" --user="$ADMIN_USER" --batch >"$DIR/provision.log" 2>&1 <<EOF; then
CREATE DATABASE IF NOT EXISTS $DB CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci;
CREATE USER IF NOT EXISTS '$ETL_USER'@'127.0.0.1' IDENTIFIED BY '$ETL_PASSWORD';
CREATE USER IF NOT EXISTS '$ETL_USER'@'localhost' IDENTIFIED BY '$ETL_PASSWORD';
ALTER USER '$ETL_USER'@'127.0.0.1' IDENTIFIED BY '$ETL_PASSWORD';
ALTER USER '$ETL_USER'@'localhost' IDENTIFIED BY '$ETL_PASSWORD';
GRANT ALL PRIVILEGES ON $DB.* TO '$ETL_USER'@'127.0.0.1', '$ETL_USER'@'localhost';
GRANT FILE, PROCESS ON *.* TO '$ETL_USER'@'127.0.0.1', '$ETL_USER'@'localhost';
EOF
    die_with_log "could not create database $DB / user $ETL_USER" "$DIR/provision.log" "$LOG"
  fi
  # Prove the account the tests use works: password login over TCP (so the TCP listener is
  # up too).
  if ! "$CLIENT" --no-defaults --protocol=tcp --host=127.0.0.1 --port="$port" --user="$ETL_USER" \
    --password="$ETL_PASSWORD" --connect-timeout=10 --database="$DB" --batch -e 'SELECT 1' \
    >"$DIR/login-check.log" 2>&1; then
    die_with_log "password login as $ETL_USER over 127.0.0.1:$port failed" "$DIR/login-check.log" "$LOG"
  fi
  touch "$DIR/.provisioned"
  STARTED_PID=""
  cat >"$DIR/server.env" <<EOF
ENGINE=mariadb
HOST=127.0.0.1
PORT=$port
SOCKET=$SOCK
USER=$ETL_USER
PASSWORD=$ETL_PASSWORD
DATABASE=$DB
FILES_DIR=$FILES
URL=mysql://$ETL_USER:$ETL_PASSWORD@127.0.0.1:$port/$DB
EOF
  echo "mysql://$ETL_USER@127.0.0.1:$port/$DB"
}

# open_dir DIR: for stop/kill/status.
open_dir() {
  local dir
  dir=$(realpath -- "$1" 2>/dev/null) || die "no such folder: $1"
  [[ -d $dir ]] || die "no such folder: $1"
  find_bins
  cd /
  setup_paths "$dir"
}

cmd_stop() {
  open_dir "$1"
  lock_dir "$DIR"
  local pid
  if ! pid=$(server_pid); then
    note "no server running in $DIR"
    return 0
  fi
  echo "==== $(date -u '+%F %T') shutdown ====" >>"$LOG" || true
  if ! admin shutdown >"$DIR/shutdown.log" 2>&1; then
    note "mariadb-admin shutdown failed ($(tr '\n' ' ' <"$DIR/shutdown.log")); sending SIGTERM"
    kill -TERM "$pid" 2>/dev/null || true
  fi
  wait_pid_gone "$pid" "$TIMEOUT" || die_with_log "mariadbd (pid $pid) still runs $TIMEOUT s after shutdown" "$LOG"
}

cmd_kill() {
  open_dir "$1"
  lock_dir "$DIR"
  local pid
  if ! pid=$(server_pid); then
    note "no server running in $DIR"
    return 0
  fi
  echo "==== $(date -u '+%F %T') SIGKILL pid $pid ====" >>"$LOG" || true
  kill -KILL "$pid"
  wait_pid_gone "$pid" 30 || die "mariadbd (pid $pid) survived SIGKILL for 30 s"
}

cmd_status() {
  open_dir "$1"
  server_pid >/dev/null || exit 3
}

case ${1:-} in
  install) shift; (($# == 0)) || usage; cmd_install ;;
  start) shift; cmd_start "$@" ;;
  stop) shift; (($# == 1)) || usage; cmd_stop "$1" ;;
  kill) shift; (($# == 1)) || usage; cmd_kill "$1" ;;
  status) shift; (($# == 1)) || usage; cmd_status "$1" ;;
  *) usage ;;
esac
