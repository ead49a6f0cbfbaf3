"""Real audio for the simulator's sound models: speech that says the text, and a music bed.

Speech is spoken offline by Debian's ``espeak-ng`` (``apt-get install espeak-ng``) to a WAV,
then encoded by the ``imageio-ffmpeg`` wheel's ffmpeg at the asked format, sample rate and
channels; so a test can measure how long it is and that it is not silence. The music bed is a
soft three-note chord with a slow swell, its root note drawn from the prompt: honest generated
audio, not music anyone composed. Both are cached by everything that changes them.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from prefect_gmicloud.simulator.media import MediaRenderer

AudioFormat = Literal["mp3", "flac", "wav"]
#: What the simulator makes when a payload does not say (MiniMax's TTS answers mp3 by default).
DEFAULT_FORMAT: AudioFormat = "mp3"
DEFAULT_SAMPLE_RATE = 32_000
#: How long the simulated music bed lasts.
MUSIC_SECONDS = 12


class _SoundUnavailable(RuntimeError):
    """The simulator cannot make this sound here (``espeak-ng`` is not installed)."""


@dataclass(frozen=True)
class SoundSpec:
    """One audio file to make: speech of ``text``, or a music bed for the prompt ``text``."""

    kind: Literal["speech", "music"]
    text: str
    format: AudioFormat = DEFAULT_FORMAT
    sample_rate: int = DEFAULT_SAMPLE_RATE
    channels: int = 1

    def key(self) -> str:
        text = f"{self.kind}:{self.format}:{self.sample_rate}x{self.channels}:{self.text}"
        return hashlib.sha256(text.encode()).hexdigest()[:24]


def render_sound(renderer: MediaRenderer, spec: SoundSpec) -> Path:
    """The audio file for ``spec`` (made on first use, then cached).

    Args:
        renderer: Holds the cache and the ffmpeg binary.
        spec: What to make.

    Raises:
        _SoundUnavailable: speech was asked for and ``espeak-ng`` is not installed.
    """
    make = _speak if spec.kind == "speech" else _music
    return renderer.cached(f"{spec.key()}.{spec.format}", lambda out: make(renderer, spec, out))


def _encode(renderer: MediaRenderer, source: list[str], spec: SoundSpec, out: Path) -> None:
    codec = {"mp3": ["-c:a", "libmp3lame", "-b:a", "96k"], "flac": ["-c:a", "flac"]}
    subprocess.run(
        [
            renderer.ffmpeg, "-hide_banner", "-loglevel", "error", "-y", *source,
            "-ar", str(spec.sample_rate), "-ac", str(spec.channels),
            *codec.get(spec.format, ["-c:a", "pcm_s16le"]), "-f", spec.format, str(out),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip


def _speak(renderer: MediaRenderer, spec: SoundSpec, out: Path) -> None:
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        raise _SoundUnavailable(
            "the simulator speaks with espeak-ng, which is not installed "
            "(apt-get install -y espeak-ng)"
        )
    with tempfile.TemporaryDirectory(dir=renderer.cache_dir) as workdir:
        text, spoken = Path(workdir) / "text.txt", Path(workdir) / "spoken.wav"
        # From a file: no text is ever read as an option or by a shell.
        text.write_text(spec.text, encoding="utf-8")
        subprocess.run(
            [espeak, "-f", str(text), "-w", str(spoken)], check=True, capture_output=True
        )
        _encode(renderer, ["-i", str(spoken)], spec, out)


def _music(renderer: MediaRenderer, spec: SoundSpec, out: Path) -> None:
    digest = hashlib.sha256(spec.text.encode()).digest()
    root = 110 + digest[0] % 60  # a low root note, the same for the same prompt
    notes = [root, root * 5 / 4, root * 3 / 2]  # a major triad
    swell = "(0.6+0.4*sin(2*PI*t/4))"
    chord = "+".join(f"0.12*sin(2*PI*{note:.2f}*t)" for note in notes)
    source = [
        "-f", "lavfi",
        "-i", f"aevalsrc={swell}*({chord}):s={spec.sample_rate}:d={MUSIC_SECONDS}",
    ]  # fmt: skip
    _encode(renderer, source, spec, out)
