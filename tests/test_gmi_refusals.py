"""GMI's refusals: 402 (no credits), 500 "Backend error (401)" (model not entitled), a
content-policy 400; and the gate that stops a run's submits on the first of them."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from prefect_gmicloud.client import WaitPolicy
from prefect_gmicloud.errors import (
    InsufficientCreditsError,
    InvalidRequestError,
    ModelNotEntitledError,
    SubmitsStopped,
    WaitTimeout,
)
from prefect_gmicloud.ledger.gate import SubmitGate
from prefect_gmicloud.models import Wan27R2VPayload
from prefect_gmicloud.simulator import Simulator
from tests.conftest import R2V_PAYLOAD, client_for

PAYLOAD = Wan27R2VPayload.parse(R2V_PAYLOAD)
MODEL = PAYLOAD.model_id


async def test_402_is_raised_at_once_and_creates_nothing(
    make_simulator: Callable[..., Simulator],
) -> None:
    sim = make_simulator(credits_for_requests=0)
    async with client_for(sim) as client:
        with pytest.raises(InsufficientCreditsError, match="Insufficient credits"):
            await client.submit(PAYLOAD)
    assert sim.stats.calls["submit"] == 1 and sim.stats.calls["list"] == 0
    assert sim.stats.created == 0


async def test_backend_error_401_is_permanent_not_retried_nor_looked_up(
    make_simulator: Callable[..., Simulator],
) -> None:
    sim = make_simulator(unentitled_models=[MODEL])
    async with client_for(sim) as client:
        with pytest.raises(ModelNotEntitledError, match=r"not entitled to model 'wan2\.7-r2v'"):
            await client.submit(PAYLOAD)
        assert sum(client.stats.retries.values()) == 0
    assert sim.stats.calls["submit"] == 1 and sim.stats.calls["list"] == 0


async def test_a_content_policy_refusal_gives_gmis_reason(
    make_simulator: Callable[..., Simulator],
) -> None:
    sim = make_simulator()
    refused = Wan27R2VPayload.parse({**R2V_PAYLOAD, "prompt": "Video1 [content-policy]"})
    async with client_for(sim) as client:
        with pytest.raises(InvalidRequestError, match="rejected by the content policy"):
            await client.submit(refused)
    assert sim.stats.calls["submit"] == 1 and sim.stats.created == 0


async def test_created_and_dispatched_count_against_the_queue_deadline(
    make_simulator: Callable[..., Simulator],
) -> None:
    sim = make_simulator(queue_seconds=30.0, queue_statuses=["created", "dispatched"])
    policy = WaitPolicy(initial_interval=0.05, max_interval=0.1, queue_timeout=0.5)
    async with client_for(sim) as client:
        request = await client.submit(PAYLOAD)
        with pytest.raises(WaitTimeout) as caught:
            await client.wait(request, policy=policy)
    assert caught.value.phase == "queue" and caught.value.last_status == "created"


async def test_the_first_402_halts_every_later_submit_of_the_run() -> None:
    gate = SubmitGate()
    sent: list[int] = []

    async def refused() -> None:
        sent.append(1)
        raise InsufficientCreditsError(402, "Insufficient credits")

    with pytest.raises(InsufficientCreditsError):
        await gate.paid(refused, MODEL)
    assert gate.halted is not None
    with pytest.raises(SubmitsStopped, match="whole account"):
        await gate.paid(refused, "another-model")
    assert sent == [1]


async def test_a_refused_model_refuses_its_other_submits_and_only_them() -> None:
    gate = SubmitGate()

    async def refused() -> str:
        raise ModelNotEntitledError(500, "Backend error (401)", MODEL)

    async def accepted() -> str:
        return "r-1"

    with pytest.raises(ModelNotEntitledError):
        await gate.paid(refused, MODEL)
    with pytest.raises(SubmitsStopped, match="not entitled"):
        await gate.paid(accepted, MODEL)
    assert await gate.paid(accepted, "Veo3") == "r-1"


async def test_a_models_first_submit_goes_alone_then_those_behind_it_together() -> None:
    gate = SubmitGate()
    in_flight = 0
    at_start: list[int] = []  # how many submits were in flight as each one started

    async def submit() -> None:
        nonlocal in_flight
        in_flight += 1
        at_start.append(in_flight)
        await asyncio.sleep(0.02)
        in_flight -= 1

    await asyncio.gather(*(gate.paid(submit, MODEL) for _ in range(4)))
    # None accepted yet: the first goes alone; once it is, the three that waited behind it go
    # at once rather than one after another.
    assert at_start == [1, 1, 2, 3]
    at_start.clear()
    await asyncio.gather(*(gate.paid(submit, MODEL) for _ in range(3)))
    assert at_start == [1, 2, 3]


async def test_submits_waiting_behind_a_402_are_never_sent() -> None:
    gate = SubmitGate()
    sent: list[str] = []

    async def refused() -> None:
        sent.append("refused")
        await asyncio.sleep(0.02)
        raise InsufficientCreditsError(402, "Insufficient credits")

    async def other() -> None:
        sent.append("other")

    results = await asyncio.gather(
        gate.paid(refused, MODEL), gate.paid(other, MODEL), gate.paid(other, MODEL),
        return_exceptions=True,
    )  # fmt: skip
    assert sent == ["refused"]
    assert isinstance(results[0], InsufficientCreditsError)
    assert all(isinstance(r, SubmitsStopped) for r in results[1:])
