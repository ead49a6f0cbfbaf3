"""Reads are retried on transient faults; a submit is never repeated once it may have landed."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from prefect_gmicloud import (
    GMICloudClient,
    PayloadValidationError,
    RawPayload,
    SubmitOutcomeUnknown,
)
from prefect_gmicloud.client import RetryPolicy
from prefect_gmicloud.errors import InvalidRequestError, NotFoundError, ServerError, TransportError
from prefect_gmicloud.models import Wan27R2VPayload
from prefect_gmicloud.simulator import Simulator
from prefect_gmicloud.simulator.config import ScriptedFault
from tests.conftest import FAST_RETRIES, R2V_PAYLOAD, client_for

PAYLOAD = Wan27R2VPayload.parse(R2V_PAYLOAD)


# -- reads ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("fault", ["500", "502", "503", "429", "drop"])
async def test_reads_are_retried_through_transient_faults(
    sim: Simulator, client: GMICloudClient, fault: ScriptedFault
) -> None:
    sim.state.inject("models", fault, fault)
    assert "wan2.6-r2v" in [m.id for m in await client.list_models()]
    assert sim.stats.calls["models"] == 3
    assert sum(client.stats.retries.values()) == 2


async def test_read_retries_are_bounded(sim: Simulator, client: GMICloudClient) -> None:
    unavailable: list[ScriptedFault] = ["503"] * 10
    sim.state.inject("models", *unavailable)
    with pytest.raises(ServerError, match="503"):
        await client.list_models()
    assert sim.stats.calls["models"] == FAST_RETRIES.max_attempts


async def test_permanent_errors_are_not_retried(sim: Simulator, client: GMICloudClient) -> None:
    with pytest.raises(InvalidRequestError):
        await client.submit(RawPayload(model_id="wan2.7-t2v", data={"prompt": "x" * 1501}))
    with pytest.raises(NotFoundError):
        await client.get("no-such-request")
    assert sim.stats.calls["submit"] == 1 and sim.stats.calls["get"] == 1
    assert sum(client.stats.retries.values()) == 0


async def test_retry_after_is_honoured(make_simulator: Callable[..., Simulator]) -> None:
    sim = make_simulator(retry_after_seconds=0.3)
    slept: list[float] = []

    async def record_sleep(seconds: float) -> None:
        slept.append(seconds)

    async with client_for(sim, sleep=record_sleep) as client:
        sim.state.inject("models", "429")
        await client.list_models()
    assert slept == [0.3]


@pytest.mark.parametrize("gmi_clock_off", [0.0, -300.0, 300.0])
async def test_retry_after_as_http_date_is_honoured(
    make_simulator: Callable[..., Simulator], gmi_clock_off: float
) -> None:
    # The date is read against the answer's own Date: GMI's clock, whatever ours says.
    sim = make_simulator(
        retry_after_seconds=2, retry_after_as_date=True, clock_offset_seconds=gmi_clock_off
    )
    slept: list[float] = []

    async def record_sleep(seconds: float) -> None:
        slept.append(seconds)

    async with client_for(sim, sleep=record_sleep, retry_policy=RetryPolicy()) as client:
        sim.state.inject("models", "429")
        await client.list_models()
    (delay,) = slept
    assert 0.5 <= delay <= 2.0  # an HTTP date has whole-second precision


async def test_connection_refused_is_a_transport_error() -> None:
    async with GMICloudClient(
        "k",
        base_url="http://127.0.0.1:9/api",
        retry_policy=RetryPolicy(max_attempts=2, base_delay=0.01),
    ) as client:
        with pytest.raises(TransportError, match="ConnectError"):
            await client.list_models()


# -- submits -------------------------------------------------------------------------------------


async def test_submit_is_not_repeated_after_read_timeout(
    make_simulator: Callable[..., Simulator],
) -> None:
    sim = make_simulator(slow_response_seconds=1.0)
    sim.state.inject("submit", "slow_after_create")
    async with client_for(sim, timeout=httpx.Timeout(0.3)) as client:
        request = await client.submit(PAYLOAD)
        assert client.stats.reconciled == 1
    assert sim.stats.calls["submit"] == 1
    assert sim.stats.created == 1 and sim.stats.duplicate_submits == 0
    assert request.request_id in sim.state.requests


async def test_submit_is_not_repeated_after_connection_dropped_after_create(
    sim: Simulator, client: GMICloudClient
) -> None:
    sim.state.inject("submit", "drop_after_create")
    request = await client.submit(PAYLOAD)
    assert sim.stats.created == 1 and sim.stats.calls["submit"] == 1
    assert request.request_id in sim.state.requests


@pytest.mark.parametrize("fault", ["500", "502"])
async def test_submit_after_ambiguous_5xx_looks_first_then_resubmits_once(
    sim: Simulator, client: GMICloudClient, fault: ScriptedFault
) -> None:
    # The simulator's 5xx comes before creating: the lookup finds nothing, so one resubmit.
    sim.state.inject("submit", fault)
    request = await client.submit(PAYLOAD)
    assert sim.stats.calls["submit"] == 2 and sim.stats.created == 1
    assert client.stats.resubmitted_after_lookup == 1
    assert sim.stats.calls["list"] == 1
    assert request.request_id in sim.state.requests


async def test_submit_dropped_before_create_is_sent_again_once(
    sim: Simulator, client: GMICloudClient
) -> None:
    sim.state.inject("submit", "drop")
    await client.submit(PAYLOAD)
    assert sim.stats.calls["submit"] == 2 and sim.stats.created == 1


@pytest.mark.parametrize("fault", ["429", "503"])
async def test_submit_refused_with_429_or_503_is_retried_without_lookup(
    sim: Simulator, client: GMICloudClient, fault: ScriptedFault
) -> None:
    sim.state.inject("submit", fault, fault)
    await client.submit(PAYLOAD)
    assert sim.stats.calls["submit"] == 3 and sim.stats.created == 1
    assert sim.stats.calls["list"] == 0


async def test_reconcile_reads_each_record_when_the_list_omits_payloads(
    make_simulator: Callable[..., Simulator],
) -> None:
    sim = make_simulator(list_includes_payload=False)
    sim.state.inject("submit", "drop_after_create")
    async with client_for(sim) as client:
        request = await client.submit(PAYLOAD)
    assert sim.stats.created == 1 and sim.stats.calls["get"] == 1
    assert request.request_id in sim.state.requests


async def test_reconcile_ignores_requests_this_client_already_owns(
    sim: Simulator, client: GMICloudClient
) -> None:
    # Two deliberate identical submits are two requests: the second's lookup must not
    # mistake the first for itself.
    first = await client.submit(PAYLOAD)
    sim.state.inject("submit", "drop_after_create")
    second = await client.submit(PAYLOAD)
    assert first.request_id != second.request_id
    assert sim.stats.created == 2


async def test_unknown_outcome_is_raised_not_resubmitted(
    sim: Simulator, client: GMICloudClient
) -> None:
    sim.state.inject("submit", "drop_after_create")
    broken: list[ScriptedFault] = ["500"] * 10
    sim.state.inject("list", *broken)
    with pytest.raises(SubmitOutcomeUnknown, match="not resubmitted") as caught:
        await client.submit(PAYLOAD)
    assert caught.value.model == "wan2.7-r2v"
    assert sim.stats.created == 1 and sim.stats.calls["submit"] == 1


async def test_invalid_payload_sends_nothing(sim: Simulator, client: GMICloudClient) -> None:
    with pytest.raises(PayloadValidationError, match="duration"):
        await client.submit("wan2.7-r2v", {**R2V_PAYLOAD, "duration": 40})
    assert sum(sim.stats.calls.values()) == 0


async def test_a_list_body_of_unknown_shape_is_undecided_not_empty() -> None:
    # The list's body is undocumented: an unknown shape must not read as "no such request",
    # or a lost submit would be paid again.
    def answer(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            raise httpx.ReadError("connection lost after sending", request=request)
        return httpx.Response(200, json={"page": {"entries": "elsewhere"}})

    async with GMICloudClient(
        api_key="k",
        base_url="http://127.0.0.1:1/api",
        retry_policy=FAST_RETRIES,
        transport=httpx.MockTransport(answer),
    ) as client:
        with pytest.raises(SubmitOutcomeUnknown, match="unknown body shape"):
            await client.submit(PAYLOAD)
        with pytest.raises(SubmitOutcomeUnknown, match="ConnectionReset"):
            await client.find_request(
                "wan2.7-r2v", PAYLOAD.to_payload(), created_after=0.0, why="ConnectionReset"
            )
