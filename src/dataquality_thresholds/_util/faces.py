"""How a wing's face (its ``__init__``) shows the names of its private modules.

Private to the package. :func:`publish` gives each public class and function the face's
module path once (for docs, reprs and pickles); :func:`lazy` loads names whose modules
import heavy dependencies (``openai``, ``torch``) on first use.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from typing import Any

import attrs

__all__ = ["lazy", "publish"]


def publish(face: str, namespace: Mapping[str, Any], names: Iterable[str]) -> None:
    """Set ``__module__`` of the classes and functions in ``names`` to ``face``.

    attrs classes have their string annotations resolved first, in the module that
    defines them, so ``attrs.fields(cls).x.type`` stays usable after the move.
    """
    for name in names:
        obj = namespace.get(name)
        if not (inspect.isclass(obj) or inspect.isfunction(obj)):
            continue
        if getattr(obj, "__module__", face) == face:
            continue
        if inspect.isclass(obj) and attrs.has(obj):
            # annotations naming TYPE_CHECKING-only imports stay strings
            with contextlib.suppress(NameError):
                attrs.resolve_types(obj)
        obj.__module__ = face


def lazy(
    face: str, table: Mapping[str, str], namespace: MutableMapping[str, Any]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Return a face's ``__getattr__`` and ``__dir__`` over ``table`` (name -> module).

    A module path in ``table`` is relative to ``face`` when it starts with a dot. A loaded
    name is cached in ``namespace`` so later lookups are plain attribute reads; one defined
    in the face's own private modules is published under the face's path.
    """

    def __getattr__(name: str) -> Any:
        module = table.get(name)
        if module is None:
            raise AttributeError(f"module {face!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module, face), name)
        if getattr(value, "__module__", "").startswith(face + "._"):
            publish(face, {name: value}, [name])  # defined in this wing's private module
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(table))

    return __getattr__, __dir__
