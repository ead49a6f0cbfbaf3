"""``check_storage``: prove the storage before a flow pays for anything it will store there."""

from __future__ import annotations

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect_aws.s3 import S3Bucket

from prefect_gmicloud.storage import S3Destination, resolve_storage
from prefect_gmicloud.storage.probe import require_safe_store


@task(name="gmicloud-check-storage", cache_policy=NO_CACHE)
async def check_storage(storage: S3Bucket | S3Destination) -> None:
    """Prove ``storage`` takes writes and keeps conditional ones; call it before paying.

    A bucket that cannot be written would fail only after the request is paid; a store that
    ignores conditional writes would let two runs pay for one result. Both are refused here,
    before anything is sent to GMI. The verdict is kept per store and bucket for an hour.

    Args:
        storage: an ``S3Bucket`` block or an ``S3Destination``.

    Raises:
        UnsafeStore: the store ignores conditional writes (the message says what to do).
        StorageError: the bucket cannot be written or read.

    Example:
        ```python
        await check_storage(storage)
        request = await submit_request(credentials, payload)
        ```
    """
    verdict = await require_safe_store(resolve_storage(storage))
    get_run_logger().info(
        "storage %s (bucket %s) keeps conditional writes (checked in %.2f s)",
        verdict.endpoint, verdict.bucket, verdict.seconds,
    )  # fmt: skip
