"""``store_outcome``: a finished request's files, downloaded and uploaded to S3 in one task run."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path

from prefect import get_run_logger, runtime, task
from prefect.cache_policies import NO_CACHE
from prefect_aws.s3 import S3Bucket
from pydantic import BaseModel

from prefect_gmicloud.client.records import GMIRequest
from prefect_gmicloud.storage import S3Destination, StoredObject, resolve_storage
from prefect_gmicloud.transfer.download import DEFAULT_MAX_BYTES, DownloadedFile
from prefect_gmicloud.transfer.outcome import download_assets
from prefect_gmicloud.transfer.verify import verify_image, verify_video

#: Object metadata saying the file was checked to be what it claims before it was uploaded.
VERIFIED_METADATA = {"gmi-verified": "1"}
#: The pauses before each retry of a failed store.
STORE_RETRY_SECONDS = (2.0, 10.0)


class StoredFile(BaseModel):
    """One file of a request's outcome: where it came from, its role, where it is now."""

    url: str
    role: str
    stored: StoredObject


def _run_name() -> str:
    """``store <stem>`` (a storyboard's shot), else ``store <folder>``: named from the
    parameters at run time, so callers need no per-call ``with_options`` (a new Task object
    each time, ~5 ms a shot)."""
    parameters = runtime.task_run.parameters
    return f"store {parameters.get('stem') or '/'.join(parameters.get('key_parts') or ())}"


@task(
    name="gmicloud-store",
    task_run_name=_run_name,
    cache_policy=NO_CACHE,
    retries=len(STORE_RETRY_SECONDS),
    retry_delay_seconds=list(STORE_RETRY_SECONDS),
)
async def store_outcome(
    request: GMIRequest,
    storage: S3Bucket | S3Destination,
    key_parts: tuple[str, ...],
    stem: str | None = None,
    metadata: dict[str, str] | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> list[StoredFile]:
    """Download every file of a finished request and upload each under ``key_parts``.

    The work of ``download_outcome`` and ``upload_to_s3`` in one task run (a storyboard stores
    hundreds of requests; Prefect's per-run cost was most of its overhead). Files keep their
    outcome names (``video.mp4``, ``thumbnail.jpg``) unless ``stem`` is given: then the video
    and thumbnail are ``<stem>.<ext>`` and any other file ``<stem>-<name>``. Every object
    carries ``metadata``, the request id and model, and its sha256. A retry redoes both
    halves; the keys are the same, so it overwrites rather than duplicates.

    Nothing is uploaded unless every video is a video (a media container with a video stream,
    about as long as the request's ``duration``) and every image an image: an HTML error page
    served with status 200 fails the task (retried), naming the request.

    Args:
        request: a finished request (status ``success``).
        storage: an ``S3Bucket`` block or an ``S3Destination``.
        key_parts: the folder under the storage's prefix, e.g. ``("videos", "wave")``.
        stem: the base name for the video and thumbnail, e.g. a shot id.
        metadata: extra ``x-amz-meta-*`` values for every object.
        max_bytes: refuse a file larger than this.
    """
    location = resolve_storage(storage)
    tags = {
        "gmi-request-id": request.request_id,
        "gmi-model": request.model,
        **VERIFIED_METADATA,
        **(metadata or {}),
    }
    # Files staged for the upload: not synced to disk, and deleted off the event loop.
    workdir = await asyncio.to_thread(tempfile.mkdtemp, prefix="gmicloud-")
    try:
        files = await download_assets(request, Path(workdir), max_bytes, durable=False)
        await asyncio.to_thread(_verify, files, request)
        stored = await asyncio.gather(
            *(
                location.upload(
                    f.path, location.key(*key_parts, _object_name(f, request, stem)),
                    metadata=tags, sha256=f.sha256,
                )
                for f in files
            )
        )  # fmt: skip
    finally:
        await asyncio.shield(asyncio.to_thread(shutil.rmtree, workdir, ignore_errors=True))
    logger = get_run_logger()
    for obj in stored:
        logger.info("stored %s (%d bytes, sha256 %s)", obj.uri, obj.size, (obj.sha256 or "")[:12])
    return [
        StoredFile(url=f.url, role=f.path.stem, stored=s)
        for f, s in zip(files, stored, strict=True)
    ]


def _verify(files: list[DownloadedFile], request: GMIRequest) -> None:
    kinds = {asset.url: asset.kind for asset in request.assets}
    asked = (request.payload or {}).get("duration")
    seconds = float(asked) if isinstance(asked, int | float) else None
    source = f"GMI request {request.request_id}"
    for file in files:
        if kinds.get(file.url) == "video":
            verify_video(file.path, seconds, source)
        elif kinds.get(file.url) == "image":
            verify_image(file.path, source)


def _object_name(file: DownloadedFile, request: GMIRequest, stem: str | None) -> str:
    if stem is None:
        return file.path.name
    if file.url in {a.url for a in (request.video, request.thumbnail) if a is not None}:
        return f"{stem}{file.path.suffix}"
    return f"{stem}-{file.path.name}"
