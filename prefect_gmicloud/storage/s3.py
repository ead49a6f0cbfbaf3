"""Uploads to S3 (or any S3-compatible endpoint) from a file, memory flat, with metadata.

Storage is named either by a prefect-aws ``S3Bucket`` block (where Prefect users keep their S3
settings and keys) or by an :class:`S3Destination`, which holds no secret: its keys come from
the standard AWS chain (environment, profile, instance role), so it is safe as a flow parameter.
"""

from __future__ import annotations

import functools
import mimetypes
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from prefect_aws.s3 import S3Bucket
from pydantic import BaseModel, ConfigDict, Field, field_validator

from prefect_gmicloud.errors import UnsafeKeyError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

#: boto3's own defaults, stated: multipart from 8 MiB in 8 MiB parts, 10 at a time. Measured
#: (benchmarks/transfer.py, 1 GiB): 16 MiB x 4 reached only 0.62 of this throughput, and this
#: keeps peak RSS growth near 30 MiB whatever the file size.
TRANSFER_CONFIG = TransferConfig(
    multipart_threshold=8 * 1024**2, multipart_chunksize=8 * 1024**2, max_concurrency=10
)


#: Presigned (SigV4) links work at most 7 days.
MAX_LINK_SECONDS = 7 * 24 * 3600


class S3Destination(BaseModel):
    """A bucket and prefix on S3 or an S3-compatible endpoint; keys from the AWS chain.

    Example:
        ```python
        S3Destination(bucket="media", prefix="gmicloud", endpoint_url="http://127.0.0.1:9000")
        ```
    """

    model_config = ConfigDict(frozen=True)

    bucket: str = Field(min_length=3, max_length=63, description="The bucket name.")
    prefix: str = Field("", description="A folder inside the bucket for everything written.")
    endpoint_url: str | None = Field(None, description="For S3-compatible stores (MinIO...).")
    region_name: str | None = Field(None, description="The bucket's region.")
    profile_name: str | None = Field(None, description="An AWS profile to take keys from.")

    @field_validator("endpoint_url")
    @classmethod
    def _endpoint_is_an_http_url(cls, url: str | None) -> str | None:
        if url is not None and not re.fullmatch(r"https?://[^\s/?#]+(/\S*)?", url):
            raise ValueError(f"must be an http(s) URL such as http://127.0.0.1:9000, got {url!r}")
        return url

    @field_validator("prefix")
    @classmethod
    def _prefix_is_a_plain_folder(cls, prefix: str) -> str:
        _refuse_odd_segments([segment for segment in prefix.split("/") if segment], prefix)
        return prefix

    def s3_client(self) -> S3Client:
        """A boto3 S3 client for this destination, made once per process and settings.

        Making one reads botocore's service models (~50 ms of CPU); a storyboard uploads two
        files per shot, so making them afresh cost half of a 100-shot run's event loop
        (benchmarks/overhead.py). boto3 clients are thread-safe.
        """
        return _client(self.profile_name, self.endpoint_url, self.region_name)


@functools.lru_cache(maxsize=16)
def _client(profile_name: str | None, endpoint_url: str | None, region: str | None) -> S3Client:
    session = boto3.session.Session(profile_name=profile_name)
    return session.client(
        "s3",
        endpoint_url=endpoint_url,
        region_name=region,
        # "standard": retries with backoff; "adaptive" adds a client-side rate limiter to
        # every call, which cost upload throughput in benchmarks/transfer.py.
        # s3v4 stated: botocore would otherwise presign links with the legacy SigV2.
        config=Config(retries={"max_attempts": 8, "mode": "standard"}, signature_version="s3v4"),
    )


