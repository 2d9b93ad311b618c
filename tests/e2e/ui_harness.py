"""Starts `sluice ui` (or `sluice scheduler --ui`) on a free loopback port and talks HTTP to it,
for the API, security and browser tests. Every request has a deadline."""

import json
import os
import re
import signal
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import sluice_bin

HTTP_TIMEOUT = 30


@dataclass
class Answer:
    status: int
    body: bytes
    headers: dict

    @property
    def json(self):
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def __str__(self):
        return f"HTTP {self.status} {self.text[:2000]}"


class UiProcess:
    """A running `sluice ui`; stop() ends it (SIGTERM, then SIGKILL) and reaps it."""

    def __init__(self, *args, cwd=None, env=None, command="ui"):
        full_env = dict(os.environ)
        full_env.pop("SLUICE_FAULT", None)
        full_env.pop("SLUICE_UI_ASSETS_DIR", None)  # test what is built into the binary
        if env:
            full_env.update(env)
        self.log = open(Path(cwd or ".") / f".ui-{time.monotonic_ns()}.log", "w+b")
        self.proc = subprocess.Popen([sluice_bin(), command] + [str(a) for a in args], cwd=cwd,
                                     env=full_env, stdout=self.log, stderr=subprocess.STDOUT)
        self.url = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            m = re.search(r"(http://[^\s/]+/)", self.output())
            if m:
                self.url = m.group(1)
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        out = self.output()
        self.stop()
        pytest.fail(f"sluice {command} did not start serving:\n{out}")

    def output(self) -> str:
        if not self.log.closed:
            self.log.flush()
        return Path(self.log.name).read_bytes().decode("utf-8", "replace")

    def request(self, method: str, path: str, body=None, headers=None, raw: bytes = None) -> Answer:
        data = raw
        h = dict(headers or {})
        if body is not None:
            data = json.dumps(body).encode()
            h.setdefault("Content-Type", "application/json")
        req = urllib.request.Request(self.url.rstrip("/") + path, data=data, method=method,
                                     headers=h)
        try:
            with urllib.request.urlopen(req, timeout=HTTP_TIMEOUT) as r:
                return Answer(r.status, r.read(), {k.lower(): v for k, v in r.headers.items()})
        except urllib.error.HTTPError as e:
            return Answer(e.code, e.read(), {k.lower(): v for k, v in e.headers.items()})

    def get(self, path: str, **kw) -> Answer:
        return self.request("GET", path, **kw)

    def post(self, path: str, body=None, **kw) -> Answer:
        return self.request("POST", path, body=body if body is not None else {}, **kw)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=15)
        self.log.close()
