"""The run's sampler and its completion cache: nothing sampled is bought twice.

A study keeps ``run_dir/completions.sqlite`` (:data:`CACHE_FILE`). :func:`make_sampler`
gives the backend's sampler that cache where the sampler takes one (``cache=``, as
:class:`~dataquality_thresholds.backends.OpenAISampler` does, committing each
answered request as it arrives); any other sampler is wrapped in a
:class:`CachedSampler`, which commits every few prompts. :func:`lend_cache` lends
the same cache to the judges' samplers that have none, for the run.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Iterator, Sequence
from typing import Any

from dataquality_thresholds.backends import (
    CompletionCache,
    Prompt,
    Sampler,
    ThreadedSampler,
    cache_key,
    normalize_prompt,
)
from dataquality_thresholds.records import Completion
from dataquality_thresholds.study._design import StudySpec

__all__ = ["CACHE_FILE", "CachedSampler", "lend_cache", "make_sampler"]

#: The completion cache of a run directory.
CACHE_FILE = "completions.sqlite"


class CachedSampler(ThreadedSampler):
    """Any sampler behind a completion cache, committed every ``chunk`` prompts.

    Parameters
    ----------
    inner : Sampler
        The sampler that answers what the cache does not hold.
    cache : CompletionCache
        Where answers are stored (and found again).
    name : str
        Names the sampler in the cache keys (where an HTTP sampler puts its endpoint).
    chunk : int
        Prompts per call to ``inner``; each call's answers are one transaction, so
        a kill loses at most one call's answers.
    """

    def __init__(
        self, inner: Sampler, cache: CompletionCache, *, name: str, chunk: int = 8
    ) -> None:
        self.inner = inner
        self.cache = cache
        self.name = name
        self.chunk = max(1, int(chunk))

    def __repr__(self) -> str:
        return f"CachedSampler({self.inner!r}, cache={self.cache!r})"

    def complete(
        self,
        model: str,
        prompts: Sequence[Prompt],
        *,
        n: int = 1,
        temperature: float = 1.0,
        max_tokens: int | None = None,
        seed: int | None = None,
        **options: Any,
    ) -> list[list[Completion]]:
        """Return ``n`` completions per prompt: the cache's, then ``inner``'s for the rest."""
        params = {"temperature": float(temperature), "max_tokens": max_tokens, "seed": seed}
        params.update(options)
        convs = [normalize_prompt(p) for p in prompts]
        keys = [
            [
                cache_key(
                    base_url=f"sampler:{self.name}",
                    model=model,
                    messages=conv,
                    params=params,
                    index=i,
                )
                for i in range(n)
            ]
            for conv in convs
        ]
        found = self.cache.get_many(k for ks in keys for k in ks)
        todo = [i for i, ks in enumerate(keys) if any(k not in found for k in ks)]
        for start in range(0, len(todo), self.chunk):
            part = todo[start : start + self.chunk]
            out = self.inner.complete(
                model,
                [convs[i] for i in part],
                n=n,
                temperature=temperature,
                max_tokens=max_tokens,
                seed=seed,
                **options,
            )
            new = []
            for i, comps in zip(part, out, strict=True):
                for k, c in zip(keys[i], comps, strict=True):
                    if k not in found:
                        found[k] = c
                        new.append((k, c))
            self.cache.put_many(new)
        return [[found[k] for k in ks] for ks in keys]


def _takes_cache(factory: Any) -> bool:
    try:
        params = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == "cache" or p.kind is inspect.Parameter.VAR_KEYWORD for p in params)


def make_sampler(spec: StudySpec, cache: CompletionCache | None) -> Sampler:
    """Return the run's sampler: the backend's, behind the run's completion cache.

    Parameters
    ----------
    spec : StudySpec
        The design (its backend's ``sampler``).
    cache : CompletionCache, optional
        The run's cache; None returns the backend's sampler as it is.

    Returns
    -------
    Sampler
    """
    factory = spec.backend.sampler
    if cache is None:
        return factory()
    if _takes_cache(factory):
        try:
            sampler: Sampler = factory(cache=cache)  # type: ignore[call-arg]
        except TypeError as exc:  # ``**options`` passed on to a sampler without a cache
            if "cache" not in str(exc):
                raise
            return CachedSampler(factory(), cache, name=spec.backend_name)
        if getattr(sampler, "cache", None) is cache:
            return sampler
        return CachedSampler(sampler, cache, name=spec.backend_name)
    return CachedSampler(factory(), cache, name=spec.backend_name)


@contextlib.contextmanager
def lend_cache(spec: StudySpec, cache: CompletionCache | None) -> Iterator[None]:
    """Give the judges' samplers that have no cache the run's cache, for the block.

    Judges such as :class:`~dataquality_thresholds.evaluation.OpenAIJudge` sample
    through their own sampler; with the run's cache a resumed study does not pay for
    a judgment twice either. Samplers with a cache of their own keep it.
    """
    lent: list[Any] = []
    if cache is not None:
        judges: list[Any] = [d.judge for d in spec.domains.values()]
        if spec.probe is not None:
            judges += [spec.probe.judge, getattr(spec.probe, "coherence_judge", None)]
        for judge in judges:
            if not isinstance(getattr(judge, "model", None), str):
                continue  # offline judges sample nothing
            sampler = getattr(judge, "sampler", None)
            if sampler is not None and hasattr(sampler, "cache") and sampler.cache is None:
                sampler.cache = cache
                lent.append(sampler)
    try:
        yield
    finally:
        for sampler in lent:
            sampler.cache = None
