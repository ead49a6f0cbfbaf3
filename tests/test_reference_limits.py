"""Reference files against the models' limits: every broken limit, one sentence each."""

from __future__ import annotations

from pathlib import Path

import pytest

from prefect_gmicloud.media.probe import MediaFacts, probe_media
from prefect_gmicloud.references import (
    REFERENCE_LIMITS,
    ReferenceLimits,
    check_reference,
    limits_for,
    media_kind_of,
)
from tests.media_files import make_image, make_video

MB = 1_000_000
GOOD_VIDEO = MediaFacts("video", "mp4", 3 * MB, 5.0, 1280, 720)
GOOD_IMAGE = MediaFacts("image", "png", 400_000, None, 480, 270)
WAN27_VIDEO = limits_for("wan2.7-r2v", "reference_video")
WAN26_VIDEO = limits_for("wan2.6-r2v", "reference_video_urls")
WAN_IMAGE = limits_for("wan2.7-i2v", "first_frame")


def check(facts: MediaFacts, limits: ReferenceLimits | None) -> list[str]:
    assert limits is not None
    return check_reference(facts, limits, "shot intro: first_frame ./door.png")


def test_files_within_the_limits_pass() -> None:
    assert check(GOOD_VIDEO, WAN27_VIDEO) == []
    assert check(GOOD_IMAGE, WAN_IMAGE) == []


def test_a_small_image_names_where_the_size_and_the_limit() -> None:
    small = MediaFacts("image", "png", 9_000, None, 180, 120)
    assert check(small, WAN_IMAGE) == [
        "shot intro: first_frame ./door.png: 180x120 px, the model needs 240–8000 px per side"
    ]


def test_one_side_too_large_is_reported() -> None:
    wide = MediaFacts("image", "jpeg", 900_000, None, 8001, 300)
    assert check(wide, WAN_IMAGE) == [
        "shot intro: first_frame ./door.png: 8001x300 px, the model needs 240–8000 px per side"
    ]


def test_every_broken_limit_of_one_file_is_reported() -> None:
    bad = MediaFacts("video", "matroska", 150 * MB, 45.0, 1920, 1080)
    assert check(bad, WAN27_VIDEO) == [
        "shot intro: first_frame ./door.png: a video in matroska format, the model needs a "
        "video (mov or mp4)",
        "shot intro: first_frame ./door.png: 150 MB, the model takes at most 100 MB",
        "shot intro: first_frame ./door.png: 45.00 s long, the model needs 1–30 s",
    ]


def test_an_image_over_twenty_megabytes_is_refused() -> None:
    heavy = MediaFacts("image", "bmp", 20 * MB + 1, None, 3000, 3000)
    assert check(heavy, WAN_IMAGE) == [
        "shot intro: first_frame ./door.png: 20.0 MB, the model takes at most 20 MB"
    ]


@pytest.mark.parametrize(("seconds", "broken"), [(0.99, True), (1.0, False), (30.0, False)])
def test_wan27_reference_videos_last_one_to_thirty_seconds(seconds: float, broken: bool) -> None:
    facts = MediaFacts("video", "mov", MB, seconds, 640, 480)
    assert bool(check(facts, WAN27_VIDEO)) is broken


def test_wan26_reference_videos_need_two_seconds() -> None:
    facts = MediaFacts("video", "mp4", MB, 1.5, 640, 480)
    assert check(facts, WAN26_VIDEO) == [
        "shot intro: first_frame ./door.png: 1.50 s long, the model needs 2–30 s"
    ]
    assert check(facts, WAN27_VIDEO) == []


def test_a_video_where_an_image_is_needed_is_one_sentence() -> None:
    assert check(GOOD_VIDEO, WAN_IMAGE) == [
        "shot intro: first_frame ./door.png: a video (mp4), the model needs an image "
        "(BMP, JPEG, PNG or WEBP)"
    ]


def test_an_image_where_a_video_is_needed_is_refused() -> None:
    assert check(GOOD_IMAGE, WAN27_VIDEO) == [
        "shot intro: first_frame ./door.png: an image (png), the model needs a video (mov or mp4)"
    ]


def test_a_gif_is_not_an_accepted_image() -> None:
    gif = MediaFacts("image", "gif", 50_000, None, 480, 270)
    assert check(gif, WAN_IMAGE) == [
        "shot intro: first_frame ./door.png: an image in gif format, the model needs an image "
        "(BMP, JPEG, PNG or WEBP)"
    ]


