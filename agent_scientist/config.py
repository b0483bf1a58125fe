"""Settings: the single source of configuration.

Precedence: command-line flag > environment variable > `agent-scientist.toml`
(current directory, then the user config dir) > default. Every setting `name` can be
set as `AGENT_SCIENTIST_<NAME>` in the environment and as `name = ...` in the TOML file.
"""

from __future__ import annotations

import json
import os
import sys
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

CONFIG_FILE = "agent-scientist.toml"
ENV_PREFIX = "AGENT_SCIENTIST_"


class ConfigError(Exception):
    """A setting is missing or malformed; the message says what to fix."""


def _default_python() -> str:
    return sys.executable


LEGACY_HOME = "workspaces"


def default_home() -> Path:
    """Where workspaces live when `home` is not set: `./workspaces` if that folder exists here (the
    old default, so nothing has to move), else the user data directory, the same from every shell."""
    legacy = Path.cwd() / LEGACY_HOME
    if legacy.is_dir():
        return legacy
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "agent-scientist" / "workspaces"


@dataclass
class Settings:
    # Where workspaces live (absolute; see default_home).
    home: Path = field(default_factory=default_home)
    # Models (litellm names, e.g. openai/gpt-4o-mini, anthropic/claude-sonnet-4-5, ollama/qwen3).
    model: str = ""
    worker_model: str = ""  # cheaper model for memory and summaries; defaults to `model`
    api_base: str = ""
    model_retries: int = 3
    model_timeout: float = 120.0  # a call's total bound is model_timeout x (model_retries + 1); also a try's silence bound
    model_stall_timeout: float = 60.0  # a streamed try that gets no token for this long is closed (and retried)
    system_prompt: str = "auto"  # auto | system | user: where the instructions go (user: inside the first user message)
    max_output_tokens: int = 4096  # cap on each planner reply
    worker_max_output_tokens: int = 1024  # cap on each worker reply
    # Planner loop.
    max_steps: int = 30
    budget_usd: float = 0.0  # 0 means no budget
    planning_interval: int = 0  # 0 means no separate planning steps
    authorized_imports: list[str] = field(
        default_factory=lambda: ["math", "statistics", "json", "re", "collections", "itertools", "datetime"]
    )
    quiet: bool = False
    end_of_run_timeout: float = 15.0  # after an interrupt, end-of-run work (lessons) gets this long in total
    max_parse_errors: int = 5  # this many unparseable replies in a row end the run as failed
    price_per_mtok: float = 0.0  # USD per million tokens (in and out) for a model litellm cannot price
    review_rounds: int = 1  # answer reviews that may send the planner back to revise; 0: no review
    # Papers.
    arxiv_api_url: str = "https://export.arxiv.org/api/query"
    arxiv_pdf_url: str = "https://arxiv.org/pdf/{id}"
    arxiv_delay: float = 3.0
    http_timeout: float = 30.0
    pdf_max_mb: float = 50.0
    pdf_max_pages: int = 500
    read_chars: int = 6000
    paper_sources: str = "arxiv,semantic_scholar,openalex"  # comma-separated; search_papers(source="") uses it
    semantic_scholar_api_url: str = "https://api.semanticscholar.org"  # key: SEMANTIC_SCHOLAR_API_KEY
    semantic_scholar_delay: float = 1.0
    openalex_api_url: str = "https://api.openalex.org"  # key: OPENALEX_API_KEY
    openalex_email: str = ""  # OpenAlex's polite pool (contact_email when empty)
    europepmc_api_url: str = "https://www.ebi.ac.uk/europepmc/webservices/rest"  # search + PMC full text
    unpaywall_api_url: str = "https://api.unpaywall.org/v2"  # best open-access PDF of a DOI; needs contact_email
    pubmed_api_url: str = "https://eutils.ncbi.nlm.nih.gov/entrez/eutils"  # key: NCBI_API_KEY
    crossref_api_url: str = "https://api.crossref.org"
    contact_email: str = ""  # given where a service asks: Unpaywall `email`, NCBI `email`, Crossref `mailto`, OpenAlex's polite pool
    search_timeout: float = 60.0  # search_papers(source="") waits this long in all for the sources asked together
    # Memory.
    memory_url: str = ""  # empty: embedded chromadb in <workspace>/memory
    embedding_model: str = "local"  # "local" (bundled ONNX MiniLM) or a litellm embedding model
    embedding_runtime: str = "auto"  # the local model on: auto | onnxruntime | openvino (the `openvino` extra)
    context_threshold_tokens: int = 24000
    evidence_concurrency: int = 4  # gather_evidence's worker calls in flight at once
    # Sandbox for experiments.
    sandbox_python: str = field(default_factory=_default_python)
    sandbox_cpu_seconds: int = 600
    sandbox_memory_mb: int = 4096
    sandbox_file_size_mb: int = 1024
    sandbox_max_procs: int = 256
    sandbox_network: bool = False
    sandbox_env_allow: list[str] = field(default_factory=list)
    sandbox_gpus: str = "auto"  # auto (all GPUs), none, or CUDA indices like "0,1"
    vision: str = "auto"  # figures shown to the planner as images: auto (litellm's model info), on, off
    worker_vision: str = "auto"  # figures shown to the worker (descriptions, the reviewer): auto, on, off
    sandbox_write_mb: int = 4096  # total a run may add to files/ (0: no cap)
    sandbox_write_files: int = 20000  # files and folders a run may add to files/ (0: no cap)
    # MCP servers whose tools join the planner: [[mcp_servers]] tables (see mcp_server_entries).
    mcp_servers: list[dict] = field(default_factory=list)
    # Where experiments run: "local" (this machine's sandbox) or "ray" (a Ray cluster; pip install '.[ray]').
    executor: str = "local"
    ray_address: str = "auto"  # "auto" (a cluster on this machine), "host:6379" or "ray://head:10001"
    ray_num_cpus: float = 1.0  # per run
    ray_num_gpus: float = 0.0  # per run
    ray_memory_mb: float = 0.0  # per run; 0: no reservation
    ray_runtime_env: dict[str, Any] = field(default_factory=dict)  # a TOML table passed to Ray (pip, image_uri)
    ray_max_upload_mb: float = 100.0  # the snapshot of files/ sent with each run
    ray_max_download_mb: float = 512.0  # output and changed files brought back from each run
    # The paper export (export --format latex|pdf).
    paper_size: str = "a4"  # a4 or letter

    @property
    def effective_worker_model(self) -> str:
        return self.worker_model or self.model

    def require_model(self) -> None:
        """Refuse to start a run that cannot work."""
        if not self.model:
            raise ConfigError(
                "No model configured. Set AGENT_SCIENTIST_MODEL or pass --model, for example:\n"
                "  export AGENT_SCIENTIST_MODEL=openai/gpt-4o-mini OPENAI_API_KEY=sk-...\n"
                "  agent-scientist research \"...\" --model ollama/qwen3 --api-base http://localhost:11434"
            )


