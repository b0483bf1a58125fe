"""One warm interpreter per test session that forks a child for each `python -m agent_scientist` call.

Most of a CLI test's time is Python start-up and imports (litellm alone takes seconds). The warm process
(run as a script: `python warm.py`) imports the CLI, litellm and smolagents once, checks that nothing
started a thread (forking then is safe) or printed anything, and forks one child per call. The child gets
the call's argv, environment, working directory, umask and stdin/stdout/stderr (passed as file
descriptors), joins the caller's process group as a `subprocess.Popen` child would, and runs the module as
`-m` does, so it has its own pid, takes real signals and exits with the real status.

`Popen` and `run` below are drop-in replacements of `subprocess`'s for `[sys.executable, "-m",
"agent_scientist", ...]`. A call falls back to a fresh interpreter (the real `subprocess` path) when its
environment differs from the warm one in a variable that the pre-imports or the interpreter's start-up read
(names the imports write themselves, such as litellm's settings, may differ: the test process gains them when
it runs the same code), when it asks for something a fork cannot give (preexec_fn, pass_fds, a new session,
another executable), or when the warm process is unusable or lost; AGENT_SCIENTIST_TEST_COLD=1 makes every
call cold. The warm process starts from the session's environment as it was before any test ran, whichever
test starts it; the session's summary counts the warm calls and why the others ran cold.
"""

from __future__ import annotations

import json
import os
import select
import socket
import subprocess
import sys
import threading
from collections import Counter
from typing import Any

# Pre-imported in the warm process: each is fork-safe (starts no thread) and reads no varying setting at import.
# chromadb (starts a thread at import) and the embedding model (onnxruntime's pools) are imported per call.
PRELOAD = ("agent_scientist.cli", "litellm", "agent_scientist.agent.adapter")
# Interpreter start-up reads these (stdio buffering, hashing, paths, locale): a call must match them.
STARTUP = ("PYTHON", "LANG", "LC_", "LANGUAGE")
# ...except these, which the interpreter reads only when used, from os.environ (which a child gets from its call):
# sys.breakpointhook reads PYTHONBREAKPOINT at each breakpoint() (ray.init sets it in the test process).
READ_WHEN_USED = ("PYTHONBREAKPOINT",)
# Code that iterates os.environ at import and reads only names with this prefix.
ITERATORS = {"tqdm/utils.py": "TQDM_"}
MODULE = [sys.executable, "-m", "agent_scientist"]


# ---------------------------------------------------------------- the warm process (run as a script)

def _record_env() -> tuple[dict[str, Any], list[str], Any]:
    """Record how the imports use os.environ until the returned undo is called.

    Each name is classed by its first use: read (an input: a call must bring the same value), written or
    deleted (the imports decide it, whatever a call brings), or setdefault (a call may bring the default or
    the value the warm process had). Iterations are recorded by prefix (ITERATORS) or as unknown.
    """
    import traceback

    first: dict[str, str] = {}  # name -> "read" | "set" | "default"
    record: dict[str, Any] = {"reads": set(), "sets": {}, "defaults": {}}
    unknown: list[str] = []
    cls = type(os.environ)
    getitem, setitem, delitem, iterate, setdefault = (cls.__getitem__, cls.__setitem__, cls.__delitem__,
                                                      cls.__iter__, cls.setdefault)

    def recording_getitem(self: Any, key: str) -> Any:
        caller = sys._getframe(1).f_code
        if not (caller.co_name == "__iter__" and "_collections_abc" in caller.co_filename):  # items(): counted below
            if first.setdefault(key, "read") == "read":
                record["reads"].add(key)
        return getitem(self, key)

    def recording_setitem(self: Any, key: str, value: str) -> None:
        if first.setdefault(key, "set") == "set":
            record["sets"][key] = value
        setitem(self, key, value)

    def recording_delitem(self: Any, key: str) -> None:
        if first.setdefault(key, "set") == "set":
            record["sets"][key] = None
        delitem(self, key)

    def recording_setdefault(self: Any, key: str, value: str) -> Any:
        if first.setdefault(key, "default") == "default":
            record["defaults"][key] = value
        return setdefault(self, key, value)

    def recording_iter(self: Any) -> Any:
        caller = next((f.filename for f in reversed(traceback.extract_stack()[:-1])
                       if "_collections_abc" not in f.filename and f.filename != __file__), "?")
        prefix = next((p for tail, p in ITERATORS.items() if caller.endswith(tail)), None)
        if prefix is None:
            unknown.append(caller)
        else:
            names = [os.fsdecode(k) for k in os.environ._data]  # type: ignore[attr-defined]
            record["reads"].update(k for k in names if k.startswith(prefix) and first.setdefault(k, "read") == "read")
            record["reads"].add(prefix + "*")
        return iterate(self)

    cls.__getitem__, cls.__setitem__, cls.__delitem__ = (  # type: ignore[method-assign]
        recording_getitem, recording_setitem, recording_delitem)
    cls.__iter__, cls.setdefault = recording_iter, recording_setdefault  # type: ignore[method-assign]

    def undo() -> None:
        cls.__getitem__, cls.__setitem__, cls.__delitem__ = getitem, setitem, delitem  # type: ignore[method-assign]
        cls.__iter__, cls.setdefault = iterate, setdefault  # type: ignore[method-assign]

    return record, unknown, undo


