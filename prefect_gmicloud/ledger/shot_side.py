"""What the caller of a :class:`~prefect_gmicloud.ledger.shot.ShotRunner` supplies for its shots.

The runner owns the order that pays each shot once (claim → submit → record the id → wait →
store → mark stored); everything about *where* a shot's files live, *what* is sent for it and
*what else* must hold around a submit belongs to the caller, given as one object of this shape.
A storyboard's is ``flows/board_shots.py``'s ``BoardShots``; ``generate_video`` has its own.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Protocol

from prefect_gmicloud.client.records import GMIRequest
from prefect_gmicloud.models.registry import AnyPayload
from prefect_gmicloud.storage.location import StoredObject

if TYPE_CHECKING:
    from prefect_gmicloud.ledger.shot import ShotJob


class ShotSide(Protocol):
    """How a runner's shots are prepared, found, stored, bounded and reported.

    A ``GMICloudError`` raised by any method before the submit fails that shot unpaid (its
    ledger entry, if any, is untouched, so the next run decides from what is recorded).
    """

    async def prepare(self, job: ShotJob) -> AnyPayload:
        """The payload to send for a shot about to be paid for, from its planned one (whose
        hash names the shot): presigned media URLs, for one; staged frames, for another.

        Called only for a new submit, inside ``slot``. Raising a ``GMICloudError`` fails the
        shot unpaid.
        """

    async def find_stored(self, job: ShotJob) -> tuple[dict[str, StoredObject], str | None] | None:
        """Objects already stored for a shot with these inputs, and the request that made them
        (when known), for a shot the ledger has no entry for (ledger lost); ``None``: none.

        The runner rebuilds the entry from them instead of paying. Not called with ``force``.
        """

    async def still_stored(self, job: ShotJob, objects: dict[str, StoredObject]) -> bool:
        """Whether a stored entry's objects are still there, unchanged (made from these
        inputs); ``False``: the runner takes the shot again, from its recorded request first.
        """

    async def store(self, job: ShotJob, request: GMIRequest) -> dict[str, StoredObject]:
        """Download, verify and upload a finished request's files; return them by role.

        Raising a ``GMICloudError`` or ``OSError`` leaves the shot paid and not stored: its
        request id stays recorded, and the result says so.
        """

    def slot(self) -> contextlib.AbstractAsyncContextManager[None]:
        """One slot of the shared quota, held while this run has the shot's request in flight.

        Entered before the request is looked for, resumed or submitted; left once it ends,
        before its files are stored (so the next shot's request starts meanwhile). An error
        leaving it is logged and the files are stored anyway.
        """

    def before_submit(self, job: ShotJob) -> contextlib.AbstractAsyncContextManager[None]:
        """Entered just before a new request is submitted and held until its id is recorded
        (never for a shot that is reused, resumed or followed): a budget taken per submit.

        Raising a ``GMICloudError`` on entry fails the shot unpaid.
        """

    async def on_submitted(self, job: ShotJob, request: GMIRequest) -> None:
        """Called once a new request's id is recorded, before the wait: an event, an artifact.

        Best effort: whatever it raises is ignored (reporting never costs a paid request).
        """
