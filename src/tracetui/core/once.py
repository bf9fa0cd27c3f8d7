"""Values computed the first time they are asked for, once, whichever thread asks.

pipeline.Loaded (the study's Analysis) and result.TraceResult (the parts derived from it) keep
their lazy parts here: the explorer computes the slow ones in its loading worker while the UI
thread may already read the quick ones; each part has its own lock, so it is computed once.
(functools.cached_property takes no lock since Python 3.12, and cannot write to a frozen
dataclass.)
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


class Once:
    """Named values, each computed by the first get() that asks for it. A compute that raises
    (AnalysisCancelled) keeps nothing: the next get() computes again."""

    __slots__ = ("_values", "_locks", "_guard")

    def __init__(self) -> None:
        self._values: dict[str, Any] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def get(self, name: str, compute: Callable[[], T]) -> T:
        values = self._values
        if name in values:
            return values[name]
        with self._guard:
            lock = self._locks.setdefault(name, threading.Lock())
        with lock:
            if name not in values:  # another thread may have computed it while this one waited
                values[name] = compute()
            return values[name]

    def __contains__(self, name: str) -> bool:
        """Whether `name` is computed already (never computes it)."""
        return name in self._values


class _Derived:
    """A property computed once per object, kept in the object's `_once` (a Once)."""

    def __init__(self, compute: Callable[[Any], Any]) -> None:
        self.compute = compute
        self.__doc__ = compute.__doc__

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        return obj._once.get(self.name, lambda: self.compute(obj))


def derived(compute: Callable[[Any], T]) -> T:
    """@derived on a method of a class with a `_once: Once`: a lazy, thread-safe property."""
    return _Derived(compute)  # type: ignore[return-value]
