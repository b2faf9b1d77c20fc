"""Mixture records: the spec of one training set and the set itself (index arrays)."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator, Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Protocol

import attrs
import numpy as np

from dataquality_thresholds.errors import ConfigError
from dataquality_thresholds.records import INCORRECT_KINDS, LABELS, Example

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["Mixture", "MixtureSpec", "RowSource"]


# --------------------------------------------------------------------------- mixtures
def _to_corruption(value: str | Mapping[str, float]) -> Mapping[str, float]:
    if isinstance(value, str):
        value = {value: 1.0}
    if not isinstance(value, Mapping) or not value:
        raise ConfigError(
            "corruption must be 'obvious', 'subtle' or a non-empty mapping of kind to share",
            field="corruption",
        )
    return MappingProxyType({str(k): float(value[k]) for k in sorted(value)})


@attrs.frozen(kw_only=True)
class MixtureSpec:
    """What a mixture should contain.

    Parameters
    ----------
    fraction_correct : float
        Share of correct rows, in [0, 1]. The mixture has exactly
        ``round(size * fraction_correct)`` correct rows (Python's ``round``:
        halves go to the even neighbour).
    corruption : str or mapping of str to float
        ``"obvious"``, ``"subtle"`` or shares of each kind among the incorrect
        rows, e.g. ``{"obvious": 0.5, "subtle": 0.5}``; shares sum to 1.
    size : int
        Number of training rows.
    seed : int
        Seed of the selection, corruption and row order.
    nested : bool
        Whether incorrect sets are nested across fractions (see
        :class:`~dataquality_thresholds.CorruptionMixer`).
    """

    fraction_correct: float = attrs.field(converter=float)
    corruption: Mapping[str, float] = attrs.field(converter=_to_corruption, hash=False)
    size: int = attrs.field()
    seed: int = attrs.field(default=0)
    nested: bool = attrs.field(default=True)

    @fraction_correct.validator
    def _check_fraction(self, attribute: attrs.Attribute[Any], value: float) -> None:
        if not (0.0 <= value <= 1.0) or math.isnan(value):
            raise ConfigError(
                f"fraction_correct must be in [0, 1], got {value!r}", field="fraction_correct"
            )

    @corruption.validator
    def _check_corruption(
        self, attribute: attrs.Attribute[Any], value: Mapping[str, float]
    ) -> None:
        for kind, share in value.items():
            if kind not in INCORRECT_KINDS:
                raise ConfigError(
                    f"unknown corruption kind {kind!r}; expected one of "
                    f"{', '.join(INCORRECT_KINDS)}",
                    field="corruption",
                )
            if not (share > 0.0) or math.isinf(share):
                raise ConfigError(
                    f"share of {kind!r} must be > 0, got {share!r}", field="corruption"
                )
        total = sum(value.values())
        if abs(total - 1.0) > 1e-9:
            raise ConfigError(
                f"corruption shares must sum to 1, they sum to {total!r}", field="corruption"
            )

    @size.validator
    def _check_size(self, attribute: attrs.Attribute[Any], value: object) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ConfigError(f"size must be a positive int, got {value!r}", field="size")

    @seed.validator
    def _check_seed(self, attribute: attrs.Attribute[Any], value: object) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise ConfigError(f"seed must be an int >= 0, got {value!r}", field="seed")

    @property
    def n_correct(self) -> int:
        """Number of correct rows: ``round(size * fraction_correct)``."""
        return round(self.size * self.fraction_correct)

    @property
    def n_incorrect(self) -> int:
        """Number of incorrect rows."""
        return self.size - self.n_correct

    @property
    def corruption_label(self) -> str:
        """A short name of the corruption, e.g. ``"obvious"`` or ``"obvious=0.5+subtle=0.5"``."""
        if len(self.corruption) == 1:
            return next(iter(self.corruption))
        return "+".join(f"{k}={v:g}" for k, v in self.corruption.items())

    @classmethod
    def grid(
        cls,
        *,
        fractions: Sequence[float],
        size: int,
        corruption: str | Mapping[str, float] = "obvious",
        seed: int = 0,
        nested: bool = True,
    ) -> tuple[MixtureSpec, ...]:
        """Return one spec per fraction, sharing size, corruption and seed."""
        return tuple(
            cls(fraction_correct=f, corruption=corruption, size=size, seed=seed, nested=nested)
            for f in fractions
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the spec as plain JSON-safe values."""
        return {
            "fraction_correct": self.fraction_correct,
            "corruption": dict(self.corruption),
            "size": int(self.size),
            "seed": int(self.seed),
            "nested": self.nested,
        }


