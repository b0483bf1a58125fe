"""Sandbox boot: runs as `python -I -S sandbox_boot.py CONFIG` just before the experiment.

Inside the namespaces made by `unshare` it joins the run's cgroups, builds an empty read-only root holding
only the allow-list (system dirs, the interpreter's prefixes, the workspace's writable folders, a few
device nodes and the chosen GPUs, a private /tmp, /run and /dev/shm, /proc with /proc/sys read-only),
pivots into it, joins a fresh session keyring, sets resource limits, becomes an unprivileged uid when the
agent is root, drops every capability, reports what it achieved on a status pipe, then execs the interpreter.
Standard library only, and few imports: its start-up time is the sandbox's overhead. CONFIG is a
hex-encoded marshal of a dict (same interpreter on both sides); status lines are dict reprs.
"""

import ctypes
import os
import stat
import sys

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC = 32, 4096, 16384
MS_NOATIME, MS_NODIRATIME, MS_RELATIME = 1024, 2048, 1 << 21
ST_TO_MS = {1: MS_RDONLY, 2: MS_NOSUID, 4: MS_NODEV, 8: MS_NOEXEC, 1024: MS_NOATIME,
            2048: MS_NODIRATIME, 4096: MS_RELATIME}
PR_SET_PDEATHSIG, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS = 1, 24, 38
PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, _LINUX_CAPABILITY_VERSION_3 = 47, 4, 0x20080522

_libc = None


def libc():
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    return _libc


def enc(text):
    return text.encode() if text is not None else None


def mount(src, target, fstype, flags, data=None):
    rc = libc().mount(enc(src), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data))
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {target}: {os.strerror(err)}")


def kept_flags(path):
    """Per-mount flags a remount must keep (a user namespace may not clear them)."""
    try:
        st = os.statvfs(path).f_flag
    except OSError:
        return 0
    flags = 0
    for st_bit, ms_bit in ST_TO_MS.items():
        if st & st_bit and ms_bit != MS_RDONLY:
            flags |= ms_bit
    return flags


def remount(path, readonly):
    ro = MS_RDONLY if readonly else 0
    mount(None, path, None, MS_REMOUNT | MS_BIND | ro | kept_flags(path))


