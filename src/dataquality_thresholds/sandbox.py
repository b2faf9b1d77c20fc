r"""Run untrusted Python in a subprocess with time, CPU, memory and output limits.

Used by :class:`~dataquality_thresholds.evaluation.CodeTestJudge` and
:func:`~dataquality_thresholds.corruption.run_tests`. ``docs/judging.md`` describes
each layer of isolation; in short:

Always (POSIX)
    wall-time limit (the process group, then on Linux every process carrying the
    run's environment marker, is killed), ``RLIMIT_CPU``, ``RLIMIT_AS``,
    ``RLIMIT_FSIZE`` (which also caps stdout and stderr), no core dumps, a fresh
    temporary working directory, a minimal environment, stdin closed, and at
    most ``max_output_bytes`` of each output stream read back.
Linux, as root or where unprivileged user namespaces are allowed
    ``"userns"`` (not root: a user namespace mapping the user's own uid and gid),
    ``"netns"`` (no network), ``"pidns"`` (every process dies with the run), and
    in a mount namespace ``"private-tmp"`` (private ``/tmp``, ``/var/tmp``,
    ``/dev/shm``), ``"readonly-fs"`` (all but the working directory and the
    private temp dirs read-only; Linux 5.12+) and ``"private-proc"`` (a ``/proc``
    showing only the run's processes; else an empty one, ``"hidden-proc"``).
Linux
    ``"uid-nobody"`` (as root: the code runs as uid/gid 65534, or stays root if
    ``nobody`` cannot reach the interpreter) and ``"nproc"`` (``RLIMIT_NPROC``).

:attr:`SandboxResult.isolation` lists the layers applied, timeouts included; a
layer the system refuses is left out. When the code cannot be run at all,
:func:`run_python` raises :class:`SandboxUnavailableError`. A tiny launcher process
applies the limits and ``exec``\\ s the interpreter (no ``preexec_fn``: thread-safe).
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from dataquality_thresholds._util.validators import positive
from dataquality_thresholds.errors import ConfigError, SandboxUnavailableError

__all__ = ["SandboxLimits", "SandboxResult", "SandboxUnavailableError", "run_python"]

_NOBODY = 65534


@attrs.frozen(kw_only=True)
class SandboxLimits:
    """Resource limits of one sandboxed run.

    Parameters
    ----------
    wall_time : float
        Seconds before the whole run is killed.
    cpu_time : int, optional
        CPU seconds per process (``RLIMIT_CPU``); default ``ceil(wall_time)``.
    memory_mb : int
        Address-space limit per process, MiB (``RLIMIT_AS``).
    max_processes : int
        Processes the code may have (``RLIMIT_NPROC``): of ``nobody`` when running
        as root; of the run's user namespace when not root (Linux 5.14+), else the
        user's current process count plus this. Root that cannot switch to
        ``nobody`` gets no process limit (the kernel exempts root).
    max_file_mb : float
        Largest file the code may write, stdout and stderr included (``RLIMIT_FSIZE``);
        exceeding it kills the writer with ``SIGXFSZ``.
    max_output_bytes : int
        How much of stdout and of stderr is read back.
    network : bool
        Allow network access (default False: a new, empty network namespace
        where the OS allows it).
    """

    wall_time: float = attrs.field(default=10.0, converter=float, validator=positive)
    cpu_time: int | None = attrs.field(default=None)
    memory_mb: int = attrs.field(default=512, validator=positive)
    max_processes: int = attrs.field(default=32, validator=positive)
    max_file_mb: float = attrs.field(default=16.0, converter=float, validator=positive)
    max_output_bytes: int = attrs.field(default=65536, validator=positive)
    network: bool = False

    def cpu_seconds(self) -> int:
        """Return the CPU limit in whole seconds."""
        if self.cpu_time is not None:
            return max(1, int(self.cpu_time))
        return max(1, int(-(-self.wall_time // 1)))


@attrs.frozen(kw_only=True)
class SandboxResult:
    """What a sandboxed run did.

    Parameters
    ----------
    returncode : int or None
        Exit status of the program; None when it was killed by a signal.
    signal : int or None
        The signal that ended it (``SIGKILL`` on timeout, ``SIGXCPU``,
        ``SIGXFSZ`` ...).
    timed_out : bool
        The wall-time limit was reached.
    stdout, stderr : str
        The first ``max_output_bytes`` of each stream (UTF-8, invalid bytes replaced).
    stdout_truncated, stderr_truncated : bool
        More was written than was read back.
    wall_time : float
        Seconds the run took.
    isolation : tuple of str
        The layers of isolation applied, timeouts included: ``"userns"``, ``"netns"``,
        ``"pidns"``, ``"private-tmp"``, ``"readonly-fs"``, ``"uid-nobody"``, ``"nproc"``,
        ``"private-proc"`` or ``"hidden-proc"``; one the system refused is missing
        (all are, if the time ran out before the program started).
    """

    returncode: int | None
    signal: int | None
    timed_out: bool
    stdout: str
    stderr: str
    stdout_truncated: bool
    stderr_truncated: bool
    wall_time: float
    isolation: tuple[str, ...] = attrs.field(converter=tuple)

    @property
    def ok(self) -> bool:
        """The program exited with status 0 within its limits."""
        return self.returncode == 0 and not self.timed_out


# The launcher (a separate interpreter, -I -S) enters the namespaces, mounts, forks the
# program (pid 1 of the new PID namespace: mounts /proc, sets limits, drops root, execs).
# On status_fd: {"started": true, "isolation": [...]}, then how it ended; or {"error"}.
_LAUNCHER = r"""
import ctypes, json, os, resource, sys
cfg = json.loads(sys.argv[1])
L = cfg["limits"]
iso = []
def report(**kw):
    kw["isolation"] = iso
    os.write(cfg["status_fd"], (json.dumps(kw) + "\n").encode())
