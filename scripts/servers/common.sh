# Shared helpers for scripts/servers/*.sh. Sourced, never run.
# shellcheck shell=bash

# Which script is talking, for messages.
SELF_NAME=${SELF_NAME:-$(basename "${BASH_SOURCE[1]:-$0}")}

note() { echo "$SELF_NAME: $*" >&2; }

die() {
  echo "$SELF_NAME: ERROR: $*" >&2
  exit 1
}

# Print the end of a log file to stderr, framed so it stands out in pytest output: the part
# written since the last "==== " marker line (our scripts write one per start/stop), at most
# N lines.
log_tail() {
  local file=$1 lines=${2:-80} from
  if [[ -s $file ]]; then
    from=$(grep -n '^==== ' "$file" 2>/dev/null | tail -n 1 | cut -d: -f1 || true)
    echo "---- tail of $file ----" >&2
    tail -n "+${from:-1}" "$file" | tail -n "$lines" >&2 || true
    echo "---- (end) ----" >&2
  else
    echo "---- $file is missing or empty ----" >&2
  fi
}

# die_with_log MESSAGE LOGFILE...: fail loudly, showing the tail of every given log.
die_with_log() {
  local msg=$1
  shift
  echo "$SELF_NAME: ERROR: $msg" >&2
  local f
  for f in "$@"; do log_tail "$f" 80; done
  exit 1
}

check_port() {
  local port=$1
  if ! [[ $port =~ ^[0-9]{1,5}$ ]] || ((10#$port < 1 || 10#$port > 65535)); then
    die "bad port '$port' (want 1..65535)"
  fi
}

# resolve_dir DIR: create DIR if needed and print its absolute, symlink-free path.
resolve_dir() {
  local dir=$1
  [[ -n $dir ]] || die "missing DIR argument"
  mkdir -p -- "$dir" || die "cannot create $dir"
  realpath -- "$dir"
}

# Refuse unix socket paths that are too long for sockaddr_un (108 bytes including NUL):
# the servers fail with obscure messages otherwise.
check_socket_path() {
  local path=$1
  ((${#path} <= 100)) || die "unix socket path '$path' is ${#path} bytes long; keep it under 100 (use a short folder such as one made by mktemp -d)"
}

# Remove client environment variables that would silently redirect the command-line clients
# (PGHOST, PGPORT, PGUSER, PGPASSWORD, PGSERVICE, MYSQL_HOST, MYSQL_PWD, MYSQL_TCP_PORT, ...).
clean_client_env() {
  local v
  for v in $(compgen -e); do
    case $v in
      PG* | MYSQL_* | MARIADB_*) unset "$v" ;;
    esac
  done
}

# run_as USER CMD...: run CMD as USER when we are root, as ourselves otherwise.
run_as() {
  local user=$1
  shift
  if ((EUID == 0)); then
    runuser -u "$user" -- "$@"
  else
    "$@"
  fi
}

# The unprivileged user that owns the server files: the service user when we are root,
# ourselves otherwise (a developer without root runs the servers as themself).
service_user() {
  if ((EUID == 0)); then echo "$1"; else id -un; fi
}

# check_writable USER DIR: the server user must reach DIR. A common trap is a folder below a
# 0700 parent (pytest's tmp_path lives below a per-user folder that is 0700).
check_writable() {
  local user=$1 dir=$2
  if ! run_as "$user" test -w "$dir" -a -x "$dir"; then
    local p=$dir msg=""
    while [[ $p != / ]]; do
      p=$(dirname "$p")
      run_as "$user" test -x "$p" || msg="$msg; '$p' is not searchable by user $user ($(stat -c '%U %a' "$p"))"
    done
    die "user $user cannot write to $dir$msg. Use a folder that user can reach, e.g. one made with mktemp -d in the system temp folder."
  fi
}

# claim_dir DIR KIND: DIR must be empty or already hold a KIND server made by these scripts.
# Guards against wiping or chowning a folder given by mistake.
claim_dir() {
  local dir=$1 kind=$2 marker=$1/.sluice-server
  if [[ -f $marker ]]; then
    [[ $(cat "$marker") == "$kind" ]] || die "$dir holds a $(cat "$marker") server, not $kind"
    return 0
  fi
  if [[ -n $(find "$dir" -mindepth 1 -maxdepth 1 ! -name .harness.lock -print -quit) ]]; then
    die "$dir is not empty and was not made by $SELF_NAME; give an empty or new folder"
  fi
  echo "$kind" >"$marker"
}

# lock_dir DIR: serialise start/stop/kill on one DIR (fd 9 stays open until the script exits).
# Every daemon started while holding it must be started with 9>&- or it inherits the lock
# and holds it for its whole life.
lock_dir() {
  local dir=$1
  exec 9>"$dir/.harness.lock" || die "cannot create lock file in $dir"
  flock -w 180 9 || die "another harness command holds $dir/.harness.lock for more than 180 s"
}

pkg_installed() {
  [[ $(dpkg-query -W -f='${Status}' "$1" 2>/dev/null) == 'install ok installed' ]]
}

# own_by USER PATH...: chown to USER when we are root (no-op otherwise).
own_by() {
  local user=$1
  shift
  if ((EUID == 0)); then chown "$user": "$@"; fi
}

# apt_install PKG...: install the packages that are missing. Fast (no apt-get update, no
# network) when everything is present. Prints the names it installed on stdout.
apt_install() {
  local missing=() p
  for p in "$@"; do pkg_installed "$p" || missing+=("$p"); done
  ((${#missing[@]} == 0)) && return 0
  ((EUID == 0)) || die "packages missing: ${missing[*]}; run '$SELF_NAME install' as root"
  note "installing ${missing[*]} (apt-get update first)"
  # One apt at a time, even when both servers' fixtures install in parallel.
  local lock="${TMPDIR:-/tmp}/sluice-servers-apt.lock"
  (
    flock -w 900 8 || die "timed out waiting for $lock"
    # A concurrent run may have installed them while we waited.
    local still=() q
    for q in "${missing[@]}"; do pkg_installed "$q" || still+=("$q"); done
    ((${#still[@]} == 0)) && exit 0
    export DEBIAN_FRONTEND=noninteractive
    apt-get -o DPkg::Lock::Timeout=600 update -q >&2 8>&- || die "apt-get update failed"
    apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${still[@]}" >&2 8>&- ||
      die "apt-get install ${still[*]} failed"
  ) 8>"$lock" || exit 1
  for p in "${missing[@]}"; do pkg_installed "$p" || die "package $p still not installed"; done
  printf '%s\n' "${missing[@]}"
}

# pid_alive PID: true when PID runs and is not a zombie (a SIGKILLed daemon whose parent has
# gone may linger as a zombie until init reaps it; it holds no files or ports then).
pid_alive() {
  local pid=$1 state
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  [[ -r /proc/$pid/stat ]] || return 1
  state=$(sed -E 's/^[0-9]+ \(.*\) ([A-Za-z]).*/\1/' "/proc/$pid/stat" 2>/dev/null) || return 1
  [[ $state != Z && $state != X ]]
}

# wait_pid_gone PID SECONDS: true if PID is gone within SECONDS.
wait_pid_gone() {
  local pid=$1 secs=$2 end
  end=$((SECONDS + secs))
  while pid_alive "$pid"; do
    ((SECONDS < end)) || return 1
    sleep 0.1
  done
}
