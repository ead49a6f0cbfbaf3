"""A storyboard plans into validated payloads, or reports every problem before any request."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from prefect_gmicloud.models import Wan26R2VPayload, Wan27R2VPayload
from prefect_gmicloud.storyboard import Storyboard, StoryboardError, plan_storyboard

BARISTA = "https://refs.example/barista.mp4"
GUEST = "https://refs.example/guest.png"


def board(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "title": "cafe",
        "characters": {"barista": {"video": BARISTA}, "guest": {"image": GUEST}},
        "defaults": {"model": "wan2.7-r2v", "resolution": "720P", "ratio": "16:9", "duration": 5},
        "shots": [
            {"id": "arrive", "prompt": "{guest} walks into the cafe"},
            {"id": "serve", "prompt": "{barista} hands {guest} a coffee, {barista} smiles"},
        ],
    }
    return data | changes


def problems_of(data: dict[str, Any]) -> list[str]:
    with pytest.raises(StoryboardError) as caught:
        plan_storyboard(Storyboard.parse(data))
    return caught.value.problems


def test_characters_become_the_model_s_reference_names() -> None:
    arrive, serve = plan_storyboard(Storyboard.parse(board()))
    assert isinstance(serve.payload, Wan27R2VPayload)
    assert serve.payload.to_payload() == {
        "prompt": "Video1 hands Image1 a coffee, Video1 smiles",
        "reference_video": [BARISTA],
        "reference_image": [GUEST],
        "resolution": "720P",
        "ratio": "16:9",
        "duration": 5,
    }
    assert arrive.payload.to_payload()["prompt"] == "Image1 walks into the cafe"


def test_wan26_uses_character_numbers_and_videos() -> None:
    data = board(
        characters={"a": {"video": BARISTA}, "b": {"video": "https://refs.example/b.mp4"}},
        defaults={"model": "wan2.6-r2v", "size": "1280*720", "duration": 10},
        shots=[{"id": "meet", "prompt": "{b} meets {a}"}],
    )
    (meet,) = plan_storyboard(Storyboard.parse(data))
    assert isinstance(meet.payload, Wan26R2VPayload)
    assert meet.payload.prompt == "character1 meets character2"
    assert meet.payload.reference_video_urls == ["https://refs.example/b.mp4", BARISTA]


def test_shot_settings_override_the_defaults() -> None:
    data = board(shots=[{"id": "long", "prompt": "{barista}", "settings": {"duration": 8}}])
    (long,) = plan_storyboard(Storyboard.parse(data))
    assert long.payload.to_payload()["duration"] == 8


def test_inputs_hash_follows_what_is_asked() -> None:
    first = plan_storyboard(Storyboard.parse(board()))
    again = plan_storyboard(Storyboard.parse(board()))
    assert [s.inputs_hash for s in first] == [s.inputs_hash for s in again]
    changed = board(defaults={"model": "wan2.7-r2v", "duration": 6})
    assert plan_storyboard(Storyboard.parse(changed))[0].inputs_hash != first[0].inputs_hash


def test_every_problem_of_every_shot_is_reported_at_once() -> None:
    data = board(
        shots=[
            {"id": "a", "prompt": "{ghost} waves"},
            {"id": "a", "prompt": "{barista} waves", "settings": {"size": "1280*720"}},
            {"id": "c", "prompt": "{barista} waves", "settings": {"duration": 12}},
            {"id": "d", "prompt": "nobody here"},
        ]
    )
    with pytest.warns(UserWarning, match="10s cap"):  # shot c: valid, but worth a warning
        found = problems_of(data)
    assert found == [
        "shot a: prompt names unknown character {ghost} (known: barista, guest)",
        "shot a: duplicate shot id",
        "shot a: size: not a setting of wan2.7-r2v",
        "shot d: reference_image + reference_video: at least 1 reference, got 0",
    ]


def test_too_many_references_for_the_model() -> None:
    characters = {f"c{i}": {"video": f"https://refs.example/{i}.mp4"} for i in range(4)}
    data = board(
        characters=characters,
        defaults={"model": "wan2.6-r2v"},
        shots=[{"id": "crowd", "prompt": "{c0} {c1} {c2} {c3} dance"}],
    )
    assert problems_of(data) == ["shot crowd: reference_video_urls: at most 3 items, got 4"]


def test_wan26_needs_videos() -> None:
    data = board(defaults={"model": "wan2.6-r2v"}, shots=[{"id": "x", "prompt": "{guest}"}])
    assert problems_of(data) == ["shot x: character 'guest' needs a reference video for wan2.6-r2v"]


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"title": "Cafe Story"}, "title: String should match pattern"),
        ({"shots": []}, "shots: at least 1 items, got 0"),
        ({"shots": [{"id": "../x", "prompt": "p"}]}, "shots.0.id: String should match pattern"),
        ({"shots": [{"id": "x", "prompt": ""}]}, "shot x: prompt: at least 1 characters, got 0"),
        ({"characters": {"a": {"video": "ftp://x/y.mp4"}}}, "must be an http(s) URL"),
        ({"defaults": {"model": "sora-2-pro"}}, "defaults.model: must be one of"),
    ],
)
def test_schema_problems_name_the_field(changes: dict[str, Any], expected: str) -> None:
    with pytest.raises(StoryboardError) as caught:
        Storyboard.parse(board(**changes))
    assert any(expected in problem for problem in caught.value.problems), caught.value.problems


def test_loads_yaml_and_json(tmp_path: Path) -> None:
    import json

    import yaml

    (tmp_path / "b.yaml").write_text(yaml.safe_dump(board()))
    (tmp_path / "b.json").write_text(json.dumps(board()))
    assert Storyboard.load(tmp_path / "b.yaml") == Storyboard.load(tmp_path / "b.json")
