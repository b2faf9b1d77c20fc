r"""Run untrusted Python in a subprocess with time, CPU, memory and output limits.

Used by :class:`~dataquality_thresholds.evaluation.CodeTestJudge` to run a
model's code against an item's unit tests. What it guarantees, and where, is
documented in ``docs/judging.md``; in short:

Always (any POSIX system)
    wall-time limit (the whole process group is killed, then on Linux every
    process still carrying the run's environment marker), CPU-time limit
    (``RLIMIT_CPU``), address-space limit (``RLIMIT_AS``), file-size limit
    (``RLIMIT_FSIZE``, which also caps stdout and stderr), no core dumps, a
    fresh temporary working directory that is deleted afterwards, a minimal
    environment (no API keys), stdin closed, and at most ``max_output_bytes``
    of each output stream read back.
On Linux, as root or where unprivileged user namespaces are allowed
    new network namespace (no network at all, not even loopback), new PID
    namespace (every process the code starts dies with it, even ones that left
    the process group), new mount namespace with private ``/tmp``,
    ``/var/tmp`` and ``/dev/shm``.
As root
    the code runs as ``nobody`` (uid/gid 65534), so ``RLIMIT_NPROC`` bounds
    fork bombs and the file system is writable only where ``nobody`` may write
    (if ``nobody`` cannot reach the interpreter and no mount namespace is
    available to expose it, the code stays root, without a process limit).
Not root (Linux)
    ``RLIMIT_NPROC`` is set to the user's current process count plus
    ``max_processes``.

Limits are applied by a tiny launcher process that ``exec``\\ s the interpreter,
not by ``preexec_fn``, so running sandboxes from many threads is safe.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from dataquality_thresholds._util.validators import positive
from dataquality_thresholds.errors import ConfigError

__all__ = ["SandboxLimits", "SandboxResult", "run_python"]

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
        Processes the code may add: ``RLIMIT_NPROC`` for ``nobody`` when running
        as root; otherwise the user's current process count plus this (the limit
        counts all of a user's processes). Root that cannot switch to ``nobody``
        gets no process limit (the kernel exempts root).
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
        The isolation that was in force: ``"netns"``, ``"pidns"``,
        ``"private-tmp"``, ``"uid-nobody"``, ``"nproc"`` (a process limit).
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


# The launcher runs as a separate interpreter (-I -S): it enters the namespaces,
# forks the program (pid 1 of the new PID namespace), applies the limits in the
# child, drops to nobody when root, and execs the interpreter. It reports how
# the program ended on fd STATUS_FD as one JSON line.
_LAUNCHER = r"""
import ctypes, json, os, resource, sys
cfg = json.loads(sys.argv[1])
status_fd = cfg["status_fd"]
iso = []
def report(**kw):
    kw["isolation"] = iso
    os.write(status_fd, (json.dumps(kw) + "\n").encode())
