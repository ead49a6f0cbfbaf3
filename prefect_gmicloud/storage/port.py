"""The storage port: every object-store call the package makes, in the package's own words.

Nothing above ``storage/`` speaks boto3 or botocore: the ledger, the manifest, the review book,
reference staging, the final cut, ``collect_requests`` and shot storage all call an
:class:`ObjectStore`. A backend maps its store's answers onto this contract once:

- ``create`` writes only if no object has the key (S3: ``If-None-Match: *``); ``replace``
  writes only over the version whose ETag it is given (S3: ``If-Match``). Either raises
  :class:`~prefect_gmicloud.errors.WriteConflict` when its condition does not hold: the key
  exists, the object changed or is missing, or a concurrent conditional write won (AWS's 409).
- A store that cannot do conditional writes at all (S3's 501 ``NotImplemented``) raises
  :class:`~prefect_gmicloud.errors.UnsafeStore`. One that silently ignores the conditions
  cannot say so: ``storage/probe.py`` proves a store's conditions before anything is paid.
- Anything else that fails (unreachable, refused, throttled past the backend's retries) is a
  :class:`~prefect_gmicloud.errors.StorageError` naming the object.
- Every answer carries the store's own clock (``ObjectInfo.store_time``, from the HTTP
  ``Date`` of the answer) beside the object's ``last_modified``, so leases are judged on one
  clock both sides share, never on a worker's.

A new backend is one module implementing :class:`ObjectStore` that passes
``tests/test_storage_contract.py``; ``s3_store.py`` (boto3, any S3-compatible endpoint) and
``memory_store.py`` (in-process, for tests) are the two today.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from pathlib import Path

#: A JSON document or other small object read whole: at most this many bytes.
SMALL_OBJECT_BYTES = 16 * 1024**2


@dataclass(frozen=True)
class ObjectInfo:
    """What a store says of one object.

    Attributes:
        key: the object's key.
        size: its length in bytes.
        etag: its ETag exactly as the store returned it (quotes included): conditional writes
            must send it back unchanged.
        metadata: its user metadata (S3's ``x-amz-meta-*``), names in lowercase.
        content_type: its media type, when the store said.
        last_modified: Unix time of its last write on the store's clock, when the store said.
        store_time: Unix time on the store's clock when it answered, when it said.
    """

    key: str
    size: int
    etag: str
    metadata: dict[str, str] = field(default_factory=dict)
    content_type: str | None = None
    last_modified: float | None = None
    store_time: float | None = None

    @property
    def plain_etag(self) -> str:
        """The ETag without its quotes, as manifests and results show it."""
        return self.etag.strip('"')


@dataclass(frozen=True)
class ObjectBody:
    """A small object read whole, and what the store said of it."""

    data: bytes
    info: ObjectInfo


class ObjectStore(abc.ABC):
    """One object store (an endpoint and the keys to it); buckets are named per call.

    Every method is a coroutine that does its blocking work off the event loop.
    """

    @property
    @abc.abstractmethod
    def endpoint(self) -> str:
        """Where the store is, for messages and for caching what was proven about it."""

    @abc.abstractmethod
    async def head(self, bucket: str, key: str) -> ObjectInfo | None:
        """What the store says of ``key``, or ``None`` when there is no such object."""

    @abc.abstractmethod
    async def read(
        self, bucket: str, key: str, *, max_bytes: int = SMALL_OBJECT_BYTES
    ) -> ObjectBody | None:
        """The whole of a small object, or ``None`` when there is none.

        Raises:
            StorageError: the object is larger than ``max_bytes``, or it could not be read.
        """

    @abc.abstractmethod
    async def create(
        self,
        bucket: str,
        key: str,
        data: bytes,
        *,
        content_type: str = "application/json",
        metadata: dict[str, str] | None = None,
    ) -> ObjectInfo:
        """Write ``key`` only if no object has it.

        Raises:
            WriteConflict: an object has the key (or a concurrent conditional write won).
            UnsafeStore: the store cannot write conditionally.
        """

    @abc.abstractmethod
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
        """Write ``key`` only over the version whose ETag is ``etag``.

        Raises:
            WriteConflict: the object changed, or there is none (or a concurrent conditional
                write won).
            UnsafeStore: the store cannot write conditionally.
        """

    @abc.abstractmethod
    async def write(
        self,
        bucket: str,
        key: str,
        data: bytes,
        *,
        content_type: str = "application/json",
        metadata: dict[str, str] | None = None,
    ) -> ObjectInfo:
        """Write ``key`` whatever is there."""

    @abc.abstractmethod
    async def upload(
        self,
        bucket: str,
        key: str,
        path: Path,
        *,
        content_type: str,
        metadata: dict[str, str] | None = None,
    ) -> ObjectInfo:
        """Write the file at ``path`` to ``key`` (whatever is there), memory flat at any size."""

    @abc.abstractmethod
    async def download(self, bucket: str, key: str, path: Path) -> ObjectInfo:
        """Copy the object at ``key`` into the file ``path``, memory flat at any size.

        Raises:
            StorageError: there is no such object, or it could not be read.
        """

    @abc.abstractmethod
    async def list_objects(self, bucket: str, prefix: str) -> list[ObjectInfo]:
        """Every object whose key starts with ``prefix`` (``metadata`` is not filled in)."""

    @abc.abstractmethod
    async def delete(self, bucket: str, key: str) -> None:
        """Remove ``key``; nothing happens when there is no such object."""

    @abc.abstractmethod
    def presign(self, bucket: str, key: str, expires_in: int) -> str:
        """An http(s) GET link to ``key`` that needs no credentials for ``expires_in`` s.

        Signed locally (no request is made); the link never holds a secret key.
        """

    @abc.abstractmethod
    def object_url(self, bucket: str, key: str) -> str:
        """The link to ``key`` without a signature: the same for every signing of it."""
