"""The API-key holder of the OpenAI backend and sampler.

:class:`Secret` keeps a key out of every repr, str, log line and pickle, so
:class:`~dataquality_thresholds.backends.openai.OpenAIBackend` and
:class:`~dataquality_thresholds.backends.openai.OpenAISampler` can hold one
without ever showing it.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Secret"]


class Secret:
    """Holds an API key so that no repr, str or log line can show it.

    Parameters
    ----------
    value : str, optional
        The key; None when the client should look it up itself.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str | None) -> None:
        self._value = value

    def get(self) -> str | None:
        """Return the key itself (to hand to a client, never to print)."""
        return self._value

    def __repr__(self) -> str:
        return "'***'" if self._value else "None"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("an API key is not pickled; build the backend again in the new process")
