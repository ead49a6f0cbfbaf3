"""The storage port on S3 and S3-compatible stores, through boto3: the only module that calls it.

Each store answers conditional writes its own way (``research`` of the common ones): a lost
``If-None-Match: *`` is 412 (or 409 ``ConditionalRequestConflict`` under a race on AWS); a
lost ``If-Match`` is 412, or 404 when the key is missing (AWS) where Ceph says 412; stores that
cannot do them answer 501 ``NotImplemented`` (Backblaze B2). Those answers are mapped here,
once. Stores that silently ignore the headers answer 200: only a probe can tell
(``storage/probe.py``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import functools
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from prefect_gmicloud.errors import StorageError, UnsafeStore, WriteConflict
from prefect_gmicloud.storage.port import SMALL_OBJECT_BYTES, ObjectBody, ObjectInfo, ObjectStore

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

T = TypeVar("T")

#: boto3's own defaults, stated: multipart from 8 MiB in 8 MiB parts, 10 at a time. Measured
#: (benchmarks/transfer.py, 1 GiB): 16 MiB x 4 reached only 0.62 of this throughput, and this
#: keeps peak RSS growth near 30 MiB whatever the file size.
TRANSFER_CONFIG = TransferConfig(
    multipart_threshold=8 * 1024**2, multipart_chunksize=8 * 1024**2, max_concurrency=10
)

#: Read in chunks of this many bytes.
_CHUNK = 1 << 20

#: How many boto3 calls run at once, each in a thread of the stores' own pool and on a
#: connection of its client's pool. boto3 blocks, so a call takes a thread while it waits on
#: the network; asyncio's default pool (cores + 4 threads: 6 on two cores) is shared with every
#: other ``to_thread`` of the process, and a board of 100 shots queued its ledger writes there.
MAX_CALLS_AT_ONCE = 32
_CALLS = concurrent.futures.ThreadPoolExecutor(MAX_CALLS_AT_ONCE, thread_name_prefix="gmicloud-s3")

_MISSING_CODES = frozenset({"NoSuchKey", "404", "NotFound"})
_CONFLICT_CODES = frozenset({"PreconditionFailed", "ConditionalRequestConflict"})


@functools.lru_cache(maxsize=16)
def s3_client(profile_name: str | None, endpoint_url: str | None, region: str | None) -> S3Client:
    """A boto3 S3 client for these settings, made once per process (boto3 clients are
    thread-safe; making one reads botocore's service models, ~50 ms of CPU)."""
    session = boto3.session.Session(profile_name=profile_name)
    return session.client(
        "s3",
        endpoint_url=endpoint_url,
        region_name=region,
        # "standard": retries with backoff, throttling (503 SlowDown) included; "adaptive"
        # adds a client-side rate limiter to every call, which cost upload throughput.
        # s3v4 stated: botocore would otherwise presign links with the legacy SigV2.
        config=Config(
            retries={"max_attempts": 8, "mode": "standard"},
            signature_version="s3v4",
            max_pool_connections=MAX_CALLS_AT_ONCE,
        ),
    )


def local_s3_client(endpoint_url: str) -> S3Client:
    """A client of a local S3 server (moto) that takes any keys: these are not a user's."""
    return boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",  # noqa: S106
        config=Config(max_pool_connections=MAX_CALLS_AT_ONCE),
    )


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _status(exc: ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))


def _is_missing(exc: ClientError) -> bool:
    return _code(exc) in _MISSING_CODES


def _store_time(answer: Any) -> float | None:
    date = answer.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("date")
    if not date:
        return None
    try:
        return parsedate_to_datetime(date).timestamp()
    except (TypeError, ValueError):
        return None


def _info(key: str, answer: Any, size: int | None = None) -> ObjectInfo:
    modified = answer.get("LastModified")
    return ObjectInfo(
        key=key,
        size=answer["ContentLength"] if size is None else size,
        etag=answer["ETag"],
        metadata={name.lower(): value for name, value in answer.get("Metadata", {}).items()},
        content_type=answer.get("ContentType"),
        last_modified=modified.timestamp() if modified is not None else None,
        store_time=_store_time(answer),
    )


