"""One request per family through GMICloudClient against the simulator: each outcome read in
its own shape, each file downloaded and checked to be what it claims (a video with a video
stream of the asked length, an image of the asked size, speech of some length that is not
silence, a music bed)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import av
import httpx
import pytest

from prefect_gmicloud import GMICloudClient
from prefect_gmicloud.client.records import GMIRequest
from prefect_gmicloud.media.probe import probe_media
from prefect_gmicloud.simulator import Simulator

# CI installs both (.ci/run) and must run these: there a missing tool fails, never skips.
needs_speech = pytest.mark.skipif(
    (shutil.which("espeak-ng") is None or shutil.which("sox") is None) and not os.getenv("CI"),
    reason="speech needs Debian's espeak-ng and sox (apt-get install -y espeak-ng sox)",
)


async def finished(client: GMICloudClient, model: str, payload: dict[str, Any]) -> GMIRequest:
    return await client.wait(await client.submit(model, payload))


async def download(url: str, folder: Path) -> Path:
    async with httpx.AsyncClient() as storage:
        response = await storage.get(url)
    response.raise_for_status()
    path = folder / url.rsplit("/", 1)[-1]
    path.write_bytes(response.content)
    return path


def video_facts(path: Path) -> tuple[int, int, float]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert container.duration is not None
        return stream.width, stream.height, round(container.duration / 1e6, 1)


def sox_stat(path: Path) -> dict[str, float]:
    """``sox FILE -n stat``: its length in seconds and RMS amplitude, among others."""
    sox = shutil.which("sox")
    assert sox is not None
    report = subprocess.run(
        [sox, str(path), "-n", "stat"], capture_output=True, text=True, check=True
    ).stderr
    return {
        name.strip(): float(value)
        for name, value in re.findall(r"^([A-Za-z ()]+):\s+(-?[\d.]+)$", report, re.MULTILINE)
    }


@pytest.mark.parametrize(
    ("model", "payload", "shape", "frame", "seconds"),
    [
        ("Veo3", {"prompt": "a lighthouse", "durationSeconds": "4", "aspectRatio": "9:16"},
         "video_url", (1080, 1920), 4.0),
        ("kling-v3-text-to-video", {"prompt": "a paper boat", "duration": "3"},
         "media_urls", (1920, 1080), 3.0),
        ("kling-v2-6", {"prompt": "a paper boat", "duration": "5", "sound": "on"},
         "video_url", (1920, 1080), 5.0),
        ("seedance-2-0-260128",
         {"prompt": "a kite", "duration": 2, "ratio": "1:1", "resolution": "720P"},
         "video_url", (720, 720), 2.0),
        ("MiniMax-H3", {"prompt": "a market", "duration": 4, "resolution": "768P"},
         "video_url", (1366, 768), 4.0),
        ("Minimax-Hailuo-2.3-Fast", {"prompt": "[Pan Right] a market", "duration": 6},
         "video_url", (1920, 1080), 6.0),
    ],
)  # fmt: skip
async def test_a_video_family_answers_in_its_shape_with_a_real_video(
    client: GMICloudClient,
    tmp_path: Path,
    model: str,
    payload: dict[str, Any],
    shape: str,
    frame: tuple[int, int],
    seconds: float,
) -> None:
    done = await finished(client, model, payload)
    assert done.outcome is not None and shape in done.outcome
    assert done.video is not None and done.thumbnail is not None
    video = await download(done.video.url, tmp_path)
    assert video_facts(video) == (*frame, seconds)
    thumbnail = probe_media(await download(done.thumbnail.url, tmp_path))
    assert thumbnail.kind == "image" and (thumbnail.width, thumbnail.height) == frame


async def test_kling_with_sound_on_has_an_audio_stream(
    client: GMICloudClient, tmp_path: Path
) -> None:
    loud = await finished(client, "kling-v3-text-to-video", {"prompt": "rain", "sound": "on"})
    quiet = await finished(client, "kling-v3-text-to-video", {"prompt": "rain", "sound": "off"})
    streams = []
    for done in (loud, quiet):
        assert done.video is not None
        with av.open(str(await download(done.video.url, tmp_path))) as container:
            streams.append(len(container.streams.audio))
    assert streams == [1, 0]


@pytest.mark.parametrize(
    ("payload", "size", "container"),
    [
        ({"prompt": "a cafe counter at dawn", "size": "1920x1920", "output_format": "png"},
         (1920, 1920), "png"),
        ({"prompt": "a cafe counter at dawn"}, (2048, 2048), "jpeg"),
    ],
)  # fmt: skip
async def test_an_image_model_answers_media_urls_with_a_real_image(
    client: GMICloudClient,
    tmp_path: Path,
    payload: dict[str, Any],
    size: tuple[int, int],
    container: str,
) -> None:
    done = await finished(client, "seedream-5.0-lite", payload)
    assert done.outcome is not None and list(done.outcome) == ["media_urls"]
    (image,) = done.assets
    assert image.kind == "image"
    facts = probe_media(await download(image.url, tmp_path))
    assert (facts.kind, facts.container, facts.width, facts.height) == ("image", container, *size)


@needs_speech
async def test_tts_speaks_the_text_at_the_asked_format_after_a_sync_style_answer(
    client: GMICloudClient, sim: Simulator, tmp_path: Path
) -> None:
    short_text = "Welcome."
    long_text = "The barista smiles, pours the milk slowly, and hands the guest a warm coffee."
    lengths = []
    for text in (short_text, long_text):
        submitted = await client.submit(
            "minimax-tts-speech-2.8-hd",
            {"text": text, "format": "flac", "audio_sample_rate": "44100", "channel": 2},
        )
        assert submitted.status == "success" and submitted.outcome is None  # still working
        done = await client.wait(submitted)
        assert done.outcome is not None and done.outcome["format"] == "flac"
        (audio,) = done.assets
        assert audio.kind == "audio" and audio.role == "audio"
        path = await download(audio.url, tmp_path)
        stat = sox_stat(path)
        assert stat["RMS     amplitude"] > 0.01  # speech, not silence
        with av.open(str(path)) as container:
            stream = container.streams.audio[0]
            assert (stream.rate, stream.channels) == (44_100, 2)
        lengths.append(stat["Length (seconds)"])
    assert 0.3 < lengths[0] < lengths[1]  # the longer text takes longer to say


@needs_speech
async def test_tts_mp3_by_default(client: GMICloudClient, tmp_path: Path) -> None:
    done = await finished(client, "minimax-tts-speech-2.8-hd", {"text": "Hello there."})
    assert done.outcome is not None and done.outcome["format"] == "mp3"
    path = await download(done.assets[0].url, tmp_path)
    facts = probe_media(path)
    assert facts.kind == "audio" and facts.container == "mp3"
    assert facts.duration is not None and facts.duration > 0.3


@needs_speech
async def test_an_untyped_music_model_makes_a_bed_checked_by_its_served_parameters(
    client: GMICloudClient, tmp_path: Path
) -> None:
    done = await finished(client, "minimax-music-3.0", {"prompt": "warm cafe", "format": "wav"})
    (audio,) = done.assets
    stat = sox_stat(await download(audio.url, tmp_path))
    assert stat["Length (seconds)"] == pytest.approx(12, abs=0.05)
    assert stat["RMS     amplitude"] > 0.05
