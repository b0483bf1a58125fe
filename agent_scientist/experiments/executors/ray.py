"""The Ray executor: one Ray task per run, on a worker of the cluster at `ray_address`.

The task gets a bounded snapshot of files/ (runs/ and symlinks left out) and the project's package
through runtime_env `py_modules` (so the sandbox code on the worker is this version's, and workers need
only Ray and what `ray_runtime_env` gives them). The worker enforces the run's timeout itself and sends
back output and changed files, bounded. Ctrl-C, a cancelled batch, or a task the cluster never finishes
is force-cancelled: Ray kills the worker process, and the sandbox's lifeline then kills the run's tree.
"""

from __future__ import annotations

import math
import os
import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import agent_scientist
from agent_scientist.config import Settings
from agent_scientist.contracts import Check, ToolError
from agent_scientist.experiments.executors import RAY_MISSING, Outcome, RunSpec, Tail
from agent_scientist.fsio import atomic_write_bytes
from agent_scientist.records import Placement

MB = 1024 * 1024
GRACE_S = 300  # beyond the run's timeout: scheduling, runtime_env setup, transfers
MAX_FILES = 20000
_lock = threading.Lock()
_remote_fn: Any = None


def _ray():
    try:
        import ray
    except ImportError:
        raise ToolError(RAY_MISSING + " Do not retry.") from None
    return ray


CONNECT_TIMEOUT_S = 60  # ray.init waits for ever on a dead address: it runs in a thread with this bound


def _resolve(address: str) -> str:
    """`auto` as Ray reads it (RAY_ADDRESS, then the cluster started last on this machine), else as given."""
    if address not in ("", "auto"):
        return address
    if os.environ.get("RAY_ADDRESS"):
        return os.environ["RAY_ADDRESS"]
    try:
        return Path(tempfile.gettempdir(), "ray", "ray_current_cluster").read_text().strip() or "auto"
    except OSError:
        return "auto"


def _probe(address: str) -> None:
    """Refuse at once an address where nothing listens (Ray itself would retry without end)."""
    hostport = address.split("://", 1)[-1]
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        return
    try:
        with socket.create_connection((host, int(port)), timeout=5):
            pass
    except OSError as exc:
        raise ToolError(f"Cannot reach the Ray cluster at {address!r} ({exc}); the user must start it or fix "
                        "ray_address (`agent-scientist doctor`). Do not retry.") from None


def connect(settings: Settings):
    """Connect this process to the cluster once; a cluster that cannot be reached is a ToolError."""
    ray = _ray()
    with _lock:
        if ray.is_initialized():
            return ray
        address = _resolve(settings.ray_address)
        _probe(address)
        outcome: list[BaseException | None] = []

        def init() -> None:
            try:
                ray.init(address=address, namespace="agent-scientist", logging_level="ERROR", log_to_driver=False,
                         runtime_env=runtime_env(settings))  # local folders travel only at the job level
                outcome.append(None)
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                outcome.append(exc)

        thread = threading.Thread(target=init, daemon=True, name="ray-connect")
        thread.start()
        thread.join(CONNECT_TIMEOUT_S)
        error = outcome[0] if outcome else TimeoutError(f"no answer within {CONNECT_TIMEOUT_S} s")
        if error is not None:
            raise ToolError(f"Cannot reach the Ray cluster at {address!r} ({_short(error)}); the user must "
                            "start it or fix ray_address (`agent-scientist doctor`). Do not retry.")
    return ray


def _short(exc: BaseException, limit: int = 300) -> str:
    lines = [line for line in str(exc).strip().splitlines() if line.strip()]
    text = lines[-1] if lines else type(exc).__name__
    return f"{type(exc).__name__}: {text[:limit]}"


def runtime_env(settings: Settings) -> dict[str, Any]:
    """The user's ray_runtime_env plus this project's package, so the sandbox travels with the task."""
    env = dict(settings.ray_runtime_env or {})
    env["py_modules"] = [*env.get("py_modules", []), str(Path(agent_scientist.__file__).parent)]
    env["excludes"] = [*env.get("excludes", []), "__pycache__", "*.pyc"]
    return env


def resources(settings: Settings) -> dict[str, float]:
    return {"num_cpus": settings.ray_num_cpus, "num_gpus": settings.ray_num_gpus,
            "memory_mb": settings.ray_memory_mb}


