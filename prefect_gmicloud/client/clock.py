"""GMI's clock, learned from its answers, so a lookup's "created after" is placed on it.

A request's ``created_at`` is GMI's time. After a submit whose answer was lost, the lookup keeps
only requests created since the submit began; that moment is known on this machine's clock,
which may be minutes off GMI's (a worker without NTP, a VM resumed from a snapshot). Each
answer bounds the offset between the two: its ``Date`` header (whole seconds) was stamped by
GMI between the moment the call was sent and the moment its answer arrived, and so was a
submit's ``created_at``. The bounds of the last few answers place a local moment on GMI's
clock, at its earliest.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

__all__ = ["GMIClock", "OffsetBounds"]

#: How many recent answers' bounds are kept (older ones may predate a local clock step).
KEPT_READINGS = 16
#: A stamp in whole seconds may be truncated or rounded: either way within this of the truth.
STAMP_RESOLUTION_SECONDS = 1.0


@dataclass(frozen=True)
class OffsetBounds:
    """What GMI's clock minus this machine's can be, from the answers seen (seconds)."""

    low: float
    high: float

    @property
    def estimate(self) -> float:
        """The middle of the bounds: a figure for people (doctor, logs), not for windows."""
        return (self.low + self.high) / 2


class GMIClock:
    """The offset of GMI's clock from this machine's wall clock, learned from GMI's answers.

    Thread-safe: the sync client's thread and the event loop may both report answers.

    Example:
        ```python
        clock = GMIClock()
        clock.observe(stamp=1_700_000_300.0, sent=1_700_000_000.0, received=1_700_000_000.2)
        clock.earliest(1_700_000_000.0)  # about 1_700_000_299: GMI's time then, at the earliest
        ```
    """

    def __init__(self, keep: int = KEPT_READINGS) -> None:
        self._readings: deque[OffsetBounds] = deque(maxlen=keep)
        self._lock = threading.Lock()

    def observe(self, stamp: float, sent: float, received: float) -> None:
        """Learn from one answer: GMI stamped ``stamp`` (Unix seconds, whole) while the call was
        under way, between local times ``sent`` and ``received``.

        Args:
            stamp: GMI's time in the answer (its ``Date``, or a new request's ``created_at``).
            sent: this machine's Unix time just before the call was sent.
            received: this machine's Unix time once the answer arrived.
        """
        bounds = OffsetBounds(
            low=stamp - STAMP_RESOLUTION_SECONDS - received,
            high=stamp + STAMP_RESOLUTION_SECONDS - sent,
        )
        with self._lock:
            self._readings.append(bounds)

    def observe_date(self, header: str | None, sent: float, received: float) -> None:
        """Learn from an answer's HTTP ``Date`` header; an absent or unreadable one is ignored.

        Args:
            header: the ``Date`` header's value.
            sent: this machine's Unix time just before the call was sent.
            received: this machine's Unix time once the answer arrived.
        """
        if not header:
            return
        try:
            stamped = parsedate_to_datetime(header)
        except (TypeError, ValueError, IndexError):
            return
        if stamped.tzinfo is None:
            return  # not an HTTP date (those are GMT): no safe reading
        self.observe(stamped.timestamp(), sent, received)

    def bounds(self) -> OffsetBounds | None:
        """The widest offset the recent answers allow; ``None`` before any answer."""
        with self._lock:
            readings = list(self._readings)
        if not readings:
            return None
        return OffsetBounds(low=min(r.low for r in readings), high=max(r.high for r in readings))

    def earliest(self, local: float) -> float | None:
        """The earliest GMI time that local Unix time ``local`` can have been; ``None`` while
        nothing is learned."""
        bounds = self.bounds()
        return None if bounds is None else local + bounds.low
