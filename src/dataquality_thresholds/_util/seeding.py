"""Seed normalisation: every random choice in the library goes through here."""

from __future__ import annotations

from typing import Union

import numpy as np

from dataquality_thresholds.errors import ConfigError

SeedLike = Union[int, np.random.SeedSequence, np.random.Generator]  # noqa: UP007 - runtime alias on 3.10

__all__ = ["SeedLike", "as_generator", "as_seed_sequence", "spawn"]


def as_seed_sequence(seed: SeedLike) -> np.random.SeedSequence:
    """Return a :class:`numpy.random.SeedSequence` for ``seed``.

    Parameters
    ----------
    seed : int, SeedSequence or Generator
        An explicit seed. ``None`` is refused: nothing falls back to global state.

    Returns
    -------
    numpy.random.SeedSequence
    """
    if isinstance(seed, np.random.SeedSequence):
        return seed
    if isinstance(seed, np.random.Generator):
        return np.random.SeedSequence(int(seed.integers(0, 2**63 - 1)))
    if isinstance(seed, (bool,)) or not isinstance(seed, (int, np.integer)):
        raise ConfigError(
            f"seed must be an int, SeedSequence or Generator, got {type(seed).__name__}",
            field="seed",
        )
    if seed < 0:
        raise ConfigError(f"seed must be >= 0, got {seed}", field="seed")
    return np.random.SeedSequence(int(seed))


def as_generator(seed: SeedLike) -> np.random.Generator:
    """Return a :class:`numpy.random.Generator` for ``seed`` (a Generator is passed through)."""
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(as_seed_sequence(seed))


def spawn(seed: SeedLike, n: int) -> list[np.random.Generator]:
    """Return ``n`` independent generators derived from ``seed``."""
    return [np.random.default_rng(s) for s in as_seed_sequence(seed).spawn(n)]
