#!/usr/bin/env bash
# A throw-away PostgreSQL server for tests (DESIGN.md section 5: real parts, not mocks).
#
#   postgres.sh install          apt-get install postgresql postgresql-client when missing
#   postgres.sh start DIR PORT   initdb DIR/data on first use, start on 127.0.0.1:PORT, wait
#   postgres.sh stop DIR         pg_ctl stop -m fast
#   postgres.sh kill DIR         pg_ctl stop -m immediate (crash: WAL recovery on next start)
#   postgres.sh status DIR       exit 0 when running
#
# The server runs as the Debian 'postgres' user (as yourself when not root), listens on
# 127.0.0.1 only, keeps its unix socket in DIR and logs to DIR/postgres.log. fsync,
# synchronous_commit and full_page_writes stay on so a kill is a real crash.
#
# Accounts: role 'etl' password 'etl' (scram-sha-256 over TCP), owner of database
# 'sluice_test'. Superuser 'postgres': trust on the unix socket in DIR, over TCP with the
# generated password in DIR/superuser.password.
#
# Environment: SLUICE_PG_BINDIR (default: newest /usr/lib/postgresql/<version>/bin),
# SLUICE_SERVER_START_TIMEOUT (seconds, default 60).
set -euo pipefail
SELF_NAME=postgres.sh
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
clean_client_env

TIMEOUT=${SLUICE_SERVER_START_TIMEOUT:-60}
DB=sluice_test
ETL_USER=etl
ETL_PASSWORD=etl

