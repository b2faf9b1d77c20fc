"""Running programs against their unit tests in one sandboxed subprocess.

Private: :func:`run_tests` is imported from :mod:`dataquality_thresholds.corruption`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from dataquality_thresholds.errors import ConfigError
from dataquality_thresholds.sandbox import SandboxLimits, run_python

__all__ = ["run_tests"]


# =========================================================================== running tests
_RUNNER = r"""
import json, signal, sys, io, contextlib

class _Timeout(BaseException):
    pass

def _alarm(signum, frame):
    raise _Timeout()

signal.signal(signal.SIGALRM, _alarm)
signal.signal(signal.SIGPROF, _alarm)
with open("programs.json", encoding="utf-8") as fh:
    _cfg = json.load(fh)
_out = sys.stdout
for _i, _src in enumerate(_cfg["programs"]):
    _status = "pass"
    _sink = io.StringIO()
    # CPU time (robust to a loaded machine) plus a looser wall-clock guard for blocking
    signal.setitimer(signal.ITIMER_PROF, _cfg["timeout"])
    signal.setitimer(signal.ITIMER_REAL, 10 * _cfg["timeout"] + 1.0)
    try:
        with contextlib.redirect_stdout(_sink), contextlib.redirect_stderr(_sink):
            exec(compile(_src, "<program-%d>" % _i, "exec"), {"__name__": "__main__"})
    except _Timeout:
        _status = "timeout"
    except BaseException as _exc:
        _status = "fail:" + type(_exc).__name__
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.setitimer(signal.ITIMER_REAL, 0)
    _out.write(json.dumps([_i, _status]) + "\n")
    _out.flush()
"""


def run_tests(programs: Sequence[str], *, timeout: float = 2.0, memory_mb: int = 512) -> list[str]:
    """Run each program (code followed by its tests) and say how it ended.

    All programs run one after another in one sandboxed subprocess
    (:func:`~dataquality_thresholds.sandbox.run_python`), each in a fresh
    namespace with its own ``timeout`` of CPU time (so a loaded machine does not
    turn a slow pass into a timeout) and ``10 * timeout + 1`` seconds of wall time
    (for code that blocks). A program that hangs in a way the
    timer cannot interrupt gets the whole subprocess killed; it is reported as
    ``"timeout"`` and the rest run in a new subprocess.

    Parameters
    ----------
    programs : sequence of str
        Python sources; a program passes when it runs to the end without raising.
    timeout : float
        CPU seconds per program (wall-clock guard: ``10 * timeout + 1``).
    memory_mb : int
        Address-space limit of the subprocess.

    Returns
    -------
    list of str
        ``"pass"``, ``"timeout"`` or ``"fail:<ExceptionName>"``, in order.

    Raises
    ------
    ConfigError
        ``timeout`` is not positive.
    SandboxUnavailableError
        The sandbox could not run the programs at all (nothing was tested).
    """
    if timeout <= 0:
        raise ConfigError("timeout must be > 0", field="timeout")
    results: list[str | None] = [None] * len(programs)
    start = 0
    while start < len(programs):
        todo = list(programs[start:])
        limits = SandboxLimits(
            wall_time=(10 * timeout + 1.0) * len(todo) + 5.0,
            memory_mb=memory_mb,
            max_output_bytes=64 * (len(todo) + 16),
        )
        cfg = json.dumps({"programs": todo, "timeout": float(timeout)})
        res = run_python(_RUNNER, limits=limits, files={"programs.json": cfg})
        done = 0
        for line in res.stdout.splitlines():
            try:
                i, status = json.loads(line)
            except (ValueError, TypeError):
                continue
            results[start + i] = status
            done = max(done, i + 1)
        if done < len(todo):  # the subprocess died on program start + done
            results[start + done] = "timeout" if res.timed_out or res.signal else "fail:crash"
            done += 1
        start += done
    return [r if r is not None else "fail:crash" for r in results]
