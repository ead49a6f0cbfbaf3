"""Storyboard settings come from the payload classes, and the run form's schema renders cleanly."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import pytest
from prefect.utilities.callables import parameter_schema
from prefect.utilities.schema_tools.validation import validate

from prefect_gmicloud.flows.storyboard import run_storyboard
from prefect_gmicloud.models import Wan27T2VPayload
from prefect_gmicloud.models.registry import PAYLOAD_MODELS, STORYBOARD_MODELS
from prefect_gmicloud.storyboard import ShotSettings, Storyboard, StoryboardError, plan_storyboard
from prefect_gmicloud.storyboard.schema import (
    SHOT_LINKS,
    Character,
    ShotOverrides,
    StoryboardDefaults,
    settings_of,
)

ROOT = Path(__file__).resolve().parent.parent
BARISTA = "https://refs.example/barista.mp4"
GUEST = "https://refs.example/guest.png"


def board(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "title": "cafe",
        "characters": [{"name": "barista", "video": BARISTA}, {"name": "guest", "image": GUEST}],
        "shots": [{"id": "serve", "prompt": "{barista} hands {guest} a coffee"}],
    }
    return data | changes


def problems_of(data: dict[str, Any]) -> list[str]:
    with pytest.raises(StoryboardError) as caught:
        plan_storyboard(Storyboard.parse(data))
    return caught.value.problems


def test_an_establishing_shot_with_the_text_to_video_model() -> None:
    shots = [
        {
            "id": "street",
            "prompt": "a rainy street at dawn, a small cafe's lights come on",
            "settings": {"model": "wan2.7-t2v", "audio_url": "https://refs.example/rain.mp3"},
        },
        {"id": "serve", "prompt": "{barista} hands {guest} a coffee"},
    ]
    street, serve = plan_storyboard(Storyboard.parse(board(shots=shots, defaults={"ratio": "1:1"})))
    assert isinstance(street.payload, Wan27T2VPayload)
    assert street.payload.to_payload() == {
        "prompt": "a rainy street at dawn, a small cafe's lights come on",
        "audio_url": "https://refs.example/rain.mp3",
        "ratio": "1:1",
    }
    assert serve.payload.model_id == "wan2.7-r2v"


def test_text_to_video_shots_name_no_character_and_take_only_their_settings() -> None:
    defaults = {"model": "wan2.7-t2v", "size": "1280*720"}
    shots = [{"id": "street", "prompt": "{guest} in the rain"}]
    assert problems_of(board(defaults=defaults, shots=shots)) == [
        "defaults: size: not a setting of wan2.7-t2v",
        "shot street: prompt names character {guest}, but wan2.7-t2v takes no references",
    ]


def test_each_model_s_settings_are_its_payload_fields_but_prompt_and_references() -> None:
    assert set(settings_of("wan2.6-r2v")) == {
        "negative_prompt", "size", "duration", "shot_type", "watermark", "seed",
    }  # fmt: skip
    assert "reference_video" not in settings_of("wan2.7-r2v")
    assert "audio_url" in settings_of("wan2.7-t2v")
    every = {name for model in STORYBOARD_MODELS for name in settings_of(model)}
    assert set(ShotSettings.model_fields) == every | {"model"}
    assert set(ShotOverrides.model_fields) == every | {"model", *SHOT_LINKS}
    # Storyboard models are exactly the payload classes that say how they take references.
    assert {m for m, c in PAYLOAD_MODELS.items() if c.storyboard_references is not None} == set(
        STORYBOARD_MODELS
    )


def test_a_setting_s_form_field_admits_every_model_s_values_and_each_model_checks_its_own() -> None:
    # wan2.6-r2v takes 5 or 10 s, wan2.7-r2v 2 to 15: the form admits 2..15, planning narrows.
    assert Storyboard.parse(board(defaults={"duration": 8})).defaults.model_dump() == {
        "duration": 8,
        "settings": {},
    }
    data = board(
        characters={"barista": {"video": BARISTA}},
        defaults={"model": "wan2.6-r2v", "duration": 8},
        shots=[{"id": "pour", "prompt": "{barista} pours"}],
    )
    assert problems_of(data) == ["shot pour: duration: must be one of 5 or 10, got 8"]


def test_two_shots_asking_for_the_same_video_are_refused() -> None:
    shots = [
        {"id": "a", "prompt": "{barista} waves"},
        {"id": "b", "prompt": "{guest} waves"},
        {"id": "c", "prompt": "{barista} waves"},
        {"id": "d", "prompt": "{barista} waves", "settings": {"seed": 7}},
    ]
    assert problems_of(board(shots=shots)) == [
        "shots a and c ask for the same video: change the prompt or seed of one"
    ]


def test_characters_as_a_list_or_as_a_mapping_are_one_storyboard() -> None:
    as_list = Storyboard.parse(board())
    as_mapping = Storyboard.parse(
        board(characters={"barista": {"video": BARISTA}, "guest": {"image": GUEST}})
    )
    assert as_list == as_mapping
    assert as_list.cast["guest"].image == GUEST


def test_a_character_named_twice_is_reported() -> None:
    characters = [{"name": "guest", "image": GUEST}, {"name": "guest", "video": BARISTA}]
    assert problems_of(board(characters=characters, shots=[{"id": "s", "prompt": "{guest}"}])) == [
        "characters: 'guest' is named more than once"
    ]


def _walk(node: Any) -> list[Any]:
    found = [node]
    if isinstance(node, dict):
        found += [child for value in node.values() for child in _walk(value)]
    elif isinstance(node, list):
        found += [child for value in node for child in _walk(value)]
    return found


class TestRunForm:
    """The schema Prefect builds for ``run_storyboard``: what the UI renders and enforces."""

    schema: ClassVar[dict[str, Any]] = parameter_schema(run_storyboard).model_dump()
    parts: ClassVar[list[str]] = ["Storyboard", "StoryboardDefaults", "Shot"]

    def test_no_form_field_offers_null_nor_a_none_or_bool_toggle(self) -> None:
        # (The S3 blocks' own forms are prefect-aws's.)
        ours = [self.schema["properties"], *(self.schema["definitions"][p] for p in self.parts)]
        for node in _walk(ours):
            if isinstance(node, dict) and "anyOf" in node:
                assert {"type": "boolean"} not in node["anyOf"], node
        for part in self.parts:
            for name, prop in self.schema["definitions"][part]["properties"].items():
                options = prop.get("anyOf", [])
                if any("$ref" in o for o in options):
                    # An optional part (the music bed) starts unset, on its null alternative.
                    assert prop["anyOf"][0] == {"type": "null"}, name
                    assert {"type": "null"} not in prop["anyOf"][1:], name
                    continue
                for node in _walk(prop):
                    assert node != {"type": "null"}, f"{part}.{name}"
                    if isinstance(node, dict) and "default" in node:
                        assert node["default"] is not None, f"{part}.{name}"

    def test_a_form_part_with_an_optional_switch_is_refused(self) -> None:
        class Bad(Character):
            loud: bool | None = None

        with pytest.raises(TypeError, match="'loud' is an optional boolean"):
            Bad.model_json_schema()

    def test_a_shot_is_three_inputs_its_settings_one_json_object(self) -> None:
        shot = self.schema["definitions"]["Shot"]["properties"]
        assert list(shot) == ["id", "prompt", "settings"]
        assert shot["settings"] == {"title": "Settings", "type": "object"}
        defaults = self.schema["definitions"]["StoryboardDefaults"]["properties"]
        assert list(defaults) == [
            "model", "duration", "resolution", "ratio", "negative_prompt", "settings",
        ]  # fmt: skip
        assert "properties" not in defaults["settings"]  # one JSON editor, not ~20 inputs
        # One toggle of two (not one button per model's own range); each model checks its own.
        assert defaults["duration"]["anyOf"] == [{"type": "integer"}, {"type": "string"}]

    def test_the_characters_stills_and_sound_are_json_each_one_editor(self) -> None:
        storyboard = self.schema["definitions"]["Storyboard"]["properties"]
        json_list = {"type": "array", "items": {"type": "object"}}
        for name in ("characters", "stills"):
            assert {k: storyboard[name][k] for k in json_list} == json_list, name
        assert "properties" not in storyboard["sound"]

    def test_every_form_part_s_help_is_one_short_line(self) -> None:
        # Each line of help costs the form height; the long form is in docs/architecture.md.
        storyboard = self.schema["definitions"]["Storyboard"]["properties"]
        defaults = self.schema["definitions"]["StoryboardDefaults"]["properties"]
        for name, prop in [*storyboard.items(), *defaults.items()]:
            assert len(prop.get("description", "")) <= 140, name

    def test_every_storyboard_field_and_flow_parameter_is_described(self) -> None:
        # A shot's and a character's fields are described once, in the list holding them.
        storyboard = self.schema["definitions"]["Storyboard"]["properties"]
        for name, prop in storyboard.items():
            assert prop.get("description"), name
        for field in ("{name}", "id", "prompt", "settings", "continues"):
            assert field in storyboard["shots"]["description"], field
        for field in ("name", "video", "image", "s3://"):
            assert field in storyboard["characters"]["description"], field
        for name, prop in self.schema["properties"].items():
            assert prop.get("description"), name

    def test_a_storyboard_as_prefect_stores_it_fits_the_schema(self) -> None:
        # The server checks a deployment run's parameters against this schema, as here.
        cafe = Storyboard.load(ROOT / "examples" / "cafe.yaml")
        stored = cafe.model_dump(mode="json")
        assert "None" not in str(stored)
        assert stored["shots"][3] == {
            "id": "brew",
            "prompt": "{barista} pours steamed milk into a cup, drawing a leaf",
            "settings": {"duration": 4},
        }
        parameters = {"storyboard": stored, "storage": {"bucket": "media"}}
        assert validate(parameters, self.schema, raise_on_error=True) == []
        assert Storyboard.parse(stored) == cafe


def test_a_file_s_flat_defaults_and_continues_are_filed_where_the_form_puts_them() -> None:
    data = board(
        defaults={"model": "wan2.7-i2v", "duration": 5, "prompt_extend": False},
        shots=[
            {"id": "a", "prompt": "a door", "settings": {"first_frame": GUEST}},
            {"id": "b", "prompt": "it opens", "continues": "a"},
        ],
    )
    parsed = Storyboard.parse(data)
    assert parsed.defaults.model_dump() == {
        "model": "wan2.7-i2v", "duration": 5, "settings": {"prompt_extend": False},
    }  # fmt: skip
    assert parsed.shots[1].continues == "a"
    assert parsed.shots[1].model_dump() == {
        "id": "b", "prompt": "it opens", "settings": {"continues": "a"},
    }  # fmt: skip
    assert Storyboard.parse(parsed.model_dump(mode="json")) == parsed


def test_a_shot_s_settings_problems_name_the_shot_and_the_field() -> None:
    shots = [
        {"id": "a", "prompt": "x", "settings": {"duration": 99, "camera": "dolly"}},
        {"id": "b", "prompt": "y", "settings": {"continues": "../a"}},
    ]
    with pytest.raises(StoryboardError) as caught:
        Storyboard.parse(board(shots=shots))
    # (A duration of 99 passes the form: families spell durations differently, and each
    # shot's own model checks its range when the board is planned, below.)
    assert caught.value.problems == [
        "shot a: settings.camera: not a setting of any storyboard model",
        "shot b: settings.continues: String should match pattern '^[a-z0-9][a-z0-9_-]{0,62}$', "
        "got '../a'",
    ]
    # The model's own limits, at planning (before anything is paid): shot and field named.
    data = board(
        defaults={"model": "wan2.6-r2v"},
        shots=[{"id": "pour", "prompt": "{barista} pours", "settings": {"duration": 8}}],
    )
    assert "shot pour: duration: must be one of 5 or 10, got 8" in problems_of(data)


def test_a_character_s_problems_name_the_character_and_the_field() -> None:
    characters = [{"name": "ann", "vidoe": "ann.mp4"}, {"name": "bob", "image": 7}]
    shots = [{"id": "s", "prompt": "{ann} and {bob}"}]
    assert problems_of(board(characters=characters, shots=shots)) == [
        "character ann: vidoe: not a field of a character (name, video, image, still)",
        "character bob: image: Input should be a valid string, got 7",
    ]


def test_a_seed_among_the_defaults_is_filed_in_the_json_settings() -> None:
    # Files, stored parameters and the Python API from when the seed was an input still load.
    flat = Storyboard.parse(board(defaults={"seed": 7, "duration": 3}))
    assert flat.defaults.model_dump() == {"duration": 3, "settings": {"seed": 7}}
    assert StoryboardDefaults.model_validate({"seed": 7, "duration": 3}) == flat.defaults
    assert flat.defaults.all().model_dump(exclude_none=True) == {"duration": 3, "seed": 7}


def test_a_default_set_twice_is_refused() -> None:
    with pytest.raises(StoryboardError, match="duration is set twice"):
        Storyboard.parse(board(defaults={"duration": 4, "settings": {"duration": 5}}))