usage() {
  sed -n '2,9p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

find_bindir() {
  if [[ -n ${SLUICE_PG_BINDIR:-} ]]; then
    [[ -x $SLUICE_PG_BINDIR/pg_ctl ]] || die "SLUICE_PG_BINDIR=$SLUICE_PG_BINDIR has no pg_ctl"
    echo "$SLUICE_PG_BINDIR"
    return
  fi
  local d best=""
  # Newest version wins; the Debian layout is /usr/lib/postgresql/<major>/bin.
  for d in $(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V); do
    [[ -x $d/initdb && -x $d/pg_ctl && -x $d/postgres ]] && best=$d
  done
  [[ -n $best ]] || die "no PostgreSQL server binaries under /usr/lib/postgresql/*/bin; run '$0 install'"
  echo "$best"
}

cmd_install() {
  local installed
  installed=$(apt_install postgresql postgresql-client)
  if [[ -n $installed ]]; then
    # The package's postinst may start a system cluster on port 5432. Our servers use their
    # own ports and folders, but a stray server is noise: stop it (harmless when not running;
    # a policy-rc.d that forbids services usually kept it from starting anyway).
    if command -v service >/dev/null; then service postgresql stop >/dev/null 2>&1 || true; fi
  fi
  local bindir
  bindir=$(find_bindir)
  [[ -x $bindir/psql && -x $bindir/pg_isready ]] || die "psql/pg_isready missing in $bindir"
  id postgres >/dev/null 2>&1 || ((EUID != 0)) || die "the 'postgres' user does not exist after install"
  note "ok: $("$bindir/postgres" --version)"
}

pg_running() { # DIR BINDIR
  [[ -f $1/data/postmaster.pid ]] && run_as "$RUN_USER" "$2/pg_ctl" -D "$1/data" status >/dev/null 2>&1
}

STARTED_DATA=""
on_exit() {
  if (($1 != 0)) && [[ -n $STARTED_DATA && -f $STARTED_DATA/postmaster.pid ]]; then
    note "stopping the half-started server in $STARTED_DATA"
    run_as "$RUN_USER" "$STARTED_BINDIR/pg_ctl" -D "$STARTED_DATA" -m immediate -w -t 30 stop >/dev/null 2>&1 9>&- || true
  fi
}

cmd_start() {
  (($# == 2)) || usage
  local dir port bindir
  port=$2
  check_port "$port"
  dir=$(resolve_dir "$1")
  check_socket_path "$dir/.s.PGSQL.$port"
  bindir=$(find_bindir)
  cd /  # the server user may not be able to read the caller's working folder
  RUN_USER=$(service_user postgres)
  ((EUID != 0)) || id postgres >/dev/null 2>&1 || die "user 'postgres' missing; run '$0 install'"
  claim_dir "$dir" postgres
  lock_dir "$dir"

  local data=$dir/data log=$dir/postgres.log
  if pg_running "$dir" "$bindir"; then
    die "a server from $data is already running; stop it first"
  fi

  own_by "$RUN_USER" "$dir"
  chmod 0700 "$dir"
  check_writable "$RUN_USER" "$dir"

  # A cluster counts as made only once it was fully provisioned; a half-made one (an
  # interrupted first start) is made anew.
  if [[ ! -f $dir/.provisioned ]]; then
    rm -rf -- "${data:?}" "$dir/superuser.password"
    local locale=C
    locale -a 2>/dev/null | grep -ix 'c.utf-\?8' >/dev/null && locale=C.UTF-8
    local pw
    pw=$(head -c 48 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')
    (umask 077 && printf '%s\n' "${pw:0:24}" >"$dir/superuser.password")
    own_by "$RUN_USER" "$dir/superuser.password"
    # --no-sync: initdb skips flushing the new cluster to disk (a process crash loses nothing
    # from the page cache); the server itself runs with fsync on.
    if ! run_as "$RUN_USER" "$bindir/initdb" -D "$data" -U postgres --pwfile="$dir/superuser.password" \
      -E UTF8 --locale="$locale" --auth-local=trust --auth-host=scram-sha-256 --no-sync \
      >"$dir/initdb.log" 2>&1; then
      die_with_log "initdb failed for $data" "$dir/initdb.log"
    fi
    # Loopback only: trust on the private unix socket (DIR is 0700), passwords over TCP.
    cat >"$data/pg_hba.conf" <<'EOF'
# Written by scripts/servers/postgres.sh
# TYPE  DATABASE     USER  ADDRESS       METHOD
local   all          all                 trust
local   replication  all                 trust
host    all          all   127.0.0.1/32  scram-sha-256
host    replication  all   127.0.0.1/32  scram-sha-256
EOF
    cat >>"$data/postgresql.conf" <<'EOF'

# Test harness settings (scripts/servers/postgres.sh); rewritten on every start.
include_if_exists = 'sluice_harness.conf'
EOF
    own_by "$RUN_USER" "$data/pg_hba.conf" "$data/postgresql.conf"
  fi

  # Rewritten on every start: the port may change between starts of the same folder.
  cat >"$data/sluice_harness.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '${dir//\'/\'\'}'
password_encryption = 'scram-sha-256'
# Real durability: tests kill the server and expect committed data to survive.
fsync = on
synchronous_commit = on
full_page_writes = on
logging_collector = off
log_destination = 'stderr'
log_line_prefix = '%m [%p] %q%u@%d '
timezone = 'UTC'
log_timezone = 'UTC'
EOF
  own_by "$RUN_USER" "$data/sluice_harness.conf"
  touch "$log"
  own_by "$RUN_USER" "$log"
  echo "==== $(date -u '+%F %T') start on port $port ====" >>"$log"

  # From here on, a failure must not leave a half-started server behind.
  STARTED_DATA=$data STARTED_BINDIR=$bindir
  trap 'on_exit $?' EXIT
  # pg_ctl -w waits through crash recovery and notices a postmaster that dies at once.
  if ! run_as "$RUN_USER" "$bindir/pg_ctl" -D "$data" -l "$log" -w -t "$TIMEOUT" start >"$dir/pg_ctl.out" 2>&1 9>&-; then
    die_with_log "PostgreSQL in $dir did not start on 127.0.0.1:$port (timeout $TIMEOUT s)" "$dir/pg_ctl.out" "$log"
  fi
  # And over TCP, which is what the tests use.
  local end=$((SECONDS + TIMEOUT))
  until "$bindir/pg_isready" -q -h 127.0.0.1 -p "$port" -t 2; do
    if ((SECONDS >= end)) || ! pg_running "$dir" "$bindir"; then
      die_with_log "PostgreSQL in $dir does not accept TCP connections on 127.0.0.1:$port" "$log"
    fi
    sleep 0.2
  done

  # Provisioning, idempotent: runs on every start, cheap.
  if ! "$bindir/psql" -X -q -v ON_ERROR_STOP=1 -h "$dir" -p "$port" -U postgres -d postgres \
    >"$dir/provision.log" 2>&1 <<EOF; then
SELECT 'CREATE ROLE $ETL_USER' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$ETL_USER')\gexec
ALTER ROLE $ETL_USER LOGIN CREATEDB PASSWORD '$ETL_PASSWORD';
SELECT 'CREATE DATABASE $DB OWNER $ETL_USER ENCODING ''UTF8'' TEMPLATE template0'
  WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$DB')\gexec
EOF
    die_with_log "could not create role $ETL_USER / database $DB" "$dir/provision.log" "$log"
  fi
  # Prove the account the tests use works: password login over TCP.
  if ! PGPASSWORD=$ETL_PASSWORD PGCONNECT_TIMEOUT=10 "$bindir/psql" -X -q -At -h 127.0.0.1 -p "$port" \
    -U "$ETL_USER" -d "$DB" -c 'SELECT 1' >"$dir/login-check.log" 2>&1; then
    die_with_log "password login as $ETL_USER over 127.0.0.1:$port failed" "$dir/login-check.log" "$log"
  fi
  touch "$dir/.provisioned"
  STARTED_DATA=""
  cat >"$dir/server.env" <<EOF
ENGINE=postgres
BINDIR=$bindir
HOST=127.0.0.1
PORT=$port
SOCKET_DIR=$dir
USER=$ETL_USER
PASSWORD=$ETL_PASSWORD
DATABASE=$DB
URL=postgresql://$ETL_USER:$ETL_PASSWORD@127.0.0.1:$port/$DB
EOF
  echo "postgresql://$ETL_USER@127.0.0.1:$port/$DB"
}

# stop_with MODE DIR
stop_with() {
  local mode=$1 dir bindir
  dir=$(realpath -- "$2") || die "no such folder: $2"
  [[ -d $dir/data ]] || die "$dir/data is not a PostgreSQL data folder"
  bindir=$(find_bindir)
  cd /
  RUN_USER=$(service_user postgres)
  lock_dir "$dir"
  if ! pg_running "$dir" "$bindir"; then
    note "no server running in $dir"
    return 0
  fi
  echo "==== $(date -u '+%F %T') stop -m $mode ====" >>"$dir/postgres.log" || true
  if ! run_as "$RUN_USER" "$bindir/pg_ctl" -D "$dir/data" -m "$mode" -w -t "$TIMEOUT" stop >"$dir/pg_ctl.out" 2>&1; then
    die_with_log "pg_ctl stop -m $mode failed for $dir" "$dir/pg_ctl.out" "$dir/postgres.log"
  fi
}

cmd_status() {
  (($# == 1)) || usage
  local dir bindir
  dir=$(realpath -- "$1") || exit 3
  bindir=$(find_bindir)
  cd /
  RUN_USER=$(service_user postgres)
  pg_running "$dir" "$bindir" || exit 3
}

case ${1:-} in
  install) shift; (($# == 0)) || usage; cmd_install ;;
  start) shift; cmd_start "$@" ;;
  stop) shift; (($# == 1)) || usage; stop_with fast "$1" ;;
  kill) shift; (($# == 1)) || usage; stop_with immediate "$1" ;;
  status) shift; cmd_status "$@" ;;
  *) usage ;;
esac
