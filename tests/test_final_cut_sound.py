"""Sound in storyboards: which simulated clips carry audio, and a final cut that keeps it."""

from __future__ import annotations

import math
import subprocess
from array import array
from dataclasses import replace
from pathlib import Path
from typing import Any

import av
import imageio_ffmpeg
import pytest

from prefect_gmicloud.media import concatenate
from prefect_gmicloud.simulator.catalogue import WAN26_SOUND, WAN27_SOUND, clip_spec, soundtrack
from prefect_gmicloud.simulator.media import ClipSpec, MediaRenderer, Soundtrack
from prefect_gmicloud.simulator.references import FetchedMedia, SourceVideo
from tests.conftest import R2V_PAYLOAD

FRAME = 1 / 30
#: AAC encoders pad the end of the last packet (1024 samples at 44.1 kHz is 23 ms).
AAC_SLACK = 1024 / 44_100


@pytest.fixture
def renderer(media_cache: Path) -> MediaRenderer:
    return MediaRenderer(media_cache)


def _streams(path: Path) -> dict[str, tuple[float, int, int]]:
    """Each stream type's (duration in seconds, sample rate, channels) as PyAV reads them."""
    found: dict[str, tuple[float, int, int]] = {}
    with av.open(str(path)) as container:
        for video in container.streams.video:
            found["video"] = (_seconds(video), 0, 0)
        for audio in container.streams.audio:
            found["audio"] = (_seconds(audio), audio.rate, audio.channels)
    return found


def _seconds(stream: av.stream.Stream) -> float:
    assert stream.duration is not None and stream.time_base is not None
    return float(stream.duration * stream.time_base)


def _rms(path: Path, start: float, end: float) -> float:
    """The audio's RMS level between ``start`` and ``end`` seconds (every channel)."""
    total, count = 0.0, 0
    with av.open(str(path)) as container:
        for frame in container.decode(audio=0):
            assert frame.time is not None and frame.format.name == "fltp"  # AAC decodes to this
            first = max(0, math.ceil((start - frame.time) * frame.sample_rate))
            stop = min(frame.samples, math.ceil((end - frame.time) * frame.sample_rate))
            for plane in frame.planes:  # planar: one plane per channel
                chosen = array("f", bytes(plane))[first:stop]
                total += sum(value * value for value in chosen)
                count += len(chosen)
    assert count > 0
    return math.sqrt(total / count)


def _clip_at_25_fps(folder: Path, seconds: int) -> Path:
    """A silent clip at another frame rate and size than the simulator's."""
    out = folder / "at-25-fps.mp4"
    subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y",
         "-f", "lavfi", "-i", f"testsrc2=s=96x96:r=25:d={seconds}",
         "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(out)],
        check=True,
    )  # fmt: skip
    return out


def test_cut_keeps_every_shots_sound_and_fills_silent_shots(
    renderer: MediaRenderer, tmp_path: Path
) -> None:
    loud_48k = renderer.video(ClipSpec(160, 90, 2, "a kettle whistles", WAN26_SOUND))
    silent = renderer.video(ClipSpec(128, 128, 1, "a silent corridor"))
    loud_44k = renderer.video(ClipSpec(160, 90, 2, "rain on the glass", WAN27_SOUND))
    at_25_fps = _clip_at_25_fps(tmp_path, 1)
    assert _streams(loud_48k)["audio"][1:] == (48_000, 2)
    assert _streams(loud_44k)["audio"][1:] == (44_100, 1)
    assert "audio" not in _streams(silent)

    cut = concatenate([loud_48k, silent, loud_44k, at_25_fps], tmp_path / "final.mp4")

    streams = _streams(cut)
    total = 2 + 1 + 2 + 1
    assert streams["video"][0] == pytest.approx(total, abs=FRAME)
    audio_seconds, rate, channels = streams["audio"]
    assert (rate, channels) == (48_000, 2)
    assert audio_seconds == pytest.approx(streams["video"][0], abs=FRAME + AAC_SLACK)
    # Each span, a little inside its edges: the tones are heard, the silent shots are not.
    margin = 0.1
    assert _rms(cut, 0 + margin, 2 - margin) > 0.02
    assert _rms(cut, 2 + margin, 3 - margin) < 1e-4
    assert _rms(cut, 3 + margin, 5 - margin) > 0.02
    assert _rms(cut, 5 + margin, 6 - margin) < 1e-4
    with av.open(str(cut)) as container:
        video = container.streams.video[0]
        assert (video.width, video.height) == (160, 90)
        assert video.average_rate == 30


