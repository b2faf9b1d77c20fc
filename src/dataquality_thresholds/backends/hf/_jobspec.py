"""The training spec of an :class:`~dataquality_thresholds.backends.hf.HFBackend` job.

A job is adopted by key (the job id is a hash of the key), but the key a
``Study`` computes covers the study's settings, not the backend's own
(epochs, learning rate, LoRA, base model, max length, seed). So ``job.json``
records everything that determines the trained weights, and ``submit`` adopts
an existing job only when the recorded spec equals the new one.

Not in the spec, because they change how or where a job runs, not what it
learns: ``device``, ``precision`` (like the device, it changes the numerics, not
the training), ``save_steps``, ``max_concurrent``, ``max_restarts``,
``reuse_worker``, ``worker_idle_timeout``, ``on_truncation``,
``accelerate_config`` and ``python``. ``group_by_length`` and ``packing``
change which rows share a step, so they are in the spec, but only when on: a
job written before they existed is the same spec as one with both off.

:func:`job_settings` applies a submit's hyperparameters to the backend's
settings; :func:`check_spec` is the adoption check; :func:`check_options`
checks the backend's own arguments.

``job.json`` versions
---------------------
1. No ``training_spec``. :func:`read_job_meta` rebuilds it from the job's
   ``spec.json`` (what the worker trained from) and ``job.json``'s fingerprint;
   without a readable ``spec.json`` it is None (unknown).
2. ``training_spec`` as written by :func:`training_spec`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dataquality_thresholds.backends.hf._common import SMOLLM2, read_json
from dataquality_thresholds.backends.hf._lora import LoRASpec
from dataquality_thresholds.errors import ConfigError, SchemaVersionError

#: The values of ``HFBackend(precision=...)`` (the worker resolves ``"auto"``).
PRECISIONS = ("auto", "bf16", "fp16", "fp32")

#: The newest ``job.json`` version this library reads and writes.
JOB_SCHEMA_VERSION = 2

_HYPERPARAMETERS = (
    ("epochs", float),
    ("learning_rate", float),
    ("batch_size", int),
    ("grad_accum", int),
    ("max_seq_len", int),
)


def model_identity(base_model: str, source: Mapping[str, Any]) -> str:
    """Return what identifies the base model: the shortcut, or where it loads from.

    Parameters
    ----------
    base_model : str
        The name the backend was given.
    source : mapping
        Its :func:`~._common.resolve_model_source` description; local paths
        there are absolute, so ``./m`` and ``/abs/m`` are the same model.

    Returns
    -------
    str
        ``"smollm2"``, ``"hub:org/name"``, ``"dir:/abs/path"`` or
        ``"gguf:/abs/path/file.gguf"``.
    """
    if base_model == SMOLLM2:
        return SMOLLM2  # the package's file, wherever the environment installed it
    where = str(source["path"])
    if source.get("gguf_file"):
        where = f"{where.rstrip('/')}/{source['gguf_file']}"
    return f"{source['kind']}:{where}"


def _lora(lora: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not lora:
        return None
    modules = lora.get("target_modules")
    return {
        "r": int(lora["r"]),
        "alpha": float(lora["alpha"]),
        "dropout": float(lora["dropout"]),
        "target_modules": list(modules) if modules else None,
        "rslora": bool(lora.get("rslora", False)),
    }


def training_spec(
    *,
    model: str,
    fingerprint: str,
    settings: Mapping[str, Any],
    lora: Mapping[str, Any] | None,
    seed: int,
    batching: Mapping[str, bool] | None = None,
) -> dict[str, Any]:
    """Return everything that determines a job's trained weights, as plain JSON values.

    Parameters
    ----------
    model : str
        From :func:`model_identity`.
    fingerprint : str
        The mixture's fingerprint (the training rows).
    settings : mapping
        ``epochs``, ``learning_rate``, ``batch_size``, ``grad_accum`` and
        ``max_seq_len`` after the submit's hyperparameters were applied.
    lora : mapping or None
        :meth:`LoRASpec.to_dict`, or None for a full fine-tune.
    seed : int
        The training seed.
    batching : mapping of str to bool, optional
        ``group_by_length`` and ``packing``; only those that are on enter the spec.

    Raises
    ------
    ConfigError
        A hyperparameter is not a number.
    """
    spec: dict[str, Any] = {"base_model": model, "fingerprint": fingerprint}
    for name, kind in _HYPERPARAMETERS:
        try:
            spec[name] = kind(settings[name])
        except (TypeError, ValueError) as exc:
            raise ConfigError(
                f"hyperparameter {name} must be a number, got {settings[name]!r}",
                field="hyperparameters",
            ) from exc
    spec["lora"] = _lora(lora)
    spec["seed"] = int(seed)
    for name, on in sorted((batching or {}).items()):
        if on:
            spec[name] = True
    return spec


def _spec_from_v1(meta: Mapping[str, Any], job_dir: Path) -> dict[str, Any] | None:
    """Rebuild a version-1 job's spec from the ``spec.json`` its worker trained from."""
    try:
        worker = read_json(job_dir / "spec.json")
        if not isinstance(worker, Mapping):
            return None
        return training_spec(
            model=model_identity(meta["base_model"], worker["source"]),
            fingerprint=meta["fingerprint"],
            settings=worker,
            lora=worker.get("lora"),
            seed=worker["seed"],
        )
    except (KeyError, TypeError, ValueError):  # ValueError: bad JSON, or ConfigError
        return None


