"""Planning a board's stills and sound, and shots of every family that use them (pure)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from prefect_gmicloud.models.base import RawPayload
from prefect_gmicloud.storyboard import Storyboard, StoryboardError
from prefect_gmicloud.storyboard.plan import plan_shots, plan_storyboard

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "lighthouse.yaml"
STILL = {"id": "sea", "model": "seedream-5.0-lite", "prompt": "the sea"}


def problems(**board: Any) -> list[str]:
    data: dict[str, Any] = {"title": "t", "stills": [STILL]} | board
    return plan_shots(Storyboard.parse(data))[1]


def test_the_example_plans_stills_first_then_shots_then_sound() -> None:
    planned = plan_storyboard(Storyboard.load(EXAMPLE))
    assert [(p.kind, p.shot_id) for p in planned] == [
        ("still", "still-keeper-portrait"), ("still", "still-harbour"),
        ("shot", "keeper"), ("shot", "dawn"), ("shot", "tide"), ("shot", "storm"),
        ("narration", "narration-keeper"), ("narration", "narration-tide"), ("music", "music"),
    ]  # fmt: skip
    by_id = {p.shot_id: p for p in planned}
    # Stills are named by their inputs: the shots using them change when they do.
    harbour = by_id["still-harbour"].inputs_hash
    assert by_id["dawn"].payload.to_payload()["image"].endswith(f"/stills/{harbour}.png")
    assert by_id["dawn"].after == ("still-harbour",)
    assert by_id["keeper"].after == ("still-keeper-portrait",)
    assert by_id["tide"].continues == "dawn"
    assert by_id["narration-tide"].for_shot == "tide"
    assert by_id["narration-tide"].output == "audio" and by_id["still-harbour"].output == "image"
    # A music model without a typed spec: sent as given once GMI's parameters accept it.
    assert isinstance(by_id["music"].payload, RawPayload)


def test_a_changed_still_changes_the_shots_using_it() -> None:
    board = Storyboard.load(EXAMPLE)
    before = {p.shot_id: p.inputs_hash for p in plan_storyboard(board)}
    changed = board.model_copy(
        update={
            "stills": [s.model_copy(update={"prompt": s.prompt + ", fog"}) for s in board.stills]
        }
    )
    after = {p.shot_id: p.inputs_hash for p in plan_storyboard(changed)}
    assert {k for k in before if before[k] != after[k]} == {
        "still-keeper-portrait", "still-harbour", "keeper", "dawn", "tide",
    }  # fmt: skip


def test_still_and_first_frame_problems_are_named_with_the_rest() -> None:
    found = problems(
        characters=[{"name": "ann", "still": "nowhere"}],
        shots=[
            {"id": "a", "prompt": "p", "starts_from": "sea", "settings": {"model": "Veo3"}},
            {"id": "b", "prompt": "p", "starts_from": "fog", "settings": {"model": "kling-v2-6"}},
            {"id": "c", "prompt": "{ann} waves"},
            {"id": "d", "prompt": "{ann} waves", "settings": {"model": "MiniMax-H3"}},
        ],
    )
    assert found[0].startswith("shot a: starts_from sea, but Veo3 takes no first frame")
    assert found[1:] == [
        "shot b: starts_from unknown still 'fog' (stills: sea)",
        "shot c: character 'ann' wears unknown still 'nowhere'",
        "shot c: character 'ann' needs a reference video or image for wan2.7-r2v",
        "shot d: prompt names character {ann}, but MiniMax-H3 takes no references in "
        "storyboards (how its prompt names reference_images, reference_videos, "
        "reference_audios is not published)",
    ]


def test_sound_and_stills_need_models_of_their_kind() -> None:
    found = problems(
        stills=[{"id": "sea", "model": "Veo3", "prompt": "the sea"}],
        defaults={"model": "Veo3"},
        shots=[
            {"id": "a", "prompt": "p", "narration": {"text": "hi", "model": "seedream-5.0-lite"}},
            {"id": "music", "prompt": "q"},
        ],
        sound={"music": {"model": "minimax-music-3.0", "prompt": "x", "settings": {"prompt": "y"}}},
    )
    assert found[0].startswith("still sea: model Veo3 makes video, not image (typed image models:")
    assert found[1].startswith(
        "shot a: narration: model seedream-5.0-lite makes image, not audio (typed audio models:"
    )
    assert found[2:] == [
        "music: settings.prompt: give it as the music's own text instead",
        "shot music: the id of a still or sound of the board (still-<id>, narration-<shot>, "
        "music): rename the shot",
    ]


def test_a_typed_still_is_checked_by_its_limits() -> None:
    with pytest.raises(StoryboardError) as refused:
        plan_storyboard(
            Storyboard.parse(
                {
                    "title": "t",
                    "stills": [STILL | {"settings": {"size": "640x480"}}],
                    "shots": [{"id": "a", "prompt": "p", "settings": {"model": "Veo3"}}],
                }
            )
        )
    assert "still sea: size: must hold 3,686,400–10,404,496 pixels, not 307,200" in str(
        refused.value
    )


def test_narration_takes_the_voice_settings_under_its_own() -> None:
    board = Storyboard.parse(
        {
            "title": "t",
            "sound": {"voice": {"settings": {"format": "flac", "speed": 1}}},
            "shots": [
                {"id": "a", "prompt": "p", "settings": {"model": "Veo3"},
                 "narration": {"text": "hello", "settings": {"format": "mp3"}}},
            ],
        }
    )  # fmt: skip
    narration = plan_storyboard(board)[-1]
    assert narration.payload.model_id == "minimax-tts-speech-2.8-hd"
    assert narration.payload.to_payload() == {"text": "hello", "format": "mp3", "speed": 1}