@dataclass(frozen=True)
class S3Location:
    """A ready client with the bucket and prefix objects are written under."""

    client: S3Client
    bucket: str
    prefix: str

    def key(self, *parts: str) -> str:
        """The object key for ``parts`` under the prefix; refuses anything that escapes it."""
        return safe_key(self.prefix, *parts)

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def presigned_url(
        self, key: str, expires_in: int = MAX_LINK_SECONDS, bucket: str | None = None
    ) -> str:
        """An http(s) GET link to ``key`` that needs no credentials for ``expires_in`` seconds.

        Signed locally with the client's keys (no request is made). The link carries the
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
        return self.client.generate_presigned_url(
            "get_object",
            Params={"Bucket": bucket or self.bucket, "Key": key},
            ExpiresIn=expires_in,
        )


def safe_key(prefix: str, *parts: str) -> str:
    """Join key parts under ``prefix``; refuse ``..``, ``.``, empty, ``\\`` or control segments."""
    prefix_segments = [segment for segment in prefix.split("/") if segment]
    name_segments = [segment for part in parts for segment in part.split("/")]
    if not name_segments or name_segments == [""]:
        raise UnsafeKeyError("an object key needs a name under the prefix")
    _refuse_odd_segments(prefix_segments, prefix)
    _refuse_odd_segments(name_segments, "/".join(parts))
    key = "/".join(prefix_segments + name_segments)
    if len(key.encode()) > 1024:
        raise UnsafeKeyError(f"S3 keys are at most 1024 bytes, got {len(key.encode())}")
    return key


def _refuse_odd_segments(segments: list[str], where: str) -> None:
    for segment in segments:
        if segment in ("", ".", "..") or "\\" in segment or any(ord(c) < 32 for c in segment):
            raise UnsafeKeyError(f"unsafe S3 key segment {segment!r} in {where!r}")


def resolve_storage(storage: S3Bucket | S3Destination) -> S3Location:
    """A client, bucket and prefix from either kind of storage setting."""
    if isinstance(storage, S3Destination):
        return S3Location(storage.s3_client(), storage.bucket, storage.prefix.strip("/"))
    client: S3Client = storage.credentials.get_s3_client()
    return S3Location(client, storage.bucket_name, (storage.bucket_folder or "").strip("/"))


class StoredObject(BaseModel):
    """An object written to S3."""

    uri: str
    bucket: str
    key: str
    size: int
    etag: str
    sha256: str | None = None
    content_type: str | None = None


def upload_file(
    location: S3Location,
    path: Path,
    key: str,
    *,
    metadata: dict[str, str] | None = None,
    sha256: str | None = None,
    content_type: str | None = None,
) -> StoredObject:
    """Upload ``path`` to ``key``; blocking. Large files go multipart with boto3's managed
    transfer, files below its threshold in one ``PutObject`` (one request instead of a transfer
    manager's threads and a ``HeadObject``: what thumbnails and short clips need).

    ``metadata`` values go in ``x-amz-meta-*`` (ASCII only, as S3 requires). ``sha256`` is stored
    there too, so a later run can tell whether the object is the same without reading it.
    """
    content_type = content_type or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    meta = {name: _ascii(value) for name, value in (metadata or {}).items()}
    if sha256:
        meta["sha256"] = sha256
    size = path.stat().st_size
    if size < TRANSFER_CONFIG.multipart_threshold:
        with path.open("rb") as body:
            put = location.client.put_object(
                Bucket=location.bucket, Key=key, Body=body, Metadata=meta, ContentType=content_type
            )
        etag = put["ETag"]
    else:
        extra: dict[str, Any] = {"Metadata": meta, "ContentType": content_type}
        location.client.upload_file(
            str(path), location.bucket, key, ExtraArgs=extra, Config=TRANSFER_CONFIG
        )
        head = location.client.head_object(Bucket=location.bucket, Key=key)
        size, etag = head["ContentLength"], head["ETag"]
    return StoredObject(
        uri=location.uri(key),
        bucket=location.bucket,
        key=key,
        size=size,
        etag=etag.strip('"'),
        sha256=sha256,
        content_type=content_type,
    )


def _ascii(value: str) -> str:
    return value.encode("ascii", "backslashreplace").decode("ascii")[:1024]
