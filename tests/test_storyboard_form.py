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
from prefect_gmicloud.storyboard.schema import ShotOverrides, settings_of

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
    assert set(ShotSettings.model_fields) == set(ShotOverrides.model_fields) == every | {"model"}
    # Storyboard models are exactly the payload classes that say how they take references.
    assert {m for m, c in PAYLOAD_MODELS.items() if c.storyboard_references is not None} == set(
        STORYBOARD_MODELS
    )


def test_a_setting_s_form_field_admits_every_model_s_values_and_each_model_checks_its_own() -> None:
    # wan2.6-r2v takes 5 or 10 s, wan2.7-r2v 2 to 15: the form admits 2..15, planning narrows.
    assert Storyboard.parse(board(defaults={"duration": 8})).defaults.model_dump() == {
        "duration": 8
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
    parts: ClassVar[list[str]] = [
        "Storyboard",
        "Shot",
        "ShotSettings",
        "ShotOverrides",
        "Character",
    ]

    def test_no_storyboard_field_offers_null_but_switches(self) -> None:
        # A switch left alone is sent as false (prompt_extend off!): booleans start on None.
        for part in self.parts:
            for name, prop in self.schema["definitions"][part]["properties"].items():
                options = prop.get("anyOf", [])
                if {"type": "boolean"} in options or any("$ref" in o for o in options):
                    # Kling's sound is a switch or "on"/"off" (its values are unpublished).
                    assert prop["anyOf"][0] == {"type": "null"}, name
                    assert {"type": "null"} not in prop["anyOf"][1:], name
                    continue
                for node in _walk(prop):
                    assert node != {"type": "null"}, f"{part}.{name}"
                    if isinstance(node, dict) and "default" in node:
                        assert node["default"] is not None, f"{part}.{name}"

    def test_every_storyboard_field_and_flow_parameter_is_described(self) -> None:
        for part in ["Storyboard", "Shot", "ShotSettings", "Character"]:  # overrides: see defaults
            for name, prop in self.schema["definitions"][part]["properties"].items():
                assert prop.get("description"), f"{part}.{name}"
        for name, prop in self.schema["properties"].items():
            assert prop.get("description"), name
        prompt = self.schema["definitions"]["Shot"]["properties"]["prompt"]["description"]
        assert "{name}" in prompt

    def test_a_storyboard_as_prefect_stores_it_fits_the_schema(self) -> None:
        # The server checks a deployment run's parameters against this schema, as here.
        cafe = Storyboard.load(ROOT / "examples" / "cafe.yaml")
        stored = cafe.model_dump(mode="json")
        assert "None" not in str(stored)
        parameters = {"storyboard": stored, "storage": {"bucket": "media"}}
        assert validate(parameters, self.schema, raise_on_error=True) == []
        assert Storyboard.parse(stored) == cafe
