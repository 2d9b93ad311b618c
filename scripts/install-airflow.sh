#!/usr/bin/env bash
# Installs Apache Airflow 3.3.2 (and its standard provider) into a venv, for the tests that check
# the DAG files `sluice airflow` writes against the real Airflow. Every wheel is pinned by
# version and sha256 in scripts/airflow-requirements.txt and installed with --require-hashes
# --no-deps, so what the tests run is exactly what was locked.
#
#   bash scripts/install-airflow.sh            install if needed; prints the venv's path on stdout
#   bash scripts/install-airflow.sh --relock   resolve again and rewrite the lock file
#
# The venv is ${SLUICE_CACHE:-$HOME/.cache/sluice}/airflow-3.3.2. Idempotent: when the venv is
# complete for the current lock file (marker file holding the lock's sha256), a run only checks
# the marker and prints the path. Concurrent runs are serialized with flock.
set -euo pipefail

SELF_NAME=install-airflow
note() { echo "$SELF_NAME: $*" >&2; }
die() {
  echo "$SELF_NAME: ERROR: $*" >&2
  exit 1
}

root=$(cd "$(dirname "$0")/.." && pwd)
lock="$root/scripts/airflow-requirements.txt"
airflow_version=3.3.2
standard_provider_version=1.21.0
# The lock holds the wheels for this interpreter only (binary wheels are per Python version).
python_version=3.11
python=${PYTHON:-python3}
cache=${SLUICE_CACHE:-$HOME/.cache/sluice}
venv="$cache/airflow-$airflow_version"
marker="$venv/.sluice-lock-sha256"
# pip's defaults (5 retries of PIP_DEFAULT_TIMEOUT each) make a dead index look like a hang.
pip_net_opts=(--timeout 30 --retries 2 --disable-pip-version-check)

# Fails with a clear message when pip's log shows that it could not reach the package index.
explain_pip_failure() {  # explain_pip_failure LOG WHAT
  local log=$1 what=$2
  echo "---- last lines of pip's output ($log) ----" >&2
  tail -n 25 "$log" >&2 || true
  echo "---- (end) ----" >&2
  local unreachable='NewConnectionError|ConnectTimeout|ConnectionError|Max retries exceeded'
  unreachable+='|Temporary failure in name resolution|Name or service not known'
  unreachable+='|Network is unreachable|Connection refused|ProxyError|SSLError|ReadTimeoutError'
  unreachable+='|Could not fetch URL|No matching distribution found'
  if grep -qE "$unreachable" "$log"; then
    die "$what: pip could not download from the package index (no network, a proxy, or an" \
      "index setting such as PIP_INDEX_URL is wrong). Fix the connection and run again:" \
      "bash scripts/install-airflow.sh"
  fi
  die "$what failed (see pip's output above)"
}

check_python() {
  command -v "$python" >/dev/null ||
    die "$python not found; install Python $python_version or set PYTHON"
  local have
  have=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
  [ "$have" = "$python_version" ] || die "$python is Python $have, but $lock holds wheels for" \
    "Python $python_version; set PYTHON to a python$python_version, or relock with --relock"
  "$python" -c 'import venv, ensurepip' 2>/dev/null ||
    die "$python cannot create venvs; on Debian: apt-get install python3-venv"
}

# Resolves Airflow again in a throwaway venv and writes every wheel it chose, with its sha256,
# to the lock file. Run by hand when moving to another Airflow version; commit the result.
relock() {
  check_python
  # Global, not local: the EXIT trap runs after relock returns.
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  "$python" -m venv "$work/venv"
  note "resolving apache-airflow==$airflow_version (takes about 20 s)"
  "$work/venv/bin/pip" install "${pip_net_opts[@]}" -q --dry-run --ignore-installed \
    --only-binary :all: --report "$work/report.json" \
    "apache-airflow==$airflow_version" \
    "apache-airflow-providers-standard==$standard_provider_version" >"$work/pip.log" 2>&1 ||
    explain_pip_failure "$work/pip.log" "resolving Airflow"
  "$python" - "$work/report.json" "$lock" "$python_version" <<'EOF'
import json, sys
report, lock, pyver = sys.argv[1:]
rows = []
for item in json.load(open(report))["install"]:
    sha = item["download_info"]["archive_info"]["hashes"]["sha256"]
    rows.append((item["metadata"]["name"].lower(), item["metadata"]["version"], sha))
with open(lock, "w") as f:
    f.write(f"# Apache Airflow for sluice's DAG tests: every wheel, pinned by version and sha256\n"
            f"# (CPython {pyver}, Linux x86_64 glibc). Installed by scripts/install-airflow.sh"
            f" with\n# pip install --require-hashes --no-deps --only-binary :all:.\n"
            f"# Written by `bash scripts/install-airflow.sh --relock`; do not edit by hand.\n")
    for name, version, sha in sorted(rows):
        f.write(f"{name}=={version} \\\n    --hash=sha256:{sha}\n")
print(f"{len(rows)} wheels", file=sys.stderr)
EOF
  note "wrote $lock; install it with: bash scripts/install-airflow.sh"
}

if [ "${1:-}" = "--relock" ]; then
  relock
  exit 0
elif [ $# -gt 0 ]; then
  die "unknown argument '$1' (usage: install-airflow.sh [--relock])"
fi

[ -f "$lock" ] || die "$lock is missing (create it with: bash scripts/install-airflow.sh --relock)"
want=$(sha256sum "$lock" | cut -d' ' -f1)
if [ -f "$marker" ] && [ "$(cat "$marker")" = "$want" ] && [ -x "$venv/bin/airflow" ]; then
  echo "$venv"
  exit 0
fi

mkdir -p "$cache"
exec 9>"$cache/.airflow-$airflow_version.lock"
flock -w 600 9 ||
  die "another install-airflow.sh has held $cache/.airflow-$airflow_version.lock for 10 minutes"
# Another run may have finished the install while this one waited for the lock.
if [ -f "$marker" ] && [ "$(cat "$marker")" = "$want" ] && [ -x "$venv/bin/airflow" ]; then
  echo "$venv"
  exit 0
fi

check_python
# A venv cannot be moved (its scripts hold its absolute path), so it is built in place and the
# marker is written last: an interrupted install is never taken for a complete one.
note "installing Airflow $airflow_version into $venv (about 30 s, 300 MB)"
rm -rf "$venv"
"$python" -m venv "$venv"
"$venv/bin/pip" install "${pip_net_opts[@]}" -q --require-hashes --no-deps \
  --only-binary :all: -r "$lock" >"$cache/airflow-install.log" 2>&1 ||
  explain_pip_failure "$cache/airflow-install.log" "installing Airflow"
"$venv/bin/pip" check >>"$cache/airflow-install.log" 2>&1 ||
  die "pip check found broken requirements in $venv: the lock file misses a dependency" \
    "(relock with: bash scripts/install-airflow.sh --relock); see $cache/airflow-install.log"
# Importing airflow creates $AIRFLOW_HOME/logs, by default ~/airflow/logs: give it a throwaway home.
check_home=$(mktemp -d)
got=$(AIRFLOW_HOME=$check_home "$venv/bin/python" -c 'import airflow; print(airflow.__version__)' \
  2>>"$cache/airflow-install.log") || got=""
rm -rf "$check_home"
[ -n "$got" ] || die "Airflow does not import in $venv; see $cache/airflow-install.log"
[ "$got" = "$airflow_version" ] || die "$venv has Airflow $got, expected $airflow_version"
echo "$want" >"$marker"
note "Airflow $airflow_version ready in $venv"
echo "$venv"
