"""The ``[backend]`` table of a config: its keys per backend kind, their checks, the backend.

:func:`check_backend` validates the table when a config is parsed (no SDK is
imported); :func:`hosted_backend` builds the OpenAI, Together or Tinker backend it
names when the study is built. The OpenAI backend's settings (polling, the 429
bounded backoff ``rate_limit_wait``, ``create_attempts`` ...) and its price
overrides (``prices``, ``sampling_prices``, ``fine_tuned_sampling_prices``,
``price_date``) are all settable (docs/cli.md); an API key never is.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from dataquality_thresholds._util.validators import (
    check_nonneg_number,
    check_positive_int,
    check_share,
)
from dataquality_thresholds.backends.openai import check_hyperparameters
from dataquality_thresholds.config._checks import (
    checked,
    choice,
    config_error,
    positive_number,
    table,
    text,
)
from dataquality_thresholds.errors import ConfigError

__all__ = [
    "BACKEND_KEYS",
    "OPENAI_PRICE_KEYS",
    "OPENAI_SETTINGS",
    "check_backend",
    "hosted_backend",
    "openai_prices",
]


def _number(source: str, field: str, value: object) -> float:
    return float(checked(source, field, check_nonneg_number, value, field))


def _count(source: str, field: str, value: object) -> int:
    return int(checked(source, field, check_positive_int, value, field))


def _backoff(source: str, field: str, value: object) -> float:
    number = _number(source, field, value)
    if number < 1:
        raise config_error(source, field, f"expected a number >= 1 (the growth), got {value!r}")
    return number


def _share(source: str, field: str, value: object) -> float:
    return float(checked(source, field, check_share, value, field))


def _pattern(source: str, field: str, value: object) -> str:
    pattern = text(source, field, value)
    try:
        re.compile(pattern)
    except re.error as exc:
        raise config_error(source, field, f"not a regular expression ({exc})") from None
    return pattern


#: ``OpenAIBackend`` settings a config may set, each with the rule its value keeps
#: (the parameters are documented on the backend; ``work_dir`` is relative to the config).
OPENAI_SETTINGS: Mapping[str, Callable[[str, str, object], Any]] = {
    "suffix": text,
    "poll_interval": positive_number,
    "max_poll_interval": positive_number,
    "backoff": _backoff,
    "jitter": _share,
    "max_active_jobs": _count,
    "rate_limit_wait": _number,
    "create_attempts": _count,
    "file_poll_interval": positive_number,
    "file_timeout": positive_number,
    "max_poll_failures": _count,
    "rejection_pattern": _pattern,
    "work_dir": text,
}
#: The OpenAI backend's price overrides (merged over the bundled, dated table).
OPENAI_PRICE_KEYS = ("prices", "sampling_prices", "fine_tuned_sampling_prices", "price_date")
#: Backend kinds a config may name, and the keys each accepts beyond kind/base_model/
#: hyperparameters (each backend checks its own hyperparameters: docs/backends.md).
BACKEND_KEYS: Mapping[str, frozenset[str]] = {
    "stub": frozenset(),
    "openai": frozenset({"base_url", *OPENAI_SETTINGS, *OPENAI_PRICE_KEYS}),
    "together": frozenset({"base_url", "serving", "endpoints"}),
    "tinker": frozenset({"base_url", "output_dir"}),
}
_COMMON = {"kind", "base_model", "hyperparameters"}
_SECRETS = ("api_key", "key", "openai_api_key", "token")


def _price(source: str, field: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise config_error(source, field, f"expected a finite number >= 0, got {value!r}")
    if value < 0:
        raise config_error(source, field, f"expected a finite number >= 0, got {value!r}")
    return float(value)


def _prices(source: str, field: str, value: object, *, pairs: bool) -> dict[str, Any]:
    """Check a table of ``model = usd_per_million`` (or ``= [input, output]`` with ``pairs``)."""
    out: dict[str, Any] = {}
    for model, price in table(source, field, value).items():
        where = f"{field}.{model}"
        if not model.strip():
            raise config_error(source, where, "expected a model name")
        if not pairs:
            out[model] = _price(source, where, price)
        elif isinstance(price, list) and len(price) == 2:
            out[model] = (_price(source, where, price[0]), _price(source, where, price[1]))
        else:
            raise config_error(
                source, where, f"expected [input, output] USD per million tokens, got {price!r}"
            )
    return out


def _date(source: str, field: str, value: object) -> str:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value).isoformat()
        except ValueError:
            pass
    raise config_error(source, field, f"expected a date (2025-06-01), got {value!r}")


def check_backend(source: str, data: Mapping[str, Any], out: dict[str, Any]) -> None:
    """Check the ``[backend]`` table of ``data``; put its normalised copy in ``out``.

    Raises
    ------
    ConfigError
        An unknown key, a key of another kind, an API key, or a bad value (naming it).
    """
    backend = table(source, "backend", data.get("backend", {"kind": "stub"}))
    kind = choice(source, "backend.kind", backend.get("kind", "stub"), tuple(BACKEND_KEYS))
    for key in sorted(set(backend) - _COMMON - BACKEND_KEYS[kind], key=str):
        if key.lower() in _SECRETS:
            raise config_error(
                source,
                f"backend.{key}",
                "an API key never goes in a config file (it would be copied to run_dir); "
                "set OPENAI_API_KEY, TOGETHER_API_KEY or TINKER_API_KEY instead",
            )
        if any(key in keys for keys in BACKEND_KEYS.values()):
            raise config_error(source, f"backend.{key}", f"does not apply to kind = {kind!r}")
        allowed = ", ".join(sorted(_COMMON | BACKEND_KEYS[kind]))
        raise config_error(
            source, f"backend.{key}", f"unknown key for kind = {kind!r}; allowed: {allowed}"
        )
    checked_ = dict(backend)
    if "base_model" in backend:
        text(source, "backend.base_model", backend["base_model"])
    if "hyperparameters" in backend:
        hp = table(source, "backend.hyperparameters", backend["hyperparameters"])
        if kind in ("stub", "openai"):  # the stub takes OpenAI's
            checked_["hyperparameters"] = checked(
                source,
                "backend.hyperparameters",
                check_hyperparameters,
                hp,
                "backend.hyperparameters",
            )
    if "base_url" in backend:
        url = backend["base_url"]
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise config_error(source, "backend.base_url", f"expected an http(s) URL, got {url!r}")
    if "serving" in backend:
        choice(source, "backend.serving", backend["serving"], ("dedicated", "serverless"))
    if "endpoints" in backend and not (
        isinstance(backend["endpoints"], dict)
        and all(isinstance(v, str) and v.strip() for v in backend["endpoints"].values())
    ):
        raise config_error(
            source, "backend.endpoints", "expected a table of model = endpoint names"
        )
    if "output_dir" in backend:
        text(source, "backend.output_dir", backend["output_dir"])
    if kind == "openai":
        for key, rule in OPENAI_SETTINGS.items():
            if key in backend:
                checked_[key] = rule(source, f"backend.{key}", backend[key])
        for key in ("prices", "sampling_prices", "fine_tuned_sampling_prices"):
            if key in backend:
                checked_[key] = _prices(
                    source, f"backend.{key}", backend[key], pairs=key != "prices"
                )
        if "price_date" in backend:
            checked_["price_date"] = _date(source, "backend.price_date", backend["price_date"])
    out["backend"] = checked_


def openai_prices(backend_cfg: Mapping[str, Any]) -> Any:
    """Return the :class:`~dataquality_thresholds.backends.PriceTable` of a checked table.

    None when the table overrides no price (the backend's bundled table). Overrides are
    merged over the bundled table, dated ``price_date`` (``"user"`` without one).
    """
    if not any(key in backend_cfg for key in OPENAI_PRICE_KEYS):
        return None
    from dataquality_thresholds.backends import PriceTable

    date = backend_cfg.get("price_date", "user")
    prices = PriceTable.default().with_prices(backend_cfg.get("prices", {}), date=date)
    if "sampling_prices" in backend_cfg:
        prices = prices.with_sampling_prices(backend_cfg["sampling_prices"])
    if "fine_tuned_sampling_prices" in backend_cfg:
        prices = prices.with_sampling_prices(
            backend_cfg["fine_tuned_sampling_prices"], fine_tuned=True
        )
    return prices


def hosted_backend(
    source: str, base: Any, seed: int, kind: str, backend_cfg: Mapping[str, Any]
) -> Any:
    """Build the OpenAI, Together or Tinker backend a checked table names (its SDK loads here).

    Parameters
    ----------
    source : str
        The config, for error messages.
    base : Path
        Folder that relative paths (``work_dir``, ``output_dir``) are resolved against.
    seed : int
        The study's seed (the backend's poll jitter, Tinker's training seed).
    kind : {"openai", "together", "tinker"}
        The backend.
    backend_cfg : mapping
        The checked ``[backend]`` table.
    """
    hp = backend_cfg.get("hyperparameters")
    if kind == "openai":
        from dataquality_thresholds.backends.openai import OpenAIBackend

        settings = {k: backend_cfg[k] for k in OPENAI_SETTINGS if k in backend_cfg}
        if "work_dir" in settings:
            settings["work_dir"] = base / settings["work_dir"]
        return OpenAIBackend(
            base_url=backend_cfg.get("base_url"),
            base_model=backend_cfg.get("base_model", "gpt-4o-2024-08-06"),
            prices=openai_prices(backend_cfg),
            seed=seed,
            **settings,
        )
    if kind == "together":
        from dataquality_thresholds.backends.together import TogetherBackend

        kw = {
            k: backend_cfg[k]
            for k in ("base_url", "base_model", "serving", "endpoints")
            if k in backend_cfg
        }
        try:
            return TogetherBackend(**kw, hyperparameters=hp)
        except ConfigError as exc:  # name the config file and the table
            raise config_error(
                source, f"backend.{exc.field or 'hyperparameters'}", str(exc)
            ) from exc
    from dataquality_thresholds.backends.tinker import TinkerBackend

    out = backend_cfg.get("output_dir", "tinker")
    kw = {k: backend_cfg[k] for k in ("base_url", "base_model") if k in backend_cfg}
    backend = TinkerBackend(**kw, output_dir=base / out, seed=seed)
    try:
        backend.settings(hp)  # the same check submit makes, before anything is paid
    except ConfigError as exc:
        raise config_error(source, f"backend.{exc.field or 'hyperparameters'}", str(exc)) from exc
    return backend