def test_cut_of_silent_shots_has_no_audio(renderer: MediaRenderer, tmp_path: Path) -> None:
    shots = [renderer.video(ClipSpec(160, 90, seconds, "quiet")) for seconds in (1, 2)]

    cut = concatenate(shots, tmp_path / "final.mp4")

    streams = _streams(cut)
    assert "audio" not in streams
    assert streams["video"][0] == pytest.approx(3, abs=FRAME)


@pytest.mark.parametrize(
    ("model", "payload", "sound"),
    [
        ("wan2.6-t2v", {"prompt": "p"}, WAN26_SOUND),
        ("wan2.6-t2v", {"prompt": "p", "audio": False}, None),
        ("wan2.6-i2v", {"img_url": "u"}, WAN26_SOUND),
        ("wan2.6-i2v", {"img_url": "u", "audio": False}, None),
        ("wan2.6-i2v", {"img_url": "u", "audio": False, "audio_url": "a.mp3"}, WAN26_SOUND),
        ("wan2.6-r2v", {"reference_video_urls": ["v.mp4"]}, WAN26_SOUND),
        ("wan2.7-t2v", {"prompt": "p"}, None),
        ("wan2.7-t2v", {"prompt": "p", "audio_url": "a.mp3"}, WAN27_SOUND),
        ("wan2.7-i2v", {"first_frame": "f.png"}, None),
        ("wan2.7-i2v", {"first_frame": "f.png", "driving_audio": "a.mp3"}, WAN27_SOUND),
        ("wan2.7-r2v", R2V_PAYLOAD, WAN27_SOUND),
        ("wan2.7-r2v", {"prompt": "Image1", "reference_image": ["i.png"]}, None),
        ("wan2.7-videoedit", {"prompt": "p", "video": "v.mp4"}, WAN27_SOUND),
        # "origin" keeps the source's track; a source never read is assumed to have one.
        (
            "wan2.7-videoedit",
            {"prompt": "p", "video": "v.mp4", "audio_setting": "origin"},
            WAN27_SOUND,
        ),
        ("Veo3", {"prompt": "p"}, None),
    ],
)
def test_which_outputs_carry_sound(
    model: str, payload: dict[str, Any], sound: Soundtrack | None
) -> None:
    assert soundtrack(model, payload) == sound
    assert clip_spec(model, payload).sound == sound


@pytest.mark.parametrize(
    ("setting", "source_has_audio", "sound"),
    [("origin", False, None), ("origin", True, WAN27_SOUND), ("auto", False, WAN27_SOUND)],
)
def test_an_edit_keeps_its_source_sound_only_with_origin(
    setting: str, source_has_audio: bool, sound: Soundtrack | None
) -> None:
    payload = {"prompt": "p", "video": "v.mp4", "audio_setting": setting}
    source = SourceVideo(seconds=3.4, has_audio=source_has_audio)
    assert soundtrack("wan2.7-videoedit", payload, source) == sound
    spec = clip_spec("wan2.7-videoedit", payload, FetchedMedia(source_video=source))
    assert (spec.seconds, spec.sound) == (3, sound)
    assert clip_spec("wan2.7-videoedit", {**payload, "duration": 6}).seconds == 6


def test_sound_changes_the_rendered_file_but_not_the_thumbnail(
    renderer: MediaRenderer,
) -> None:
    spec = replace(clip_spec("wan2.7-r2v", R2V_PAYLOAD), width=160, height=90)
    silent = replace(spec, sound=None)

    assert _streams(renderer.video(spec))["audio"][1:] == (44_100, 1)
    assert "audio" not in _streams(renderer.video(silent))
    assert renderer.thumbnail(spec) == renderer.thumbnail(silent)
    louder = replace(spec, sound=WAN26_SOUND)
    assert _streams(renderer.video(louder))["audio"][1:] == (48_000, 2)


def test_padded_clips_keep_their_sound(renderer: MediaRenderer) -> None:
    spec = ClipSpec(160, 90, 1, "padded", WAN26_SOUND)
    size = renderer.video(replace(spec, caption="")).stat().st_size + 50_000

    padded = renderer.sized_video(spec, size)

    assert padded.stat().st_size == size
    streams = _streams(padded)
    assert streams["audio"][1:] == (48_000, 2)
    assert streams["video"][0] == pytest.approx(1, abs=FRAME)