def _startup(name: str) -> bool:
    return name.startswith(STARTUP) and name not in READ_WHEN_USED


def _threads() -> int:
    return len(os.listdir("/proc/self/task"))


def _preload() -> dict[str, Any]:
    import importlib
    import tempfile

    record, unknown, undo = _record_env()
    # Anything the imports print would be printed once here instead of by every call: refuse to be warm then.
    with tempfile.TemporaryFile() as out:
        saved = os.dup(1), os.dup(2)
        os.dup2(out.fileno(), 1)
        os.dup2(out.fileno(), 2)
        try:
            for name in PRELOAD:
                if name == "litellm":
                    from agent_scientist.agent.models import import_litellm

                    import_litellm()  # the way the program imports it (bundled price table, no telemetry)
                else:
                    module = importlib.import_module(name)
                    for command_module in dict.fromkeys(getattr(module, "COMMANDS", {}).values()):
                        importlib.import_module(command_module)  # the CLI imports a command's module when it runs
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
            undo()
        out.seek(0)
        printed = out.read().decode(errors="replace")
    problems = []
    if _threads() != 1 or threading.active_count() != 1:
        problems.append(f"the pre-imports started threads ({_threads()} in the process)")
    if printed:
        problems.append(f"the pre-imports printed: {printed[:500]!r}")
    if unknown:
        problems.append(f"os.environ iterated at import by {sorted(set(unknown))}")
    return {"reads": sorted(record["reads"]), "sets": record["sets"], "defaults": record["defaults"],
            "problems": problems}


def _serve(control: socket.socket, imports: dict[str, Any]) -> None:
    """Fork a child for each request on `control` until the test session closes it."""
    import selectors

    sel = selectors.DefaultSelector()
    sel.register(control, selectors.EVENT_READ, None)
    children: dict[int, tuple[int, socket.socket]] = {}  # pidfd -> (pid, reply socket)
    while True:
        for key, _ in sel.select():
            if key.data is None:
                message, fds, _flags, _addr = socket.recv_fds(control, 1 << 20, 4)
                if not message:
                    return  # the session ended
                request = json.loads(message)
                reply = socket.socket(fileno=fds[3])
                if _threads() != 1:  # never fork a process with threads
                    reply.send(json.dumps({"error": f"{_threads()} threads in the warm process"}).encode())
                    for fd in fds[:3]:
                        os.close(fd)
                    reply.close()
                    continue
                pid = os.fork()
                if pid == 0:
                    sel.close()
                    control.close()
                    for pidfd, (_, other) in children.items():
                        os.close(pidfd)
                        other.close()
                    _child(request, fds[:3], reply, imports)  # never returns
                for fd in fds[:3]:
                    os.close(fd)
                pidfd = os.pidfd_open(pid)
                children[pidfd] = (pid, reply)
                sel.register(pidfd, selectors.EVENT_READ, pid)
                reply.send(json.dumps({"pid": pid}).encode())
            else:
                pidfd = key.fd
                sel.unregister(pidfd)
                pid, reply = children.pop(pidfd)
                os.close(pidfd)
                _, status = os.waitpid(pid, 0)
                try:
                    reply.send(json.dumps({"status": status}).encode())
                except OSError:
                    pass  # the caller went away
                reply.close()


