"""Request records read every outcome shape and keep unknown statuses as still running."""

from __future__ import annotations

from typing import Any

import pytest

from prefect_gmicloud.client import GMIRequest, RequestStatus


def record(**fields: Any) -> GMIRequest:
    return GMIRequest.model_validate(
        {"request_id": "r-1", "model": "m", "status": "queued", **fields}
    )


def test_flat_video_outcome_gives_video_and_thumbnail() -> None:
    request = record(
        status="success",
        outcome={
            "video_url": "https://storage.example/out/v.mp4",
            "thumbnail_image_url": "https://storage.example/out/t.jpg",
        },
    )
    assert [(a.role, a.kind) for a in request.assets] == [
        ("video", "video"),
        ("thumbnail", "image"),
    ]
    assert request.video is not None and request.video.filename == "v.mp4"
    assert request.thumbnail is not None and request.thumbnail.url.endswith("t.jpg")


def test_media_urls_outcome_kinds_come_from_the_extension() -> None:
    request = record(
        status="success",
        outcome={
            "media_urls": [
                {"id": "0", "url": "https://s.example/a.mp4?sig=1"},
                {"id": "1", "url": "https://s.example/b.JPG"},
                "https://s.example/c.bin",
                {"no_url": True},
            ]
        },
    )
    assert [(a.id, a.kind, a.role) for a in request.assets] == [
        ("0", "video", "media"),
        ("1", "image", "media"),
        ("2", "other", "media"),
    ]
    assert request.video is not None and request.video.id == "0"
    assert request.thumbnail is not None and request.thumbnail.id == "1"


def test_audio_outcome() -> None:
    request = record(
        status="success", outcome={"audio_url": "https://s.example/x.mp3", "format": "mp3"}
    )
    (asset,) = request.assets
    assert (asset.kind, asset.role) == ("audio", "audio")
    assert request.video is None and request.thumbnail is None


def test_no_outcome_means_no_assets() -> None:
    assert record(outcome=None).assets == []
    assert record(outcome={}).assets == []


@pytest.mark.parametrize(
    ("raw", "terminal"),
    [
        ("queued", False),
        ("processing", False),
        ("dispatched", False),
        ("created", False),
        ("success", True),
        ("FAILED", True),
        ("cancelled", True),
    ],
)
def test_known_statuses(raw: str, terminal: bool) -> None:
    request = record(status=raw)
    assert isinstance(request.status, RequestStatus)
    assert request.is_terminal is terminal


def test_unknown_status_is_kept_and_is_not_terminal() -> None:
    request = record(status="warming_up")
    assert request.status == "warming_up"
    assert not request.is_known_status
    assert not request.is_terminal


def test_unknown_fields_are_kept() -> None:
    request = record(qworker_id="w-7")
    assert request.model_extra == {"qworker_id": "w-7"}


def test_timestamps_are_unix_seconds() -> None:
    request = record(created_at=1750442925)
    assert request.created_at is not None and request.created_at.year == 2025


@pytest.mark.parametrize(
    "fields",
    [
        {"error_message": "content policy"},
        {"error": "content policy"},
        {"error": {"message": "content policy"}},
        {"outcome": {"error": "content policy"}},
        {"outcome": {"message": "content policy"}},
        {"outcome": {"fail_reason": "content policy"}},
        {"reason": "content policy"},
        {"error": {"msg": "content policy"}},
        {"error": [{"message": "content policy"}]},
    ],
)
def test_failure_reason_is_found_wherever_it_is(fields: dict[str, Any]) -> None:
    assert record(status="failed", **fields).failure_reason == "content policy"


def test_failure_reason_keeps_the_code_and_is_cut_to_a_bounded_length() -> None:
    coded = record(status="failed", error={"code": "E429", "msg": "rate limit exceeded(RPM)"})
    assert coded.failure_reason == "E429: rate limit exceeded(RPM)"
    runaway = record(status="failed", error="x" * 100_000).failure_reason
    assert runaway is not None and len(runaway) < 600 and runaway.endswith("(100000 characters)")


def test_failure_reason_absent() -> None:
    assert record(status="failed").failure_reason is None
