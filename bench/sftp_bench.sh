#!/usr/bin/env bash
# SFTP throughput on loopback against a real OpenSSH sshd (tests/servers/sshd.py): a SIZE_MB
# file of random bytes uploaded and downloaded by `sluice put/get`, by curl (libcurl's SFTP on
# libssh2) and by OpenSSH's own sftp client, best of REPEAT; ratios are the peer's time over
# sluice's (above 1: sluice is faster). sluice also pays for its safety: a temporary name, an
# fsync on the server and a size check before the rename.
#
#   bench/sftp_bench.sh
#   SIZE_MB=256 REPEAT=1 bench/sftp_bench.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$root/build}
[ -x "$build/sluice" ] || { echo "build first: make build" >&2; exit 2; }
SIZE_MB=${SIZE_MB:-1024} REPEAT=${REPEAT:-3} SLUICE=$build/sluice \
  python3 - "$root/tests/servers" <<'PY'
import os, subprocess, sys, tempfile, time
sys.path.insert(0, sys.argv[1])
from sshd import SshServer

size, repeat, sluice = int(os.environ["SIZE_MB"]), int(os.environ["REPEAT"]), os.environ["SLUICE"]
work = tempfile.mkdtemp(prefix="sluice-sftp-bench-")
local = os.path.join(work, "data.bin")
with open(local, "wb") as f:
    for _ in range(size):
        f.write(os.urandom(1 << 20))
with SshServer().start() as ssh:
    remote = f"{ssh.root}/data.bin"
    key, kh = str(ssh.key), str(ssh.known_hosts)
    sftp = ["sftp", "-q", "-b", "-", "-i", key, "-o", f"UserKnownHostsFile={kh}",
            "-P", str(ssh.port), f"{ssh.user}@127.0.0.1"]
    curl = ["curl", "-s", "-S", "--key", key, "--pubkey", key + ".pub", "--hostpubsha256",
            subprocess.run(["ssh-keygen", "-lf", str(ssh.dir / "host_ed25519.pub")],
                           capture_output=True, text=True).stdout.split()[1][7:]]
    url = f"sftp://{ssh.user}@127.0.0.1:{ssh.port}{remote}"

    def rm():
        if os.path.exists(remote):
            os.unlink(remote)

    tools = {
        "put": {
            "sluice": [sluice, "put", local, url, "--key-file", key, "--known-hosts", kh,
                       "--overwrite"],
            "curl": curl + ["-T", local, url],
            "openssh sftp": (sftp, f"put {local} {remote}\n"),
        },
        "get": {
            "sluice": [sluice, "get", url, local + ".back", "--overwrite", "--key-file", key,
                       "--known-hosts", kh],
            "curl": curl + ["-o", local + ".back", url],
            "openssh sftp": (sftp, f"get {remote} {local}.back\n"),
        },
    }
    print(f"SFTP on loopback, {size} MB, best of {repeat}")
    for op, peers in tools.items():
        best = {}
        for name, cmd in peers.items():
            times = []
            for _ in range(repeat):
                if op == "put":
                    rm()
                elif not os.path.exists(remote):
                    subprocess.run(peers_put := tools["put"]["sluice"], check=True,
                                   capture_output=True)
                stdin = None
                if isinstance(cmd, tuple):
                    cmd, stdin = cmd
                t = time.monotonic()
                subprocess.run(cmd, input=stdin, text=True, check=True, capture_output=True)
                times.append(time.monotonic() - t)
                if isinstance(stdin, str):
                    cmd = (cmd, stdin)
            best[name] = min(times)
        base = best["sluice"]
        for name, t in best.items():
            ratio = "" if name == "sluice" else f"  ratio {t / base:.2f}x"
            print(f"  {op} {name:13s} {t:6.2f} s  {size / t:7.1f} MB/s{ratio}")
subprocess.run(["rm", "-rf", work])
PY