def _coerce(name: str, value: Any, kind: Any) -> Any:
    """Turn a TOML or environment value into the setting's type, or say what is wrong."""
    try:
        if kind is bool or kind == "bool":
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in {"1", "true", "yes", "on"}:
                return True
            if text in {"0", "false", "no", "off", ""}:
                return False
            raise ValueError(value)
        if kind is int or kind == "int":
            return _as_int(value)
        if kind is float or kind == "float":
            return _as_float(value)
        if kind is Path or kind == "Path":
            return Path(str(value)).expanduser()
        if kind == "list[dict]":
            return mcp_server_entries(name, value)
        if kind in ("dict[str, Any]",) or kind == dict[str, Any]:
            value = json.loads(value) if isinstance(value, str) else value
            if not isinstance(value, dict):
                raise ValueError(value)
            return value
        if kind in ("list[str]",) or kind == list[str]:
            if isinstance(value, list):
                return [str(v) for v in value]
            return [v.strip() for v in str(value).split(",") if v.strip()]
        return str(value)
    except (TypeError, ValueError):
        expected = {"int": "a whole number", "float": "a finite number"}.get(getattr(kind, "__name__", str(kind)), kind)
        raise ConfigError(f"Setting {name!r}: cannot read {value!r} as {expected}.") from None


