"""What a re-run reads can be lost, corrupted or wrong, and GMI can answer badly: none pays twice.

Each test runs the storyboard flow on the session's real Prefect API, against the simulator over
HTTP and moto over HTTP, breaks what the next run reads, and checks that the recovery run pays
for nothing twice and that every request the simulator created is known to the ledger.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from prefect_gmicloud.errors import AuthenticationError, StoryboardIncomplete
from prefect_gmicloud.flows.storyboard import StoryboardResult, run_storyboard
from prefect_gmicloud.ledger.entry import Claim, LedgerEntry
from prefect_gmicloud.simulator import Simulator
from prefect_gmicloud.simulator.boards import synthetic_storyboard
from prefect_gmicloud.simulator.config import ScriptedFault
from prefect_gmicloud.storage import S3Destination
from prefect_gmicloud.storyboard import plan_storyboard
from prefect_gmicloud.storyboard.options import StoryboardOptions
from tests.conftest import PrefectPlaces, credentials_for, read_object
from tests.reliability.boards import ledger_of, unrecorded_paid_ids

pytestmark = pytest.mark.usefixtures("prefect_api")

SHOTS = 3


async def run(
    sim: Simulator, bucket: S3Destination, title: str, **options: Any
) -> StoryboardResult:
    options.setdefault("final_cut", False)
    options.setdefault("poll_interval", 0.05)
    board = synthetic_storyboard(SHOTS, title)
    credentials = options.pop("credentials", None) or credentials_for(sim)
    result: StoryboardResult = await run_storyboard(
        board, bucket, credentials, StoryboardOptions(**options)
    )
    return result


async def failing_run(sim: Simulator, bucket: S3Destination, title: str, **options: Any) -> str:
    with pytest.raises(StoryboardIncomplete) as caught:
        await run(sim, bucket, title, **options)
    return str(caught.value)


async def assert_every_paid_id_is_in_the_ledger(
    sim: Simulator, bucket: S3Destination, title: str
) -> None:
    entries = await ledger_of(bucket, title).entries()
    assert unrecorded_paid_ids(sim, entries) == set()
    assert sim.stats.duplicate_submits == 0


def delete_prefix(bucket: S3Destination, prefix: str) -> int:
    client = bucket.s3_client()
    listing = client.list_objects_v2(Bucket=bucket.bucket, Prefix=prefix)
    keys = [item["Key"] for item in listing.get("Contents", [])]
    for key in keys:
        client.delete_object(Bucket=bucket.bucket, Key=key)
    return len(keys)


def write_object(bucket: S3Destination, key: str, body: bytes) -> None:
    bucket.s3_client().put_object(Bucket=bucket.bucket, Key=key, Body=body)


@pytest.mark.parametrize("damage", ["deleted", "corrupted", "another board's", "unknown ids"])
async def test_a_lost_or_wrong_manifest_pays_for_nothing(
    make_simulator: Callable[..., Simulator], bucket: S3Destination, damage: str
) -> None:
    sim = make_simulator()
    await run(sim, bucket, "manifest")
    key = "out/manifest/manifest.json"
    if damage == "deleted":
        delete_prefix(bucket, key)
    elif damage == "corrupted":
        write_object(bucket, key, b'{"storyboard": "manifest", "shots": [{"shot_')
    elif damage == "another board's":
        await run(sim, bucket, "other")
        write_object(bucket, key, read_object(bucket, "out/other/manifest.json"))
    else:
        manifest = json.loads(read_object(bucket, key))
        for shot in manifest["shots"]:
            shot["request_id"] = "00000000-0000-4000-8000-000000000000"
        write_object(bucket, key, json.dumps(manifest).encode())
    created = sim.stats.created

    again = await run(sim, bucket, "manifest")

    new = sim.stats.created - created
    print(f"\nmanifest {damage}: re-run reused {again.reused}, new requests {new}")
    assert (again.reused, again.submitted, sim.stats.created) == (SHOTS, 0, created)
    assert json.loads(read_object(bucket, key))["storyboard"] == "manifest"


async def test_a_lost_ledger_is_rebuilt_from_the_stored_objects(
    make_simulator: Callable[..., Simulator], bucket: S3Destination
) -> None:
    sim = make_simulator()
    await run(sim, bucket, "noledger")
    assert delete_prefix(bucket, "out/noledger/ledger/") >= SHOTS
    delete_prefix(bucket, "out/noledger/manifest.json")

    again = await run(sim, bucket, "noledger")

    assert (again.reused, sim.stats.created) == (SHOTS, SHOTS)
    entries = await ledger_of(bucket, "noledger").entries()
    assert sorted(e.state for e in entries) == ["stored"] * SHOTS
    assert {e.request_id for e in entries} == set(sim.state.requests)


@pytest.mark.parametrize("fault", ["503", "401"])
async def test_a_rerun_while_gmi_answers_badly_keeps_every_recorded_id(
    make_simulator: Callable[..., Simulator], bucket: S3Destination, fault: str
) -> None:
    sim = make_simulator(processing_seconds=6.0)
    # First run: every request recorded, none finished (the processing deadline passes).
    message = await failing_run(sim, bucket, f"rerun{fault}", processing_timeout=0.3)
    assert "Paid, not stored yet" in message
    assert sim.stats.created == SHOTS
    key, old_block = sim.state.config.api_key, credentials_for(sim)
    if fault == "503":
        sim.state.config.faults.server_error = 1.0
    else:
        sim.state.config.api_key = "rotated-key"  # the block still holds the old one

    if fault == "503":
        message = await failing_run(sim, bucket, f"rerun{fault}", credentials=old_block)
        assert "stays recorded" in message
    else:  # the refused key stops the run at its first call, before any shot
        with pytest.raises(AuthenticationError):
            await run(sim, bucket, f"rerun{fault}", credentials=old_block)
    entries = await ledger_of(bucket, f"rerun{fault}").entries()
    assert {e.request_id for e in entries} == set(sim.state.requests)
    sim.state.config.faults.server_error, sim.state.config.api_key = 0.0, key
    healthy = await run(sim, bucket, f"rerun{fault}")
    print(
        f"\nre-run during {fault}: ids kept {len(entries)}/{SHOTS}; healthy re-run resumed "
        f"{healthy.resumed}, new requests {sim.stats.created - SHOTS}"
    )
    assert (healthy.resumed + healthy.reused, healthy.submitted) == (SHOTS, 0)
    assert sim.stats.created == SHOTS
    await assert_every_paid_id_is_in_the_ledger(sim, bucket, f"rerun{fault}")


async def test_a_recorded_id_gmi_does_not_know_is_reported_not_paid_again(
    make_simulator: Callable[..., Simulator], bucket: S3Destination
) -> None:
    sim = make_simulator(processing_seconds=6.0)
    await failing_run(sim, bucket, "missing", processing_timeout=0.3)
    lost = next(iter(sim.state.requests))
    forgotten = sim.state.requests.pop(lost)

    message = await failing_run(sim, bucket, "missing")

    assert f"GMI answers 404 for request {lost}" in message and "resubmit" in message
    assert sim.stats.created == SHOTS
    again = await run(sim, bucket, "missing", resubmit_missing=True)
    assert (again.submitted, again.reused, sim.stats.created) == (1, SHOTS - 1, SHOTS + 1)
    entries = await ledger_of(bucket, "missing").entries()
    assert [a.request_id for e in entries for a in e.history] == [forgotten.request_id]


async def test_an_html_error_page_is_never_stored_as_the_video(
    make_simulator: Callable[..., Simulator], bucket: S3Destination
) -> None:
    sim = make_simulator()
    sim.state.serve_next("html")

    message = await failing_run(sim, bucket, "html")

    broken = next(r for r in sim.state.requests.values() if r.served == "html")
    assert f"GMI request {broken.request_id}: the video is not a video file" in message
    assert "error page" in message
    stored = bucket.s3_client().list_objects_v2(Bucket=bucket.bucket, Prefix="out/html/shot-")
    assert len(stored.get("Contents", [])) == 2 * (SHOTS - 1)  # the good shots' mp4 + jpg
    broken.served = "media"  # the link works again
    again = await run(sim, bucket, "html")
    assert (again.resumed, again.reused, sim.stats.created) == (1, SHOTS - 1, SHOTS)


async def test_a_success_without_a_video_fails_the_shot_and_keeps_its_id(
    make_simulator: Callable[..., Simulator], bucket: S3Destination
) -> None:
    sim = make_simulator()
    sim.state.serve_next("no_video")

    message = await failing_run(sim, bucket, "novideo")

    odd = next(r for r in sim.state.requests.values() if r.served == "no_video")
    assert f"GMI request {odd.request_id} succeeded without a video" in message
    entries = await ledger_of(bucket, "novideo").entries()
    failed = next(e for e in entries if e.state == "failed")
    assert failed.request_id == odd.request_id


async def test_a_request_stuck_in_the_queue_meets_the_queue_deadline(
    make_simulator: Callable[..., Simulator], bucket: S3Destination
) -> None:
    sim = make_simulator(queue_seconds=3600.0)
    started = time.monotonic()

    message = await failing_run(sim, bucket, "queue", queue_timeout=1.0)

    assert time.monotonic() - started < 60
    assert "queue deadline" in message and "Paid, not stored yet" in message
    await assert_every_paid_id_is_in_the_ledger(sim, bucket, "queue")


async def test_overlapping_runs_follow_one_request_per_shot(
    make_simulator: Callable[..., Simulator], bucket: S3Destination
) -> None:
    sim = make_simulator(processing_seconds=1.0)

    first, second = await asyncio.gather(run(sim, bucket, "overlap"), run(sim, bucket, "overlap"))

    print(
        f"\noverlap in one process: submitted {first.submitted}+{second.submitted}, "
        f"followed {first.followed}+{second.followed}, created {sim.stats.created}"
    )
    assert sim.stats.created == SHOTS and sim.stats.duplicate_submits == 0
    assert first.submitted + second.submitted == SHOTS
    assert first.followed + second.followed + first.reused + second.reused == SHOTS
    await assert_every_paid_id_is_in_the_ledger(sim, bucket, "overlap")


async def test_a_claim_left_without_an_id_is_reconciled_before_paying(
    make_simulator: Callable[..., Simulator], bucket: S3Destination
) -> None:
    # A run claimed a shot, submitted, and died before recording the id.
    sim = make_simulator()
    board = synthetic_storyboard(SHOTS, "orphan")
    shot = plan_storyboard(board)[0]
    ledger = ledger_of(bucket, "orphan")
    dead = Claim(run="dead-run", host="elsewhere", pid=1, claimed_at=time.time() - 5)
    await ledger.create(
        LedgerEntry(
            inputs_hash=shot.inputs_hash, shot_id=shot.shot_id, model=shot.payload.model_id,
            state="claimed", claim=dead,
        )
    )  # fmt: skip
    async with credentials_for(sim).get_client() as client:
        orphan = await client.submit(shot.payload)

    result = await run(sim, bucket, "orphan")

    assert (result.resumed, result.submitted, sim.stats.created) == (1, SHOTS - 1, SHOTS)
    entry = await ledger.read(shot.inputs_hash)
    assert entry is not None and entry.entry.request_id == orphan.request_id


async def test_an_undecidable_claim_stops_that_shot_without_paying(
    make_simulator: Callable[..., Simulator], bucket: S3Destination
) -> None:
    sim = make_simulator()
    board = synthetic_storyboard(SHOTS, "unknown")
    shot = plan_storyboard(board)[0]
    dead = Claim(run="dead-run", host="elsewhere", pid=1, claimed_at=time.time() - 5)
    await ledger_of(bucket, "unknown").create(
        LedgerEntry(
            inputs_hash=shot.inputs_hash, shot_id=shot.shot_id, model=shot.payload.model_id,
            state="claimed", claim=dead,
        )
    )  # fmt: skip
    unavailable: list[ScriptedFault] = ["503"] * 20
    sim.state.inject("list", *unavailable)

    message = await failing_run(sim, bucket, "unknown")

    assert f"shot {shot.shot_id}: claimed by a run that ended before recording" in message
    assert "not resubmitted" in message
    assert sim.stats.created == SHOTS - 1


async def test_the_key_is_nowhere_in_the_ledger(
    make_simulator: Callable[..., Simulator], bucket: S3Destination, prefect_api: PrefectPlaces
) -> None:
    sim = make_simulator(api_key="sk-ledger-secret-never-stored")
    await run(sim, bucket, "secret")
    listing = bucket.s3_client().list_objects_v2(Bucket=bucket.bucket, Prefix="out/secret/")
    for item in listing.get("Contents", []):
        assert b"sk-ledger-secret" not in read_object(bucket, item["Key"]), item["Key"]


async def test_a_corrupted_ledger_entry_stops_its_shot_without_paying(
    make_simulator: Callable[..., Simulator], bucket: S3Destination
) -> None:
    sim = make_simulator(processing_seconds=6.0)
    await failing_run(sim, bucket, "corrupt", processing_timeout=0.3)  # ids recorded, unstored
    shot = plan_storyboard(synthetic_storyboard(SHOTS, "corrupt"))[0]
    write_object(bucket, ledger_of(bucket, "corrupt").entry_key(shot.inputs_hash), b"{not json")

    message = await failing_run(sim, bucket, "corrupt")

    # Whether that shot was paid cannot be told: it is not paid again, and it says so.
    assert f"shot(s) stored, 1 failed ({shot.shot_id})" in message
    assert "cannot be told" in message
    assert sim.stats.created == SHOTS and sim.stats.duplicate_submits == 0
