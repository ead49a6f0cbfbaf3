"""Make the production example's reference files: a character clip with a voice, two stills.

    python examples/production/make_media.py          # rewrites examples/production/media/

The files are drawn by the ffmpeg of the imageio-ffmpeg wheel (nothing else to install) and
are the same bytes on every run with the same ffmpeg (bit-exact flags, one encoder thread, no
timestamps or tool versions in the metadata). They sit within every Wan reference limit:

- ``barista.mp4``: 2.5 s, 480x270, H.264 with an AAC voice-like hum (a reference video for
  wan2.7-r2v and wan2.6-r2v, or a first clip for wan2.7-i2v);
- ``door.png``: 480x270, a café door (the first frame of an image-to-video shot);
- ``guest.png``: 300x400, a second character (a reference image).
"""

from __future__ import annotations

import argparse
import subprocess
from pathlib import Path

import imageio_ffmpeg

MEDIA = Path(__file__).resolve().parent / "media"

_EXACT = ["-fflags", "+bitexact", "-flags", "+bitexact", "-map_metadata", "-1", "-threads", "1"]

# A figure of boxes over a background: (colour, width, height, x, y). x and y may use t.
_BARISTA = [
    ("0x2f6b3a", 120, 150, "180+12*sin(2*PI*0.8*t)", "120"),  # green apron
    ("0xe0b48a", 70, 70, "205+12*sin(2*PI*0.8*t)", "45+3*sin(2*PI*2*t)"),  # head
    ("0x1d1d1d", 10, 10, "220+12*sin(2*PI*0.8*t)", "70+3*sin(2*PI*2*t)"),  # eye
    ("0x1d1d1d", 10, 10, "250+12*sin(2*PI*0.8*t)", "70+3*sin(2*PI*2*t)"),  # eye
    ("0x8a3b2a", 30, 8, "225+12*sin(2*PI*0.8*t)", "95+3*sin(2*PI*2*t)+2*sin(2*PI*4*t)"),  # mouth
]
_DOOR = [
    ("0x5a3a22", 150, 230, "165", "40"),  # door
    ("0x9ec8d8", 90, 80, "195", "65"),  # window
    ("0xd4a94a", 12, 12, "280", "160"),  # handle
    ("0x3b3b3b", 480, 10, "0", "265"),  # step
]
_GUEST = [
    ("0x27408b", 160, 200, "70", "200"),  # coat
    ("0xc58f62", 30, 20, "135", "182"),  # neck
    ("0xc58f62", 90, 90, "105", "95"),  # head
    ("0x4a2c17", 110, 35, "95", "80"),  # hair
    ("0x1d1d1d", 12, 12, "125", "130"),  # eye
    ("0x1d1d1d", 12, 12, "160", "130"),  # eye
]
# A hum that sounds like speech: a 130 Hz voice with gliding pitch, three harmonics and four
# "syllables" a second.
_VOICE = (
    "aevalsrc='(0.5*sin(2*PI*(130+15*sin(2*PI*1.3*t))*t)"
    "+0.25*sin(4*PI*(130+15*sin(2*PI*1.3*t))*t)"
    "+0.12*sin(6*PI*(130+15*sin(2*PI*1.3*t))*t))"
    "*0.4*(0.5-0.5*cos(2*PI*4*t))':s=24000:d=2.5"
)


def _figure(background: str, size: str, boxes: list[tuple[str, int, int, str, str]]) -> str:
    """A filtergraph drawing ``boxes`` over a ``background`` colour, ending in ``[out]``."""
    inputs = [f"color=c={background}:s={size}:r=30[bg]"]
    layers, previous = [], "bg"
    for i, (colour, width, height, x, y) in enumerate(boxes):
        inputs.append(f"color=c={colour}:s={width}x{height}:r=30[b{i}]")
        layers.append(f"[{previous}][b{i}]overlay=x='{x}':y='{y}':shortest=1[l{i}]")
        previous = f"l{i}"
    return ";".join([*inputs, *layers]) + f";[{previous}]null[out]"


def _ffmpeg(arguments: list[str]) -> None:
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y"]
    subprocess.run([*command, *arguments], check=True)


def make_media(folder: Path = MEDIA) -> list[Path]:
    """Write the example's three reference files into ``folder``.

    Args:
        folder: Where to write them (created if missing).

    Returns:
        The files written.
    """
    folder.mkdir(parents=True, exist_ok=True)
    clip, door, guest = folder / "barista.mp4", folder / "door.png", folder / "guest.png"
    _ffmpeg([
        "-f", "lavfi", "-t", "2.5", "-i", _figure("0xc9a27e", "480x270", _BARISTA),
        "-f", "lavfi", "-i", _VOICE,
        "-map", "0:v", "-map", "1:a",
        "-c:v", "libx264", "-preset", "medium", "-crf", "30", "-pix_fmt", "yuv420p",
        "-c:a", "aac", "-b:a", "48k", "-ac", "1",
        "-movflags", "+faststart", *_EXACT, str(clip),
    ])  # fmt: skip
    for out, background, size, boxes in (
        (door, "0x8c6a4f", "480x270", _DOOR),
        (guest, "0xe8e2d0", "300x400", _GUEST),
    ):
        _ffmpeg(["-f", "lavfi", "-i", _figure(background, size, boxes),
                 "-frames:v", "1", *_EXACT, str(out)])  # fmt: skip
    return [clip, door, guest]


def main() -> None:
    """Parse ``--out`` and write the files, printing each with its size."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=MEDIA, help="the folder to write into")
    for path in make_media(parser.parse_args().out):
        print(f"{path}  {path.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
