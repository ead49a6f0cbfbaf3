"""The sleeps of a wait, and their wake-ups when a model's processing times are learned.

Requests submitted together finish together: once the first few of a model's requests have
been seen to end (by any client in the process, on any thread), waits still sleeping on the
default schedule wake and re-plan their next poll from what was learned. The schedule itself is
the pure :class:`WaitTracker`; this module only sleeps and listens.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any

from prefect_gmicloud.client.wait_schedule import DurationMemory, WaitPolicy, WaitTracker


def with_learned(policy: WaitPolicy, memory: DurationMemory, api: str, model: str) -> WaitPolicy:
    """``policy``, planning from ``model``'s learned processing times when it has none itself."""
    if policy.durations is not None:
        return policy
    learned = memory.model(api, model)
    return policy if learned is None else dataclasses.replace(policy, durations=learned)


async def pause(
    tracker: WaitTracker,
    delay: float,
    *,
    memory: DurationMemory,
    api: str,
    model: str,
    sleep: Callable[[float], Awaitable[None]],
    clock: Callable[[], float],
) -> None:
    """Sleep ``delay``; if ``model``'s processing times are learned meanwhile, re-plan.

    Args:
        tracker: the wait's schedule (adopts the learned model when it comes).
        delay: the planned sleep.
        memory: where processing times are learned (and announced).
        api: the API's base URL (what the memory is keyed by, with the model).
        model: the request's model.
        sleep: the wait's sleep.
        clock: the wait's clock.
    """
    if tracker.policy.durations is not None:
        await sleep(delay)
        return
    loop = asyncio.get_running_loop()
    news = asyncio.Event()

    def notify() -> None:
        with contextlib.suppress(RuntimeError):  # that loop has closed
            loop.call_soon_threadsafe(news.set)

    # Listen before looking: a model learned in between (even mid-read) is not missed.
    unsubscribe = memory.subscribe(api, model, notify)
    sleeper: asyncio.Future[Any] | None = None
    try:
        while True:
            learned = with_learned(tracker.policy, memory, api, model)
            if learned.durations is not None:
                if sleeper is not None:
                    sleeper.cancel()
                await sleep(tracker.adopt(learned, clock()))
                return
            if sleeper is None:
                sleeper = asyncio.ensure_future(sleep(delay))
            listener = asyncio.ensure_future(news.wait())
            try:
                await asyncio.wait({sleeper, listener}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                listener.cancel()
            if sleeper.done():
                sleeper.result()  # raises what the sleep raised
                return
            news.clear()
    finally:
        unsubscribe()
        if sleeper is not None:
            sleeper.cancel()
