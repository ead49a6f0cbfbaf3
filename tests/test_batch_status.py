"""Batch status reads: concurrent waits of one model share GET /requests calls, safely."""

from __future__ import annotations

import asyncio
import functools
import json
import math
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from prefect_gmicloud import WaitTimeout
from prefect_gmicloud.client import GMIRequest, RequestStatus, WaitPolicy
from prefect_gmicloud.client.batch_reads import BatchObserver, BatchSettings, StatusBoard
from prefect_gmicloud.client.wait_schedule import DurationMemory
from prefect_gmicloud.simulator import FaultRates, Simulator
from tests.conftest import R2V_PAYLOAD, client_for

MODEL = "wan2.7-r2v"


def payload(seed: int) -> dict[str, Any]:
    return {**R2V_PAYLOAD, "seed": seed}


class RewriteList(httpx.AsyncBaseTransport):
    """Passes every call to the server; rewrites the body of ``GET /requests``."""

    def __init__(self, rewrite: Callable[[Any], Any]) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self._rewrite = rewrite

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._inner.handle_async_request(request)
        if request.method != "GET" or not request.url.path.endswith("/requests"):
            return response
        body = json.loads(await response.aread())
        return httpx.Response(response.status_code, json=self._rewrite(body))

    async def aclose(self) -> None:
        await self._inner.aclose()


async def wait_all(sim: Simulator, count: int, **options: Any) -> list[GMIRequest]:
    """Submit ``count`` requests, wait for all of them at once with one client."""
    async with client_for(sim, **options) as client:
        requests = [await client.submit(MODEL, payload(n)) for n in range(count)]
        return await asyncio.gather(*(client.wait(r.request_id) for r in requests))


def status_calls(sim: Simulator) -> int:
    return sim.stats.calls["get"] + sim.stats.calls["list"]


async def test_concurrent_waits_of_one_model_share_list_calls(
    make_simulator: Callable[..., Simulator],
) -> None:
    # Nothing learned of durations either way: each wait polls on the same growing interval.
    single, batched = (make_simulator(processing_seconds=3.0) for _ in range(2))
    unlearned = DurationMemory(min_samples=1000)
    done = await wait_all(single, 20, batch_reads=False, durations=unlearned)
    assert single.stats.calls["list"] == 0
    done += await wait_all(batched, 20, durations=unlearned)
    assert all(record.status == RequestStatus.SUCCESS for record in done)
    assert batched.stats.calls["list"] >= 1
    # Each wait reads its own record twice (the first read, the terminal one), the rest is
    # shared list calls. How often single waits poll depends on how busy the machine is, so
    # the bound is on the batched waits' own reads, plus fewer calls in all.
    assert batched.stats.calls["get"] <= 2 * 20 + 4, batched.stats
    assert status_calls(batched) < status_calls(single), (single.stats, batched.stats)


async def test_the_returned_record_is_the_single_one(
    make_simulator: Callable[..., Simulator],
) -> None:
    # The list leaves payloads out here; the single record has it.
    sim = make_simulator(processing_seconds=0.8, list_includes_payload=False)
    done = await wait_all(sim, 6)
    assert sim.stats.calls["list"] >= 1
    assert all(record.payload is not None and record.video is not None for record in done)


async def test_a_terminal_status_in_the_list_is_confirmed_by_a_single_read(
    make_simulator: Callable[..., Simulator],
) -> None:
    def everything_done(body: Any) -> Any:
        for record in body["requests"]:
            record["status"] = "success"
        return body

    sim = make_simulator(processing_seconds=1.0)
    transport = RewriteList(everything_done)
    async with client_for(sim, transport=transport) as client:
        requests = [await client.submit(MODEL, payload(n)) for n in range(4)]

        async def waited(request_id: str) -> float:
            await client.wait(request_id)
            return time.monotonic()

        returned = await asyncio.gather(*(waited(r.request_id) for r in requests))
    assert client.stats.calls["GET /requests (batch)"] >= 1
    for request, at in zip(requests, returned, strict=True):
        simulated = sim.state.requests[request.request_id]
        ends = simulated.created_at + simulated.queue_seconds + simulated.processing_seconds
        assert at >= ends  # the list's "success" was not believed


