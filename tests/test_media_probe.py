"""probe_media: kind, container, size, length and pixels from headers; never fails on content."""

from __future__ import annotations

from pathlib import Path

import pytest

from prefect_gmicloud.media.magic import sniff_container
from prefect_gmicloud.media.probe import MediaFacts, probe_media
from prefect_gmicloud.transfer.verify import is_image, is_media_container
from tests.media_files import ffmpeg, make_audio, make_image, make_video


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("probe")
    make_video(folder / "clip.mp4", 2, audio=True)
    make_video(folder / "clip.mov", 2)
    make_video(folder / "clip.mkv", 2)
    for suffix in ("png", "jpg", "bmp", "webp", "gif"):
        make_image(folder / f"still.{suffix}", "300x260")
    make_audio(folder / "voice.wav", 1.5)
    make_audio(folder / "voice.mp3", 1.5)
    make_audio(folder / "voice.m4a", 1.5)
    return folder


@pytest.mark.parametrize(
    ("name", "container"),
    [("clip.mp4", "mp4"), ("clip.mov", "mov"), ("clip.mkv", "matroska")],
)
def test_videos_have_their_container_length_and_frame_size(
    media: Path, name: str, container: str
) -> None:
    facts = probe_media(media / name)
    assert (facts.kind, facts.container, facts.width, facts.height) == (
        "video",
        container,
        320,
        240,
    )
    assert facts.duration == pytest.approx(2, abs=0.05)
    assert facts.size == (media / name).stat().st_size


@pytest.mark.parametrize(
    ("name", "container"),
    [
        ("still.png", "png"),
        ("still.jpg", "jpeg"),
        ("still.bmp", "bmp"),
        ("still.webp", "webp"),
        ("still.gif", "gif"),
    ],
)
def test_images_have_their_format_and_pixel_size_and_no_length(
    media: Path, name: str, container: str
) -> None:
    facts = probe_media(media / name)
    assert facts == MediaFacts("image", container, (media / name).stat().st_size, None, 300, 260)


@pytest.mark.parametrize(
    ("name", "container"), [("voice.wav", "wav"), ("voice.mp3", "mp3"), ("voice.m4a", "mp4")]
)
def test_audio_has_its_length_and_no_pixels(media: Path, name: str, container: str) -> None:
    facts = probe_media(media / name)
    assert (facts.kind, facts.container, facts.width, facts.height) == (
        "audio",
        container,
        None,
        None,
    )
    assert facts.duration == pytest.approx(1.5, abs=0.1)


def test_a_song_with_cover_art_is_audio(media: Path, tmp_path: Path) -> None:
    song = tmp_path / "song.mp3"
    ffmpeg("-i", str(media / "voice.wav"), "-i", str(media / "still.png"), "-map", "0", "-map", "1",
           "-c:v", "png", "-disposition:v", "attached_pic", str(song))  # fmt: skip
    facts = probe_media(song)
    assert (facts.kind, facts.container, facts.width) == ("audio", "mp3", None)
    assert facts.duration == pytest.approx(1.5, abs=0.1)


def test_text_is_no_media(tmp_path: Path) -> None:
    page = tmp_path / "video.mp4"
    page.write_text("<html><body>Link expired</body></html>")
    assert probe_media(page) == MediaFacts(None, None, page.stat().st_size)


def test_an_empty_file_is_no_media(tmp_path: Path) -> None:
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    assert probe_media(empty) == MediaFacts(None, None, 0)


def test_a_truncated_video_keeps_its_container_but_has_no_kind(media: Path, tmp_path: Path) -> None:
    # The MP4 muxer writes the index (moov) last: the first kilobytes alone are unreadable.
    cut = tmp_path / "cut.mp4"
    cut.write_bytes((media / "clip.mp4").read_bytes()[:2048])
    assert probe_media(cut) == MediaFacts(None, "mp4", 2048)


def test_a_png_signature_on_garbage_is_no_image(tmp_path: Path) -> None:
    fake = tmp_path / "fake.png"
    fake.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    assert probe_media(fake) == MediaFacts(None, "png", fake.stat().st_size)


def test_a_missing_file_raises_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        probe_media(tmp_path / "nowhere.mp4")


def test_a_folder_raises_an_os_error(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        probe_media(tmp_path)


@pytest.mark.parametrize(
    ("head", "container"),
    [
        (b"\x00\x00\x00\x18ftypmp42", "mp4"),
        (b"\x00\x00\x00\x14ftypqt  ", "mov"),
        (b"\x00\x00\x00\x14ftyp3gp4", "3gp"),
        (
            b"\x1aE\xdf\xa3\x9fB\x86\x81\x01B\xf7\x81\x01B\xf2\x81\x04B\xf3\x81\x08B\x82\x84webm",
            "webm",
        ),
        (b"RIFF\x00\x00\x00\x00WAVEfmt ", "wav"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "webp"),
        (b"RIFF\x00\x00\x00\x00AVI LIST", "avi"),
        (b"\xff\xfb\x90\x00", "mp3"),
        (b"\xff\xf1\x50\x80", "aac"),
        (b"\xff\xd8\xff\xe0", "jpeg"),
        (b"OggS\x00\x02", "ogg"),
        (b"RIFF\x00\x00\x00\x00XXXX", None),
        (b'{"error": "expired"}', None),
        (b"", None),
    ],
)
def test_containers_are_named_by_their_first_bytes(head: bytes, container: str | None) -> None:
    assert sniff_container(head) == container


def test_the_download_check_recognises_formats_as_the_probe_does() -> None:
    assert is_media_container(b"\x00\x00\x00\x14ftypqt  ")
    assert not is_media_container(b"\x89PNG\r\n\x1a\n")
    assert is_image(b"RIFF\x00\x00\x00\x00WEBPVP8 ")
    assert not is_image(b"RIFF\x00\x00\x00\x00WAVEfmt ")
