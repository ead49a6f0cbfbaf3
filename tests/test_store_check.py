"""A store's conditional writes are proven before anything is paid into it, on real stores that
keep them (moto) and that ignore them (a header-stripping proxy, npm's s3rver)."""

from __future__ import annotations

import asyncio
import socket
import threading
import uuid
from collections.abc import Iterator

import boto3
import pytest
from botocore.config import Config

from prefect_gmicloud.errors import StorageError, UnsafeStore
from prefect_gmicloud.storage import S3Destination, StorageLocation, resolve_storage
from prefect_gmicloud.storage.memory_store import MemoryStore
from prefect_gmicloud.storage.probe import check_store, forget_verdicts, require_safe_store
from prefect_gmicloud.storage.s3_store import S3Store
from tests.stores import condition_stripping_proxy, s3rver, s3rver_location

IGNORED = [
    "a second create-if-absent (If-None-Match: *) of one key was accepted",
    "a replace with a stale ETag (If-Match) was accepted",
    "a replace (If-Match) of a key that did not exist created it",
    "4 of 4 concurrent creates of one key were accepted",
]


@pytest.fixture(autouse=True)
def fresh_verdicts() -> Iterator[None]:
    forget_verdicts()
    yield
    forget_verdicts()


def keys_in(destination: S3Destination) -> list[str]:
    listing = destination.s3_client().list_objects_v2(Bucket=destination.bucket)
    return [item["Key"] for item in listing.get("Contents", [])]


async def test_a_store_that_keeps_its_conditions_passes_and_is_left_clean(
    bucket: S3Destination,
) -> None:
    verdict = await check_store(resolve_storage(bucket))
    print(f"\nmoto: safe={verdict.safe} in {verdict.seconds:.3f} s")
    assert verdict.safe and verdict.problems == []
    assert keys_in(bucket) == []


async def test_a_store_behind_a_proxy_that_drops_the_headers_is_refused(
    s3_endpoint: str, bucket: S3Destination
) -> None:
    with condition_stripping_proxy(s3_endpoint) as endpoint:
        stripped = bucket.model_copy(update={"endpoint_url": endpoint})
        verdict = await check_store(resolve_storage(stripped))
        with pytest.raises(UnsafeStore) as refused:
            await require_safe_store(resolve_storage(stripped))
    print(f"\nproxy: {verdict.problems}")
    assert verdict.problems == IGNORED
    message = str(refused.value)
    assert endpoint in message and "If-None-Match" in message and "board_lock" in message
    assert keys_in(bucket) == []


async def test_npm_s3rver_is_refused() -> None:
    name = f"check-{uuid.uuid4().hex[:8]}"
    with s3rver(name) as endpoint:
        verdict = await check_store(s3rver_location(endpoint, name))
    print(f"\ns3rver: {verdict.problems}")
    assert verdict.problems == IGNORED


async def test_an_in_memory_store_that_ignores_conditions_is_refused() -> None:
    honest, careless = MemoryStore(), MemoryStore(honours_conditions=False, name="careless://")
    for store in (honest, careless):
        store.create_bucket("b")
    assert (await check_store(StorageLocation(honest, "b", "out"))).safe
    assert (await check_store(StorageLocation(careless, "b", "out"))).problems == IGNORED


async def test_a_verdict_is_kept_per_store_and_bucket() -> None:
    store = MemoryStore()
    store.create_bucket("b")
    store.create_bucket("c")
    first = await check_store(StorageLocation(store, "b", "x"))
    store.honours_conditions = False  # the kept verdict is what this process knows of "b"
    assert await check_store(StorageLocation(store, "b", "y")) is first
    assert not (await check_store(StorageLocation(store, "c", "x"))).safe


async def test_a_bucket_that_cannot_be_written_is_a_storage_error(s3_endpoint: str) -> None:
    missing = S3Destination(bucket="no-such-bucket-here", endpoint_url=s3_endpoint)
    with pytest.raises(StorageError, match="NoSuchBucket"):
        await check_store(resolve_storage(missing))


async def test_a_store_that_never_answers_fails_the_check_within_its_deadline() -> None:
    # A server that accepts connections and never answers: the check gives up at its deadline.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        # botocore's own read timeout (5 s here) outlasts the check's deadline (2 s).
        client = boto3.client(
            "s3", endpoint_url=f"http://127.0.0.1:{listener.getsockname()[1]}",
            region_name="us-east-1",
            config=Config(read_timeout=5, retries={"max_attempts": 1, "mode": "standard"}),
        )  # fmt: skip
        silent = StorageLocation(S3Store(client), "silent", "")
        started = asyncio.get_running_loop().time()
        with pytest.raises(StorageError, match="did not answer its conditional-write check"):
            await check_store(silent, deadline=2)
        assert asyncio.get_running_loop().time() - started < 10
    finally:
        stop.set()
        thread.join()
        for connection in held:
            connection.close()
        listener.close()


async def test_the_board_lock_needs_a_prefect_server_every_run_shares(
    bucket: S3Destination,
) -> None:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from prefect_gmicloud.errors import BoardLockUnshared
    from prefect_gmicloud.flows.storage_guard import guard_storage

    shared = "needs a Prefect server shared by every run"
    with (
        temporary_settings(restore_defaults={PREFECT_API_URL}),
        pytest.raises(BoardLockUnshared, match=shared),
    ):
        await guard_storage(resolve_storage(bucket), "alone", board_lock=True)
    assert keys_in(bucket) == []  # refused before the store was even checked
