"""The ledger's parts alone: conditional writes on a real S3 server, heartbeats, the journal, the
submit gate, and the check that a downloaded file is what it claims."""

from __future__ import annotations

import asyncio
import time
import types
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from prefect_gmicloud.errors import (
    ContentMismatchError,
    StorageError,
    SubmitsStopped,
    UnreadableEntry,
    WriteConflict,
)
from prefect_gmicloud.ledger import journal
from prefect_gmicloud.ledger import store as ledger_store
from prefect_gmicloud.ledger.entry import Attempt, Claim, LedgerEntry
from prefect_gmicloud.ledger.gate import SubmitGate
from prefect_gmicloud.ledger.store import Ledger, lease_seconds
from prefect_gmicloud.simulator.media import ClipSpec, MediaRenderer
from prefect_gmicloud.storage import S3Destination, StorageLocation, resolve_storage
from prefect_gmicloud.storage.memory_store import MemoryStore
from prefect_gmicloud.storage.s3_store import S3Store
from prefect_gmicloud.transfer.verify import verify_image, verify_video


def entry(state: str = "claimed", run: str = "run-a", **fields: object) -> LedgerEntry:
    claim = Claim(run=run, host="here", pid=1, claimed_at=time.time())
    return LedgerEntry.model_validate(
        {"inputs_hash": "h" * 64, "shot_id": "s", "model": "wan2.7-r2v", "state": state,
         "claim": claim, **fields}
    )  # fmt: skip


@pytest.fixture
def ledger(bucket: S3Destination) -> Ledger:
    location = resolve_storage(bucket)
    return Ledger(location, location.key("board", "ledger"))


async def test_only_one_run_can_claim_a_shot(ledger: Ledger) -> None:
    first = await ledger.create(entry(run="run-a"))
    with pytest.raises(WriteConflict):
        await ledger.create(entry(run="run-b"))
    stored = await ledger.read("h" * 64)
    assert stored is not None and stored.entry.claim.run == "run-a"
    assert stored.etag == first.etag


async def test_a_change_over_a_stale_version_is_refused(ledger: Ledger) -> None:
    read = await ledger.create(entry())
    await ledger.replace(read, entry(state="submitted", request_id="r-1"))
    with pytest.raises(WriteConflict):
        await ledger.replace(read, entry(state="submitted", request_id="r-2"))
    current = await ledger.read("h" * 64)
    assert current is not None and current.entry.request_id == "r-1"


async def test_an_entry_that_is_not_an_entry_is_unreadable_not_absent(
    ledger: Ledger, bucket: S3Destination
) -> None:
    bucket.s3_client().put_object(Bucket=bucket.bucket, Key=ledger.entry_key("h" * 64), Body=b"{")
    with pytest.raises(UnreadableEntry, match="cannot be told"):
        await ledger.read("h" * 64)


async def test_an_unreachable_storage_is_a_storage_error() -> None:
    # One attempt: botocore's own retries against a closed port would take most of a minute.
    client = boto3.client(
        "s3", endpoint_url="http://127.0.0.1:9", region_name="us-east-1",
        config=Config(retries={"max_attempts": 1, "mode": "standard"}),
    )  # fmt: skip
    location = StorageLocation(S3Store(client), "gone", "")
    with pytest.raises(StorageError, match="s3://gone/"):
        await Ledger(location, "board/ledger").read("h" * 64)


async def test_heartbeats_say_which_runs_are_alive() -> None:
    now = [1_000_000.0]
    store = MemoryStore(clock=lambda: now[0])
    store.create_bucket("b")
    ledger = Ledger(StorageLocation(store, "b", ""), "board/ledger")
    await ledger.beat("run-a", None)
    assert await ledger.is_alive("run-a")
    assert not await ledger.is_alive("never-ran")
    now[0] += lease_seconds() - 1
    assert await ledger.is_alive("run-a")
    now[0] += 2
    assert not await ledger.is_alive("run-a")
    await ledger.beat("run-a", None)
    assert await ledger.is_alive("run-a")
    await ledger.end("run-a")
    assert not await ledger.is_alive("run-a")