def _child(request: dict[str, Any], fds: list[int], reply: socket.socket, imports: dict[str, Any]) -> None:
    """In the forked child: become the requested `python -m agent_scientist ARGS` process.

    `imports` holds what the pre-imports wrote into os.environ; the call's environment gets the same, as
    in a fresh interpreter that ran those imports.
    """
    import runpy
    import signal
    import types

    code = 1
    try:
        reply.close()
        try:
            os.setpgid(0, request["pgid"])  # a Popen child stays in its parent's process group
        except OSError:
            pass
        for target, fd in enumerate(fds):
            os.dup2(fd, target)  # the std streams keep their objects (and any handler holding them)
            if fd > 2:
                os.close(fd)
        os.umask(request["umask"])
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        for name, value in imports["sets"].items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        for name, value in imports["defaults"].items():
            os.environ.setdefault(name, value)
        sys.path[0] = os.getcwd()  # what -m puts first
        sys.argv = ["-m", *request["args"]]
        sys.modules["__main__"] = types.ModuleType("__main__")
        try:
            runpy._run_module_as_main("agent_scientist", alter_argv=True)  # type: ignore[attr-defined]
            code = 0
        except SystemExit as exc:
            code = _exit_code(exc)
        except KeyboardInterrupt:
            sys.excepthook(*sys.exc_info())
            _finish()
            signal.signal(signal.SIGINT, signal.SIG_DFL)  # as the interpreter does: die by the signal
            os.kill(os.getpid(), signal.SIGINT)
        except BaseException:
            sys.excepthook(*sys.exc_info())
            code = 1
        _finish()
    finally:
        os._exit(code)


def _finish() -> None:
    """What the interpreter does at exit: join non-daemon threads, run atexit callbacks, flush stdio."""
    import atexit

    threading._shutdown()  # type: ignore[attr-defined]
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass


def _exit_code(exc: SystemExit) -> int:
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code & 0xFF
    print(exc.code, file=sys.stderr)
    return 1


def _main() -> None:
    sys.path[0] = os.getcwd()  # not this folder: nothing from tests/support shadows a library
    control = socket.socket(fileno=int(sys.argv[1]))
    report = _preload()
    control.send(json.dumps(report).encode())
    if report["problems"]:
        return
    _serve(control, report)


# ---------------------------------------------------------------- the test session's side

