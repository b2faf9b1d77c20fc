"""An async limiter of requests per minute and tokens per minute (two token buckets).

Each bucket holds up to ``burst`` seconds' worth of its per-minute allowance
and refills continuously. :meth:`RateLimiter.acquire` waits, in arrival order,
until one request and the estimated tokens are available. A request larger
than the bucket waits until the bucket is full and then drives it negative,
so it is delayed, never refused. :meth:`RateLimiter.pause` blocks everyone,
e.g. for a server's ``Retry-After``. The clock and the sleep function are
injectable, so tests run on a fake clock.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from dataquality_thresholds.errors import ConfigError

__all__ = ["RateLimiter"]


class _Bucket:
    def __init__(self, per_minute: float, burst_s: float, now: float) -> None:
        self.rate = per_minute / 60.0
        self.capacity = max(1.0, self.rate * burst_s)
        self.level = self.capacity
        self.stamp = now

    def refill(self, now: float) -> None:
        if now > self.stamp:
            self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
            self.stamp = now

    def wait_for(self, amount: float) -> float:
        need = min(amount, self.capacity)
        # a small tolerance, so float rounding never leaves a wait too short to
        # move the clock
        if self.level >= need - 1e-9 * max(1.0, need):
            return 0.0
        return (need - self.level) / self.rate


class RateLimiter:
    """Limit requests per minute and tokens per minute for async callers.

    Parameters
    ----------
    rpm : float, optional
        Requests per minute; None for no limit.
    tpm : float, optional
        Tokens per minute; None for no limit.
    burst : float
        Seconds' worth of allowance a bucket holds (how bursty the start may be).
    clock : callable, optional
        Monotonic seconds (default :func:`time.monotonic`).
    sleep : callable, optional
        ``async sleep(seconds)`` (default :func:`asyncio.sleep`).
    """

    def __init__(
        self,
        rpm: float | None = None,
        tpm: float | None = None,
        *,
        burst: float = 6.0,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
    ) -> None:
        for name, value in (("rpm", rpm), ("tpm", tpm), ("burst", burst)):
            if value is not None and not value > 0:
                raise ConfigError(f"{name} must be > 0, got {value!r}", field=name)
        self._clock = clock or time.monotonic
        self._sleep = sleep or asyncio.sleep
        now = self._clock()
        self.rpm = rpm
        self.tpm = tpm
        self._requests = None if rpm is None else _Bucket(rpm, burst, now)
        self._tokens = None if tpm is None else _Bucket(tpm, burst, now)
        self._blocked_until = now
        self._lock: asyncio.Lock | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def __repr__(self) -> str:
        return f"RateLimiter(rpm={self.rpm!r}, tpm={self.tpm!r})"

    def _get_lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        if self._lock is None or self._loop is not loop:
            self._lock = asyncio.Lock()
            self._loop = loop
        return self._lock

    def _wait(self, tokens: float) -> float:
        now = self._clock()
        wait = max(0.0, self._blocked_until - now)
        if self._requests is not None:
            self._requests.refill(now)
            wait = max(wait, self._requests.wait_for(1.0))
        if self._tokens is not None and tokens > 0:
            self._tokens.refill(now)
            wait = max(wait, self._tokens.wait_for(tokens))
        return wait

    async def acquire(self, tokens: float = 0.0) -> None:
        """Wait until one request carrying ``tokens`` (an estimate) may start."""
        if self._requests is None and self._tokens is None and self._blocked_until <= self._clock():
            return
        async with self._get_lock():
            while True:
                wait = self._wait(tokens)
                if wait <= 0.0:
                    break
                await self._sleep(wait)
            if self._requests is not None:
                self._requests.level -= 1.0
            if self._tokens is not None:
                self._tokens.level -= tokens

    def adjust(self, tokens: float) -> None:
        """Charge ``tokens`` more (or refund, when negative) once the real usage is known."""
        if self._tokens is not None:
            self._tokens.refill(self._clock())
            self._tokens.level = min(self._tokens.capacity, self._tokens.level - tokens)

    def pause(self, seconds: float) -> None:
        """Let no request start for ``seconds`` from now (e.g. a ``Retry-After``)."""
        self._blocked_until = max(self._blocked_until, self._clock() + max(0.0, seconds))
