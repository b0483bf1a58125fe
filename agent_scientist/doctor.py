"""`doctor`: checks that say exactly what to fix before a run can work."""

from __future__ import annotations

import os
import socket
import tempfile
from importlib import metadata
from urllib.parse import urlparse

from agent_scientist.agent.registry import Capability, Check
from agent_scientist.config import Settings

KEY_PACKAGES = ("smolagents", "litellm", "chromadb", "pymupdf", "arxiv", "typer", "rich", "onnxruntime")


def run_checks(settings: Settings, capabilities: list[Capability] | None = None) -> list[Check]:
    """The generic checks, then each capability's own."""
    if capabilities is None:
        from agent_scientist.capabilities import default_capabilities

        capabilities = default_capabilities()
    checks = [*_model_checks(settings), _home_check(settings), *_package_checks()]
    for capability in capabilities:
        try:
            checks.extend(capability.doctor_checks(settings))
        except Exception as exc:
            checks.append((capability.name, False, f"check failed: {exc}"))
    seen: set[tuple[str, bool, str]] = set()
    return [c for c in checks if not (c in seen or seen.add(c))]  # capabilities may repeat a generic check


def _model_checks(settings: Settings) -> list[Check]:
    from agent_scientist.agent.models import provider_key_names

    if not settings.model:
        return [("model", False, "no model set: export AGENT_SCIENTIST_MODEL=openai/gpt-4o-mini (or pass --model)")]
    checks: list[Check] = [("model", True, f"planner {settings.model}, worker {settings.effective_worker_model}")]
    if settings.api_base:
        checks.append(_reachable(settings.api_base))
        return checks
    provider = settings.model.split("/", 1)[0] if "/" in settings.model else "openai"
    names = provider_key_names(provider)
    if names and not any(os.environ.get(n) for n in names):
        checks.append(("credentials", False, f"set {' or '.join(names)} for provider {provider!r}"))
    else:
        checks.append(("credentials", True, f"{provider}: " + (", ".join(n for n in names if os.environ.get(n)) or "none needed")))
    return checks


def _reachable(url: str) -> Check:
    parsed = urlparse(url)
    host, port = parsed.hostname, parsed.port or (443 if parsed.scheme == "https" else 80)
    if not host:
        return ("api base", False, f"{url!r} is not a URL like http://localhost:11434/v1")
    try:
        with socket.create_connection((host, port), timeout=3):
            return ("api base", True, f"{url} accepts connections")
    except OSError as exc:
        return ("api base", False, f"cannot connect to {host}:{port} ({exc}); is the server running?")


def _home_check(settings: Settings) -> Check:
    home = settings.home
    try:
        home.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=home):
            pass
        return ("workspace home", True, f"{home.resolve()} is writable")
    except OSError as exc:
        return ("workspace home", False, f"{home} is not writable ({exc}); set AGENT_SCIENTIST_HOME")


def _package_checks() -> list[Check]:
    checks = []
    for name in KEY_PACKAGES:
        try:
            version = metadata.version(name)
        except metadata.PackageNotFoundError:
            checks.append((name, False, "not installed: pip install agent-scientist"))
            continue
        pin = litellm_pin()
        if name == "litellm" and pin and version != pin:
            checks.append((name, False, f"{version} installed; only the audited {pin} is allowed: "
                                        f"pip install litellm=={pin}"))
        else:
            checks.append((name, True, version))
    return checks


def litellm_pin() -> str:
    """The audited litellm release, read from this package's own requirements (one place: pyproject.toml)."""
    for requirement in metadata.requires("agent-scientist") or []:
        name, _, version = requirement.partition("==")
        if name.strip() == "litellm":
            return version.split(";")[0].strip()
    return ""
