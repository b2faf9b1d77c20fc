"""Bounded retries of the OpenAI backend's listing, upload and create calls.

:func:`call_with_retries` runs one call and, on a failure the provider answered
with 429 (not ``insufficient_quota``), waits the server's ``Retry-After`` (or an
exponential backoff with jitter when it sends none) and calls again, until
``max_wait`` seconds of waiting are spent. Reads (listings) are also retried
after a dropped connection or a 5xx, at most ``attempts`` times; a create is not
(its caller looks the object up before trying again, so nothing is made twice).

Nothing here imports ``openai``: the caller hands in the exception class and the
function that reads an exception into :class:`ErrorFacts`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

import numpy as np

from dataquality_thresholds.backends.openai._errors import ErrorFacts, translate
from dataquality_thresholds.errors import BackendError

__all__ = ["RetryBudget", "call_with_retries"]

log = logging.getLogger(__name__)

T = TypeVar("T")


class RetryBudget:
    """How long and how often a call may be retried, shared by the calls of one step.

    Parameters
    ----------
    max_wait : float
        Seconds of waiting on 429s before giving up.
    attempts : int
        Calls of a read after a dropped connection or a 5xx.
    base_delay, max_delay : float
        Backoff (seconds) when the server sends no ``Retry-After``: ``base_delay *
        2**k`` with jitter, at most ``max_delay``.
    sleep : callable
        Waits (``time.sleep``, or a fake in tests).
    rng : numpy.random.Generator
        Jitter.
    """

    def __init__(
        self,
        *,
        max_wait: float,
        attempts: int,
        base_delay: float,
        max_delay: float,
        sleep: Callable[[float], None],
        rng: np.random.Generator,
    ) -> None:
        self.max_wait = float(max_wait)
        self.attempts = max(1, int(attempts))
        self.base_delay = float(base_delay)
        self.max_delay = float(max_delay)
        self.sleep = sleep
        self.rng = rng
        self.waited = 0.0

    def backoff(self, k: int) -> float:
        """Return the ``k``-th backoff delay (from 0), with jitter."""
        delay = min(self.max_delay, self.base_delay * 2**k)
        return float(delay * (0.5 + self.rng.random()))


def call_with_retries(
    call: Callable[[], T],
    *,
    what: str,
    error: type[Exception],
    facts: Callable[[Exception], ErrorFacts],
    budget: RetryBudget,
    read: bool,
) -> T:
    """Call ``call``, retrying 429s (and, for a read, dropped connections and 5xx).

    Parameters
    ----------
    call : callable
        The SDK call (made with the SDK's own retries off).
    what : str
        What is being done ("listing files"), for messages.
    error : type
        The SDK's base exception class (``openai.OpenAIError``).
    facts : callable
        Reads such an exception into :class:`ErrorFacts`.
    budget : RetryBudget
        Limits, shared with other calls of the same step.
    read : bool
        Whether ``call`` only reads (then a failure without an answer is retried too).

    Returns
    -------
    object
        What ``call`` returned.

    Raises
    ------
    BackendError
        ``insufficient_quota``; 429s beyond ``budget.max_wait``; a read that kept
        failing; any other failure (translated at once).
    """
    rate_limited = 0
    failures = 0
    while True:
        try:
            return call()
        except error as exc:
            f = facts(exc)
            if f.kind == "rate_limit" and f.code == "insufficient_quota":
                raise BackendError(
                    f"{what}: OpenAI says the account has no quota left (insufficient_quota); "
                    "add credit or raise the limit, then run again"
                ) from exc
            if f.kind == "rate_limit":
                delay = f.retry_after if f.retry_after is not None else budget.backoff(rate_limited)
                rate_limited += 1
                if budget.waited + delay > budget.max_wait:
                    raise BackendError(
                        f"{what}: still rate-limited (429) after waiting {budget.waited:g} s; "
                        "run again later"
                    ) from exc
                log.info("%s: rate-limited (429); retrying in %.2f s", what, delay)
                budget.waited += delay
                budget.sleep(delay)
                continue
            if read and f.kind in ("connection", "server") and failures + 1 < budget.attempts:
                delay = budget.backoff(failures)
                failures += 1
                log.info("%s: %s; retrying in %.2f s", what, f.type_name, delay)
                budget.sleep(delay)
                continue
            raise translate(f, what) from exc
