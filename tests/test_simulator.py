"""The simulator speaks the documented API and serves real media from a second host."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import av
import httpx
import pytest

from prefect_gmicloud import GMICloudClient
from prefect_gmicloud.models import Wan27R2VPayload
from prefect_gmicloud.simulator import Simulator
from prefect_gmicloud.simulator.app import API_PREFIX
from prefect_gmicloud.simulator.catalogue import frame_size
from tests.conftest import R2V_PAYLOAD, client_for
from tests.processes import start_in_group, stop_group

ROOT = Path(__file__).resolve().parent.parent
#: A quick model to fetch files of: a second of speech.
SPEECH = "minimax-tts-speech-2.8-hd"


def probe(path: Path) -> tuple[int, int, float, str]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert container.duration is not None
        return stream.width, stream.height, container.duration / 1e6, stream.codec_context.name


def test_cli_simulator_serves_an_r2v_request_to_a_plain_client_script(tmp_path: Path) -> None:
    env = {**os.environ, "PREFECT_GMICLOUD_SIM_CACHE": str(tmp_path / "cache")}
    server = start_in_group(
        [sys.executable, "-m", "prefect_gmicloud.simulator", "--port", "0",
         "--queue-seconds", "0.2", "--processing-seconds", "0.5", "--api-key", "cli-key"],
        stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        base_url = re.search(r"base_url=(\S+)", server.stdout.readline())
        assert base_url, "the simulator did not print its address"
        out = tmp_path / "clip.mp4"
        script = subprocess.run(
            [sys.executable, "examples/generate_one.py", "--base-url", base_url.group(1),
             "--api-key", "cli-key", "--out", str(out), "--duration", "3"],
            capture_output=True, text=True, timeout=60, cwd=ROOT, env=env,
        )  # fmt: skip
        assert script.returncode == 0, script.stderr
        assert "success" in script.stdout
    finally:
        stop_group(server)
    assert probe(out) == (1280, 720, 3.0, "h264")


@pytest.mark.parametrize(
    ("payload", "size"),
    [
        ({"size": "832*1088"}, (832, 1088)),
        ({"resolution": "720P", "ratio": "9:16"}, (720, 1280)),
        ({"resolution": "1080P", "ratio": "4:3"}, (1440, 1080)),
        ({"resolution": "720P", "ratio": "1:1"}, (720, 720)),
        ({}, (1920, 1080)),
    ],
)
def test_frame_size_follows_the_payload(payload: dict[str, str], size: tuple[int, int]) -> None:
    assert frame_size(payload) == size


async def test_outputs_match_the_payload_and_come_from_another_host(
    sim: Simulator, tmp_path: Path
) -> None:
    payload = Wan27R2VPayload.parse({**R2V_PAYLOAD, "ratio": "9:16", "duration": 2})
    async with client_for(sim) as client:
        done = await client.wait((await client.submit(payload)).request_id)
    assert done.video is not None and done.thumbnail is not None
    assert httpx.URL(done.video.url).port == sim.files_port != sim.port
    async with httpx.AsyncClient() as storage:
        video = (await storage.get(done.video.url)).content
        thumb = await storage.get(done.thumbnail.url)
    (tmp_path / "v.mp4").write_bytes(video)
    assert probe(tmp_path / "v.mp4") == (720, 1280, 2.0, "h264")
    assert thumb.headers["content-type"] == "image/jpeg" and thumb.content[:2] == b"\xff\xd8"


async def test_file_host_refuses_credentials(sim: Simulator, client: GMICloudClient) -> None:
    done = await client.wait((await client.submit(SPEECH, {"text": "x"})).request_id)
    assert done.assets and done.assets[0].kind == "audio"
    url = done.assets[0].url
    async with httpx.AsyncClient() as storage:
        leaked = await storage.get(url, headers={"Authorization": f"Bearer {sim.api_key}"})
        clean = await storage.get(url)
    assert leaked.status_code == 403 and clean.status_code == 200
    assert sim.stats.file_requests_with_authorization == 1
    assert sim.stats.foreign_headers_seen == [httpx.URL(url).path]


async def test_api_client_never_sends_its_key_to_another_host(sim: Simulator) -> None:
    async with client_for(sim) as client:
        done = await client.wait((await client.submit(SPEECH, {"text": "x"})).request_id)
        # Even through the API client's own connection pool, the key stays home.
        response = await client._http.get(done.assets[0].url)
    assert response.status_code == 200
    assert sim.stats.file_requests_with_authorization == 0 and not sim.stats.foreign_headers_seen


async def test_range_requests_and_truncation(sim: Simulator, client: GMICloudClient) -> None:
    done = await client.wait((await client.submit(SPEECH, {"text": "x"})).request_id)
    url = done.assets[0].url
    async with httpx.AsyncClient() as storage:
        whole = (await storage.get(url)).content
        part = await storage.get(url, headers={"Range": "bytes=100-"})
        middle = await storage.get(url, headers={"Range": "bytes=10-19"})
        beyond = await storage.get(url, headers={"Range": f"bytes={len(whole)}-"})
        sim.state.inject("file", "truncate")
        with pytest.raises(httpx.RemoteProtocolError):
            await storage.get(url)
    assert part.status_code == 206 and part.content == whole[100:]
    assert part.headers["content-range"] == f"bytes 100-{len(whole) - 1}/{len(whole)}"
    assert middle.content == whole[10:20]
    assert beyond.status_code == 416


async def test_models_are_listed_on_both_documented_paths(sim: Simulator) -> None:
    headers = {"Authorization": f"Bearer {sim.api_key}"}
    async with httpx.AsyncClient(base_url=sim.root_url, headers=headers) as raw:
        primary = (await raw.get(f"{API_PREFIX}/models")).json()
        alternate = (await raw.get("/api/v1/apikey/models")).json()
        info = (await raw.get(f"{API_PREFIX}/models/wan2.6-r2v")).json()
    assert primary == alternate and "wan2.7-r2v" in primary["model_ids"]
    params = {p["name"]: p for p in info["parameters"]}
    assert params["reference_video_urls"]["required"] is True
    assert params["duration"]["type"] == "integer"


async def test_documented_record_fields(sim: Simulator) -> None:
    headers = {"Authorization": f"Bearer {sim.api_key}"}
    body = {"model": "wan2.7-r2v", "payload": R2V_PAYLOAD}
    async with httpx.AsyncClient(base_url=sim.base_url, headers=headers) as raw:
        created = (await raw.post("/requests", json=body)).json()
        record = (await raw.get(f"/requests/{created['request_id']}")).json()
        listing = (await raw.get("/requests", params={"model_id": "wan2.7-r2v"})).json()
        other = (await raw.get("/requests", params={"model_id": "wan2.6-r2v"})).json()
    assert set(created) == {
        "request_id",
        "model",
        "status",
        "created_at",
        "updated_at",
        "queued_at",
    }
    assert created["status"] == "queued" and isinstance(created["created_at"], int)
    assert {"org_id", "is_public", "payload", "outcome"} <= set(record)
    assert record["payload"] == R2V_PAYLOAD
    assert listing["total"] == 1 and listing["requests"][0]["request_id"] == created["request_id"]
    assert other == {"requests": [], "total": 0}


async def test_counters_show_peak_concurrency(make_simulator: Callable[..., Simulator]) -> None:
    sim = make_simulator(processing_seconds=5)
    async with client_for(sim) as client:
        for seed in range(3):
            await client.submit("wan2.7-r2v", {**R2V_PAYLOAD, "seed": seed})
        await client.submit("wan2.7-r2v", {**R2V_PAYLOAD, "seed": 0})
    assert sim.stats.peak_active == 4
    assert sim.stats.created == 4 and sim.stats.duplicate_submits == 1
