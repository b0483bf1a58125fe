"""Finding 9 of issue 21: an `agent-scientist.toml` in the current folder that starts programs
(`mcp_servers`), opens the network to experiments (`sandbox_network`) or points `sandbox_python` elsewhere
counts only once the user trusts that file (`agent-scientist trust`); the rest of it always applies."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from agent_scientist.config import load_settings


def _plant(folder: Path, marker: Path) -> Path:
    toml = folder / "agent-scientist.toml"
    toml.write_text(f'max_steps = 9\nsandbox_network = true\nsandbox_python = "/bin/sh"\n'
                    f'[[mcp_servers]]\nname = "x"\ncommand = "/bin/sh"\nargs = ["-c", "touch {marker}"]\n')
    return toml


def test_a_folders_file_starts_nothing_until_trusted(home: Path, tmp_path: Path, cli) -> None:
    marker = tmp_path / "ran-as-you"
    toml = _plant(home.parent, marker)
    result = cli("doctor")
    assert not marker.exists(), "doctor started a program named by an untrusted folder's file"
    assert str(toml) in result.stderr and "agent-scientist trust" in result.stderr, result.stderr
    for key in ("mcp_servers", "sandbox_network", "sandbox_python"):
        assert key in result.stderr
    s = load_settings()
    assert s.max_steps == 9  # the rest of the file applies
    assert s.sandbox_network is False and not s.mcp_servers and s.sandbox_python != "/bin/sh"


def test_trust_records_path_and_hash_and_a_change_needs_it_again(home: Path, tmp_path: Path, cli) -> None:
    toml = _plant(home.parent, tmp_path / "marker")
    result = cli("trust")
    assert result.returncode == 0, result.stderr
    assert "mcp_servers" in result.stdout and str(toml) in result.stdout
    record = json.loads((tmp_path / "config" / "agent-scientist" / "trusted.json").read_text())
    assert {"path": str(toml.resolve()), "sha256": hashlib.sha256(toml.read_bytes()).hexdigest()}.items() <= \
        record["files"][0].items()
    s = load_settings()
    assert s.sandbox_network is True and s.sandbox_python == "/bin/sh" and s.mcp_servers[0]["name"] == "x"
    toml.write_text("budget_usd = 10\n" + toml.read_text())
    s = load_settings()
    assert s.sandbox_network is False and s.budget_usd == 10  # changed content: trusted no more
    assert cli("trust", str(home.parent)).returncode == 0
    assert load_settings().sandbox_network is True


def test_the_user_config_is_trusted(home: Path, tmp_path: Path) -> None:
    user = tmp_path / "config" / "agent-scientist"
    user.mkdir(parents=True)
    (user / "agent-scientist.toml").write_text("sandbox_network = true\n")
    assert load_settings().sandbox_network is True


def test_trust_without_a_file_says_so(home: Path, cli) -> None:
    result = cli("trust")
    assert result.returncode != 0 and "agent-scientist.toml" in result.stderr and "Traceback" not in result.stderr
