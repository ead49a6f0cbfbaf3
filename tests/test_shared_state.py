"""What clients share: only with clients of the same settings, and only while one is open.

Waits of several clients share list calls (batch status reads) and what they learn of a model's
processing times, since Prefect tasks make a client per call. A client that asks for other
batch settings gets its own observer, and everything shared is dropped when the last client
holding it closes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from prefect_gmicloud.client import GMICloudClient, GMIRequest, RequestStatus
from prefect_gmicloud.client.batch_reads import OBSERVERS, BatchSettings
from prefect_gmicloud.client.http import SHARED_DURATIONS
from prefect_gmicloud.client.shared import Leases
from prefect_gmicloud.client.wait_schedule import DurationMemory
from prefect_gmicloud.simulator import Simulator
from tests.conftest import R2V_PAYLOAD, client_for

MODEL = "wan2.7-r2v"


async def wait_for(client: GMICloudClient, count: int, first_seed: int) -> list[GMIRequest]:
    """Submit ``count`` requests with ``client`` and wait for all of them at once."""
    requests = [
        await client.submit(MODEL, {**R2V_PAYLOAD, "seed": first_seed + n}) for n in range(count)
    ]
    return await asyncio.gather(*(client.wait(r.request_id) for r in requests))


def status_calls(sim: Simulator) -> dict[str, int]:
    return {"get": sim.stats.calls["get"], "list": sim.stats.calls["list"]}


async def test_a_second_clients_batch_settings_are_honoured(
    make_simulator: Callable[..., Simulator],
) -> None:
    sim = make_simulator(processing_seconds=0.8)
    async with client_for(sim) as first:
        done = await wait_for(first, 5, first_seed=0)
        assert first.stats.calls["GET /requests (batch)"] >= 1  # the default settings batch
        before = status_calls(sim)
        # Same API, key and model, while the first client is still open: its list shows 10
        # records, more than this client accepts, so this client's waits read singly.
        async with client_for(sim, batch_reads=BatchSettings(max_records=3)) as second:
            done += await wait_for(second, 5, first_seed=100)
        assert second.stats.calls["GET /requests (batch)"] in (1, 2)
    assert all(record.status == RequestStatus.SUCCESS for record in done)
    # Each of the five waits read singly past its first and terminal reads: more than the
    # two each a batched wait makes (shared with the first client's observer, they would be).
    assert status_calls(sim)["get"] - before["get"] > 2 * 5, (before, status_calls(sim))


async def test_clients_of_the_same_settings_share_an_observer_dropped_with_the_last(
    make_simulator: Callable[..., Simulator],
) -> None:
    sim = make_simulator(processing_seconds=0.5)
    held = len(OBSERVERS)
    first, second = client_for(sim), client_for(sim)
    other = client_for(sim, batch_reads=BatchSettings(window=1.0))
    await asyncio.gather(
        wait_for(first, 2, first_seed=0),
        wait_for(second, 2, first_seed=10),
        wait_for(other, 2, first_seed=20),
    )
    assert len(OBSERVERS) == held + 2  # one for the default settings, one for the other
    await first.aclose()
    assert len(OBSERVERS) == held + 2  # the second client still uses the shared one
    await second.aclose()
    assert len(OBSERVERS) == held + 1
    await other.aclose()
    await other.aclose()  # closing twice lets go once
    assert len(OBSERVERS) == held


async def test_a_wait_outliving_its_client_holds_no_observer(
    make_simulator: Callable[..., Simulator],
) -> None:
    sim = make_simulator(processing_seconds=30.0)
    held = len(OBSERVERS)
    dozing = asyncio.Event()

    async def sleep(seconds: float) -> None:
        dozing.set()  # past its first read, the wait sleeps through its observer
        await asyncio.sleep(seconds)

    client = client_for(sim, sleep=sleep)
    request = await client.submit(MODEL, R2V_PAYLOAD)
    waiting = asyncio.ensure_future(client.wait(request.request_id, timeout=10))
    await dozing.wait()
    assert len(OBSERVERS) == held + 1
    await client.aclose()
    assert len(OBSERVERS) == held
    with pytest.raises(RuntimeError, match="closed"):  # its next read finds the client closed
        await waiting
    assert len(OBSERVERS) == held


def learned_times(base_url: str) -> int:
    """How many processing times the open clients of ``base_url`` have learned (peeking)."""
    memory = SHARED_DURATIONS.acquire(base_url)
    try:
        return sum(len(times) for times in memory.seen.values())
    finally:
        SHARED_DURATIONS.release(base_url)


async def test_learned_durations_are_shared_while_a_client_is_open(
    make_simulator: Callable[..., Simulator],
) -> None:
    sim = make_simulator(processing_seconds=1.0)
    # Single reads: every wait sees its request processing, so each success is learned.
    async with client_for(sim, batch_reads=False) as keeper:
        async with client_for(sim, batch_reads=False) as waiter:
            await wait_for(waiter, 3, first_seed=0)
        # The waiter closed; the keeper, open all along, holds what the waiter learned.
        assert learned_times(sim.base_url) == 3
        await wait_for(keeper, 1, first_seed=10)
        assert learned_times(sim.base_url) == 4
    assert learned_times(sim.base_url) == 0  # no client open: forgotten


async def test_a_client_given_its_own_memory_learns_only_into_it(
    make_simulator: Callable[..., Simulator],
) -> None:
    sim = make_simulator(processing_seconds=1.0)
    own = DurationMemory()
    # The keeper holds the shared memory open, so that reading it shows what went into it.
    async with client_for(sim), client_for(sim, durations=own, batch_reads=False) as client:
        await wait_for(client, 2, first_seed=0)
        assert learned_times(sim.base_url) == 0
    assert sum(len(times) for times in own.seen.values()) == 2


def test_a_lease_is_made_once_and_forgotten_with_its_last_holder() -> None:
    made: list[str] = []

    def make(key: str) -> dict[str, Any]:
        made.append(key)
        return {}

    leases: Leases[str, dict[str, Any]] = Leases(make)
    one, two = leases.acquire("a"), leases.acquire("a")
    assert one is two and made == ["a"]
    leases.release("a")
    assert len(leases) == 1
    leases.release("a")
    assert len(leases) == 0
    assert leases.acquire("a") is not one and made == ["a", "a"]
