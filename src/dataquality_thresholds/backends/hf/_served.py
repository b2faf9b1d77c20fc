"""Sampling :class:`HFBackend`'s fine-tunes through vLLM's OpenAI-compatible server.

:class:`VLLMSampler` is an :class:`~dataquality_thresholds.backends.openai.OpenAISampler`
(bounded concurrency, rate limits, retries, the completion cache) pointed at a vLLM
server started with :meth:`HFBackend.serve_command`, plus one step: before the first
request that has to go to the server for a fine-tune ``ft:<base>:<job_id>``, it makes
sure the server has the job's adapter (``job_dir(job_id)/model``) loaded under that
name, through :class:`~._serve.VLLMAdmin`. The step sits in the sampler's transport,
so answers found in the cache send nothing at all, not even the check; a server that
lists the adapter already (another sampler, another process) is not asked to load it
again; and a server restarted mid-run, which answers 404 for the adapter it lost, gets
it loaded again once.

:class:`ServedHFBackend` is an :class:`HFBackend` whose ``sampler()`` is a
:class:`VLLMSampler`, so a :class:`~dataquality_thresholds.study.Study` trains with the
backend and samples through the server, with the run's completion cache.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from dataquality_thresholds.backends._base import FineTuneBackend, ProgressCallback, Sampler
from dataquality_thresholds.backends._records import CostEstimate, FineTuneJob
from dataquality_thresholds.backends.hf._serve import (
    AdapterHost,
    VLLMAdmin,
    adapter_path,
    check_adapter,
)
from dataquality_thresholds.backends.openai import OpenAISampler, Transport
from dataquality_thresholds.errors import BackendError, ConfigError
from dataquality_thresholds.mixing import Mixture

__all__ = ["ServedHFBackend", "ServedHost", "VLLMSampler"]


class _LoadingTransport:
    """A :class:`Transport` that makes sure a fine-tune's adapter is loaded before its chat."""

    def __init__(
        self,
        inner: Transport,
        ensure: Callable[[str], Awaitable[None]],
        lost: Callable[[str, BackendError], bool],
    ) -> None:
        self._inner = inner
        self._ensure = ensure
        self._lost = lost

    async def chat(self, body: Mapping[str, Any]) -> dict[str, Any]:
        model = str(body.get("model"))
        await self._ensure(model)
        try:
            return await self._inner.chat(body)
        except BackendError as exc:
            if not self._lost(model, exc):
                raise
        await self._ensure(model)  # the server lost it (restarted): load it again, once
        return await self._inner.chat(body)

    async def upload(self, content: bytes, filename: str) -> str:
        return await self._inner.upload(content, filename)

    async def create_batch(
        self, input_file_id: str, *, completion_window: str, input_digest: str
    ) -> dict[str, Any]:
        return await self._inner.create_batch(
            input_file_id, completion_window=completion_window, input_digest=input_digest
        )

    async def find_batch(self, input_digest: str) -> dict[str, Any] | None:
        return await self._inner.find_batch(input_digest)

    async def retrieve_batch(self, batch_id: str) -> dict[str, Any]:
        return await self._inner.retrieve_batch(batch_id)

    async def file_content(self, file_id: str) -> bytes:
        return await self._inner.file_content(file_id)

    async def aclose(self) -> None:
        await self._inner.aclose()