async def test_a_request_missing_from_a_paged_list_is_read_singly(
    make_simulator: Callable[..., Simulator],
) -> None:
    sim = make_simulator(processing_seconds=0.8, list_page_limit=2)
    done = await wait_all(sim, 6)
    assert all(record.status == RequestStatus.SUCCESS for record in done)
    assert sim.stats.calls["list"] >= 1
    # The four requests the page does not show were polled one by one meanwhile.
    assert sim.stats.calls["get"] > 2 * 6


async def test_an_unknown_list_shape_falls_back_to_single_reads(
    make_simulator: Callable[..., Simulator], caplog: pytest.LogCaptureFixture
) -> None:
    sim = make_simulator(processing_seconds=0.8)
    transport = RewriteList(lambda body: {"page": body["requests"]})
    async with client_for(sim, transport=transport) as client:
        requests = [await client.submit(MODEL, payload(n)) for n in range(5)]
        done = await asyncio.gather(*(client.wait(r.request_id) for r in requests))
    assert all(record.status == RequestStatus.SUCCESS for record in done)
    # A list call (two when a wait's first read ended after the first call began: it does not
    # join a call older than its own read), then single reads for the cooldown: never
    # "no requests".
    assert client.stats.calls["GET /requests (batch)"] in (1, 2)
    assert sim.stats.calls["get"] > 2 * 5
    assert "unknown body shape" in caplog.text


async def test_a_list_too_long_is_not_used(make_simulator: Callable[..., Simulator]) -> None:
    sim = make_simulator(processing_seconds=0.8)
    done = await wait_all(sim, 5, batch_reads=BatchSettings(max_records=3))
    assert all(record.status == RequestStatus.SUCCESS for record in done)
    # As with an unknown shape: a second list call when a wait's first read ended after the
    # first call began; then single reads only.
    assert sim.stats.calls["list"] in (1, 2) and sim.stats.calls["get"] > 2 * 5


async def test_batched_waits_keep_their_failure_and_timeout_semantics(
    make_simulator: Callable[..., Simulator],
) -> None:
    failing = make_simulator(processing_seconds=0.3, faults=FaultRates(fail=1.0))
    async with client_for(failing) as client:
        requests = [await client.submit(MODEL, payload(n)) for n in range(3)]
        outcomes = await asyncio.gather(
            *(client.wait(r.request_id) for r in requests), return_exceptions=True
        )
    assert [type(o).__name__ for o in outcomes] == ["RequestFailed"] * 3
    assert failing.stats.calls["list"] >= 1

    stuck = make_simulator(faults=FaultRates(stuck=1.0))
    policy = WaitPolicy(initial_interval=0.05, max_interval=0.1, processing_timeout=0.5)
    async with client_for(stuck) as client:
        requests = [await client.submit(MODEL, payload(n)) for n in range(3)]
        outcomes = await asyncio.gather(
            *(client.wait(r.request_id, policy=policy) for r in requests), return_exceptions=True
        )
        assert all(isinstance(o, WaitTimeout) and o.phase == "processing" for o in outcomes)
        assert (await client.get(requests[0].request_id)).status == RequestStatus.PROCESSING
    assert stuck.stats.calls["list"] >= 1


def test_waits_in_several_threads_and_clients_share_one_observer(
    make_simulator: Callable[..., Simulator],
) -> None:
    sim = make_simulator(processing_seconds=1.0)
    done: list[GMIRequest] = []

    def run() -> None:  # each thread: its own event loop and client
        done.extend(asyncio.run(wait_all(sim, 5)))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(done) == 10 and all(r.status == RequestStatus.SUCCESS for r in done)
    assert sim.stats.calls["list"] >= 1


# -- the board, on a fake clock ----------------------------------------------------------------


def record(request_id: str, status: str) -> GMIRequest:
    return GMIRequest(request_id=request_id, model=MODEL, status=status)


def test_a_lone_wait_reads_its_own_record() -> None:
    board = StatusBoard()
    assert not board.batching("a", 0.0)
    assert board.batching("b", 1.0)  # a second wait in flight
    board.finished("b")
    assert not board.batching("a", 2.0)


def test_a_list_serves_waits_polling_after_it_within_the_window() -> None:
    board = StatusBoard(BatchSettings(window=2.0))
    board.listed([record("a", "processing")], None, now=10.0)
    assert board.served("a", last_read=9.0, now=11.5)
    assert not board.served("a", last_read=10.5, now=11.0)  # the wait has seen newer
    assert not board.served("a", last_read=9.0, now=12.5)  # too old
    assert board.record("a") == record("a", "processing")
    assert board.record("b") is None  # not shown: read singly


