"""The subprocess sandbox contains loops, fork bombs, memory hogs, floods and escapes."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest

import dataquality_thresholds
from dataquality_thresholds.errors import BackendUnavailableError, ConfigError
from dataquality_thresholds.sandbox import SandboxLimits, SandboxUnavailableError, run_python

pytestmark = pytest.mark.skipif(os.name != "posix", reason="the sandbox is POSIX only")

FAST = SandboxLimits(wall_time=2.0, memory_mb=256, max_processes=16, max_file_mb=1)


def _procs_mentioning(marker: str) -> list[int]:
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                cmd = fh.read()
            with open(f"/proc/{pid}/environ", "rb") as fh:
                env = fh.read()
        except OSError:
            continue
        if marker.encode() in cmd or marker.encode() in env:
            found.append(int(pid))
    return found


def test_runs_code_and_captures_output() -> None:
    r = run_python("import sys\nprint('out')\nprint('err', file=sys.stderr)\n", limits=FAST)
    assert r.ok and r.returncode == 0
    assert r.stdout == "out\n" and r.stderr == "err\n"
    r = run_python("raise SystemExit(3)", limits=FAST)
    assert (r.returncode, r.ok) == (3, False)


def test_environment_is_minimal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret")
    r = run_python("import os\nprint(sorted(os.environ))\nprint(os.getcwd())", limits=FAST)
    assert "OPENAI_API_KEY" not in r.stdout
    assert "dqt-sandbox-" in r.stdout


def test_infinite_loop_killed_on_time() -> None:
    r = run_python("while True:\n    pass\n", limits=SandboxLimits(wall_time=1.0))
    assert r.timed_out and r.signal == signal.SIGKILL and not r.ok
    assert r.wall_time < 5.0
    # a timeout still says which isolation was in force
    assert r.isolation == run_python("pass", limits=FAST).isolation


def test_cpu_limit() -> None:
    r = run_python("while True:\n    pass\n", limits=SandboxLimits(wall_time=5.0, cpu_time=1))
    assert not r.timed_out
    assert r.signal in (signal.SIGXCPU, signal.SIGKILL)


def test_memory_hog_contained() -> None:
    r = run_python("x = bytearray(2 * 1024**3)\nprint('allocated')", limits=FAST)
    assert not r.ok and "allocated" not in r.stdout
    assert "MemoryError" in r.stderr


def test_huge_output_capped() -> None:
    r = run_python(
        "import sys\nwhile True:\n    sys.stdout.write('x' * 65536)\n",
        limits=SandboxLimits(wall_time=5.0, max_file_mb=1, max_output_bytes=1000),
    )
    assert not r.ok and not r.timed_out  # stopped by RLIMIT_FSIZE, not by the clock
    assert len(r.stdout) == 1000 and r.stdout_truncated


def test_fork_bomb_contained() -> None:
    probe = run_python("pass", limits=FAST)
    if "nproc" not in probe.isolation:
        pytest.skip("no process limit can be set here (root that cannot switch to nobody)")
    pidns = "pidns" in probe.isolation
    code = f"""
import os, time
print(os.getcwd(), flush=True)  # HOME and TMPDIR of every sandbox process
n = 0
while True:
    try:
        if os.fork() == 0:
            if {pidns!r}:
                os.setsid()  # try to leave the process group
            time.sleep(60 if {pidns!r} else 3)
            os._exit(0)
        n += 1
    except OSError:
        break
