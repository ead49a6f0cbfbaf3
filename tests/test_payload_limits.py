"""Every documented payload limit is enforced locally, naming the field and the limit."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prefect_gmicloud import PayloadValidationError, RawPayload, build_payload
from prefect_gmicloud.models import (
    PAYLOAD_MODELS,
    GMIPayload,
    Wan26I2VPayload,
    Wan26R2VPayload,
    Wan26T2VPayload,
    Wan27I2VPayload,
    Wan27R2VPayload,
    Wan27T2VPayload,
    Wan27VideoEditPayload,
)
from prefect_gmicloud.models.catalog.kling import (
    KlingV3ImageToVideoPayload,
    KlingV3TextToVideoPayload,
    KlingV26Payload,
)
from prefect_gmicloud.models.catalog.minimax_tts import MiniMaxSpeech28HDPayload
from prefect_gmicloud.models.catalog.minimax_video import HailuoFastPayload, MiniMaxH3Payload
from prefect_gmicloud.models.catalog.seedance import (
    Seedance10ProPayload,
    Seedance15ProPayload,
    Seedance20FastPayload,
    Seedance20Payload,
)
from prefect_gmicloud.models.catalog.seedream import Seedream50LitePayload
from prefect_gmicloud.models.catalog.veo3 import Veo3FastPayload, Veo3Payload

URL = "https://refs.example/a.mp4"
IMAGE = "https://refs.example/a.png"

#: The seven Wan models, whose documented limits the generic tests below check.
WAN: dict[type[GMIPayload], dict[str, Any]] = {
    Wan26T2VPayload: {"prompt": "a fox"},
    Wan26I2VPayload: {"img_url": IMAGE},
    Wan26R2VPayload: {"reference_video_urls": [URL]},
    Wan27T2VPayload: {"prompt": "a fox"},
    Wan27I2VPayload: {"first_frame": IMAGE},
    Wan27R2VPayload: {"prompt": "Video1 waves", "reference_video": [URL]},
    Wan27VideoEditPayload: {"prompt": "make it dusk", "video": URL},
}
#: A minimal valid payload of every typed model (a new model adds its own here).
MINIMAL: dict[type[GMIPayload], dict[str, Any]] = {
    **WAN,
    KlingV26Payload: {"prompt": "a paper boat"},
    KlingV3TextToVideoPayload: {"prompt": "a paper boat"},
    KlingV3ImageToVideoPayload: {"image": IMAGE},
    Veo3Payload: {"prompt": "a lighthouse"},
    Veo3FastPayload: {"prompt": "a lighthouse"},
    Seedance10ProPayload: {"prompt": "a kite"},
    Seedance15ProPayload: {"prompt": "a kite"},
    Seedance20Payload: {"prompt": "a kite"},
    Seedance20FastPayload: {"prompt": "a kite"},
    HailuoFastPayload: {"prompt": "a market"},
    MiniMaxH3Payload: {"prompt": "a market"},
    MiniMaxSpeech28HDPayload: {"text": "Hello."},
    Seedream50LitePayload: {"prompt": "a cafe counter"},
}


def problems(cls: type[GMIPayload], **changes: Any) -> list[str]:
    with pytest.raises(PayloadValidationError) as caught:
        cls.parse({**MINIMAL[cls], **changes})
    assert caught.value.model == cls.model_id
    return caught.value.problems


def test_every_registered_model_has_a_minimal_valid_payload() -> None:
    assert set(PAYLOAD_MODELS.values()) == set(MINIMAL)
    for cls, data in MINIMAL.items():
        assert cls.parse(data).to_payload() == data


@pytest.mark.parametrize("cls", list(WAN))
@pytest.mark.parametrize(
    ("field", "too_much", "limit_text"),
    [
        ("prompt", "p" * 1501, "at most 1500 characters, got 1501"),
        ("negative_prompt", "n" * 501, "at most 500 characters, got 501"),
        ("seed", 2_147_483_648, "must be <= 2147483647"),
        ("seed", -1, "must be >= 0"),
    ],
)
def test_text_and_seed_limits(
    cls: type[GMIPayload], field: str, too_much: Any, limit_text: str
) -> None:
    if field not in cls.model_fields:
        pytest.skip(f"{cls.model_id} has no {field}")
    assert any(
        p.startswith(f"{field}: ") and limit_text in p for p in problems(cls, **{field: too_much})
    )


@pytest.mark.parametrize("cls", list(WAN))
def test_limits_hold_exactly_at_the_boundary(cls: type[GMIPayload]) -> None:
    edge = {"prompt": "p" * 1500, "negative_prompt": "n" * 500, "seed": 2_147_483_647}
    data = {**MINIMAL[cls], **{k: v for k, v in edge.items() if k in cls.model_fields}}
    if cls is Wan27R2VPayload:
        data["prompt"] = "Video1 " + "p" * 1493
    assert cls.parse(data).to_payload() == data


def test_r2v_26_needs_one_to_three_reference_videos() -> None:
    assert problems(Wan26R2VPayload, reference_video_urls=[]) == [
        "reference_video_urls: at least 1 items, got 0"
    ]
    assert problems(Wan26R2VPayload, reference_video_urls=[URL] * 4) == [
        "reference_video_urls: at most 3 items, got 4"
    ]
    with pytest.raises(PayloadValidationError) as caught:
        Wan26R2VPayload.parse({"prompt": "no references"})
    assert caught.value.problems == ["reference_video_urls: required"]


def test_r2v_26_durations_are_5_or_10_only() -> None:
    assert Wan26R2VPayload.parse({**MINIMAL[Wan26R2VPayload], "duration": 10})
    (problem,) = problems(Wan26R2VPayload, duration=15)
    assert problem == "duration: must be one of 5 or 10, got 15"


@pytest.mark.parametrize("cls", [Wan26T2VPayload, Wan26I2VPayload])
def test_wan26_durations_are_5_10_15(cls: type[GMIPayload]) -> None:
    assert cls.parse({**MINIMAL[cls], "duration": 15})
    assert problems(cls, duration=7) == ["duration: must be one of 5, 10 or 15, got 7"]


@pytest.mark.parametrize("cls", [Wan26T2VPayload, Wan26R2VPayload])
def test_wan26_sizes_are_the_ten_documented(cls: type[GMIPayload]) -> None:
    for size in ("1280*720", "1248*1632", "1920*1080"):
        assert cls.parse({**MINIMAL[cls], "size": size})
    (problem,) = problems(cls, size="1920x1080")
    assert problem.startswith("size: must be one of '1280*720'") and "got '1920x1080'" in problem


@pytest.mark.parametrize(
    "cls", [Wan27T2VPayload, Wan27I2VPayload, Wan27R2VPayload, Wan27VideoEditPayload]
)
def test_wan27_duration_is_2_to_15(cls: type[GMIPayload]) -> None:
    assert cls.parse({**MINIMAL[cls], "duration": 2})
    assert problems(cls, duration=1) == ["duration: must be >= 2, got 1"]
    assert problems(cls, duration=16) == ["duration: must be <= 15, got 16"]


@pytest.mark.parametrize(
    ("cls", "field", "bad"),
    [
        (Wan26I2VPayload, "resolution", "4K"),
        (Wan27T2VPayload, "resolution", "480P"),
        (Wan27T2VPayload, "ratio", "21:9"),
        (Wan27R2VPayload, "ratio", "2:1"),
        (Wan26T2VPayload, "shot_type", "triple"),
    ],
)
def test_enums_name_the_allowed_values(cls: type[GMIPayload], field: str, bad: str) -> None:
    (problem,) = problems(cls, **{field: bad})
    assert problem.startswith(f"{field}: must be one of ") and f"got {bad!r}" in problem


def test_r2v_27_needs_at_least_one_reference() -> None:
    assert problems(Wan27R2VPayload, reference_video=None) == [
        "reference_image + reference_video: at least 1 reference, got 0"
    ]


def test_r2v_27_allows_five_references_in_all_and_no_more() -> None:
    ok = {"prompt": "Image1", "reference_image": [URL] * 2, "reference_video": [URL] * 3}
    assert Wan27R2VPayload.parse(ok)
    assert problems(Wan27R2VPayload, reference_image=[URL] * 3, reference_video=[URL] * 3) == [
        "reference_image + reference_video: at most 5 references in all, got 6"
    ]
    assert problems(Wan27R2VPayload, reference_video=[URL] * 6) == [
        "reference_video: at most 5 items, got 6"
    ]


def test_prompt_may_not_name_a_reference_that_is_not_there() -> None:
    assert problems(Wan27R2VPayload, prompt="Video2 meets Video1") == [
        "prompt mentions Video2 but reference_video has 1 item(s)"
    ]
    assert problems(Wan27R2VPayload, prompt="Image1 waves") == [
        "prompt mentions Image1 but reference_image has 0 item(s)"
    ]
    assert problems(Wan26R2VPayload, prompt="character2 sits") == [
        "prompt mentions character2 but reference_video_urls has 1 item(s)"
    ]


def test_r2v_27_long_clip_with_reference_video_warns_but_is_sent() -> None:
    with pytest.warns(UserWarning, match="10s cap"):
        payload = Wan27R2VPayload.parse({**MINIMAL[Wan27R2VPayload], "duration": 12})
    assert payload.to_payload()["duration"] == 12
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Wan27R2VPayload.parse({"prompt": "Image1", "reference_image": [URL], "duration": 15})


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("ftp://refs.example/a.mp4", "must be an http(s) URL"),
        ("refs.example/a.mp4", "must be an http(s) URL"),
        ("https://refs.example/a b.mp4", "must not contain white space"),
        ("https://" + "a" * 2100, "at most 2048 characters"),
        ("", "must be an http(s) URL"),
    ],
)
def test_urls_must_be_http_and_well_formed(bad: str, message: str) -> None:
    (problem,) = problems(Wan26I2VPayload, img_url=bad)
    assert problem.startswith("img_url: ") and message in problem


def test_unknown_fields_are_refused_with_the_way_out() -> None:
    (problem,) = problems(Wan27T2VPayload, negativ_prompt="x")
    assert problem.startswith("negativ_prompt: unknown field") and "RawPayload" in problem


def test_required_fields_are_named() -> None:
    with pytest.raises(PayloadValidationError) as caught:
        Wan27VideoEditPayload.parse({})
    assert caught.value.problems == ["prompt: required", "video: required"]


def test_unset_fields_are_left_to_the_server() -> None:
    assert Wan27T2VPayload(prompt="x").to_payload() == {"prompt": "x"}


def test_build_payload_validates_typed_models_and_refuses_to_guess_for_others() -> None:
    assert isinstance(build_payload("wan2.7-t2v", {"prompt": "x"}), Wan27T2VPayload)
    with pytest.raises(PayloadValidationError):
        build_payload("wan2.7-t2v", {"prompt": "x" * 1501})
    with pytest.raises(PayloadValidationError) as caught:
        build_payload("pixverse-v5.6-t2v", {"prompt": "anything", "whatever": 1})
    (problem,) = caught.value.problems
    assert "no typed spec for 'pixverse-v5.6-t2v'" in problem and "RawPayload" in problem
    raw = RawPayload(model_id="pixverse-v5.6-t2v", data={"prompt": "anything", "whatever": 1})
    assert raw.to_payload() == {"prompt": "anything", "whatever": 1}


# -- properties --------------------------------------------------------------------------------

urls = st.from_regex(r"https://[a-z]{1,12}\.example/[a-z0-9]{1,20}\.(mp4|png)", fullmatch=True)


def _names_no_reference(data: dict[str, Any]) -> bool:
    return "Video" not in data["prompt"] and "Image" not in data["prompt"]


valid_r2v: st.SearchStrategy[dict[str, Any]] = st.fixed_dictionaries(
    {
        "prompt": st.text(max_size=1500),
        "reference_video": st.lists(urls, min_size=1, max_size=5),
    },
    optional={
        "negative_prompt": st.text(max_size=500),
        "resolution": st.sampled_from(["720P", "1080P"]),
        "ratio": st.sampled_from(["16:9", "9:16", "1:1", "4:3", "3:4"]),
        "duration": st.integers(2, 10),
        "seed": st.integers(0, 2_147_483_647),
        "watermark": st.booleans(),
        "prompt_extend": st.booleans(),
    },
).filter(_names_no_reference)


@settings(max_examples=200, deadline=None)
@given(valid_r2v)
def test_valid_r2v_payloads_are_accepted_and_round_trip(data: dict[str, Any]) -> None:
    assert Wan27R2VPayload.parse(data).to_payload() == data


@settings(max_examples=200, deadline=None)
@given(
    valid_r2v, st.sampled_from(["prompt", "negative_prompt", "duration", "seed", "reference_video"])
)
def test_r2v_payloads_pushed_past_a_limit_are_rejected(data: dict[str, Any], field: str) -> None:
    broken = dict(data)
    broken[field] = {
        "prompt": "p" * 1501,
        "negative_prompt": "n" * 501,
        "duration": 16,
        "seed": 2_147_483_648,
        "reference_video": [],
    }[field]
    with pytest.raises(PayloadValidationError) as caught:
        Wan27R2VPayload.parse(broken)
    assert any(field in problem for problem in caught.value.problems)
