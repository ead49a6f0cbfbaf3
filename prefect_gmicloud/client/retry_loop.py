"""The one retry loop of the package: API reads, submits refused before they were sent, downloads.

An attempt either returns, raises an error that ends the call, or raises :class:`_Retry` to say
it is worth another try (and what to raise if none is left). :func:`with_retries` spaces the
tries by :class:`RetryPolicy` (capped exponential backoff, full jitter, ``Retry-After`` wins)
within its attempt and time budget. The clock, the sleep and the random source are injected.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from prefect_gmicloud.client.retry_policy import RetryPolicy

T = TypeVar("T")


class _Retry(Exception):
    """Raised by an attempt that failed in a way worth another try.

    Args:
        kind: the cause in a word (``"503"``, ``"ConnectError"``), for counters and logs.
        error: what the call raises when no try is left.
        cause: the low-level exception behind ``error``, chained onto it.
        retry_after: seconds the server asked to wait, when it said.
    """

    def __init__(
        self,
        kind: str,
        error: BaseException,
        *,
        cause: BaseException | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(kind)
        self.kind = kind
        self.error = error
        self.cause = cause
        self.retry_after = retry_after


#: Called before each pause: the failure, the number of the try that failed, the pause.
OnRetry = Callable[[_Retry, int, float], None]


async def with_retries(
    attempt: Callable[[], Awaitable[T]],
    *,
    policy: RetryPolicy,
    rng: random.Random,
    clock: Callable[[], float],
    sleep: Callable[[float], Awaitable[None]],
    on_retry: OnRetry | None = None,
) -> T:
    """Run ``attempt`` until it returns, raises something else than :class:`_Retry`, or the
    policy allows no further try (then the last ``_Retry.error`` is raised).

    Args:
        attempt: one try; raises :class:`_Retry` when another may succeed.
        policy: how many tries, how far apart, within how long.
        rng: the jitter's random source.
        clock: monotonic seconds, to hold ``policy.max_total``.
        sleep: the pause between tries.
        on_retry: told of each retry before its pause (counters, logs).
    """
    started = clock()
    tries = 0
    while True:
        tries += 1
        try:
            return await attempt()
        except _Retry as failure:
            delay = policy.backoff(tries, rng, failure.retry_after)
            if not policy.allows(tries, clock() - started, delay):
                raise failure.error from failure.cause
            if on_retry is not None:
                on_retry(failure, tries, delay)
        await sleep(delay)
