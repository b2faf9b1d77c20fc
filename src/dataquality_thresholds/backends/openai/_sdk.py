"""What the ``openai`` SDK's exceptions say, read into the plain facts the error mapping uses."""

from __future__ import annotations

import openai

from dataquality_thresholds.backends.openai._errors import ErrorFacts, ErrorKind, parse_retry_after

__all__ = ["KINDS", "error_facts", "retry_after"]

#: ``openai`` exception classes -> :data:`ErrorKind`, the first match wins;
#: anything else is ``"other"``.
KINDS: tuple[tuple[type[Exception], ErrorKind], ...] = (
    (openai.RateLimitError, "rate_limit"),
    (openai.AuthenticationError, "auth"),
    (openai.PermissionDeniedError, "permission"),
    (openai.InternalServerError, "server"),
    (openai.APIStatusError, "status"),
    (openai.APIConnectionError, "connection"),
)


def retry_after(exc: openai.APIStatusError) -> float | None:
    return parse_retry_after(exc.response.headers.get("retry-after"))


def error_facts(exc: Exception) -> ErrorFacts:
    """Read an ``openai`` exception into the plain facts that the error mapping uses."""
    kind: ErrorKind = next((k for cls, k in KINDS if isinstance(exc, cls)), "other")
    if not isinstance(exc, openai.APIStatusError):
        return ErrorFacts(kind=kind, type_name=type(exc).__name__, text=str(exc))
    return ErrorFacts(
        kind=kind,
        type_name=type(exc).__name__,
        text=str(exc),
        status_code=exc.status_code,
        code=exc.code,
        message=exc.message,
        retry_after=retry_after(exc),
    )
