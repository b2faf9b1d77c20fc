"""What the Together backend sends with a fine-tune, and how a Together job becomes a record.

Plain functions on plain JSON (the decoded bodies of Together's REST API), no
HTTP here. The idempotency contract lives in one place: a Together job has no
metadata, so the only field of ours it carries is ``suffix`` (at most 40
characters, part of the output model's name). It holds
``dqt-<16 hex of sha256(key)>-<first 10 hex of the fingerprint>``: a listing
finds the job of a key by its suffix, and a job whose suffix names the key but
another fingerprint is the key reused for other data (a :class:`ConfigError`).
Training files are named ``dqt-<fingerprint>.jsonl``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

import attrs

from dataquality_thresholds.backends._records import CostEstimate, FineTuneJob
from dataquality_thresholds.errors import ConfigError

__all__ = [
    "ACTIVE_STATUSES",
    "HP_NAMES",
    "STATUS_MAP",
    "TogetherLoRA",
    "check_hyperparameters",
    "check_key",
    "cost_from_remote",
    "create_body",
    "error_of",
    "job_record",
    "job_suffix",
    "matches_key",
    "oldest",
    "parse_time",
    "training_filename",
    "with_events",
]

#: Hyperparameters a job accepts (Together's names): epochs, batch size ("max" or an
#: int), and the absolute learning rate.
HP_NAMES = ("n_epochs", "batch_size", "learning_rate")
#: Together's job statuses -> :class:`FineTuneJob` statuses (unknown ones: running).
STATUS_MAP = {
    "pending": "pending",
    "queued": "queued",
    "running": "running",
    "compressing": "running",
    "uploading": "running",
    "cancel_requested": "running",
    "cancelled": "cancelled",
    "completed": "succeeded",
    "error": "failed",
    "user_error": "failed",
}
#: Together statuses of a job that still runs (or waits to).
ACTIVE_STATUSES = ("pending", "queued", "running", "compressing", "uploading", "cancel_requested")
_SUFFIX_RE = re.compile(r"dqt-([0-9a-f]{16})-([0-9a-f]{10})")
_NANODOLLARS = 1e9  # the unit of a job's ``total_price`` (the SDK divides by 1e9)
# CostEstimate marks a provider-reported cost ``actual`` in versions that have the field
_ACTUAL: dict[str, Any] = {"actual": True} if "actual" in attrs.fields_dict(CostEstimate) else {}


@attrs.frozen(kw_only=True)
class TogetherLoRA:
    """LoRA settings of a Together fine-tune (``training_type={"type": "Lora", ...}``).

    Parameters
    ----------
    r : int
        Adapter rank.
    alpha : int, optional
        Scaling; default ``2 * r`` (Together's default).
    dropout : float
        Dropout on the adapter inputs.
    trainable_modules : str
        ``"all-linear"`` or a comma-separated list of modules.
    """

    r: int = attrs.field(default=16, validator=attrs.validators.gt(0))
    alpha: int | None = attrs.field(default=None)
    dropout: float = attrs.field(
        default=0.0, validator=[attrs.validators.ge(0.0), attrs.validators.lt(1.0)]
    )
    trainable_modules: str = attrs.field(default="all-linear")

    def training_type(self) -> dict[str, Any]:
        """Return the ``training_type`` object of the create request."""
        return {
            "type": "Lora",
            "lora_r": self.r,
            "lora_alpha": self.alpha if self.alpha is not None else 2 * self.r,
            "lora_dropout": self.dropout,
            "lora_trainable_modules": self.trainable_modules,
        }


# ---------------------------------------------------------------------- requests
def check_key(key: Any) -> None:
    """Raise :class:`ConfigError` unless ``key`` is a non-blank string of at most 512 characters."""
    if not isinstance(key, str) or not key.strip() or len(key) > 512:
        raise ConfigError("key must be a non-empty string of at most 512 characters", field="key")


def check_hyperparameters(hp: Mapping[str, Any] | None) -> dict[str, Any]:
    """Validate Together hyperparameters; return a copy.

    ``n_epochs`` is an int >= 1, ``batch_size`` an int >= 1 or ``"max"``,
    ``learning_rate`` a number > 0. OpenAI's ``"auto"`` and
    ``learning_rate_multiplier`` do not exist on Together and are refused.
    """
    out: dict[str, Any] = {}
    for name, value in (hp or {}).items():
        if name not in HP_NAMES:
            raise ConfigError(
                f"unknown Together hyperparameter {name!r}; expected {', '.join(HP_NAMES)} "
                "(learning_rate is absolute, there is no multiplier)",
                field=f"hyperparameters.{name}",
            )
        number = not isinstance(value, bool) and isinstance(value, int | float)
        if name == "learning_rate":
            ok = number and value > 0
        elif name == "batch_size" and value == "max":
            ok = True
        else:
            ok = number and isinstance(value, int) and value >= 1
        if not ok:
            raise ConfigError(
                f"{name} must be {'a number > 0' if name == 'learning_rate' else 'an int >= 1'}"
                f"{' or max' if name == 'batch_size' else ''}, got {value!r}",
                field=f"hyperparameters.{name}",
            )
        out[name] = value
    return out


def training_filename(fingerprint: str) -> str:
    """Return the name under which a mixture's training file is uploaded (and found again)."""
    return f"dqt-{fingerprint}.jsonl"


def job_suffix(key: str, fingerprint: str) -> str:
    """Return the ``suffix`` that marks the job of ``key`` (31 characters, Together allows 40)."""
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]
    return f"dqt-{digest}-{fingerprint[:10]}"