def fail(msg):
    report(error=msg)
    os._exit(70)
libc = ctypes.CDLL(None, use_errno=True)
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_BIND, MS_REC, MS_PRIVATE = 0x1000, 0x4000, 0x40000
def mount(src, dst, fstype, flags, data=None, check=True):
    enc = lambda s: s.encode() if isinstance(s, str) else s
    ok = libc.mount(enc(src), enc(dst), enc(fstype), flags, enc(data)) == 0
    if not ok and check:
        err = ctypes.get_errno()
        raise OSError(err, "mount %s on %s: %s" % (fstype or src, dst, os.strerror(err)))
    return ok
def set_readonly(path, on, recursive=False):
    # mount_setattr(2) (Linux 5.12+; 442 on every architecture but alpha) with
    # MOUNT_ATTR_RDONLY in attr_set or attr_clr; AT_FDCWD, AT_RECURSIVE
    attr = (ctypes.c_uint64 * 4)(int(on), int(not on), 0, 0)
    args = (442, -100, path.encode(), 0x8000 if recursive else 0, attr, 32)
    return libc.syscall(*(ctypes.c_long(a) if isinstance(a, int) else a for a in args)) == 0
def count_processes(uid):
    n = 0
    for pid in os.listdir("/proc"):
        try:
            with open("/proc/%s/status" % pid) as fh:
                n += any(ln.startswith("Uid:") and int(ln.split()[1]) == uid for ln in fh)
        except (OSError, ValueError):
            pass
    return n
def private_tmp(work):
    # fresh tmpfs on the temp dirs; the work dir and interpreter folders under one (a
    # clone in /tmp) are bound back in. Returns the mounts the code may write to.
    tmp_dirs = [d for d in ("/tmp", "/var/tmp", "/dev/shm") if os.path.isdir(d)]
    under = lambda k, d: k.startswith(d + "/")
    keep = {work} | {p if os.path.isdir(p) else os.path.dirname(p) for p in cfg["expose"]}
    keep = {k for k in keep if os.path.isdir(k) and any(under(k, d) for d in tmp_dirs)}
    keep = {k for k in keep if not any(k != o and under(k, o) for o in keep)}
    fds = {k: os.open(k, os.O_PATH | os.O_DIRECTORY) for k in sorted(keep)}
    writable = []
    for d in tmp_dirs:
        if not mount("tmpfs", d, "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777,size=16m", False):
            continue
        writable.append(d)
        for k, kfd in fds.items():
            if under(k, d):
                os.makedirs(k, exist_ok=True)
                mount("/proc/self/fd/%d" % kfd, k, None, MS_BIND)
    for kfd in fds.values():
        os.close(kfd)
    if len(writable) == len(tmp_dirs):
        iso.append("private-tmp")
    if not any(under(work, d) for d in writable):
        mount(work, work, None, MS_BIND)  # its own mount, to be left writable
    return writable + [work]
def first_blocked(target):
    parts = target.split("/")
    for i in range(2, len(parts)):
        anc = "/".join(parts[:i])
        if not os.stat(anc).st_mode & 0o001:
            return anc
    return None