def _as_int(value: Any) -> int:
    """A whole number: `true`, `1.9`, `inf` and `nan` are refused rather than silently changed."""
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError(value)
        return int(value)
    if isinstance(value, int):
        return value
    return int(str(value).strip())


def _as_float(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError(value)
    number = float(value)
    if number != number or number in (float("inf"), float("-inf")):
        raise ValueError(value)
    return number


# Smallest accepted value of each number setting; every other number setting must be >= 0.
_MINIMUM = {"max_steps": 1, "model_timeout": 0.001, "model_stall_timeout": 0.001, "max_output_tokens": 1,
            "worker_max_output_tokens": 1,
            "max_parse_errors": 1, "read_chars": 1, "pdf_max_mb": 0.001, "pdf_max_pages": 1,
            "http_timeout": 0.001, "evidence_concurrency": 1, "search_timeout": 0.001}


def _check_limits(settings: Settings) -> None:
    """Refuse negative or zero limits at load, naming the setting."""
    for f in fields(Settings):
        value = getattr(settings, f.name)
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        low = _MINIMUM.get(f.name, 0)
        if value < low:
            need = "at least 1" if low == 1 else ("more than 0" if low < 1 and low > 0 else "0 or more")
            raise ConfigError(f"Setting {f.name!r} must be {need} (got {value}).")


MCP_KEYS = {"name", "command", "args", "env", "url", "timeout"}


def mcp_server_entries(name: str, value: Any) -> list[dict]:
    """Check `mcp_servers`: tables with a name and either command (+ args, env) or url; JSON from the env."""
    if isinstance(value, str):
        import json

        try:
            value = json.loads(value) if value.strip() else []
        except ValueError:
            raise ConfigError(f"Setting {name!r}: give a JSON list of tables, e.g. "
                              '[{"name": "labdb", "command": "labdb-mcp"}].') from None
    if not isinstance(value, list):
        raise ConfigError(f"Setting {name!r}: a list of tables, each written [[mcp_servers]] in the TOML file.")
    entries, seen = [], set()
    for i, raw in enumerate(value, 1):
        where = f"mcp_servers entry {i}"
        if not isinstance(raw, dict):
            raise ConfigError(f"{where}: a table with name and command (or url), not {raw!r}.")
        unknown = set(raw) - MCP_KEYS
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(MCP_KEYS))}.")
        server = str(raw.get("name", ""))
        if not server.replace("-", "_").isidentifier():
            raise ConfigError(f"{where}: name {server!r} must be letters, digits, - or _ (it prefixes tool names).")
        if server in seen:
            raise ConfigError(f"{where}: the name {server!r} is used twice.")
        seen.add(server)
        if ("command" in raw) == ("url" in raw):
            raise ConfigError(f"mcp_servers {server!r}: give either command (a stdio server) or url (streamable HTTP).")
        entry: dict[str, Any] = {"name": server}
        if "url" in raw:
            if not str(raw["url"]).startswith(("http://", "https://")) or set(raw) & {"args", "env"}:
                raise ConfigError(f"mcp_servers {server!r}: url must be http(s)://host:port/path, without args or env.")
            entry["url"] = str(raw["url"])
        else:
            args, env = raw.get("args", []), raw.get("env", {})
            if not str(raw["command"]).strip() or not isinstance(args, list) or not isinstance(env, dict):
                raise ConfigError(f"mcp_servers {server!r}: command is a program, args a list of strings, "
                                  'env a table of variables, e.g. env = { LABDB_TOKEN = "..." }.')
            entry.update(command=str(raw["command"]), args=[str(a) for a in args],
                         env={str(k): str(v) for k, v in env.items()})
        try:
            entry["timeout"] = float(raw.get("timeout", 60))
        except (TypeError, ValueError):
            raise ConfigError(f"mcp_servers {server!r}: timeout is seconds, e.g. timeout = 60.") from None
        if entry["timeout"] <= 0:
            raise ConfigError(f"mcp_servers {server!r}: timeout must be positive.")
        entries.append(entry)
    return entries


WILDCARDS = ("0.0.0.0", "::", "[::]", "")  # bind addresses that answer on every interface


