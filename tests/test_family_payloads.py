"""The typed families beyond Wan: each published limit enforced, each unknown left open, and
their seconds counted from the field and form their spec names."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prefect_gmicloud import PayloadValidationError
from prefect_gmicloud.models import GMIPayload
from prefect_gmicloud.models.catalog.kling import (
    KlingV3ImageToVideoPayload,
    KlingV3TextToVideoPayload,
    KlingV26Payload,
)
from prefect_gmicloud.models.catalog.minimax_tts import MiniMaxSpeech28HDPayload
from prefect_gmicloud.models.catalog.minimax_video import HailuoFastPayload, MiniMaxH3Payload
from prefect_gmicloud.models.catalog.seedance import Seedance10ProPayload, Seedance20Payload
from prefect_gmicloud.models.catalog.seedream import Seedream50LitePayload
from prefect_gmicloud.models.catalog.veo3 import Veo3FastPayload, Veo3Payload
from prefect_gmicloud.references import limits_for, media_kind_of
from tests.test_payload_limits import MINIMAL

IMAGE = "https://refs.example/a.png"
VIDEO = "https://refs.example/a.mp4"


def problems(cls: type[GMIPayload], **changes: Any) -> list[str]:
    with pytest.raises(PayloadValidationError) as caught:
        cls.parse({**MINIMAL[cls], **changes})
    assert caught.value.model == cls.model_id
    return caught.value.problems


def accepted(cls: type[GMIPayload], **changes: Any) -> dict[str, Any]:
    data = {**MINIMAL[cls], **changes}
    sent = cls.parse(data).to_payload()
    assert sent == data  # sent exactly as given: "5" stays a string, 5 an int
    return sent


# -- Veo 3 -------------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", [Veo3Payload, Veo3FastPayload])
def test_veo_durations_are_the_strings_4_6_8(cls: type[GMIPayload]) -> None:
    for seconds in ("4", "6", "8"):
        accepted(cls, durationSeconds=seconds)
    assert problems(cls, durationSeconds="5") == [
        "durationSeconds: must be one of '4', '6' or '8', got '5'"
    ]
    (problem,) = problems(cls, durationSeconds=8)
    assert problem.startswith("durationSeconds: must be one of '4', '6' or '8'")


def test_veo_fields_are_camel_case_and_a_snake_case_one_is_refused() -> None:
    accepted(Veo3Payload, aspectRatio="9:16", negativePrompt="rain", personGeneration="allow")
    assert problems(Veo3Payload, aspectRatio="1:1") == [
        "aspectRatio: must be one of '16:9' or '9:16', got '1:1'"
    ]
    (problem,) = problems(Veo3Payload, duration="8")
    assert problem.startswith("duration: unknown field")


def test_veo_seconds_come_from_duration_seconds() -> None:
    assert Veo3Payload.parse({"prompt": "x", "durationSeconds": "6"}).asked_seconds() == 6
    assert Veo3Payload.parse({"prompt": "x"}).asked_seconds() is None
    assert Veo3Payload.unset_seconds() == 8  # no published default: counted at the longest


# -- Kling -------------------------------------------------------------------------------------


def test_kling_v26_durations_are_strings_and_its_prompt_2500_characters() -> None:
    accepted(KlingV26Payload, duration="10", prompt="p" * 2500, mode="pro", cfg_scale=0.5)
    (problem,) = problems(KlingV26Payload, duration=5)
    assert problem.startswith("duration: must be one of '5' or '10'")
    assert problems(KlingV26Payload, prompt="p" * 2501) == [
        "prompt: at most 2500 characters, got 2501"
    ]
    assert KlingV26Payload.unset_seconds() == 10


@pytest.mark.parametrize("cls", [KlingV3TextToVideoPayload, KlingV3ImageToVideoPayload])
def test_kling_v3_durations_are_3_to_15_as_a_number_or_a_string(cls: type[GMIPayload]) -> None:
    for seconds in (3, "3", 15, "15"):
        accepted(cls, duration=seconds)
    for seconds in (2, "16", "five", True):
        (problem,) = problems(cls, duration=seconds)
        assert problem.startswith("duration: must be 3–15 whole seconds")
    assert problems(cls, sound="yes") == ["sound: must be one of 'on' or 'off', got 'yes'"]
    assert cls.unset_seconds() == 15


def test_kling_v3_image_to_video_needs_its_image_and_takes_a_tail() -> None:
    accepted(KlingV3ImageToVideoPayload, image_tail=IMAGE, prompt="it opens")
    with pytest.raises(PayloadValidationError) as caught:
        KlingV3ImageToVideoPayload.parse({"prompt": "no image"})
    assert caught.value.problems == ["image: required"]
    (problem,) = problems(KlingV3ImageToVideoPayload, aspect_ratio="16:9")
    assert problem.startswith("aspect_ratio: unknown field")  # text to video only
    assert KlingV3ImageToVideoPayload.storyboard_first_frame == "image"


# -- Seedance ----------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", [Seedance10ProPayload, Seedance20Payload])
def test_seedance_takes_frames_and_ratio_not_aspect_ratio(cls: type[GMIPayload]) -> None:
    accepted(cls, first_frame=IMAGE, last_frame=IMAGE, ratio="16:9", resolution="1080p")
    (problem,) = problems(cls, aspect_ratio="16:9")
    assert problem.startswith("aspect_ratio: unknown field")


def test_seedance_duration_is_open_but_a_whole_number() -> None:
    assert accepted(Seedance20Payload, duration=12)["duration"] == 12
    assert accepted(Seedance20Payload, duration="12")["duration"] == "12"
    (problem,) = problems(Seedance20Payload, duration="soon")
    assert problem.startswith("duration: must be at least 1 whole seconds")
    assert Seedance20Payload.unset_seconds() is None  # range unpublished: length unknown


# -- MiniMax -----------------------------------------------------------------------------------


def test_hailuo_fast_is_6_seconds_at_768p_with_a_2000_character_prompt() -> None:
    accepted(HailuoFastPayload, duration=6, resolution="768P", prompt_optimizer=False)
    (problem,) = problems(HailuoFastPayload, duration=10)
    assert problem.startswith("duration: must be 6–6 whole seconds")
    assert problems(HailuoFastPayload, resolution="1080P") == [
        "resolution: must be one of '768P', got '1080P'"
    ]
    assert problems(HailuoFastPayload, prompt="p" * 2001) == [
        "prompt: at most 2000 characters, got 2001"
    ]
    (problem,) = problems(HailuoFastPayload, first_frame_image=IMAGE)  # none is published
    assert problem.startswith("first_frame_image: unknown field")


def test_h3_reference_counts_durations_and_resolutions() -> None:
    accepted(
        MiniMaxH3Payload,
        reference_images=[IMAGE] * 9,
        reference_videos=[VIDEO] * 3,
        reference_audios=["https://refs.example/a.mp3"] * 3,
        duration=15,
        resolution="2K",
    )
    assert problems(MiniMaxH3Payload, reference_images=[IMAGE] * 10) == [
        "reference_images: at most 9 items, got 10"
    ]
    assert problems(MiniMaxH3Payload, reference_videos=[VIDEO] * 4) == [
        "reference_videos: at most 3 items, got 4"
    ]
    assert problems(MiniMaxH3Payload, reference_audios=[VIDEO] * 4) == [
        "reference_audios: at most 3 items, got 4"
    ]
    (problem,) = problems(MiniMaxH3Payload, duration=3)
    assert problem.startswith("duration: must be 4–15 whole seconds")
    assert problems(MiniMaxH3Payload, prompt="p" * 7001) == [
        "prompt: at most 7000 characters, got 7001"
    ]
    assert media_kind_of("MiniMax-H3", "reference_videos") == "video"


def test_tts_formats_and_numbers_given_as_numbers_or_strings() -> None:
    accepted(MiniMaxSpeech28HDPayload, format="flac", speed="1", vol=1.5, pitch=-2, channel="2")
    assert problems(MiniMaxSpeech28HDPayload, format="wav") == [
        "format: must be one of 'mp3' or 'flac', got 'wav'"
    ]
    assert problems(MiniMaxSpeech28HDPayload, speed="fast") == [
        "speed: must be a number or a string of one, got 'fast'"
    ]
    assert MiniMaxSpeech28HDPayload.spec.sync
    assert MiniMaxSpeech28HDPayload.unset_seconds() is None  # as long as the text takes


# -- Seedream ----------------------------------------------------------------------------------


def test_seedream_sizes_are_presets_or_pixels_within_bounds() -> None:
    for size in ("2K", "3K", "1920x1920", "3750x1250", "2560x1440"):
        accepted(Seedream50LitePayload, size=size)
    (small,) = problems(Seedream50LitePayload, size="1024x1024")
    assert "must hold 3,686,400–10,404,496 pixels, not 1,048,576" in small
    (thin,) = problems(Seedream50LitePayload, size="8200x460")
    assert "width/height ratio from 1/16 to 16" in thin
    (word,) = problems(Seedream50LitePayload, size="4K")
    assert word.startswith('size: must be "2K", "3K" or "WIDTHxHEIGHT"')


def test_seedream_reference_images_output_and_counts() -> None:
    accepted(Seedream50LitePayload, image=[IMAGE] * 14, output_format="png", max_images=15)
    assert problems(Seedream50LitePayload, image=[IMAGE] * 15) == [
        "image: at most 14 items, got 15"
    ]
    assert problems(Seedream50LitePayload, max_images=16) == ["max_images: must be <= 15, got 16"]
    assert problems(Seedream50LitePayload, output_format="webp") == [
        "output_format: must be one of 'jpeg' or 'png', got 'webp'"
    ]
    assert Seedream50LitePayload.spec.output == "image"
    assert Seedream50LitePayload.parse(MINIMAL[Seedream50LitePayload]).asked_seconds() == 0
    assert limits_for("seedream-5.0-lite", "image") is not None


# -- properties --------------------------------------------------------------------------------

texts = st.text(max_size=300)

valid_veo: st.SearchStrategy[dict[str, Any]] = st.fixed_dictionaries(
    {"prompt": texts},
    optional={
        "durationSeconds": st.sampled_from(["4", "6", "8"]),
        "aspectRatio": st.sampled_from(["16:9", "9:16"]),
        "negativePrompt": texts,
        "personGeneration": texts,
        "seed": st.integers(0, 2**31),
    },
)


@settings(max_examples=150, deadline=None)
@given(valid_veo)
def test_valid_veo_payloads_round_trip_and_count_their_seconds(data: dict[str, Any]) -> None:
    payload = Veo3Payload.parse(data)
    assert payload.to_payload() == data
    expected = float(data["durationSeconds"]) if "durationSeconds" in data else None
    assert payload.asked_seconds() == expected


valid_h3: st.SearchStrategy[dict[str, Any]] = st.fixed_dictionaries(
    {"prompt": st.text(max_size=7000)},
    optional={
        "duration": st.integers(4, 15) | st.integers(4, 15).map(str),
        "resolution": st.sampled_from(["768P", "2K"]),
        "reference_images": st.lists(st.just(IMAGE), max_size=9),
        "reference_videos": st.lists(st.just(VIDEO), max_size=3),
    },
)


@settings(max_examples=150, deadline=None)
@given(valid_h3, st.sampled_from(["duration", "reference_images", "reference_videos", "prompt"]))
def test_h3_payloads_pushed_past_a_limit_are_refused(data: dict[str, Any], field: str) -> None:
    assert MiniMaxH3Payload.parse(data).to_payload() == data
    broken = dict(data)
    broken[field] = {
        "duration": "16",
        "reference_images": [IMAGE] * 10,
        "reference_videos": [VIDEO] * 4,
        "prompt": "p" * 7001,
    }[field]
    with pytest.raises(PayloadValidationError) as caught:
        MiniMaxH3Payload.parse(broken)
    assert [p for p in caught.value.problems if p.startswith(f"{field}:")]
