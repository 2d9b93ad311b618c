"""A real OpenSSH server for the SFTP tests, on 127.0.0.1 and a free port (standard library only).

    from sshd import SshServer
    with SshServer().start() as ssh:
        ssh.url("/upload/x.csv")      # sftp://user@127.0.0.1:PORT/<root>/upload/x.csv
        ssh.key, ssh.known_hosts       # an authorized ed25519 key and a known_hosts that trusts
                                       # the server's generated host key

Runs /usr/sbin/sshd -D with its own config, host key and authorized_keys in a fresh folder,
and the internal SFTP server. When we are root, logins go to an unprivileged test account
(created once, with a password set for this session) so that file permissions mean something;
otherwise to the current user. `root` is a folder the login user owns where tests write.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from servers import HOST, ServerError, free_port

SSHD = "/usr/sbin/sshd"
TEST_USER = "sluicesftp"
START_TIMEOUT = 30


def _run(cmd, **kw):
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120, **kw)
    if res.returncode != 0:
        raise ServerError(f"{' '.join(map(str, cmd))} failed ({res.returncode}): "
                          f"{res.stdout}{res.stderr}")
    return res


def install() -> None:
    """apt-get install openssh-server when sshd is missing."""
    if os.path.exists(SSHD):
        return
    if os.geteuid() != 0:
        raise ServerError(f"{SSHD} is missing: install openssh-server")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    _run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", "openssh-server"],
         env=env)


class SshServer:
    def __init__(self):
        self.dir: Path | None = None
        self.port: int | None = None
        self.proc: subprocess.Popen | None = None
        self.user = ""
        self.password = ""
        self.root: Path | None = None

    # ---- lifecycle -------------------------------------------------------------------

    def start(self) -> "SshServer":
        install()
        self.dir = Path(tempfile.mkdtemp(prefix="sluice-sshd-"))
        os.chmod(self.dir, 0o755)
        self.port = free_port()
        self._make_user()
        keygen = shutil.which("ssh-keygen") or "/usr/bin/ssh-keygen"
        for name, kind in (("host_ed25519", "ed25519"), ("host_other", "ed25519"),
                           ("client_ed25519", "ed25519"), ("client_rsa", "rsa"),
                           ("stranger_ed25519", "ed25519")):
            _run([keygen, "-q", "-t", kind, "-N", "", "-C", f"sluice-test-{name}",
                  "-f", str(self.dir / name)])
        authorized = (self.dir / "client_ed25519.pub").read_text() + \
            (self.dir / "client_rsa.pub").read_text()
        (self.dir / "authorized_keys").write_text(authorized)
        os.chmod(self.dir / "authorized_keys", 0o644)
        host_pub = (self.dir / "host_ed25519.pub").read_text().split()
        self.known_hosts = self.dir / "known_hosts"
        self.known_hosts.write_text(f"[{HOST}]:{self.port} {host_pub[0]} {host_pub[1]}\n")
        other_pub = (self.dir / "host_other.pub").read_text().split()
        self.changed_known_hosts = self.dir / "known_hosts_changed"
        self.changed_known_hosts.write_text(f"[{HOST}]:{self.port} {other_pub[0]} {other_pub[1]}\n")
        self.key = self.dir / "client_ed25519"
        self.rsa_key = self.dir / "client_rsa"
        self.stranger_key = self.dir / "stranger_ed25519"
        self.root = self.dir / "root"
        self.root.mkdir()
        pw = pwd.getpwnam(self.user)
        os.chown(self.root, pw.pw_uid, pw.pw_gid)
        config = self.dir / "sshd_config"
        config.write_text(f"""Port {self.port}
ListenAddress {HOST}
HostKey {self.dir}/host_ed25519
PidFile {self.dir}/sshd.pid
AuthorizedKeysFile {self.dir}/authorized_keys
StrictModes no
PubkeyAuthentication yes
PasswordAuthentication {"yes" if self.password else "no"}
KbdInteractiveAuthentication no
UsePAM no
PermitRootLogin no
AllowUsers {self.user}
MaxStartups 100
Subsystem sftp internal-sftp
LogLevel VERBOSE
""")
        if os.geteuid() == 0:
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        self.log = self.dir / "sshd.log"
        self.proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)],
                                     stdout=subprocess.DEVNULL, stderr=open(self.log, "wb"),
                                     start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.proc.poll() is not None:
                raise ServerError(f"sshd exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                with socket.create_connection((HOST, self.port), timeout=2) as s:
                    if s.recv(64).startswith(b"SSH-"):
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise ServerError(f"sshd did not answer on port {self.port} within "
                                  f"{START_TIMEOUT} s:\n{self.log_tail()}")
            time.sleep(0.1)
        return self

    def _make_user(self) -> None:
        if os.geteuid() != 0:
            self.user = pwd.getpwuid(os.getuid()).pw_name
            self.password = ""  # we cannot know it: password tests need root
            return
        self.user = TEST_USER
        try:
            pwd.getpwnam(TEST_USER)
        except KeyError:
            _run(["useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent",
                  "--shell", "/bin/sh", TEST_USER])
        self.password = "pw-" + secrets.token_hex(8)
        _run(["chpasswd"], input=f"{TEST_USER}:{self.password}\n")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGCONT)
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        # Sessions still open (a test that stopped mid-transfer) go too.
        subprocess.run(["pkill", "-KILL", "-f", f"sshd: {self.user}"], capture_output=True)

    def cleanup(self) -> None:
        self.stop()
        if self.dir and not os.environ.get("SLUICE_KEEP_SERVER_DIRS"):
            shutil.rmtree(self.dir, ignore_errors=True)

    def pause(self) -> None:
        """SIGSTOP the listener: new connections are accepted by the kernel and then hang."""
        os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.proc.pid, signal.SIGCONT)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.cleanup()

    # ---- facts -------------------------------------------------------------------------

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""

    def url(self, path: str = "") -> str:
        """sftp://user@127.0.0.1:port/<path>: absolute paths as given, others under root."""
        p = path if path.startswith("/") else f"{self.root}/{path}"
        return f"sftp://{self.user}@{HOST}:{self.port}{p}"

    def chown(self, path: Path) -> None:
        """Give path (and below) to the login user."""
        pw = pwd.getpwnam(self.user)
        for p in [path, *path.rglob("*")] if path.is_dir() else [path]:
            os.chown(p, pw.pw_uid, pw.pw_gid)

    def connection_yaml(self, name: str = "bi", **extra) -> str:
        """A connections: entry for a pipeline file (flow style, one line)."""
        fields = {"type": "sftp", "host": HOST, "port": self.port, "user": self.user,
                  "key_file": str(self.key), "known_hosts": str(self.known_hosts)}
        fields.update(extra)
        fields = {k: v for k, v in fields.items() if v is not None}
        return f"  {name}: {{" + ", ".join(f"{k}: {v}" for k, v in fields.items()) + "}"
