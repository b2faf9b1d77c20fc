"""The engine behind :class:`~dataquality_thresholds.backends.OpenAISampler`.

It speaks to an OpenAI-compatible endpoint through a small :class:`Transport`
(provided by :mod:`.openai`, the only module that imports ``openai``), and
adds what a study needs on top:

* **async inside**: one event loop runs every request, at most
  ``max_concurrency`` at a time; :meth:`ChatSampler.complete` works from a
  script and from a notebook cell whose loop is already running (the work then
  runs on a worker thread's own loop);
* **rate limits**: requests and tokens per minute (:class:`RateLimiter`);
  a 429's ``Retry-After`` pauses every request, not only the one that got it;
* **retries done once**: the SDK's own retries are off, ours retry 429 /
  5xx / connection errors / timeouts with backoff (or ``Retry-After``);
* **cache**: each answered request's samples are committed to a
  :class:`CompletionCache` (one transaction) before anything else runs, so a
  process killed at any instant loses no answer it received; a rerun of the
  same work makes no request;
* **batch mode**: the same requests through the Batch API (half price),
  joined back by ``custom_id``; failed requests are reported from the
  batch's error file.

:class:`ChatSampler` lives here; its parts live in private modules:
:class:`Transport` and the errors in :mod:`._wire`, one
request's body, size and reply in :mod:`._requests`, the batch steps
in :mod:`._batch`. Every public name is importable from here.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from dataquality_thresholds._util.ratelimit import RateLimiter
from dataquality_thresholds.backends._base import Prompt, normalize_prompt
from dataquality_thresholds.backends._cache import CompletionCache, cache_key
from dataquality_thresholds.backends.openai._batch import (
    BATCH_MAX_REQUESTS,
    BATCH_TERMINAL,
    batch_input,
    collect_results,
    raise_for_failures,
    wait_for_batch,
)
from dataquality_thresholds.backends.openai._requests import (
    SampleRequest,
    estimate_tokens,
    parse_completions,
    request_body,
)
from dataquality_thresholds.backends.openai._wire import BatchError, RetryableError, Transport
from dataquality_thresholds.errors import BackendError, ConfigError
from dataquality_thresholds.records import Completion, Message

__all__ = ["BatchError", "ChatSampler", "RetryableError", "Transport"]


# Helpers that lived here before the module was split keep their old names here.
_BATCH_MAX_REQUESTS, _BATCH_TERMINAL = BATCH_MAX_REQUESTS, BATCH_TERMINAL
_Request, _estimate_tokens, _completions = SampleRequest, estimate_tokens, parse_completions


def _shutdown_loop(
    loop: asyncio.AbstractEventLoop, thread: threading.Thread, transports: dict[int, Transport]
) -> None:
    """Close the transports living on ``loop``, stop it and join its thread."""
    if loop.is_closed():
        return
    mine = transports.pop(id(loop), None)

    async def close() -> None:
        if mine is not None:
            await mine.aclose()

    if loop.is_running() and thread is not threading.current_thread():
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(close(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
    if not loop.is_running():
        loop.close()


class ChatSampler:
    """Concurrent, rate-limited, cached chat sampling over a :class:`Transport`.

    Use :class:`~dataquality_thresholds.backends.OpenAISampler`, which builds
    the transport; the parameters are documented there.
    """

    def __init__(
        self,
        *,
        transport_factory: Callable[[], Transport],
        base_url: str | None,
        max_concurrency: int = 16,
        rpm: float | None = None,
        tpm: float | None = None,
        cache: CompletionCache | str | Path | None = None,
        progress: bool = False,
        max_retries: int = 6,
        backoff: float = 1.0,
        max_backoff: float = 60.0,
        batch: bool = False,
        batch_poll_interval: float = 30.0,
        batch_timeout: float | None = None,
        completion_window: str = "24h",
        seed: int = 0,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        if max_concurrency < 1:
            raise ConfigError("max_concurrency must be >= 1", field="max_concurrency")
        if max_retries < 0:
            raise ConfigError("max_retries must be >= 0", field="max_retries")
        self._transport_factory = transport_factory
        self.base_url = base_url
        self.max_concurrency = int(max_concurrency)
        self.rpm = rpm
        self.tpm = tpm
        self._sleep = sleep or asyncio.sleep
        self._limiter = RateLimiter(rpm, tpm, clock=clock, sleep=self._sleep)
        self.cache = CompletionCache(cache) if isinstance(cache, (str, Path)) else cache
        self.progress = progress
        self.max_retries = int(max_retries)
        self.backoff = float(backoff)
        self.max_backoff = float(max_backoff)
        self.batch = batch
        self.batch_poll_interval = float(batch_poll_interval)
        self.batch_timeout = batch_timeout
        self.completion_window = completion_window
        self._rng = random.Random(seed)
        #: HTTP chat requests sent (retries included); batch requests are counted too.
        self.requests_sent = 0
        #: Samples answered from the cache.
        self.cache_hits = 0
        self._state_lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._transports: dict[int, Transport] = {}
        self._sem: asyncio.Semaphore | None = None
        self._finalizer: weakref.finalize[Any, Any] | None = None

    # ------------------------------------------------------------------ public
    def complete(
        self,
        model: str,
        prompts: Sequence[Prompt],
        *,
        n: int = 1,
        temperature: float = 1.0,
        max_tokens: int | None = None,
        seed: int | None = None,
        top_logprobs: int | None = None,
        batch: bool | None = None,
    ) -> list[list[Completion]]:
        """Return ``n`` completions per prompt, in prompt order.

        Parameters
        ----------
        model : str
            The model to sample.
        prompts : sequence of Prompt
            Strings, conversations or EvalItems.
        n : int
            Samples per prompt (one request asks for all missing samples).
        temperature : float
            Sampling temperature.
        max_tokens : int, optional
            Cap on each answer (sent as ``max_completion_tokens``).
        seed : int, optional
            Passed through to the API.
        top_logprobs : int, optional
            Ask for ``logprobs`` with this many alternatives per token; they
            arrive in :attr:`Completion.top_logprobs`.
        batch : bool, optional
            Use the Batch API for this call (default: the sampler's setting).

        Returns
        -------
        list of list of Completion
            ``result[i][j]`` is sample ``j`` of prompt ``i``.

        Raises
        ------
        BackendError
            A request failed after retries, or the batch had failed requests
            (:class:`BatchError`); everything that succeeded is cached first.
        """
        coro = self._acomplete(
            model,
            prompts,
            n=n,
            temperature=temperature,
            max_tokens=max_tokens,
            seed=seed,
            top_logprobs=top_logprobs,
            batch=batch,
        )
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        loop = self._loop_thread()
        if running is loop:
            coro.close()
            raise ConfigError(
                "complete() was called from inside the sampler's own event loop; "
                "await acomplete() there instead",
                field="complete",
            )
        # Scripts and notebook cells alike: the work runs on the sampler's own
        # loop in a daemon thread, where its HTTP clients live between calls.
        return asyncio.run_coroutine_threadsafe(coro, loop).result()

    def _loop_thread(self) -> asyncio.AbstractEventLoop:
        with self._state_lock:
            if self._loop is None or self._loop.is_closed():
                loop = asyncio.new_event_loop()
                thread = threading.Thread(
                    target=loop.run_forever, name="dqt-sampler-loop", daemon=True
                )
                thread.start()
                self._loop = loop
                self._sem = None
                self._finalizer = weakref.finalize(
                    self, _shutdown_loop, loop, thread, self._transports
                )
            return self._loop

    def close(self) -> None:
        """Close the HTTP clients and stop the sampler's event loop thread.

        The sampler stays usable: a later call starts them again.
        """
        with self._state_lock:
            finalizer, self._finalizer = self._finalizer, None
            self._loop = None
            self._sem = None
        if finalizer is not None:
            finalizer()

    def __enter__(self) -> ChatSampler:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _semaphore(self) -> asyncio.Semaphore:
        """One semaphore per event loop: concurrent calls share ``max_concurrency``."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            return asyncio.Semaphore(self.max_concurrency)
        if self._sem is None:
            self._sem = asyncio.Semaphore(self.max_concurrency)
        return self._sem

    async def _transport_for_loop(self) -> tuple[Transport, bool]:
        """Return the transport for the running loop, and whether the caller closes it."""
        loop = asyncio.get_running_loop()
        if loop is self._loop:
            t = self._transports.get(id(loop))
            if t is None:
                t = self._transports[id(loop)] = self._transport_factory()
            return t, False
        # a caller's own loop: a transport for this call only
        return self._transport_factory(), True

    async def acomplete(
        self,
        model: str,
        prompts: Sequence[Prompt],
        *,
        n: int = 1,
        temperature: float = 1.0,
        max_tokens: int | None = None,
        seed: int | None = None,
        top_logprobs: int | None = None,
        batch: bool | None = None,
    ) -> list[list[Completion]]:
        """Async twin of :meth:`complete`.

        The requests run on the sampler's own event loop (where its HTTP
        clients persist); the caller's loop only awaits the result, so many
        small ``acomplete`` calls cost no client setup each.
        """
        coro = self._acomplete(
            model,
            prompts,
            n=n,
            temperature=temperature,
            max_tokens=max_tokens,
            seed=seed,
            top_logprobs=top_logprobs,
            batch=batch,
        )
        loop = self._loop_thread()
        if asyncio.get_running_loop() is loop:
            return await coro
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, loop))

    async def _acomplete(
        self,
        model: str,
        prompts: Sequence[Prompt],
        *,
        n: int,
        temperature: float,
        max_tokens: int | None,
        seed: int | None,
        top_logprobs: int | None,
        batch: bool | None,
    ) -> list[list[Completion]]:
        if n < 1:
            raise ConfigError(f"n must be >= 1, got {n}", field="n")
        if top_logprobs is not None and not 0 <= top_logprobs <= 20:
            raise ConfigError("top_logprobs must be in 0..20", field="top_logprobs")
        params: dict[str, Any] = {
            "temperature": float(temperature),
            "max_tokens": max_tokens,
            "seed": seed,
            "top_logprobs": top_logprobs,
        }
        conversations = [normalize_prompt(p) for p in prompts]
        requests, slots = self._plan(model, conversations, params, n)
        results: dict[str, Completion] = dict(slots)
        todo = [r for r in requests if r.missing]
        if todo:
            use_batch = self.batch if batch is None else batch
            if use_batch:
                fetched = await self._run_batch(model, todo)
            else:
                fetched = await self._run_online(model, todo)
            for k, c in fetched.items():
                results.setdefault(k, c)  # a cached answer is never replaced
        out = []
        for conv in conversations:
            keys = self._keys(model, conv, params, n)
            out.append([results[k] for k in keys])
        return out

    # ------------------------------------------------------------------ planning
    def _keys(
        self, model: str, messages: Sequence[Message], params: Mapping[str, Any], n: int
    ) -> tuple[str, ...]:
        return tuple(
            cache_key(
                base_url=self.base_url, model=model, messages=messages, params=params, index=i
            )
            for i in range(n)
        )

    def _plan(
        self,
        model: str,
        conversations: Sequence[tuple[Message, ...]],
        params: Mapping[str, Any],
        n: int,
    ) -> tuple[list[SampleRequest], dict[str, Completion]]:
        unique: dict[str, SampleRequest] = {}
        for conv in conversations:
            keys = self._keys(model, conv, params, n)
            if keys[0] not in unique:
                unique[keys[0]] = SampleRequest(conv, params, keys, tuple(range(n)))
        found: dict[str, Completion] = {}
        if self.cache is not None:
            all_keys = [k for r in unique.values() for k in r.keys]
            found = self.cache.get_many(all_keys)
            self.cache_hits += len(found)
        planned = []
        for r in unique.values():
            missing = tuple(i for i, k in enumerate(r.keys) if k not in found)
            if missing and len(missing) < n and r.params.get("seed") is not None:
                # a seeded request for fewer samples would repeat the cached ones:
                # ask for all n, keep only the missing
                missing = tuple(range(n))
            planned.append(attrs.evolve(r, missing=missing))
        return planned, found

    # ------------------------------------------------------------------ online
    async def _run_online(self, model: str, todo: Sequence[SampleRequest]) -> dict[str, Completion]:
        sem = self._semaphore()
        results: dict[str, Completion] = {}
        bar = self._bar(len(todo))
        transport, owned = await self._transport_for_loop()

        async def one(r: SampleRequest) -> None:
            async with sem:
                body = request_body(model, r)
                estimate = estimate_tokens(r.messages, r.params.get("max_tokens"), len(r.missing))
                resp = await self._send(transport, body, estimate)
            answered = []
            for idx, c in parse_completions(resp, model, r.missing):
                key = r.keys[idx]
                if key not in results:
                    results[key] = c
                    answered.append((key, c))
            if self.cache is not None and answered:
                # committed here, on the loop, before any other answer is handled: a
                # kill -9 loses no answered request (a short transaction, WAL)
                self.cache.put_many(answered)
            if bar is not None:
                bar.update(1)

        try:
            tasks = [asyncio.ensure_future(one(r)) for r in todo]
            try:
                await asyncio.gather(*tasks)
            except BaseException:
                for t in tasks:
                    t.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                raise
        finally:
            # whatever arrived is already committed, even when a request failed
            if owned:
                await transport.aclose()
            if bar is not None:
                bar.close()
        return results

    async def _send(
        self, transport: Transport, body: Mapping[str, Any], estimate: int
    ) -> dict[str, Any]:
        attempt = 0
        while True:
            await self._limiter.acquire(estimate)
            self.requests_sent += 1
            try:
                resp = await transport.chat(body)
            except RetryableError as exc:
                self._limiter.adjust(-estimate)
                if attempt >= self.max_retries:
                    raise BackendError(f"giving up after {attempt + 1} attempts: {exc}") from exc
                if exc.retry_after is not None:
                    wait = exc.retry_after
                    self._limiter.pause(wait)
                else:
                    wait = min(self.max_backoff, self.backoff * 2**attempt)
                    wait *= 0.5 + self._rng.random()
                attempt += 1
                await self._sleep(wait)
                continue
            total = (resp.get("usage") or {}).get("total_tokens")
            if isinstance(total, int):
                self._limiter.adjust(total - estimate)
            return resp

    def _bar(self, total: int) -> Any:
        if not self.progress:
            return None
        from tqdm import tqdm  # type: ignore[import-untyped,unused-ignore]

        return tqdm(total=total, unit="req", desc="sampling")

    # ------------------------------------------------------------------ batch
    async def _run_batch(self, model: str, todo: Sequence[SampleRequest]) -> dict[str, Completion]:
        results: dict[str, Completion] = {}
        transport, owned = await self._transport_for_loop()
        try:
            for start in range(0, len(todo), _BATCH_MAX_REQUESTS):
                chunk = todo[start : start + _BATCH_MAX_REQUESTS]
                results.update(await self._one_batch(transport, model, chunk))
        finally:
            if owned:
                await transport.aclose()
        return results

    async def _one_batch(
        self, transport: Transport, model: str, chunk: Sequence[SampleRequest]
    ) -> dict[str, Completion]:
        by_id, content, digest = batch_input(model, chunk)
        # a batch for exactly these requests may exist (an earlier call gave up
        # waiting, or crashed): adopt it instead of paying twice
        found = await transport.find_batch(digest)
        if found is not None:
            batch = found
        else:
            file_id = await transport.upload(content, f"dqt-batch-{digest[:16]}.jsonl")
            batch = await transport.create_batch(
                file_id, completion_window=self.completion_window, input_digest=digest
            )
            self.requests_sent += len(chunk)
        batch_id = str(batch["id"])
        started = time.monotonic()
        bar = self._bar(len(chunk))
        try:
            batch = await wait_for_batch(
                transport,
                batch,
                started=started,
                timeout=self.batch_timeout,
                poll_interval=self.batch_poll_interval,
                sleep=self._sleep,
                bar=bar,
            )
        finally:
            if bar is not None:
                bar.close()
        results, errors = await collect_results(transport, batch, by_id, model)
        if self.cache is not None and results:
            await asyncio.to_thread(self.cache.put_many, list(results.items()))
        raise_for_failures(batch_id, batch, by_id, results, errors)
        return results
