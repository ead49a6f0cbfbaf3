"""When to retry an HTTP call and how long to wait first: pure functions, no I/O."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

#: Statuses worth another try: the server or something before it was busy or broken.
RETRYABLE_STATUS_CODES = frozenset({408, 425, 429, 500, 502, 503, 504})
#: Statuses that prove a submit was refused before the request was created.
SUBMIT_REFUSED_STATUS_CODES = frozenset({429, 503})


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded exponential backoff with full jitter, honouring ``Retry-After``.

    Attributes:
        max_attempts: tries in all, the first included.
        base_delay: the backoff's starting ceiling, in seconds.
        max_delay: the backoff's largest ceiling.
        max_retry_after: the longest ``Retry-After`` obeyed; longer ones are cut to this.
        max_total: no new try starts once this many seconds have passed since the first.
        reconcile_delay: after an ambiguous submit, seconds to let the server settle before
            looking the request up in ``list_requests``.
    """

    max_attempts: int = 6
    base_delay: float = 0.5
    max_delay: float = 20.0
    max_retry_after: float = 60.0
    max_total: float = 180.0
    reconcile_delay: float = 1.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts: at least 1")
        if min(self.base_delay, self.max_delay, self.max_retry_after, self.max_total) < 0:
            raise ValueError("RetryPolicy delays must be >= 0")

    def backoff(self, attempt: int, rng: random.Random, retry_after: float | None = None) -> float:
        """Seconds to wait before try number ``attempt + 1`` (``attempt`` counts from 1).

        A server's ``Retry-After`` wins over the backoff (capped at ``max_retry_after``).
        """
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_retry_after)
        ceiling = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        return rng.uniform(0, ceiling)

    def allows(self, attempt: int, elapsed: float, next_delay: float) -> bool:
        """Whether another try may follow try number ``attempt`` after ``elapsed`` seconds."""
        return attempt < self.max_attempts and elapsed + next_delay <= self.max_total


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Read a ``Retry-After`` header: delta-seconds or an HTTP date. ``None`` when absent or bad."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        return max(float(text), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = now or datetime.now(UTC)
    return max((when - current).total_seconds(), 0.0)
