"""Storyboards end to end: the simulator, a real S3-protocol server and a real Prefect API."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
import pytest

from prefect_gmicloud.client.records import GMIRequest
from prefect_gmicloud.errors import StoryboardIncomplete
from prefect_gmicloud.flows import shot_storage
from prefect_gmicloud.flows.storyboard import run_storyboard
from prefect_gmicloud.media import has_audio
from prefect_gmicloud.simulator import Simulator
from prefect_gmicloud.storage import S3Destination
from prefect_gmicloud.storyboard import Storyboard, StoryboardError
from prefect_gmicloud.storyboard.options import StoryboardOptions
from tests.conftest import credentials_for, read_object

pytestmark = pytest.mark.usefixtures("prefect_api")

SHOTS = ["arrive", "order", "brew", "serve", "sip", "leave"]


def six_shots(**changes: Any) -> Storyboard:
    data: dict[str, Any] = {
        "title": "cafe",
        "characters": {
            "barista": {"video": "https://refs.example/barista.mp4"},
            "guest": {"image": "https://refs.example/guest.png"},
        },
        "defaults": {"model": "wan2.7-r2v", "resolution": "720P", "ratio": "16:9", "duration": 2},
        "shots": [
            {"id": shot, "prompt": f"{{guest}} and {{barista}}: {shot}", "settings": settings}
            for shot, settings in zip(
                SHOTS, [{}, {"duration": 3}, {}, {"ratio": "9:16"}, {}, {}], strict=True
            )
        ],
    }
    return Storyboard.parse(data | changes)


def duration(path: Path) -> float:
    with av.open(str(path)) as container:
        assert container.duration is not None
        return float(container.duration / 1e6)


async def test_six_shots_stored_with_manifest_and_final_cut(
    make_simulator: Callable[..., Simulator], bucket: S3Destination, tmp_path: Path
) -> None:
    sim = make_simulator()
    result = await run_storyboard(
        six_shots(),
        bucket,
        credentials_for(sim),
        options=StoryboardOptions(max_concurrency=3, poll_interval=0.05),
    )
    assert [s.status for s in result.shots] == ["stored"] * 6
    assert sim.stats.created == 6 and sim.stats.peak_active <= 3
    manifest = json.loads(read_object(bucket, "out/cafe/manifest.json"))
    assert [s["shot_id"] for s in manifest["shots"]] == SHOTS
    shot_seconds = 0.0
    for record in result.shots:
        assert record.video is not None and record.thumbnail is not None
        assert record.video.key == f"out/cafe/{record.shot_id}.mp4"
        assert record.thumbnail.key == f"out/cafe/{record.shot_id}.jpg"
        data = read_object(bucket, record.video.key)
        assert hashlib.sha256(data).hexdigest() == record.video.sha256
        (tmp_path / f"{record.shot_id}.mp4").write_bytes(data)
        shot_seconds += duration(tmp_path / f"{record.shot_id}.mp4")
        assert record.request_id in sim.state.requests
    assert result.final_cut is not None and result.final_cut.key == "out/cafe/final.mp4"
    (tmp_path / "final.mp4").write_bytes(read_object(bucket, result.final_cut.key))
    assert shot_seconds == pytest.approx(13.0)
    assert duration(tmp_path / "final.mp4") == pytest.approx(shot_seconds, abs=0.1)
    # The shots keep the barista's voice (a reference video): so does the cut.
    assert has_audio(tmp_path / "final.mp4")
    assert result.contact_sheet is not None
    assert read_object(bucket, result.contact_sheet.key)[:2] == b"\xff\xd8"
    assert manifest["final_cut"]["key"] == "out/cafe/final.mp4"


async def test_shots_are_stored_in_the_flow_run_without_a_task_run_each(
    make_simulator: Callable[..., Simulator], bucket: S3Destination
) -> None:
    # A task run per shot cost Prefect's API more than everything else a shot adds; the final
    # cut's uploads, made after every shot is stored, are task runs still: once they are seen,
    # a store task run would have been too.
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    sim = make_simulator()
    state = await run_storyboard(
        six_shots(),
        bucket,
        credentials_for(sim),
        return_state=True,
        options=StoryboardOptions(poll_interval=0.05),
    )
    assert state.is_completed()
    only_this_run = FlowRunFilter(id=FlowRunFilterId(any_=[state.state_details.flow_run_id]))
    names: list[str] = []
    async with get_client() as prefect:
        for _ in range(60):  # task runs reach the API as events, a moment later
            runs = await prefect.read_task_runs(flow_run_filter=only_this_run)
            names = sorted(run.name for run in runs)
            if "upload contact-sheet.jpg" in names and "upload final.mp4" in names:
                break
            await asyncio.sleep(0.5)
    assert names == ["upload contact-sheet.jpg", "upload final.mp4"]


async def test_a_shot_whose_store_fails_once_is_stored_on_the_retry(
    make_simulator: Callable[..., Simulator], bucket: S3Destination, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    store_files = shot_storage.store_files

    async def failing_once(request: GMIRequest, *args: Any) -> Any:
        calls.append(request.request_id)
        if len(calls) == 1:
            raise OSError("disk full")
        return await store_files(request, *args)

    monkeypatch.setattr(shot_storage, "store_files", failing_once)
    monkeypatch.setattr(shot_storage, "STORE_RETRY_SECONDS", (0.05, 0.05))
    sim = make_simulator()
    result = await run_storyboard(
        six_shots(),
        bucket,
        credentials_for(sim),
        options=StoryboardOptions(final_cut=False, poll_interval=0.05),
    )
    assert [shot.status for shot in result.shots] == ["stored"] * len(SHOTS)
    assert len(calls) == len(SHOTS) + 1 and calls.count(calls[0]) == 2
    assert sim.stats.created == len(SHOTS)


async def test_rerun_submits_nothing(
    make_simulator: Callable[..., Simulator], bucket: S3Destination
) -> None:
    sim = make_simulator()
    board = six_shots()
    await run_storyboard(
        board, bucket, credentials_for(sim), options=StoryboardOptions(poll_interval=0.05)
    )
    again = await run_storyboard(
        board, bucket, credentials_for(sim), options=StoryboardOptions(poll_interval=0.05)
    )
    assert sim.stats.calls["submit"] == 6
    assert (again.submitted, again.resumed, again.reused) == (0, 0, 6)
    assert again.final_cut is not None
    forced = await run_storyboard(
        board,
        bucket,
        credentials_for(sim),
        options=StoryboardOptions(force=True, final_cut=False, poll_interval=0.05),
    )
    assert forced.submitted == 6 and sim.stats.calls["submit"] == 12


async def test_a_failed_shot_does_not_sink_the_others_and_is_retried_alone(
    make_simulator: Callable[..., Simulator], bucket: S3Destination
) -> None:
    sim = make_simulator()
    original_create = sim.state.create

    def fail_brew(model: str, payload: dict[str, Any], org_id: str) -> Any:
        request = original_create(model, payload, org_id)
        if "brew" in payload["prompt"] and sim.stats.created <= 6:
            request.ends = "failed"
        return request

    sim.state.create = fail_brew  # type: ignore[method-assign]
    board = six_shots()
    with pytest.raises(StoryboardIncomplete, match=r"5 shot\(s\) stored, 1 failed \(brew\)"):
        await run_storyboard(
            board, bucket, credentials_for(sim), options=StoryboardOptions(poll_interval=0.05)
        )
    manifest = json.loads(read_object(bucket, "out/cafe/manifest.json"))
    brew = next(s for s in manifest["shots"] if s["shot_id"] == "brew")
    assert brew["status"] == "failed" and "did not converge" in brew["error"]
    assert manifest["final_cut"] is None
    result = await run_storyboard(
        board, bucket, credentials_for(sim), options=StoryboardOptions(poll_interval=0.05)
    )
    assert (result.submitted, result.reused) == (1, 5)
    assert sim.stats.calls["submit"] == 7 and result.final_cut is not None


async def test_requests_already_paid_for_are_resumed_not_resubmitted(
    make_simulator: Callable[..., Simulator], bucket: S3Destination
) -> None:
    sim = make_simulator(processing_seconds=1.5)
    board = six_shots(shots=six_shots().shots[:2])
    with pytest.raises(StoryboardIncomplete, match="2 failed"):
        await run_storyboard(
            board,
            bucket,
            credentials_for(sim),
            options=StoryboardOptions(poll_interval=0.05, processing_timeout=0.3),
        )
    assert sim.stats.calls["submit"] == 2  # both timed out, still running on the "GMI" side
    result = await run_storyboard(
        board, bucket, credentials_for(sim), options=StoryboardOptions(poll_interval=0.05)
    )
    assert (result.submitted, result.resumed) == (0, 2)
    assert sim.stats.calls["submit"] == 2 and sim.stats.duplicate_submits == 0


async def test_invalid_storyboard_sends_nothing(sim: Simulator, bucket: S3Destination) -> None:
    board = six_shots()
    bad = board.model_copy(
        update={
            "shots": [
                *board.shots[:2],
                board.shots[2].model_copy(update={"prompt": "{ghost} appears"}),
                board.shots[3].model_copy(update={"id": "arrive"}),
            ]
        }
    )
    with pytest.raises(StoryboardError) as caught:
        await run_storyboard(bad, bucket, credentials_for(sim))
    assert caught.value.problems == [
        "shot brew: prompt names unknown character {ghost} (known: barista, guest)",
        "shot arrive: duplicate shot id",
    ]
    assert sum(sim.stats.calls.values()) == 0
    listing = bucket.s3_client().list_objects_v2(Bucket=bucket.bucket)
    assert listing.get("KeyCount", 0) == 0


async def test_a_global_concurrency_limit_caps_requests_in_flight(
    make_simulator: Callable[..., Simulator], bucket: S3Destination
) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate

    async with get_client() as prefect:
        await prefect.create_global_concurrency_limit(
            GlobalConcurrencyLimitCreate(name="gmi-quota-test", limit=2)
        )
    sim = make_simulator(processing_seconds=0.5)
    result = await run_storyboard(
        six_shots(),
        bucket,
        credentials_for(sim),
        options=StoryboardOptions(
            max_concurrency=6,
            concurrency_limit="gmi-quota-test",
            final_cut=False,
            poll_interval=0.05,
        ),
    )
    assert [s.status for s in result.shots] == ["stored"] * 6
    assert sim.stats.peak_active == 2
