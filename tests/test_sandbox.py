"""The subprocess sandbox contains loops, fork bombs, memory hogs, floods and escapes."""

from __future__ import annotations

import os
import signal
import sys
import time
import uuid
from pathlib import Path

import pytest

from dataquality_thresholds.errors import ConfigError
from dataquality_thresholds.sandbox import SandboxLimits, run_python

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
    if "uid-nobody" not in r.isolation:
        pytest.skip("not root: the sandbox cannot switch to an unprivileged user here")
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
