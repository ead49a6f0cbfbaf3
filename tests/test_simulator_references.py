"""The simulator downloads a request's references as GMI's workers must, and renders from them."""

from __future__ import annotations

import io
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import av
import httpx
import imageio_ffmpeg
import numpy as np
import pytest

from prefect_gmicloud import GMICloudClient, RequestFailed
from prefect_gmicloud.client.records import GMIRequest
from prefect_gmicloud.simulator import Simulator
from prefect_gmicloud.simulator.__main__ import parse_args
from prefect_gmicloud.simulator.media import ClipSpec, MediaRenderer
from prefect_gmicloud.simulator.references import is_placeholder, reference_urls, without_query
from prefect_gmicloud.storage import S3Destination
from tests.conftest import R2V_PAYLOAD, client_for


class RefServer:
    """A loopback file host: ``files`` maps a path to (status, body); it records what it got."""

    def __init__(self) -> None:
        self.files: dict[str, tuple[int, bytes]] = {}
        self.headers_seen: list[dict[str, str]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.headers_seen.append({k.lower(): v for k, v in self.headers.items()})
                status, body = owner.files.get(self.path.split("?")[0], (404, b"missing"))
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"

    def serve(self, path: str, body: bytes, status: int = 200) -> str:
        self.files[path] = (status, body)
        return self.base + path


@pytest.fixture
def refs() -> Iterator[RefServer]:
    server = RefServer()
    thread = threading.Thread(target=server.server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()


def image_png(path: Path, source: str = "mandelbrot=s=320x240") -> bytes:
    """A PNG unlike the simulator's test pattern, made with the bundled ffmpeg."""
    subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", "-f", "lavfi", "-i", source,
         "-frames:v", "1", str(path)],
        check=True,
    )  # fmt: skip
    return path.read_bytes()


async def finish(client: GMICloudClient, model: str, payload: dict[str, Any]) -> GMIRequest:
    return await client.wait((await client.submit(model, payload)).request_id)


async def test_a_reference_that_cannot_be_fetched_fails_the_request(
    sim: Simulator, client: GMICloudClient, refs: RefServer
) -> None:
    payload = {
        **R2V_PAYLOAD,
        "reference_video": [refs.serve("/gone.mp4", b"expired", status=403)],
        "reference_image": ["https://refs.example/guest.png", refs.base + "/missing.png"],
        "prompt": "Video1 hands Image1 and Image2 a coffee",
    }
    with pytest.raises(RequestFailed) as failed:
        await finish(client, "wan2.7-r2v", payload)
    reason = failed.value.request.failure_reason
    assert reason == (
        "reference_image[1] could not be fetched: HTTP 404; "
        "reference_video[0] could not be fetched: HTTP 403"
    )
    assert sim.state.reference_fetches == {
        refs.base + "/gone.mp4": 1,
        refs.base + "/missing.png": 1,
    }


async def test_unreachable_slow_and_oversized_references_fail_naming_the_field(
    make_simulator: Callable[..., Simulator], refs: RefServer
) -> None:
    sim = make_simulator(reference_timeout_seconds=0.5, reference_max_bytes=1000)
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        refused = f"http://127.0.0.1:{closed.getsockname()[1]}/a.png"
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        mute = f"http://127.0.0.1:{silent.getsockname()[1]}/b.mp4"
        big = refs.serve("/big.wav", b"x" * 1001)
        async with client_for(sim) as client:
            reasons = []
            for field, url in (("first_frame", refused), ("first_clip", mute),
                               ("driving_audio", big)):  # fmt: skip
                with pytest.raises(RequestFailed) as failed:
                    await finish(client, "wan2.7-i2v", {"prompt": "p", field: url, "duration": 2})
                reasons.append(failed.value.request.failure_reason)
    assert reasons[0] is not None and reasons[0].startswith(
        "first_frame could not be fetched: ConnectError"
    )
    assert reasons[1] == "first_clip could not be fetched: no answer within 0.5 s"
    assert reasons[2] == (
        "driving_audio could not be fetched: more than the 1000 bytes a reference may have"
    )


