"""A real headless Chromium for the web view's tests: Debian's chromium and chromedriver, driven by Selenium
through the driver's path (never Selenium Manager, which would download one), and `serve` in a real process."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

CHROMIUM = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
CHROMEDRIVER = ("/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1280,900")


def _first(paths: tuple[str, ...], name: str) -> str | None:
    return next((p for p in paths if Path(p).is_file()), None) or shutil.which(name)


def missing_browser() -> None:
    """Skip, or fail in CI (CI=true): the browser tests must run there."""
    message = "chromium and chromedriver are needed (apt-get install chromium chromium-driver)"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message)
    pytest.skip(message)


def chrome(profile: Path):
    """A headless Chromium with a fresh profile, or the test is skipped (failed in CI) without one."""
    browser, driver = _first(CHROMIUM, "chromium"), _first(CHROMEDRIVER, "chromedriver")
    if not browser or not driver:
        missing_browser()
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must not fetch anything
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    return webdriver.Chrome(service=Service(executable_path=driver), options=options)


class Served:
    """`agent-scientist serve` in a process of its own; `url` carries the token it printed."""

    def __init__(self, env: dict[str, str], cwd: Path, *flags: str):
        self.proc = subprocess.Popen([sys.executable, "-m", "agent_scientist", "serve", "--port", "0", *flags],
                                     env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.url = ""
        deadline = time.monotonic() + 60
        lines = []
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()  # type: ignore[union-attr]
            if not line:
                break
            lines.append(line)
            m = re.search(r"(http://\S+/\?token=(\S+))", line)
            if m:
                self.url, self.token = m.group(1), m.group(2)
                self.base = self.url.split("/?")[0]
                self.port = int(self.base.rsplit(":", 1)[1])
                return
        self.stop()
        raise AssertionError(f"serve did not start: {''.join(lines)} {self.proc.stderr.read()}")  # type: ignore[union-attr]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