class _Warm:
    """The session's warm process: started on first use, ended when the session ends (or pytest dies)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.control: socket.socket | None = None
        self.proc: subprocess.Popen | None = None
        self.env: dict[str, str] = {}
        self.reads: set[str] = set()
        self.sets: dict[str, str | None] = {}  # names the imports wrote: a call's value does not matter
        self.defaults: dict[str, str] = {}  # names the imports setdefault: a call may bring that value
        self.failed = ""
        self.calls: Counter[str] = Counter()  # "warm", or why a call ran cold: the session's summary shows it

    def start(self, env: dict[str, str]) -> bool:
        with self.lock:
            if self.control is not None or self.failed:
                return self.control is not None
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            import tempfile

            cwd = tempfile.mkdtemp(prefix="agent-scientist-warm-")
            self.proc = subprocess.Popen([sys.executable, __file__, str(theirs.fileno())], env=env, cwd=cwd,
                                         pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL)
            theirs.close()
            ours.settimeout(120)
            try:
                report = json.loads(ours.recv(1 << 20) or b'{"problems": ["the warm process exited"]}')
            except (OSError, ValueError) as exc:
                report = {"problems": [f"no answer from the warm process: {exc}"]}
            ours.settimeout(None)
            if report["problems"]:
                self.failed = "; ".join(report["problems"])
                print(f"warm CLI runner unusable, every call runs cold: {self.failed}", file=sys.stderr)
                ours.close()
                self.proc.wait(30)
                return False
            self.control, self.env, self.reads = ours, dict(env), set(report["reads"])
            self.sets, self.defaults = report["sets"], report["defaults"]
            return True

    def fits(self, env: dict[str, str]) -> bool:
        """True when the imports would see the same in `env` as they saw in the warm process's environment."""
        return self.misfit(env) is None

    def misfit(self, env: dict[str, str]) -> str | None:
        """The first name whose value in `env` would make the imports behave otherwise, or None.

        Names they did not read may differ, and so may names they wrote themselves before reading them (the
        test session takes those over once it runs the same code in-process, e.g. litellm's settings).
        """
        for name in sorted(set(env) | set(self.env)):
            if env.get(name) == self.env.get(name) or (name in self.sets and not _startup(name)):
                continue
            if name in self.defaults and not _startup(name):
                if env.get(name, self.defaults[name]) != self.env.get(name, self.defaults[name]):
                    return name
                continue
            if name in self.reads or _startup(name) or any(
                    r.endswith("*") and name.startswith(r[:-1]) for r in self.reads):
                return name
        return None

    def lost(self, reason: str) -> None:
        """The warm process stopped answering: say so once, and run every later call cold."""
        with self.lock:
            if self.control is None:
                return
            self.failed = reason
            self.control.close()
            self.control = None
        print(f"warm CLI runner lost, every later call runs cold: {reason}", file=sys.stderr)

    def spawn(self, args: list[str], env: dict[str, str], cwd: str,
              fds: list[int]) -> tuple[int, socket.socket] | None:
        """Fork the call from the warm process: its pid and the socket its status comes on; None if lost."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        umask = _umask()
        request = {"args": args, "env": env, "cwd": cwd, "umask": umask, "pgid": os.getpgrp()}
        try:
            with self.lock:
                if self.control is None:
                    raise OSError(self.failed)
                socket.send_fds(self.control, [json.dumps(request).encode()], [*fds, theirs.fileno()])
            theirs.close()
            ours.settimeout(120)
            answer = json.loads(ours.recv(1 << 16) or b'{"error": "the warm process exited"}')
            ours.settimeout(None)
        except OSError as exc:
            answer = {"error": f"the warm process did not answer: {exc!r}"}
        finally:
            theirs.close()
        if "error" in answer:
            ours.close()
            status = self.proc.poll() if self.proc is not None else None
            self.lost(answer["error"] + ("" if status is None else f" (it exited with {status})"))
            return None
        return answer["pid"], ours

    def stop(self) -> None:
        with self.lock:
            if self.control is not None:
                self.control.close()
                self.control = None
            if self.proc is not None:
                try:
                    self.proc.wait(30)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
                self.proc = None


WARM = _Warm()


def _umask() -> int:
    """This process's umask, read without setting it (os.umask would change it for other threads meanwhile)."""
    with open("/proc/self/status") as status:
        return next(int(line.split()[1], 8) for line in status if line.startswith("Umask:"))


# The test session's environment before any test ran: the warm process starts from it whichever test
# starts it first, so a test's monkeypatched HOME or TMPDIR cannot make every later call cold.
_SESSION_ENV = dict(os.environ)


def _base_env() -> dict[str, str]:
    """The environment most CLI calls run with (conftest's cli_env without a home), as the session began."""
    from conftest import OFFLINE

    env = {k: v for k, v in _SESSION_ENV.items() if not k.startswith("AGENT_SCIENTIST_")}
    env.update(OFFLINE)
    env.update({"PYTHONUNBUFFERED": "1", "NO_COLOR": "1", "COLUMNS": "120"})
    return env


