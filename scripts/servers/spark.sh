#!/usr/bin/env bash
# A throw-away Spark standalone cluster with a Spark Connect server, for tests, on 127.0.0.1.
#
#   spark.sh install [--protos-into DIR]  pyspark 4.3.0 into a cached venv (sha256-pinned);
#                                         with DIR: the Spark Connect .proto files into DIR
#   spark.sh start DIR                    start Master, 2 Workers and the Connect server, wait
#   spark.sh stop DIR                     stop every JVM of DIR (SIGTERM, then SIGKILL)
#   spark.sh status DIR                   print each daemon's state; exit 0 when all four run
#   spark.sh kill-worker DIR N            kill -9 Worker N (1|2) and its executor JVMs
#   spark.sh start-worker DIR N           start Worker N again, wait until 2 Workers are ALIVE
#   spark.sh stop-connect DIR             stop the Connect server (its executors go with it)
#   spark.sh start-connect DIR            start the Connect server again, wait until ready
#
# Everything comes from the pyspark 4.3.0 package on PyPI: its pyspark/ folder is a complete
# SPARK_HOME (bin/spark-class, bin/spark-submit, 280 jars including spark-connect_2.13). It
# is a source distribution; it is built with --no-build-isolation against a hash-pinned
# setuptools, so every file pip fetches is checked against a sha256 below. It goes to
# ${SLUICE_CACHE_DIR:-$HOME/.cache/sluice}/spark-4.3.0/venv; start never downloads.
# --protos-into DIR writes DIR/spark/connect/*.proto (example_plugins.proto left out) and
# DIR/google/rpc/{status,error_details}.proto from the spark-connect jar; files that did not
# change are left alone (their mtimes too).
#
# The wheel has no start-master.sh / start-worker.sh: Master and Workers are started with
# bin/spark-class, the Connect server with spark-submit --class ...SparkConnectServer.
# Workers: 1 core, 1g each. The Connect application: executors of 512m and 1 core, at most 2
# cores, so it holds one executor on each Worker. "Ready" means: the Master lists 2 ALIVE
# Workers, the Connect log says "Spark Connect server started" and its gRPC port accepts TCP,
# the Master shows the application RUNNING with 2 cores, and the driver's REST API lists 2
# active executors.
#
# DIR gets: cluster.env (ports, SPARK_HOME), conf/ (spark-defaults.conf, log4j2.properties),
# {master,worker1,worker2,connect}.{log,pid}, executors/w{1,2}/ (executor folders, their stdout/
# stderr), local/, tmp/, warehouse/.
#
# Environment: SPARK_CONNECT_TOKEN (when set, the Connect server requires the header
# "authorization: Bearer <token>"), SLUICE_SPARK_JAVA_OPTS (JVM flags of every JVM; default
# -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.net.preferIPv4Stack=true),
# SLUICE_SERVER_START_TIMEOUT (seconds, default 180), SLUICE_CACHE_DIR, PYTHON (default python3,
# 3.11 or newer, for the venv).
set -euo pipefail
SELF_NAME=spark.sh
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

VERSION=4.3.0
CACHE_ROOT=${SLUICE_CACHE_DIR:-$HOME/.cache/sluice}
CACHE=$CACHE_ROOT/spark-$VERSION
VENV=$CACHE/venv
TIMEOUT=${SLUICE_SERVER_START_TIMEOUT:-180}
PYTHON=${PYTHON:-python3}
JAVA_OPTS=${SLUICE_SPARK_JAVA_OPTS:--XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.net.preferIPv4Stack=true}
HOST=127.0.0.1
APP_NAME=sluice-connect
MASTER_CLASS=org.apache.spark.deploy.master.Master
WORKER_CLASS=org.apache.spark.deploy.worker.Worker
CONNECT_CLASS=org.apache.spark.sql.connect.service.SparkConnectServer
DAEMONS=(master worker1 worker2 connect)