libc = ctypes.CDLL(None, use_errno=True)
root = os.geteuid() == 0
NEWNS, NEWUSER, NEWPID, NEWNET = 0x20000, 0x10000000, 0x20000000, 0x40000000
flags = NEWNS | NEWPID | (0 if cfg["network"] else NEWNET) | (0 if root else NEWUSER)
if sys.platform.startswith("linux") and libc.unshare(flags) == 0:
    if not cfg["network"]:
        iso.append("netns")
    iso.append("pidns")
    MS_REC, MS_PRIVATE, MS_BIND = 0x4000, 0x40000, 0x1000
    if libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None) == 0:
        work = cfg["workdir"]
        tmp_dirs = ("/tmp", "/var/tmp", "/dev/shm")
        # the work dir, and the interpreter's folders when they live under a temp dir
        # (a project cloned into /tmp), are bound back into the fresh tmpfs
        keep = {work} | {p if os.path.isdir(p) else os.path.dirname(p) for p in cfg["expose"]}
        keep = {
            k for k in keep if os.path.isdir(k) and any(k.startswith(d + "/") for d in tmp_dirs)
        }
        keep = {k for k in keep if not any(k != o and k.startswith(o + "/") for o in keep)}
        fds = {k: os.open(k, os.O_PATH | os.O_DIRECTORY) for k in sorted(keep)}
        done = True
        for d in tmp_dirs:
            if not os.path.isdir(d):
                continue
            if libc.mount(b"tmpfs", d.encode(), b"tmpfs", 0, b"mode=1777,size=16m") != 0:
                done = False
                continue
            for k, kfd in fds.items():
                if k.startswith(d + "/"):
                    os.makedirs(k, exist_ok=True)
                    src = ("/proc/self/fd/%d" % kfd).encode()
                    if libc.mount(src, k.encode(), None, MS_BIND, None) != 0:
                        report(error="could not bind %s: errno %d" % (k, ctypes.get_errno()))
                        os._exit(70)
        for kfd in fds.values():
            os.close(kfd)
        if done:
            iso.append("private-tmp")
        # nobody must reach the interpreter: an ancestor that others may not
        # traverse (e.g. /root holding pyenv, or a 0700 clone folder) is covered by
        # a tmpfs into which only the children the targets need are bound back,
        # all at once, hiding its other contents.
        def first_blocked(target):
            parts = target.split("/")
            for i in range(2, len(parts)):
                anc = "/".join(parts[:i])
                if not os.stat(anc).st_mode & 0o001:
                    return anc
            return None
        targets = list(cfg["expose"]) if root and cfg["drop_root"] else []
        for _ in range(32):
            try:
                anc = next((a for a in map(first_blocked, targets) if a), None)
            except OSError:
                break  # a target is missing: reachable() below keeps root
            if anc is None:
                break
            children = sorted({anc + "/" + t[len(anc) + 1:].split("/")[0]
                               for t in targets if t.startswith(anc + "/")})
            opened = [(c, os.open(c, os.O_PATH), os.path.isdir(c)) for c in children]
            if libc.mount(b"tmpfs", anc.encode(), b"tmpfs", 0, b"mode=0755,size=1m") != 0:
                for _c, fd, _d in opened:
                    os.close(fd)
                break
            for child, fd, is_dir in opened:
                if is_dir:
                    os.mkdir(child)
                else:
                    open(child, "w").close()
                src = ("/proc/self/fd/%d" % fd).encode()
                libc.mount(src, child.encode(), None, MS_BIND | MS_REC, None)
                os.close(fd)
def reachable(path):
    parts = path.split("/")
    try:
        return all(os.stat("/".join(parts[:i])).st_mode & 0o001 for i in range(2, len(parts)))
    except OSError:
        return False
drop = root and cfg["drop_root"]
if drop and not all(reachable(t) for t in cfg["expose"]):
    drop = False  # nobody could not start the interpreter here: stay root
if drop:
    iso.append("uid-nobody")
nproc = None
if drop:
    nproc = cfg["limits"]["nproc"]
elif not root and os.path.isdir("/proc"):
    # RLIMIT_NPROC counts all of the user's processes: allow the ones that exist
    uid, mine = os.getuid(), 0
    for pid in os.listdir("/proc"):
        try:
            with open("/proc/%s/status" % pid) as fh:
                for line in fh:
                    if line.startswith("Uid:"):
                        mine += int(line.split()[1]) == uid
                        break
        except (OSError, ValueError):
            pass
    nproc = mine + cfg["limits"]["nproc"]
if nproc is not None:
    iso.append("nproc")
try:
    pid = os.fork()
except OSError as exc:
    report(error="fork failed: %s" % exc)
    os._exit(70)
