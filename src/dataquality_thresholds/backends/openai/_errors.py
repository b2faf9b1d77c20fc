"""How the OpenAI backend and sampler turn a provider error into one of ours.

:mod:`~dataquality_thresholds.backends.openai` reads an ``openai`` exception
into plain :class:`ErrorFacts` (the one step that needs the ``openai``
classes); the functions here decide, on those facts alone, what the library
raises instead:

* :func:`translate`, for the fine-tuning calls of ``OpenAIBackend``: every
  failure is final, and the ones that mean "OpenAI cannot be used now" (401,
  403, no connection, 429, 5xx) are :class:`BackendUnavailableError`.
* :func:`classify`, for the sampler's requests: 429 (except
  ``insufficient_quota``), 5xx, 408/409, timeouts and dropped connections are
  :class:`~dataquality_thresholds.backends.openai.RetryableError`, which the
  sampling engine retries; the rest is final.
"""

from __future__ import annotations

from typing import Literal

import attrs

from dataquality_thresholds.backends.openai._wire import RetryableError
from dataquality_thresholds.errors import BackendError, BackendUnavailableError

__all__ = ["ErrorFacts", "ErrorKind", "classify", "parse_retry_after", "translate"]

#: What kind of failure an ``openai`` exception reports (see :class:`ErrorFacts`).
ErrorKind = Literal["rate_limit", "auth", "permission", "server", "status", "connection", "other"]

#: The kinds that carry an HTTP status (``openai.APIStatusError`` and its subclasses).
_HTTP_KINDS = ("rate_limit", "auth", "permission", "server", "status")


@attrs.frozen(kw_only=True)
class ErrorFacts:
    """What the error handling needs to know about one ``openai`` exception.

    Parameters
    ----------
    kind : {"rate_limit", "auth", "permission", "server", "status", "connection", "other"}
        ``rate_limit`` (``RateLimitError``, 429), ``auth``
        (``AuthenticationError``, 401), ``permission``
        (``PermissionDeniedError``, 403), ``server`` (``InternalServerError``,
        5xx), ``status`` (any other ``APIStatusError``), ``connection``
        (``APIConnectionError``: no answer, a timeout included) or ``other``.
    type_name : str
        The exception's class name.
    text : str
        ``str()`` of the exception.
    status_code : int, optional
        HTTP status (the HTTP kinds only).
    code, message : str, optional
        The provider's error code and message (the HTTP kinds only).
    retry_after : float, optional
        The ``Retry-After`` header in seconds (see :func:`parse_retry_after`).
    """

    kind: ErrorKind
    type_name: str
    text: str
    status_code: int | None = None
    code: str | None = None
    message: str | None = None
    retry_after: float | None = None

    @property
    def is_http(self) -> bool:
        """Whether the server answered with an error status."""
        return self.kind in _HTTP_KINDS


def parse_retry_after(raw: str | None) -> float | None:
    """Read a ``Retry-After`` header given in seconds; None when absent or not a number."""
    if raw is None:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        return None


def translate(facts: ErrorFacts, what: str) -> BackendError:
    """Map a failed fine-tuning call to a final :class:`BackendError`.

    Parameters
    ----------
    facts : ErrorFacts
        The failure.
    what : str
        What was being done ("listing files"), the start of the message.

    Returns
    -------
    BackendError
        :class:`BackendUnavailableError` for 401, 403, no connection, 429 and
        5xx; a plain :class:`BackendError` otherwise.
    """
    if facts.kind == "auth":
        return BackendUnavailableError(
            f"{what}: OpenAI rejected the API key (401). Check OPENAI_API_KEY."
        )
    if facts.kind == "permission":
        return BackendUnavailableError(f"{what}: permission denied (403): {facts.message}")
    if facts.kind == "connection":
        return BackendUnavailableError(f"{what}: cannot reach OpenAI ({facts.type_name})")
    if facts.kind in ("server", "rate_limit"):
        return BackendUnavailableError(f"{what}: HTTP {facts.status_code}: {facts.message}")
    if facts.is_http:
        return BackendError(f"{what}: HTTP {facts.status_code} ({facts.code}): {facts.message}")
    return BackendError(f"{what}: {facts.type_name}: {facts.text}")


def classify(facts: ErrorFacts, what: str) -> BackendError:
    """Map a failed sampling request to :class:`RetryableError` or a final error.

    Parameters
    ----------
    facts : ErrorFacts
        The failure.
    what : str
        What was being done ("sampling gpt-4o"), the start of the message.

    Returns
    -------
    BackendError
        :class:`RetryableError` (with the server's ``Retry-After``) for 429,
        5xx, 408, 409 and connection failures;
        :class:`BackendUnavailableError` for ``insufficient_quota`` and 401;
        a plain :class:`BackendError` otherwise.
    """
    if facts.kind == "rate_limit":
        if facts.code == "insufficient_quota":
            return BackendUnavailableError(
                f"{what}: the account is out of quota (429 insufficient_quota); add credit "
                "or use another key"
            )
        return RetryableError(f"{what}: rate limited (429)", retry_after=facts.retry_after)
    if (
        facts.is_http
        and facts.status_code is not None
        and (facts.status_code >= 500 or facts.status_code in (408, 409))
    ):
        return RetryableError(
            f"{what}: HTTP {facts.status_code}: {facts.message}", retry_after=facts.retry_after
        )
    if facts.kind == "connection":
        return RetryableError(f"{what}: {facts.type_name} (connection or timeout)")
    if facts.kind == "auth":
        return BackendUnavailableError(f"{what}: the API key was rejected (401)")
    if facts.is_http:
        return BackendError(f"{what}: HTTP {facts.status_code} ({facts.code}): {facts.message}")
    return BackendError(f"{what}: {facts.type_name}: {facts.text}")