def create_body(
    *,
    model: str,
    file_id: str,
    suffix: str,
    hp: Mapping[str, Any],
    lora: TogetherLoRA | None,
    seed: int,
) -> dict[str, Any]:
    """Return the JSON body of ``POST /fine-tunes`` (supervised, one checkpoint, no evals).

    The fields and their defaults are those the ``together`` SDK (3.x) sends.
    """
    return {
        "model": model,
        "training_file": file_id,
        "suffix": suffix,
        "n_epochs": int(hp.get("n_epochs", 1)),
        "batch_size": hp.get("batch_size", "max"),
        "learning_rate": float(hp.get("learning_rate", 1e-5)),
        "n_evals": 0,
        "n_checkpoints": 1,
        "training_type": lora.training_type() if lora is not None else {"type": "Full"},
        "training_method": {"method": "sft", "train_on_inputs": "auto"},
        "lr_scheduler": {
            "lr_scheduler_type": "cosine",
            "lr_scheduler_args": {"min_lr_ratio": 0.0, "num_cycles": 0.5},
        },
        "warmup_ratio": 0.0,
        "max_grad_norm": 1.0,
        "weight_decay": 0.0,
        "random_seed": seed,
    }


# ---------------------------------------------------------------------- lookups
def parse_time(value: Any) -> datetime | None:
    """Read a Together timestamp (ISO 8601 string, or Unix seconds) as aware UTC."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float):
        return datetime.fromtimestamp(float(value), tz=timezone.utc)
    text = str(value).replace("Z", "+00:00")
    try:
        stamp = datetime.fromisoformat(text)
    except ValueError:
        return None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=timezone.utc)
    return stamp.astimezone(timezone.utc)


def oldest(items: Iterable[Mapping[str, Any]]) -> Mapping[str, Any]:
    """Return the oldest of several jobs or files (by creation time, then id)."""
    far = datetime.max.replace(tzinfo=timezone.utc)
    return min(items, key=lambda it: (parse_time(it.get("created_at")) or far, str(it.get("id"))))


def matches_key(remote: Mapping[str, Any], suffix: str) -> bool | None:
    """Whether a listed job is the job of the key behind ``suffix``.

    Returns True (same key and data), False (not this key), or None (this key,
    other training data).
    """
    theirs = str(remote.get("suffix") or "")
    if not theirs:  # some listings leave it out; the output name carries it
        name = str(remote.get("model_output_name") or remote.get("output_name") or "")
        found = _SUFFIX_RE.search(name)
        theirs = found.group(0) if found else ""
    if theirs == suffix:
        return True
    mine = _SUFFIX_RE.fullmatch(suffix)
    other = _SUFFIX_RE.search(theirs)
    if mine and other and other.group(1) == mine.group(1):
        return None
    return False


# ---------------------------------------------------------------------- records
def error_of(remote: Mapping[str, Any], events: Sequence[Mapping[str, Any]]) -> str | None:
    """Return why a job failed: its error field, else the last error event's message."""
    err = remote.get("error")
    if isinstance(err, Mapping) and err.get("message"):
        return str(err["message"])
    if isinstance(err, str) and err:
        return err
    for ev in reversed(events):
        if str(ev.get("level") or "").lower() == "error" or ev.get("type") in (
            "job_error",
            "job_user_error",
        ):
            return str(ev.get("message") or "") or None
    return None