def test_only_a_single_read_ends_a_wait() -> None:
    board = StatusBoard()
    board.listed([record("a", "success"), record("b", "failed")], None, now=0.0)
    assert board.record("a") is None and board.record("b") is None


def test_a_list_wakes_waits_due_soon_or_changed_and_no_others() -> None:
    board = StatusBoard(BatchSettings(window=2.0))
    woken: list[str] = []
    for request_id, status, due in [
        ("due-soon", "processing", 11.5),
        ("changed", "processing", 30.0),
        ("later", "processing", 30.0),
        ("unlisted", "processing", 10.5),
    ]:
        board.sleep(request_id, status, due, functools.partial(woken.append, request_id))
    served = board.listed(
        [
            record("due-soon", "processing"),
            record("changed", "success"),
            record("later", "processing"),
        ],
        None,
        now=10.0,
    )
    for sleeper in served:
        sleeper.wake()
    assert sorted(woken) == ["changed", "due-soon"]
    # Served sleepers are gone; the others are woken by the next list call that serves them.
    assert board.listed([record("later", "processing")], None, now=28.5) != []


def test_an_unusable_list_means_single_reads_for_the_cooldown() -> None:
    board = StatusBoard(BatchSettings(max_records=2, cooldown=60.0))
    board.batching("a", 0.0)
    many = [record(str(n), "processing") for n in range(3)]
    assert board.listed(many, None, now=1.0) == []
    assert not board.served("a", None, now=1.0)
    assert not board.batching("b", 30.0) and board.batching("b", 62.0)
    # A page of a longer list is refused too when the total says so.
    assert board.listed(many[:1], 10, now=70.0) == [] and board.listed_at is None


def test_list_calls_are_paced_by_how_fast_requests_end() -> None:
    settings = BatchSettings(
        list_cost=2.5, min_gap=1.0, cold_gap=3.0, max_gap=15.0, rate_window=60.0
    )
    board = StatusBoard(settings)
    waits = [str(n) for n in range(10)]
    for request_id in waits:
        board.batching(request_id, 0.0)
    board.listed([record(r, "processing") for r in waits], None, now=0.0)
    assert board.next_list_at == 1.0  # nothing known yet: the shortest gap
    # None ended in 10 s: taken as all ten waits ending within those 10 s, so the gap is
    # sqrt(2 * 2.5 * 10 / 10); in 30 s it would be sqrt(15), but while none has ended it is
    # at most cold_gap.
    board.listed([record(r, "processing") for r in waits], None, now=10.0)
    assert board.next_list_at == pytest.approx(10.0 + math.sqrt(5.0))
    board.listed([record(r, "processing") for r in waits], None, now=30.0)
    assert board.next_list_at == 30.0 + 3.0
    # Five ended by 50 s: 5 in 50 s, a gap of sqrt(2 * 2.5 * 50 / 5) = sqrt(50).
    ended = [record(r, "success" if int(r) < 5 else "processing") for r in waits]
    board.listed(ended, None, now=50.0)
    assert board.next_list_at == pytest.approx(50.0 + math.sqrt(50.0))
    # The same five shown again are not counted twice: 5 in 60 s (the rate window).
    board.listed(ended, None, now=60.0)
    assert board.next_list_at == pytest.approx(60.0 + math.sqrt(60.0))
    # Ends older than the rate window no longer count: none ended lately, cold_gap again.
    board.listed(ended, None, now=111.0)
    assert board.next_list_at == 111.0 + 3.0


def test_the_more_waits_a_list_serves_the_sooner_it_is_made_while_none_has_ended() -> None:
    def first_gap(waits: int) -> float:
        board = StatusBoard(BatchSettings(list_cost=2.5, min_gap=0.1, cold_gap=5.0))
        for n in range(waits):
            board.batching(str(n), 0.0)
        board.listed([record(str(n), "processing") for n in range(waits)], None, now=0.0)
        board.listed([record(str(n), "processing") for n in range(waits)], None, now=4.0)
        return board.next_list_at - 4.0

    assert first_gap(2) == pytest.approx(math.sqrt(2 * 2.5 * 4 / 2))
    assert first_gap(50) == pytest.approx(math.sqrt(2 * 2.5 * 4 / 50))  # 0.63 s
    assert first_gap(50) < first_gap(10) < first_gap(2)


