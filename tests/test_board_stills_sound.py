"""A board that makes its own stills and sound, across four video families, end to end through
the simulator (which fetches every reference like GMI) and a real S3-protocol server; and the
boards refused before anything is paid."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from prefect_gmicloud.errors import ModelNotServed, StoryboardError, StoryboardIncomplete
from prefect_gmicloud.flows.storyboard import run_storyboard
from prefect_gmicloud.media.frames import first_frame, frame_difference, last_frame
from prefect_gmicloud.simulator import Simulator
from prefect_gmicloud.storage import S3Destination
from prefect_gmicloud.storyboard import Storyboard
from prefect_gmicloud.storyboard.options import StoryboardOptions
from tests.conftest import credentials_for, read_object

pytestmark = pytest.mark.usefixtures("prefect_api")

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "lighthouse.yaml"
RATE = 48_000
#: Mean absolute pixel difference two renderings of one frame stay within (see
#: tests/test_production_example.py for the measurements).
SAME_FRAME = 4.0


def seconds(path: Path, kind: str) -> float:
    with av.open(str(path)) as container:
        stream = container.streams.video[0] if kind == "video" else container.streams.audio[0]
        assert stream.duration is not None and stream.time_base is not None
        return float(stream.duration * stream.time_base)


def soundtrack(path: Path) -> tuple[np.ndarray[Any, Any], int, int]:
    """The audio of ``path`` as one mono float array, with its sample rate and channels."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        rate, channels = stream.rate, stream.layout.nb_channels
        samples = np.concatenate([frame.to_ndarray() for frame in container.decode(stream)], 1)
    return samples.mean(axis=0), rate, channels


def rms(samples: np.ndarray[Any, Any], start: float, end: float) -> float:
    part = samples[int(start * RATE) : int(end * RATE)]
    return float(np.sqrt(np.mean(part**2)))


def tone(samples: np.ndarray[Any, Any], start: float, end: float, hertz: float) -> float:
    """The amplitude of the ``hertz`` component between ``start`` and ``end``."""
    part = samples[int(start * RATE) : int(end * RATE)]
    window = np.hanning(len(part))
    spectrum = np.abs(np.fft.rfft(part * window))
    bins = np.fft.rfftfreq(len(part), 1 / RATE)
    return float(spectrum[np.argmin(np.abs(bins - hertz))] / window.sum() * 2)


def strongest(samples: np.ndarray[Any, Any], start: float, end: float) -> float:
    """The frequency of the loudest component between ``start`` and ``end`` (Hz)."""
    part = samples[int(start * RATE) : int(end * RATE)]
    spectrum = np.abs(np.fft.rfft(part * np.hanning(len(part))))
    return float(np.fft.rfftfreq(len(part), 1 / RATE)[int(np.argmax(spectrum[1:])) + 1])


