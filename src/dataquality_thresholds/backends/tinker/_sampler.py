"""TinkerSampler: sample Tinker models (fine-tuned sampler weights or base models), cached.

``model`` is a ``tinker://.../sampler_weights/...`` path (what
:class:`TinkerBackend` records as ``fine_tuned_model``) or a base model id. Prompts are
rendered with the base model's chat template (generation prompt added), sampled with
``SamplingClient.sample`` (``num_samples``, ``temperature``, ``max_tokens``, ``seed``),
and decoded without special tokens. All prompts' requests are in flight at once; the
SDK bounds the concurrency and retries.

Every sample is stored in a :class:`~dataquality_thresholds.backends.CompletionCache`
(when one is given) under ``(base_url, model, messages, parameters, index)``, so a
rerun, or a study resumed after a crash, samples only what is missing. With a
``seed``, the request for samples ``i..j`` of a prompt is sent with seed ``seed + i``,
so cached and new samples never repeat one another.

``usage`` adds up prompt and generated tokens and their price (prefill and sample
rates of the dated table; 0 for a model the tables do not price) of the requests
actually sent.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from dataquality_thresholds.backends._base import Prompt, ThreadedSampler, normalize_prompt
from dataquality_thresholds.backends._cache import CompletionCache, cache_key
from dataquality_thresholds.backends._pricing import PriceTable
from dataquality_thresholds.backends.tinker._prices import tinker_price_table
from dataquality_thresholds.backends.tinker._render import (
    load_tokenizer,
    render_prompt,
    tokenizer_id,
)
from dataquality_thresholds.backends.tinker._service import ApiKey, sdk, service_client, translate
from dataquality_thresholds.errors import ConfigError
from dataquality_thresholds.records import Completion

__all__ = ["TinkerSampler"]


class TinkerSampler(ThreadedSampler):
    """Samples Tinker models (a :class:`~dataquality_thresholds.backends.Sampler`).

    Parameters
    ----------
    base_model : str
        The base model of the fine-tunes sampled (tokenizer, chat template, prices).
    base_url, api_key : str, optional
        The service and key (as for :class:`TinkerBackend`); the key is never shown.
    tokenizer : str, optional
        Hub id or folder of the tokenizer (default: the base model's).
    template_kwargs : mapping, optional
        Extra chat-template arguments.
    max_tokens : int
        Cap on each answer when a call gives none.
    cache : CompletionCache or path, optional
        Completion cache (a path opens one).
    price_table : PriceTable, optional
        Sampling prices for :attr:`usage` (default: Tinker's dated table).
    """

    def __init__(
        self,
        base_model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        tokenizer: str | None = None,
        template_kwargs: Mapping[str, Any] | None = None,
        max_tokens: int = 512,
        cache: CompletionCache | str | Path | None = None,
        price_table: PriceTable | None = None,
    ) -> None:
        self.base_model = base_model
        self.base_url = base_url
        self._api_key = ApiKey(api_key)
        self.tokenizer_name = tokenizer_id(base_model, tokenizer)
        self.template_kwargs = dict(template_kwargs or {})
        self.max_tokens = int(max_tokens)
        self.cache = cache if cache is None or isinstance(cache, CompletionCache) else (
            CompletionCache(cache)
        )  # fmt: skip
        self.price_table = price_table if price_table is not None else tinker_price_table()
        self._tokenizer: Any = None
        self._service: Any = None
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()
        self.usage: dict[str, float] = {"prompt_tokens": 0, "completion_tokens": 0, "usd": 0.0}

    def __repr__(self) -> str:
        return (
            f"TinkerSampler({self.base_model!r}, cache={self.cache!r}, api_key={self._api_key!r})"
        )

    def __reduce__(self) -> Any:
        raise TypeError("a TinkerSampler holds an API key and is not pickled")

    def tokenizer(self) -> Any:
        """Return the tokenizer (loaded once)."""
        if self._tokenizer is None:
            self._tokenizer = load_tokenizer(self.tokenizer_name)
        return self._tokenizer

    def _client(self, model: str) -> Any:
        with self._lock:
            if model not in self._clients:
                if self._service is None:
                    self._service = service_client(self.base_url, self._api_key)
                try:
                    if model.startswith("tinker://"):
                        fut = self._service.create_sampling_client(model_path=model)
                    else:
                        fut = self._service.create_sampling_client(base_model=model)
                    self._clients[model] = fut.result()
                except Exception as exc:
                    raise translate(exc, f"opening a sampler for {model}") from exc
            return self._clients[model]

    def complete(
        self,
        model: str,
        prompts: Sequence[Prompt],
        *,
        n: int = 1,
        temperature: float = 1.0,
        max_tokens: int | None = None,
        seed: int | None = None,
    ) -> list[list[Completion]]:
        """Return ``n`` completions per prompt, in prompt order (cached ones are not resampled).

        Raises
        ------
        ConfigError
            Bad ``n`` or ``temperature``.
        BackendError
            The service failed (after the SDK's retries).
        """
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ConfigError(f"n must be an int >= 1, got {n!r}", field="n")
        if not temperature >= 0:
            raise ConfigError(f"temperature must be >= 0, got {temperature!r}", field="temperature")
        limit = self.max_tokens if max_tokens is None else int(max_tokens)
        params = {
            "temperature": float(temperature),
            "max_tokens": limit,
            "seed": seed,
            "template": self.template_kwargs or None,
            "tokenizer": self.tokenizer_name,
        }
        convs = [normalize_prompt(p) for p in prompts]
        keys = [
            [
                cache_key(base_url=self.base_url, model=model, messages=c, params=params, index=i)
                for i in range(n)
            ]
            for c in convs
        ]
        cached = self.cache.get_many(k for row in keys for k in row) if self.cache else {}
        out: list[list[Completion | None]] = [[cached.get(k) for k in row] for row in keys]
        todo = [(p, [i for i, c in enumerate(row) if c is None]) for p, row in enumerate(out)]
        todo = [(p, missing) for p, missing in todo if missing]
        if todo:
            fresh = self._sample(model, convs, todo, temperature, limit, seed)
            stored = []
            for (p, missing), comps in zip(todo, fresh, strict=True):
                for i, comp in zip(missing, comps, strict=True):
                    out[p][i] = comp
                    stored.append((keys[p][i], comp))
            if self.cache is not None:
                self.cache.put_many(stored)
        return [[c for c in row if c is not None] for row in out]

    def _sample(
        self,
        model: str,
        convs: Sequence[Sequence[Any]],
        todo: Sequence[tuple[int, list[int]]],
        temperature: float,
        limit: int,
        seed: int | None,
    ) -> list[list[Completion]]:
        types = sdk().types
        tok = self.tokenizer()
        client = self._client(model)
        futures = []
        prompts = []
        for p, missing in todo:
            msgs = [{"role": m.role, "content": m.content} for m in convs[p]]
            ids = render_prompt(tok, msgs, self.template_kwargs)
            prompts.append(ids)
            params = types.SamplingParams(
                max_tokens=limit,
                temperature=float(temperature),
                seed=None if seed is None else int(seed) + missing[0],
            )
            try:
                futures.append(
                    client.sample(
                        prompt=types.ModelInput.from_ints(ids),
                        num_samples=len(missing),
                        sampling_params=params,
                    )
                )
            except Exception as exc:
                raise translate(exc, f"sampling {model}") from exc
        results: list[list[Completion]] = []
        for (_, missing), ids, fut in zip(todo, prompts, futures, strict=True):
            try:
                res = fut.result()
            except Exception as exc:
                raise translate(exc, f"sampling {model}") from exc
            row = []
            for i, seq in zip(missing, res.sequences, strict=True):
                tokens = list(seq.tokens)
                row.append(
                    Completion(
                        text=tok.decode(tokens, skip_special_tokens=True),
                        model=model,
                        index=i,
                        finish_reason=str(seq.stop_reason),
                        prompt_tokens=len(ids),
                        completion_tokens=len(tokens),
                    )
                )
            self._account(model, len(ids), sum(c.completion_tokens or 0 for c in row))
            results.append(row)
        return results

    def _account(self, model: str, prompt_tokens: int, completion_tokens: int) -> None:
        try:
            usd = self.price_table.sampling_usd(
                self.base_model, prompt_tokens, completion_tokens,
                fine_tuned=model.startswith("tinker://"),
            )  # fmt: skip
        except ConfigError:  # a model the tables do not price: tokens only
            usd = 0.0
        with self._lock:
            self.usage["prompt_tokens"] += prompt_tokens
            self.usage["completion_tokens"] += completion_tokens
            self.usage["usd"] += usd
