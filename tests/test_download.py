"""Downloads stream to disk, resume when cut, verify their size, and never carry the key."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from prefect_gmicloud.client import GMIRequest, RetryPolicy
from prefect_gmicloud.errors import DownloadError, IntegrityError
from prefect_gmicloud.simulator import Simulator
from prefect_gmicloud.transfer import download_file
from tests.conftest import FAST_RETRIES, R2V_PAYLOAD, client_for


async def finished_request(sim: Simulator, **payload_changes: object) -> GMIRequest:
    async with client_for(sim) as client:
        request = await client.submit("wan2.7-r2v", {**R2V_PAYLOAD, **payload_changes})
        return await client.wait(request.request_id)


def served_file(sim: Simulator, request: GMIRequest) -> bytes:
    """The bytes the simulator serves for the request's video."""
    return sim.served_file(request.request_id, "video.mp4").read_bytes()


async def test_download_is_complete_and_hashed(sim: Simulator, tmp_path: Path) -> None:
    done = await finished_request(sim)
    assert done.video is not None
    file = await download_file(done.video.url, tmp_path / "v.mp4")
    original = served_file(sim, done)
    assert file.path.read_bytes() == original
    assert file.size == len(original) and file.sha256 == hashlib.sha256(original).hexdigest()
    assert file.content_type == "video/mp4" and file.resumed == 0
    assert not (tmp_path / "v.mp4.part").exists()


async def test_cut_download_resumes_with_range(sim: Simulator, tmp_path: Path) -> None:
    done = await finished_request(sim)
    assert done.video is not None
    sim.state.inject("file", "truncate", "truncate")
    file = await download_file(done.video.url, tmp_path / "v.mp4", retry_policy=FAST_RETRIES)
    original = served_file(sim, done)
    assert file.resumed == 2
    assert file.sha256 == hashlib.sha256(original).hexdigest()
    assert sim.stats.files_served == 3


def flaky_storage(body: bytes, answers: list[str]) -> tuple[httpx.MockTransport, list[str | None]]:
    """A storage host that answers each GET as scripted: short, full, ranged or oversized."""
    seen: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("range"))
        assert "authorization" not in request.headers
        assert request.headers["accept-encoding"] == "identity"
        answer = answers[min(len(seen), len(answers)) - 1]
        length = {"content-length": str(len(body))}
        if answer == "short":
            return httpx.Response(200, headers=length, stream=httpx.ByteStream(body[:100]))
        if answer == "oversized":
            return httpx.Response(
                200, headers={"content-length": "10"}, stream=httpx.ByteStream(body)
            )
        return httpx.Response(200, headers=length, stream=httpx.ByteStream(body))

    return httpx.MockTransport(handler), seen


BODY = bytes(range(256)) * 64


async def test_short_body_is_resumed_and_a_server_ignoring_range_restarts(tmp_path: Path) -> None:
    transport, seen = flaky_storage(BODY, ["short", "full"])
    async with httpx.AsyncClient(transport=transport) as http:
        file = await download_file(
            "https://files.example/x.bin", tmp_path / "x.bin", http=http, retry_policy=FAST_RETRIES
        )
    assert seen == [None, "bytes=100-"]
    assert file.path.read_bytes() == BODY and file.sha256 == hashlib.sha256(BODY).hexdigest()


async def test_retries_are_bounded_and_leave_nothing_behind(tmp_path: Path) -> None:
    transport, seen = flaky_storage(BODY, ["short"])
    async with httpx.AsyncClient(transport=transport) as http:
        with pytest.raises(DownloadError, match="gave up after 3 tries"):
            await download_file(
                "https://files.example/x.bin",
                tmp_path / "x.bin",
                http=http,
                retry_policy=RetryPolicy(max_attempts=3, base_delay=0.001),
            )
    assert len(seen) == 3 and list(tmp_path.iterdir()) == []


async def test_more_bytes_than_announced_is_an_integrity_error(tmp_path: Path) -> None:
    transport, _ = flaky_storage(BODY, ["oversized"])
    async with httpx.AsyncClient(transport=transport) as http:
        with pytest.raises(IntegrityError, match="the server announced 10"):
            await download_file("https://files.example/x.bin", tmp_path / "x.bin", http=http)
    assert list(tmp_path.iterdir()) == []


async def test_size_cap_is_enforced_before_reading(sim: Simulator, tmp_path: Path) -> None:
    done = await finished_request(sim)
    assert done.video is not None
    with pytest.raises(DownloadError, match="over the 1000-byte limit"):
        await download_file(done.video.url, tmp_path / "v.mp4", max_bytes=1000)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://files.example/a.mp4", "/etc/passwd"])
async def test_only_http_urls_are_downloaded(url: str, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="refusing"):
        await download_file(url, tmp_path / "x")


async def test_missing_file_is_not_retried(sim: Simulator, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="HTTP 404"):
        await download_file(f"{sim.apps.files_base_url}/files/nope/video.mp4", tmp_path / "x")
    assert sim.stats.files_served == 0


async def test_downloads_never_carry_credentials(
    make_simulator: Callable[..., Simulator], tmp_path: Path
) -> None:
    sim = make_simulator()
    done = await finished_request(sim)
    for asset in done.assets:
        await download_file(asset.url, tmp_path / asset.filename)
    assert sim.stats.files_served == 2
    assert sim.stats.file_requests_with_authorization == 0 and not sim.stats.foreign_headers_seen