async def test_the_lighthouse_board_makes_its_stills_and_sound_and_pays_each_once(
    make_simulator: Callable[..., Simulator], bucket: S3Destination, tmp_path: Path
) -> None:
    sim = make_simulator()
    board = Storyboard.load(EXAMPLE)
    families = {(shot.settings.model or "").split("-")[0].split(".")[0] for shot in board.shots}
    assert families == {"wan2", "kling", "seedance", "Veo3"}
    result = await run_storyboard(
        board,
        bucket,
        credentials_for(sim),
        options=StoryboardOptions(max_concurrency=4, poll_interval=0.05),
    )
    items = {record.shot_id: record for record in result.shots}
    assert sorted(items) == sorted(
        ["still-keeper-portrait", "still-harbour", "keeper", "dawn", "tide", "storm",
         "narration-keeper", "narration-tide", "music"]
    )  # fmt: skip
    assert {record.status for record in result.shots} == {"stored"}
    # Every request paid once: nine created, no payload twice.
    assert sim.stats.created == 9 and sim.stats.duplicate_submits == 0
    assert result.submitted == 9

    # The stills were made first and really fetched by GMI's side: the Wan shot's character
    # wears one (reference_image), the Kling shot starts from the other (image).
    requests = {r.model: r for r in sim.state.requests.values()}
    wan_payload, kling_payload = requests["wan2.7-r2v"].payload, requests["kling-v2-6"].payload
    for sent in (wan_payload["reference_image"][0], kling_payload["image"]):
        assert "/stills/" in sent and "X-Amz-Signature=" in sent
        plain = sent.split("?")[0]
        assert sim.stats.reference_fetches[plain] == 1, dict(sim.stats.reference_fetches)
    for name in ("dawn", "tide"):
        video = items[name].video
        assert video is not None
        (tmp_path / f"{name}.mp4").write_bytes(read_object(bucket, video.key))
    harbour = items["still-harbour"].thumbnail
    assert harbour is not None
    (tmp_path / "harbour.jpg").write_bytes(read_object(bucket, harbour.key))
    opening = first_frame(tmp_path / "dawn.mp4", tmp_path / "dawn-first.png")
    assert frame_difference(opening, tmp_path / "harbour.jpg") < SAME_FRAME
    # Continuity across families: the Seedance shot opens on the Kling shot's last frame.
    ending = last_frame(tmp_path / "dawn.mp4", tmp_path / "dawn-last.png")
    tide_opening = first_frame(tmp_path / "tide.mp4", tmp_path / "tide-first.png")
    assert frame_difference(tide_opening, ending) < SAME_FRAME

    # The final cut: the four shots' length (3 + 5 + 4 + 4 s), sound at 48 kHz stereo.
    assert result.final_cut is not None
    cut = tmp_path / "final.mp4"
    cut.write_bytes(read_object(bucket, result.final_cut.key))
    assert seconds(cut, "video") == pytest.approx(16.0, abs=0.15)
    assert seconds(cut, "audio") == pytest.approx(16.0, abs=0.15)
    samples, rate, channels = soundtrack(cut)
    assert (rate, channels) == (RATE, 2)
    # Every clip is silent (Kling with sound off; no page gives the others sound): what is
    # heard is the narration at the starts of "keeper" (0 s) and "tide" (8 s), over the bed.
    spoken = [rms(samples, 0.2, 1.7), rms(samples, 8.2, 9.7)]
    bed_only = [rms(samples, 4.0, 7.5), rms(samples, 13.0, 15.5)]
    assert min(spoken) > 2 * max(bed_only), (spoken, bed_only)
    # The bed is there where no one speaks, and lowered under the speech: its strongest note,
    # measured alone, is much weaker while the narrator talks.
    note = strongest(samples, 4.0, 7.5)
    alone = [tone(samples, 4.0, 5.5, note), tone(samples, 13.0, 14.5, note)]
    under_speech = [tone(samples, 0.2, 1.7, note), tone(samples, 8.2, 9.7, note)]
    assert min(alone) > 0.005
    assert max(under_speech) < min(alone) / 3, (under_speech, alone, note)

    # A re-run reuses everything: nothing submitted, the cut not made again.
    again = await run_storyboard(
        board, bucket, credentials_for(sim), options=StoryboardOptions(poll_interval=0.05)
    )
    assert again.submitted == 0 and again.reused == 9
    assert sim.stats.created == 9
    assert again.final_cut is not None and again.final_cut.sha256 == result.final_cut.sha256


def _board(**extra: Any) -> Storyboard:
    data: dict[str, Any] = {
        "title": "refused",
        "shots": [{"id": "one", "prompt": "a quiet sea", "settings": {"model": "Veo3"}}],
    }
    return Storyboard.parse(data | extra)


async def test_a_board_naming_an_unserved_model_is_refused_with_what_gmi_serves(
    make_simulator: Callable[..., Simulator], bucket: S3Destination
) -> None:
    # A still model GMI does not serve under that spelling: refused before anything is paid.
    sim = make_simulator()
    board = _board(stills=[{"id": "sky", "model": "Seedream-5.0-Lite", "prompt": "sky"}])
    with pytest.raises(ModelNotServed) as refused:
        await run_storyboard(
            board, bucket, credentials_for(sim), options=StoryboardOptions(poll_interval=0.05)
        )
    assert "Seedream-5.0-Lite" in str(refused.value) and "seedream-5.0-lite" in str(refused.value)
    assert sim.stats.created == 0


async def test_a_retired_video_model_is_refused_before_any_request(
    make_simulator: Callable[..., Simulator], bucket: S3Destination
) -> None:
    sim = make_simulator(retired_models=["Veo3"])
    with pytest.raises(ModelNotServed) as refused:
        await run_storyboard(
            _board(), bucket, credentials_for(sim), options=StoryboardOptions(poll_interval=0.05)
        )
    assert "Veo3" in str(refused.value)
    assert sim.stats.created == 0