def test_files_that_are_not_media_say_what_they_are() -> None:
    assert check(MediaFacts(None, None, 120), WAN_IMAGE) == [
        "shot intro: first_frame ./door.png: not a video, image or audio file, the model needs "
        "an image (BMP, JPEG, PNG or WEBP)"
    ]
    assert check(MediaFacts(None, "mp4", 2048), WAN27_VIDEO) == [
        "shot intro: first_frame ./door.png: an unreadable mp4 file (damaged?), "
        "the model needs a video (mov or mp4)"
    ]
    assert check(MediaFacts(None, None, 0), WAN27_VIDEO) == [
        "shot intro: first_frame ./door.png: an empty file, the model needs a video (mov or mp4)"
    ]


def test_a_video_of_unknown_length_is_not_waved_through() -> None:
    facts = MediaFacts("video", "mp4", MB, None, 640, 480)
    assert check(facts, WAN27_VIDEO) == [
        "shot intro: first_frame ./door.png: its length cannot be read, the model needs 1–30 s"
    ]


def test_audio_fields_take_wav_or_mp3_of_any_length() -> None:
    limits = limits_for("wan2.7-i2v", "driving_audio")
    assert check(MediaFacts("audio", "mp3", 200_000, 14.0), limits) == []
    assert check(MediaFacts("audio", "ogg", 200_000, 4.0), limits) == [
        "shot intro: first_frame ./door.png: an audio file in ogg format, the model needs an "
        "audio file (mp3 or wav)"
    ]


def test_each_field_takes_the_kind_it_names() -> None:
    assert media_kind_of("wan2.7-r2v", "reference_video") == "video"
    assert media_kind_of("wan2.7-r2v", "reference_image") == "image"
    assert media_kind_of("wan2.7-i2v", "first_clip") == "video"
    assert media_kind_of("wan2.7-i2v", "last_frame") == "image"
    assert media_kind_of("wan2.7-videoedit", "video") == "video"
    assert media_kind_of("wan2.6-i2v", "img_url") == "image"
    assert media_kind_of("wan2.6-t2v", "audio_url") == "audio"
    assert limits_for("wan2.6-i2v", "img_url") == limits_for("wan2.7-i2v", "first_frame")


def test_unknown_models_and_fields_have_no_rules() -> None:
    assert limits_for("kling-v3-pro", "image") is None
    assert limits_for("wan2.7-r2v", "prompt") is None
    assert media_kind_of("Veo3", "image") is None


def test_every_known_field_exists_on_its_payload_class() -> None:
    from prefect_gmicloud.models.registry import PAYLOAD_MODELS

    for model_id, field in REFERENCE_LIMITS:
        assert field in PAYLOAD_MODELS[model_id].model_fields, (model_id, field)


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("bad-references")
    notes = folder / "notes.txt"
    notes.write_text("Barista: warm smile, green apron.\n")
    return {
        "short": make_video(folder / "short.mp4", 0.5),
        "tiny": make_image(folder / "tiny.png", "100x100"),
        "notes": notes,
        "clip": make_video(folder / "clip.mp4", 2),
    }


def test_a_board_of_bad_files_is_reported_in_one_list(bad_files: dict[str, Path]) -> None:
    uses = [
        ("shot intro", "wan2.7-r2v", "reference_video", bad_files["short"]),
        ("shot door", "wan2.7-i2v", "first_frame", bad_files["tiny"]),
        ("shot cafe", "wan2.7-r2v", "reference_image", bad_files["notes"]),
        ("shot end", "wan2.7-i2v", "last_frame", bad_files["clip"]),
    ]
    problems: list[str] = []
    for shot, model_id, field, path in uses:
        limits = limits_for(model_id, field)
        assert limits is not None
        problems += check_reference(probe_media(path), limits, f"{shot}: {field} {path.name}")
    assert problems == [
        "shot intro: reference_video short.mp4: 0.50 s long, the model needs 1–30 s",
        "shot door: first_frame tiny.png: 100x100 px, the model needs 240–8000 px per side",
        "shot cafe: reference_image notes.txt: not a video, image or audio file, the model needs "
        "an image (BMP, JPEG, PNG or WEBP)",
        "shot end: last_frame clip.mp4: a video (mp4), the model needs an image "
        "(BMP, JPEG, PNG or WEBP)",
    ]
