"""last_frame / first_frame write a video's end and start as PNG; frame_difference compares."""

from __future__ import annotations

from pathlib import Path

import pytest

from prefect_gmicloud.errors import MediaError
from prefect_gmicloud.media import concatenate
from prefect_gmicloud.media.frames import first_frame, frame_difference, last_frame
from prefect_gmicloud.media.probe import probe_media
from prefect_gmicloud.simulator.media import ClipSpec, MediaRenderer, Soundtrack
from tests.media_files import ffmpeg, make_image

#: Below this, two pictures are the same frame (colour conversion may differ by a unit).
SAME = 1.0


def last_frame_by_ffmpeg(video: Path, out: Path) -> Path:
    """The oracle: ffmpeg decodes every frame and keeps overwriting one PNG with it."""
    ffmpeg("-i", str(video), "-update", "1", "-f", "image2", str(out))
    return out


def red_then_blue(out: Path, keyframe_every: int) -> Path:
    """1.5 s of red then 0.5 s of blue, H.264 with B-frames, a keyframe every N frames."""
    ffmpeg(
        "-f", "lavfi", "-i", "color=c=red:s=320x240:d=1.5:r=30",
        "-f", "lavfi", "-i", "color=c=blue:s=320x240:d=0.5:r=30",
        "-filter_complex", "[0][1]concat=n=2:v=1:a=0",
        "-c:v", "libx264", "-bf", "2", "-g", str(keyframe_every), "-pix_fmt", "yuv420p", str(out),
    )  # fmt: skip
    return out


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("frames")
    renderer = MediaRenderer(folder / "sim")
    shot_a = renderer.video(ClipSpec(320, 240, 2, "", Soundtrack(44_100, 1)))
    shot_b = renderer.video(ClipSpec(320, 240, 1, "b"))
    return {
        "simulator": shot_a,
        "final cut": concatenate([shot_a, shot_b], folder / "cut.mp4"),
        "one keyframe": red_then_blue(folder / "one-keyframe.mp4", 300),
        "short GOPs": red_then_blue(folder / "short-gops.mp4", 7),
    }


@pytest.mark.parametrize("name", ["simulator", "final cut", "one keyframe", "short GOPs"])
def test_last_frame_is_the_last_frame_ffmpeg_decodes(
    clips: dict[str, Path], name: str, tmp_path: Path
) -> None:
    ours = last_frame(clips[name], tmp_path / "last.png")
    expected = last_frame_by_ffmpeg(clips[name], tmp_path / "expected.png")
    start = first_frame(clips[name], tmp_path / "first.png")
    assert probe_media(ours).kind == "image"
    assert frame_difference(ours, expected) < SAME
    assert frame_difference(ours, start) > 5 * SAME  # the clips move: the end is not the start


def test_the_last_frame_of_a_red_then_blue_clip_is_blue(
    clips: dict[str, Path], tmp_path: Path
) -> None:
    blue = tmp_path / "blue.png"
    ffmpeg("-f", "lavfi", "-i", "color=c=blue:s=320x240", "-frames:v", "1", str(blue))
    red = tmp_path / "red.png"
    ffmpeg("-f", "lavfi", "-i", "color=c=red:s=320x240", "-frames:v", "1", str(red))
    video = clips["one keyframe"]
    assert frame_difference(last_frame(video, tmp_path / "last.png"), blue) < 3
    assert frame_difference(first_frame(video, tmp_path / "first.png"), red) < 3
    assert frame_difference(blue, red) == pytest.approx(170, abs=3)  # (255 + 255) / 3


def test_frame_difference_scales_to_a_common_size(tmp_path: Path) -> None:
    big = make_image(tmp_path / "big.png", "640x480")
    small = tmp_path / "small.png"
    ffmpeg("-i", str(big), "-vf", "scale=320:240", str(small))
    other = tmp_path / "other.png"
    ffmpeg("-f", "lavfi", "-i", "testsrc=s=320x240:d=1", "-frames:v", "1", str(other))
    assert frame_difference(big, big) == 0
    assert frame_difference(big, small) < 10
    assert frame_difference(big, other) > 3 * frame_difference(big, small)


def test_a_file_without_video_raises_a_media_error(tmp_path: Path) -> None:
    notes = tmp_path / "notes.mp4"
    notes.write_text("not a video")
    with pytest.raises(MediaError, match=r"notes\.mp4: not a readable video"):
        last_frame(notes, tmp_path / "last.png")
    tone = tmp_path / "tone.wav"
    ffmpeg("-f", "lavfi", "-i", "sine=duration=1", str(tone))
    with pytest.raises(MediaError, match=r"tone\.wav: no video stream"):
        first_frame(tone, tmp_path / "first.png")
