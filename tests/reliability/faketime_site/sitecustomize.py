"""Loaded by Python processes started under ``tests/reliability/skew.py``'s ``faketime``.

libfaketime 0.9.10 with ``FAKETIME_DONT_FAKE_MONOTONIC=1`` makes ``clock_nanosleep`` fail with
EINVAL, so ``time.sleep`` raises ``OSError``; ``select`` with a timeout sleeps on the real
monotonic clock, as the process's other timers do.
"""

from __future__ import annotations

import select
import time


def _sleep(seconds: float) -> None:
    if seconds < 0:
        raise ValueError("sleep length must be non-negative")
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        select.select([], [], [], left)


setattr(time, "sleep", _sleep)  # noqa: B010 - typed like the original
