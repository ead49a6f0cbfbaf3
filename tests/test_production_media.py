"""The production example's reference files: small, within Wan's limits, made by their script."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from prefect_gmicloud.media import has_audio
from prefect_gmicloud.media.frames import frame_difference
from prefect_gmicloud.media.probe import probe_media
from prefect_gmicloud.references import check_reference, limits_for

PRODUCTION = Path(__file__).resolve().parent.parent / "examples" / "production"
MEDIA = PRODUCTION / "media"
USES = {
    "barista.mp4": [
        ("wan2.7-r2v", "reference_video"),
        ("wan2.6-r2v", "reference_video_urls"),
        ("wan2.7-i2v", "first_clip"),
    ],
    "door.png": [("wan2.7-i2v", "first_frame"), ("wan2.6-i2v", "img_url")],
    "guest.png": [("wan2.7-r2v", "reference_image")],
}


@pytest.mark.parametrize(
    ("name", "model_id", "field"),
    [(name, model_id, field) for name, uses in USES.items() for model_id, field in uses],
)
def test_each_file_is_within_the_limits_of_its_fields(name: str, model_id: str, field: str) -> None:
    limits = limits_for(model_id, field)
    assert limits is not None
    assert check_reference(probe_media(MEDIA / name), limits, f"{model_id} {field} {name}") == []


def test_the_character_clip_speaks_and_the_files_are_small() -> None:
    assert has_audio(MEDIA / "barista.mp4")
    assert sorted(path.name for path in MEDIA.iterdir()) == sorted(USES)
    assert sum(path.stat().st_size for path in MEDIA.iterdir()) < 400_000


def test_the_script_makes_the_committed_files(tmp_path: Path) -> None:
    # Compared by content, not bytes: another ffmpeg build may encode the same frames differently.
    script = PRODUCTION / "make_media.py"
    subprocess.run([sys.executable, str(script), "--out", str(tmp_path)], check=True)
    for name in USES:
        made, committed = probe_media(tmp_path / name), probe_media(MEDIA / name)
        assert (made.kind, made.container, made.duration, made.width, made.height) == (
            committed.kind,
            committed.container,
            committed.duration,
            committed.width,
            committed.height,
        )
        assert frame_difference(tmp_path / name, MEDIA / name) < 1
