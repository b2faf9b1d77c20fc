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
* **cache**: each sample is stored in a :class:`CompletionCache` as soon as
  it arrives; a rerun of the same work makes no request;
* **batch mode**: the same requests through the Batch API (half price),
  joined back by ``custom_id``; failed requests are reported from the
  batch's error file.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import random
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import attrs

from .._util.ratelimit import RateLimiter
from ..cache import CompletionCache, cache_key
from ..errors import BackendError, ConfigError
from ..records import Completion, Message
from .base import Prompt, normalize_prompt

__all__ = ["BatchError", "ChatSampler", "RetryableError", "Transport"]

_BATCH_MAX_REQUESTS = 50_000
_BATCH_TERMINAL = ("completed", "failed", "expired", "cancelled")


class RetryableError(BackendError):
    """A request failed in a way worth retrying (429, 5xx, timeout, dropped connection).

    Parameters
    ----------
    message : str
        What happened.
    retry_after : float, optional
        The server's ``Retry-After``, seconds.
    """

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class BatchError(BackendError):
    """Some requests of a batch failed (the others were cached and returned nothing).

    Parameters
    ----------
    message : str
        Summary.
    batch_id : str
        The provider's batch id.
    errors : mapping of str to str
        ``custom_id`` -> error message, from the error file (and the output
        file's non-200 lines).
    """

    def __init__(self, message: str, *, batch_id: str, errors: Mapping[str, str]) -> None:
        super().__init__(message)
        self.batch_id = batch_id
        self.errors = dict(errors)


