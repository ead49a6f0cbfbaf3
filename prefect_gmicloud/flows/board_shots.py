"""A storyboard's side of its shots' runner: what each shot sends, where its files live, what
bounds its request in flight and its submit, and who is told once it is paid.

The runner (``ledger/shot.py``) pays each shot once; :class:`BoardShots` is everything about
the board it needs for that: a continuing shot's first frame and a shot's stills are staged
from their stored outcomes and its references signed just before its submit; its files are
``<title>/<shot>.<ext>``, found from one listing of the board's folder; a request in flight
holds one of the run's ``max_concurrency`` slots and one of the shared Prefect limit's; a paid
submit takes its seconds from the shared budget and emits ``gmicloud.request.submitted``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Collection
from dataclasses import dataclass, field

from prefect.concurrency.asyncio import concurrency
from prefect_aws.s3 import S3Bucket

from prefect_gmicloud.client.records import GMIRequest
from prefect_gmicloud.errors import StoryboardError
from prefect_gmicloud.flows import shot_storage
from prefect_gmicloud.flows.budget import BeforeSubmit, budget_seconds
from prefect_gmicloud.flows.storyboard_run import announce
from prefect_gmicloud.ledger.shot import ShotJob, ShotResult
from prefect_gmicloud.models.registry import AnyPayload
from prefect_gmicloud.storage import S3Destination, StorageLocation, StoredObject
from prefect_gmicloud.storyboard.options import StoryboardOptions
from prefect_gmicloud.storyboard.plan import PlannedShot
from prefect_gmicloud.storyboard.staging import StagedReferences


@contextlib.asynccontextmanager
async def quota_slot(limit_name: str | None) -> AsyncIterator[None]:
    """One slot of the Prefect global concurrency limit ``limit_name`` (none when unnamed).

    A global limit is shared by every worker, so several machines keep to one GMI quota.
    """
    if limit_name is None:
        yield
        return
    async with concurrency(limit_name, occupy=1, strict=True):
        yield


@dataclass(kw_only=True)
class BoardShots:
    """A storyboard run's :class:`~prefect_gmicloud.ledger.shot_side.ShotSide`.

    Args:
        title: the storyboard's title: its shots' files are ``<title>/<shot>.<ext>``.
        location: the run's storage.
        storage: the same storage as the flow was given (the shots' files are uploaded to it).
        references: the board's staged references; continuity frames and stills go there too.
        plans: each shot's plan by shot id, kept by the run (review replans rejected shots).
        outcomes: each shot's outcome in this run so far, kept by the run: a continuing shot's
            source and a shot's stills are staged from theirs.
        present: the keys the run listed under the board's folder (filled before any shot is
            settled): a shot whose video is not among them is not looked for.
        link_seconds: how long presigned links to references must work.
        options: the run's options: ``max_concurrency`` bounds the shots with a request in
            flight (and as many storing their files), ``concurrency_limit`` names the quota
            every run shares, ``budget_limit`` and ``budget_wait`` the shared budget.
    """

    title: str
    location: StorageLocation
    storage: S3Bucket | S3Destination
    references: StagedReferences
    plans: dict[str, PlannedShot]
    outcomes: dict[str, ShotResult]
    present: Collection[str]
    link_seconds: int
    options: StoryboardOptions
    _storer: shot_storage.Store = field(init=False, repr=False)
    _budget: BeforeSubmit = field(init=False, repr=False)
    _in_flight: asyncio.Semaphore = field(init=False, repr=False)

    def __post_init__(self) -> None:
        in_board = shot_storage.in_board(self.title)
        at_once = self.options.max_concurrency
        self._storer = shot_storage.shot_storer(self.storage, in_board, at_once=at_once)
        self._budget = budget_seconds(self.options.budget_limit, self.options.budget_wait)
        self._in_flight = asyncio.Semaphore(at_once)

    async def prepare(self, job: ShotJob) -> AnyPayload:
        """Stage the shot's first frame and stills from their stored outcomes, then sign its
        planned payload's stored references for ``link_seconds``.

        Raises:
            StoryboardError: the shot was planned from another version of a source or still.
        """
        shot = self.plans[job.shot_id]
        if shot.continues is not None:
            source = self.outcomes[shot.continues]
            await _stage_source_frame(self.references, shot, shot.continues, source)
        for still in shot.after:
            await _stage_still(self.references, shot, still, self.outcomes[still])
        return self.references.sign(shot.payload, self.link_seconds)

    async def find_stored(self, job: ShotJob) -> tuple[dict[str, StoredObject], str | None] | None:
        """The shot's verified files at ``<title>/<shot>.mp4`` (and ``.jpg``) from its inputs."""
        video = self.location.key(self.title, f"{job.shot_id}.mp4")
        thumbnail = self.location.key(self.title, f"{job.shot_id}.jpg")
        return await shot_storage.find_stored(self.location, video, thumbnail, job, self.present)

    async def still_stored(self, job: ShotJob, objects: dict[str, StoredObject]) -> bool:
        """Whether the shot's stored files are still there, from its inputs."""
        return await shot_storage.still_stored(self.location, job, objects)

    async def store(self, job: ShotJob, request: GMIRequest) -> dict[str, StoredObject]:
        """Store the request's files, verified, as ``<title>/<shot>.<ext>``."""
        return await self._storer(job, request)

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """One of the run's ``max_concurrency`` slots, then one of ``concurrency_limit``'s."""
        async with self._in_flight, quota_slot(self.options.concurrency_limit):
            yield

    def before_submit(self, job: ShotJob) -> contextlib.AbstractAsyncContextManager[None]:
        """The shot's seconds taken from ``budget_limit`` (nothing without one)."""
        return self._budget(job)

    async def on_submitted(self, job: ShotJob, request: GMIRequest) -> None:
        """A ``gmicloud.request.submitted`` event naming the shot."""
        await announce(job, request)


async def _stage_source_frame(
    references: StagedReferences, shot: PlannedShot, source_id: str, source: ShotResult
) -> None:
    """Stage the last frame of ``source`` where ``shot``'s payload names its first frame.

    Raises:
        StoryboardError: the payload was planned from another version of the source.
    """
    video = source.objects.get("video")
    wanted = references.frame_url(source.inputs_hash)
    if video is None or wanted not in dict(shot.media_urls()).values():
        raise StoryboardError(
            shot.shot_id,
            [f"planned from another version of shot {source_id}: run the storyboard again"],
        )
    await references.stage_frame(video, source.inputs_hash)


async def _stage_still(
    references: StagedReferences, shot: PlannedShot, still_id: str, still: ShotResult
) -> None:
    """Stage the stored still ``still`` where ``shot``'s payload names it (a PNG).

    Raises:
        StoryboardError: the still has no stored image, or the payload was planned from
            another version of it.
    """
    image = shot_storage.still_image(still.objects)
    wanted = references.still_url(still.inputs_hash)
    if image is None or wanted not in [url for _, url in shot.media_urls()]:
        raise StoryboardError(
            shot.shot_id,
            [f"planned from another version of {still_id}: run the storyboard again"],
        )
    await references.stage_still(image, still.inputs_hash)