class VLLMSampler(OpenAISampler):
    """Sample an :class:`HFBackend`'s base model and LoRA fine-tunes served by vLLM.

    The server runs the command of :meth:`HFBackend.serve_command`. Each fine-tune
    ``ft:<base>:<job_id>`` is loaded into it on first use, under that name, from
    ``job_dir(job_id)/model``, and then sampled like any model of an
    OpenAI-compatible endpoint; the base model samples under the backend's
    ``base_model`` name.

    Parameters
    ----------
    backend : AdapterHost
        The :class:`HFBackend` that trained the adapters.
    base_url : str
        The server's root, ``http://host:port/v1``.
    api_key : str, optional
        The server's ``--api-key``; default ``VLLM_API_KEY``, else ``"EMPTY"``
        (a server without a key accepts anything).
    **options
        Passed to :class:`OpenAISampler` (``cache``, ``max_concurrency``, ``rpm``,
        ``tpm``, ``max_retries``, ``timeout``, ``progress``, ``seed``). vLLM's
        server has no Batch API: ``batch=True`` is refused.

    Attributes
    ----------
    admin : VLLMAdmin
        The server's adapter endpoints (``admin.loads`` counts adapters this
        sampler loaded).

    Raises
    ------
    ConfigError
        ``batch=True``, a ``client``, or an empty ``base_url``.

    Notes
    -----
    The server must see the adapter at the path this process sees (the same
    machine, or a shared filesystem mounted at the same path).
    """

    def __init__(
        self, backend: AdapterHost, base_url: str, *, api_key: str | None = None, **options: Any
    ) -> None:
        if options.get("batch"):
            raise ConfigError(
                "vLLM's server has no Batch API; sample without batch=True", field="batch"
            )
        if "client" in options:
            raise ConfigError("pass base_url and api_key, not a client", field="client")
        if not isinstance(base_url, str) or not base_url.strip():
            raise ConfigError("base_url must be the server's URL, e.g. http://host:8000/v1")
        key = api_key or os.environ.get("VLLM_API_KEY") or "EMPTY"
        super().__init__(base_url=base_url, api_key=key, **options)
        self.backend = backend
        self.admin = VLLMAdmin(self.base_url or base_url, api_key=key, timeout=self.timeout)
        self._ready: dict[str, Path] = {}  # adapters known to be on the server
        self._plain: set[str] = set()  # names that are no fine-tune of the backend
        self._load_lock = threading.Lock()

    def __repr__(self) -> str:
        return (
            f"VLLMSampler(base_url={self.base_url!r}, base_model={self.backend.base_model!r}, "
            f"max_concurrency={self.max_concurrency}, cache={self.cache!r})"
        )

    # ------------------------------------------------------------------ adapters
    def load_adapter(self, model: str) -> bool:
        """Make sure the server has fine-tune ``model``'s adapter; idempotent.

        Returns
        -------
        bool
            True when this call loaded it; False when it was loaded already, or
            ``model`` is not a fine-tune of the backend (the base model).

        Raises
        ------
        AdapterLoadError
            No adapter at the job's path, a full fine-tune, a refusal by the server
            (the message names the adapter, its path and the server's reason), or
            another adapter served under the name.
        BackendUnavailableError
            The server cannot be reached.
        """
        path = adapter_path(self.backend, model)
        if path is None:
            return False
        with self._load_lock:
            if model in self._ready:
                return False
            check_adapter(model, path)
            loaded = self.admin.load(model, path)
            self._ready[model] = path
            return loaded

    def unload_adapter(self, model: str) -> bool:
        """Unload fine-tune ``model`` from the server; False when it did not have it."""
        with self._load_lock:
            self._ready.pop(model, None)
            return self.admin.unload(model)

    def loaded_adapters(self) -> dict[str, str]:
        """Return the adapters the server has loaded: name -> path."""
        return self.admin.adapters()

    async def _ensure(self, model: str) -> None:
        if model in self._ready or model in self._plain:
            return
        if adapter_path(self.backend, model) is None:
            self._plain.add(model)
            return
        await asyncio.to_thread(self.load_adapter, model)

    def _lost(self, model: str, exc: BackendError) -> bool:
        """Forget ``model`` when the server answered 404 for an adapter we had loaded."""
        if model not in self._ready or getattr(exc.__cause__, "status_code", None) != 404:
            return False
        with self._load_lock:
            self._ready.pop(model, None)
        return True

    def _transport(self) -> Transport:  # type: ignore[override]  # wraps the SDK's transport
        return _LoadingTransport(super()._transport(), self._ensure, self._lost)


class ServedHost(FineTuneBackend, AdapterHost, Protocol):
    """A fine-tuning backend whose adapters vLLM can serve (:class:`HFBackend`)."""


class ServedHFBackend:
    """An :class:`HFBackend` that trains as usual and samples through a vLLM server.

    Give it to a :class:`~dataquality_thresholds.study.Study` in place of the
    backend: jobs are submitted, waited for and cancelled by ``backend``;
    :meth:`sampler` returns a :class:`VLLMSampler` (with the run's completion
    cache when the study passes one). Other attributes are the backend's.

    Parameters
    ----------
    backend : ServedHost
        The :class:`HFBackend`.
    base_url : str
        The vLLM server's root, ``http://host:port/v1``.
    **sampler_options
        Defaults for :class:`VLLMSampler` (``api_key``, ``max_concurrency`` ...).
    """

    def __init__(self, backend: ServedHost, base_url: str, **sampler_options: Any) -> None:
        self.backend = backend
        self.base_url = base_url
        self.sampler_options = dict(sampler_options)
        self.name = backend.name

    def __repr__(self) -> str:
        return f"ServedHFBackend({self.backend!r}, base_url={self.base_url!r})"

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name == "backend":
            raise AttributeError(name)
        return getattr(self.backend, name)

    def submit(
        self,
        mixture: Mixture,
        *,
        base_model: str | None = None,
        hyperparameters: Mapping[str, Any] | None = None,
        key: str,
    ) -> FineTuneJob:
        """Submit through the backend (see :meth:`HFBackend.submit`)."""
        return self.backend.submit(
            mixture, base_model=base_model, hyperparameters=hyperparameters, key=key
        )

    def refresh(self, job: FineTuneJob) -> FineTuneJob:
        """Refresh through the backend."""
        return self.backend.refresh(job)

    def wait(
        self,
        job: FineTuneJob,
        *,
        poll_interval: float | None = None,
        timeout: float | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> FineTuneJob:
        """Wait through the backend (see :meth:`HFBackend.wait`)."""
        return self.backend.wait(
            job, poll_interval=poll_interval, timeout=timeout, on_progress=on_progress
        )

    def cancel(self, job: FineTuneJob) -> FineTuneJob:
        """Cancel through the backend."""
        return self.backend.cancel(job)

    def estimate_cost(self, mixture: Mixture, **options: Any) -> CostEstimate:
        """Estimate through the backend (local training costs no money)."""
        return self.backend.estimate_cost(mixture, **options)

    def sampler(self, **options: Any) -> VLLMSampler:
        """Return a :class:`VLLMSampler` for the server (``options`` over the defaults)."""
        return VLLMSampler(self.backend, self.base_url, **{**self.sampler_options, **options})


if TYPE_CHECKING:  # mypy checks the classes against the protocols

    def _check(backend: ServedHost) -> tuple[FineTuneBackend, Sampler]:
        served = ServedHFBackend(backend, "http://127.0.0.1:8000/v1")
        return served, served.sampler()
