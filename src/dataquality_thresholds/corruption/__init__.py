"""Making incorrect variants of correct examples.

:class:`CorruptionGenerator` asks a model to rewrite correct answers into obviously and
subtly wrong ones; :func:`mutate_code` makes subtly wrong Python by mutating a correct
solution's syntax tree and keeps a mutant only when the tests catch it
(:func:`run_tests`). See ``docs/data.md``.
"""

from __future__ import annotations

from dataquality_thresholds._util.faces import publish
from dataquality_thresholds.corruption._generate import (
    DEFAULT_TEMPLATES,
    CorruptionGenerator,
    CorruptionResult,
    CorruptionTemplates,
)
from dataquality_thresholds.corruption._mutate import MUTATION_OPERATORS, Mutant, mutate_code
from dataquality_thresholds.corruption._runner import run_tests

__all__ = [
    "DEFAULT_TEMPLATES",
    "MUTATION_OPERATORS",
    "CorruptionGenerator",
    "CorruptionResult",
    "CorruptionTemplates",
    "Mutant",
    "mutate_code",
    "run_tests",
]

publish(__name__, globals(), __all__)