print("forked", n, flush=True)
time.sleep(60)
"""
    r = run_python(code, limits=SandboxLimits(wall_time=1.5, max_processes=16, memory_mb=256))
    assert r.timed_out
    workdir, forked_line = r.stdout.splitlines()[:2]
    assert "dqt-sandbox-" in workdir
    assert int(forked_line.split()[1]) <= 16
    # every process of the sandbox died with it (with a PID namespace even the
    # ones that called setsid; otherwise the process-group kill got them)
    assert _procs_mentioning(f"HOME={workdir}") == []


def test_process_finder_finds_processes() -> None:
    import subprocess

    marker = f"dqt-marker-{uuid.uuid4().hex}"
    p = subprocess.Popen(["sleep", "5"], env={"PATH": "/usr/bin:/bin", "X": marker})
    try:
        # Popen returns once exec has begun; the kernel publishes the new environment a
        # moment later (under load the first read can come back empty), so look again
        deadline = time.monotonic() + 3.0
        found = _procs_mentioning(marker)
        while not found and time.monotonic() < deadline:
            time.sleep(0.01)
            found = _procs_mentioning(marker)
        assert found == [p.pid]
    finally:
        p.kill()
        p.wait()


def test_write_outside_temp_dir_contained(tmp_path: Path) -> None:
    target = tmp_path / "escape.txt"
    tmp_target = Path("/tmp") / f"dqt-escape-{uuid.uuid4().hex}.txt"
    code = f"""
for p in ({str(target)!r}, {str(tmp_target)!r}, "inside.txt"):
    try:
        with open(p, "w") as fh:
            fh.write("x")
        print("wrote", p)
    except OSError as exc:
        print("refused", p, type(exc).__name__)
"""
    r = run_python(code, limits=FAST)
    assert r.ok, r.stderr
    assert "wrote inside.txt" in r.stdout
    if not {"uid-nobody", "readonly-fs"} & set(r.isolation):
        pytest.skip("neither a read-only file system nor an unprivileged user here")
    assert not target.exists() and f"refused {target}" in r.stdout
    if "private-tmp" in r.isolation:
        assert not tmp_target.exists()
    else:  # pragma: no cover - documented limit
        tmp_target.unlink(missing_ok=True)


def test_no_network() -> None:
    code = """
import socket
try:
    socket.create_connection(("127.0.0.1", 9), timeout=1)
    print("connected")
except OSError as exc:
    print("blocked", exc.errno)
print(sorted(n for _, n in socket.if_nameindex()))
"""
    r = run_python(code, limits=FAST)
    assert r.ok, r.stderr
    assert "connected" not in r.stdout
    if "netns" in r.isolation:
        assert "['lo']" in r.stdout  # a fresh namespace has only a down loopback


def test_extra_files_and_bad_names() -> None:
    r = run_python("import helper\nprint(helper.X)", files={"helper.py": "X = 42"}, limits=FAST)
    assert r.stdout.strip() == "42", r.stderr
    with pytest.raises(ConfigError):
        run_python("pass", files={"../x.py": ""}, limits=FAST)
    with pytest.raises(ConfigError):
        SandboxLimits(wall_time=0)


def test_uses_given_interpreter() -> None:
    r = run_python("import sys\nprint(sys.version_info[:2])", python=sys.executable, limits=FAST)
    assert r.stdout.strip() == str(tuple(sys.version_info[:2]))


def test_interpreter_under_a_temp_dir_is_reachable(tmp_path) -> None:
    # a project cloned under /tmp has its virtualenv there; the sandbox's private /tmp
    # must not hide the interpreter (CI may run from such a clone)
    link = tmp_path / "python"
    link.symlink_to(sys.executable)
    r = run_python(
        "print('hello from', __import__('sys').version_info[0])", python=str(link), limits=FAST
    )
    assert r.ok, (r.stderr, r.isolation)
    assert r.stdout.startswith("hello from 3")


def test_interpreter_in_a_private_folder_beside_the_callers_paths(tmp_path, monkeypatch) -> None:
    # a clone in a 0700 folder (mktemp -d): its venv's interpreter lives there, and
    # `python -m pytest` has put the clone itself and test folders from it on
    # sys.path; none of them may hide the interpreter from the sandbox (this crashed
    # the launcher once)
    clone = tmp_path / "clone"
    (clone / "venv" / "bin").mkdir(parents=True)
    (clone / "tests" / "sub").mkdir(parents=True)
    clone.chmod(0o700)
    link = clone / "venv" / "bin" / "python"
    link.symlink_to(sys.executable)
    monkeypatch.syspath_prepend(str(clone / "tests" / "sub"))
    monkeypatch.syspath_prepend(str(clone / "tests"))
    monkeypatch.syspath_prepend(str(clone))
    r = run_python("print('hello')", python=str(link), limits=FAST)
    assert r.ok, (r.stderr, r.isolation)
    assert r.stdout == "hello\n"
    if os.geteuid() == 0 and "pidns" in r.isolation:
        assert "uid-nobody" in r.isolation


def test_what_the_code_sees_of_proc_and_the_file_system() -> None:
    code = """
