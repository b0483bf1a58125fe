"""A real Ray head on 127.0.0.1 for the test session: started once, stopped with nothing left behind.

`ray start --head --block` runs in its own process group with its own temp dir; the stop sends SIGTERM
(Ray stops what it started), then SIGKILL to the group and to any process naming the temp dir.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from support.lab import procs_with

QUIET = {"RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0", "RAY_DISABLE_IMPORT_WARNING": "1"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RayHead:
    def __init__(self, num_cpus: int = 4) -> None:
        os.environ.update(QUIET)  # the test process is the Ray driver: same settings as the head
        self.temp_dir = tempfile.mkdtemp(prefix="asray-", dir="/tmp")  # short: Ray's socket paths are long
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.log = Path(self.temp_dir) / "head.log"
        ray_bin = str(Path(sys.executable).with_name("ray"))
        self.proc = subprocess.Popen(
            [ray_bin, "start", "--head", "--block", f"--port={self.port}", "--node-ip-address=127.0.0.1",
             f"--num-cpus={num_cpus}", "--num-gpus=0", "--include-dashboard=false", "--disable-usage-stats",
             f"--temp-dir={self.temp_dir}", "--object-store-memory=200000000"],
            stdin=subprocess.DEVNULL, stdout=open(self.log, "wb"), stderr=subprocess.STDOUT,
            start_new_session=True, env={**os.environ, **QUIET})
        self._wait_ready()

    def _wait_ready(self, limit: float = 120) -> None:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"ray start exited: {self.log.read_text()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    pass
                if "Ray runtime started" in self.log.read_text(errors="replace"):
                    return
            except OSError:
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError("the Ray head did not start within 120 s")

    def processes(self) -> list[int]:
        return procs_with(self.temp_dir)

    def stop(self) -> None:
        try:
            import ray

            ray.shutdown()
        except ImportError:
            pass
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                pass
        for _ in range(3):
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except OSError:
                pass
            for pid in self.processes():
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            if not self.processes():
                break
            time.sleep(0.5)
        self.proc.wait(10)
        shutil.rmtree(self.temp_dir, ignore_errors=True)
