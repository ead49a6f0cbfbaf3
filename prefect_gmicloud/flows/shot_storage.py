"""Where a storyboard's shots live in S3: stored with their inputs, found again by them."""

from __future__ import annotations

from prefect_aws.s3 import S3Bucket

from prefect_gmicloud.client.records import GMIRequest
from prefect_gmicloud.ledger.shot import ShotJob, Store
from prefect_gmicloud.storage.destination import S3Destination
from prefect_gmicloud.storage.location import StorageLocation, StoredObject
from prefect_gmicloud.tasks.store import VERIFIED_METADATA, store_outcome

#: Object metadata naming the inputs a shot's files were made from.
INPUTS_HASH_METADATA = "gmi-inputs-hash"


def shot_storer(storage: S3Bucket | S3Destination, title: str) -> Store:
    """Store a shot's files with a task run named after it, verified, under ``<title>/``."""

    async def store(job: ShotJob, request: GMIRequest) -> dict[str, StoredObject]:
        files = await store_outcome.with_options(task_run_name=f"store {job.shot_id}")(
            request, storage, (title,), job.shot_id, {INPUTS_HASH_METADATA: job.inputs_hash}
        )
        by_url = {f.url: f.stored for f in files}
        objects = {f.role: f.stored for f in files}
        for role, asset in (("video", request.video), ("thumbnail", request.thumbnail)):
            if asset is not None:
                objects[role] = by_url[asset.url]
        return objects

    return store


async def still_stored(
    location: StorageLocation, job: ShotJob, objects: dict[str, StoredObject]
) -> bool:
    """Whether a stored shot's video (and thumbnail) are still there, from these inputs."""
    wanted = [objects[role] for role in ("video", "thumbnail") if role in objects]
    if not wanted or "video" not in objects:
        return False
    for stored in wanted:
        found = await location.find(stored.key)
        if found is None or not made_from(found.metadata, job):
            return False
    return True


async def find_stored(
    location: StorageLocation, title: str, job: ShotJob
) -> tuple[dict[str, StoredObject], str | None] | None:
    """The shot's verified files already in storage from these inputs (when the ledger was lost)."""
    video = await location.find(location.key(title, f"{job.shot_id}.mp4"))
    if video is None or not made_from(video.metadata, job):
        return None
    objects = {"video": video.stored}
    thumbnail = await location.find(location.key(title, f"{job.shot_id}.jpg"))
    if thumbnail is not None and made_from(thumbnail.metadata, job):
        objects["thumbnail"] = thumbnail.stored
    return objects, video.metadata.get("gmi-request-id")


def made_from(metadata: dict[str, str], job: ShotJob) -> bool:
    """Whether an object's metadata says it was verified and made from ``job``'s inputs."""
    verified = all(metadata.get(k) == v for k, v in VERIFIED_METADATA.items())
    return verified and metadata.get(INPUTS_HASH_METADATA) == job.inputs_hash
