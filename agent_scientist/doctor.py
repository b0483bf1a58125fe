"""`doctor`: checks that say exactly what to fix before a run can work."""

from __future__ import annotations

import os
import tempfile
from importlib import metadata
from urllib.parse import urlparse

from agent_scientist.config import Settings
from agent_scientist.contracts import Capability, Check

KEY_PACKAGES = ("smolagents", "litellm", "chromadb", "pymupdf", "arxiv", "typer", "rich", "onnxruntime", "mcp")


def run_checks(settings: Settings, capabilities: list[Capability]) -> list[Check]:
    """The generic checks, then each capability's own (the entry point passes the capabilities)."""
    from agent_scientist.agent.interpreter import doctor_check as planner_sandbox_check

    models = _model_checks(settings)
    reach = endpoint_check(settings) if all(ok for _, ok, _ in models) else None
    checks = [*models, *([reach] if reach else []), _home_check(settings), arxiv_check(settings),
              *_package_checks(), planner_sandbox_check(settings)]
    for capability in capabilities:
        try:
            checks.extend(capability.doctor_checks(settings))
        except Exception as exc:
            checks.append((capability.name, False, f"check failed: {exc}"))
    return list(dict.fromkeys(checks))  # capabilities may repeat a generic check


def preflight(settings: Settings, offline_ok: bool = False) -> list[Check]:
    """The cheap checks a run needs before anything is created (model name, key, endpoint); the failures.

    With the model settings sound, the provider's default endpoint must accept a connection within 4 s,
    unless `offline_ok` (a proxy the check cannot see through)."""
    failed = [check for check in _model_checks(settings) if not check[1] and check[0] != "model price"]
    reach = None if failed or offline_ok else endpoint_check(settings)
    return failed + ([reach] if reach and not reach[1] else [])


# Where litellm sends a provider's calls when no --api-base is given: the environment variables it reads
# first (in its order), then its built-in default.
DEFAULT_ENDPOINTS: dict[str, tuple[tuple[str, ...], str]] = {
    "openai": (("OPENAI_BASE_URL", "OPENAI_API_BASE"), "https://api.openai.com/v1"),
    "anthropic": (("ANTHROPIC_API_BASE", "ANTHROPIC_BASE_URL"), "https://api.anthropic.com"),
    "gemini": ((), "https://generativelanguage.googleapis.com"),
    "mistral": (("MISTRAL_API_BASE",), "https://api.mistral.ai/v1"),
    "groq": ((), "https://api.groq.com/openai/v1"),
    "deepseek": ((), "https://api.deepseek.com"),
    "openrouter": (("OPENROUTER_API_BASE",), "https://openrouter.ai/api/v1"),
    "ollama": (("OLLAMA_API_BASE",), "http://localhost:11434"),
}


def default_endpoint(model: str) -> str | None:
    """The URL a model's calls go to without --api-base, for the providers in DEFAULT_ENDPOINTS."""
    provider = model.split("/", 1)[0] if "/" in model else "openai"
    if provider not in DEFAULT_ENDPOINTS:
        return None
    names, default = DEFAULT_ENDPOINTS[provider]
    return next((os.environ[n] for n in names if os.environ.get(n)), default)


def connect(url: str, deadline: float = 4.0) -> None:
    """Open (and close) a TCP connection to `url`'s host within `deadline`, name lookup included; OSError if not."""
    import socket
    import threading

    parsed = urlparse(url)
    if not parsed.hostname:
        raise OSError(f"{url} names no host")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    result: dict[str, BaseException | bool] = {}

    def attempt() -> None:
        try:
            socket.create_connection((parsed.hostname, port), timeout=deadline).close()
            result["ok"] = True
        except OSError as exc:
            result["error"] = exc

    worker = threading.Thread(target=attempt, daemon=True)  # a name lookup is not bound by the socket timeout
    worker.start()
    worker.join(deadline)
    if "ok" not in result:
        raise OSError(str(result.get("error") or f"no connection within {deadline:g} s"))


def endpoint_check(settings: Settings, deadline: float = 4.0) -> Check | None:
    """The provider's default endpoint accepts a connection within `deadline` (None: --api-base is set, or
    the provider's endpoint is not known here)."""
    if settings.api_base or not settings.model:
        return None
    urls = {u for u in (default_endpoint(m) for m in {settings.model, settings.effective_worker_model}) if u}
    for url in sorted(urls):
        try:
            connect(url, deadline)
        except OSError as exc:
            return ("endpoint", False, f"cannot connect to {url} within {deadline:g} s ({exc}). Offline? Run a "
                                       "local server and pass --api-base URL; behind a proxy the check cannot "
                                       "see through, pass --offline-ok")
    return ("endpoint", True, ", ".join(sorted(urls)) + " accepts connections") if urls else None


def _model_checks(settings: Settings) -> list[Check]:
    from agent_scientist.agent.models import provider_key_names

    if not settings.model:
        return [("model", False, "no model set: export AGENT_SCIENTIST_MODEL=openai/gpt-4o-mini (or pass --model)")]
    named = {settings.model: model_name_check(settings.model, settings.api_base, "model")}
    if settings.effective_worker_model != settings.model:
        named[settings.worker_model] = model_name_check(settings.worker_model, settings.api_base, "worker model")
    checks: list[Check] = list(named.values())
    if settings.api_base:
        checks.append(api_base_check(settings.api_base))
        return checks
    for model, check in named.items():
        if check[0] != "model price" and not check[1]:
            continue  # no provider: no key to name
        provider = model.split("/", 1)[0] if "/" in model else "openai"
        names = provider_key_names(provider)
        if names and not any(os.environ.get(n) for n in names):
            checks.append(("credentials", False, f"no key for provider {provider!r} ({model}): "
                                                 f"export {names[0]}=... (or run a local server and pass --api-base URL)"))
        else:
            found = ", ".join(n for n in names if os.environ.get(n)) or "none needed"
            checks.append(("credentials", True, f"{provider}: {found}"))
    return checks