@pytest.mark.parametrize("skew", [-600.0, 600.0])
async def test_heartbeats_are_judged_on_the_stores_clock_not_this_machines(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch, skew: float
) -> None:
    # A worker ten minutes ahead would see every live heartbeat as dead, one ten minutes
    # behind would see a dead one alive for ten minutes more; the store's clock decides.
    monkeypatch.setenv("PREFECT_GMICLOUD_LEASE_SECONDS", "2")
    await ledger.beat("run-a", None)  # by a run on a machine whose clock is right
    # Judged from a machine whose clock is off (the S3 server runs in this process: only the
    # ledger's own clock is skewed).
    skewed = types.SimpleNamespace(time=lambda: time.time() + skew)
    monkeypatch.setattr(ledger_store, "time", skewed)
    assert await ledger.is_alive("run-a")
    await asyncio.sleep(3.1)  # S3 dates have a resolution of one second
    assert not await ledger.is_alive("run-a")


async def test_a_run_is_judged_by_its_own_lease_when_the_judges_is_shorter(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A run beats six times its own lease: a judge going by a shorter lease of its own would
    # find it dead between beats and take its claims over while it pays.
    now = [1_000_000.0]
    store = MemoryStore(clock=lambda: now[0])
    store.create_bucket("b")
    ledger = Ledger(StorageLocation(store, "b", ""), "board/ledger")
    monkeypatch.setenv("PREFECT_GMICLOUD_LEASE_SECONDS", "600")
    await ledger.beat("run-a", None)
    monkeypatch.setenv("PREFECT_GMICLOUD_LEASE_SECONDS", "10")
    await ledger.beat("run-b", None)
    now[0] += 300
    assert await ledger.is_alive("run-a")  # within its 600 s, past the judge's 10 s
    assert not await ledger.is_alive("run-b")  # its own lease and the judge's both passed
    monkeypatch.setenv("PREFECT_GMICLOUD_LEASE_SECONDS", "600")
    assert await ledger.is_alive("run-b")  # a judge's longer lease still holds
    now[0] += 301
    assert not await ledger.is_alive("run-a")


async def test_listing_entries_reads_only_those_another_writer_changed(ledger: Ledger) -> None:
    mine = await ledger.create(entry())
    other = Ledger(ledger.location, ledger.folder)  # another process on the same ledger
    theirs = await other.create(entry(inputs_hash="t" * 64, shot_id="t"))
    reads: list[str] = []
    read = ledger.location.store.read

    async def counted(bucket: str, key: str) -> object:
        reads.append(key.rsplit("/", 1)[-1])
        return await read(bucket, key)

    ledger.location.store.read = counted  # type: ignore[assignment,method-assign]
    try:
        assert {e.inputs_hash for e in await ledger.entries()} == {"h" * 64, "t" * 64}
        assert reads == ["t" * 64 + ".json"]  # its own entry is the version it wrote
        await other.replace(theirs, entry(inputs_hash="t" * 64, shot_id="t", state="failed"))
        await other.replace(await other.read("h" * 64) or mine, entry(state="failed"))
        reads.clear()
        assert {e.state for e in await ledger.entries()} == {"failed"}
        assert sorted(reads) == sorted(["h" * 64 + ".json", "t" * 64 + ".json"])
    finally:
        del ledger.location.store.read


async def test_a_listing_hint_is_only_a_hint(ledger: Ledger) -> None:
    await ledger.list_entries()
    assert ledger.listed_absent("h" * 64)
    await Ledger(ledger.location, ledger.folder).create(entry(run="run-b"))  # after the listing
    assert ledger.listed_absent("h" * 64)  # stale, so acting on it must be conditional:
    with pytest.raises(WriteConflict):
        await ledger.create(entry(run="run-a"))
    await ledger.list_entries()
    assert not ledger.listed_absent("h" * 64)
    fresh = Ledger(ledger.location, ledger.folder)
    await fresh.list_entries()
    await fresh.create(entry(inputs_hash="n" * 64))
    # What this process wrote since its listing is no longer "absent" (a store that ignores
    # conditions would let a second create overwrite it).
    assert not fresh.listed_absent("n" * 64)


async def test_a_lease_is_held_only_while_dated_beats_are_recent(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert not ledger.holds_lease("run-a")  # no beat yet
    await ledger.beat("run-a", None)
    assert ledger.holds_lease("run-a")
    monkeypatch.setenv("PREFECT_GMICLOUD_LEASE_SECONDS", "3")
    await asyncio.sleep(1.1)  # past the lease less its margin (at least 2 s): no longer sure
    assert not ledger.holds_lease("run-a")
    await ledger.beat("run-a", None)
    assert ledger.holds_lease("run-a")
    await ledger.end("run-a")
    assert not ledger.holds_lease("run-a")
    monkeypatch.setenv("PREFECT_GMICLOUD_LEASE_SECONDS", "2")
    await ledger.beat("run-a", None)
    assert not ledger.holds_lease("run-a")  # a lease within S3's date resolution: never sure


def test_paid_request_ids_include_the_history() -> None:
    paid = entry(
        state="submitted", request_id="r-2", history=[Attempt(request_id="r-1", outcome="failed")]
    )
    assert paid.paid_request_ids == ["r-1", "r-2"]


def test_the_journal_keeps_lines_until_they_are_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(journal.JOURNAL_ENV, str(tmp_path / "j" / "journal.jsonl"))
    line = journal.JournalLine(
        ledger="s3://b/l/", inputs_hash="h", shot_id="s", model="m", request_id="r",
        submitted_at=1.0,
    )  # fmt: skip
    other = line.model_copy(update={"ledger": "s3://b/other/", "request_id": "q"})
    journal.append(line)
    journal.append(other)
    assert [p.request_id for p in journal.pending("s3://b/l/")] == ["r"]
    journal.remove([line])
    assert journal.pending("s3://b/l/") == []
    assert [p.request_id for p in journal.pending("s3://b/other/")] == ["q"]


async def test_a_stopped_gate_refuses_new_submits() -> None:
    gate = SubmitGate()
    gate.stop()

    async def submit() -> str:
        raise AssertionError("must not run")

    with pytest.raises(SubmitsStopped):
        await gate.paid(submit)


async def test_an_unrecorded_id_holds_submits_until_it_is_recorded() -> None:
    gate = SubmitGate()
    gate.hold("r-1")
    started: list[str] = []

    async def submit() -> str:
        started.append("submit")
        return "r-2"

    waiting = asyncio.ensure_future(gate.paid(submit))
    await asyncio.sleep(0.05)
    assert started == []
    gate.release("r-1")
    assert await waiting == "r-2"


async def test_a_cancelled_shot_does_not_cancel_its_submit_and_recording() -> None:
    gate = SubmitGate()
    recorded: list[str] = []
    answered = asyncio.Event()

    async def submit_and_record() -> str:
        await answered.wait()
        recorded.append("r-1")
        return "r-1"

    shot = asyncio.ensure_future(gate.paid(submit_and_record))
    await asyncio.sleep(0.01)
    shot.cancel()
    answered.set()
    assert await gate.drain(5.0)
    assert recorded == ["r-1"] and shot.cancelled()


def test_a_rendered_video_of_the_asked_length_passes(tmp_path: Path) -> None:
    video = MediaRenderer(tmp_path).video(ClipSpec(320, 240, 2, "ok"))
    assert verify_video(video, 2, "request r") == pytest.approx(2.0, abs=0.2)
    with pytest.raises(ContentMismatchError, match=r"lasts 2\.00s, 10s were asked"):
        verify_video(video, 10, "request r")


@pytest.mark.parametrize(
    ("body", "said"),
    [
        (b"<!DOCTYPE html><html>Link expired</html>", "error page"),
        (b'{"error": "expired"}', "error page"),
        (b"", "an empty file"),
    ],
)
def test_an_error_page_is_neither_a_video_nor_an_image(
    tmp_path: Path, body: bytes, said: str
) -> None:
    fake = tmp_path / "video.mp4"
    fake.write_bytes(body)
    with pytest.raises(
        ContentMismatchError, match=f"request r: the video is not a video file but .*{said}"
    ):
        verify_video(fake, 5, "request r")
    with pytest.raises(ContentMismatchError, match="the image is not an image"):
        verify_image(fake, "request r")