def test_a_request_that_ends_while_no_wait_follows_it_is_not_counted() -> None:
    board = StatusBoard(BatchSettings(list_cost=2.5, cold_gap=10.0))
    for request_id in ("a", "b"):
        board.batching(request_id, 0.0)
    board.listed([record("a", "processing")], None, now=0.0)
    # "other" ended, but no wait of this process follows it; "b" ended and its wait had read.
    board.listed([record("other", "success"), record("b", "failed")], None, now=10.0)
    assert board.next_list_at == pytest.approx(10.0 + math.sqrt(50.0))  # one ended in 10 s


def test_a_wait_due_before_the_next_list_call_sleeps_until_it() -> None:
    board = StatusBoard(BatchSettings(list_cost=2.5))
    board.batching("a", 0.0)
    board.listed([record("a", "processing")], None, now=0.0)
    assert board.wake_at("a", 0.5, now=0.0) == 0.5  # a lone wait keeps its own schedule
    for request_id in ("b", "c"):
        board.batching(request_id, 0.0)
    board.listed([record("a", "processing"), record("b", "processing")], None, now=10.0)
    # None ended yet: as if the three waits would end within the 10 s run.
    assert board.next_list_at == pytest.approx(10.0 + math.sqrt(2 * 2.5 * 10 / 3))
    assert board.wake_at("a", 10.5, now=10.0) == board.next_list_at  # served by the next list
    assert board.wake_at("a", 30.0, now=10.0) == 30.0  # due later: its own poll
    assert board.wake_at("c", 10.5, now=10.0) == 10.5  # not shown by the list: its own poll
    board.unusable(11.0)  # single reads: no pace, and no deferral
    assert board.wake_at("a", 12.0, now=11.0) == 12.0


def test_a_sleeping_wait_is_deferred_to_the_list_calls_pace() -> None:
    now = [0.0]
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds
        if now[0] == 10.0:  # meanwhile a list call, not serving "a", moved the pace on
            observer.board.next_list_at = 14.0

    observer = BatchObserver(BatchSettings())
    observer.board.batching("b", 0.0)
    observer.board.listed([record("a", "processing"), record("b", "processing")], None, 0.0)
    observer.board.next_list_at = 10.0
    asyncio.run(observer.sleep("a", "processing", 2.0, clock=lambda: now[0], sleep=sleep))
    assert slept == [10.0, 4.0] and now[0] == 14.0
    # Due after the next list call, a wait sleeps its own delay.
    slept.clear()
    asyncio.run(observer.sleep("a", "processing", 5.0, clock=lambda: now[0], sleep=sleep))
    assert slept == [5.0]


def test_a_deferred_wait_still_wakes_at_its_deadline() -> None:
    now = [0.0]
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    observer = BatchObserver(BatchSettings())
    observer.board.batching("b", 0.0)
    observer.board.listed([record("a", "processing"), record("b", "processing")], None, 0.0)
    observer.board.next_list_at = 10.0
    run = observer.sleep("a", "processing", 2.0, clock=lambda: now[0], sleep=sleep, latest=3.0)
    asyncio.run(run)
    assert slept == [3.0]  # not the list call at 10 s: the timeout is reported when it falls


def test_batch_settings_name_the_limit() -> None:
    with pytest.raises(ValueError, match=r"min_gap <= cold_gap <= max_gap, got 6\.0, 5\.0, 15"):
        BatchSettings(min_gap=6.0)
    with pytest.raises(ValueError, match="list_cost and rate_window must be positive"):
        BatchSettings(list_cost=0)


def test_the_first_list_in_a_while_measures_the_rate_afresh() -> None:
    # A long-lived process: a board listed long ago, then a new one. Its first gaps are those
    # of a fresh start, not the longest gap an idle hour would give.
    board = StatusBoard(BatchSettings(list_cost=2.5, rate_window=60.0))
    for request_id in ("a", "b"):
        board.batching(request_id, 0.0)
    board.listed([record("a", "processing"), record("b", "processing")], None, now=0.0)
    for request_id in ("c", "d"):
        board.batching(request_id, 3600.0)
    board.listed([record("c", "processing"), record("d", "processing")], None, now=3600.0)
    assert board.next_list_at == 3601.0
    board.listed([record("c", "processing"), record("d", "processing")], None, now=3605.0)
    assert board.next_list_at == pytest.approx(3605.0 + math.sqrt(2 * 2.5 * 5 / 2))