class Popen(subprocess.Popen):
    """subprocess.Popen for `[sys.executable, "-m", "agent_scientist", ...]`, forked from the warm process."""

    _reply: socket.socket | None = None

    def _execute_child(self, args: Any, executable: Any, preexec_fn: Any, close_fds: Any, pass_fds: Any,
                       cwd: Any, env: Any, startupinfo: Any, creationflags: Any, shell: Any,
                       p2cread: int, p2cwrite: int, c2pread: int, c2pwrite: int, errread: int, errwrite: int,
                       restore_signals: Any, gid: Any, gids: Any, uid: Any, umask: int,
                       start_new_session: Any, process_group: int) -> None:
        call_env = dict(os.environ if env is None else env)
        plain = (isinstance(args, list) and args[:3] == MODULE and not shell and executable is None
                 and preexec_fn is None and not pass_fds and close_fds and umask < 0 and not start_new_session
                 and process_group == -1 and uid is None and gid is None and gids is None)
        spawned, why = None, ""
        if not plain:
            why = "a fork cannot give what the call asks for"
        elif os.environ.get("AGENT_SCIENTIST_TEST_COLD") == "1":
            why = "AGENT_SCIENTIST_TEST_COLD=1"
        elif not WARM.start(_base_env()):
            why = "the warm process is unusable"
        elif (name := WARM.misfit(call_env)) is not None:
            why = f"the call's {name} differs"
        else:
            fds = [p2cread if p2cread != -1 else 0, c2pwrite if c2pwrite != -1 else 1,
                   errwrite if errwrite != -1 else 2]
            spawned = WARM.spawn([str(a) for a in args[3:]], {str(k): str(v) for k, v in call_env.items()},
                                 os.path.abspath(cwd if cwd is not None else os.getcwd()), fds)
            why = "the warm process was lost"
        WARM.calls["warm" if spawned else why] += 1
        if spawned is None:
            return super()._execute_child(  # type: ignore[misc]
                args, executable, preexec_fn, close_fds, pass_fds, cwd, env, startupinfo, creationflags, shell,
                p2cread, p2cwrite, c2pread, c2pwrite, errread, errwrite, restore_signals, gid, gids, uid, umask,
                start_new_session, process_group)
        self.pid, self._reply = spawned
        self._close_pipe_fds(p2cread, p2cwrite, c2pread, c2pwrite, errread, errwrite)  # type: ignore[attr-defined]
        self._child_created = True

    def _status(self, timeout: float | None) -> int | None:
        """The child's wait status from the warm process, or None if it has not exited within `timeout`."""
        assert self._reply is not None
        if timeout is not None and not select.select([self._reply], [], [], max(timeout, 0))[0]:
            return None
        message = self._reply.recv(1 << 16)
        self._reply.close()
        if not message:
            raise RuntimeError(f"the warm process lost child {self.pid}")
        return json.loads(message)["status"]

    def _internal_poll(self, *args: Any, **kwargs: Any) -> int | None:
        if self._reply is None or self.returncode is not None:
            return super()._internal_poll(*args, **kwargs)  # type: ignore[misc]
        if not self._waitpid_lock.acquire(False):  # type: ignore[attr-defined]
            return None  # another thread is waiting (Popen's rule: never block here, __del__ calls it)
        try:
            if self.returncode is None:
                status = self._status(0)
                if status is not None:
                    self._handle_exitstatus(status)  # type: ignore[attr-defined]
        finally:
            self._waitpid_lock.release()  # type: ignore[attr-defined]
        return self.returncode

    def _wait(self, timeout: float | None) -> int:
        if self._reply is None or self.returncode is not None:
            return super()._wait(timeout)  # type: ignore[misc]
        with self._waitpid_lock:  # type: ignore[attr-defined]
            if self.returncode is None:
                status = self._status(timeout)
                if status is None:
                    raise subprocess.TimeoutExpired(self.args, timeout)  # type: ignore[arg-type]
                self._handle_exitstatus(status)  # type: ignore[attr-defined]
        assert self.returncode is not None
        return self.returncode


def run(args: list[str], *, input: str | bytes | None = None, timeout: float | None = None, check: bool = False,
        capture_output: bool = False, **kwargs: Any) -> subprocess.CompletedProcess:
    """subprocess.run through `Popen` above (same arguments, same timeout handling)."""
    if input is not None:
        kwargs["stdin"] = subprocess.PIPE
    if capture_output:
        kwargs["stdout"] = kwargs["stderr"] = subprocess.PIPE
    with Popen(args, **kwargs) as process:
        try:
            stdout, stderr = process.communicate(input, timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            process.kill()
            exc.stdout, exc.stderr = process.communicate()
            raise
        except BaseException:
            process.kill()
            raise
        retcode = process.poll()
    assert retcode is not None
    if check and retcode:
        raise subprocess.CalledProcessError(retcode, process.args, output=stdout, stderr=stderr)
    return subprocess.CompletedProcess(process.args, retcode, stdout, stderr)


if __name__ == "__main__":
    _main()
