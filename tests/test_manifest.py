"""The manifest store: every save is persisted, and concurrent saves share writes."""

from __future__ import annotations

import asyncio
from typing import Any

from prefect_gmicloud.storage import S3Destination, resolve_storage
from prefect_gmicloud.storage.s3 import S3Location
from prefect_gmicloud.storyboard.manifest import Manifest, ManifestStore, ShotRecord


class CountingClient:
    """An S3 client that counts the objects written through it."""

    def __init__(self, client: Any) -> None:
        self.client, self.puts = client, 0

    def put_object(self, **kwargs: Any) -> Any:
        self.puts += 1
        return self.client.put_object(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)


async def test_concurrent_saves_share_writes_and_the_last_state_is_stored(
    bucket: S3Destination,
) -> None:
    real = resolve_storage(bucket)
    counting = CountingClient(real.client)
    location = S3Location(counting, real.bucket, real.prefix)  # type: ignore[arg-type]
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
