"""Uploads reach a real S3-protocol server, with metadata, from either kind of storage setting."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from prefect_aws import AwsClientParameters, AwsCredentials
from prefect_aws.s3 import S3Bucket

from prefect_gmicloud.errors import UnsafeKeyError
from prefect_gmicloud.storage import (
    S3Destination,
    resolve_storage,
    safe_key,
)


async def test_upload_from_a_destination(bucket: S3Destination, tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    path.write_bytes(b"\x00\x01video" * 1000)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    location = resolve_storage(bucket)
    stored = await location.upload(
        path, location.key("shots", "one.mp4"), metadata={"gmi-request-id": "r-1"}, sha256=digest
    )
    assert stored.uri == f"s3://{bucket.bucket}/out/shots/one.mp4"
    assert stored.size == path.stat().st_size and stored.content_type == "video/mp4"
    client = bucket.s3_client()
    head = client.head_object(Bucket=bucket.bucket, Key="out/shots/one.mp4")
    assert head["Metadata"] == {"gmi-request-id": "r-1", "sha256": digest}
    body = client.get_object(Bucket=bucket.bucket, Key="out/shots/one.mp4")["Body"]
    assert hashlib.sha256(body.read()).hexdigest() == digest


async def test_upload_through_an_s3_bucket_block(bucket: S3Destination, tmp_path: Path) -> None:
    block = S3Bucket(
        bucket_name=bucket.bucket,
        bucket_folder="from-block",
        credentials=AwsCredentials(
            aws_access_key_id="testing",
            aws_secret_access_key="testing-secret",
            region_name="us-east-1",
            aws_client_parameters=AwsClientParameters(endpoint_url=bucket.endpoint_url),
        ),
    )
    path = tmp_path / "t.jpg"
    path.write_bytes(b"\xff\xd8 thumbnail")
    location = resolve_storage(block)
    stored = await location.upload(path, location.key("t.jpg"))
    assert stored.key == "from-block/t.jpg" and stored.content_type == "image/jpeg"


async def test_multipart_upload_of_a_larger_file(bucket: S3Destination, tmp_path: Path) -> None:
    path = tmp_path / "big.mp4"
    path.write_bytes(b"x" * (9 * 1024 * 1024))  # over the 8 MiB multipart threshold
    location = resolve_storage(bucket)
    stored = await location.upload(path, location.key("big.mp4"))
    assert stored.size == 9 * 1024 * 1024
    assert "-" in stored.etag  # a multipart ETag: "<md5 of parts>-<count>"


@pytest.mark.parametrize(
    "parts",
    [("..", "x.mp4"), ("a/../../x",), ("/abs",), ("",), ("a//b",), ("a\\b",), ("bad\x00",), (".",)],
)
def test_keys_that_escape_the_prefix_are_refused(parts: tuple[str, ...]) -> None:
    with pytest.raises(UnsafeKeyError):
        safe_key("out", *parts)


def test_keys_join_under_the_prefix() -> None:
    assert safe_key("out/", "board", "shot-1.mp4") == "out/board/shot-1.mp4"
    assert safe_key("", "a.mp4") == "a.mp4"
    with pytest.raises(UnsafeKeyError, match="at most 1024 bytes"):
        safe_key("out", "x" * 1100)
    with pytest.raises(UnsafeKeyError):
        safe_key("../out", "x")
