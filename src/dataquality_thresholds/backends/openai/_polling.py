"""The waiting loops of the OpenAI backend: a job until it is done, a file until processed.

The loops get everything that touches the outside world as callables (the
call that fetches the current state, the clock, the sleep), so they import
nothing from ``openai``: :class:`~dataquality_thresholds.backends.openai.OpenAIBackend`
hands in its own client calls, tests a fake clock and sleep.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
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

__all__ = ["poll_rng", "wait_for_file", "wait_for_job"]


def poll_rng(seed: int, key: str) -> np.random.Generator:
    """Return the poll-jitter generator of the job with ``key``, for a backend seeded ``seed``.

    Each key gets its own stream, so jobs polled side by side do not poll in step.
    """
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return np.random.default_rng([seed, int.from_bytes(digest[:8], "little")])


def wait_for_job(
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
    """Poll ``refresh`` until the job is done, with backoff and jitter.

    Parameters
    ----------
    job : FineTuneJob
        The job as last seen.
    refresh : callable
        Returns the job's current state.
    interval : float
        First wait between polls (seconds); it grows by ``backoff`` up to
        ``max_interval``, with +-``jitter`` relative noise drawn from ``rng``.
    max_interval, backoff, jitter : float
        See ``interval``.
    rng : numpy.random.Generator
        Source of the jitter (see :func:`poll_rng`).
    timeout : float, optional
        Give up after this many seconds of ``clock``.
    max_failures : int
        Polls in a row that may raise :class:`BackendUnavailableError` before
        the error is passed on.
    clock, sleep : callable
        The monotonic clock and the sleep.
    on_progress : callable, optional
        Called with the job after every successful or failed poll.

    Returns
    -------
    FineTuneJob
        The succeeded or rejected job.

    Raises
    ------
    FineTuneJobError
        The job failed (``code`` is the provider's) or was cancelled.
    JobTimeoutError
        ``timeout`` passed; the job keeps running.
    BackendUnavailableError
        More than ``max_failures`` polls in a row could not reach the provider.
    """
    deadline = None if timeout is None else clock() + float(timeout)
    current = job
    failures = 0
    while True:
        try:
            current = refresh(current)
            failures = 0
        except BackendUnavailableError:
            failures += 1
            if failures > max_failures:
                raise
        if on_progress is not None:
            on_progress(current)
        if current.done:
            break
        now = clock()
        if deadline is not None and now >= deadline:
            raise JobTimeoutError(
                f"job {current.job_id} still {current.status} after {timeout:g} s; it keeps "
                "running remotely: call wait() again or submit() with the same key",
                job=current,
            )
        delay = min(interval, max_interval)
        delay *= 1.0 + jitter * (2.0 * rng.random() - 1.0)
        if deadline is not None:
            delay = max(0.0, min(delay, deadline - now))
        sleep(delay)
        interval *= backoff
    if current.status in ("failed", "cancelled"):
        raise FineTuneJobError(
            f"fine-tuning job {current.job_id} {current.status}"
            + (f": {current.error_code}: {current.error_message}" if current.error_code else ""),
            job_id=current.job_id,
            code=current.error_code or current.status,
        )
    return current


def wait_for_file(
    file: Any,
    *,
    retrieve: Callable[[str], Any],
    poll_interval: float,
    timeout: float,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
) -> Any:
    """Poll an uploaded file until it is ``processed`` or in ``error``.

    Parameters
    ----------
    file : object
        The SDK's file object as last seen (``id``, ``status``).
    retrieve : callable
        Returns the file with the given id as it is now.
    poll_interval, timeout : float
        Seconds between polls, and in all.
    clock, sleep : callable
        The monotonic clock and the sleep.

    Returns
    -------
    object
        The processed (or failed) file.

    Raises
    ------
    BackendError
        ``timeout`` passed first.
    """
    deadline = clock() + timeout
    while file.status not in ("processed", "error"):
        if clock() >= deadline:
            raise BackendError(
                f"file {file.id} was not processed within {timeout:g} s; "
                "submit again with the same key to resume"
            )
        sleep(poll_interval)
        file = retrieve(file.id)
    return file