def _task(settings: Settings, number: int):
    global _remote_fn
    ray = _ray()
    if _remote_fn is None:
        from agent_scientist.experiments.executors.remote import execute

        _remote_fn = ray.remote(execute)
    options: dict[str, Any] = {"num_cpus": settings.ray_num_cpus, "num_gpus": settings.ray_num_gpus,
                               "max_retries": 0, "name": f"agent-scientist-run-{number}"}
    if settings.ray_memory_mb > 0:
        options["memory"] = int(settings.ray_memory_mb * MB)
    return _remote_fn.options(**options)


def pack(files_dir: Path, max_mb: float) -> list[tuple[str, bytes]]:
    """files/ without runs/ and without symlinks, or a ToolError naming the biggest folders."""
    found: list[tuple[str, int]] = []
    for dirpath, dirnames, filenames in os.walk(files_dir):
        if Path(dirpath) == files_dir and "runs" in dirnames:
            dirnames.remove("runs")
        for name in filenames:
            path = os.path.join(dirpath, name)
            try:
                st = os.lstat(path)
            except OSError:
                continue
            if os.path.islink(path) or not os.path.isfile(path):
                continue
            found.append((os.path.relpath(path, files_dir).replace(os.sep, "/"), st.st_size))
        if len(found) > MAX_FILES:
            raise ToolError(f"files/ holds over {MAX_FILES:,} files; a Ray run uploads all of files/. "
                            "Remove or archive what the experiments do not need.")
    total = sum(size for _, size in found)
    if total > max_mb * MB:
        tops: dict[str, int] = {}
        for rel, size in found:
            top = rel.split("/", 1)[0] + ("/" if "/" in rel else "")
            tops[top] = tops.get(top, 0) + size
        big = sorted(tops.items(), key=lambda item: -item[1])[:5]
        listing = ", ".join(f"{name} {size / MB:.1f} MB" for name, size in big)
        raise ToolError(f"files/ is {total / MB:.1f} MB, over ray_max_upload_mb = {max_mb:g}; a Ray run uploads "
                        f"all of files/ (runs/ excluded). Biggest: {listing}. Delete what the run does not need, "
                        "or have the script fetch or generate its data on the worker.")
    packed = []
    for rel, _ in found:
        try:
            packed.append((rel, (files_dir / rel).read_bytes()))
        except OSError:
            continue
    return packed


def _check_feasible(ray, settings: Settings) -> None:
    """Refuse at once what no node can run, instead of a task pending forever."""
    want = {"CPU": settings.ray_num_cpus, "GPU": settings.ray_num_gpus, "memory": settings.ray_memory_mb * MB}
    try:
        nodes = [n for n in ray.nodes() if n.get("Alive")]
    except Exception as exc:  # noqa: BLE001
        raise ToolError(f"The Ray cluster does not answer ({_short(exc)}). Do not retry; tell the user.") from None
    for node in nodes:
        have = node.get("Resources", {})
        if all(have.get(k, 0) >= v for k, v in want.items() if v > 0):
            return
    seen = "; ".join(f"{n.get('NodeManagerAddress')}: CPU {n['Resources'].get('CPU', 0):g}, "
                     f"GPU {n['Resources'].get('GPU', 0):g}" for n in nodes[:5]) or "no node alive"
    raise ToolError(f"No Ray node has {settings.ray_num_cpus:g} CPUs, {settings.ray_num_gpus:g} GPUs and "
                    f"{settings.ray_memory_mb:g} MB free in all ({seen}); the user must change ray_num_cpus, "
                    "ray_num_gpus or ray_memory_mb. Do not retry.")


def slots(settings: Settings) -> int:
    """How many runs of this size the cluster can hold at once (for a batch's patience)."""
    ray = connect(settings)
    total = ray.cluster_resources()
    counts = [total.get("CPU", 0) / settings.ray_num_cpus if settings.ray_num_cpus > 0 else math.inf,
              total.get("GPU", 0) / settings.ray_num_gpus if settings.ray_num_gpus > 0 else math.inf]
    best = min(counts)
    return max(1, int(best)) if best != math.inf else 64