def test_veo3_for_the_served_veo3_is_refused_with_the_served_spelling() -> None:
    with pytest.raises(StoryboardError) as refused:
        Storyboard.parse(
            {"title": "x", "shots": [{"id": "a", "prompt": "p", "settings": {"model": "veo3"}}]}
        )
    assert "shot a: settings.model" in str(refused.value) and "'Veo3'" in str(refused.value)


async def test_a_misspelt_field_of_an_untyped_model_is_refused_naming_what_gmi_serves(
    make_simulator: Callable[..., Simulator], bucket: S3Destination
) -> None:
    sim = make_simulator()
    board = _board(
        sound={"music": {"model": "minimax-music-3.0", "prompt": "strings",
                         "settings": {"lyric": "la la"}}}
    )  # fmt: skip
    with pytest.raises(StoryboardError) as refused:
        await run_storyboard(
            board, bucket, credentials_for(sim), options=StoryboardOptions(poll_interval=0.05)
        )
    message = str(refused.value)
    assert "music: lyric: GMI does not serve this parameter for minimax-music-3.0" in message
    assert "it serves: format, lyrics, prompt" in message
    assert sim.stats.created == 0


def test_a_veo_duration_out_of_its_set_is_refused_when_the_board_is_read() -> None:
    # Only Veo takes durationSeconds: the board's own form refuses it, before any run starts.
    with pytest.raises(StoryboardError) as refused:
        Storyboard.parse(
            {
                "title": "veo",
                "shots": [
                    {
                        "id": "a",
                        "prompt": "p",
                        "settings": {"model": "Veo3", "durationSeconds": "5"},
                    }
                ],
            }
        )
    assert "shot a: settings.durationSeconds: must be one of '4', '6' or '8', got '5'" in str(
        refused.value
    )


async def test_a_veo_duration_given_as_a_number_is_refused_before_any_request(
    make_simulator: Callable[..., Simulator], bucket: S3Destination
) -> None:
    # Veo's lengths are strings: 8 (a number) passes no form field of Veo's, and the shot's
    # model names the field and its set when the board is planned, before anything is paid.
    sim = make_simulator()
    board = Storyboard.parse(
        {
            "title": "veo",
            "defaults": {"model": "Veo3", "duration": 8},
            "shots": [{"id": "a", "prompt": "p"}],
        }
    )
    with pytest.raises(StoryboardError) as refused:
        await run_storyboard(
            board, bucket, credentials_for(sim), options=StoryboardOptions(poll_interval=0.05)
        )
    assert "defaults: duration: not a setting of Veo3" in str(refused.value)
    assert sim.stats.created == 0 and sim.stats.calls["submit"] == 0


async def test_a_failed_still_fails_the_shots_using_it_unpaid(
    make_simulator: Callable[..., Simulator], bucket: S3Destination
) -> None:
    # GMI's worker cannot fetch the still's own reference image (nothing listens there), so
    # the still fails; the shot starting from it is never paid for, the other shot is stored.
    sim = make_simulator()
    board = Storyboard.parse(
        {
            "title": "broken-still",
            "stills": [
                {"id": "sea", "model": "seedream-5.0-lite", "prompt": "the sea",
                 "settings": {"image": ["http://127.0.0.1:9/gone.png"]}},
            ],
            "shots": [
                {"id": "wave", "prompt": "a wave", "starts_from": "sea",
                 "settings": {"model": "kling-v2-6", "duration": "5"}},
                {"id": "sky", "prompt": "the sky", "settings": {"model": "Veo3",
                 "durationSeconds": "4"}},
            ],
        }
    )  # fmt: skip
    with pytest.raises(StoryboardIncomplete) as incomplete:
        await run_storyboard(
            board, bucket, credentials_for(sim), options=StoryboardOptions(poll_interval=0.05)
        )
    message = str(incomplete.value)
    assert "still-sea: GMI request" in message and "image[0] could not be fetched" in message
    assert "wave: uses still sea, which is not stored" in message
    assert "nothing was paid for this shot" in message
    assert sim.stats.created == 2  # the still and the sky: never the wave
    assert {r.model for r in sim.state.requests.values()} == {"seedream-5.0-lite", "Veo3"}
