"""The production example end to end: local files and an s3:// object as references, every
shot kind, a continuity chain and sound, through the simulator (which fetches every reference
like GMI) and a real S3-protocol server."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import av
import pytest
from botocore.exceptions import ClientError

from prefect_gmicloud.errors import StoryboardIncomplete
from prefect_gmicloud.flows.storyboard import run_storyboard
from prefect_gmicloud.media.frames import first_frame, frame_difference, last_frame
from prefect_gmicloud.simulator import Simulator
from prefect_gmicloud.storage import S3Destination
from prefect_gmicloud.storyboard import Storyboard, StoryboardError
from prefect_gmicloud.storyboard.options import StoryboardOptions
from prefect_gmicloud.storyboard.trust import BUCKETS_ENV, ROOTS_ENV
from tests.conftest import credentials_for, read_object
from tests.media_files import make_image, make_video

pytestmark = pytest.mark.usefixtures("prefect_api")

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "production"
#: Where the example expects its s3:// reference (an object already in the team's bucket).
LIBRARY_BUCKET, GUEST_KEY = "gmicloud-local", "library/guest.png"
#: Mean absolute pixel difference (0-255) two renderings of one frame stay within after
#: H.264 encoding and scaling (measured 1.2-2.1; two different frames of the simulator's test
#: pattern differ by ~9.5, a test pattern and the door still by ~120).
SAME_FRAME = 4.0


def put_guest(bucket: S3Destination) -> None:
    client = bucket.s3_client()
    try:
        client.create_bucket(Bucket=LIBRARY_BUCKET)
    except ClientError as exc:
        if "BucketAlready" not in str(exc):
            raise
    client.upload_file(str(EXAMPLE / "media" / "guest.png"), LIBRARY_BUCKET, GUEST_KEY)


def object_url(bucket: S3Destination, name: str, key: str) -> str:
    """The URL a presigned link to ``key`` has without its signature (what GMI fetches)."""
    signed = bucket.s3_client().generate_presigned_url(
        "get_object", Params={"Bucket": name, "Key": key}, ExpiresIn=60
    )
    parts = urlsplit(signed)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def seconds(path: Path, kind: str) -> float:
    with av.open(str(path)) as container:
        stream = container.streams.video[0] if kind == "video" else container.streams.audio[0]
        assert stream.duration is not None and stream.time_base is not None
        return float(stream.duration * stream.time_base)


async def test_the_production_example_runs_end_to_end(
    make_simulator: Callable[..., Simulator],
    bucket: S3Destination,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sim = make_simulator()
    put_guest(bucket)
    # The guest is in the team's library bucket: the worker allows it besides the run's own.
    monkeypatch.setenv(BUCKETS_ENV, LIBRARY_BUCKET)
    board = Storyboard.load(EXAMPLE / "board.yaml")
    result = await run_storyboard(
        board,
        bucket,
        credentials_for(sim),
        options=StoryboardOptions(max_concurrency=3, poll_interval=0.05),
    )
    shots = {shot.shot_id: shot for shot in result.shots}
    assert [s.status for s in result.shots] == ["stored"] * 6
    assert sim.stats.created == 6

    # Every reference was really fetched by the simulator, through presigned links: the two
    # local files from where the run uploaded them (by content), the guest from its bucket,
    # and the two continuity frames from where the run staged them.
    client = bucket.s3_client()
    staged = client.list_objects_v2(Bucket=bucket.bucket, Prefix="out/references/")
    uploaded = sorted(item["Key"] for item in staged["Contents"])
    assert [Path(key).suffix for key in uploaded] == [".mp4", ".png"]
    frames = client.list_objects_v2(Bucket=bucket.bucket, Prefix="out/cafe-morning/frames/")
    assert len(frames["Contents"]) == 2
    expected = [object_url(bucket, bucket.bucket, key) for key in uploaded]
    expected += [object_url(bucket, LIBRARY_BUCKET, GUEST_KEY)]
    expected += [object_url(bucket, bucket.bucket, item["Key"]) for item in frames["Contents"]]
    for url in expected:
        assert sim.stats.reference_fetches[url] >= 1, (url, dict(sim.stats.reference_fetches))
    # Each link outlives the request's deadlines: 6 h queued + 1 h processing + 1 h margin.
    door_request = shots["door"].request_id
    assert door_request is not None
    sent = sim.state.requests[door_request].payload["first_frame"]
    assert "X-Amz-Signature=" in sent and "X-Amz-Expires=28800" in sent

    # Continuity: each continuing shot opens on its source's last frame.
    for shot_id, source_id in (("enter", "door"), ("pour", "greet")):
        for name in (shot_id, source_id):
            video = shots[name].video
            assert video is not None
            (tmp_path / f"{name}.mp4").write_bytes(read_object(bucket, video.key))
        opening = first_frame(tmp_path / f"{shot_id}.mp4", tmp_path / f"{shot_id}-first.png")
        ending = last_frame(tmp_path / f"{source_id}.mp4", tmp_path / f"{source_id}-last.png")
        assert frame_difference(opening, ending) < SAME_FRAME
    # ...which a shot that continues nothing does not.
    unrelated = first_frame(tmp_path / "greet.mp4", tmp_path / "greet-first.png")
    assert frame_difference(unrelated, tmp_path / "door-last.png") > 2 * SAME_FRAME
    # The image-to-video shot opens on its still (a local file, fetched through its link).
    opening = first_frame(tmp_path / "door.mp4", tmp_path / "door-first.png")
    assert frame_difference(opening, EXAMPLE / "media" / "door.png") < SAME_FRAME
    assert frame_difference(unrelated, EXAMPLE / "media" / "door.png") > 2 * SAME_FRAME

    # The final cut: as long as the shots together, with sound from start to end.
    for name, shot in shots.items():
        assert shot.video is not None
        (tmp_path / f"{name}.mp4").write_bytes(read_object(bucket, shot.video.key))
    total = sum(seconds(tmp_path / f"{name}.mp4", "video") for name in shots)
    assert result.final_cut is not None
    (tmp_path / "final.mp4").write_bytes(read_object(bucket, result.final_cut.key))
    assert seconds(tmp_path / "final.mp4", "video") == pytest.approx(total, abs=0.15)
    assert seconds(tmp_path / "final.mp4", "audio") == pytest.approx(total, abs=0.15)

    # Run again: nothing paid and nothing uploaded again.
    again = await run_storyboard(
        board, bucket, credentials_for(sim), options=StoryboardOptions(poll_interval=0.05)
    )
    assert again.reused == 6 and sim.stats.created == 6
    staged_again = client.list_objects_v2(Bucket=bucket.bucket, Prefix="out/references/")
    assert [item["ETag"] for item in staged_again["Contents"]] == [
        item["ETag"] for item in staged["Contents"]
    ]


async def test_references_breaking_limits_refuse_the_board_in_one_report(
    make_simulator: Callable[..., Simulator],
    bucket: S3Destination,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sim = make_simulator()
    monkeypatch.setenv(ROOTS_ENV, str(tmp_path))  # a board built in Python has no folder
    make_video(tmp_path / "blink.mp4", 0.5)  # wan2.7 reference videos last 1-30 s
    make_image(tmp_path / "thumb.png", "100x100")  # images need 240-8000 px per side
    (tmp_path / "notes.png").write_text("not a picture")
    shutil.copy(EXAMPLE / "media" / "door.png", tmp_path / "door.png")
    board = Storyboard.parse(
        {
            "title": "broken",
            "characters": {
                "a": {"video": "blink.mp4"},
                "b": {"image": "thumb.png"},
                "c": {"video": "door.png"},  # a still where a video is needed
                "d": {"image": "gone.png"},
                "e": {"image": f"s3://{bucket.bucket}/nowhere.png"},
            },
            "defaults": {"model": "wan2.7-r2v", "duration": 3},
            "shots": [
                {"id": "one", "prompt": "{a} meets {b}"},
                {"id": "two", "prompt": "{c} and {d} and {e}"},
                {
                    "id": "three",
                    "prompt": "a door",
                    "settings": {"model": "wan2.7-i2v", "first_frame": "notes.png"},
                },
            ],
        }
    ).files_relative_to(tmp_path)
    with pytest.raises(StoryboardError) as caught:
        await run_storyboard(
            board, bucket, credentials_for(sim), options=StoryboardOptions(poll_interval=0.05)
        )
    report = "\n".join(caught.value.problems)
    for expected in (
        f"{tmp_path / 'gone.png'}: no such file",
        f"s3://{bucket.bucket}/nowhere.png: no such object",
        "shot one: reference_video[0]",
        "blink.mp4",
        "shot one: reference_image[0]",
        "thumb.png",
        "shot two: reference_video[0]",
        "door.png",
        "shot three: first_frame",
        "notes.png",
    ):
        assert expected in report, report
    assert len(caught.value.problems) == 6, report
    assert sim.stats.calls["submit"] == 0 and sim.stats.created == 0
    listed = bucket.s3_client().list_objects_v2(Bucket=bucket.bucket)
    assert listed.get("KeyCount", 0) == 0  # nothing uploaded, no ledger written


async def test_a_failed_source_fails_the_shots_continuing_it_unpaid_and_a_rerun_finishes(
    make_simulator: Callable[..., Simulator], bucket: S3Destination
) -> None:
    sim = make_simulator()
    original_create = sim.state.create
    doors: list[str] = []

    def fail_the_first_door(model: str, payload: dict[str, Any], org_id: str) -> Any:
        request = original_create(model, payload, org_id)
        if payload.get("prompt") == "a door":
            doors.append(request.request_id)
            if len(doors) == 1:
                request.ends = "failed"
        return request

    sim.state.create = fail_the_first_door  # type: ignore[method-assign]
    t2v = {"model": "wan2.7-t2v", "duration": 2}
    i2v = {"model": "wan2.7-i2v", "duration": 2}
    board = Storyboard.parse(
        {
            "title": "chain",
            "shots": [
                {"id": "door", "prompt": "a door", "settings": t2v},
                {"id": "open", "prompt": "it opens", "continues": "door", "settings": i2v},
                {"id": "inside", "prompt": "inside", "continues": "open", "settings": i2v},
                {"id": "street", "prompt": "a street", "settings": t2v},
            ],
        }
    )
    with pytest.raises(StoryboardIncomplete) as caught:
        await run_storyboard(
            board, bucket, credentials_for(sim), options=StoryboardOptions(poll_interval=0.05)
        )
    assert caught.value.failed == ["door", "open", "inside"]
    report = str(caught.value)
    assert (
        "open: starts from the last frame of shot door, which is not stored (shot door: GMI"
        in report
    )
    assert (
        "inside: starts from the last frame of shot open, which is not stored (shot door: GMI"
        in report
    )
    assert "nothing was paid for this shot" in report
    assert sim.stats.created == 2  # the door (failed by GMI) and the street: nothing else paid
    result = await run_storyboard(
        board, bucket, credentials_for(sim), options=StoryboardOptions(poll_interval=0.05)
    )
    assert (result.submitted, result.reused) == (3, 1)
    assert [s.status for s in result.shots] == ["stored"] * 4
