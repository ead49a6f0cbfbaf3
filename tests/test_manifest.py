"""The manifest store: every save is persisted, concurrent saves share writes, and a run's
writes are spaced."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from prefect_gmicloud.flows import storyboard_run
from prefect_gmicloud.flows.storyboard_run import ManifestSaves
from prefect_gmicloud.storage import ObjectInfo, S3Destination, StorageLocation
from prefect_gmicloud.storage.s3_store import S3Store
from prefect_gmicloud.storyboard.manifest import Manifest, ManifestStore, ShotRecord


class CountingStore(S3Store):
    """An S3 store that counts the objects written through it."""

    puts = 0

    async def write(self, bucket: str, key: str, data: bytes, **options: Any) -> ObjectInfo:
        self.puts += 1
        return await super().write(bucket, key, data, **options)


async def test_concurrent_saves_share_writes_and_the_last_state_is_stored(
    bucket: S3Destination,
) -> None:
    counting = CountingStore(bucket.s3_client())
    location = StorageLocation(counting, bucket.bucket, bucket.prefix)
    store = ManifestStore(location, location.key("board", "manifest.json"))
    manifest = Manifest(
        storyboard="board",
        shots=[ShotRecord(shot_id=f"s{n}", inputs_hash="h") for n in range(40)],
    )

    async def finish(record: ShotRecord) -> None:
        await asyncio.sleep(0)
        record.status, record.request_id = "submitted", f"req-{record.shot_id}"
        await store.save(manifest)

    await asyncio.gather(*(finish(record) for record in manifest.shots))
    stored = await store.load()
    assert stored is not None
    assert [s.request_id for s in stored.shots] == [f"req-s{n}" for n in range(40)]
    assert 1 <= counting.puts < 40


async def test_a_runs_manifest_writes_are_spaced_and_the_last_state_is_stored(
    bucket: S3Destination, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As shots end the manifest is written at once, then not again within the spacing (an
    # hour here); the run's end writes what is left. 40 shots ending cost two writes, not 40.
    monkeypatch.setattr(storyboard_run, "MANIFEST_MIN_SECONDS", 3600.0)
    counting = CountingStore(bucket.s3_client())
    location = StorageLocation(counting, bucket.bucket, bucket.prefix)
    store = ManifestStore(location, location.key("spaced", "manifest.json"))
    manifest = Manifest(
        storyboard="spaced",
        shots=[ShotRecord(shot_id=f"s{n}", inputs_hash="h") for n in range(40)],
    )
    saves = ManifestSaves(store, manifest)
    for record in manifest.shots:
        record.status, record.request_id = "submitted", f"req-{record.shot_id}"
        saves.soon()
        await asyncio.sleep(0.01)
    await saves.now()
    stored = await store.load()
    assert stored is not None
    assert [s.request_id for s in stored.shots] == [f"req-s{n}" for n in range(40)]
    assert counting.puts == 2
    await saves.now()  # nothing changed since: nothing written
    assert counting.puts == 2