def read_job_meta(job_dir: Path) -> dict[str, Any] | None:
    """Read ``job_dir/job.json`` as the current version, or None when there is none.

    A version-1 file gets ``training_spec`` rebuilt from ``spec.json`` (None
    when that cannot be read: the spec is unknown).

    Raises
    ------
    SchemaVersionError
        The file was written by a newer version of the library.
    """
    path = job_dir / "job.json"
    meta = read_json(path)
    if meta is None:
        return None
    version = int(meta.get("schema_version", 1))
    if version > JOB_SCHEMA_VERSION:
        raise SchemaVersionError(
            f"job.json has schema_version {version}; this version of dataquality_thresholds "
            f"reads up to {JOB_SCHEMA_VERSION}: upgrade it, or use another output_dir",
            found=version,
            supported=JOB_SCHEMA_VERSION,
            path=path,
        )
    if version < 2:
        meta = {**meta, "schema_version": 2, "training_spec": _spec_from_v1(meta, job_dir)}
    return dict(meta)


def spec_differences(recorded: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Return ``"field: recorded -> new"`` for each field that differs (nested as ``lora.r``)."""
    out: list[str] = []

    def walk(old: Mapping[str, Any], now: Mapping[str, Any], prefix: str) -> None:
        for name in sorted(set(old) | set(now)):
            a, b = old.get(name), now.get(name)
            if isinstance(a, Mapping) and isinstance(b, Mapping):
                walk(a, b, f"{prefix}{name}.")
            elif a != b:
                out.append(f"{prefix}{name}: {a!r} -> {b!r}")

    walk(recorded, new, "")
    return out


def job_settings(
    defaults: Mapping[str, Any], hyperparameters: Mapping[str, Any] | None
) -> dict[str, Any]:
    """Apply a submit's ``hyperparameters`` to the backend's settings.

    Parameters
    ----------
    defaults : mapping
        The backend's ``epochs``, ``learning_rate``, ``batch_size``,
        ``grad_accum`` and ``max_seq_len``.
    hyperparameters : mapping, optional
        OpenAI-style overrides: ``n_epochs`` (alias of ``epochs``),
        ``learning_rate_multiplier`` (times the backend's ``learning_rate``) or
        any of the settings by name; ``"auto"`` keeps the backend's value.

    Returns
    -------
    dict
        The five settings.

    Raises
    ------
    ConfigError
        An unknown hyperparameter.
    """
    hp = dict(hyperparameters or {})
    out = dict(defaults)
    aliases = {"n_epochs": "epochs"}
    for k, v in hp.items():
        if v == "auto":
            continue
        if k == "learning_rate_multiplier":
            out["learning_rate"] = defaults["learning_rate"] * float(v)
        elif aliases.get(k, k) in out:
            out[aliases.get(k, k)] = v
        else:
            raise ConfigError(
                f"unknown hyperparameter {k!r}; known: n_epochs, epochs, batch_size, "
                "learning_rate, learning_rate_multiplier, grad_accum, max_seq_len",
                field="hyperparameters",
            )
    return out


def check_spec(
    key: str,
    job_id: str,
    recorded: Mapping[str, Any] | None,
    new: Mapping[str, Any],
    *,
    output_dir: Path,
    warned: set[str],
) -> None:
    """Refuse to adopt job ``job_id`` when it was trained from another spec.

    Call it from ``HFBackend.submit`` itself: the warning points at the
    caller of ``submit``.

    Parameters
    ----------
    key : str
        The submit's idempotency key.
    job_id : str
        The job the key names.
    recorded : mapping or None
        The job's recorded training spec; None when it cannot be read.
    new : mapping
        The spec the submit would train from.
    output_dir : Path
        The backend's output folder (named in the messages).
    warned : set of str
        Job ids already warned about; ``job_id`` is added when it is warned about.

    Raises
    ------
    ConfigError
        The specs differ (the message names the fields).

    Warns
    -----
    UserWarning
        No recorded spec: the job is adopted unchecked (once per job id and ``warned``).
    """
    if recorded is None:
        if job_id not in warned:
            warned.add(job_id)
            warnings.warn(
                f"HF job {job_id} (key {key!r}) in {output_dir} has no readable "
                "training spec (written by an older version, spec.json missing); "
                "adopting it without checking that its settings match this backend's",
                UserWarning,
                stacklevel=3,
            )
        return
    diffs = spec_differences(recorded, new)
    if diffs:
        raise ConfigError(
            f"key {key!r} names job {job_id} in {output_dir}, trained with other "
            f"settings ({'; '.join(diffs)}; recorded -> now); adopting it would mix "
            "results of differently trained models: use a new key or another "
            "output_dir for these settings, or the recorded settings to adopt the job",
            field="key",
        )


def check_options(
    *,
    epochs: Any,
    learning_rate: Any,
    batch_size: Any,
    grad_accum: Any,
    max_seq_len: Any,
    max_concurrent: Any,
    on_truncation: Any,
    lora: Any,
    accelerate_config: str | Path | None,
    reuse_worker: bool | None,
    worker_idle_timeout: Any,
    precision: Any,
    device: str | None,
) -> bool:
    """Check :class:`~dataquality_thresholds.backends.hf.HFBackend`'s arguments.

    Returns
    -------
    bool
        Whether jobs train in pool workers: ``reuse_worker``, or when None,
        True unless ``accelerate_config`` is given.

    Raises
    ------
    ConfigError
        A value out of range (the error names the field), an accelerate config
        file that does not exist, ``reuse_worker=True`` with an accelerate
        config, ``precision="fp16"`` on ``device="cpu"``.
    """
    for field, value, zero_ok in (
        ("epochs", epochs, False),
        ("learning_rate", learning_rate, False),
        ("worker_idle_timeout", worker_idle_timeout, True),
    ):
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not (number and math.isfinite(value) and (value > 0 or (zero_ok and value == 0))):
            kind = "a number >= 0" if zero_ok else "a positive number"
            raise ConfigError(f"{field} must be {kind}, got {value!r}", field=field)
    for field, ivalue in (
        ("batch_size", batch_size),
        ("grad_accum", grad_accum),
        ("max_seq_len", max_seq_len),
        ("max_concurrent", max_concurrent),
    ):
        if isinstance(ivalue, bool) or not isinstance(ivalue, int) or ivalue < 1:
            raise ConfigError(f"{field} must be an int >= 1, got {ivalue!r}", field=field)
    if on_truncation not in ("report", "error"):
        raise ConfigError("on_truncation must be 'report' or 'error'", field="on_truncation")
    if lora is not None and not isinstance(lora, LoRASpec):
        raise ConfigError("lora must be a LoRASpec or None", field="lora")
    if accelerate_config is not None and not Path(accelerate_config).is_file():
        raise ConfigError(
            f"accelerate config {str(accelerate_config)!r} does not exist",
            field="accelerate_config",
        )
    if precision not in PRECISIONS:
        raise ConfigError(
            f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}",
            field="precision",
        )
    if precision == "fp16" and device == "cpu":
        raise ConfigError(
            "precision='fp16' needs a GPU (fp16 mixed precision does not run on the CPU); "
            "use 'auto', 'bf16' or 'fp32'",
            field="precision",
        )
    if reuse_worker is not None and not isinstance(reuse_worker, bool):
        raise ConfigError(f"reuse_worker must be True, False or None, got {reuse_worker!r}",
                          field="reuse_worker")  # fmt: skip
    if reuse_worker and accelerate_config is not None:
        raise ConfigError(
            "reuse_worker=True trains in one process; a multi-process accelerate launch "
            "runs one job per launch: leave reuse_worker unset or False",
            field="reuse_worker",
        )
    return accelerate_config is None if reuse_worker is None else reuse_worker
