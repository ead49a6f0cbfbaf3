"""The gate every paid submit of a run passes: stops them on shutdown, holds them while an id is
unrecorded, and shields a submit and the recording of its id from cancellation."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from prefect_gmicloud.errors import SubmitsStopped

T = TypeVar("T")


class SubmitGate:
    """Lets paid submits through one run's shots, one rule at a time.

    - Once :meth:`stop` is called, no new submit starts (:class:`SubmitsStopped`).
    - While a paid request id is not in the ledger (:meth:`hold`), new submits wait.
    - A submit and the recording of its id run as one shielded task: cancelling the shot does
      not cancel them, and :meth:`drain` lets them finish before the process exits.
    """

    def __init__(self) -> None:
        self.stopping = asyncio.Event()
        self._unrecorded: set[str] = set()
        self._clear = asyncio.Event()
        self._clear.set()
        self._paid: set[asyncio.Task[object]] = set()

    @property
    def unrecorded(self) -> set[str]:
        """Paid request ids the ledger has not taken yet."""
        return set(self._unrecorded)

    def stop(self) -> None:
        """Refuse every submit from now on."""
        self.stopping.set()

    def hold(self, request_id: str) -> None:
        """``request_id`` is paid but not recorded: hold new submits until :meth:`release`."""
        self._unrecorded.add(request_id)
        self._clear.clear()

    def release(self, request_id: str) -> None:
        """``request_id`` is recorded now."""
        self._unrecorded.discard(request_id)
        if not self._unrecorded:
            self._clear.set()

    async def paid(self, work: Callable[[], Awaitable[T]]) -> T:
        """Run ``work`` (a submit and the recording of its id) once submits may start.

        Raises:
            SubmitsStopped: the run is stopping; ``work`` was not started.
        """
        while not self._clear.is_set() and not self.stopping.is_set():
            await _first_of(self._clear.wait(), self.stopping.wait())
        if self.stopping.is_set():
            raise SubmitsStopped("the run is stopping: no new request is submitted")
        task: asyncio.Task[T] = asyncio.ensure_future(work())
        self._paid.add(task)
        task.add_done_callback(self._paid.discard)
        return await asyncio.shield(task)

    async def drain(self, seconds: float) -> bool:
        """Wait up to ``seconds`` for submits under way to record their ids; True if all did."""
        pending = {task for task in self._paid if not task.done()}
        if not pending:
            return True
        done, still = await asyncio.wait(pending, timeout=seconds)
        for task in done:
            if not task.cancelled():
                task.exception()  # retrieved: the shot that started it reports it
        return not still


async def _first_of(*waits: Awaitable[object]) -> None:
    tasks = [asyncio.ensure_future(w) for w in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