def cost_from_remote(
    remote: Mapping[str, Any], prior: CostEstimate | None, *, price: float | None
) -> CostEstimate | None:
    """Return the job's cost once Together reports tokens or a price, else ``prior``.

    ``total_price`` (nanodollars) is the true cost; without it, ``token_count``
    (tokens of one pass over the file) x epochs x ``price`` (USD per million).
    """
    tokens = remote.get("token_count")
    total = remote.get("total_price")
    if tokens is None and total is None:
        return prior
    epochs = int(remote.get("n_epochs") or (prior.epochs if prior else 1) or 1)
    n_tokens = int(tokens) if tokens is not None else (prior.tokens if prior else 0)
    model = str(remote.get("model") or (prior.base_model if prior else "unknown"))
    if total is not None:
        usd = float(total) / _NANODOLLARS
        rate = usd * 1e6 / (n_tokens * epochs) if n_tokens else 0.0
        date: str | None = "together"
    elif price is not None:
        usd, rate = n_tokens * epochs * price / 1e6, price
        date = prior.price_date if prior else None
    else:
        return prior
    return CostEstimate(
        tokens=n_tokens,
        epochs=epochs,
        usd=usd,
        base_model=model,
        usd_per_million=rate,
        price_date=date,
        n_examples=prior.n_examples if prior else 0,
        **_ACTUAL,
    )


def job_record(
    remote: Mapping[str, Any],
    *,
    key: str,
    fingerprint: str,
    backend: str,
    rejection: re.Pattern[str],
    prior: FineTuneJob | None = None,
    events: Sequence[Mapping[str, Any]] = (),
    price: float | None = None,
) -> FineTuneJob:
    """Convert a Together job (decoded JSON) into a :class:`FineTuneJob`.

    A failed job (``error`` or ``user_error``) whose reason matches
    ``rejection`` is ``rejected``: Together refused the data, a result.
    """
    raw = str(remote.get("status") or "pending")
    status = STATUS_MAP.get(raw, "running")
    code = message = None
    if status == "failed":
        code, message = raw, error_of(remote, events) or f"the job ended with status {raw}"
        if rejection.search(f"{code} {message}"):
            status = "rejected"
    hp = {n: remote[n] for n in HP_NAMES if remote.get(n) is not None}
    ttype = remote.get("training_type")
    if isinstance(ttype, Mapping) and ttype.get("type") == "Lora":
        hp.update({k: ttype[k] for k in ("lora_r", "lora_alpha") if ttype.get(k) is not None})
    elif isinstance(ttype, Mapping) and ttype.get("type"):
        hp["training_type"] = ttype["type"]
    output = remote.get("model_output_name") or None
    done = status in ("succeeded", "failed", "rejected", "cancelled")
    tokens = remote.get("token_count")
    epochs = remote.get("n_epochs") or 1
    prior_cost = prior.cost if prior else None
    return FineTuneJob(
        key=key,
        backend=backend,
        base_model=str(remote.get("model") or (prior.base_model if prior else "unknown")),
        fingerprint=fingerprint,
        status=status,
        job_id=str(remote["id"]),
        file_id=remote.get("training_file") or (prior.file_id if prior else None),
        fine_tuned_model=output if status == "succeeded" else None,
        error_code=code,
        error_message=message,
        trained_tokens=int(tokens) * int(epochs) if tokens is not None else None,
        hyperparameters=hp,
        created_at=parse_time(remote.get("created_at")),
        finished_at=parse_time(remote.get("updated_at")) if done else None,
        events=prior.events if prior else (),
        metrics=prior.metrics if prior else {},
        cost=cost_from_remote(remote, prior_cost, price=price),
    )


def with_events(job: FineTuneJob, events: Sequence[Mapping[str, Any]]) -> FineTuneJob:
    """Add a job's events (oldest first) and the progress they report to its record."""
    ordered = sorted(events, key=lambda ev: str(ev.get("created_at") or ""))
    metrics: dict[str, float] = dict(job.metrics)
    for ev in ordered:
        for name in ("step", "total_steps", "token_count", "param_count"):
            value = ev.get(name)
            if isinstance(value, int | float) and not isinstance(value, bool):
                metrics[name] = float(value)
    messages = tuple(str(ev.get("message") or ev.get("type") or "") for ev in ordered)
    return attrs.evolve(
        job,
        events=messages if len(messages) >= len(job.events) else job.events,
        metrics=metrics,
    )
