#!/usr/bin/env bash
# Installs what building and testing sluice needs: Debian packages, the Hadoop jars of the HDFS
# test cluster (scripts/servers/hdfs.sh install), pyspark 4.3.0 for the Spark test cluster and
# the Spark Connect .proto files (scripts/servers/spark.sh install), and DuckDB 1.4.4 LTS
# (prebuilt library from the npm package @duckdb/node-bindings-linux-x64, headers from the
# duckdb npm package), verified by sha256 into third_party/duckdb (git-ignored).
# Idempotent: a second run with everything present takes well under a second.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
dest="$root/third_party/duckdb"

debian_packages=(
  build-essential cmake ninja-build pkg-config clang-format
  libyaml-cpp-dev libsqlite3-dev libgtest-dev libgmock-dev
  libpq-dev libmariadb-dev nlohmann-json3-dev libcurl4-openssl-dev libhowardhinnant-date-dev
  libmicrohttpd-dev libssh-dev openssh-server
  python3 chromium chromium-driver
  openjdk-17-jre-headless maven
  protobuf-compiler protobuf-compiler-grpc libgrpc++-dev libprotobuf-dev
)

missing=()
for p in "${debian_packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The end-to-end tests are pytest, and read the lake's Parquet with DuckDB's Python package (an
# independent reader of the same format, the same version as the engine). The import tests
# read the source servers with PyMySQL and psycopg2, independent clients, to compare cell by cell.
# croniter is the independent oracle of the schedule tests; Selenium drives Debian's Chromium
# (through its chromedriver, never Selenium Manager) in the UI tests. pyarrow reads the ORC
# files the Spark tests publish (DuckDB cannot).
if ! python3 -c "import pytest, pymysql, psycopg2, pytz, crc32c, croniter, selenium, duckdb, pyarrow.orc; assert duckdb.__version__ == '1.4.4'; from importlib.metadata import version; assert version('croniter') == '7.0.0'; assert version('selenium') == '4.51.0'; assert version('pyarrow') == '26.0.1'" \
    >/dev/null 2>&1; then
  echo "install-deps: installing pytest, PyMySQL, psycopg2, croniter, selenium, pyarrow and duckdb==1.4.4 for the tests"
  python3 -m pip install -q --disable-pip-version-check pytest duckdb==1.4.4 PyMySQL==1.1.1 pytz \
    psycopg2-binary==2.9.10 crc32c==2.7.1 croniter==7.0.0 selenium==4.51.0 pyarrow==26.0.1
fi

# The HDFS tests run a real NameNode + 2 DataNodes from the Hadoop 3.5.0 jars (Java 17, fetched
# with Maven into the user cache, sha256-pinned). Here, not at test time, is where they are
# downloaded; a no-op when the cache is complete. Before the DuckDB step, which exits early
# when DuckDB is present.
bash "$root/scripts/servers/hdfs.sh" install

# The Spark tests run a real standalone cluster (Master + 2 Workers + a Spark Connect server)
# from the pyspark 4.3.0 package (pip, sha256-pinned, into a venv in the user cache). The same
# package carries the Spark Connect protocol: its .proto files (and google/rpc status and
# error_details) go to third_party/spark-connect (git-ignored), untouched when unchanged.
# Also before the DuckDB step.
bash "$root/scripts/servers/spark.sh" install --protos-into "$root/third_party/spark-connect"

bindings_pkg="@duckdb/node-bindings-linux-x64@1.4.4-r.4"
bindings_sha="732fac4dc6b8f198870b9c4bb6ddf13544466daca00ad28ba2f1d80de5d7aa4b"
source_pkg="duckdb@1.4.4"
source_sha="5bb967dcbcd517670ba5f169f238fb9d6787e53752c60ebe24386169d76941ed"

if [ -f "$dest/.complete" ] && [ "$(cat "$dest/.complete")" = "$bindings_sha $source_sha" ]; then
  exit 0
fi

if ! command -v npm >/dev/null; then
  echo "install-deps: npm is needed to fetch DuckDB; installing Debian's npm"
  apt-get install -y -qq --no-install-recommends npm >/dev/null
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

fetch() {  # fetch PACKAGE SHA256 -> path of the verified tarball
  local pkg=$1 want=$2 tgz got
  (cd "$work" && npm pack --silent "$pkg" >/dev/null 2>"$work/npm.err") || {
    cat "$work/npm.err" >&2
    echo "install-deps: 'npm pack $pkg' failed; check that the npm registry is reachable" >&2
    exit 1
  }
  tgz=$(ls -t "$work"/*.tgz | head -n 1)
  got=$(sha256sum "$tgz" | cut -d' ' -f1)
  if [ "$got" != "$want" ]; then
    echo "install-deps: $pkg has sha256 $got, expected $want; refusing to use it" >&2
    exit 1
  fi
  mv "$tgz" "$work/$(echo "$pkg" | tr '/@' '__').tgz"
  echo "$work/$(echo "$pkg" | tr '/@' '__').tgz"
}

echo "install-deps: fetching DuckDB 1.4.4 from the npm registry"
bindings_tgz=$(fetch "$bindings_pkg" "$bindings_sha")
source_tgz=$(fetch "$source_pkg" "$source_sha")

rm -rf "$dest.tmp" && mkdir -p "$dest.tmp/lib" "$dest.tmp/include" "$work/b" "$work/s"
tar -xzf "$bindings_tgz" -C "$work/b"
tar -xzf "$source_tgz" -C "$work/s" package/src/duckdb/src/include
lib=$(find "$work/b" -name 'libduckdb.so' | head -n 1)
[ -n "$lib" ] || { echo "install-deps: libduckdb.so not found in $bindings_pkg" >&2; exit 1; }
cp "$lib" "$dest.tmp/lib/"
cp -r "$work/s/package/src/duckdb/src/include/." "$dest.tmp/include/"
echo "$bindings_sha $source_sha" >"$dest.tmp/.complete"
rm -rf "$dest" && mv "$dest.tmp" "$dest"
echo "install-deps: DuckDB installed in third_party/duckdb"
