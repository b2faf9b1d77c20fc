"""The Together backend's waiting: a job until it is done, an uploaded file until validated.

Both loops take what touches the outside world (the call that fetches the
current state, the clock, the sleep) as arguments, so tests drive them with a
fake clock and no real sleeping.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from dataquality_thresholds.backends._base import ProgressCallback
from dataquality_thresholds.backends._records import FineTuneJob
from dataquality_thresholds.errors import (
    BackendError,
    BackendUnavailableError,
    FineTuneJobError,
    JobTimeoutError,
)

__all__ = ["FILE_FAILED", "file_ready", "jitter_rng", "poll_file", "poll_job"]

#: ``processing_status`` values of a file Together refused.
FILE_FAILED = ("FAILED", "INVALID_FORMAT")


def jitter_rng(seed: int, key: str) -> np.random.Generator:
    """Return the poll-jitter stream of the job with ``key`` (its own per key)."""
    salt = int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "little")
    return np.random.default_rng([seed, salt, 0x7067])


def poll_job(
    job: FineTuneJob,
    *,
    refresh: Callable[[FineTuneJob], FineTuneJob],
    interval: float,
    max_interval: float,
    backoff: float,
    jitter: float,
    rng: np.random.Generator,
    timeout: float | None,
    max_failures: int,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
    on_progress: ProgressCallback | None = None,
) -> FineTuneJob:
    """Refresh ``job`` until it is done; return it when it succeeded or was rejected.

    The wait between polls starts at ``interval``, grows by ``backoff`` up to
    ``max_interval`` and is scattered by +-``jitter`` (relative) from ``rng``;
    up to ``max_failures`` polls in a row may fail with
    :class:`BackendUnavailableError`.

    Raises
    ------
    FineTuneJobError
        The job failed or was cancelled.
    JobTimeoutError
        ``timeout`` seconds of ``clock`` passed; the job keeps running.
    BackendUnavailableError
        More than ``max_failures`` failed polls in a row.
    """
    deadline = None if timeout is None else clock() + float(timeout)
    failures = 0
    wait = float(interval)
    while True:
        try:
            job = refresh(job)
            failures = 0
        except BackendUnavailableError:
            failures += 1
            if failures > max_failures:
                raise
        if on_progress is not None:
            on_progress(job)
        if job.done:
            break
        now = clock()
        if deadline is not None and now >= deadline:
            raise JobTimeoutError(
                f"Together job {job.job_id} still {job.status} after {timeout:g} s; it keeps "
                "running: call wait() again, or submit() with the same key",
                job=job,
            )
        pause = min(wait, max_interval) * (1.0 + jitter * (2.0 * rng.random() - 1.0))
        if deadline is not None:
            pause = max(0.0, min(pause, deadline - now))
        sleep(pause)
        wait *= backoff
    if job.status in ("failed", "cancelled"):
        detail = f": {job.error_code}: {job.error_message}" if job.error_code else ""
        raise FineTuneJobError(
            f"Together fine-tune {job.job_id} {job.status}{detail}",
            job_id=job.job_id,
            code=job.error_code or job.status,
        )
    return job


def file_ready(file: Mapping[str, Any]) -> bool | None:
    """Return True once Together validated a file, False if it refused it, else None.

    Files that report no ``processing_status`` (validation skipped, or an older
    API) count as ready unless they say ``Processed: false``.
    """
    status = file.get("processing_status")
    if status is None:
        return file.get("Processed", True) is not False or None
    status = str(status).upper()
    if status in FILE_FAILED:
        return False
    return True if status == "COMPLETED" else None


def poll_file(
    file: dict[str, Any],
    *,
    retrieve: Callable[[str], dict[str, Any]],
    interval: float,
    timeout: float,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
) -> dict[str, Any]:
    """Poll an uploaded file until Together has validated (or refused) it.

    Raises
    ------
    BackendError
        ``timeout`` seconds passed first.
    """
    deadline = clock() + timeout
    while file_ready(file) is None:
        if clock() >= deadline:
            raise BackendError(
                f"Together had not validated file {file.get('id')} after {timeout:g} s; "
                "submit again with the same key to resume"
            )
        sleep(interval)
        file = retrieve(str(file["id"]))
    return file