async def test_served_references_are_fetched_once_per_request_without_credentials(
    sim: Simulator, client: GMICloudClient, refs: RefServer
) -> None:
    video = refs.serve("/barista.mp4", b"\x00\x00\x00\x18ftypmp42")
    for signature in ("a", "b"):  # two presigned links to one object count together
        done = await finish(
            client, "wan2.7-r2v", {**R2V_PAYLOAD, "reference_video": [f"{video}?sig={signature}"]}
        )
        assert done.status == "success"
    assert sim.state.reference_fetches == {video: 2}
    assert sim.stats.summary()["reference_fetches"] == {video: 2}
    assert len(refs.headers_seen) == 2
    for headers in refs.headers_seen:
        assert "authorization" not in headers and "cookie" not in headers
        assert not any(sim.api_key in value for value in headers.values())


async def test_presigned_s3_links_are_fetched(
    sim: Simulator, client: GMICloudClient, bucket: S3Destination
) -> None:
    s3 = bucket.s3_client()
    s3.put_object(Bucket=bucket.bucket, Key="refs/guest.png", Body=b"\x89PNG\r\n\x1a\nnot-really")
    url = s3.generate_presigned_url(
        "get_object", Params={"Bucket": bucket.bucket, "Key": "refs/guest.png"}, ExpiresIn=600
    )
    missing = s3.generate_presigned_url(
        "get_object", Params={"Bucket": bucket.bucket, "Key": "refs/nobody.png"}, ExpiresIn=600
    )
    base = {"prompt": "Image1 waves", "resolution": "720P", "duration": 2}
    done = await finish(client, "wan2.7-r2v", {**base, "reference_image": [url]})
    assert done.status == "success"
    with pytest.raises(RequestFailed, match=r"reference_image\[0\] could not be fetched: HTTP 404"):
        await finish(client, "wan2.7-r2v", {**base, "reference_image": [missing]})
    assert sim.state.reference_fetches[without_query(url)] == 1


async def test_placeholder_hosts_are_never_fetched_and_fetching_can_be_turned_off(
    make_simulator: Callable[..., Simulator], refs: RefServer
) -> None:
    on, off = make_simulator(), make_simulator(fetch_references=False)
    broken = refs.base + "/broken.mp4"
    for sim, payload in (
        (on, {**R2V_PAYLOAD, "reference_image": ["https://example.com/guest.png"]}),
        (off, {**R2V_PAYLOAD, "reference_video": [broken]}),
    ):
        async with client_for(sim) as client:
            assert (await finish(client, "wan2.7-r2v", payload)).status == "success"
        assert sim.state.reference_fetches == {}
    assert refs.headers_seen == []


@pytest.mark.parametrize(
    ("url", "placeholder"),
    [
        ("https://example.com/a.png", True),
        ("https://cdn.example.org/a.png", True),
        ("http://EXAMPLE.NET/a.png", True),
        ("https://refs.example/a.png", True),
        ("https://bucket.s3.invalid/a.png", True),
        ("https://storage.test./a.png", True),
        ("https://notexample.com/a.png", False),
        ("https://example.com.evil.io/a.png", False),
        ("http://127.0.0.1:9000/bucket/a.png?X-Amz-Signature=1", False),
        ("https://storage.googleapis.com/example/a.png", False),
    ],
)
def test_placeholder_hosts(url: str, placeholder: bool) -> None:
    assert is_placeholder(url) is placeholder


def test_reference_urls_label_every_media_field() -> None:
    payload = {
        "prompt": "https://not.a.field/x",
        "first_frame": "https://a.test/f.png",
        "reference_image": "https://a.test/i.png",
        "reference_video_urls": ["https://a.test/1.mp4", "https://a.test/2.mp4"],
        "audio_url": "oss://bucket/a.wav",
        "video": "HTTPS://a.test/v.mp4",
    }
    assert reference_urls(payload) == [
        ("first_frame", "https://a.test/f.png"),
        ("reference_image", "https://a.test/i.png"),
        ("reference_video_urls[0]", "https://a.test/1.mp4"),
        ("reference_video_urls[1]", "https://a.test/2.mp4"),
        ("video", "HTTPS://a.test/v.mp4"),
    ]


def first_frame(video: bytes, size: tuple[int, int] | None = None) -> np.ndarray[Any, Any]:
    with av.open(io.BytesIO(video), mode="r") as container:
        frame = next(container.decode(video=0))
    if size is not None:
        frame = frame.reformat(width=size[0], height=size[1])
    return frame.to_ndarray(format="rgb24").astype(np.float64)


