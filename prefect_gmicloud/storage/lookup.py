"""What is already in storage: objects read back by key, with the metadata they were stored with."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from botocore.exceptions import BotoCoreError, ClientError

from prefect_gmicloud.errors import StorageError
from prefect_gmicloud.storage.s3 import S3Location, StoredObject


def is_missing(exc: ClientError) -> bool:
    """Whether S3 refused because the object is not there (GET says NoSuchKey, HEAD 404)."""
    return exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound")


@dataclass(frozen=True)
class FoundObject:
    """An object in storage and its ``x-amz-meta-*`` values."""

    stored: StoredObject
    metadata: dict[str, str]


async def find_object(location: S3Location, key: str) -> FoundObject | None:
    """The object at ``key`` (one ``HeadObject``), or ``None`` when there is none.

    Raises:
        StorageError: the storage could not be asked (anything but "not found").
    """

    def head() -> FoundObject | None:
        try:
            answer = location.client.head_object(Bucket=location.bucket, Key=key)
        except ClientError as exc:
            if is_missing(exc):
                return None
            raise
        metadata = {name.lower(): value for name, value in answer.get("Metadata", {}).items()}
        stored = StoredObject(
            uri=location.uri(key),
            bucket=location.bucket,
            key=key,
            size=answer["ContentLength"],
            etag=answer["ETag"].strip('"'),
            sha256=metadata.get("sha256"),
            content_type=answer.get("ContentType"),
        )
        return FoundObject(stored, metadata)

    try:
        return await asyncio.to_thread(head)
    except (ClientError, BotoCoreError) as exc:
        raise StorageError(location.uri(key), f"cannot be read ({exc})") from exc