def model_name_check(model: str, api_base: str, what: str = "model") -> Check:
    """Whether litellm knows the model's provider (`gemma` and `foo/bar` do not say which API to call)."""
    from agent_scientist.agent.models import import_litellm

    litellm = import_litellm()
    try:
        provider = litellm.get_llm_provider(model=model, api_base=api_base or None)[1]
    except Exception:
        local = model.split("/", 1)[-1]
        return (what, False, f"{model!r} names no provider litellm knows. Write provider/model, e.g. "
                             f"openai/gpt-4o-mini, anthropic/claude-sonnet-4-5, or for a local server "
                             f"openai/{local} (llama.cpp, vLLM) or ollama/{local} (Ollama)")
    if api_base:
        return (what, True, f"{model} (provider {provider}, server {api_base})")
    try:
        litellm.get_model_info(model)
    except Exception:
        return ("model price", False, f"{model}: provider {provider} is known but the model is not in litellm's table; "
                             "check the spelling (a new model: its cost is unknown and --budget-usd is not "
                             "enforced unless you set price_per_mtok)")
    return (what, True, f"{model} (provider {provider})")


def probe(url: str, deadline: float = 4.0, max_bytes: int = 65536) -> tuple[int, bytes]:
    """GET `url` within a total `deadline` (connect, headers and body): (HTTP status, body start).

    The request runs in a daemon thread so that a server dripping bytes cannot hold us past the deadline.
    Raises OSError with the reason when there is no answer in time.
    """
    import socket
    import threading
    import urllib.error
    import urllib.request

    result: dict = {}

    def get() -> None:
        parsed = urlparse(url)
        try:  # a server that accepts connections but answers late is busy, not down (the caller may wait for it)
            socket.create_connection((parsed.hostname or "", parsed.port or (443 if parsed.scheme == "https" else 80)),
                                     timeout=deadline).close()
            result["connected"] = True
        except OSError:  # unreachable directly (or only through a proxy): urlopen below says why
            pass
        try:
            with urllib.request.urlopen(url, timeout=deadline) as resp:  # noqa: S310 - http(s) checked below
                result["answer"] = (resp.status, resp.read(max_bytes))
        except urllib.error.HTTPError as exc:
            result["answer"] = (exc.code, b"")
        except Exception as exc:  # URLError, socket errors, bad responses
            reason = getattr(exc, "reason", None) or exc
            if not (result.get("connected") and isinstance(reason, TimeoutError)):  # else: "did not answer" below
                result["error"] = reason

    if urlparse(url).scheme not in ("http", "https"):
        raise OSError(f"{url} is not an http(s) URL")
    worker = threading.Thread(target=get, daemon=True)
    worker.start()
    worker.join(deadline)
    if "answer" in result:
        return result["answer"]
    if "error" in result:
        raise OSError(f"cannot connect to {url} ({result['error']})")
    raise OSError(f"{url} did not answer within {deadline:g} s")


def models_urls(api_base: str) -> list[str]:
    """Where an OpenAI-compatible server lists its models, for a base given with or without /v1."""
    base = api_base.rstrip("/")
    return [base + "/models"] if base.endswith("/v1") else [base + "/v1/models", base + "/models"]


def api_base_check(api_base: str, deadline: float = 4.0) -> Check:
    """The server at `api_base` must answer GET /v1/models (accepting connections is not enough)."""
    parsed = urlparse(api_base)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        return ("api base", False, f"{api_base!r} is not a URL like http://localhost:8080/v1")
    last = ""
    for url in models_urls(api_base):
        try:
            status, body = probe(url, deadline)
        except OSError as exc:
            last = str(exc)
            if "did not answer" in last or "refused" in last.lower() or "cannot connect" in last:
                break
            continue
        if status in (401, 403):
            return ("api base", True, f"{url} answers (HTTP {status}: it wants a key)")
        if status == 200:
            return ("api base", True, f"{url} answers")
        last = f"{url} answered HTTP {status}"
    return ("api base", False, f"{last}; is the server running, and is --api-base its OpenAI-compatible "
                               "base (e.g. http://localhost:8080/v1)?")


def arxiv_check(settings: Settings, deadline: float = 5.0) -> Check:
    """arXiv's API answers (offline work still goes on for cached papers)."""
    url = settings.arxiv_api_url + "?search_query=all:test&max_results=1"
    try:
        status, _ = probe(url, deadline)
    except OSError as exc:
        return ("arXiv", False, f"{exc}; offline, only cached and local papers can be read")
    if status != 200:
        return ("arXiv", False, f"{settings.arxiv_api_url} answered HTTP {status}")
    return ("arXiv", True, f"{settings.arxiv_api_url} answers")


def _home_check(settings: Settings) -> Check:
    """The home is writable, or can be created; nothing is created by the check."""
    home = settings.home
    probe_dir = home
    while not probe_dir.exists() and probe_dir != probe_dir.parent:
        probe_dir = probe_dir.parent
    try:
        with tempfile.NamedTemporaryFile(dir=probe_dir):
            pass
    except OSError as exc:
        return ("workspace home", False, f"{home} is not writable ({exc}); set AGENT_SCIENTIST_HOME")
    state = "is writable" if home.exists() else "will be created on first use"
    return ("workspace home", True, f"{home} {state}")


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