def is_loopback(host: str) -> bool:
    """True for every spelling of a loopback address: localhost, 127.1, 127.0.0.2, 0x7f.1, ::1, [::1].

    The one rule for what a loopback bind may accept as `Host` (`mcp --transport http`, `serve`)."""
    import ipaddress
    import socket

    name = host.strip().strip("[]").rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        pass
    try:
        return ipaddress.ip_address(socket.inet_aton(name)).is_loopback  # the short and hex IPv4 forms
    except OSError:
        return False


def user_config_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "agent-scientist"


def user_cache_dir() -> Path:
    """What can be rebuilt at any time (the embedding model compiled for this CPU): delete it freely."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "agent-scientist"


def config_files() -> list[Path]:
    """TOML files in increasing order of precedence."""
    return [user_config_dir() / CONFIG_FILE, Path.cwd() / CONFIG_FILE]


def _read_toml(path: Path, raw: bytes | None = None) -> dict:
    try:
        if raw is None:
            raw = path.read_bytes()
        data = tomllib.loads(raw.decode("utf-8", errors="replace"))
    except FileNotFoundError:
        return {}
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc}).") from None
    # Accept both top-level keys and an [agent-scientist] table.
    tables = {"ray_runtime_env", "ray-runtime-env"}  # settings whose value is a table
    return {**{k: v for k, v in data.items() if not isinstance(v, dict) or k in tables},
            **data.get("agent-scientist", {})}


def load_settings(overrides: dict[str, Any] | None = None, env: dict[str, str] | None = None) -> Settings:
    """Build Settings from defaults, TOML files, the environment, then `overrides` (flags)."""
    environ: Mapping[str, str] = os.environ if env is None else env
    known = {f.name: f for f in fields(Settings)}
    values: dict[str, Any] = {}
    for path in config_files():
        for key, raw in trusted_part(path).items():
            key = key.replace("-", "_")
            if key not in known:
                raise ConfigError(f"{path}: unknown setting {key!r}. Known: {', '.join(sorted(known))}.")
            values[key] = _coerce(key, raw, known[key].type)
    for name, f in known.items():
        raw = environ.get(ENV_PREFIX + name.upper())
        if raw is not None:
            values[name] = _coerce(ENV_PREFIX + name.upper(), raw, f.type)
    for name, raw in (overrides or {}).items():
        if raw is None:
            continue
        if name not in known:
            raise ConfigError(f"unknown setting {name!r}")
        values[name] = _coerce(name, raw, known[name].type)
    settings = Settings(**values)
    settings.home = Path(settings.home).expanduser().absolute()  # every message names the same place
    _check_limits(settings)
    _check_choices(settings)
    return settings


EXECUTORS = ("local", "ray")  # the values of `executor` (experiments/executors builds each)
PAPER_SIZES = ("a4", "letter")  # the values of `paper_size` (export --format latex|pdf)
VISION = ("auto", "on", "off")  # the values of `vision` and `worker_vision`


SYSTEM_PROMPT_MODES = ("auto", "system", "user")
EMBEDDING_RUNTIMES = ("auto", "onnxruntime", "openvino")  # the values of `embedding_runtime` (memory/embedding.py)


def _check_choices(settings: Settings) -> None:
    """Refuse, naming the setting, a value outside a setting's fixed set (executor, sandbox_gpus, paper_sources,
    paper_size, vision, worker_vision, system_prompt, embedding_runtime)."""
    for name in ("vision", "worker_vision"):
        if getattr(settings, name) not in VISION:
            raise ConfigError(f"Setting {name!r} must be one of {', '.join(VISION)}, not {getattr(settings, name)!r}.")
    if settings.executor not in EXECUTORS:
        raise ConfigError(f"Setting 'executor' must be one of {', '.join(EXECUTORS)}, not {settings.executor!r}.")
    if settings.system_prompt not in SYSTEM_PROMPT_MODES:
        raise ConfigError(f"Setting 'system_prompt' must be one of {', '.join(SYSTEM_PROMPT_MODES)}, "
                          f"not {settings.system_prompt!r}.")
    if settings.embedding_runtime not in EMBEDDING_RUNTIMES:
        raise ConfigError(f"Setting 'embedding_runtime' must be one of {', '.join(EMBEDDING_RUNTIMES)}, "
                          f"not {settings.embedding_runtime!r}.")
    if settings.paper_size not in PAPER_SIZES:
        raise ConfigError(f"Setting 'paper_size' must be one of {', '.join(PAPER_SIZES)}, "
                          f"not {settings.paper_size!r}.")
    gpus = settings.sandbox_gpus.strip().lower()
    if gpus not in ("auto", "none", "", "-1") and not all(p.strip().isdigit() for p in gpus.split(",")):
        raise ConfigError(f"Setting 'sandbox_gpus' must be auto, none, or GPU indices like \"0,1\", "
                          f"not {settings.sandbox_gpus!r}.")
    from agent_scientist.papers.sources.registry import parse_names  # a table: loads no source

    try:
        parse_names(settings.paper_sources)
    except ValueError as exc:
        raise ConfigError(f"Setting 'paper_sources': {exc}.") from None


# -- trust: a folder's file may start programs or open the sandbox only once the user said so ------------
NEEDS_TRUST = ("mcp_servers", "sandbox_network", "sandbox_python")  # start programs, open the sandbox
TRUSTED_FILE = "trusted.json"  # in user_config_dir(): [{"path", "sha256", "trusted_at"}]
_told: set[tuple[str, str]] = set()


def trusted_part(path: Path) -> dict:
    """A TOML file's settings; a project file's NEEDS_TRUST keys only if `agent-scientist trust` recorded
    this very content (path and sha256). The user's own file (in the config dir) is trusted."""
    import hashlib

    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read ({exc}).") from None
    data = _read_toml(path, raw)  # the bytes hashed are the bytes used: no change in between
    risky = sorted(k for k in data if k.replace("-", "_") in NEEDS_TRUST)
    if not risky or path.parent == user_config_dir():
        return data
    where, digest = str(path.resolve()), hashlib.sha256(raw).hexdigest()
    if any(r.get("path") == where and r.get("sha256") == digest for r in trusted_files()):
        return data
    if (where, digest) not in _told:
        _told.add((where, digest))
        sys.stderr.write(f"Warning: {path} sets {', '.join(risky)}, which start programs or open the sandbox; "
                         f"they are ignored until you trust this file: read it, then run "
                         f"`agent-scientist trust {path.parent}`. The rest of the file applies.\n")
    return {k: v for k, v in data.items() if k not in risky}


