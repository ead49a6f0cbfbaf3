"""Progress shown in Prefect: useful to watch, never worth failing paid work for."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TypeVar

from prefect import get_run_logger

T = TypeVar("T")


async def best_effort(report: Awaitable[T]) -> T | None:
    """Await ``report`` (an artifact update...); on failure log a warning and return ``None``.

    500 shots at once exhausted the Prefect API client's connection pool in
    benchmarks/overhead.py, and the failed artifact update ended waits for requests already
    paid for. Reporting must not do that.
    """
    try:
        return await report
    except Exception as exc:
        get_run_logger().warning("progress not reported to Prefect: %r", exc)
        return None
