"""The LoRA adapter settings of :class:`~dataquality_thresholds.backends.hf.HFBackend`.

:class:`LoRASpec` is public under :mod:`~dataquality_thresholds.backends.hf`,
which re-exports it and sets its ``__module__`` to that path. Nothing here
imports ``peft``: the worker turns :meth:`LoRASpec.to_dict` into a
``LoraConfig`` when it trains.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs

from dataquality_thresholds.errors import ConfigError

__all__ = ["LoRASpec", "as_target_modules", "positive", "unit_dropout"]


def positive(inst: Any, attr: attrs.Attribute[Any], value: float) -> None:
    """Refuse a value that is not > 0 (attrs validator)."""
    if not value > 0:
        raise ConfigError(f"{attr.name} must be > 0, got {value!r}", field=attr.name)


def unit_dropout(inst: Any, attr: attrs.Attribute[Any], value: float) -> None:
    """Refuse a dropout outside [0, 1) (attrs validator)."""
    if not 0 <= value < 1:
        raise ConfigError(f"dropout must be in [0, 1), got {value!r}", field="dropout")


def as_target_modules(value: Sequence[str] | str | None) -> tuple[str, ...] | None:
    """Normalise ``target_modules``: None or ``"all-linear"`` -> None, a name -> a 1-tuple."""
    if value is None or value == "all-linear":
        return None
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in value)


@attrs.frozen(kw_only=True)
class LoRASpec:
    """LoRA adapter settings (PEFT ``LoraConfig``).

    Parameters
    ----------
    r : int
        Rank.
    alpha : float
        Scaling numerator (``alpha / r``, or ``alpha / sqrt(r)`` with ``rslora``).
    dropout : float
        Dropout on the adapter's input.
    target_modules : tuple of str, optional
        Module names to adapt; None adapts all linear layers.
    rslora : bool
        Rank-stabilised scaling, as in the emergent-misalignment model organisms.
    """

    r: int = attrs.field(default=16, converter=int, validator=positive)
    alpha: float = attrs.field(default=32.0, converter=float, validator=positive)
    dropout: float = attrs.field(default=0.0, converter=float, validator=unit_dropout)
    target_modules: tuple[str, ...] | None = attrs.field(default=None, converter=as_target_modules)
    rslora: bool = attrs.field(default=False, converter=bool)

    def to_dict(self) -> dict[str, Any]:
        """Return the settings as plain JSON values."""
        d = attrs.asdict(self)
        d["target_modules"] = list(self.target_modules) if self.target_modules else None
        return d