def unescape(field):
    """Undo mountinfo's octal escapes (\\040 for a space)."""
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and field[i + 1: i + 4].isdigit():
            out.append(chr(int(field[i + 1: i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def mount_points():
    points = []
    with open("/proc/self/mountinfo") as fh:
        for line in fh:
            parts = line.split()
            points.append(unescape(parts[4]))
    return points


def plan(path, rw, binds, links, depth=0):
    """Resolve `path` as the host sees it: symlinks on the way are re-created, the real path is bound."""
    parts = [p for p in path.split("/") if p]
    cur = ""
    for i, part in enumerate(parts):
        cur += "/" + part
        try:
            mode = os.lstat(cur).st_mode
        except OSError:
            return
        if stat.S_ISLNK(mode):
            if depth > 16:
                return
            links[cur] = os.readlink(cur)
            rest = "/".join(parts[i + 1:])
            real = os.path.realpath(cur)
            plan(real + "/" + rest if rest else real, rw, binds, links, depth + 1)
            return
    if cur:
        binds[cur] = rw or binds.get(cur, False)


def bound_under(path, done):
    """The nearest already-bound ancestor of `path` (or itself), else None."""
    best = None
    for other in done:
        if (path == other or path.startswith(other.rstrip("/") + "/")) and (best is None or len(other) > len(best)):
            best = other
    return best


def pivot_root(new_root, put_old):
    import platform

    number = {"x86_64": 155, "aarch64": 41, "riscv64": 41, "ppc64le": 203, "s390x": 217}.get(platform.machine())
    if number is None or libc().syscall(number, enc(new_root), enc(put_old)) != 0:
        err = ctypes.get_errno() if number else 38
        raise OSError(err, f"pivot_root: {os.strerror(err)}")


def setup_filesystem(cfg, notes):
    """An empty read-only root with only the allow-list bound in: system dirs, interpreter, workspace."""
    ro_ok = True
    for point in sorted(set(mount_points()), key=len):  # binds made below inherit read-only
        if point == "/proc" or point.startswith("/proc/"):
            continue
        try:
            remount(point, True)
        except OSError as exc:  # /sys and /dev need capabilities to write, which the child lacks
            if not point.startswith(("/sys/", "/dev/")) and point not in ("/sys", "/dev"):
                ro_ok = False
            notes.append(str(exc))
    binds: dict[str, bool] = {}  # path -> writable
    links: dict[str, str] = {}  # symlink -> its target
    for path, rw in cfg["expose"]:
        plan(path, rw, binds, links)
    fds = {p: os.open(p, os.O_PATH | os.O_CLOEXEC) for p in binds}
    devices = [(os.path.basename(p), os.open(p, os.O_PATH | os.O_CLOEXEC)) for p in cfg["devices"]
               if os.path.exists(p)]
    root = "/tmp"  # private to this mount namespace; what it hides stays reachable through the fds
    mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=755")
    for folder in ("tmp", "dev", "proc", "sys", "run", "var", ".old"):
        os.mkdir(f"{root}/{folder}")
    mount("tmpfs", root + "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, f"size={cfg['tmp_mb']}m,mode=1777")
    mount("tmpfs", root + "/run", "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=755")
    mount("tmpfs", root + "/dev", "tmpfs", MS_NOSUID, "size=1m,mode=755")
    os.mkdir(root + "/dev/shm")
    mount("tmpfs", root + "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, f"size={cfg['shm_mb']}m,mode=1777")
    for name, fd in devices:
        target = f"{root}/dev/{name}"
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            os.mkdir(target)
        else:
            os.close(os.open(target, os.O_CREAT | os.O_WRONLY, 0o666))
        mount(f"/proc/self/fd/{fd}", target, None, MS_BIND | MS_REC)
    for name, dest in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
                       ("stderr", "/proc/self/fd/2")):
        os.symlink(dest, f"{root}/dev/{name}")
    done: list[str] = []
    for path in sorted(binds, key=len):
        rw, above = binds[path], bound_under(path, done)
        if above is not None and binds[above] == rw:
            continue
        target = root + path
        try:
            if not os.path.lexists(target):
                if stat.S_ISDIR(os.fstat(fds[path]).st_mode):
                    os.makedirs(target)
                else:
                    os.makedirs(os.path.dirname(target), exist_ok=True)
                    os.close(os.open(target, os.O_CREAT | os.O_WRONLY, 0o644))
            mount(f"/proc/self/fd/{fds[path]}", target, None, MS_BIND | MS_REC)
            remount(target, not rw)
            done.append(path)
        except OSError as exc:
            notes.append(str(exc))
            if rw:
                raise
    hidden = mask_sockets(root, cfg.get("sockets", []), notes)
    for link, dest in links.items():
        if bound_under(link, done) is None and not os.path.lexists(root + link):
            os.makedirs(os.path.dirname(root + link), exist_ok=True)
            os.symlink(dest, root + link)
    if not os.path.lexists(root + "/var/tmp"):  # made last: host paths under /var/tmp must not go through it
        os.symlink("/tmp", root + "/var/tmp")
    for fd in [*fds.values(), *(fd for _, fd in devices)]:
        os.close(fd)
    mount("/proc", root + "/proc", None, MS_BIND | MS_REC)  # this PID namespace's own /proc
    mount(root + "/proc/sys", root + "/proc/sys", None, MS_BIND | MS_REC)
    remount(root + "/proc/sys", True)
    try:
        mount("/sys", root + "/sys", None, MS_BIND | MS_REC)
    except OSError as exc:
        notes.append(str(exc))
    pivot_root(root, root + "/.old")
    os.chdir("/")
    if libc().umount2(b"/.old", 2) != 0:  # MNT_DETACH
        raise OSError(ctypes.get_errno(), "cannot detach the old root")
    os.rmdir("/.old")
    remount("/", True)
    return {"read_only_fs": ro_ok, "home_hidden": True, "private_tmp": True, "sockets_hidden": hidden}


def mask_sockets(root, sockets, notes):
    """Bind /dev/null over each host socket that lies in a bound folder: a connect() there is refused."""
    hidden = True
    for path in sockets:
        target = root + path
        try:
            if not stat.S_ISSOCK(os.lstat(target).st_mode):
                continue
            mount("/dev/null", target, None, MS_BIND)
            remount(target, True)
        except FileNotFoundError:
            continue  # not in a bound folder after all
        except OSError as exc:
            hidden = False
            notes.append(f"socket {path}: {exc}")
    return hidden


def own_keyring():
    """Join a fresh anonymous session keyring, so the agent's keys (KEYCTL_SEARCH on @s) are out of reach.

    True when the agent's session keyring can no longer be searched (also where keyctl is refused outright).
    """
    import platform

    number = {"x86_64": 250, "aarch64": 219, "riscv64": 219, "ppc64le": 130, "s390x": 280}.get(platform.machine())
    if number is None:
        raise OSError(38, "keyctl: unknown syscall number on this machine")
    if libc().syscall(number, 1, None) < 0:  # KEYCTL_JOIN_SESSION_KEYRING, name NULL: a new anonymous one
        err = ctypes.get_errno()
        if err in (1, 38):  # EPERM, ENOSYS: keyctl is filtered here (e.g. a container's seccomp profile)
            return True
        raise OSError(err, f"keyctl: {os.strerror(err)}")
    return True


def loopback_up():
    """Bring `lo` up in the new network namespace so local sockets still work."""
    import _socket
    import fcntl

    sock = _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM)
    try:  # struct ifreq: name[16], flags (IFF_UP | IFF_LOOPBACK | IFF_RUNNING), padding
        ifreq = b"lo".ljust(16, b"\0") + (0x1 | 0x8 | 0x40).to_bytes(2, sys.byteorder) + bytes(22)
        fcntl.ioctl(sock.fileno(), 0x8914, ifreq)  # SIOCSIFFLAGS
    finally:
        sock.close()


def drop_capabilities(uid=-1):
    """Become `uid` (when >= 0) and empty every capability set, so nothing is regained at exec."""
    with open("/proc/sys/kernel/cap_last_cap") as fh:
        last = int(fh.read())
    for cap in range(last + 1):
        if libc().prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "cannot drop capabilities")
    if uid >= 0:
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
    libc().prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)  # fails harmlessly on old kernels
    header = (ctypes.c_uint32 * 2)(_LINUX_CAPABILITY_VERSION_3, 0)
    if libc().capset(header, (ctypes.c_uint32 * 6)()) != 0:  # effective, permitted, inheritable: none
        raise OSError(ctypes.get_errno(), "cannot clear capabilities")
    libc().prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)


def set_limits(limits):
    import resource

    for name, value in limits.items():
        kind = getattr(resource, name)
        hard = value + 2 if name == "RLIMIT_CPU" else value  # SIGXCPU first, SIGKILL 2 s later
        current = resource.getrlimit(kind)[1]
        if current != resource.RLIM_INFINITY:  # an unprivileged process cannot raise its hard limit
            value, hard = min(value, current), min(hard, current)
        resource.setrlimit(kind, (value, hard))


def start(cfg):
    """Become the experiment: limits, working directory, no capabilities, then exec."""
    try:
        set_limits(cfg["rlimits"])
        os.chdir(cfg["cwd"])
        if cfg["namespaces"] or cfg["uid"] >= 0 or os.geteuid() == 0:
            drop_capabilities(cfg["uid"])
    except Exception as exc:  # noqa: BLE001 - never run without the limits we promised
        sys.stderr.write(f"sandbox setup failed: {exc}\n")
        os._exit(126)
    try:
        os.execve(cfg["argv"][0], cfg["argv"], cfg["env"])
    except OSError as exc:
        sys.stderr.write(f"cannot start {cfg['argv'][0]}: {exc}\n")
        os._exit(127)


def init(child, life_fd):
    """PID 1 of the namespace: reap orphans until the experiment ends, then pass on its status.

    If the agent dies, its end of the lifeline pipe closes: kill the experiment (and so the namespace).
    """
    import select

    try:
        child_fd = [os.pidfd_open(child)]
        wait = None
    except (AttributeError, OSError):
        child_fd, wait = [], 0.05
    watched = [life_fd, *child_fd]
    while True:
        ready, _, _ = select.select(watched, [], [], wait if wait is not None else 1.0)
        if life_fd in ready and not os.read(life_fd, 1):
            os.kill(child, 9)
            watched.remove(life_fd)
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return 1
            if pid == 0:
                break
            if pid == child:
                return os.waitstatus_to_exitcode(status)


def report(fd, record):
    os.write(fd, (repr(record) + "\n").encode())


def main():
    import marshal

    cfg = marshal.loads(bytes.fromhex(sys.argv[1]))
    status_fd, life_fd = cfg["status_fd"], cfg["lifeline_fd"]
    os.set_inheritable(status_fd, False)
    os.set_inheritable(life_fd, False)
    got, notes = {}, []
    try:
        try:
            got["own_keyring"] = own_keyring()  # inherited by the experiment and everything it starts
        except OSError as exc:
            got["own_keyring"] = False
            notes.append(str(exc))
        joined = 0
        for cgroup in cfg["cgroups"]:
            try:
                with open(os.path.join(cgroup, "cgroup.procs"), "w") as fh:
                    fh.write("0")
                joined += 1
            except OSError as exc:
                notes.append(f"cgroup: {exc}")
        got["cgroups"] = bool(cfg["cgroups"]) and joined == len(cfg["cgroups"])
        if cfg["namespaces"]:
            got.update(setup_filesystem(cfg, notes))
            if not cfg["network"]:
                try:
                    loopback_up()
                except OSError as exc:
                    notes.append(f"loopback: {exc}")
        got["no_capabilities"] = cfg["namespaces"] or cfg["uid"] >= 0 or os.geteuid() == 0  # or no run
        got["no_root"] = cfg["uid"] >= 0
        os.stat(cfg["cwd"])
    except Exception as exc:  # noqa: BLE001 - reported to the parent; never run unprotected
        report(status_fd, {"fatal": str(exc), "got": got, "notes": notes})
        sys.stderr.write(f"sandbox setup failed: {exc}\n")
        os._exit(126)
    report(status_fd, {"got": got, "notes": notes})
    if not cfg["namespaces"]:
        libc().prctl(PR_SET_PDEATHSIG, 9, 0, 0, 0)  # die with the agent (our parent)
        if os.getppid() != cfg["parent"]:
            os._exit(137)
        start(cfg)
    child = os.fork()
    if child == 0:
        start(cfg)
    code = init(child, life_fd)
    report(status_fd, {"exit": code})
    os._exit(code if code >= 0 else 128 - code)


if __name__ == "__main__":
    main()