class RowSource(Protocol):
    """What a :class:`Mixture` needs from its pool: render rows and identify itself."""

    @property
    def fingerprint(self) -> str:
        """Stable content hash of the pool."""
        ...

    def ids(self, indices: np.ndarray) -> list[str]:
        """Ids of the rows at ``indices``."""
        ...

    def iter_rows(
        self, indices: np.ndarray, labels: np.ndarray, *, batch_size: int = ...
    ) -> Iterator[Example]:
        """Build the training rows for ``indices`` answered with ``labels`` (codes into LABELS)."""
        ...

    def iter_jsonl(
        self, indices: np.ndarray, labels: np.ndarray, *, batch_size: int = ...
    ) -> Iterator[bytes]:
        """Yield the OpenAI chat JSONL bytes of those rows, a batch at a time."""
        ...


def _readonly(value: Any, dtype: str) -> np.ndarray:
    arr = np.array(value, dtype=dtype, copy=True)
    arr.setflags(write=False)
    return arr


def _as_index_array(value: Any) -> np.ndarray:
    """Copy to a read-only int64 array (pool row indices)."""
    return _readonly(value, "int64")


def _as_label_array(value: Any) -> np.ndarray:
    """Copy to a read-only int8 array (label codes)."""
    return _readonly(value, "int8")


@attrs.frozen(kw_only=True, eq=False)
class Mixture:
    """A training set with a known share of correct rows.

    A mixture holds index arrays into its pool, not rows: it is cheap to make even
    for a million-row pool, and rows are built only when written. Two mixtures are
    the same training set when their :attr:`fingerprint` is equal.

    Parameters
    ----------
    spec : MixtureSpec
        What was asked for.
    source : RowSource
        The pool the rows come from (an :class:`~dataquality_thresholds.ExamplePool`).
    rows : numpy.ndarray
        Pool indices, in file order.
    labels : numpy.ndarray
        Label codes (indices into :data:`LABELS`), aligned with ``rows``.
    library_version : str
        Version of the library that made the mixture.
    """

    spec: MixtureSpec
    source: RowSource = attrs.field(repr=False)
    rows: np.ndarray = attrs.field(converter=_as_index_array, repr=False)
    labels: np.ndarray = attrs.field(converter=_as_label_array, repr=False)
    library_version: str = attrs.field(repr=False)
    _cache: dict[str, Any] = attrs.field(factory=dict, init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        if self.rows.shape != self.labels.shape or self.rows.ndim != 1:
            raise ConfigError("rows and labels must be 1-d arrays of the same length")

    def __len__(self) -> int:
        return int(self.rows.shape[0])

    @property
    def counts(self) -> dict[str, int]:
        """Number of rows per label."""
        binc = np.bincount(self.labels, minlength=len(LABELS))
        return {label: int(binc[i]) for i, label in enumerate(LABELS)}

    @property
    def examples(self) -> tuple[Example, ...]:
        """All rows as :class:`Example` records (builds them; prefer :meth:`iter_examples`)."""
        return tuple(self.iter_examples())

    def iter_examples(self, *, batch_size: int = 10_000) -> Iterator[Example]:
        """Yield the rows in file order, built a batch at a time."""
        return self.source.iter_rows(self.rows, self.labels, batch_size=batch_size)

    def iter_jsonl(self, *, batch_size: int = 10_000) -> Iterator[bytes]:
        """Yield the OpenAI chat JSONL bytes, a batch of rows at a time."""
        return self.source.iter_jsonl(self.rows, self.labels, batch_size=batch_size)

    def incorrect_ids(self) -> dict[str, list[str]]:
        """Ids of the incorrect rows, by kind, sorted."""
        out: dict[str, list[str]] = {}
        for code, label in enumerate(LABELS):
            if code == 0:
                continue
            idx = self.rows[self.labels == code]
            if idx.size:
                out[label] = sorted(self.source.ids(idx))
        return out

    @property
    def fingerprint(self) -> str:
        """sha256 of the exact training bytes (what :meth:`to_jsonl` writes)."""
        if "fingerprint" not in self._cache:
            h = hashlib.sha256()
            for chunk in self.iter_jsonl():
                h.update(chunk)
            self._cache["fingerprint"] = h.hexdigest()
        fp: str = self._cache["fingerprint"]
        return fp

    @property
    def manifest(self) -> dict[str, Any]:
        """What the mixture is: spec, counts, incorrect ids, hashes, library version.

        JSON-safe; carries ``"schema": "mixture_manifest"`` and a schema version.
        """
        if "manifest" not in self._cache:
            self._cache["manifest"] = {
                "schema": "mixture_manifest",
                "schema_version": 1,
                "spec": self.spec.to_dict(),
                "n_rows": len(self),
                "counts": self.counts,
                "incorrect_ids": self.incorrect_ids(),
                "pool_fingerprint": self.source.fingerprint,
                "fingerprint": self.fingerprint,
                "library_version": self.library_version,
            }
        return dict(self._cache["manifest"])

    def to_jsonl(self, path: str | Path) -> str:
        """Write the OpenAI chat-format training file atomically; return its fingerprint.

        The fingerprint is computed from the bytes as they are written.
        """
        from dataquality_thresholds.io import write_jsonl_chunks

        digest = write_jsonl_chunks(self.iter_jsonl(), path)
        self._cache.setdefault("fingerprint", digest)
        return digest
