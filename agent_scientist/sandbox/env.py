"""What an experiment is given: its environment variables, the paths it may see, and its GPUs.

Everything else is withheld: credential-like variables never pass, the machine's file system is hidden
except an allow-list (system directories, the interpreter's own prefixes, this workspace's files/), and
GPUs outside `sandbox_gpus` are neither named in CUDA_VISIBLE_DEVICES nor present as device nodes.
"""

from __future__ import annotations

import ast
import os
import subprocess

from agent_scientist.config import Settings
from agent_scientist.sandbox.probe import Gpu

_CREDENTIAL_WORDS = ("KEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD", "PASSPHRASE", "CREDENTIAL", "AUTH",
                     "COOKIE", "SESSION", "PRIVATE")
_CREDENTIAL_PREFIXES = ("AWS_", "AZURE_", "GOOGLE_", "GCP_", "GCLOUD_", "CLOUDSDK_", "ARM_", "DIGITALOCEAN_",
                        "HEROKU_", "GITHUB_", "GH_", "OPENAI", "ANTHROPIC", "NETRC", "SSH_", "GPG_", "KUBECONFIG",
                        "DOCKER_")
# Read-only system directories every program needs; /etc holds no secret an unprivileged uid may read.
SYSTEM_PATHS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc")
_INTERPRETER_QUERY = ("import site, sys; print(repr([sys.prefix, sys.base_prefix, sys.executable] + "
                      "site.getsitepackages() + [site.getusersitepackages()] + sys.path))")
_interpreters: dict[tuple[str, int], list[str]] = {}


def is_credential_like(name: str) -> bool:
    """True for variable names that may hold a secret; these never reach a sandboxed child."""
    upper = name.upper()
    return any(word in upper for word in _CREDENTIAL_WORDS) or upper.startswith(_CREDENTIAL_PREFIXES)


def clean_env(settings: Settings, home: str, tmpdir: str, gpus: list[Gpu] | None = None) -> dict[str, str]:
    """The child's whole environment: minimal PATH, HOME in the workspace, locale, GPUs, allowed names.

    `gpus` is None on a machine without GPUs; otherwise the GPUs the run may use (possibly none).
    """
    python_dir = os.path.dirname(os.path.abspath(settings.sandbox_python))
    env = {
        "PATH": os.pathsep.join(dict.fromkeys([python_dir, "/usr/local/bin", "/usr/bin", "/bin"])),
        "HOME": str(home), "TMPDIR": tmpdir, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
        "PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1", "MPLBACKEND": "Agg",
    }
    if gpus is not None:  # CUDA numbers GPUs fastest-first unless told: keep nvidia-smi's numbering
        env["CUDA_DEVICE_ORDER"] = "PCI_BUS_ID"
        env["CUDA_VISIBLE_DEVICES"] = ",".join(str(g.index) for g in gpus)
    for name in settings.sandbox_env_allow:
        if name in os.environ and not is_credential_like(name) and name not in env:
            env[name] = os.environ[name]
    return env


def select_gpus(setting: str, gpus: list[Gpu]) -> tuple[list[Gpu], str]:
    """The GPUs `sandbox_gpus` (auto, none, or a list like '0,1') gives a run, and a note on bad entries."""
    text = (setting or "auto").strip().lower()
    if text == "auto":
        return list(gpus), ""
    if text in ("none", "", "-1"):
        return [], ""
    wanted: list[Gpu] = []
    bad: list[str] = []
    for part in text.replace(" ", "").split(","):
        found = [g for g in gpus if part.isdigit() and g.index == int(part)]
        if found:
            wanted.extend(found)
        else:
            bad.append(part)
    note = (f"sandbox_gpus lists {', '.join(bad)}, which this machine does not have "
            f"(GPUs here: {', '.join(str(g.index) for g in gpus) or 'none'}).") if bad else ""
    return list({g.index: g for g in wanted}.values()), note


def interpreter_paths(python: str, env: dict[str, str]) -> list[str]:
    """Exactly the interpreter's prefix, base prefix, executable and site/stdlib directories (cached).

    Asked of the interpreter itself, so a venv whose `home` is ~/bin exposes that prefix, never ~.
    """
    try:
        key = (os.path.abspath(python), os.stat(python).st_mtime_ns)
    except OSError:
        return []
    if key not in _interpreters:
        try:
            out = subprocess.run([key[0], "-c", _INTERPRETER_QUERY], capture_output=True, text=True, timeout=60,
                                 env=env, stdin=subprocess.DEVNULL, cwd="/").stdout
            found = ast.literal_eval(out.strip().splitlines()[-1])
        except (OSError, subprocess.SubprocessError, ValueError, SyntaxError, IndexError):
            found = [os.path.dirname(os.path.dirname(os.path.realpath(python)))]
        paths = [os.path.abspath(python)] + [p for p in found if isinstance(p, str) and p]
        paths = [p for p in dict.fromkeys(paths) if os.path.exists(p) and p != "/"]
        prefixes = [p for p in found[:2] if isinstance(p, str)]  # never a parent of a prefix (a .pth naming ~)
        _interpreters[key] = [p for p in paths if not any(q.startswith(p.rstrip("/") + "/") for q in prefixes)]
    return _interpreters[key]
