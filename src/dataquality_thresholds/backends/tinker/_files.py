"""A Tinker job's folder and names: what is written where, and what is named after what.

``output_dir/jobs/<job_id>/`` holds

* ``train.jsonl``: the mixture's rows as ``{"messages": [...]}``;
* ``spec.json``: what the worker trains (model, tokenizer, hyperparameters, seed,
  the service's base URL; never the API key);
* ``job.json``: the job's record, written last (its presence means the job exists);
* ``state.json``: the worker's progress (status, step, loss, runs, model path);
* ``worker.log`` and ``worker.lock`` (held by a live worker).

The job id is a hash of the key, and every name the service sees derives from it:
training runs carry ``user_metadata={"dqt_key": key, "dqt_job": job_id, ...}``,
checkpoints are ``dqt-<hash>-s<step>``, the sampler weights ``dqt-<hash>-final``. So
a key's runs are found again through the service even when this folder is gone.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from dataquality_thresholds._util.atomic import atomic_write
from dataquality_thresholds.errors import SchemaVersionError

__all__ = [
    "JOB_SCHEMA_VERSION",
    "SPEC_FIELDS",
    "checkpoint_name",
    "job_id_for",
    "now",
    "parse_step",
    "parse_time",
    "read_job",
    "read_json",
    "sampler_name",
    "spec_hash",
    "write_json",
]

#: Version of ``job.json``.
JOB_SCHEMA_VERSION = 1

#: What determines the trained weights: a key is adopted only when these match.
SPEC_FIELDS = (
    "base_model",
    "fingerprint",
    "tokenizer",
    "template_kwargs",
    "epochs",
    "batch_size",
    "learning_rate",
    "lr_schedule",
    "lora_rank",
    "max_seq_len",
    "seed",
)


def now() -> datetime:
    """Return the current UTC time, to the second."""
    return datetime.now(timezone.utc).replace(microsecond=0)


def parse_time(value: str | None) -> datetime | None:
    """Parse an ISO 8601 timestamp; None or an empty string gives None."""
    return datetime.fromisoformat(value) if value else None


def job_id_for(key: str) -> str:
    """Return the job id of an idempotency key.

    Examples
    --------
    >>> job_id_for("finance/obvious/0.50/rep0")
    'tinkerjob-baa06f2d4fa8a3f9'
    """
    return "tinkerjob-" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


def checkpoint_name(job_id: str, step: int) -> str:
    """Return the name of the training checkpoint after ``step`` optimizer steps."""
    return f"dqt-{job_id.removeprefix('tinkerjob-')}-s{step:07d}"


def sampler_name(job_id: str) -> str:
    """Return the name of a job's final sampler weights."""
    return f"dqt-{job_id.removeprefix('tinkerjob-')}-final"


def parse_step(job_id: str, checkpoint_id: str) -> int | None:
    """Return the step of one of the job's training checkpoints, else None.

    ``checkpoint_id`` is the service's id (``weights/<name>``) or the bare name.
    """
    prefix = checkpoint_name(job_id, 0)[:-7]
    name = checkpoint_id.rsplit("/", 1)[-1]
    if not name.startswith(prefix) or not name[len(prefix) :].isdigit():
        return None
    return int(name[len(prefix) :])


def spec_hash(spec: Mapping[str, Any]) -> str:
    """Return a short hash of the training spec's :data:`SPEC_FIELDS`."""
    doc = {k: spec.get(k) for k in SPEC_FIELDS}
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def write_json(path: Path, obj: Any) -> None:
    """Write ``obj`` as JSON (sorted keys, UTF-8), renamed into place."""
    with atomic_write(path) as fh:
        fh.write(json.dumps(obj, sort_keys=True, allow_nan=False, indent=1).encode("utf-8"))


def read_json(path: Path) -> Any:
    """Read JSON, or None when the file does not exist."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None


def read_job(jdir: Path) -> dict[str, Any] | None:
    """Return a job folder's ``job.json``, or None when the job does not exist there.

    Raises
    ------
    SchemaVersionError
        It was written by a newer version of the library.
    """
    meta = read_json(jdir / "job.json")
    if meta is None:
        return None
    found = int(meta.get("schema_version", 0))
    if found > JOB_SCHEMA_VERSION:
        raise SchemaVersionError(
            f"{jdir / 'job.json'} was written by a newer version (schema {found}); upgrade "
            "dataquality_thresholds",
            found=found,
            supported=JOB_SCHEMA_VERSION,
            path=jdir / "job.json",
        )
    return dict(meta)