def trusted_files() -> list[dict]:
    try:
        with open(user_config_dir() / TRUSTED_FILE, encoding="utf-8") as fh:
            data = json.load(fh)
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{user_config_dir() / TRUSTED_FILE}: unreadable ({exc}); fix or delete it.") from None
    files = data.get("files") if isinstance(data, dict) else None
    return [f for f in files if isinstance(f, dict)] if isinstance(files, list) else []


def trust(path: Path) -> tuple[Path, list[str]]:
    """Record `path` (a folder's agent-scientist.toml, or the file) with its content's sha256 as trusted.

    Returns the file and the keys that now count. The record is written atomically.
    """
    import hashlib
    from datetime import UTC, datetime

    from agent_scientist.fsio import atomic_write_json

    path = Path(path).expanduser()
    target = (path / CONFIG_FILE if path.is_dir() else path).absolute()
    try:
        raw = target.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{target}: cannot be read ({exc.strerror or exc}); give a folder holding "
                          f"{CONFIG_FILE}, or the file.") from None
    data = _read_toml(target, raw)
    where = str(target.resolve())
    kept = [r for r in trusted_files() if r.get("path") != where]
    kept.append({"path": where, "sha256": hashlib.sha256(raw).hexdigest(),
                 "trusted_at": datetime.now(UTC).isoformat(timespec="seconds")})
    user_config_dir().mkdir(parents=True, exist_ok=True)
    atomic_write_json(user_config_dir() / TRUSTED_FILE, {"v": 1, "files": kept})
    return target, sorted(k for k in data if k.replace("-", "_") in NEEDS_TRUST)