# sha256 of what pip fetches (PyPI) and of the jar the .proto files come from. pyspark is a
# source distribution; setuptools builds it (>= 70.1 has bdist_wheel built in: no 'wheel').
SHA_PYSPARK=e8c517948eff7088a7aa07449aa8eafa4a15a8d50319de2525a6fd26622476c6 # pyspark-4.3.0.tar.gz
SHA_PY4J=c7c26e4158defb37b0bb124933163641a2ff6e3a3913f7811b0ddbe07ed61533    # py4j-0.10.9.9-py2.py3-none-any.whl
SETUPTOOLS_VERSION=80.9.0
SHA_SETUPTOOLS=062d34222ad13e0cc312a4c02d73f059e86a4acbfbdea8f8f76b28c99f306922 # setuptools-80.9.0-py3-none-any.whl
CONNECT_JAR=spark-connect_2.13-$VERSION.jar
SHA_CONNECT_JAR=a0903c95564f0f500bf697619445d0baa4c589074bd1f8dae17a3a1cf502198e
PIN="$VERSION $SHA_PYSPARK $SHA_PY4J $SHA_SETUPTOOLS $SHA_CONNECT_JAR"

usage() {
  sed -n '2,11p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

# The pyspark folder of the venv (SPARK_HOME); empty when there is none.
spark_home() {
  local d
  for d in "$VENV"/lib/python3*/site-packages/pyspark; do
    [[ -x $d/bin/spark-class ]] && { echo "$d"; return 0; }
  done
  return 0
}

# ---- install -----------------------------------------------------------------------------

cache_complete() {
  [[ -f $CACHE/.complete && $(cat "$CACHE/.complete") == "$PIN" && -n $(spark_home) ]]
}

check_sha() { # FILE WANT
  local got
  [[ -f $1 ]] || die "$1 is missing"
  got=$(sha256sum "$1" | cut -d' ' -f1)
  [[ $got == "$2" ]] || die "$(basename "$1") has sha256 $got, expected $2; refusing to use it"
}

INSTALL_TMP=""
install_venv() {
  command -v java >/dev/null || apt_install openjdk-17-jre-headless >/dev/null
  command -v "$PYTHON" >/dev/null || die "no '$PYTHON' on PATH (pyspark $VERSION needs Python 3.11 or newer)"
  "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
    die "$PYTHON is $("$PYTHON" -V 2>&1); pyspark $VERSION needs Python 3.11 or newer (set PYTHON=...)"
  # Debian's python3 has no ensurepip (so no venv) without python3-venv.
  if ! "$PYTHON" -c 'import ensurepip' 2>/dev/null && [[ $(command -v "$PYTHON") == /usr/bin/* ]]; then
    apt_install python3-venv >/dev/null
  fi
  mkdir -p "$CACHE_ROOT" || die "cannot create $CACHE_ROOT"
  # One install at a time; a concurrent one may have finished while we waited.
  exec 8>"$CACHE_ROOT/.spark-$VERSION.lock"
  flock -w 900 8 || die "another install holds $CACHE_ROOT/.spark-$VERSION.lock"
  cache_complete && return 0
  # Left-overs of a killed install (only an install holding the lock makes them).
  rm -rf -- "$CACHE_ROOT/.spark-$VERSION.tmp."*
  note "installing pyspark $VERSION into $VENV (pip, sha256-pinned; about 450 MB)"
  INSTALL_TMP=$(mktemp -d "$CACHE_ROOT/.spark-$VERSION.tmp.XXXXXX")
  trap '[[ -n $INSTALL_TMP ]] && rm -rf -- "$INSTALL_TMP"' EXIT
  local t=$INSTALL_TMP log=$INSTALL_TMP/pip.log
  "$PYTHON" -m venv "$t/venv" >"$log" 2>&1 ||
    die_with_log "$PYTHON -m venv failed (on Debian's python3, install python3-venv)" "$log"
  printf 'setuptools==%s --hash=sha256:%s\n' "$SETUPTOOLS_VERSION" "$SHA_SETUPTOOLS" >"$t/build-requirements.txt"
  printf 'pyspark==%s --hash=sha256:%s\npy4j==0.10.9.9 --hash=sha256:%s\n' \
    "$VERSION" "$SHA_PYSPARK" "$SHA_PY4J" >"$t/requirements.txt"
  local pip=("$t/venv/bin/python" -m pip --disable-pip-version-check --no-input)
  "${pip[@]}" install --no-cache-dir --require-hashes --no-deps -r "$t/build-requirements.txt" >>"$log" 2>&1 ||
    die_with_log "pip install setuptools==$SETUPTOOLS_VERSION failed (is PyPI reachable?)" "$log"
  "${pip[@]}" install --no-cache-dir --require-hashes --no-build-isolation -r "$t/requirements.txt" >>"$log" 2>&1 ||
    die_with_log "pip install pyspark==$VERSION failed (is PyPI reachable?)" "$log"
  local home
  home=$(echo "$t"/venv/lib/python3*/site-packages/pyspark)
  [[ -x $home/bin/spark-class ]] || die "no bin/spark-class in the installed pyspark ($home)"
  check_sha "$home/jars/$CONNECT_JAR" "$SHA_CONNECT_JAR"
  # A venv records its own path (activate, the shebang lines of pip and of pyspark's
  # find_spark_home.py): point them at the final place before moving it there.
  local f
  for f in "$t"/venv/bin/*; do
    [[ -f $f && ! -L $f ]] && grep -qF "$t/venv" "$f" 2>/dev/null && sed -i "s|$t/venv|$VENV|g" "$f"
  done
  rm -rf -- "$t/pip.log" "$t/venv/bin/__pycache__"
  printf '%s\n' "$PIN" >"$t/.complete"
  rm -rf -- "$CACHE"
  mv -- "$t" "$CACHE" || die "cannot move the new cache into $CACHE"
  INSTALL_TMP=""
  chmod 755 "$CACHE"
}

# extract_protos DEST: the Spark Connect protocol (and google/rpc) from the connect jar.
extract_protos() {
  local dest=$1 home jar tmp
  home=$(spark_home)
  jar=$home/jars/$CONNECT_JAR
  check_sha "$jar" "$SHA_CONNECT_JAR"
  mkdir -p "$dest" || die "cannot create $dest"
  tmp=$(mktemp -d "$dest/.extract.XXXXXX")
  # shellcheck disable=SC2064  # expand now
  trap "rm -rf -- '$tmp'" EXIT
  "$PYTHON" - "$jar" "$tmp" <<'EOF' || die "cannot extract the .proto files from $jar"
import sys, zipfile
jar, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(jar) as z:
    names = z.namelist()
    spark = [n for n in names if n.startswith("spark/connect/") and n.endswith(".proto")
             and n.count("/") == 2 and n != "spark/connect/example_plugins.proto"]
    if "spark/connect/base.proto" not in spark:
        sys.exit("no spark/connect/base.proto in " + jar)
    rpc = [n for n in ("google/rpc/status.proto", "google/rpc/error_details.proto") if n in names]
    z.extractall(out, spark + rpc)
EOF
  printf '%s %s sha256 %s\n' "$VERSION" "$CONNECT_JAR" "$SHA_CONNECT_JAR" >"$tmp/SPARK_CONNECT_VERSION"
  # Replace only what changed, so that a build depending on these files does not rerun.
  local sub changed=0 has_rpc=0
  [[ -d $tmp/google/rpc ]] && has_rpc=1
  for sub in spark/connect google/rpc; do
    [[ -d $tmp/$sub ]] || continue
    if ! diff -r -q "$tmp/$sub" "$dest/$sub" >/dev/null 2>&1; then
      rm -rf -- "${dest:?}/$sub"
      mkdir -p "$(dirname "$dest/$sub")"
      mv -- "$tmp/$sub" "$dest/$sub"
      changed=1
    fi
  done
  if ! cmp -s "$tmp/SPARK_CONNECT_VERSION" "$dest/SPARK_CONNECT_VERSION"; then
    mv -- "$tmp/SPARK_CONNECT_VERSION" "$dest/SPARK_CONNECT_VERSION"
    changed=1
  fi
  rm -rf -- "$tmp"
  trap - EXIT
  local n
  n=$(find "$dest/spark/connect" -maxdepth 1 -name '*.proto' | wc -l)
  if ((changed)); then note "wrote $n spark/connect/*.proto to $dest"; else note "ok: $n spark/connect/*.proto in $dest (unchanged)"; fi
  if ((has_rpc)); then
    note "google/rpc: $(cd "$dest" && echo google/rpc/*.proto) in $dest"
  else
    note "google/rpc: the jar carries no status.proto / error_details.proto"
  fi
}

cmd_install() {
  local protos=""
  while (($#)); do
    case $1 in
      --protos-into) (($# >= 2)) || usage; protos=$2; shift 2 ;;
      *) usage ;;
    esac
  done
  [[ -z $protos ]] || protos=$(realpath -m -- "$protos")
  if cache_complete; then
    note "ok: pyspark $VERSION in $VENV"
  else
    install_venv
    note "ok: pyspark $VERSION in $VENV ($(du -sm "$CACHE" | cut -f1) MB)"
  fi
  note "SPARK_HOME=$(spark_home)"
  [[ -z $protos ]] || extract_protos "$protos"
}

# ---- cluster helpers -----------------------------------------------------------------------

need_cache() {
  cache_complete || die "pyspark $VERSION is not in $VENV; run '$0 install' (the deps step does)"
  command -v java >/dev/null || die "no 'java' on PATH; install openjdk-17-jre-headless"
  SPARK_HOME=$(spark_home)
  JAVA_HOME=$(readlink -f "$(command -v java)")
  JAVA_HOME=${JAVA_HOME%/bin/java}
}

# Every JVM carries -Dsluice.spark.daemon=DIR/NAME on its command line (executors:
# DIR/executor, the launcher JVM that spark-class runs first: the same as its daemon): that,
# not only the pid file, is how they are found again.
marked_pids() { # PREFIX MODE: pids whose marker is PREFIX (MODE x) or starts with it (MODE p)
  local f pid opt=-lzxF
  [[ $2 == p ]] && opt=-lzF
  for f in $(grep $opt -- "-Dsluice.spark.daemon=$1" /proc/[0-9]*/cmdline 2>/dev/null || true); do
    pid=${f#/proc/}
    pid=${pid%/cmdline}
    [[ $pid != "$$" ]] && pid_alive "$pid" && echo "$pid"
  done
  return 0
}

daemon_pids() { marked_pids "$1/$2" x; } # DIR NAME
daemon_running() { [[ -n $(daemon_pids "$1" "$2") ]]; }
all_pids() { marked_pids "$1/" p; } # DIR: every JVM of this cluster, executors included

# executor_pids DIR N: executors of Worker N (their working folder is below DIR/executors/wN).
executor_pids() {
  local pid cwd
  for pid in $(daemon_pids "$1" executor); do
    cwd=$(readlink "/proc/$pid/cwd" 2>/dev/null) || continue
    [[ $cwd == "$1/executors/w$2/"* ]] && echo "$pid"
  done
  return 0
}

free_ports() { # COUNT: distinct free ports on 127.0.0.1, one a line
  "$PYTHON" - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print("\n".join(str(s.getsockname()[1]) for s in socks))
EOF
}

load_env() { # DIR
  [[ -f $1/cluster.env ]] || die "$1/cluster.env is missing: not a Spark folder made by '$0 start'"
  # shellcheck disable=SC1091
  source "$1/cluster.env"
}

write_conf() { # DIR
  local dir=$1 c=$1/conf
  mkdir -p "$c"
  {
    echo "# Written by scripts/servers/spark.sh start; rewritten on every start."
    # No REST submission server (it would take the fixed port 6066).
    echo "spark.master.rest.enabled false"
    # A port we picked that someone else took fails the start (and the fixture retries with
    # other ports) instead of silently moving to the next port, away from cluster.env.
    echo "spark.port.maxRetries 0"
    echo "spark.ui.showConsoleProgress false"
    if [[ -n ${SPARK_CONNECT_TOKEN:-} ]]; then
      echo "spark.connect.authenticate.token $SPARK_CONNECT_TOKEN"
    fi
  } >"$c/spark-defaults.conf"
  chmod 600 "$c/spark-defaults.conf"
  cat >"$c/log4j2.properties" <<'EOF'
# Written by scripts/servers/spark.sh: plain text to stderr, which goes to DIR/<daemon>.log.
rootLogger.level = info
rootLogger.appenderRef.stderr.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{yyyy-MM-dd HH:mm:ss,SSS} %-5p %c{1}: %m%n%ex
logger.jetty.name = org.sparkproject.jetty
logger.jetty.level = warn
logger.nativecode.name = org.apache.hadoop.util.NativeCodeLoader
logger.nativecode.level = error
EOF
}

STARTED=() # daemons this command started: killed again if it fails
STARTED_DIR=""
on_exit() {
  local rc=$1 name
  if ((rc != 0)) && [[ -n $STARTED_DIR ]] && ((${#STARTED[@]} > 0)); then
    note "stopping what this command started: ${STARTED[*]}"
    for name in "${STARTED[@]}"; do
      [[ $name == worker? ]] && kill_pids KILL $(executor_pids "$STARTED_DIR" "${name#worker}")
      [[ $name == connect ]] && kill_pids KILL $(daemon_pids "$STARTED_DIR" executor)
      # shellcheck disable=SC2046  # lists of pids (the pid file covers the launcher phase)
      kill_pids KILL $(daemon_pids "$STARTED_DIR" "$name") $(pidfile_pid "$STARTED_DIR" "$name")
      rm -f "$STARTED_DIR/$name.pid"
    done
  fi
}

# launch DIR NAME: start one daemon in the background, in its own session, with a clean
# environment (no SPARK_* / PYSPARK_* / HADOOP_* of the caller).
launch() {
  local dir=$1 name=$2 log=$1/$2.log cmd opts
  daemon_running "$dir" "$name" && die "$name in $dir is already running (pid $(daemon_pids "$dir" "$name"))"
  mkdir -p "$dir/tmp/$name" "$dir/local/$name"
  opts="-Dsluice.spark.daemon=$dir/$name -Djava.io.tmpdir=$dir/tmp/$name $JAVA_OPTS"
  case $name in
    master)
      cmd=("$SPARK_HOME/bin/spark-class" "$MASTER_CLASS" --host "$HOST" --port "$MASTER_PORT"
        --webui-port "$MASTER_UI_PORT") ;;
    worker1 | worker2)
      local n=${name#worker} ui
      ui=WORKER${n}_UI_PORT
      mkdir -p "$dir/executors/w$n"
      cmd=("$SPARK_HOME/bin/spark-class" "$WORKER_CLASS" --host "$HOST" --webui-port "${!ui}"
        --cores 1 --memory 1g --work-dir "$dir/executors/w$n" "spark://$HOST:$MASTER_PORT") ;;
    connect)
      mkdir -p "$dir/tmp/executor" "$dir/warehouse"
      cmd=("$SPARK_HOME/bin/spark-submit" --class "$CONNECT_CLASS" --name "$APP_NAME"
        --master "spark://$HOST:$MASTER_PORT" --driver-memory 1g
        --conf "spark.driver.extraJavaOptions=$opts"
        --conf "spark.executor.extraJavaOptions=-Dsluice.spark.daemon=$dir/executor -Djava.io.tmpdir=$dir/tmp/executor $JAVA_OPTS"
        --conf spark.driver.host=$HOST --conf spark.driver.bindAddress=$HOST
        --conf spark.connect.grpc.binding.address=$HOST
        --conf "spark.connect.grpc.binding.port=$CONNECT_PORT"
        --conf spark.executor.memory=512m --conf spark.executor.cores=1 --conf spark.cores.max=2
        --conf "spark.sql.warehouse.dir=$dir/warehouse" --conf "spark.local.dir=$dir/local/connect"
        --conf "spark.ui.port=$DRIVER_UI_PORT" --conf spark.sql.shuffle.partitions=4
        spark-internal) ;;
    *) die "unknown daemon $name" ;;
  esac
  echo "==== $(date -u '+%F %T') start $name ====" >>"$log"
  rm -f "$dir/$name.pid"
  STARTED+=("$name")
  # The shell writes its own pid and execs spark-class, which execs java: the pid file holds
  # the JVM's pid. The working folder is DIR (a stray derby.log or spark-warehouse lands there).
  local home=$SPARK_HOME java_home=$JAVA_HOME v
  (
    cd "$dir"
    for v in $(compgen -e); do
      case $v in SPARK_* | PYSPARK_* | HADOOP_* | YARN_* | _JAVA_OPTIONS | JAVA_TOOL_OPTIONS) unset "$v" ;; esac
    done
    export SPARK_HOME=$home JAVA_HOME=$java_home SPARK_LOCAL_IP=$HOST SPARK_CONF_DIR=$dir/conf
    export SPARK_LOG_DIR=$dir SPARK_WORKER_DIR=$dir/executors SPARK_PID_DIR=$dir
    export SPARK_LAUNCHER_OPTS="-Dsluice.spark.daemon=$dir/$name" PYSPARK_PYTHON=$VENV/bin/python
    # Not for the Connect server: spark-submit treats it as a daemon too, and SPARK_DAEMON_MEMORY
    # would override --driver-memory. Its options come in as spark.driver.extraJavaOptions.
    if [[ $name != connect ]]; then
      export SPARK_DAEMON_MEMORY=512m SPARK_DAEMON_JAVA_OPTS=$opts
      # A Worker's local folders (its executors' shuffle and spill files) stay in DIR too.
      export SPARK_LOCAL_DIRS=$dir/local/$name
    fi
    exec setsid bash -c 'echo $$ >"$1"; shift; exec "$@"' launch "$dir/$name.pid" "${cmd[@]}" \
      </dev/null >>"$log" 2>&1 9>&- 8>&-
  ) &
  disown 2>/dev/null || true
  local end=$((SECONDS + 10))
  until [[ -s $dir/$name.pid ]]; do
    ((SECONDS < end)) || die_with_log "$name in $dir did not write its pid file" "$log"
    sleep 0.05
  done
}

# pidfile_pid DIR NAME: the pid in DIR/NAME.pid when that process still runs.
pidfile_pid() {
  local pid
  pid=$(cat "$1/$2.pid" 2>/dev/null) || return 0
  pid_alive "$pid" && echo "$pid"
  return 0
}

kill_pids() { # SIGNAL PID...: signal, wait until gone (SIGKILL after 10 s)
  local sig=$1 pid
  shift
  (($#)) || return 0
  for pid in "$@"; do kill -"$sig" "$pid" 2>/dev/null || true; done
  for pid in "$@"; do
    if ! wait_pid_gone "$pid" 10; then
      kill -KILL "$pid" 2>/dev/null || true
      wait_pid_gone "$pid" 10 || die "pid $pid does not die even with SIGKILL"
    fi
  done
}

log_mark() { echo "==== $(date -u '+%F %T') $2 ====" >>"$1" 2>/dev/null || true; } # LOG TEXT

# probe WITH_APP: exit 0 when the cluster is ready, else print why (one line).
probe() {
  "$PYTHON" - "$MASTER_UI_PORT" "$CONNECT_PORT" "$DRIVER_UI_PORT" "$APP_NAME" "$1" <<'EOF'
import json, socket, sys, urllib.request
master_ui, connect, driver_ui, app_name, with_app = sys.argv[1:6]
def get(url):
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.loads(r.read())
try:
    m = get(f"http://127.0.0.1:{master_ui}/json/")
    alive = [w for w in m.get("workers", []) if w.get("state") == "ALIVE"]
    if len(alive) != 2:
        sys.exit(f"the Master lists {len(alive)} ALIVE Workers, want 2")
    if with_app != "1":
        sys.exit(0)
    with socket.create_connection(("127.0.0.1", int(connect)), timeout=5):
        pass
    apps = [a for a in m.get("activeapps", []) if a.get("name") == app_name]
    if len(apps) != 1 or apps[0].get("state") != "RUNNING" or apps[0].get("cores") != 2:
        sys.exit("the Master shows the application as "
                 + json.dumps([{k: a.get(k) for k in ("id", "state", "cores")} for a in apps]))
    app = apps[0]["id"]
    ex = get(f"http://127.0.0.1:{driver_ui}/api/v1/applications/{app}/executors")
    active = [e for e in ex if e.get("id") != "driver" and e.get("isActive")]
    if len(active) != 2:
        sys.exit(f"the driver lists {len(active)} active executors of {app}, want 2")
except SystemExit:
    raise
except Exception as e:
    sys.exit(f"{type(e).__name__}: {e}")
EOF
}

# log_segment LOG: the part of LOG written since its last "==== " marker line (this start).
log_segment() {
  local from
  [[ -f $1 ]] || return 0
  from=$(grep -n '^==== ' "$1" | tail -n 1 | cut -d: -f1 || true)
  tail -n "+${from:-1}" "$1"
}

# connect_started DIR: the Connect log says it started (since the last start). grep reads all
# its input (no -q): with pipefail, a grep that quits early makes a long log's tail die of
# SIGPIPE and the test fail.
connect_started() {
  log_segment "$1/connect.log" | grep 'Spark Connect server started' >/dev/null
}

# wait_ready DIR WHAT WITH_APP: wait until 2 Workers are ALIVE (and, with WITH_APP=1, the
# Connect server is up with its 2 executors), failing early when one of ours died.
wait_ready() {
  local dir=$1 what=$2 with_app=$3 end why="" name names=(master worker1 worker2)
  ((with_app)) && names+=(connect)
  end=$((SECONDS + TIMEOUT))
  while true; do
    if ((with_app)) && ! connect_started "$dir"; then
      why="the Connect log does not say 'Spark Connect server started' yet"
    elif why=$(probe "$with_app" 2>&1); then
      return 0
    fi
    for name in "${names[@]}"; do
      if ! daemon_running "$dir" "$name" && [[ -z $(pidfile_pid "$dir" "$name") ]]; then
        # A port we picked may have been taken meanwhile: say so up front (the fixture then
        # retries with other ports), whatever the length of the stack trace below.
        local bind
        bind=$(log_segment "$dir/$name.log" | grep -m 1 -o 'Address already in use.*' || true)
        die_with_log "$what: the $name JVM exited (last state: $why)${bind:+; $bind}" \
          "$dir/$name.log" $([[ $name == master ]] || echo "$dir/master.log")
      fi
    done
    if ((SECONDS >= end)); then
      die_with_log "$what: not ready after $TIMEOUT s: $why" "$dir/master.log" "$dir/worker1.log" \
        "$dir/worker2.log" "$dir/connect.log"
    fi
    sleep 1
  done
}

open_dir() { # DIR -> sets D (absolute), locks it, loads cluster.env
  D=$(realpath -- "$1") || die "no such folder: $1"
  [[ -f $D/.sluice-server && $(cat "$D/.sluice-server") == spark ]] || die "$D is not a Spark folder made by '$0 start'"
  cd /
  lock_dir "$D"
  load_env "$D"
}

check_n() { [[ $1 == 1 || $1 == 2 ]] || die "Worker number must be 1 or 2, not '$1'"; }

# ---- commands ------------------------------------------------------------------------------

cmd_start() {
  (($# == 1)) || usage
  need_cache
  local dir
  dir=$(resolve_dir "$1")
  [[ $dir != *[[:space:]]* ]] || die "'$dir' contains white space (Spark splits Java options on it)"
  cd /
  claim_dir "$dir" spark
  lock_dir "$dir"
  [[ -z $(all_pids "$dir") ]] && [[ -z $(daemon_pids "$dir" executor) ]] ||
    die "JVMs of $dir are already running ($(all_pids "$dir" | tr '\n' ' ')); stop them first"

  local ports
  mapfile -t ports < <(free_ports 6)
  ((${#ports[@]} == 6)) || die "could not pick free ports"
  MASTER_PORT=${ports[0]} MASTER_UI_PORT=${ports[1]} WORKER1_UI_PORT=${ports[2]}
  WORKER2_UI_PORT=${ports[3]} CONNECT_PORT=${ports[4]} DRIVER_UI_PORT=${ports[5]}
  cat >"$dir/cluster.env" <<EOF
MASTER_PORT=$MASTER_PORT
MASTER_UI_PORT=$MASTER_UI_PORT
WORKER1_UI_PORT=$WORKER1_UI_PORT
WORKER2_UI_PORT=$WORKER2_UI_PORT
CONNECT_PORT=$CONNECT_PORT
DRIVER_UI_PORT=$DRIVER_UI_PORT
SPARK_HOME=$SPARK_HOME
EOF
  write_conf "$dir"

  STARTED_DIR=$dir
  trap 'on_exit $?' EXIT
  launch "$dir" master
  launch "$dir" worker1
  launch "$dir" worker2
  launch "$dir" connect
  wait_ready "$dir" "Spark in $dir (Master UI 127.0.0.1:$MASTER_UI_PORT)" 1
  STARTED=()
  echo "sc://$HOST:$CONNECT_PORT"
}

cmd_stop() {
  (($# == 1)) || usage
  open_dir "$1"
  local name pid
  # The Connect server first (it ends its application; the Workers then end its executors),
  # then the rest at once; SIGKILL what is still there after a few seconds.
  for pid in $(daemon_pids "$D" connect); do
    log_mark "$D/connect.log" "stop: SIGTERM"
    kill -TERM "$pid" 2>/dev/null || true
    wait_pid_gone "$pid" 15 || kill -KILL "$pid" 2>/dev/null || true
  done
  local pids=()
  for name in worker2 worker1 master executor; do
    for pid in $(daemon_pids "$D" "$name"); do
      [[ $name != executor ]] && log_mark "$D/$name.log" "stop: SIGTERM"
      kill -TERM "$pid" 2>/dev/null || true
      pids+=("$pid")
    done
  done
  for pid in "${pids[@]}"; do
    if ! wait_pid_gone "$pid" 5; then
      kill -KILL "$pid" 2>/dev/null || true
      wait_pid_gone "$pid" 10 || die "pid $pid does not die even with SIGKILL"
    fi
  done
  # Anything still marked with this folder (a launcher JVM, a late executor).
  pids=($(all_pids "$D"))
  ((${#pids[@]} == 0)) || kill_pids KILL "${pids[@]}"
  [[ -z $(all_pids "$D") ]] || die "JVMs of $D still run after stop: $(all_pids "$D" | tr '\n' ' ')"
  for name in "${DAEMONS[@]}"; do rm -f "$D/$name.pid"; done
  return 0
}

cmd_status() {
  (($# == 1)) || usage
  local dir name rc=0 pids
  dir=$(realpath -- "$1") || exit 3
  [[ -f $dir/cluster.env ]] || exit 3
  for name in "${DAEMONS[@]}"; do
    pids=$(daemon_pids "$dir" "$name")
    if [[ -n $pids ]]; then echo "$name running (pid $pids)"; else echo "$name stopped"; rc=3; fi
  done
  pids=$(daemon_pids "$dir" executor)
  echo "executors: $(echo "$pids" | grep -c . || true) running${pids:+ (pid $(echo $pids))}"
  return $rc
}

cmd_kill_worker() {
  (($# == 2)) || usage
  check_n "$2"
  open_dir "$1"
  local pids
  pids=$(daemon_pids "$D" "worker$2")
  [[ -n $pids ]] || die "Worker $2 in $D is not running"
  log_mark "$D/worker$2.log" "kill-worker: SIGKILL"
  # shellcheck disable=SC2046  # lists of pids
  kill_pids KILL $pids $(executor_pids "$D" "$2")
  rm -f "$D/worker$2.pid"
}

cmd_start_worker() {
  (($# == 2)) || usage
  check_n "$2"
  need_cache
  open_dir "$1"
  STARTED_DIR=$D
  trap 'on_exit $?' EXIT
  launch "$D" "worker$2"
  # With the Connect server up, also wait until its application has an executor on each
  # Worker again (the Master gives it the new Worker's core).
  local with_app=0
  daemon_running "$D" connect && with_app=1
  wait_ready "$D" "Worker $2 in $D" "$with_app"
  STARTED=()
}

cmd_stop_connect() {
  (($# == 1)) || usage
  open_dir "$1"
  local pids
  pids=$(daemon_pids "$D" connect)
  [[ -n $pids ]] || die "the Connect server in $D is not running"
  log_mark "$D/connect.log" "stop-connect: SIGTERM"
  # shellcheck disable=SC2086
  kill_pids TERM $pids
  rm -f "$D/connect.pid"
  # Its executors end when the driver is gone; do not leave a slow one behind.
  local end=$((SECONDS + 15))
  while [[ -n $(daemon_pids "$D" executor) ]] && ((SECONDS < end)); do sleep 0.5; done
  # shellcheck disable=SC2046
  kill_pids KILL $(daemon_pids "$D" executor)
}

cmd_start_connect() {
  (($# == 1)) || usage
  need_cache
  open_dir "$1"
  write_conf "$D"
  STARTED_DIR=$D
  trap 'on_exit $?' EXIT
  launch "$D" connect
  wait_ready "$D" "Spark Connect server in $D" 1
  STARTED=()
  echo "sc://$HOST:$CONNECT_PORT"
}

case ${1:-} in
  install) shift; cmd_install "$@" ;;
  start) shift; cmd_start "$@" ;;
  stop) shift; cmd_stop "$@" ;;
  status) shift; cmd_status "$@" ;;
  kill-worker) shift; cmd_kill_worker "$@" ;;
  start-worker) shift; cmd_start_worker "$@" ;;
  stop-connect) shift; cmd_stop_connect "$@" ;;
  start-connect) shift; cmd_start_connect "$@" ;;
  *) usage ;;
esac
