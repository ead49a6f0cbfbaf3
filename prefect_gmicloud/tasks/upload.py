"""``upload_to_s3``: a local file to S3 or any S3-compatible store, memory flat."""

from __future__ import annotations

from pathlib import Path

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect_aws.s3 import S3Bucket

from prefect_gmicloud.storage import S3Destination, StoredObject, resolve_storage


@task(name="gmicloud-upload", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[2, 10])
async def upload_to_s3(
    path: Path,
    key: str,
    storage: S3Bucket | S3Destination,
    metadata: dict[str, str] | None = None,
    sha256: str | None = None,
) -> StoredObject:
    """Upload ``path`` as ``key`` (relative to the storage's prefix) with managed multipart.

    ``storage`` is a prefect-aws ``S3Bucket`` block or an :class:`S3Destination`. The object
    carries ``metadata`` and ``sha256`` as ``x-amz-meta-*``.

    Example:
        ```python
        s3 = await S3Bucket.load("BLOCK_NAME")
        stored = await upload_to_s3(Path("clip.mp4"), "shots/01.mp4", s3)
        ```
    """
    location = resolve_storage(storage)
    stored = await location.upload(Path(path), location.key(key), metadata=metadata, sha256=sha256)
    get_run_logger().info("uploaded %s (%d bytes)", stored.uri, stored.size)
    return stored
