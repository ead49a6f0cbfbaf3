"""wait() follows a request to its end over HTTP, whatever shapes and statuses it meets."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from prefect_gmicloud import GMICloudClient, RequestFailed, WaitTimeout
from prefect_gmicloud.client import GMIRequest, RequestStatus, WaitPolicy
from prefect_gmicloud.client.submit_answers import SubmitAnswers
from prefect_gmicloud.client.wait_schedule import DurationMemory
from prefect_gmicloud.errors import RequestCancelled, ServerError
from prefect_gmicloud.models import Wan27R2VPayload
from prefect_gmicloud.simulator import FaultRates, Simulator, SimulatorConfig
from prefect_gmicloud.simulator.app import API_PREFIX, SimulatorApps
from prefect_gmicloud.simulator.config import ScriptedFault
from prefect_gmicloud.simulator.media import MediaRenderer
from prefect_gmicloud.simulator.state import SimulatorState
from tests.conftest import FAST_RETRIES, R2V_PAYLOAD, client_for

PAYLOAD = Wan27R2VPayload.parse(R2V_PAYLOAD)


async def test_wait_returns_the_finished_record_and_reports_each_change(sim: Simulator) -> None:
    seen: list[str] = []
    async with client_for(sim) as client:
        request = await client.submit(PAYLOAD)
        done = await client.wait(request.request_id, on_change=lambda r: seen.append(str(r.status)))
    assert done.status == RequestStatus.SUCCESS
    assert seen[-1] == "success" and len(seen) == len(set(seen))
    assert done.video is not None and done.thumbnail is not None


async def test_failed_request_raises_with_its_reason(
    make_simulator: Callable[..., Simulator],
) -> None:
    sim = make_simulator(faults=FaultRates(fail=1.0))
    async with client_for(sim) as client:
        request = await client.submit(PAYLOAD)
        with pytest.raises(RequestFailed, match="did not converge") as caught:
            await client.wait(request.request_id)
        assert caught.value.request.request_id == request.request_id
        record = await client.wait(request.request_id, raise_on_failure=False)
        assert record.status == RequestStatus.FAILED


def test_cancelled_request_error_names_the_request() -> None:
    record = GMIRequest(request_id="r-5", model="wan2.7-r2v", status="cancelled")
    assert "r-5" in str(RequestCancelled(record))


async def test_stuck_request_times_out_and_stays_alive(
    make_simulator: Callable[..., Simulator],
) -> None:
    sim = make_simulator(faults=FaultRates(stuck=1.0))
    policy = WaitPolicy(initial_interval=0.05, max_interval=0.1, processing_timeout=0.5)
    async with client_for(sim) as client:
        request = await client.submit(PAYLOAD)
        with pytest.raises(WaitTimeout) as caught:
            await client.wait(request.request_id, policy=policy)
        error = caught.value
        assert error.request_id == request.request_id and error.phase == "processing"
        assert error.last_status == "processing"
        assert (await client.get(request.request_id)).status == RequestStatus.PROCESSING


async def test_queue_deadline(make_simulator: Callable[..., Simulator]) -> None:
    sim = make_simulator(queue_seconds=30)
    policy = WaitPolicy(initial_interval=0.05, max_interval=0.1, queue_timeout=0.3)
    async with client_for(sim) as client:
        request = await client.submit(PAYLOAD)
        with pytest.raises(WaitTimeout) as caught:
            await client.wait(request.request_id, policy=policy)
    assert caught.value.phase == "queue" and caught.value.last_status == "queued"


async def test_unknown_statuses_are_waited_through(
    make_simulator: Callable[..., Simulator], caplog: pytest.LogCaptureFixture
) -> None:
    sim = make_simulator(
        faults=FaultRates(unknown_status=1.0), queue_seconds=0.2, processing_seconds=0.4
    )
    seen: list[str] = []
    async with client_for(sim) as client:
        request = await client.submit(PAYLOAD)
        assert request.status == RequestStatus.DISPATCHED
        done = await client.wait(request.request_id, on_change=lambda r: seen.append(str(r.status)))
    assert done.status == RequestStatus.SUCCESS
    assert "warming_up" in seen
    assert "unknown status 'warming_up': treated as still running" in caplog.text


async def test_media_urls_outcome(make_simulator: Callable[..., Simulator]) -> None:
    sim = make_simulator(faults=FaultRates(media_urls=1.0))
    async with client_for(sim) as client:
        done = await client.wait((await client.submit(PAYLOAD)).request_id)
    assert "media_urls" in (done.outcome or {})
    assert done.video is not None and done.video.url.endswith("video.mp4")
    assert done.thumbnail is not None and done.thumbnail.url.endswith("thumb.jpg")


async def test_a_sync_model_reads_success_at_once_and_its_outcome_later(
    client: GMICloudClient,
) -> None:
    request = await client.submit("minimax-tts-speech-2.8-hd", {"text": "hello"})
    assert request.status == RequestStatus.SUCCESS and not request.assets
    done = await client.wait(request)
    (audio,) = done.assets
    assert audio.kind == "audio" and done.outcome and done.outcome["format"] == "mp3"


async def test_reads_during_a_wait_survive_faults(sim: Simulator, client: GMICloudClient) -> None:
    request = await client.submit(PAYLOAD)
    sim.state.inject("get", "503", "drop", "429")
    done = await client.wait(request.request_id)
    assert done.status == RequestStatus.SUCCESS


async def test_learned_durations_plan_later_waits(make_simulator: Callable[..., Simulator]) -> None:
    sim = make_simulator(queue_seconds=0, processing_seconds=0.6)
    policy = WaitPolicy(initial_interval=0.05, max_interval=1.0, growth=1, jitter=0)
    memory = DurationMemory(min_samples=2)
    polls = []
    async with client_for(sim, wait_policy=policy, durations=memory) as client:
        for seed in range(3):
            before = sim.stats.calls["get"]
            payload = Wan27R2VPayload.parse({**R2V_PAYLOAD, "seed": seed})
            await client.wait((await client.submit(payload)).request_id)
            polls.append(sim.stats.calls["get"] - before)
    learned = memory.model(sim.base_url, PAYLOAD.model_id)
    assert learned is not None and 0.4 < learned.median < 0.8
    assert polls[2] < polls[0] / 2  # two finished requests taught the schedule


async def test_a_wait_outlives_reads_that_fail_beyond_their_retries(
    make_simulator: Callable[..., Simulator], caplog: pytest.LogCaptureFixture
) -> None:
    sim = make_simulator(processing_seconds=0.5)
    # More faults than two reads' retries allow.
    outage: list[ScriptedFault] = ["503"] * (2 * FAST_RETRIES.max_attempts + 1)

    def start_outage(record: GMIRequest) -> None:
        if record.status == RequestStatus.QUEUED:
            sim.state.inject("get", *outage)

    async with client_for(sim) as client:
        request = await client.submit(PAYLOAD)
        done = await client.wait(request.request_id, on_change=start_outage)
    assert done.status == RequestStatus.SUCCESS
    assert sim.stats.faults["get:503"] == len(outage)
    assert "unread" in caplog.text


async def test_a_wait_that_never_reads_a_status_raises_at_once(sim: Simulator) -> None:
    outage: list[ScriptedFault] = ["503"] * FAST_RETRIES.max_attempts
    async with client_for(sim) as submitter:
        request = await submitter.submit(PAYLOAD)
    sim.state.inject("get", *outage)
    async with client_for(sim) as client:  # not its submit: it has no answer to start from
        with pytest.raises(ServerError):
            await client.wait(request.request_id)


async def test_a_wait_right_after_its_submit_starts_from_the_submits_answer(
    make_simulator: Callable[..., Simulator],
) -> None:
    sim = make_simulator(processing_seconds=0.3)
    seen: list[str] = []
    policy = WaitPolicy(initial_interval=0.2, max_interval=0.2, jitter=0)
    async with client_for(sim, batch_reads=False) as client:
        request = await client.submit(PAYLOAD)
        before = sim.stats.calls["get"]
        started = asyncio.get_running_loop().time()

        def report(record: GMIRequest) -> None:
            seen.append(record.status)

        reading = asyncio.ensure_future(
            client.wait(request.request_id, policy=policy, on_change=report)
        )
        await asyncio.sleep(0.1)
        assert sim.stats.calls["get"] == before  # the submit said "queued": nothing to read yet
        assert seen == ["queued"]
        done = await reading
        # Its first GET is one interval after the submit; the second, once more, sees the end.
        assert asyncio.get_running_loop().time() - started >= 0.2
        assert done.status == RequestStatus.SUCCESS
        assert done.video is not None  # a terminal record is always the server's own GET
        # A second wait of the same request has no answer left to take: it reads at once.
        again_before = sim.stats.calls["get"]
        assert (await client.wait(request)).status == RequestStatus.SUCCESS
        assert sim.stats.calls["get"] == again_before + 1


def test_only_running_submit_answers_that_name_their_model_are_kept_briefly() -> None:
    now = [0.0]
    answers = SubmitAnswers(lambda: now[0], keep=5.0)
    answers.put(GMIRequest(request_id="sync", model="tts", status="success"))
    answers.put(GMIRequest(request_id="no-model", status="queued"))
    answers.put(GMIRequest(request_id="odd", model="wan2.7-r2v", status="warming"))
    answers.put(GMIRequest(request_id="old", model="wan2.7-r2v", status="queued"))
    now[0] = 3.0
    answers.put(GMIRequest(request_id="new", model="wan2.7-r2v", status="queued"))
    assert answers.take("sync") is None  # terminal: the wait reads it itself
    assert answers.take("no-model") is None  # its reads could not be batched by model
    assert answers.take("odd") is None  # a status this client does not know
    now[0] = 6.0
    assert answers.take("old") is None  # kept 5 s only
    found = answers.take("new")
    assert found is not None and found[1] == 3.0
    assert answers.take("new") is None  # taken once


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """An event loop whose clock jumps to its next timer instead of sleeping.

    With nothing but in-memory I/O (the simulator's app over ``httpx.ASGITransport``), every
    sleep costs no real time and every time seen is exact, so waits can be timed precisely.
    """

    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0
        select = self._selector.select  # type: ignore[attr-defined]

        def jump(timeout: float | None = None) -> list[Any]:
            ready: list[Any] = select(0)
            if ready or timeout == 0:
                return ready
            if timeout is None:  # no timer at all: only another thread can wake the loop
                return list(select(None))
            self.now += timeout
            return []

        self._selector.select = jump  # type: ignore[attr-defined]

    def time(self) -> float:
        return self.now


@pytest.mark.parametrize("learns", [True, False])
def test_sleeping_waits_replan_once_their_model_is_learned(media_cache: Path, learns: bool) -> None:
    # Two eager waits see their requests end at ~0.55 s; three lazy ones sleep 3 s after their
    # second read. Once the eager ones have taught the model's duration, the lazy ones wake and
    # poll where it says; without learning (too few samples needed) they sleep it out.
    loop = VirtualTimeLoop()
    config = SimulatorConfig(queue_seconds=0.05, processing_seconds=0.5, video_bytes=1000)
    apps = SimulatorApps(SimulatorState(config, clock=loop.time), MediaRenderer(media_cache))
    memory = DurationMemory(min_samples=2 if learns else 99)
    eager = WaitPolicy(initial_interval=0.05, max_interval=0.05, growth=1.0, jitter=0)
    lazy = WaitPolicy(initial_interval=0.1, max_interval=3.0, growth=30.0, jitter=0)

    async def wait_all() -> list[float]:
        client = GMICloudClient(
            config.api_key,
            base_url=f"http://127.0.0.1{API_PREFIX}",
            transport=httpx.ASGITransport(app=apps.api_app()),
            clock=loop.time,
            durations=memory,
            batch_reads=False,  # a shared list showing the ends would wake them too
        )
        async with client:
            requests = [
                await client.submit("wan2.7-r2v", {**R2V_PAYLOAD, "seed": n}) for n in range(5)
            ]

            async def waited(request: GMIRequest, policy: WaitPolicy) -> float:
                await client.wait(request, policy=policy)
                return loop.time()

            return await asyncio.gather(
                *(waited(r, eager if n < 2 else lazy) for n, r in enumerate(requests))
            )

    try:
        times = loop.run_until_complete(wait_all())
    finally:
        loop.close()
    lazy_times = times[2:]
    if learns:
        assert max(lazy_times) < 1.5, times
    else:
        assert min(lazy_times) >= 3.0, times
