"""What the Tinker backend asks the service, through the ``tinker`` SDK, and its errors.

Used by the backend (finding a key's runs before anything is started) and by the
worker (finding them again before training, resuming, training). The SDK is
imported on first use only.

Finding a key's runs (:func:`survey`): ``RestClient.list_training_runs`` pages
through every run of the account; runs whose ``user_metadata["dqt_key"]`` is the
key are the key's. Their checkpoints (``RestClient.list_checkpoints``) say how far
the key got: final sampler weights named :func:`~._files.sampler_name` mean it
finished; the training checkpoint with the highest step is where to resume.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from dataquality_thresholds.backends.tinker._files import parse_step, sampler_name
from dataquality_thresholds.errors import BackendError, BackendUnavailableError

__all__ = [
    "ApiKey",
    "TinkerSurvey",
    "rest_client",
    "run_metadata",
    "sdk",
    "service_client",
    "survey",
    "translate",
]

_PAGE = 100


class ApiKey:
    """Holds a Tinker API key so that no repr, str, log line or pickle can show it."""

    __slots__ = ("_value",)

    def __init__(self, value: str | None) -> None:
        self._value = value

    def get(self) -> str | None:
        """Return the key itself (to hand to the SDK or a worker's environment)."""
        return self._value

    def __repr__(self) -> str:
        return "'***'" if self._value else "None"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("an API key is not pickled; build the backend again in the new process")


def sdk() -> Any:
    """Return the ``tinker`` module.

    Raises
    ------
    BackendUnavailableError
        It is not installed (``pip install "dataquality_thresholds[tinker]"``).
    """
    try:
        import tinker
    except ImportError as exc:
        raise BackendUnavailableError(
            'the Tinker SDK is not installed: pip install "dataquality_thresholds[tinker]"'
        ) from exc
    return tinker


def translate(exc: BaseException, what: str) -> BackendError:
    """Return our error for an SDK failure while doing ``what``.

    Missing or refused credentials and unreachable endpoints are
    :class:`BackendUnavailableError`; everything else a :class:`BackendError`
    naming the status and what was being done.
    """
    tinker = sdk()
    status = getattr(exc, "status_code", None)
    detail = str(exc)
    if isinstance(exc, tinker.AuthenticationError | tinker.PermissionDeniedError):
        return BackendUnavailableError(
            f"Tinker refused the credentials while {what} ({status}): {detail}. Check "
            "TINKER_API_KEY or api_key=..."
        )
    if isinstance(exc, tinker.BillingError):
        return BackendError(f"Tinker's billing stopped {what} (402): {detail}; add credit")
    if isinstance(exc, tinker.APIConnectionError):
        return BackendUnavailableError(f"cannot reach Tinker while {what}: {detail}")
    if isinstance(exc, tinker.APIStatusError):
        return BackendError(f"Tinker answered {status} while {what}: {detail}")
    if isinstance(exc, tinker.TinkerError) and "api_key" in detail:
        return BackendUnavailableError(
            f"no Tinker API key: set TINKER_API_KEY or pass api_key=... ({detail})"
        )
    return BackendError(f"Tinker failed while {what}: {type(exc).__name__}: {detail}")


def rest_client(base_url: str | None, api_key: ApiKey) -> Any:
    """Return a session-less ``tinker.RestClient`` (for listings; starts no session)."""
    tinker = sdk()
    try:
        return tinker.RestClient(base_url=base_url, api_key=api_key.get())
    except Exception as exc:  # the SDK raises plain TinkerError / ValueError here
        raise translate(exc, "connecting") from exc


def service_client(base_url: str | None, api_key: ApiKey) -> Any:
    """Return a ``tinker.ServiceClient`` (its session starts on first use)."""
    tinker = sdk()
    return tinker.ServiceClient(base_url=base_url, api_key=api_key.get())


def run_metadata(
    *,
    key: str,
    job_id: str,
    fingerprint: str,
    spec: str,
    resumed_from: str | None = None,
) -> dict[str, str]:
    """Return the ``user_metadata`` every training run of a job carries."""
    out = {
        "dqt_key": key,
        "dqt_job": job_id,
        "dqt_fingerprint": fingerprint,
        "dqt_spec": spec,
    }
    if resumed_from is not None:
        out["dqt_resumed_from"] = resumed_from
    return out


@attrs.frozen(kw_only=True)
class TinkerSurvey:
    """What the service holds for one key.

    Parameters
    ----------
    runs : tuple of str
        The key's training runs (ids), sorted.
    fresh_runs : tuple of str
        Those created from the base model (the others were resumed from a checkpoint).
    specs, fingerprints : frozenset of str
        The ``dqt_spec`` and ``dqt_fingerprint`` the runs carry.
    final_path : str, optional
        The finished job's sampler weights (``tinker://...``).
    last_step : int, optional
        The highest step of the job's training checkpoints.
    last_path : str, optional
        That checkpoint (``tinker://.../weights/...``).
    """

    runs: tuple[str, ...] = ()
    fresh_runs: tuple[str, ...] = ()
    specs: frozenset[str] = frozenset()
    fingerprints: frozenset[str] = frozenset()
    final_path: str | None = None
    last_step: int | None = None
    last_path: str | None = None


def _result(future: Any, what: str) -> Any:
    try:
        return future.result()
    except Exception as exc:
        raise translate(exc, what) from exc


def find_runs(rest: Any, key: str) -> list[Any]:
    """Return the training runs whose ``user_metadata["dqt_key"]`` is ``key``, sorted by id."""
    found: list[Any] = []
    offset = 0
    while True:
        page = _result(rest.list_training_runs(limit=_PAGE, offset=offset), "listing training runs")
        for run in page.training_runs:
            if (run.user_metadata or {}).get("dqt_key") == key:
                found.append(run)
        offset += len(page.training_runs)
        if not page.training_runs or offset >= page.cursor.total_count:
            break
    return sorted(found, key=lambda r: r.training_run_id)


def survey(rest: Any, key: str, job_id: str) -> TinkerSurvey:
    """Find ``key``'s runs and checkpoints through the service (see the module docstring)."""
    runs = find_runs(rest, key)
    final: tuple[Any, str] | None = None
    last: tuple[int, str] | None = None
    for run in runs:
        listing = _result(
            rest.list_checkpoints(run.training_run_id),
            f"listing checkpoints of {run.training_run_id}",
        )
        for c in listing.checkpoints:
            if c.checkpoint_type == "sampler" and c.checkpoint_id.endswith(sampler_name(job_id)):
                if final is None or c.time < final[0]:
                    final = (c.time, c.tinker_path)
            elif c.checkpoint_type == "training":
                step = parse_step(job_id, c.checkpoint_id)
                if step is not None and (last is None or step > last[0]):
                    last = (step, c.tinker_path)
    meta: list[Mapping[str, str]] = [r.user_metadata or {} for r in runs]
    return TinkerSurvey(
        runs=tuple(r.training_run_id for r in runs),
        fresh_runs=tuple(
            r.training_run_id
            for r, m in zip(runs, meta, strict=True)
            if "dqt_resumed_from" not in m
        ),
        specs=frozenset(m["dqt_spec"] for m in meta if "dqt_spec" in m),
        fingerprints=frozenset(m["dqt_fingerprint"] for m in meta if "dqt_fingerprint" in m),
        final_path=final[1] if final else None,
        last_step=last[0] if last else None,
        last_path=last[1] if last else None,
    )
