"""Helpers shared by the Tinker tests (a unique module name: imported by basename)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
from pathlib import Path

from dataquality_thresholds.backends._workers import lock_held

#: A key shaped like Tinker's; never to be found in any file a backend writes.
SECRET = "tml-SECRET-never-on-disk-1234567890"


def stop_workers(root: Path) -> None:
    """Kill (SIGKILL) the workers still training under ``root``: only processes we started."""
    for state_file in root.glob("**/jobs/*/state.json"):
        with contextlib.suppress(Exception):
            pid = int(json.loads(state_file.read_text()).get("pid") or 0)
            if pid and lock_held(state_file.parent / "worker.lock"):
                os.kill(pid, signal.SIGKILL)
