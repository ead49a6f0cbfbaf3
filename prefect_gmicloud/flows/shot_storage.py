"""Where paid work lives in S3: stored with its inputs, found again by them.

A storyboard's shot is ``<title>/<shot>.mp4`` (and ``.jpg``); a video of ``generate_video`` is
``<key_prefix>/<name or request id>/video.mp4`` (and ``thumbnail.jpg``). Either way every object
carries the hash of the inputs it was made from, so a run can tell its own work from another's.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Collection

from prefect import get_run_logger
from prefect_aws.s3 import S3Bucket

from prefect_gmicloud.client.records import GMIRequest
from prefect_gmicloud.ledger.shot import ShotJob
from prefect_gmicloud.storage.destination import S3Destination
from prefect_gmicloud.storage.location import StorageLocation, StoredObject
from prefect_gmicloud.tasks.store_outcome import (
    STORE_RETRY_SECONDS,
    VERIFIED_METADATA,
    StoredFile,
    store_outcome,
)
from prefect_gmicloud.transfer.download import DEFAULT_MAX_BYTES

#: Object metadata naming the inputs a shot's files were made from.
INPUTS_HASH_METADATA = "gmi-inputs-hash"

#: Downloads, verifies and uploads a finished request's files; returns them by role.
Store = Callable[[ShotJob, GMIRequest], Awaitable[dict[str, StoredObject]]]
#: Where a finished request's files go: the folder (key parts) and the files' stem, if any.
Place = Callable[[ShotJob, GMIRequest], tuple[tuple[str, ...], str | None]]


def shot_storer(
    storage: S3Bucket | S3Destination,
    place: Place,
    max_bytes: int = DEFAULT_MAX_BYTES,
    at_once: int | None = None,
    task_runs: bool = False,
) -> Store:
    """Store a shot's files, verified, where ``place`` says; a file larger than ``max_bytes``
    is refused.

    A shot gives its quota slot back when its request ends, before its files are stored;
    ``at_once`` bounds how many shots download and upload at the same time (none: no bound).

    Args:
        storage: the run's storage.
        place: where each request's files go.
        max_bytes: the largest file accepted.
        at_once: how many shots store at once (none: no bound).
        task_runs: each shot's store is a ``store_outcome`` task run named after the stem
            ``place`` gives (``store <shot>``), with that task's retries. Without (what
            storyboards do), the same work and retries run in the flow run itself: a task run
            cost Prefect's server ~25 ms of CPU per shot and this process ~8 ms (a third of
            the CPU a storyboard added to the bare client), and the run's page shows every
            shot anyway.
    """
    storing = asyncio.Semaphore(at_once) if at_once else contextlib.nullcontext()

    async def store(job: ShotJob, request: GMIRequest) -> dict[str, StoredObject]:
        folder, stem = place(job, request)
        arguments = (request, storage, folder, stem, {INPUTS_HASH_METADATA: job.inputs_hash})
        async with storing:
            if task_runs:
                files = await store_outcome(*arguments, max_bytes)
            else:
                files = await _stored_with_retries(job, arguments, max_bytes)
        by_url = {f.url: f.stored for f in files}
        objects = {f.role: f.stored for f in files}
        for role, asset in (("video", request.video), ("thumbnail", request.thumbnail)):
            if asset is not None:
                objects[role] = by_url[asset.url]
        return objects

    return store


#: ``store_outcome``'s work without its task run (see ``shot_storer``'s ``task_runs``).
store_files = store_outcome.fn


async def _stored_with_retries(
    job: ShotJob,
    arguments: tuple[GMIRequest, S3Bucket | S3Destination, tuple[str, ...], str | None,
                     dict[str, str]],
    max_bytes: int,
) -> list[StoredFile]:  # fmt: skip
    """``store_files``, tried again after the pauses of the task's own retries (a download and
    an S3 ``PutObject`` can be done twice: the keys are the same)."""
    for pause in STORE_RETRY_SECONDS:
        try:
            return await store_files(*arguments, max_bytes)
        except Exception as exc:
            get_run_logger().warning(
                "shot %s: storing its files failed (%s); trying again in %g s", job.shot_id, exc,
                pause,
            )  # fmt: skip
            await asyncio.sleep(pause)
    return await store_files(*arguments, max_bytes)


def in_board(title: str) -> Place:
    """A storyboard's shots: ``<title>/<shot>.<ext>``."""
    return lambda job, request: ((title,), job.shot_id)


async def still_stored(
    location: StorageLocation, job: ShotJob, objects: dict[str, StoredObject]
) -> bool:
    """Whether a stored shot's video (and thumbnail) are still there, from these inputs; for
    a board's still or sound (no video), every file it stored."""
    if job.output == "video":
        wanted = [objects[role] for role in ("video", "thumbnail") if role in objects]
        if "video" not in objects:
            return False
    else:
        wanted = list(objects.values())
    if not wanted:
        return False
    for stored in wanted:
        found = await location.find(stored.key)
        if found is None or not made_from(found.metadata, job):
            return False
    return True


async def stored_keys(location: StorageLocation, folder: str) -> frozenset[str]:
    """Every key under ``folder`` now: one listing, so that shots stored before a run began
    can be found without a HEAD per shot."""
    listed = await location.store.list_objects(location.bucket, location.key(folder) + "/")
    return frozenset(info.key for info in listed)


def still_image(objects: dict[str, StoredObject]) -> StoredObject | None:
    """The image a board's still stored (its outcome's first image)."""
    return objects.get("thumbnail") or objects.get("image")


def sound_file(objects: dict[str, StoredObject]) -> StoredObject | None:
    """The audio file a board's narration or music stored (``audio_url``, or its first
    ``media_urls`` entry)."""
    found = objects.get("audio")
    if found is not None:
        return found
    return next((obj for role, obj in sorted(objects.items()) if role.startswith("media")), None)


async def find_stored(
    location: StorageLocation,
    video_key: str,
    thumbnail_key: str,
    job: ShotJob,
    present: Collection[str] | None = None,
) -> tuple[dict[str, StoredObject], str | None] | None:
    """The shot's verified files already at these keys from these inputs (the ledger lost).

    Args:
        location: the run's storage.
        video_key: where the shot's video would be.
        thumbnail_key: where its thumbnail would be.
        job: the shot (its inputs hash must be the files' own).
        present: the keys a listing found, when one was made: a video not among them is not
            looked for.
    """
    if present is not None and video_key not in present:
        return None
    video = await location.find(video_key)
    if video is None or not made_from(video.metadata, job):
        return None
    objects = {"video": video.stored}
    thumbnail = await location.find(thumbnail_key)
    if thumbnail is not None and made_from(thumbnail.metadata, job):
        objects["thumbnail"] = thumbnail.stored
    return objects, video.metadata.get("gmi-request-id")


def made_from(metadata: dict[str, str], job: ShotJob) -> bool:
    """Whether an object's metadata says it was verified and made from ``job``'s inputs."""
    verified = all(metadata.get(k) == v for k, v in VERIFIED_METADATA.items())
    return verified and metadata.get(INPUTS_HASH_METADATA) == job.inputs_hash
