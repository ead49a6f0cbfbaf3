"""Where a run's objects go: a store, a bucket and a prefix, and the operations the flows need.

Storage is named either by a prefect-aws ``S3Bucket`` block (where Prefect users keep their S3
settings and keys) or by an :class:`~prefect_gmicloud.storage.destination.S3Destination`;
:func:`resolve_storage` turns either into a :class:`StorageLocation` over the storage port.
"""

from __future__ import annotations

import json
import mimetypes
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from prefect_gmicloud.errors import StorageError
from prefect_gmicloud.storage.destination import S3Destination, plain_prefix
from prefect_gmicloud.storage.keys import safe_key
from prefect_gmicloud.storage.port import ObjectInfo, ObjectStore

if TYPE_CHECKING:
    from prefect_aws.s3 import S3Bucket

#: Presigned (SigV4) links work at most 7 days.
MAX_LINK_SECONDS = 7 * 24 * 3600


class StoredObject(BaseModel):
    """An object written to S3."""

    uri: str
    bucket: str
    key: str
    size: int
    etag: str
    sha256: str | None = None
    content_type: str | None = None


@dataclass(frozen=True)
class FoundObject:
    """An object in storage and its metadata (``x-amz-meta-*``, names in lowercase)."""

    stored: StoredObject
    metadata: dict[str, str]


@dataclass(frozen=True)
class JSONDocument:
    """A JSON object read from storage, and what the store said of it."""

    value: Any
    info: ObjectInfo


@dataclass(frozen=True)
class StorageLocation:
    """A store, the bucket and the prefix a run writes under.

    Args:
        store: the storage port's backend.
        bucket: the run's bucket.
        prefix: the folder everything is written under ("" for the bucket's root).
    """

    store: ObjectStore
    bucket: str
    prefix: str

    def key(self, *parts: str) -> str:
        """The object key for ``parts`` under the prefix; refuses anything that escapes it."""
        return safe_key(self.prefix, *parts)

    def uri(self, key: str, bucket: str | None = None) -> str:
        """``s3://bucket/key``."""
        return f"s3://{bucket or self.bucket}/{key}"

    def stored(self, info: ObjectInfo, *, bucket: str | None = None) -> StoredObject:
        """A :class:`StoredObject` from what the store said of an object."""
        return StoredObject(
            uri=self.uri(info.key, bucket),
            bucket=bucket or self.bucket,
            key=info.key,
            size=info.size,
            etag=info.plain_etag,
            sha256=info.metadata.get("sha256"),
            content_type=info.content_type,
        )

    async def find(self, key: str, bucket: str | None = None) -> FoundObject | None:
        """The object at ``key`` (one ``HeadObject``), or ``None`` when there is none.

        Raises:
            StorageError: the storage could not be asked (anything but "not found").
        """
        info = await self.store.head(bucket or self.bucket, key)
        if info is None:
            return None
        return FoundObject(self.stored(info, bucket=bucket), info.metadata)

    async def read_json(self, key: str, bucket: str | None = None) -> JSONDocument | None:
        """The JSON document at ``key``, or ``None`` when there is none.

        Raises:
            StorageError: it is not JSON, or it could not be read.
        """
        body = await self.store.read(bucket or self.bucket, key)
        if body is None:
            return None
        try:
            value = json.loads(body.data)
        except ValueError as exc:
            raise StorageError(self.uri(key, bucket), f"not JSON ({exc})") from None
        return JSONDocument(value, body.info)

    async def write_json(self, key: str, document: Any) -> ObjectInfo:
        """Write ``document`` (JSON-ready data, or text already in JSON) to ``key``."""
        text = document if isinstance(document, str) else json.dumps(document, indent=1)
        return await self.store.write(self.bucket, key, text.encode())

    async def upload(
        self,
        path: Path,
        key: str,
        *,
        metadata: dict[str, str] | None = None,
        sha256: str | None = None,
        content_type: str | None = None,
    ) -> StoredObject:
        """Upload ``path`` to ``key``, memory flat at any size.

        ``metadata`` values go in ``x-amz-meta-*`` (ASCII only, as S3 requires). ``sha256`` is
        stored there too, so a later run can tell whether the object is the same without
        reading it.
        """
        content_type = (
            content_type or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        )
        meta = dict(metadata or {})
        if sha256:
            meta["sha256"] = sha256
        info = await self.store.upload(
            self.bucket, key, path, content_type=content_type, metadata=meta
        )
        stored = self.stored(info)
        return stored.model_copy(update={"sha256": sha256, "content_type": content_type})

    async def download(self, obj: StoredObject, path: Path) -> None:
        """Copy a stored object into the file ``path``."""
        await self.store.download(obj.bucket, obj.key, path)

    def presigned_url(
        self, key: str, expires_in: int = MAX_LINK_SECONDS, bucket: str | None = None
    ) -> str:
        """An http(s) GET link to ``key`` that needs no credentials for ``expires_in`` seconds.

        Signed locally with the store's keys (no request is made). The link carries the
        access key id and a signature, never the secret key.

        Args:
            key: The object key.
            expires_in: Seconds the link works, 1 to 7 days (SigV4's limit).
            bucket: The object's bucket when not this location's.

        Raises:
            ValueError: ``expires_in`` is outside 1 s to 7 days.
        """
        if not 1 <= expires_in <= MAX_LINK_SECONDS:
            raise ValueError(
                f"expires_in: must be between 1 and {MAX_LINK_SECONDS} seconds (7 days), "
                f"got {expires_in}"
            )
        return self.store.presign(bucket or self.bucket, key, expires_in)


def resolve_storage(storage: S3Bucket | S3Destination) -> StorageLocation:
    """The store, bucket and prefix of either kind of storage setting."""
    from prefect_gmicloud.storage.s3_store import S3Store

    if isinstance(storage, S3Destination):
        return StorageLocation(S3Store(storage.s3_client()), storage.bucket, storage.prefix)
    return StorageLocation(
        S3Store(storage.credentials.get_s3_client()),
        storage.bucket_name,
        plain_prefix((storage.bucket_folder or "").strip("/")),
    )
