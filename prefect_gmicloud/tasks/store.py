"""``store_outcome``: a finished request's files, downloaded and uploaded to S3 in one task run."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect_aws.s3 import S3Bucket
from pydantic import BaseModel

from prefect_gmicloud.client.records import GMIRequest
from prefect_gmicloud.storage.s3 import S3Destination, StoredObject, resolve_storage, upload_file
from prefect_gmicloud.transfer.download import DEFAULT_MAX_BYTES, DownloadedFile
from prefect_gmicloud.transfer.outcome import download_assets


class StoredFile(BaseModel):
    """One file of a request's outcome: where it came from, its role, where it is now."""

    url: str
    role: str
    stored: StoredObject


@task(name="gmicloud-store", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[2, 10])
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
    """
    location = resolve_storage(storage)
    tags = {"gmi-request-id": request.request_id, "gmi-model": request.model, **(metadata or {})}
    with tempfile.TemporaryDirectory(prefix="gmicloud-") as workdir:
        files = await download_assets(request, Path(workdir), max_bytes)
        stored = await asyncio.gather(
            *(
                asyncio.to_thread(
                    upload_file, location, f.path,
                    location.key(*key_parts, _object_name(f, request, stem)),
                    metadata=tags, sha256=f.sha256,
                )
                for f in files
            )
        )  # fmt: skip
    logger = get_run_logger()
    for obj in stored:
        logger.info("stored %s (%d bytes, sha256 %s)", obj.uri, obj.size, (obj.sha256 or "")[:12])
    return [
        StoredFile(url=f.url, role=f.path.stem, stored=s)
        for f, s in zip(files, stored, strict=True)
    ]


def _object_name(file: DownloadedFile, request: GMIRequest, stem: str | None) -> str:
    if stem is None:
        return file.path.name
    if file.url in {a.url for a in (request.video, request.thumbnail) if a is not None}:
        return f"{stem}{file.path.suffix}"
    return f"{stem}-{file.path.name}"
