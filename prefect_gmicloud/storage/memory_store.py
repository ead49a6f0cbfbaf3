"""The storage port in memory: one process's objects, for tests and for trying things.

It keeps the port's contract exactly (``tests/test_storage_contract.py`` runs against it and
against a real S3 server alike). With ``honours_conditions=False`` it behaves like the stores
that accept conditional headers and ignore them, which is what the store check must catch.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from prefect_gmicloud.errors import StorageError, WriteConflict
from prefect_gmicloud.storage.port import SMALL_OBJECT_BYTES, ObjectBody, ObjectInfo, ObjectStore


@dataclass(frozen=True)
class _Object:
    data: bytes
    info: ObjectInfo


class MemoryStore(ObjectStore):
    """Buckets of objects in this process's memory.

    Args:
        clock: the store's clock (Unix seconds); tests pass one they move.
        honours_conditions: ``False`` makes ``create`` and ``replace`` write whatever is there,
            as stores that ignore ``If-None-Match``/``If-Match`` do.
        name: shown as the store's endpoint.
    """

    def __init__(
        self,
        clock: Callable[[], float] = time.time,
        *,
        honours_conditions: bool = True,
        name: str = "memory://",
    ) -> None:
        self.clock = clock
        self.honours_conditions = honours_conditions
        self.name = name
        self.buckets: dict[str, dict[str, _Object]] = {}
        self._versions = 0

    def __repr__(self) -> str:
        return f"MemoryStore({self.name!r})"

    @property
    def endpoint(self) -> str:
        return self.name

    def create_bucket(self, bucket: str) -> None:
        """Make an empty bucket."""
        self.buckets.setdefault(bucket, {})

    def _bucket(self, bucket: str) -> dict[str, _Object]:
        if bucket not in self.buckets:
            raise StorageError(f"s3://{bucket}/", "NoSuchBucket")
        return self.buckets[bucket]

    def _seen(self, info: ObjectInfo) -> ObjectInfo:
        return replace(info, store_time=self.clock())

    def _put(
        self, bucket: str, key: str, data: bytes, content_type: str, metadata: dict[str, str] | None
    ) -> ObjectInfo:
        self._versions += 1
        digest = hashlib.md5(data + str(self._versions).encode(), usedforsecurity=False)
        now = self.clock()
        info = ObjectInfo(
            key=key, size=len(data), etag=f'"{digest.hexdigest()}"',
            metadata={k.lower(): v for k, v in (metadata or {}).items()},
            content_type=content_type, last_modified=now, store_time=now,
        )  # fmt: skip
        self._bucket(bucket)[key] = _Object(data, info)
        return info

    async def head(self, bucket: str, key: str) -> ObjectInfo | None:
        found = self._bucket(bucket).get(key)
        return None if found is None else self._seen(found.info)

    async def read(
        self, bucket: str, key: str, *, max_bytes: int = SMALL_OBJECT_BYTES
    ) -> ObjectBody | None:
        found = self._bucket(bucket).get(key)
        if found is None:
            return None
        if found.info.size > max_bytes:
            raise StorageError(
                f"s3://{bucket}/{key}",
                f"{found.info.size} bytes: more than the {max_bytes} read whole",
            )
        return ObjectBody(found.data, self._seen(found.info))

    async def create(
        self,
        bucket: str,
        key: str,
        data: bytes,
        *,
        content_type: str = "application/json",
        metadata: dict[str, str] | None = None,
    ) -> ObjectInfo:
        if self.honours_conditions and key in self._bucket(bucket):
            raise WriteConflict(f"s3://{bucket}/{key} was written by someone else first")
        return self._put(bucket, key, data, content_type, metadata)

    async def replace(
        self,
        bucket: str,
        key: str,
        data: bytes,
        *,
        etag: str,
        content_type: str = "application/json",
        metadata: dict[str, str] | None = None,
    ) -> ObjectInfo:
        found = self._bucket(bucket).get(key)
        if self.honours_conditions and (found is None or found.info.etag != etag):
            raise WriteConflict(f"s3://{bucket}/{key} was written by someone else first")
        return self._put(bucket, key, data, content_type, metadata)

    async def write(
        self,
        bucket: str,
        key: str,
        data: bytes,
        *,
        content_type: str = "application/json",
        metadata: dict[str, str] | None = None,
    ) -> ObjectInfo:
        return self._put(bucket, key, data, content_type, metadata)

    async def upload(
        self,
        bucket: str,
        key: str,
        path: Path,
        *,
        content_type: str,
        metadata: dict[str, str] | None = None,
    ) -> ObjectInfo:
        data = await asyncio.to_thread(path.read_bytes)
        return self._put(bucket, key, data, content_type, metadata)

    async def download(self, bucket: str, key: str, path: Path) -> ObjectInfo:
        found = self._bucket(bucket).get(key)
        if found is None:
            raise StorageError(f"s3://{bucket}/{key}", "no such object")
        await asyncio.to_thread(path.write_bytes, found.data)
        return self._seen(found.info)

    async def list_objects(self, bucket: str, prefix: str) -> list[ObjectInfo]:
        objects = self._bucket(bucket)
        return [
            replace(objects[key].info, metadata={}, store_time=self.clock())
            for key in sorted(objects)
            if key.startswith(prefix)
        ]

    async def delete(self, bucket: str, key: str) -> None:
        self._bucket(bucket).pop(key, None)

    def presign(self, bucket: str, key: str, expires_in: int) -> str:
        return f"{self.object_url(bucket, key)}?expires={int(self.clock()) + expires_in}"

    def object_url(self, bucket: str, key: str) -> str:
        return f"{self.name.rstrip('/')}/{bucket}/{key}"