class Transport(Protocol):
    """The few raw calls the engine needs; bodies and results are plain JSON dicts."""

    async def chat(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """POST /chat/completions; raise :class:`RetryableError` or :class:`BackendError`."""
        ...

    async def upload(self, content: bytes, filename: str) -> str:
        """Upload a batch input file; return its id."""
        ...

    async def create_batch(
        self, input_file_id: str, *, completion_window: str, input_digest: str
    ) -> dict[str, Any]:
        """Create a chat-completions batch tagged with ``input_digest``; return it."""
        ...

    async def find_batch(self, input_digest: str) -> dict[str, Any] | None:
        """Return a recent batch tagged ``input_digest`` that did not fail, or None."""
        ...

    async def retrieve_batch(self, batch_id: str) -> dict[str, Any]:
        """Return the batch object."""
        ...

    async def file_content(self, file_id: str) -> bytes:
        """Return a file's bytes."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


@attrs.frozen
class _Request:
    """One HTTP request's worth of work: a prompt, the samples it still lacks."""

    messages: tuple[Message, ...]
    params: Mapping[str, Any]
    keys: tuple[str, ...]  # cache key of each sample index 0..n-1
    missing: tuple[int, ...]  # which indices to fetch


def _estimate_tokens(messages: Sequence[Message], max_tokens: int | None, n: int) -> int:
    chars = sum(len(m.content) for m in messages)
    return chars // 4 + 4 * len(messages) + 3 + (max_tokens or 256) * n


def _completions(
    resp: Mapping[str, Any], model: str, indices: Sequence[int]
) -> list[tuple[int, Completion]]:
    """Turn a chat.completion body into (sample index, Completion) pairs."""
    choices = sorted(resp.get("choices") or [], key=lambda c: c.get("index", 0))
    if len(choices) < len(indices):
        raise BackendError(f"asked for {len(indices)} choices, the server returned {len(choices)}")
    usage = resp.get("usage") or {}
    shared = len(choices)
    pt = usage.get("prompt_tokens")
    ct = usage.get("completion_tokens")
    info = {"request_id": str(resp.get("id", ""))}
    if shared > 1:
        info["usage_shared_by"] = str(shared)
    out = []
    for idx, ch in zip(indices, choices, strict=False):
        msg = ch.get("message") or {}
        lp = ch.get("logprobs") or {}
        content = lp.get("content")
        top = None
        if content:
            top = [
                [(t["token"], t["logprob"]) for t in pos.get("top_logprobs") or []]
                for pos in content
            ]
        per_choice_ct = ct if shared == 1 or ct is None else round(ct / shared)
        out.append(
            (
                idx,
                Completion(
                    text=msg.get("content") or "",
                    model=resp.get("model") or model,
                    index=idx,
                    finish_reason=ch.get("finish_reason"),
                    prompt_tokens=pt,
                    completion_tokens=per_choice_ct,
                    info=info,
                    top_logprobs=top,
                ),
            )
        )
    return out


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
    ) -> tuple[list[_Request], dict[str, Completion]]:
        unique: dict[str, _Request] = {}
        for conv in conversations:
            keys = self._keys(model, conv, params, n)
            if keys[0] not in unique:
                unique[keys[0]] = _Request(conv, params, keys, tuple(range(n)))
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

    def _body(self, model: str, r: _Request) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": model,
            "messages": [{"role": m.role, "content": m.content} for m in r.messages],
            "temperature": r.params["temperature"],
        }
        if len(r.missing) != 1:
            body["n"] = len(r.missing)
        if r.params.get("max_tokens") is not None:
            body["max_completion_tokens"] = r.params["max_tokens"]
        if r.params.get("seed") is not None:
            body["seed"] = r.params["seed"]
        if r.params.get("top_logprobs") is not None:
            body["logprobs"] = True
            body["top_logprobs"] = r.params["top_logprobs"]
        return body

    # ------------------------------------------------------------------ online
    async def _run_online(self, model: str, todo: Sequence[_Request]) -> dict[str, Completion]:
        sem = self._semaphore()
        results: dict[str, Completion] = {}
        pending: list[tuple[str, Completion]] = []
        bar = self._bar(len(todo))
        transport, owned = await self._transport_for_loop()

        async def flush() -> None:
            if self.cache is not None and pending:
                items = pending[:]
                pending.clear()
                await asyncio.to_thread(self.cache.put_many, items)

        async def one(r: _Request) -> None:
            async with sem:
                body = self._body(model, r)
                estimate = _estimate_tokens(r.messages, r.params.get("max_tokens"), len(r.missing))
                resp = await self._send(transport, body, estimate)
            for idx, c in _completions(resp, model, r.missing):
                key = r.keys[idx]
                if key not in results:
                    results[key] = c
                    pending.append((key, c))
            if len(pending) >= 256:
                await flush()
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
            # whatever arrived is kept, even when a request failed
            await flush()
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
    async def _run_batch(self, model: str, todo: Sequence[_Request]) -> dict[str, Completion]:
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
        self, transport: Transport, model: str, chunk: Sequence[_Request]
    ) -> dict[str, Completion]:
        by_id: dict[str, _Request] = {}
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
                        "body": self._body(model, r),
                    },
                    sort_keys=True,
                    ensure_ascii=False,
                )
            )
        content = ("\n".join(lines) + "\n").encode("utf-8")
        digest = hashlib.sha256(content).hexdigest()[:32]
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
            while batch.get("status") not in _BATCH_TERMINAL:
                if (
                    self.batch_timeout is not None
                    and time.monotonic() - started > self.batch_timeout
                ):
                    raise BackendError(
                        f"batch {batch_id} still {batch.get('status')!r} after "
                        f"{self.batch_timeout} s; it keeps running remotely"
                    )
                await self._sleep(self.batch_poll_interval)
                batch = await transport.retrieve_batch(batch_id)
                if bar is not None:
                    counts = batch.get("request_counts") or {}
                    bar.n = int(counts.get("completed", 0)) + int(counts.get("failed", 0))
                    bar.refresh()
        finally:
            if bar is not None:
                bar.close()
        results: dict[str, Completion] = {}
        errors: dict[str, str] = {}
        if batch.get("output_file_id"):
            raw = await transport.file_content(str(batch["output_file_id"]))
            self._join(raw, by_id, model, results, errors)
        if batch.get("error_file_id"):
            raw = await transport.file_content(str(batch["error_file_id"]))
            self._join(raw, by_id, model, results, errors)
        if self.cache is not None and results:
            await asyncio.to_thread(self.cache.put_many, list(results.items()))
        unanswered = [
            cid for cid in by_id if cid not in errors and not self._answered(by_id[cid], results)
        ]
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
        return results

    @staticmethod
    def _answered(r: _Request, results: Mapping[str, Completion]) -> bool:
        return all(r.keys[i] in results for i in r.missing)

    @staticmethod
    def _join(
        raw: bytes,
        by_id: Mapping[str, _Request],
        model: str,
        results: dict[str, Completion],
        errors: dict[str, str],
    ) -> None:
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
            for idx, c in _completions(response["body"], model, r.missing):
                results.setdefault(r.keys[idx], c)