@pytest.mark.parametrize(
    ("model", "field", "extra"),
    [
        ("wan2.7-i2v", "first_frame", {"resolution": "720P", "duration": 2}),
        ("wan2.6-i2v", "img_url", {"resolution": "720P", "duration": 5}),
        ("wan2.7-r2v", "first_frame", {**R2V_PAYLOAD}),
    ],
)
async def test_the_video_starts_on_the_given_first_frame(
    client: GMICloudClient,
    refs: RefServer,
    tmp_path: Path,
    model: str,
    field: str,
    extra: dict[str, Any],
) -> None:
    image = image_png(tmp_path / "frame.png")
    payload = {**extra, "prompt": extra.get("prompt", "the fox turns"), field: None}
    payload[field] = refs.serve(f"/{model}.png", image)
    done = await finish(client, model, payload)
    assert done.video is not None and done.thumbnail is not None
    async with httpx.AsyncClient() as storage:
        video = (await storage.get(done.video.url)).content
        thumb = (await storage.get(done.thumbnail.url)).content
    opening = first_frame(video)
    height, width = opening.shape[:2]
    expected = first_frame(image, (width, height))
    assert np.abs(opening - expected).mean() < 8
    assert np.abs(first_frame(thumb) - expected).mean() < 8
    with av.open(io.BytesIO(video), mode="r") as container:
        *_, closing = container.decode(video=0)
    # The clip moves on from the image: the comparison above could fail.
    assert np.abs(closing.to_ndarray(format="rgb24").astype(np.float64) - expected).mean() > 30


async def test_the_video_ends_on_the_given_last_frame(
    client: GMICloudClient, refs: RefServer, tmp_path: Path
) -> None:
    start = refs.serve("/start.png", image_png(tmp_path / "start.png"))
    end_image = image_png(tmp_path / "end.png", "color=c=red:s=160x120")
    end = refs.serve("/end.png", end_image)
    payload = {"prompt": "p", "first_frame": start, "last_frame": end, "duration": 2}
    done = await finish(client, "wan2.7-i2v", payload)
    assert done.video is not None
    async with httpx.AsyncClient() as storage:
        video = (await storage.get(done.video.url)).content
    with av.open(io.BytesIO(video), mode="r") as container:
        *_, closing = container.decode(video=0)
    red = closing.to_ndarray(format="rgb24").astype(np.float64).mean(axis=(0, 1))
    assert red[0] > 230 and red[1] < 25 and red[2] < 25


async def test_an_edit_without_duration_keeps_the_source_length_and_its_silence(
    client: GMICloudClient, refs: RefServer, media_cache: Path
) -> None:
    source = MediaRenderer(media_cache).video(ClipSpec(320, 180, 3, "source"))  # no sound
    url = refs.serve("/source.mp4", source.read_bytes())
    edits = {}
    for setting in ("origin", "auto"):
        payload = {"prompt": "make it snow", "video": url, "audio_setting": setting}
        done = await finish(client, "wan2.7-videoedit", payload)
        assert done.video is not None
        async with httpx.AsyncClient() as storage:
            video = (await storage.get(done.video.url)).content
        with av.open(io.BytesIO(video), mode="r") as container:
            assert container.duration is not None
            edits[setting] = (container.duration / 1e6, len(container.streams.audio))
    assert edits == {"origin": (3.0, 0), "auto": (3.0, 1)}


def test_the_cli_turns_fetching_off() -> None:
    assert parse_args([]).fetch_references is True
    assert parse_args(["--no-fetch-references"]).fetch_references is False


def test_two_presigned_links_to_one_object_are_one_payload_for_duplicate_counting() -> None:
    from prefect_gmicloud.simulator.state import payload_key

    def signed(signature: str) -> dict[str, Any]:
        url = f"http://127.0.0.1:9000/b/refs/a.png?X-Amz-Signature={signature}"
        return {"prompt": "p", "first_frame": url, "reference_image": [url]}

    assert payload_key("wan2.7-r2v", signed("aa")) == payload_key("wan2.7-r2v", signed("bb"))
    other = signed("aa") | {"first_frame": "http://127.0.0.1:9000/b/refs/b.png?X-Amz-Signature=aa"}
    assert payload_key("wan2.7-r2v", other) != payload_key("wan2.7-r2v", signed("aa"))