import json, os
pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
ro = lambda p: bool(os.statvfs(p).f_flag & os.ST_RDONLY)
print(json.dumps({"pid": os.getpid(), "pids": pids, "ro": [ro("/"), ro("."), ro("/tmp")]}))
"""
    r = run_python(code, limits=FAST)
    assert r.ok, r.stderr
    seen = json.loads(r.stdout)
    if "private-proc" in r.isolation:  # the PID namespace's own /proc: just the program
        assert seen["pid"] == 1 and seen["pids"] == [1]
    elif "hidden-proc" in r.isolation:  # where a fresh /proc is refused: an empty one
        assert seen["pids"] == []
    else:  # no mount namespace: the host's /proc, and the sandbox says so
        assert "private-tmp" not in r.isolation
    if "readonly-fs" in r.isolation:
        assert seen["ro"] == [True, False, False]  # only the work dir and /tmp writable


def test_unusable_interpreter_raises_a_typed_error(tmp_path: Path) -> None:
    not_executable = tmp_path / "python"
    not_executable.write_text("")
    with pytest.raises(SandboxUnavailableError, match="cannot start the interpreter") as info:
        run_python("pass", python=str(not_executable), limits=FAST)
    assert isinstance(info.value, BackendUnavailableError)
    assert info.value.python == str(not_executable)
    # an interpreter that exits before the launcher has started the program
    true = shutil.which("true")
    assert true is not None
    with pytest.raises(SandboxUnavailableError, match="before starting the program"):
        run_python("pass", python=true, limits=FAST)


# Run by uid 65534 (nobody) through setpriv: the checks an ordinary user's sandbox
# must pass. Prints one JSON object.
_AS_NOBODY = r"""
import json, os, sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from dataquality_thresholds.sandbox import SandboxLimits, SandboxUnavailableError, run_python
port, blocked_python = int(sys.argv[1]), sys.argv[2]
fast = SandboxLimits(wall_time=5.0, memory_mb=256, max_processes=16)
def run(code, limits=fast):
    r = run_python(code, limits=limits)
    keys = ("ok", "returncode", "signal", "timed_out", "stdout", "stderr", "isolation")
    return {k: getattr(r, k) for k in keys}
SEE = '''
import json, os, socket
try:
    socket.create_connection(("127.0.0.1", PORT), timeout=2).close()
    net = "connected"
except OSError as exc:
    net = "blocked: %s" % exc
pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
print(json.dumps({"net": net, "pids": pids, "uid": os.getuid()}))
'''
out = {"uid": os.getuid()}
out["good"] = run("def add(a, b):\n    return a + b\nassert add(2, 3) == 5\nprint('passed')")
out["bad"] = run("def add(a, b):\n    return a - b\nassert add(2, 3) == 5\n")
out["loop"] = run("while True:\n    pass\n", SandboxLimits(wall_time=1.0))
out["see"] = run(SEE.replace("PORT", str(port)))
try:
    run_python("pass", python=blocked_python, limits=fast)
    out["blocked"] = "ran"
except SandboxUnavailableError as exc:
    out["blocked"] = "SandboxUnavailableError: %s" % exc
