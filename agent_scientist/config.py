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
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

CONFIG_FILE = "agent-scientist.toml"
ENV_PREFIX = "AGENT_SCIENTIST_"


class ConfigError(Exception):
    """A setting is missing or malformed; the message says what to fix."""


def _default_python() -> str:
    return sys.executable


@dataclass
class Settings:
    # Where workspaces live.
    home: Path = Path("workspaces")
    # Models (litellm names, e.g. openai/gpt-4o-mini, anthropic/claude-sonnet-4-5, ollama/qwen3).
    model: str = ""
    worker_model: str = ""  # cheaper model for memory and summaries; defaults to `model`
    api_base: str = ""
    model_retries: int = 3
    model_timeout: float = 120.0
    # Planner loop.
    max_steps: int = 30
    budget_usd: float = 0.0  # 0 means no budget
    planning_interval: int = 0  # 0 means no separate planning steps
    authorized_imports: list[str] = field(
        default_factory=lambda: ["math", "statistics", "json", "re", "collections", "itertools", "datetime"]
    )
    quiet: bool = False
    # Papers.
    arxiv_api_url: str = "https://export.arxiv.org/api/query"
    arxiv_pdf_url: str = "https://arxiv.org/pdf/{id}"
    arxiv_delay: float = 3.0
    http_timeout: float = 30.0
    pdf_max_mb: float = 50.0
    pdf_max_pages: int = 500
    read_chars: int = 6000
    # Memory.
    memory_url: str = ""  # empty: embedded chromadb in <workspace>/memory
    embedding_model: str = "local"  # "local" (bundled ONNX MiniLM) or a litellm embedding model
    context_threshold_tokens: int = 24000
    # Sandbox for experiments.
    sandbox_python: str = field(default_factory=_default_python)
    sandbox_cpu_seconds: int = 600
    sandbox_memory_mb: int = 4096
    sandbox_file_size_mb: int = 1024
    sandbox_max_procs: int = 256
    sandbox_network: bool = False
    sandbox_env_allow: list[str] = field(default_factory=list)
    # Where experiments run: "local" (this machine's sandbox) or "ray" (a Ray cluster; pip install '.[ray]').
    executor: str = "local"
    ray_address: str = "auto"  # "auto" (a cluster on this machine), "host:6379" or "ray://head:10001"
    ray_num_cpus: float = 1.0  # per run
    ray_num_gpus: float = 0.0  # per run
    ray_memory_mb: float = 0.0  # per run; 0: no reservation
    ray_runtime_env: dict[str, Any] = field(default_factory=dict)  # a TOML table passed to Ray (pip, image_uri)
    ray_max_upload_mb: float = 100.0  # the snapshot of files/ sent with each run
    ray_max_download_mb: float = 512.0  # output and changed files brought back from each run

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
            return int(value)
        if kind is float or kind == "float":
            return float(value)
        if kind is Path or kind == "Path":
            return Path(str(value)).expanduser()
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
        raise ConfigError(f"Setting {name!r}: cannot read {value!r} as {kind}.") from None


def user_config_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "agent-scientist"


def config_files() -> list[Path]:
    """TOML files in increasing order of precedence."""
    return [user_config_dir() / CONFIG_FILE, Path.cwd() / CONFIG_FILE]


def _read_toml(path: Path) -> dict:
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
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
    env = os.environ if env is None else env
    known = {f.name: f for f in fields(Settings)}
    values: dict[str, Any] = {}
    for path in config_files():
        for key, raw in _read_toml(path).items():
            key = key.replace("-", "_")
            if key not in known:
                raise ConfigError(f"{path}: unknown setting {key!r}. Known: {', '.join(sorted(known))}.")
            values[key] = _coerce(key, raw, known[key].type)
    for name, f in known.items():
        raw = env.get(ENV_PREFIX + name.upper())
        if raw is not None:
            values[name] = _coerce(ENV_PREFIX + name.upper(), raw, f.type)
    for name, raw in (overrides or {}).items():
        if raw is None:
            continue
        if name not in known:
            raise ConfigError(f"unknown setting {name!r}")
        values[name] = _coerce(name, raw, known[name].type)
    settings = Settings(**values)
    if settings.max_steps < 1:
        raise ConfigError("max_steps must be at least 1.")
    if settings.budget_usd < 0:
        raise ConfigError("budget_usd cannot be negative.")
    if settings.executor not in ("local", "ray"):
        raise ConfigError(f"executor must be 'local' or 'ray', not {settings.executor!r}.")
    return settings


def setting_names() -> list[str]:
    return [f.name for f in fields(Settings)]
