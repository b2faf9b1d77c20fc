r"""Errors and warnings raised by dataquality_thresholds.

Everything the library raises derives from :class:`DataQualityThresholdsError`
and, where one fits, from a builtin too (``ConfigError`` and ``DataError`` are
``ValueError``\\ s), so ``except ValueError`` keeps working for callers who do not
know this tree. Errors carry the facts as fields (``path``, ``line``, ``field``,
``job_id`` ...) as well as in the message.

Statistical trouble is reported as a warning under :class:`ThresholdWarning` so
it can be filtered as a group.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = [
    "BackendError",
    "BackendUnavailableError",
    "BudgetExceededError",
    "ConfigError",
    "ConvergenceWarning",
    "DataError",
    "DataQualityThresholdsError",
    "FineTuneJobError",
    "FitError",
    "InsufficientDataError",
    "JobTimeoutError",
    "RunLockedError",
    "SandboxUnavailableError",
    "SchemaVersionError",
    "SeparationWarning",
    "ThresholdWarning",
    "TokenizerUnavailableError",
]


class DataQualityThresholdsError(Exception):
    """Root of every error raised by this library."""


class ConfigError(DataQualityThresholdsError, ValueError):
    """Bad arguments or an impossible specification.

    Parameters
    ----------
    message : str
        What was expected, what arrived, and what to try.
    field : str, optional
        The argument or spec field at fault.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class BudgetExceededError(ConfigError):
    """A study's planned or actual spend exceeds its ``budget_usd``.

    Parameters
    ----------
    message : str
        Explanation.
    planned_usd : float
        What the plan (or the spend so far plus the next job) would cost.
    budget_usd : float
        The budget.
    """

    def __init__(self, message: str, *, planned_usd: float, budget_usd: float) -> None:
        super().__init__(message, field="budget_usd")
        self.planned_usd = planned_usd
        self.budget_usd = budget_usd


class RunLockedError(ConfigError):
    """Another process holds a run directory: one writer per ``run_dir``.

    Parameters
    ----------
    message : str
        Explanation (names the holder and what to do).
    path : str or Path
        The run directory.
    pid : int, optional
        The holder's process id, as it wrote it next to the lock.
    started_at : str, optional
        When the holder took the lock (UTC, ISO 8601).
    host : str, optional
        The holder's host name.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | Path,
        pid: int | None = None,
        started_at: str | None = None,
        host: str | None = None,
    ) -> None:
        super().__init__(message, field="run_dir")
        self.path = str(path)
        self.pid = pid
        self.started_at = started_at
        self.host = host


class DataError(DataQualityThresholdsError, ValueError):
    """Malformed examples, files or empty inputs.

    The message is prefixed with the location, ``path:line: field 'x': ...``,
    for whichever of those are known.

    Parameters
    ----------
    message : str
        What is wrong and what was expected.
    path : str or Path, optional
        The file being read or written.
    line : int, optional
        1-based line number in ``path`` (or row number for in-memory data).
    field : str, optional
        The field at fault, as a dotted path (``messages[2].role``).
    id : str, optional
        The id of the example at fault, when it has one.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        line: int | None = None,
        field: str | None = None,
        id: str | None = None,
    ) -> None:
        self.reason = message
        self.path = None if path is None else str(path)
        self.line = line
        self.field = field
        self.id = id
        super().__init__(self._format())

    def _format(self) -> str:
        where = []
        if self.path is not None:
            where.append(self.path if self.line is None else f"{self.path}:{self.line}")
        elif self.line is not None:
            where.append(f"row {self.line}")
        if self.id is not None:
            where.append(f"id {self.id!r}")
        if self.field is not None:
            where.append(f"field '{self.field}'")
        return (": ".join([", ".join(where), self.reason])) if where else self.reason


class SchemaVersionError(DataError):
    """A file was written by a newer version of the library.

    Parameters
    ----------
    message : str
        Explanation.
    found : int
        The schema version in the file.
    supported : int
        The newest version this library reads.
    **where
        ``path``, ``line``, ``field`` as for :class:`DataError`.
    """

    def __init__(self, message: str, *, found: int, supported: int, **where: object) -> None:
        self.found = found
        self.supported = supported
        super().__init__(message, **where)  # type: ignore[arg-type]


class BackendError(DataQualityThresholdsError):
    """A fine-tuning or sampling backend failed."""


class BackendUnavailableError(BackendError):
    """A backend cannot be used: missing key, unreachable endpoint, missing extra."""


class SandboxUnavailableError(BackendUnavailableError):
    """The sandbox cannot run the code, so there is no result to score.

    Raised when the interpreter cannot be started (e.g. it lies in a folder this
    user may not enter) or the launcher failed while applying a layer of
    isolation or a limit. A layer the system refuses (no user namespaces, no
    permission) is no error: :attr:`SandboxResult.isolation` leaves it out.

    .. versionadded:: 0.1

    Parameters
    ----------
    message : str
        What failed and what to try.
    python : str, optional
        The interpreter that was to run the code.
    isolation : tuple of str
        The layers that had been applied when the launcher gave up.
    """

    def __init__(
        self, message: str, *, python: str | None = None, isolation: tuple[str, ...] = ()
    ) -> None:
        super().__init__(message)
        self.python = python
        self.isolation = tuple(isolation)


class TokenizerUnavailableError(BackendUnavailableError):
    """No tokenizer for the requested encoding could be loaded (often: offline)."""


class FineTuneJobError(BackendError):
    """A fine-tuning job failed, was rejected or was cancelled.

    Parameters
    ----------
    message : str
        Explanation.
    job_id : str, optional
        The provider's job id (the job may still exist remotely).
    code : str, optional
        The provider's error code, if any.
    """

    def __init__(self, message: str, *, job_id: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.job_id = job_id
        self.code = code


class JobTimeoutError(FineTuneJobError, TimeoutError):
    """Waiting for a fine-tuning job ran out of time; the job keeps running remotely.

    ``job_id`` names it; pass the job (or its key to ``submit``) to resume waiting.

    Parameters
    ----------
    message : str
        Explanation.
    job : FineTuneJob
        The job as last seen (typed ``Any`` here: errors sit below the records in the
        import layers, see ``docs/architecture.md``).
    """

    def __init__(self, message: str, *, job: Any) -> None:
        super().__init__(message, job_id=job.job_id, code="timeout")
        self.job = job


class FitError(DataQualityThresholdsError):
    """A threshold fit could not be computed."""


class InsufficientDataError(FitError, ValueError):
    """Too few distinct rates, too few runs, or all outcomes equal."""


class ThresholdWarning(UserWarning):
    """Base class of statistical warnings from threshold fitting."""


class ConvergenceWarning(ThresholdWarning):
    """An optimiser did not converge; estimates may be unreliable."""


class SeparationWarning(ThresholdWarning):
    """Outcomes are all 0 or all 1 at some rates (perfect separation)."""
