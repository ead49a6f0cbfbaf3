"""State that the open clients of a process share, leased: dropped when the last one closes.

Prefect tasks make a client per call, so what one wait learns (a model's processing times) or
shares (one list call for many waits) has to outlive a single client. It must not outlive
every client, though, nor mix clients that asked for different settings: each piece of state
is held under a key that includes the settings it was made with, by the clients that use it,
and forgotten when the last of them lets go.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Leases(Generic[K, V]):
    """Values made on first use of their key and kept while some holder has leased them.

    Args:
        make: builds the value of a key no one holds.
    """

    def __init__(self, make: Callable[[K], V]) -> None:
        self._make = make
        self._lock = threading.Lock()
        self._held: dict[K, tuple[V, int]] = {}

    def acquire(self, key: K) -> V:
        """The value of ``key`` (made now if no one holds it); the caller must :meth:`release`."""
        with self._lock:
            value, holders = self._held.get(key) or (self._make(key), 0)
            self._held[key] = (value, holders + 1)
            return value

    def release(self, key: K) -> None:
        """Let go of ``key``; the value is forgotten when its last holder lets go."""
        with self._lock:
            value, holders = self._held[key]
            if holders > 1:
                self._held[key] = (value, holders - 1)
            else:
                del self._held[key]

    def __len__(self) -> int:
        """How many values are held."""
        with self._lock:
            return len(self._held)
