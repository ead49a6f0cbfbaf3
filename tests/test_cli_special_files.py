"""``storyboard validate`` refuses a reference that is a device, a FIFO, a folder or too large,
from its ``stat``, before reading it: one line each, and it ends at once (a FIFO used to hang
it for ever). The same check guards every probe of a local file (``probe_media``), so a run's
staging and the CLI refuse alike."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from prefect_gmicloud.errors import RefusedFile
from prefect_gmicloud.media.local_files import MAX_FILE_BYTES
from prefect_gmicloud.media.probe import probe_media


def write_board(folder: Path, *images: str) -> Path:
    board = {
        "title": "special",
        "characters": {f"c{i}": {"image": image} for i, image in enumerate(images)},
        "shots": [{"id": "s", "prompt": " ".join(f"{{c{i}}}" for i in range(len(images)))}],
    }
    path = folder / "board.yaml"
    path.write_text(yaml.safe_dump(board), encoding="utf-8")
    return path


def validate(board: Path) -> subprocess.CompletedProcess[str]:
    # A real process with a timeout: a hang fails the test instead of holding the suite.
    code = "from prefect_gmicloud.cli import main; main()"
    return subprocess.run(
        [sys.executable, "-c", code, "storyboard", "validate", str(board)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200"},
    )


def test_validate_refuses_a_fifo_a_device_a_folder_and_a_huge_file_without_reading(
    tmp_path: Path,
) -> None:
    os.mkfifo(tmp_path / "fifo.png")
    (tmp_path / "folder.png").mkdir()
    with (tmp_path / "huge.png").open("wb") as huge:  # sparse: its size, not its bytes
        huge.truncate(MAX_FILE_BYTES + 1)
    board = write_board(tmp_path, "fifo.png", "/dev/zero", "folder.png", "huge.png")
    done = validate(board)
    assert done.returncode == 1, done.stdout + done.stderr
    lines = [line.strip() for line in done.stdout.splitlines()]
    assert lines == [
        "storyboard 'special' has 4 problem(s):",
        f"- {tmp_path / 'fifo.png'}: a FIFO, not a regular file",
        "- /dev/zero: a character device, not a regular file",
        f"- {tmp_path / 'folder.png'}: a folder, not a regular file",
        f"- {tmp_path / 'huge.png'}: {MAX_FILE_BYTES + 1} bytes, more than the "
        f"{MAX_FILE_BYTES} a source may have",
    ]


def test_validate_refuses_a_board_file_that_is_a_fifo(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "board.yaml")
    done = validate(tmp_path / "board.yaml")
    assert done.returncode == 1, done.stdout + done.stderr
    fifo = tmp_path / "board.yaml"
    assert done.stdout.strip() == f"cannot read {fifo}: {fifo}: a FIFO, not a regular file"


@pytest.mark.timeout(30)
def test_a_probe_refuses_what_is_not_a_bounded_regular_file(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo.mp4")
    with pytest.raises(RefusedFile, match="a FIFO, not a regular file"):
        probe_media(tmp_path / "fifo.mp4")
    with pytest.raises(RefusedFile, match="/dev/zero: a character device"):
        probe_media(Path("/dev/zero"))
    (tmp_path / "small.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 100)
    with pytest.raises(RefusedFile, match="108 bytes, more than the 100"):
        probe_media(tmp_path / "small.png", max_bytes=100)
    assert probe_media(tmp_path / "small.png").size == 108