if pid == 0:
    try:
        L = cfg["limits"]
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        resource.setrlimit(resource.RLIMIT_CPU, (L["cpu"], L["cpu"] + 1))
        resource.setrlimit(resource.RLIMIT_AS, (L["mem"], L["mem"]))
        resource.setrlimit(resource.RLIMIT_FSIZE, (L["fsize"], L["fsize"]))
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))
        if nproc is not None:
            resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
        if drop:
            os.setgroups([])
            os.setgid(cfg["uid"])
            os.setuid(cfg["uid"])
        os.chdir(cfg["workdir"])
        os.closerange(3, 65536)
        os.execve(cfg["argv"][0], cfg["argv"], cfg["env"])
    except BaseException as exc:
        try:
            os.write(2, ("sandbox launcher: %r\n" % (exc,)).encode())
        finally:
            os._exit(71)
while True:
    try:
        _, st = os.waitpid(pid, 0)
        break
    except InterruptedError:
        continue
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


def _kill_group(pgid: int) -> None:
    import signal

    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _sweep(token: bytes, timeout: float = 10.0) -> None:
    """SIGKILL every process whose environment carries ``token``, until none is left.

    Processes of a PID namespace are dying already (their init was killed) and
    only need to be waited for; without one, this catches processes that left
    the process group (unless they replaced their environment).
    """
    import signal

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

    Not ``sys.path``: it also holds the caller's own folders (pytest adds every test
    folder), which the sandboxed code has no business reading and which, under a
    folder others may not enter, would each need a mount of their own.
    """
    paths = {os.path.realpath(python), os.path.abspath(python)}
    if os.path.realpath(python) == os.path.realpath(sys.executable):
        paths |= {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    else:
        venv = Path(python).absolute().parent.parent
        if (venv / "pyvenv.cfg").is_file():
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
        variables: it runs with ``-E -s``).
    drop_root : bool
        When running as root, run the code as ``nobody`` (default True).

    Returns
    -------
    SandboxResult

    Raises
    ------
    ConfigError
        A file name that is absolute or leaves the working directory.

    Notes
    -----
    POSIX only. See the module docstring for which isolation applies where;
    :attr:`SandboxResult.isolation` says what was in force for this run.
    """
    if os.name != "posix":  # pragma: no cover - the library targets POSIX
        raise ConfigError("the sandbox needs a POSIX system", field="sandbox")
    limits = limits or SandboxLimits()
    python = python or sys.executable
    is_root = os.geteuid() == 0
    drop = is_root and drop_root
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
            for dirpath, _dirnames, filenames in os.walk(work):
                os.chown(dirpath, _NOBODY, _NOBODY)
                for f in filenames:
                    os.chown(os.path.join(dirpath, f), _NOBODY, _NOBODY)
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
        timed_out = False
        try:
            with (out / "stdout").open("wb") as fo, (out / "stderr").open("wb") as fe:
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
            os.close(status_w)
            status_w = -1
            try:
                proc.wait(timeout=limits.wall_time)
            except subprocess.TimeoutExpired:
                timed_out = True
            _kill_group(proc.pid)
            proc.wait()
            _sweep(f"DQT_SANDBOX={base.name}".encode())
            elapsed = time.monotonic() - t0
            with os.fdopen(status_r, "rb") as fh:
                status_r = -1
                line = fh.read().decode("utf-8", "replace").strip()
        finally:
            for fd in (status_r, status_w):
                if fd >= 0:
                    os.close(fd)
        status: dict[str, Any] = json.loads(line) if line else {}
        stdout, out_trunc = _read_capped(out / "stdout", limits.max_output_bytes)
        stderr, err_trunc = _read_capped(out / "stderr", limits.max_output_bytes)
        if "error" in status:
            stderr = f"{stderr}sandbox launcher: {status['error']}\n"
        signal_no = status.get("signal")
        returncode = status.get("returncode")
        if timed_out:
            import signal as _signal

            signal_no, returncode = int(_signal.SIGKILL), None
        elif not status:
            # the launcher itself died (e.g. killed from outside)
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
            isolation=tuple(status.get("isolation", ())),
        )