print(json.dumps(out))
"""


def _nobody_can_run(cmd: list[str], python: str) -> bool:
    # through /bin/sh: setpriv keeps root's capabilities until its own exec, so it could
    # start an interpreter that nobody may not reach; the shell's exec is nobody's own
    probe = [*cmd, "/bin/sh", "-c", 'exec "$0" -I -c "import sys; print(sys.version_info[:2])"']
    try:
        done = subprocess.run([*probe, python], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0 and done.stdout.strip() == str(tuple(sys.version_info[:2]))


@pytest.mark.skipif(sys.platform != "linux", reason="setpriv and namespaces are Linux only")
def test_sandbox_works_for_an_unprivileged_user() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to switch to uid 65534 (run the suite as root, e.g. in CI)")
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("setpriv (util-linux) is not installed")
    cmd = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "--"]
    v = "{}.{}".format(*sys.version_info[:2])
    candidates = [sys.executable, os.path.realpath(sys.executable)]
    candidates += [getattr(sys, "_base_executable", ""), shutil.which(f"python{v}") or ""]
    candidates += [f"/usr/bin/python{v}", f"/usr/local/bin/python{v}"]
    python = next((c for c in candidates if c and _nobody_can_run(cmd, c)), None)
    if python is None:
        pytest.skip(f"no Python {v} that uid 65534 may execute (tried {candidates})")
    import attr
    import attrs

    # the checkout may sit where nobody cannot read (/root, a 0700 CI clone): copy the
    # package and attrs to a folder nobody can read
    scratch = Path(tempfile.mkdtemp(prefix="dqt-nobody-", dir="/tmp"))
    listener = socket.create_server(("127.0.0.1", 0))
    try:
        scratch.chmod(0o755)
        for pkg in (dataquality_thresholds, attrs, attr):
            src = Path(pkg.__file__).parent  # type: ignore[arg-type]
            ignore = shutil.ignore_patterns("__pycache__")
            shutil.copytree(src, scratch / "lib" / src.name, ignore=ignore)
        (scratch / "check.py").write_text(_AS_NOBODY, encoding="utf-8")
        private = scratch / "private"
        private.mkdir(mode=0o700)
        (private / "python").symlink_to(python)
        for path in [scratch, *scratch.rglob("*")]:
            if not path.is_symlink():
                path.chmod(0o700 if path == private else (0o755 if path.is_dir() else 0o644))
        t0 = time.monotonic()
        done = subprocess.run(
            [*cmd, python, "-I", "-B", str(scratch / "check.py"),
             str(listener.getsockname()[1]), str(private / "python")],
            capture_output=True, text=True, timeout=60, cwd=scratch,
            env={"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"},
        )  # fmt: skip
        elapsed = time.monotonic() - t0
    finally:
        listener.close()
        shutil.rmtree(scratch, ignore_errors=True)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["uid"] == 65534
    good, bad, loop, see = out["good"], out["bad"], out["loop"], out["see"]
    assert good["ok"] and good["stdout"] == "passed\n", good
    assert bad["returncode"] == 1 and "AssertionError" in bad["stderr"], bad
    assert loop["timed_out"] and loop["signal"] == signal.SIGKILL, loop
    assert loop["isolation"] == good["isolation"]  # a timeout reports its isolation too
    assert out["blocked"].startswith("SandboxUnavailableError: cannot start the interpreter")
    assert "uid-nobody" not in good["isolation"] and "nproc" in good["isolation"]
    assert elapsed < 30
    if "userns" not in good["isolation"]:
        pytest.skip(f"unprivileged user namespaces are not allowed here: {good['isolation']}")
    assert {"netns", "pidns", "private-tmp", "readonly-fs"} <= set(good["isolation"])
    seen = json.loads(see["stdout"])
    assert seen["net"].startswith("blocked"), seen  # the host's loopback is out of reach
    assert seen["uid"] == 65534  # the user's own uid, mapped onto itself
    if "private-proc" in see["isolation"]:
        assert seen["pids"] == [1]  # the program alone, as the PID namespace's init
    else:
        assert "hidden-proc" in see["isolation"] and seen["pids"] == []