class RayExecutor:
    name = "ray"
    where = "the Ray worker"
    parallel = True  # a batch is submitted at once; the cluster queues what does not fit
    grace_s = float(GRACE_S)

    def __init__(self, settings: Settings) -> None:
        _ray()
        self.settings = settings

    @classmethod
    def shared(cls, settings: Settings) -> RayExecutor:
        return cls(settings)

    def check(self, settings: Settings) -> None:
        """Nothing to refuse here: the cluster is reached (and its errors said) when a run is submitted."""

    def slots(self, settings: Settings) -> int:
        return slots(settings)

    def doctor_checks(self, settings: Settings) -> list[Check]:
        return doctor_checks(settings)

    def run(self, spec: RunSpec, cancel: threading.Event | None = None) -> Outcome:
        """Submit one task and wait for it; Ctrl-C or `cancel` force-cancels it (its tree dies)."""
        settings = spec.settings
        ray = connect(settings)
        _check_feasible(ray, settings)
        files = pack(spec.files_dir, settings.ray_max_upload_mb)
        job = {"argv": [spec.script, *spec.args], "timeout": spec.timeout, "settings": settings,
               "namespaces": spec.namespaces, "gpus": settings.ray_num_gpus > 0,
               "max_download": int(settings.ray_max_download_mb * MB)}
        placement: Placement = {"executor": "ray", "node": "", "resources": resources(settings)}
        command = ["python", spec.script, *spec.args]
        started = time.monotonic()
        ref = None
        interrupted, lost = False, ""
        try:
            ref = _task(settings, spec.number).remote(files, job)
            del files
            patience = spec.wait_s or spec.timeout + GRACE_S
            while True:
                ready, _ = ray.wait([ref], timeout=0.5)
                if ready:
                    break
                if cancel is not None and cancel.is_set():
                    interrupted = True
                    break
                if time.monotonic() - started > patience:
                    lost = (f"The Ray cluster did not finish the run within {patience:.0f} s (timeout plus "
                            "scheduling); it was cancelled. The cluster may be busy or lack resources.")
                    break
        except KeyboardInterrupt:
            interrupted = True
        except Exception as exc:  # noqa: BLE001 - the cluster went away while submitting or waiting
            lost = f"Lost the Ray cluster ({_short(exc)})."
        duration = round(time.monotonic() - started, 3)
        if ref is not None and (interrupted or lost):
            self._cancel(ray, ref)
        if interrupted or lost:
            return self._lost(command, placement, duration, interrupted, lost)
        try:
            reply = ray.get(ref, timeout=120)
        except KeyboardInterrupt:
            return self._lost(command, placement, duration, True, "")
        except Exception as exc:  # noqa: BLE001 - classified for the model below
            return self._lost(command, placement, duration, False, _explain(exc))
        return self._outcome(spec, reply, placement)

    @staticmethod
    def _cancel(ray, ref) -> None:
        """Force-cancel (kills the worker process) and wait briefly until Ray says it is gone."""
        try:
            ray.cancel(ref, force=True)
            ray.wait([ref], timeout=15)
        except Exception:  # noqa: BLE001 - a lost cluster has nothing left to cancel
            pass

    @staticmethod
    def _lost(command: list[str], placement: Placement, duration: float, interrupted: bool, error: str) -> Outcome:
        return Outcome(None, False, interrupted, duration, Tail(), Tail(), {}, [], command, placement,
                       lambda: [], error=error)

    def _outcome(self, spec: RunSpec, reply: dict[str, Any], placement: Placement) -> Outcome:
        where = reply.get("where", {})
        placement["node"] = where.get("host", "")
        placement["node_ip"] = where.get("node_ip", "")
        placement["node_id"] = where.get("node_id", "")
        tails = {}
        for name in ("stdout", "stderr"):
            data = reply["logs"].get(name, b"")
            atomic_write_bytes(spec.out_dir / f"{name}.txt", data)
            tail, total, saved = reply["tails"][name]
            tails[name] = Tail(tail, total, min(saved, len(data)))
        extra = []
        if reply.get("left"):
            left = reply["left"]
            names = ", ".join(left[:10]) + (f" and {len(left) - 10} more" if len(left) > 10 else "")
            extra.append(f"Not brought back (over ray_max_download_mb = {spec.settings.ray_max_download_mb:g}, "
                         f"or not a plain file): {names}; left on node {placement['node']} in "
                         f"{reply.get('kept_dir')}.")
            placement["left_on_worker"] = left[:1000]
            placement["kept_dir"] = reply.get("kept_dir", "")

        def apply() -> list[str]:
            return land(spec.files_dir, reply.get("files", []), extra)

        return Outcome(reply["exit_code"], reply["timed_out"], reply["interrupted"], reply["duration_s"],
                       tails["stdout"], tails["stderr"], reply["protections"], reply["notes"], reply["command"],
                       placement, apply, extra=extra, gpus=list(reply.get("gpus") or []),
                       stopped=str(reply.get("stopped") or ""), oom_killed=bool(reply.get("oom_killed")),
                       warnings=list(reply.get("warnings") or []))