def expose(targets):
    # nobody must reach the interpreter: an ancestor that others may not traverse
    # (e.g. /root holding pyenv, or a 0700 clone folder) is covered by a tmpfs into
    # which only the children the targets need are bound back, hiding the rest.
    for _ in range(32):
        try:
            anc = next((a for a in map(first_blocked, targets) if a), None)
        except OSError:
            return  # a target is missing: setup() keeps root
        if anc is None:
            return
        children = sorted({anc + "/" + t[len(anc) + 1:].split("/")[0]
                           for t in targets if t.startswith(anc + "/")})
        opened = [(c, os.open(c, os.O_PATH), os.path.isdir(c)) for c in children]
        if not mount("tmpfs", anc, "tmpfs", 0, "mode=0755,size=1m", False):
            return  # (the child closes every descriptor before exec)
        for child, fd, is_dir in opened:
            if is_dir:
                os.mkdir(child)
            else:
                open(child, "w").close()
            mount("/proc/self/fd/%d" % fd, child, None, MS_BIND | MS_REC, None, False)
            os.close(fd)
def setup():
    root = os.geteuid() == 0
    uid, gid = os.getuid(), os.getgid()
    linux = sys.platform.startswith("linux") and os.path.isdir("/proc")
    NEWNS, NEWUSER, NEWPID, NEWNET = 0x20000, 0x10000000, 0x20000000, 0x40000000
    flags = NEWNS | NEWPID | (0 if cfg["network"] else NEWNET) | (0 if root else NEWUSER)
    ns = linux and libc.unshare(flags) == 0
    mapped = root
    if ns and not root:
        iso.append("userns")
        # map our uid and gid onto themselves: an unmapped caller (seen as the
        # overflow id 65534) may create no file on a file system mounted inside
        # the namespace, such as the private /tmp (EOVERFLOW)
        try:
            for name, text in (("setgroups", "deny"), ("uid_map", "%d %d 1" % (uid, uid)),
                               ("gid_map", "%d %d 1" % (gid, gid))):
                with open("/proc/self/" + name, "w") as fh:
                    fh.write(text)
            mapped = True
        except OSError:
            pass  # then no mount layers
    if ns:
        iso.extend(["netns", "pidns"] if not cfg["network"] else ["pidns"])
    mntns = ns and mapped and mount("none", "/", None, MS_REC | MS_PRIVATE, None, False)
    if mntns:
        writable = private_tmp(cfg["workdir"])
        if root and cfg["drop_root"]:
            expose(list(cfg["expose"]))
        if set_readonly("/", True, recursive=True):
            for w in writable:
                if not set_readonly(w, False):
                    raise OSError(ctypes.get_errno(), "could not leave %s writable" % w)
            iso.append("readonly-fs")
    try:  # nobody could not start the interpreter here: stay root
        drop = root and cfg["drop_root"] and not any(map(first_blocked, cfg["expose"]))
    except OSError:
        drop = False
    if drop:
        iso.append("uid-nobody")
    nproc = L["nproc"] if drop else None
    if linux and not root:
        # since Linux 5.14 a user namespace counts only its own processes (here
        # the launcher and the program's); before, all of the user's count
        release = os.uname().release.split("-")[0].split(".")
        per_ns = "userns" in iso and tuple(map(int, release[:2])) >= (5, 14)
        nproc = L["nproc"] + (1 if per_ns else count_processes(uid))
    if nproc is not None:
        iso.append("nproc")
    return mntns, drop, nproc
