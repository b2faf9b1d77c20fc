"""The command line of :class:`~dataquality_thresholds.backends.hf.HFBackend`'s worker.

Each job trains in a subprocess (:mod:`._worker`); starting, checking and stopping
worker processes is shared with other backends (``backends/_workers.py``).
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["WORKER_MODULE", "worker_command"]

#: The module a worker runs (``python -m``), given the job folder.
WORKER_MODULE = "dataquality_thresholds.backends.hf._worker"


def worker_command(python: str, accelerate_config: str | None, jdir: Path) -> list[str]:
    """Return the command line that trains the job in ``jdir``.

    Parameters
    ----------
    python : str
        The interpreter.
    accelerate_config : str, optional
        Run under ``accelerate launch --config_file`` with this file.
    jdir : Path
        The job folder.
    """
    if accelerate_config:
        return [
            python, "-m", "accelerate.commands.launch",
            "--config_file", accelerate_config, "-m", WORKER_MODULE, str(jdir),
        ]  # fmt: skip
    return [python, "-m", WORKER_MODULE, str(jdir)]
