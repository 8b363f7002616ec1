"""Fixtures: the built tasktail binary (TASKTAIL_BIN) serving on a free loopback port."""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))  # the package as it is in the tree


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A `tasktail serve` process; stop() and start() keep its port and data directory."""

    def __init__(self, *args: str):
        binary = os.environ.get("TASKTAIL_BIN")
        if not binary:
            pytest.fail("TASKTAIL_BIN must name the built tasktail binary (make test sets it)")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.dir = tempfile.mkdtemp(prefix="tasktail-py-")
        self.argv = [binary, "serve", "--addr", f"127.0.0.1:{self.port}", "--data-dir", self.dir, "--log-level", "warn", *args]
        self.proc = None
        self.start()

    def start(self) -> None:
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.url + "/readyz", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("tasktail serve did not get ready: " + self.proc.stderr.read1().decode())

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=15)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def server():
    s = Server()
    yield s
    s.close()


@pytest.fixture
def make_server():
    made = []

    def make(*args: str) -> Server:
        s = Server(*args)
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()
