"""The storage port's contract, run against every backend: a real S3 server (moto) and memory.

A new backend passes this file before anything uses it.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from prefect_gmicloud.errors import StorageError, WriteConflict
from prefect_gmicloud.storage import ObjectStore, S3Destination
from prefect_gmicloud.storage.memory_store import MemoryStore
from prefect_gmicloud.storage.s3_store import S3Store


@pytest.fixture(params=["s3", "memory"])
def store(request: pytest.FixtureRequest) -> Iterator[tuple[ObjectStore, str]]:
    """A backend and an empty bucket on it."""
    name = f"contract-{uuid.uuid4().hex[:10]}"
    if request.param == "s3":
        endpoint: str = request.getfixturevalue("s3_endpoint")
        destination = S3Destination(bucket=name, endpoint_url=endpoint)
        s3 = S3Store(destination.s3_client())
        s3.create_bucket(name)
        yield s3, name
    else:
        memory = MemoryStore()
        memory.create_bucket(name)
        yield memory, name


async def test_head_and_read_say_none_for_a_missing_object(store: tuple[ObjectStore, str]) -> None:
    backend, bucket = store
    assert await backend.head(bucket, "nothing/here.json") is None
    assert await backend.read(bucket, "nothing/here.json") is None


async def test_a_written_object_reads_back_with_its_facts(store: tuple[ObjectStore, str]) -> None:
    backend, bucket = store
    before = time.time()
    written = await backend.write(
        bucket, "a/doc.json", b'{"x": 1}', content_type="application/json",
        metadata={"Gmi-Note": "hello"},
    )  # fmt: skip
    head = await backend.head(bucket, "a/doc.json")
    body = await backend.read(bucket, "a/doc.json")
    assert head is not None and body is not None
    assert body.data == b'{"x": 1}'
    assert head.size == 8 and head.etag == written.etag == body.info.etag
    assert head.metadata == {"gmi-note": "hello"}
    assert head.content_type == "application/json"
    # Both clocks are the store's, and agree with each other to the second.
    assert head.last_modified is not None and head.store_time is not None
    assert abs(head.last_modified - before) < 5 and 0 <= head.store_time - head.last_modified < 5


async def test_create_writes_only_what_is_absent(store: tuple[ObjectStore, str]) -> None:
    backend, bucket = store
    first = await backend.create(bucket, "claim.json", b"first")
    with pytest.raises(WriteConflict):
        await backend.create(bucket, "claim.json", b"second")
    body = await backend.read(bucket, "claim.json")
    assert body is not None and body.data == b"first" and body.info.etag == first.etag


async def test_replace_writes_only_over_the_version_read(store: tuple[ObjectStore, str]) -> None:
    backend, bucket = store
    first = await backend.create(bucket, "entry.json", b"v1")
    second = await backend.replace(bucket, "entry.json", b"v2", etag=first.etag)
    assert second.etag != first.etag
    with pytest.raises(WriteConflict):
        await backend.replace(bucket, "entry.json", b"stale", etag=first.etag)
    with pytest.raises(WriteConflict):
        await backend.replace(bucket, "missing.json", b"new", etag=first.etag)
    assert await backend.head(bucket, "missing.json") is None
    body = await backend.read(bucket, "entry.json")
    assert body is not None and body.data == b"v2"


async def test_a_large_object_is_not_read_whole(store: tuple[ObjectStore, str]) -> None:
    backend, bucket = store
    await backend.write(bucket, "big.bin", b"x" * 2048)
    with pytest.raises(StorageError, match="more than the 1024"):
        await backend.read(bucket, "big.bin", max_bytes=1024)


@pytest.mark.parametrize("size", [1000, 9 * 1024 * 1024])  # one PUT, and multipart
async def test_upload_and_download_keep_the_bytes(
    store: tuple[ObjectStore, str], tmp_path: Path, size: int
) -> None:
    backend, bucket = store
    source = tmp_path / "clip.mp4"
    source.write_bytes(bytes(range(256)) * (size // 256) + b"\x07" * (size % 256))
    uploaded = await backend.upload(
        bucket, "v/clip.mp4", source, content_type="video/mp4", metadata={"sha256": "abc"}
    )
    assert uploaded.size == size
    target = tmp_path / "back.mp4"
    downloaded = await backend.download(bucket, "v/clip.mp4", target)
    assert target.read_bytes() == source.read_bytes()
    assert downloaded.etag == uploaded.etag and downloaded.metadata == {"sha256": "abc"}
    with pytest.raises(StorageError, match="no such object"):
        await backend.download(bucket, "v/none.mp4", tmp_path / "none.mp4")


async def test_list_and_delete(store: tuple[ObjectStore, str]) -> None:
    backend, bucket = store
    for key in ("p/a.json", "p/b.json", "q/c.json"):
        await backend.write(bucket, key, b"{}")
    listed = await backend.list_objects(bucket, "p/")
    assert [info.key for info in listed] == ["p/a.json", "p/b.json"]
    assert all(info.size == 2 and info.last_modified for info in listed)
    await backend.delete(bucket, "p/a.json")
    await backend.delete(bucket, "p/never-there.json")
    assert [info.key for info in await backend.list_objects(bucket, "p/")] == ["p/b.json"]


async def test_links_name_the_object_and_signed_ones_serve_it(
    store: tuple[ObjectStore, str],
) -> None:
    backend, bucket = store
    await backend.write(bucket, "refs/guest.png", b"png bytes", content_type="image/png")
    plain = backend.object_url(bucket, "refs/guest.png")
    signed = backend.presign(bucket, "refs/guest.png", 600)
    assert plain.endswith("/refs/guest.png") and "?" not in plain
    assert signed.startswith(plain + "?")
    if signed.startswith("http"):
        async with httpx.AsyncClient() as http:
            answer = await http.get(signed)
        assert answer.status_code == 200 and answer.content == b"png bytes"
