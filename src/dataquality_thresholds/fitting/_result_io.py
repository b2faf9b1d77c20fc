"""``ThresholdFit.to_dict`` / ``from_dict``: the JSON record of a fit."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

import attrs
from attrs import AttrsInstance

from dataquality_thresholds.errors import ConfigError, SchemaVersionError
from dataquality_thresholds.fitting._intervals import to_float, to_json_float

__all__ = ["SCHEMA", "SCHEMA_VERSION", "fit_from_dict", "fit_to_dict"]

#: The record class (``ThresholdFit``); not imported here, so this module has no cycle.
Fit = TypeVar("Fit", bound=AttrsInstance)

SCHEMA = "threshold_fit"
SCHEMA_VERSION = 1
_FLOAT_TUPLES = (
    "ci",
    "estimates",
    "design",
    "profile_grid",
    "profile_rss",
    "profile_root",
    "boot_quantiles",
    "weights",
)


def fit_to_dict(fit: Any) -> dict[str, Any]:
    """Return the JSON-safe dict of ``fit`` (non-finite numbers become ``None``)."""
    out: dict[str, Any] = {"schema": SCHEMA, "schema_version": SCHEMA_VERSION}
    for field in attrs.fields(type(fit)):
        v = getattr(fit, field.name)
        if field.name == "candidates":
            v = [fit_to_dict(c) for c in v]
        elif field.name == "cov":
            v = [[to_json_float(x) for x in row] for row in v]
        elif field.name == "ceiling":
            v = v if isinstance(v, str) else float(v)
        elif isinstance(v, tuple):
            v = [x if isinstance(x, str) else to_json_float(x) for x in v]
        elif isinstance(v, float):
            v = to_json_float(v)
        out[field.name] = v
    return out


def _legacy_loglik(kw: dict[str, Any]) -> dict[str, Any]:
    """Drop the Gaussian log-likelihood of a changepoint fit on counts written before 0.1.

    Those records stored the Gaussian log-likelihood of the run means with ``k_ic = p + 1``
    under ``family="binomial"``; now it is the binomial one of the counts with
    ``k_ic = p``. Without the data it cannot be recomputed, so it reads as NaN (and
    ``aic``/``bic`` with it) rather than as a number that does not compare.
    """
    names = kw.get("param_names", ())
    if (
        kw.get("family") == "binomial"
        and kw.get("model") in ("hinge", "segmented")
        and kw.get("k_ic") == len(names) + 1
    ):
        return {**kw, "loglik": float("nan"), "k_ic": len(names)}
    return kw


def fit_from_dict(cls: type[Fit], data: Mapping[str, Any]) -> Fit:
    """Rebuild a fit from :func:`fit_to_dict` output (see ``ThresholdFit.from_dict``)."""
    if data.get("schema") != SCHEMA:
        raise ConfigError(f"expected schema {SCHEMA!r}, got {data.get('schema')!r}", field="schema")
    version = int(data.get("schema_version", 0))
    if version > SCHEMA_VERSION:
        raise SchemaVersionError(
            f"threshold_fit schema_version {version} is newer than {SCHEMA_VERSION}; "
            "upgrade dataquality_thresholds",
            found=version,
            supported=SCHEMA_VERSION,
            field="schema_version",
        )
    kw: dict[str, Any] = {}
    for field in attrs.fields(cls):
        if field.name not in data:
            continue
        v = data[field.name]
        if field.name == "candidates":
            v = tuple(fit_from_dict(cls, c) for c in v)
        elif field.name == "cov":
            v = tuple(tuple(to_float(x) for x in row) for row in v)
        elif field.name in ("param_names", "free_names"):
            v = tuple(v)
        elif field.name in _FLOAT_TUPLES:
            v = tuple(to_float(x) for x in v)
        elif field.name == "q_df":
            v = to_float(v, float("inf"))
        elif field.name in ("threshold", "threshold_se", "dispersion", "loglik"):
            v = to_float(v)
        kw[field.name] = v
    try:
        return cls(**_legacy_loglik(kw))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"not a complete threshold_fit record ({exc})", field="schema") from exc
