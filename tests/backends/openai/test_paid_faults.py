"""OpenAIBackend's money and faults: job costs, cell labels, 429 bursts on uploads and lists."""

from __future__ import annotations

import pytest

from dataquality_thresholds.backends import PriceTable
from dataquality_thresholds.backends.openai import OpenAIBackend
from dataquality_thresholds.errors import BackendError

SECRET = "sk-test-paid-faults"
JOBS = r"/fine_tuning/jobs"
FILES = r"/files"
PRICE = PriceTable.default().price("gpt-4o-mini-2024-07-18")


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


_MADE: list[OpenAIBackend] = []


@pytest.fixture(autouse=True)
def _close_clients():
    """Close each backend's HTTP client after the test (no socket left to the collector)."""
    yield
    while _MADE:
        client = _MADE.pop()._client
        if client is not None:
            client.close()


def make_backend(fake, **kw):
    opts = dict(
        base_url=fake.base_url,
        api_key=SECRET,
        base_model="gpt-4o-mini-2024-07-18",
        poll_interval=0.001,
        max_poll_interval=0.002,
        file_poll_interval=0.001,
        sleep=Sleeps(),
    )
    opts.update(kw)
    backend = OpenAIBackend(**opts)
    _MADE.append(backend)
    return backend


def test_a_job_carries_its_estimate_then_its_actual_cost(fake, mixer):
    fake.script_job(trained_tokens=12_345)
    backend = make_backend(fake, hyperparameters={"n_epochs": 7})
    mixture = mixer.mix(0.5)
    job = backend.submit(mixture, key="cost-1")
    estimate = backend.estimate_cost(mixture, n_epochs=7)
    assert job.cost == estimate and job.cost.epochs == 7 and not job.cost.actual
    done = backend.wait(job)
    assert done.cost.actual and done.cost.usd == pytest.approx(12_345 * PRICE / 1e6)
    assert done.cost.tokens * done.cost.epochs <= 12_345
    # an adopted job (a second process, no prior record) gets its cost from the provider too
    again = backend.submit(mixture, key="cost-1")
    assert again.job_id == done.job_id and again.cost.actual
    assert again.cost.usd == pytest.approx(done.cost.usd)


def test_a_job_without_a_price_has_no_cost_and_does_not_fail(fake, mixer):
    backend = make_backend(fake, base_model="my-own-model")
    job = backend.wait(backend.submit(mixer.mix(0.5), key="unpriced"))
    assert job.succeeded and job.cost is None


def test_the_label_names_the_cell_in_the_job_metadata(fake, mixer):
    backend = make_backend(fake)
    backend.submit(mixer.mix(0.5), key="dqt-abc", label="finance/subtle/f0.2500/r1")
    meta = fake.jobs[0]["metadata"]
    assert meta["dqt_key"] == "dqt-abc" and meta["dqt_cell"] == "finance/subtle/f0.2500/r1"


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", FILES), ("GET", FILES), ("GET", JOBS)],
    ids=["upload", "list-files", "list-jobs"],
)
def test_a_429_burst_waits_for_retry_after(fake, mixer, method, path):
    fault = fake.add_fault(
        method=method, path=path, status=429, code="rate_limit_exceeded", retry_after=3, times=4
    )
    backend = make_backend(fake)
    job = backend.submit(mixer.mix(0.5), key="burst")
    assert fault.hits == 4 and job.job_id
    assert backend._sleep.count(3.0) == 4
    assert len(fake.jobs) == 1 and len(fake.files) == 1


def test_a_429_without_retry_after_backs_off_within_bounds(fake, mixer):
    fake.add_fault(method="GET", path=JOBS, status=429, times=5)
    backend = make_backend(fake, poll_interval=0.5, max_poll_interval=4.0)
    backend.submit(mixer.mix(0.5), key="backoff")
    waits = backend._sleep[:5]
    assert len(waits) == 5 and all(0 < w <= 4.0 * 1.5 for w in waits)
    assert waits[3] > waits[0]  # it grows


def test_a_429_storm_on_lists_gives_up_after_the_budget(fake, mixer):
    fake.add_fault(method="GET", path=JOBS, status=429, retry_after=60, times=1000)
    backend = make_backend(fake, rate_limit_wait=200)
    with pytest.raises(BackendError, match="rate-limited"):
        backend.submit(mixer.mix(0.5), key="storm")
    assert fake.jobs == [] and fake.files == []


def test_insufficient_quota_on_upload_stops_at_once(fake, mixer):
    fake.add_fault(method="POST", path=FILES, status=429, code="insufficient_quota", times=5)
    backend = make_backend(fake)
    with pytest.raises(BackendError, match="insufficient_quota"):
        backend.submit(mixer.mix(0.5), key="quota")
    assert fake.count("POST", FILES) == 1


def test_dropped_listing_connections_are_retried(fake, mixer):
    fake.add_fault(method="GET", path=JOBS, drop="before", times=2)
    fake.add_fault(method="GET", path=FILES, status=503, times=2)
    backend = make_backend(fake)
    job = backend.submit(mixer.mix(0.5), key="drops")
    assert job.job_id and len(fake.jobs) == 1


def test_an_upload_that_ends_without_an_answer_is_looked_up_before_a_retry(fake, mixer):
    # the upload happened, the answer was lost; then lists are rate-limited a while
    fake.add_fault(method="POST", path=FILES, drop="after", times=1)
    fake.add_fault(method="GET", path=FILES, status=429, retry_after=1, times=2)
    backend = make_backend(fake)
    job = backend.submit(mixer.mix(0.5), key="lost-upload")
    assert job.job_id and len(fake.files) == 1 and fake.count("POST", FILES) == 1


def test_sampling_prices_are_dated_and_overridable():
    table = PriceTable.default()
    assert table.sampling_price("gpt-4o-mini-2024-07-18") == (0.15, 0.60)
    tuned = table.sampling_price("ft:gpt-4o-mini-2024-07-18:org::abc")
    assert tuned == (0.30, 1.20) and table.date
    mine = table.with_sampling_prices({"gpt-4o-mini-2024-07-18": (1.0, 2.0)}, fine_tuned=True)
    assert mine.sampling_price("ft:gpt-4o-mini-2024-07-18:org::abc") == (1.0, 2.0)
    assert mine.sampling_usd("ft:gpt-4o-mini-2024-07-18:o::x", 1e6, 5e5) == pytest.approx(2.0)
    assert backend_table_prices_sampling()


def backend_table_prices_sampling():
    backend = OpenAIBackend(api_key=SECRET, prices={"gpt-4o-mini-2024-07-18": 1.0})
    return backend.price_table.price("gpt-4o-mini-2024-07-18") == 1.0 and (
        backend.price_table.sampling_price("gpt-4o-mini-2024-07-18") == (0.15, 0.60)
    )