def _written(
    key: str, answer: Any, size: int, content_type: str, meta: dict[str, str]
) -> ObjectInfo:
    # A PUT's answer has no Last-Modified; the object's is the moment the store answered.
    when = _store_time(answer)
    return ObjectInfo(
        key=key, size=size, etag=answer["ETag"], metadata=dict(meta),
        content_type=content_type, last_modified=when, store_time=when,
    )  # fmt: skip


def _ascii(metadata: dict[str, str] | None) -> dict[str, str]:
    """S3 metadata values are ASCII only, and small."""
    return {
        name: value.encode("ascii", "backslashreplace").decode("ascii")[:1024]
        for name, value in (metadata or {}).items()
    }


class S3Store(ObjectStore):
    """Any S3-compatible store, through a boto3 client.

    Args:
        client: the boto3 S3 client (its endpoint, region and keys).
    """

    def __init__(self, client: S3Client) -> None:
        self.client = client

    def __repr__(self) -> str:
        return f"S3Store({self.endpoint!r})"

    @property
    def endpoint(self) -> str:
        return str(self.client.meta.endpoint_url)

    async def _call(
        self, bucket: str, key: str, operation: Callable[[], T], *, conditional: bool = False
    ) -> T:
        """Run a blocking boto3 call off the loop; map its failures onto the port's errors."""
        uri = f"s3://{bucket}/{key}"
        try:
            return await asyncio.get_running_loop().run_in_executor(
                _CALLS, contextvars.copy_context().run, operation
            )
        except ClientError as exc:
            code, status = _code(exc), _status(exc)
            if conditional and (status in (409, 412) or code in _CONFLICT_CODES):
                raise WriteConflict(f"{uri} was written by someone else first") from None
            if conditional and (status == 501 or code == "NotImplemented"):
                raise UnsafeStore(
                    uri, f"the store at {self.endpoint} cannot write conditionally ({code})"
                ) from None
            raise StorageError(uri, code or str(exc)) from exc
        except BotoCoreError as exc:
            raise StorageError(uri, f"unreachable ({exc})") from exc

    async def head(self, bucket: str, key: str) -> ObjectInfo | None:
        def head() -> ObjectInfo | None:
            try:
                return _info(key, self.client.head_object(Bucket=bucket, Key=key))
            except ClientError as exc:
                if _is_missing(exc):
                    return None
                raise

        return await self._call(bucket, key, head)

    async def read(
        self, bucket: str, key: str, *, max_bytes: int = SMALL_OBJECT_BYTES
    ) -> ObjectBody | None:
        def get() -> ObjectBody | None:
            try:
                answer = self.client.get_object(Bucket=bucket, Key=key)
            except ClientError as exc:
                if _is_missing(exc):
                    return None
                raise
            body = answer["Body"]
            try:
                if answer["ContentLength"] > max_bytes:
                    raise StorageError(
                        f"s3://{bucket}/{key}",
                        f"{answer['ContentLength']} bytes: more than the {max_bytes} read whole",
                    )
                data = body.read(max_bytes + 1)
            finally:
                body.close()
            return ObjectBody(data, _info(key, answer, size=len(data)))

        return await self._call(bucket, key, get)

    async def create(
        self,
        bucket: str,
        key: str,
        data: bytes,
        *,
        content_type: str = "application/json",
        metadata: dict[str, str] | None = None,
    ) -> ObjectInfo:
        meta = _ascii(metadata)

        def put() -> ObjectInfo:
            answer = self.client.put_object(
                Bucket=bucket, Key=key, Body=data, ContentType=content_type, Metadata=meta,
                IfNoneMatch="*",
            )  # fmt: skip
            return _written(key, answer, len(data), content_type, meta)

        return await self._call(bucket, key, put, conditional=True)

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
        meta = _ascii(metadata)

        def put() -> ObjectInfo:
            try:
                answer = self.client.put_object(
                    Bucket=bucket, Key=key, Body=data, ContentType=content_type, Metadata=meta,
                    IfMatch=etag,
                )  # fmt: skip
            except ClientError as exc:
                if _is_missing(exc):  # AWS: If-Match on a missing key is 404
                    raise WriteConflict(f"s3://{bucket}/{key} is gone") from None
                raise
            return _written(key, answer, len(data), content_type, meta)

        return await self._call(bucket, key, put, conditional=True)

    async def write(
        self,
        bucket: str,
        key: str,
        data: bytes,
        *,
        content_type: str = "application/json",
        metadata: dict[str, str] | None = None,
    ) -> ObjectInfo:
        meta = _ascii(metadata)

        def put() -> ObjectInfo:
            answer = self.client.put_object(
                Bucket=bucket, Key=key, Body=data, ContentType=content_type, Metadata=meta
            )
            return _written(key, answer, len(data), content_type, meta)

        return await self._call(bucket, key, put)

    async def upload(
        self,
        bucket: str,
        key: str,
        path: Path,
        *,
        content_type: str,
        metadata: dict[str, str] | None = None,
    ) -> ObjectInfo:
        """Files below boto3's multipart threshold go in one ``PutObject`` (one request instead
        of a transfer manager's threads and a ``HeadObject``: what thumbnails and short clips
        need); larger ones through boto3's managed multipart transfer."""
        meta = _ascii(metadata)

        def put() -> ObjectInfo:
            size = path.stat().st_size
            if size < TRANSFER_CONFIG.multipart_threshold:
                with path.open("rb") as body:
                    answer = self.client.put_object(
                        Bucket=bucket, Key=key, Body=body, Metadata=meta, ContentType=content_type
                    )
                return _written(key, answer, size, content_type, meta)
            extra = {"Metadata": meta, "ContentType": content_type}
            self.client.upload_file(str(path), bucket, key, ExtraArgs=extra, Config=TRANSFER_CONFIG)
            return _info(key, self.client.head_object(Bucket=bucket, Key=key))

        return await self._call(bucket, key, put)

    async def download(self, bucket: str, key: str, path: Path) -> ObjectInfo:
        def get() -> ObjectInfo:
            try:
                answer = self.client.get_object(Bucket=bucket, Key=key)
            except ClientError as exc:
                if _is_missing(exc):
                    raise StorageError(f"s3://{bucket}/{key}", "no such object") from None
                raise
            body = answer["Body"]
            try:
                with path.open("wb") as file:
                    for chunk in body.iter_chunks(_CHUNK):
                        file.write(chunk)
            finally:
                body.close()
            return _info(key, answer)

        return await self._call(bucket, key, get)

    async def list_objects(self, bucket: str, prefix: str) -> list[ObjectInfo]:
        def listing() -> list[ObjectInfo]:
            found: list[ObjectInfo] = []
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=bucket, Prefix=prefix
            )
            for page in pages:
                for item in page.get("Contents", []):
                    found.append(
                        ObjectInfo(
                            key=item["Key"],
                            size=item["Size"],
                            etag=item["ETag"],
                            last_modified=item["LastModified"].timestamp(),
                            store_time=_store_time(page),
                        )
                    )
            return found

        return await self._call(bucket, prefix, listing)

    async def delete(self, bucket: str, key: str) -> None:
        await self._call(bucket, key, lambda: self.client.delete_object(Bucket=bucket, Key=key))

    def presign(self, bucket: str, key: str, expires_in: int) -> str:
        return self.client.generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=expires_in
        )

    def object_url(self, bucket: str, key: str) -> str:
        # botocore decides the addressing style (path or virtual host): ask it by signing.
        parts = urlsplit(self.presign(bucket, key, 60))
        return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))

    def create_bucket(self, bucket: str) -> None:
        """Create ``bucket`` (blocking): for local stores a stack sets up."""
        self.client.create_bucket(Bucket=bucket)
