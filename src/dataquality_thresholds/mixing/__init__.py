"""Training sets that mix correct and incorrect examples at exact shares.

:class:`ExamplePool` holds paired examples column-wise; :class:`CorruptionMixer` draws
:class:`Mixture` records (index arrays over the pool) at chosen shares of correct rows;
:func:`write_mixtures` writes each mixture's training file next to its manifest.
See ``docs/mixing.md``.
"""

from __future__ import annotations

from dataquality_thresholds._util.faces import publish
from dataquality_thresholds.mixing._files import mixture_basename, write_mixtures
from dataquality_thresholds.mixing._mixer import CorruptionMixer
from dataquality_thresholds.mixing._mixture import Mixture, MixtureSpec, RowSource
from dataquality_thresholds.mixing._pool import ExamplePool

__all__ = [
    "CorruptionMixer",
    "ExamplePool",
    "Mixture",
    "MixtureSpec",
    "RowSource",
    "mixture_basename",
    "write_mixtures",
]

publish(__name__, globals(), __all__)
