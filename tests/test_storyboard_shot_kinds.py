"""Every shot kind in one board, references from anywhere, and shots continuing others."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from prefect_gmicloud.client.reconcile import payload_matches
from prefect_gmicloud.storyboard import Storyboard, StoryboardError, plan_storyboard
from prefect_gmicloud.storyboard.references import PlaceholderURLs

CLIP = "https://refs.example/fisher.mp4"
STILL = "https://refs.example/dock.png"


def board(*shots: dict[str, Any], **changes: Any) -> Storyboard:
    data: dict[str, Any] = {
        "title": "harbour",
        "characters": {"fisher": {"video": CLIP}},
        "defaults": {"model": "wan2.7-r2v", "duration": 5},
        "shots": list(shots),
    }
    return Storyboard.parse(data | changes)


def problems_of(storyboard: Storyboard) -> list[str]:
    with pytest.raises(StoryboardError) as caught:
        plan_storyboard(storyboard)
    return caught.value.problems


def test_one_board_holds_text_image_reference_and_edit_shots() -> None:
    planned = plan_storyboard(
        board(
            {"id": "harbour", "prompt": "Dawn over a harbour", "settings": {"model": "wan2.7-t2v"}},
            {
                "id": "dock",
                "prompt": "Along the dock",
                "settings": {"model": "wan2.7-i2v", "first_frame": STILL},
            },
            {"id": "hello", "prompt": "{fisher} says good morning"},
            {
                "id": "golden",
                "prompt": "make it golden hour",
                "settings": {"model": "wan2.7-videoedit", "video": CLIP},
            },
        )
    )
    assert [(s.shot_id, s.payload.model_id) for s in planned] == [
        ("harbour", "wan2.7-t2v"),
        ("dock", "wan2.7-i2v"),
        ("hello", "wan2.7-r2v"),
        ("golden", "wan2.7-videoedit"),
    ]
    assert planned[1].payload.to_payload()["first_frame"] == STILL
    assert planned[2].payload.to_payload()["reference_video"] == [CLIP]
    assert planned[3].payload.to_payload()["video"] == CLIP


def test_a_continuing_shot_starts_on_its_source_s_last_frame_and_follows_its_hash() -> None:
    shots: list[dict[str, Any]] = [
        {"id": "hello", "prompt": "{fisher} says good morning", "continues": "dock"},
        {"id": "dock", "prompt": "Along the dock", "settings": {"model": "wan2.7-t2v"}},
    ]
    hello, dock = plan_storyboard(board(*shots))
    assert hello.continues == "dock" and dock.continues is None
    frame = PlaceholderURLs().frame_url(dock.inputs_hash)
    assert hello.payload.to_payload()["first_frame"] == frame
    # Another version of the source is another first frame: the continuing shot changes too.
    shots[1]["settings"] = {"model": "wan2.7-t2v", "seed": 7}
    hello_again, dock_again = plan_storyboard(board(*shots))
    assert dock_again.inputs_hash != dock.inputs_hash
    assert hello_again.inputs_hash != hello.inputs_hash


def test_continuity_problems_are_named_with_the_rest() -> None:
    found = problems_of(
        board(
            {"id": "a", "prompt": "{fisher} waves", "continues": "b"},
            {"id": "b", "prompt": "{fisher} nods", "continues": "a"},
            {"id": "c", "prompt": "{fisher} sits", "continues": "nowhere"},
            {"id": "d", "prompt": "sky", "continues": "e", "settings": {"model": "wan2.7-t2v"}},
            {"id": "e", "prompt": "sea", "settings": {"model": "wan2.7-t2v"}},
            {
                "id": "f",
                "prompt": "dock",
                "continues": "e",
                "settings": {"model": "wan2.7-i2v", "first_frame": STILL},
            },
        )
    )
    assert found == [
        "shot a: continues itself through a -> b -> a",
        "shot c: continues unknown shot 'nowhere'",
        "shot d: continues e, but wan2.7-t2v takes no first frame "
        "(models that do: wan2.7-r2v, kling-v2-6, kling-v3-image-to-video, MiniMax-H3, "
        "seedance-1-0-pro-250528, seedance-1-5-pro-251215, seedance-2-0-260128, "
        "seedance-2-0-fast-260128, wan2.6-i2v, wan2.7-i2v)",
        "shot f: continues e and sets first_frame: choose one first frame",
    ]


@pytest.mark.parametrize(
    ("reference", "problem"),
    [
        ("ftp://host/clip.mp4", "got a ftp:// URL"),
        ("s3://bucket-only", "a bucket and a key"),
        ("https://host/a b.mp4", "white space"),
    ],
)
def test_a_reference_is_a_url_an_s3_object_or_a_file(reference: str, problem: str) -> None:
    with pytest.raises(StoryboardError, match=problem):
        board({"id": "a", "prompt": "x"}, characters={"fisher": {"video": reference}})


def test_files_are_relative_to_the_storyboard_file(tmp_path: Path) -> None:
    (tmp_path / "boards").mkdir()
    path = tmp_path / "boards" / "harbour.yaml"
    path.write_text(
        "title: harbour\n"
        "characters: {fisher: {video: clips/fisher.mp4}, gull: {image: s3://lib/gull.png}}\n"
        "shots:\n"
        "  - {id: dock, prompt: dock, settings: {model: wan2.7-i2v, first_frame: ../dock.png}}\n"
        "  - {id: hi, prompt: '{fisher} and {gull}', settings: {first_frame: /abs/f.png}}\n"
    )
    loaded = Storyboard.load(path)
    assert loaded.references() == [
        str(tmp_path / "boards" / "clips" / "fisher.mp4"),
        "s3://lib/gull.png",
        str(tmp_path / "dock.png"),
        "/abs/f.png",
    ]


def test_a_presigned_url_matches_the_object_it_names_whatever_its_signature() -> None:
    plain = "http://127.0.0.1:9000/bucket/refs/abc.png"
    signed = plain + "?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=ff&X-Amz-Expires=60"
    assert payload_matches({"first_frame": signed, "seed": 1}, {"first_frame": plain + "#etag=1"})
    assert payload_matches({"reference_video": [signed]}, {"reference_video": [plain]})
    assert not payload_matches({"first_frame": signed}, {"first_frame": plain + "x"})
    # A query that is not a signature is part of what the URL names.
    assert not payload_matches({"first_frame": plain + "?v=2"}, {"first_frame": plain + "?v=1"})