def land(files_dir: Path, files: list[tuple[str, bytes]], notes: list[str]) -> list[str]:
    """Write the files a run sent back into files/, never through a link and never outside files/."""
    from agent_scientist.experiments.editor import resolve_in_files

    written, refused = [], []
    for rel, data in files:
        if rel == "runs" or rel.startswith("runs/"):
            refused.append(rel)
            continue
        try:
            parent = resolve_in_files(files_dir, os.path.dirname(rel) or ".")
            parent.mkdir(parents=True, exist_ok=True)
            parent = resolve_in_files(files_dir, os.path.dirname(rel) or ".")  # a link made meanwhile
            atomic_write_bytes(parent / os.path.basename(rel), data)  # replaces a link, never follows it
            written.append(rel)
        except (ToolError, OSError):
            refused.append(rel)
    if refused:
        notes.append(f"Not written into files/ (outside files/ or in runs/): {', '.join(refused[:10])}.")
    return sorted(written)


def _explain(exc: BaseException) -> str:
    """A lost worker, node or cluster as one sentence the model can act on."""
    kind = type(exc).__name__
    if "RuntimeEnvSetup" in kind:
        return (f"The Ray worker could not set up ray_runtime_env ({_short(exc)}); the user must fix "
                "ray_runtime_env. Do not retry.")
    if kind in ("WorkerCrashedError", "NodeDiedError", "ObjectLostError", "OwnerDiedError", "LocalRayletDiedError",
                "ActorDiedError", "ObjectReconstructionFailedError", "TaskCancelledError"):
        return (f"The Ray worker running this experiment was lost ({kind}); the run did not finish and nothing "
                "came back. Retry once; if it happens again, the run may be too big for the worker's memory.")
    if kind == "RayTaskError" or "TaskError" in kind:
        return f"The run failed on the Ray worker before the experiment could finish ({_short(exc)})."
    return f"Lost the Ray cluster ({_short(exc)}). Do not retry; tell the user to check it (`agent-scientist doctor`)."


def doctor_checks(settings: Settings) -> list[Check]:
    """Connect, list the nodes, and run a trivial script in the sandbox on a worker."""
    try:
        ray = _ray()
    except ToolError as exc:
        return [("ray", False, str(exc).replace(" Do not retry.", ""))]
    checks: list[Check] = [("ray", True, f"{ray.__version__} installed")]
    try:
        ray = connect(settings)
    except ToolError as exc:
        return [*checks, ("ray cluster", False, str(exc).split("; the user")[0])]
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    cpus = sum(n["Resources"].get("CPU", 0) for n in nodes)
    gpus = sum(n["Resources"].get("GPU", 0) for n in nodes)
    listing = ", ".join(f"{n.get('NodeManagerAddress')} ({n['Resources'].get('CPU', 0):g} CPU, "
                        f"{n['Resources'].get('GPU', 0):g} GPU)" for n in nodes[:8])
    checks.append(("ray cluster", bool(nodes),
                   f"{settings.ray_address or 'auto'}: {len(nodes)} node(s), {cpus:g} CPUs, {gpus:g} GPUs: {listing}"))
    try:
        _check_feasible(ray, settings)
        job = {"argv": ["probe.py"], "timeout": 60, "settings": settings, "namespaces": True,
               "gpus": settings.ray_num_gpus > 0, "max_download": MB}
        reply = ray.get(_task(settings, 0).remote([("probe.py", b"print('ok')\n")], job), timeout=300)
    except Exception as exc:  # noqa: BLE001
        msg = str(exc) if isinstance(exc, ToolError) else _explain(exc)
        return [*checks, ("ray sandbox run", False, msg)]
    where = reply.get("where", {}).get("host", "?")
    ok = reply.get("exit_code") == 0 and reply["logs"].get("stdout", b"").strip() == b"ok"
    checks.append(("ray sandbox run", ok, f"a trivial script on worker {where} exited {reply.get('exit_code')} "
                                          f"in {reply.get('duration_s')} s"))
    missing = [name for name, got in reply.get("protections", {}).items() if not got]
    checks.append(("ray worker protections", not missing,
                   "all enforced" if not missing else f"NOT enforced on worker {where}: {', '.join(missing)}"))
    return checks
