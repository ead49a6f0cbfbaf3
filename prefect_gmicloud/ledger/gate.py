"""The gate every paid submit of a run passes: stops them on shutdown or when GMI refuses the
account, refuses a model GMI refused the key, lets a model's first submit go alone, holds them
while an id is unrecorded, and shields a submit and the recording of its id from cancellation."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from prefect_gmicloud.errors import (
    InsufficientCreditsError,
    ModelNotEntitledError,
    SubmitsStopped,
)

T = TypeVar("T")


class SubmitGate:
    """Lets paid submits through one run's shots, one rule at a time.

    - Once :meth:`stop` is called, no new submit starts (:class:`SubmitsStopped`).
    - Once GMI answers a submit ``402 Insufficient credits`` (every further one would be
      refused so), no new submit starts either (:attr:`halted` says why).
    - Once GMI answers a model's submit that the key is not entitled to it, no other submit
      of that model starts.
    - Until a model has had a submit accepted in this run, its submits go one at a time (the
      run's first submit among them): a board whose account or model GMI refuses learns it
      from one answer, not from a burst of them. Once one is accepted, those that waited
      behind it go at once.
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
        #: GMI's refusal of the whole account, once a submit met it.
        self.halted: InsufficientCreditsError | None = None
        self._refused: dict[str, ModelNotEntitledError] = {}
        self._accepted: set[str] = set()
        self._trial = asyncio.Lock()

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

    def refusal(self, model: str = "") -> SubmitsStopped | None:
        """Why a submit of ``model`` may not start now; ``None`` when it may."""
        if self.stopping.is_set():
            return SubmitsStopped("the run is stopping: no new request is submitted")
        if self.halted is not None:
            return SubmitsStopped(
                f"not submitted: GMI refused an earlier submit of this run for the whole "
                f"account ({self.halted.message}); no further submit is sent"
            )
        refused = self._refused.get(model)
        if refused is not None:
            return SubmitsStopped(
                f"not submitted: GMI answered an earlier submit of {model} that this API key "
                f"is not entitled to the model ({refused.message}); nothing of it is sent"
            )
        return None

    def check(self, model: str = "") -> None:
        """Raise :class:`SubmitsStopped` when a submit of ``model`` may not start now."""
        refusal = self.refusal(model)
        if refusal is not None:
            raise refusal

    async def paid(self, work: Callable[[], Awaitable[T]], model: str = "") -> T:
        """Run ``work`` (a submit of ``model`` and the recording of its id) once it may start.

        Raises:
            SubmitsStopped: the run is stopping, GMI refused the account, or the model for
                this key; ``work`` was not started.
        """
        while not self._clear.is_set() and not self.stopping.is_set():
            await _first_of(self._clear.wait(), self.stopping.wait())
        self.check(model)
        task: asyncio.Task[T] = asyncio.ensure_future(self._through(work, model))
        self._paid.add(task)
        task.add_done_callback(self._paid.discard)
        return await asyncio.shield(task)

    async def _through(self, work: Callable[[], Awaitable[T]], model: str) -> T:
        if model not in self._accepted:
            async with self._trial:  # the model's first: alone, and only if the one before allows
                self.check(model)
                if model not in self._accepted:
                    return await self._watched(work, model)
            # Accepted while this one waited: it goes with the others, not one after another
            # (100 shots queued behind a first submit once paid one at a time, 70 ms each).
        return await self._watched(work, model)

    async def _watched(self, work: Callable[[], Awaitable[T]], model: str) -> T:
        try:
            result = await work()
        except InsufficientCreditsError as exc:
            self.halted = self.halted or exc
            raise
        except ModelNotEntitledError as exc:
            self._refused.setdefault(model, exc)
            raise
        self._accepted.add(model)
        return result

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
