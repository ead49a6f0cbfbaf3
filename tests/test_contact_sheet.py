"""The contact sheet: shots' thumbnails in even rows, labelled, and no empty (black) tiles."""

from __future__ import annotations

import subprocess
from pathlib import Path

import av
import imageio_ffmpeg
import pytest

from prefect_gmicloud.media.ffmpeg import contact_sheet


def picture(path: Path, colour: str) -> Path:
    subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y",
         "-f", "lavfi", "-i", f"color=c={colour}:s=1280x720", "-frames:v", "1", str(path)],
        check=True,
    )  # fmt: skip
    return path


def pixels(path: Path) -> tuple[int, int, bytes, int]:
    with av.open(str(path)) as container:
        frame = next(container.decode(video=0)).reformat(format="rgb24")
    plane = frame.planes[0]
    return frame.width, frame.height, bytes(plane), plane.line_size


def rgb_at(sheet: tuple[int, int, bytes, int], x: int, y: int) -> tuple[int, ...]:
    _, _, data, stride = sheet
    return tuple(data[y * stride + 3 * x : y * stride + 3 * x + 3])


def is_black(rgb: tuple[int, ...]) -> bool:
    return max(rgb) < 12


@pytest.mark.parametrize(("count", "size"), [(6, (984, 436)), (5, (984, 436)), (1, (328, 218))])
def test_the_sheet_fills_its_rows_evenly_and_has_no_black_tile(
    tmp_path: Path, count: int, size: tuple[int, int]
) -> None:
    images = [picture(tmp_path / f"{i}.png", "white") for i in range(count)]
    sheet = contact_sheet(images, tmp_path / "sheet.jpg", labels=[f"s{i}" for i in range(count)])
    found = pixels(sheet)
    assert found[:2] == size  # 6 shots: 3 + 3 (not 4 + 2 with two empty tiles)
    width, height = size
    cell_w, cell_h = 328, 218
    for row in range(height // cell_h):
        for column in range(width // cell_w):
            centre = rgb_at(found, column * cell_w + cell_w // 2, row * cell_h + 90)
            assert not is_black(centre), (row, column, centre)


def test_each_tile_is_labelled_with_its_name(tmp_path: Path) -> None:
    images = [picture(tmp_path / f"{i}.png", "white") for i in range(2)]
    plain = pixels(contact_sheet(images, tmp_path / "plain.jpg"))
    labelled = pixels(contact_sheet(images, tmp_path / "named.jpg", labels=["arrive", "serve"]))
    assert plain[1] == 188 and labelled[1] == 218  # a 30 px band for the names
    band = [rgb_at(labelled, x, 199) for x in range(labelled[0])]
    assert sum(min(rgb) > 128 for rgb in band) > 20  # white text drawn on the dark band