def child(w, mntns, drop, nproc):
    if mntns:  # hide the host's /proc: the PID namespace's own, else an empty one
        if mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, None, False):
            os.write(w, b'{"iso": "private-proc"}\n')
        elif mount("tmpfs", "/proc", "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                   "mode=0555,size=4k", False):
            os.write(w, b'{"iso": "hidden-proc"}\n')
    R = resource
    resource.setrlimit(R.RLIMIT_CPU, (L["cpu"], L["cpu"] + 1))
    for res, lim in ((R.RLIMIT_CORE, 0), (R.RLIMIT_AS, L["mem"]), (R.RLIMIT_FSIZE, L["fsize"]),
                     (R.RLIMIT_NOFILE, 256), (R.RLIMIT_NPROC, nproc)):
        if lim is not None:
            resource.setrlimit(res, (lim, lim))
    if drop:
        os.setgroups([])
        os.setgid(cfg["uid"])
        os.setuid(cfg["uid"])
    os.chdir(cfg["workdir"])
    os.closerange(3, w)
    os.closerange(w + 1, 65536)
    os.execve(cfg["argv"][0], cfg["argv"], cfg["env"])  # closes w (O_CLOEXEC)
try:
    mntns, drop, nproc = setup()
    r, w = os.pipe()
    pid = os.fork()
except Exception as exc:
    fail("setting up the sandbox failed: %s" % (exc,))
if pid == 0:
    try:
        os.close(r)
        child(w, mntns, drop, nproc)
    except BaseException as exc:
        try:
            msg = {"error": "%s: %s" % (type(exc).__name__, exc)}
            os.write(w, (json.dumps(msg) + "\n").encode())
        finally:
            os._exit(71)
os.close(w)
data = b"".join(iter(lambda: os.read(r, 65536), b""))
for line in data.decode("utf-8", "replace").splitlines():
    msg = json.loads(line)
    if "error" in msg:
        os.waitpid(pid, 0)
        fail("starting the program failed: %s" % msg["error"])
    iso.append(msg["iso"])
report(started=True)
_, st = os.waitpid(pid, 0)  # retried on EINTR (PEP 475)
if os.WIFSIGNALED(st):
    report(signal=os.WTERMSIG(st))
else:
    report(returncode=os.WEXITSTATUS(st))
os._exit(0)
"""


def _read_capped(path: Path, cap: int) -> tuple[str, bool]:
    with path.open("rb") as fh:
        data = fh.read(cap + 1)
    return data[:cap].decode("utf-8", "replace"), len(data) > cap


def _drain(fd: int, timeout: float) -> tuple[bytes, bool]:
    """Read ``fd`` to its end; return the data and whether ``timeout`` ran out first.

    The launcher holds the status pipe until it exits, so waiting on the pipe wakes as
    soon as the run ends (``Popen.wait(timeout=...)`` polls, adding up to 50 ms).
    """
    deadline = time.monotonic() + timeout
    data = b""
    with selectors.DefaultSelector() as sel:
        sel.register(fd, selectors.EVENT_READ)
        while (left := deadline - time.monotonic()) > 0:
            if sel.select(left):
                chunk = os.read(fd, 65536)
                if not chunk:
                    return data, False
                data += chunk
    return data, True


def _sweep(token: bytes, timeout: float = 10.0) -> None:
    """SIGKILL every process whose environment carries ``token``, until none is left.

    Processes of a PID namespace are dying already (their init was killed) and
    only need to be waited for; without one, this catches processes that left
    the process group (unless they replaced their environment).
    """
    if not os.path.isdir("/proc"):  # pragma: no cover - not Linux
        return
    deadline = time.monotonic() + timeout
    me = os.getpid()
    while True:
        found = []
        for name in os.listdir("/proc"):
            if not name.isdigit() or int(name) == me:
                continue
            try:
                with open(f"/proc/{name}/environ", "rb") as fh:
                    if token in fh.read():
                        found.append(int(name))
            except OSError:
                continue
        if not found or time.monotonic() > deadline:
            return
        for pid in found:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.02)


def _interpreter_paths(python: str) -> list[str]:
    """Return the paths the sandboxed interpreter needs: itself and its prefixes.

    Not ``sys.path``, which also holds the caller's own folders (pytest adds every
    test folder), none of the sandboxed code's business.
    """
    paths = {os.path.realpath(python), os.path.abspath(python)}
    if os.path.realpath(python) == os.path.realpath(sys.executable):
        paths |= {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    else:
        venv = Path(python).absolute().parent.parent
        if os.path.isfile(venv / "pyvenv.cfg"):
            paths.add(str(venv))
    return sorted(os.path.abspath(p) for p in paths if os.path.exists(p))


def run_python(
    source: str,
    *,
    limits: SandboxLimits | None = None,
    files: Mapping[str, str] | None = None,
    python: str | None = None,
    drop_root: bool = True,
) -> SandboxResult:
    """Run ``source`` as ``main.py`` with a fresh interpreter inside the sandbox.

    Parameters
    ----------
    source : str
        The program.
    limits : SandboxLimits, optional
        Resource limits; the defaults when None.
    files : mapping of str to str, optional
        Extra files to create in the working directory (relative names only).
    python : str, optional
        The interpreter; the current one by default (so the code sees the same
        installed packages, but not the user's site directory or ``PYTHON*``
        variables: it runs with ``-E -s``). The current user must be able to
        execute it.
    drop_root : bool
        When running as root, run the code as ``nobody`` (default True).

    Returns
    -------
    SandboxResult
        How the program ended; ``isolation`` lists the layers that were applied.

    Raises
    ------
    ConfigError
        A file name that is absolute or leaves the working directory.
    SandboxUnavailableError
        The code could not be run: the interpreter cannot be started, or the
        launcher failed while applying a layer of isolation or a limit.

    Notes
    -----
    POSIX only. See the module docstring, and ``docs/judging.md``, for which
    isolation applies where.
    """
    if os.name != "posix":  # pragma: no cover - the library targets POSIX
        raise ConfigError("the sandbox needs a POSIX system", field="sandbox")
    limits = limits or SandboxLimits()
    python = python or sys.executable
    drop = os.geteuid() == 0 and drop_root
    with tempfile.TemporaryDirectory(prefix="dqt-sandbox-") as base_name:
        base = Path(base_name)
        work = base / "work"
        out = base / "out"
        out.mkdir(mode=0o700)
        work.mkdir()
        to_write = {"main.py": source, **(dict(files) if files else {})}
        for name, text in to_write.items():
            target = (work / name).resolve()
            if Path(name).is_absolute() or work.resolve() not in target.parents:
                raise ConfigError(f"sandbox file name {name!r} leaves the work dir", field="files")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        if drop:
            os.chmod(base, 0o711)
            for path in [work, *work.rglob("*")]:
                os.chown(path, _NOBODY, _NOBODY)
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "HOME": str(work),
            "TMPDIR": str(work),
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            "DQT_SANDBOX": base.name,
        }
        status_r, status_w = os.pipe()
        cfg = {
            "status_fd": status_w,
            "workdir": str(work),
            "network": limits.network,
            "drop_root": drop_root,
            "uid": _NOBODY,
            "argv": [python, "-E", "-s", "-B", "main.py"],
            "expose": _interpreter_paths(python),
            "env": env,
            "limits": {
                "cpu": limits.cpu_seconds(),
                "mem": int(limits.memory_mb) * 1024 * 1024,
                "fsize": int(limits.max_file_mb * 1024 * 1024),
                "nproc": int(limits.max_processes),
            },
        }
        t0 = time.monotonic()
        try:
            with (out / "stdout").open("wb") as fo, (out / "stderr").open("wb") as fe:
                try:
                    proc = subprocess.Popen(
                        [python, "-I", "-S", "-B", "-c", _LAUNCHER, json.dumps(cfg)],
                        cwd=work,
                        stdin=subprocess.DEVNULL,
                        stdout=fo,
                        stderr=fe,
                        env=env,
                        start_new_session=True,
                        pass_fds=(status_w,),
                    )
                except OSError as exc:
                    raise SandboxUnavailableError(
                        f"cannot start the interpreter {python!r} for the sandbox: {exc}; "
                        "pass python= an interpreter this user may execute",
                        python=python,
                    ) from exc
            os.close(status_w)
            status_w = -1
            data, timed_out = _drain(status_r, limits.wall_time)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            _sweep(f"DQT_SANDBOX={base.name}".encode())
            elapsed = time.monotonic() - t0
            data += _drain(status_r, 5.0)[0]  # what a killed launcher had written
        finally:
            for fd in (status_r, status_w):
                if fd >= 0:
                    os.close(fd)
        status: dict[str, Any] = {}
        for line in data.decode("utf-8", "replace").splitlines():
            with contextlib.suppress(ValueError, TypeError):
                status.update(json.loads(line))
        stdout, out_trunc = _read_capped(out / "stdout", limits.max_output_bytes)
        stderr, err_trunc = _read_capped(out / "stderr", limits.max_output_bytes)
        isolation = tuple(status.get("isolation", ()))
        if "error" in status or not (status.get("started") or timed_out):
            why = status.get("error") or (
                f"the launcher exited with status {proc.returncode} before starting the "
                f"program; its stderr: {stderr[-1000:]!r}"
            )
            raise SandboxUnavailableError(
                f"the sandbox could not run the code: {why} (isolation applied so far: "
                f"{', '.join(isolation) or 'none'})",
                python=python,
                isolation=isolation,
            )
        signal_no = status.get("signal")
        returncode = status.get("returncode")
        if timed_out:
            signal_no, returncode = int(signal.SIGKILL), None
        elif "returncode" not in status and "signal" not in status:
            # the launcher itself died while the program ran (e.g. killed from outside)
            returncode = proc.returncode if proc.returncode >= 0 else None
            signal_no = -proc.returncode if proc.returncode < 0 else None
        return SandboxResult(
            returncode=returncode,
            signal=signal_no,
            timed_out=timed_out,
            stdout=stdout,
            stderr=stderr,
            stdout_truncated=out_trunc,
            stderr_truncated=err_trunc,
            wall_time=elapsed,
            isolation=isolation,
        )
