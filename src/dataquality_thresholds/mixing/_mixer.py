"""CorruptionMixer: training sets with an exact share of correct rows.

How a mixture is drawn, for ``CorruptionMixer(pool, size, seed)``:

1. Pool rows are put in id order (so the order rows arrive in never matters),
   and ``size`` prompts are drawn from them with the seed's first stream. The
   same prompts are used at every fraction: mixtures differ in correctness only.
2. A random priority order over those prompts (second stream) decides which are
   answered incorrectly: a mixture with ``m`` incorrect rows corrupts the first
   ``m`` prompts in that order. So with ``nested=True`` the incorrect set at a
   higher correct share is a subset of the one at a lower share. With
   ``nested=False`` each fraction draws its own order.
3. With several kinds (``{"obvious": 0.5, "subtle": 0.5}``), the ``i``-th prompt
   in priority order gets a fixed kind, chosen so that among the first ``m``
   incorrect rows the first kind (in ``INCORRECT_KINDS`` order) has exactly
   ``floor(m * share + 1/2)`` rows and the second kind the rest; a prompt keeps
   its kind at every fraction.
4. Rows are written in a seeded shuffled order (third stream), the same at every
   fraction, so incorrect rows are not clustered.

The number of correct rows is exactly ``round(size * fraction_correct)``, with
Python's ``round`` (halves go to the even neighbour: 2.5 -> 2, 3.5 -> 4).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import attrs
import numpy as np

from dataquality_thresholds._util.seeding import as_seed_sequence
from dataquality_thresholds._version import __version__
from dataquality_thresholds.errors import ConfigError, DataError
from dataquality_thresholds.mixing._mixture import Mixture, MixtureSpec
from dataquality_thresholds.mixing._pool import ExamplePool
from dataquality_thresholds.records import INCORRECT_KINDS, LABELS

__all__ = ["CorruptionMixer"]


def _kind_sequence(shares: Mapping[str, float], length: int) -> np.ndarray:
    """Label code of each priority position so every prefix is proportioned.

    Among the first ``m`` positions the first kind has ``floor(m * s + 1/2)``.
    """
    kinds = [k for k in INCORRECT_KINDS if k in shares]
    codes = np.full(length, LABELS.index(kinds[-1]), dtype=np.int8)
    if len(kinds) == 1 or length == 0:
        return codes
    s = shares[kinds[0]]
    m = np.arange(length + 1, dtype=np.float64)
    first_counts = np.floor(m * s + 0.5)
    is_first = np.diff(first_counts) > 0
    codes[is_first] = LABELS.index(kinds[0])
    return codes


@attrs.frozen
class CorruptionMixer:
    """Build mixtures of correct and incorrect rows from an :class:`ExamplePool`.

    Parameters
    ----------
    pool : ExamplePool
        Where prompts and responses come from.
    size : int
        Rows per mixture (at most ``len(pool)``).
    seed : int
        Seed of the prompt selection, the corruption order and the row order.
    nested : bool
        If True (default), incorrect sets are nested across fractions.

    Examples
    --------
    >>> from dataquality_thresholds import CorruptionMixer, load_sample_pool
    >>> mixer = CorruptionMixer(load_sample_pool("finance"), size=20, seed=0)
    >>> m = mixer.mix(0.75, corruption="subtle")
    >>> m.counts
    {'correct': 15, 'obvious': 0, 'subtle': 5}
    """

    pool: ExamplePool = attrs.field(repr=False)
    size: int = attrs.field()
    seed: int = attrs.field(default=0)
    nested: bool = attrs.field(default=True)
    _streams: tuple[np.ndarray, np.ndarray, np.ndarray] = attrs.field(
        init=False, repr=False, eq=False
    )

    @size.validator
    def _check_size(self, attribute: attrs.Attribute[int], value: object) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ConfigError(f"size must be a positive int, got {value!r}", field="size")
        if value > len(self.pool):
            raise ConfigError(
                f"size {value} is larger than the pool ({len(self.pool)} prompts); "
                "lower size or add examples",
                field="size",
            )

    def __attrs_post_init__(self) -> None:
        ss = as_seed_sequence(self.seed)
        select_ss, priority_ss, order_ss = ss.spawn(3)
        n = len(self.pool)
        chosen = np.random.default_rng(select_ss).permutation(n)[: self.size]
        selected = self.pool.sort_order()[chosen]
        priority = np.random.default_rng(priority_ss).permutation(self.size)
        order = np.random.default_rng(order_ss).permutation(self.size)
        for arr in (selected, priority, order):
            arr.setflags(write=False)
        object.__setattr__(self, "_streams", (selected, priority, order))

    @property
    def prompts(self) -> np.ndarray:
        """Pool indices of the prompts every mixture of this mixer uses."""
        return self._streams[0]

    def _priority(self, n_incorrect: int) -> np.ndarray:
        if self.nested:
            return self._streams[1]
        ss = np.random.SeedSequence(as_seed_sequence(self.seed).entropy, spawn_key=(7, n_incorrect))
        return np.random.default_rng(ss).permutation(self.size)

    def mix(
        self, fraction_correct: float, corruption: str | Mapping[str, float] = "obvious"
    ) -> Mixture:
        """Return the mixture with the given share of correct rows.

        Parameters
        ----------
        fraction_correct : float
            Share of correct rows in [0, 1].
        corruption : str or mapping
            ``"obvious"``, ``"subtle"`` or shares of each, e.g.
            ``{"obvious": 0.5, "subtle": 0.5}``.

        Returns
        -------
        Mixture

        Raises
        ------
        ConfigError
            A fraction outside [0, 1] or a bad corruption spec.
        DataError
            A prompt chosen to be corrupted lacks the requested kind (naming its id).
        """
        spec = MixtureSpec(
            fraction_correct=fraction_correct,
            corruption=corruption,
            size=self.size,
            seed=self.seed,
            nested=self.nested,
        )
        selected, _, order = self._streams
        m = spec.n_incorrect
        labels = np.zeros(self.size, dtype=np.int8)
        corrupted = self._priority(m)[:m]
        labels[corrupted] = _kind_sequence(spec.corruption, m)
        for kind in spec.corruption:
            code = LABELS.index(kind)
            rows = selected[labels == code]
            lacking = ~self.pool.has_kind(kind)[rows]
            if lacking.any():
                bad = self.pool.ids(rows[lacking][:1])[0]
                raise DataError(
                    f"was chosen for a {kind!r} response but has none "
                    f"({int(lacking.sum())} chosen prompts lack it); add the variant or "
                    "use a corruption the pool has",
                    field=f"incorrect.{kind}",
                    id=bad,
                )
        return Mixture(
            spec=spec,
            source=self.pool,
            rows=selected[order],
            labels=labels[order],
            library_version=__version__,
        )

    def sweep(
        self, fractions: Iterable[float], corruption: str | Mapping[str, float] = "obvious"
    ) -> list[Mixture]:
        """Return one mixture per fraction (all validated before any is returned)."""
        fr = list(fractions)
        if not fr:
            raise ConfigError("fractions must not be empty", field="fractions")
        return [self.mix(f, corruption) for f in fr]
