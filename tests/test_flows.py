"""The tasks and flows on a real Prefect API, the simulator and a real S3-protocol server."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import cast

import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

from prefect_gmicloud import GMICloudCredentials, PayloadValidationError, RequestFailed
from prefect_gmicloud.client import GMIRequest
from prefect_gmicloud.flows import collect_requests, generate_video
from prefect_gmicloud.flows.finish import log_requests_left_running, requests_of_run
from prefect_gmicloud.models import Wan27R2VPayload
from prefect_gmicloud.simulator import FaultRates, Simulator
from prefect_gmicloud.storage import S3Destination
from prefect_gmicloud.tasks import submit_request, wait_for_request
from tests.conftest import (
    R2V_PAYLOAD,
    PrefectPlaces,
    client_for,
    credentials_for,
    read_object,
)

pytestmark = pytest.mark.usefixtures("prefect_api")

SECRET_KEY = "sk-flow-secret-0xDEADBEEF-do-not-leak"
POLL = 0.05


@pytest.fixture
def secret_sim(make_simulator: Callable[..., Simulator]) -> Simulator:
    return make_simulator(api_key=SECRET_KEY)


async def event_names(request_id: str, expected: int) -> list[str]:
    """The events the Prefect server holds for a request (it persists them in batches)."""
    body = {"filter": {"resource": {"id": [f"gmicloud.request.{request_id}"]}}, "limit": 50}
    async with get_client() as prefect, asyncio.timeout(30):
        while True:
            response = await prefect.request("POST", "/events/filter", json=body)
            events = response.json()["events"]
            if len(events) >= expected:
                return sorted(event["event"] for event in events)
            await asyncio.sleep(0.5)


def served_sha256(sim: Simulator, request_id: str, name: str) -> str:
    return hashlib.sha256(sim.served_file(request_id, name).read_bytes()).hexdigest()


def stored_sha256(bucket: S3Destination, key: str) -> str:
    return hashlib.sha256(read_object(bucket, key)).hexdigest()


async def test_generate_video_stores_the_video_and_thumbnail(
    sim: Simulator, bucket: S3Destination
) -> None:
    result = await generate_video(
        "wan2.7-r2v", R2V_PAYLOAD, bucket, credentials_for(sim), name="shot-1", poll_interval=POLL
    )
    assert result.video is not None and result.thumbnail is not None
    assert result.video.key == "out/videos/shot-1/video.mp4"
    assert result.thumbnail.key == "out/videos/shot-1/thumbnail.jpg"
    for stored, name in ((result.video, "video.mp4"), (result.thumbnail, "thumb.jpg")):
        assert stored.sha256 == served_sha256(sim, result.request_id, name)
        assert stored_sha256(bucket, stored.key) == stored.sha256
    head = bucket.s3_client().head_object(Bucket=bucket.bucket, Key=result.video.key)
    assert head["Metadata"]["gmi-request-id"] == result.request_id
    assert result.wait_seconds > 0 and sim.stats.created == 1


async def test_events_tell_automations_what_happened(
    make_simulator: Callable[..., Simulator], bucket: S3Destination
) -> None:
    sim = make_simulator()
    result = await generate_video(
        "wan2.7-r2v", R2V_PAYLOAD, bucket, credentials_for(sim), poll_interval=POLL
    )
    assert await event_names(result.request_id, expected=2) == [
        "gmicloud.request.submitted",
        "gmicloud.request.succeeded",
    ]
    sim.config.faults.fail = 1.0
    with pytest.raises(RequestFailed):
        await generate_video(
            "wan2.7-r2v",
            {**R2V_PAYLOAD, "seed": 3},
            bucket,
            credentials_for(sim),
            poll_interval=POLL,
        )
    failed = next(i for i in sim.state.requests if i != result.request_id)
    assert await event_names(failed, expected=2) == [
        "gmicloud.request.failed",
        "gmicloud.request.submitted",
    ]


async def test_retried_flow_run_resumes_the_request_instead_of_paying_again(
    make_simulator: Callable[..., Simulator], bucket: S3Destination
) -> None:
    # The first run's wait times out after the submit; the retry must find the same request.
    sim = make_simulator(queue_seconds=0.0, processing_seconds=1.5)
    retrying = generate_video.with_options(retries=1, retry_delay_seconds=0)
    result = await retrying(
        "wan2.7-r2v",
        R2V_PAYLOAD,
        bucket,
        credentials_for(sim),
        processing_timeout=1.0,
        poll_interval=POLL,
    )
    assert sim.stats.calls["submit"] == 1 and sim.stats.created == 1
    assert result.video is not None
    assert stored_sha256(bucket, result.video.key) == served_sha256(
        sim, result.request_id, "video.mp4"
    )


async def test_cut_download_resumes_and_the_stored_object_is_intact(
    sim: Simulator, bucket: S3Destination
) -> None:
    sim.state.inject("file", "truncate")
    result = await generate_video(
        "wan2.7-r2v", R2V_PAYLOAD, bucket, credentials_for(sim), poll_interval=POLL
    )
    assert sim.stats.faults["file:truncate"] == 1
    assert result.video is not None
    assert stored_sha256(bucket, result.video.key) == served_sha256(
        sim, result.request_id, "video.mp4"
    )


async def test_invalid_payload_sends_nothing(sim: Simulator, bucket: S3Destination) -> None:
    with pytest.raises(PayloadValidationError, match="duration: must be <= 15"):
        await generate_video(
            "wan2.7-r2v", {**R2V_PAYLOAD, "duration": 20}, bucket, credentials_for(sim)
        )
    with pytest.raises(ValueError, match="unsafe S3 key"):
        await generate_video("wan2.7-r2v", R2V_PAYLOAD, bucket, credentials_for(sim), name="../x")
    assert sum(sim.stats.calls.values()) == 0


async def test_failed_request_raises_and_was_recorded_first(
    make_simulator: Callable[..., Simulator], bucket: S3Destination
) -> None:
    sim = make_simulator(faults=FaultRates(fail=1.0))
    with pytest.raises(RequestFailed, match="did not converge"):
        await generate_video(
            "wan2.7-r2v", R2V_PAYLOAD, bucket, credentials_for(sim), poll_interval=POLL,
            name="Opening Shot",
        )  # fmt: skip
    (request_id,) = sim.state.requests
    async with get_client() as prefect:
        artifacts = await prefect.read_artifacts(
            artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=["gmicloud-video-opening-shot"])
            )
        )
    # One key per named video: the submit, then the outcome, as versions of it.
    pages = sorted(str(a.data) for a in artifacts)
    assert len(pages) == 2 and all(request_id in page and "Opening Shot" in page for page in pages)
    assert any("submitted" in page for page in pages)
    assert any("failed" in page and "did not converge" in page for page in pages)


async def test_cancelled_run_names_the_requests_left_running(
    make_simulator: Callable[..., Simulator],
    bucket: S3Destination,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sim = make_simulator(faults=FaultRates(fail=1.0))
    state = await generate_video(
        "wan2.7-r2v", R2V_PAYLOAD, bucket, credentials_for(sim), poll_interval=POLL,
        return_state=True,
    )  # fmt: skip
    (request_id,) = sim.state.requests
    assert state.state_details.flow_run_id is not None
    async with get_client() as prefect:
        flow_run = await prefect.read_flow_run(state.state_details.flow_run_id)
    assert await requests_of_run(flow_run.id) == [request_id]
    await log_requests_left_running(generate_video, flow_run, state)
    assert "as no cancel endpoint exists" in caplog.text and request_id in caplog.text


async def test_collect_requests_recovers_paid_work_by_id_and_manifest(
    make_simulator: Callable[..., Simulator], bucket: S3Destination, tmp_path: Path
) -> None:
    sim = make_simulator()
    async with client_for(sim) as client:
        ids = [
            (await client.submit("wan2.7-r2v", {**R2V_PAYLOAD, "seed": seed})).request_id
            for seed in range(3)
        ]
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"shots": [{"id": "a", "request_id": ids[2]}]}))
    results = await collect_requests(
        bucket,
        request_ids=ids[:2],
        manifest=str(manifest),
        credentials=credentials_for(sim),
        poll_interval=POLL,
    )
    assert [r.request_id for r in results] == ids and all(r.ok for r in results)
    assert sim.stats.created == 3 and sim.stats.calls["submit"] == 3
    for outcome in results:
        assert outcome.result is not None and outcome.result.video is not None
        assert outcome.result.video.key == f"out/collected/{outcome.request_id}/video.mp4"


async def test_collect_reports_each_failure_without_sinking_the_rest(
    make_simulator: Callable[..., Simulator], bucket: S3Destination
) -> None:
    sim = make_simulator()
    async with client_for(sim) as client:
        good = (await client.submit("wan2.7-r2v", R2V_PAYLOAD)).request_id
        bad = (await client.submit("wan2.7-r2v", {**R2V_PAYLOAD, "seed": 9})).request_id
    sim.state.requests[bad].ends = "failed"
    unknown = "00000000-0000-4000-8000-000000000000"
    results = await collect_requests(
        bucket,
        request_ids=[good, bad, unknown],
        credentials=credentials_for(sim),
        poll_interval=POLL,
    )
    assert [(r.request_id, r.ok) for r in results] == [(good, True), (bad, False), (unknown, False)]
    assert results[1].error is not None and "failed" in results[1].error
    assert results[2].error is not None and "request not found" in results[2].error


def test_tasks_compose_in_a_sync_flow(sim: Simulator) -> None:
    @flow
    def sync_pipeline(credentials: GMICloudCredentials) -> str:
        payload = Wan27R2VPayload.parse(R2V_PAYLOAD)
        # Prefect resolves an async task's future to its value; its stubs say "coroutine".
        request = cast(GMIRequest, submit_request.submit(credentials, payload).result())
        done = cast(GMIRequest, wait_for_request.submit(credentials, request.request_id).result())
        return str(done.status)

    assert sync_pipeline(credentials_for(sim)) == "success"


async def test_the_api_key_is_nowhere_after_runs(
    secret_sim: Simulator,
    bucket: S3Destination,
    prefect_api: PrefectPlaces,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    credentials = credentials_for(secret_sim)
    await credentials.save("secret-test-creds", overwrite=True)
    secret_sim.state.inject("file", "truncate")
    secret_sim.state.inject("submit", "drop_after_create")
    await generate_video("wan2.7-r2v", R2V_PAYLOAD, bucket, credentials, poll_interval=POLL)
    await generate_video(
        "wan2.7-r2v", {**R2V_PAYLOAD, "seed": 5}, bucket, "secret-test-creds", poll_interval=POLL
    )
    with pytest.raises(RequestFailed):
        secret_sim.config.faults.fail = 1.0
        await generate_video(
            "wan2.7-r2v", {**R2V_PAYLOAD, "seed": 6}, bucket, credentials, poll_interval=POLL
        )

    assert SECRET_KEY not in caplog.text
    assert await prefect_api.holding(SECRET_KEY) == []
    assert secret_sim.stats.file_requests_with_authorization == 0
    assert not secret_sim.stats.foreign_headers_seen
