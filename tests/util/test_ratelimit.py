"""The async rpm/tpm limiter, on a fake clock."""

from __future__ import annotations

import asyncio

import pytest

from dataquality_thresholds._util.ratelimit import RateLimiter
from dataquality_thresholds.errors import ConfigError


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


def _run_times(limiter: RateLimiter, clock: FakeClock, jobs: list[float]) -> list[float]:
    starts: list[float] = []

    async def one(tokens: float) -> None:
        await limiter.acquire(tokens)
        starts.append(clock.now)

    async def main() -> None:
        await asyncio.gather(*(one(t) for t in jobs))

    asyncio.run(main())
    return starts


def test_rpm_spacing_after_burst() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rpm=60, burst=3, clock=clock, sleep=clock.sleep)
    starts = _run_times(limiter, clock, [0] * 10)
    # 3 at once (burst), then one per second
    assert starts[:3] == [0.0, 0.0, 0.0]
    assert starts[3:] == pytest.approx([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0])


def test_long_run_rate_matches_rpm() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rpm=600, clock=clock, sleep=clock.sleep)
    starts = _run_times(limiter, clock, [0] * 1000)
    # 600/min = 10/s; a 6 s burst of 60, then 940 more at 10/s
    assert starts[-1] == pytest.approx(94.0)


def test_tpm_limits_tokens() -> None:
    clock = FakeClock()
    limiter = RateLimiter(tpm=6000, burst=1, clock=clock, sleep=clock.sleep)  # 100 tok/s
    starts = _run_times(limiter, clock, [100, 100, 50, 200, 100])
    # 200 > the bucket (100): it waits for a full bucket (t=2.5), leaves it at -100,
    # so the next 100 tokens are ready 2 s later
    assert starts == pytest.approx([0.0, 1.0, 1.5, 2.5, 4.5])


def test_request_larger_than_bucket_is_delayed_not_refused() -> None:
    clock = FakeClock()
    limiter = RateLimiter(tpm=60, burst=1, clock=clock, sleep=clock.sleep)  # 1 tok/s, cap 1
    starts = _run_times(limiter, clock, [10, 1])
    assert starts[0] == 0.0
    assert starts[1] == pytest.approx(10.0)


def test_pause_blocks_everyone_and_adjust_refunds() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rpm=6000, tpm=600, burst=1, clock=clock, sleep=clock.sleep)
    limiter.pause(5.0)
    starts = _run_times(limiter, clock, [0])
    assert starts == [5.0]
    # spend the tokens, then refund them: the next request needs no wait
    _run_times(limiter, clock, [10])
    limiter.adjust(-10)
    t0 = clock.now
    assert _run_times(limiter, clock, [10]) == [t0]


def test_unlimited_is_free_and_bad_args() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock=clock, sleep=clock.sleep)
    assert _run_times(limiter, clock, [1e9] * 5) == [0.0] * 5
    assert clock.sleeps == []
    with pytest.raises(ConfigError):
        RateLimiter(rpm=0)
    with pytest.raises(ConfigError):
        RateLimiter(tpm=-1)
