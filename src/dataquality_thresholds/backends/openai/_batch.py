"""Batch mode of :class:`~dataquality_thresholds.backends.openai.ChatSampler`.

The sampler sends the same requests it would send one by one through the
Batch API instead (half price). This module holds the batch-specific steps,
which the sampler runs in order for each chunk of at most
:data:`BATCH_MAX_REQUESTS` requests:

1. :func:`batch_input`: the JSONL input file, one line per request, each
   under a ``custom_id`` derived from its cache keys, and the file's digest
   (a batch for the same input is adopted rather than paid for twice);
2. :func:`wait_for_batch`: poll until the batch reaches a terminal status;
3. :func:`collect_results`: join the output and error files back to the
   requests by ``custom_id``;
4. :func:`raise_for_failures`: a :class:`~.sampling.BatchError` naming every
   request that failed or got no answer.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from dataquality_thresholds.backends.openai._requests import (
    SampleRequest,
    parse_completions,
    request_body,
)
from dataquality_thresholds.backends.openai._wire import BatchError, Transport
from dataquality_thresholds.errors import BackendError
from dataquality_thresholds.records import Completion

__all__ = [
    "BATCH_MAX_REQUESTS",
    "BATCH_TERMINAL",
    "answered",
    "batch_input",
    "collect_results",
    "join_output",
    "raise_for_failures",
    "wait_for_batch",
]

#: Requests per batch (the Batch API's limit); more are sent as several batches.
BATCH_MAX_REQUESTS = 50_000
#: Batch statuses after which nothing changes.
BATCH_TERMINAL = ("completed", "failed", "expired", "cancelled")


def batch_input(
    model: str, chunk: Sequence[SampleRequest]
) -> tuple[dict[str, SampleRequest], bytes, str]:
    """Return the batch input file of ``chunk``.

    Parameters
    ----------
    model : str
        The model to sample.
    chunk : sequence of SampleRequest
        The requests, at most :data:`BATCH_MAX_REQUESTS`.

    Returns
    -------
    by_id : dict of str to SampleRequest
        Each request under its ``custom_id`` (``dqt-`` and a hash of its cache keys).
    content : bytes
        The JSONL file (UTF-8, sorted keys).
    digest : str
        A short hash of ``content`` that tags the batch.
    """
    by_id: dict[str, SampleRequest] = {}
    lines = []
    for r in chunk:
        custom_id = "dqt-" + hashlib.sha256("".join(r.keys).encode()).hexdigest()[:40]
        by_id[custom_id] = r
        lines.append(
            json.dumps(
                {
                    "custom_id": custom_id,
                    "method": "POST",
                    "url": "/v1/chat/completions",
                    "body": request_body(model, r),
                },
                sort_keys=True,
                ensure_ascii=False,
            )
        )
    content = ("\n".join(lines) + "\n").encode("utf-8")
    digest = hashlib.sha256(content).hexdigest()[:32]
    return by_id, content, digest


async def wait_for_batch(
    transport: Transport,
    batch: dict[str, Any],
    *,
    started: float,
    timeout: float | None,
    poll_interval: float,
    sleep: Callable[[float], Awaitable[None]],
    bar: Any,
) -> dict[str, Any]:
    """Poll ``batch`` until its status is terminal; return the last batch object.

    Parameters
    ----------
    transport : Transport
        Retrieves the batch.
    batch : dict
        The batch as created or found.
    started : float
        ``time.monotonic()`` when the wait began.
    timeout : float, optional
        Seconds to wait at most.
    poll_interval : float
        Seconds between polls.
    sleep : callable
        Awaited between polls.
    bar : tqdm or None
        Progress bar, set to the completed and failed request count.

    Returns
    -------
    dict
        The batch object in a terminal status.

    Raises
    ------
    BackendError
        ``timeout`` passed first (the batch keeps running remotely).
    """
    batch_id = str(batch["id"])
    while batch.get("status") not in BATCH_TERMINAL:
        if timeout is not None and time.monotonic() - started > timeout:
            raise BackendError(
                f"batch {batch_id} still {batch.get('status')!r} after "
                f"{timeout} s; it keeps running remotely"
            )
        await sleep(poll_interval)
        batch = await transport.retrieve_batch(batch_id)
        if bar is not None:
            counts = batch.get("request_counts") or {}
            bar.n = int(counts.get("completed", 0)) + int(counts.get("failed", 0))
            bar.refresh()
    return batch


async def collect_results(
    transport: Transport,
    batch: Mapping[str, Any],
    by_id: Mapping[str, SampleRequest],
    model: str,
) -> tuple[dict[str, Completion], dict[str, str]]:
    """Read a finished batch's output and error files.

    Returns
    -------
    results : dict of str to Completion
        Cache key -> completion, for every sample that came back.
    errors : dict of str to str
        ``custom_id`` -> error message, for every request that failed.
    """
    results: dict[str, Completion] = {}
    errors: dict[str, str] = {}
    if batch.get("output_file_id"):
        raw = await transport.file_content(str(batch["output_file_id"]))
        join_output(raw, by_id, model, results, errors)
    if batch.get("error_file_id"):
        raw = await transport.file_content(str(batch["error_file_id"]))
        join_output(raw, by_id, model, results, errors)
    return results, errors


def answered(r: SampleRequest, results: Mapping[str, Completion]) -> bool:
    """Whether every sample ``r`` asked for is in ``results``."""
    return all(r.keys[i] in results for i in r.missing)


def join_output(
    raw: bytes,
    by_id: Mapping[str, SampleRequest],
    model: str,
    results: dict[str, Completion],
    errors: dict[str, str],
) -> None:
    """Add the lines of a batch output or error file to ``results`` and ``errors``.

    Lines for unknown ``custom_id`` values are skipped; a sample already in
    ``results`` is kept.
    """
    for line in raw.decode("utf-8").splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        cid = row.get("custom_id")
        if cid not in by_id:
            continue
        r = by_id[cid]
        response = row.get("response") or {}
        status = response.get("status_code")
        if row.get("error") or status != 200:
            err = row.get("error") or (response.get("body") or {}).get("error") or {}
            errors[cid] = f"HTTP {status}: {err.get('message', err)}"
            continue
        for idx, c in parse_completions(response["body"], model, r.missing):
            results.setdefault(r.keys[idx], c)


def raise_for_failures(
    batch_id: str,
    batch: Mapping[str, Any],
    by_id: Mapping[str, SampleRequest],
    results: Mapping[str, Completion],
    errors: dict[str, str],
) -> None:
    """Raise when a request of batch ``batch_id`` failed or got no answer.

    Requests without a result or an error are added to ``errors`` as
    unanswered first.

    Raises
    ------
    BatchError
        Some requests failed; the message names the first three.
    """
    unanswered = [cid for cid in by_id if cid not in errors and not answered(by_id[cid], results)]
    for cid in unanswered:
        errors[cid] = f"no result (batch status {batch.get('status')!r})"
    if errors:
        first = "; ".join(f"{k}: {v}" for k, v in list(errors.items())[:3])
        raise BatchError(
            f"batch {batch_id} ({batch.get('status')}): {len(errors)} of {len(by_id)} "
            f"requests failed; successful ones are cached. First: {first}",
            batch_id=batch_id,
            errors=errors,
        )
