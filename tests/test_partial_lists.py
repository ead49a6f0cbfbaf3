"""A ``GET /requests`` that shows part of the list can find a lost submit, never rule it out."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from prefect_gmicloud.client.responses import partial_list
from prefect_gmicloud.errors import SubmitOutcomeUnknown
from prefect_gmicloud.models import Wan27R2VPayload
from prefect_gmicloud.simulator import Simulator
from tests.conftest import R2V_PAYLOAD, client_for

PAYLOAD = Wan27R2VPayload.parse(R2V_PAYLOAD)
RECORD = {"request_id": "r-1", "status": "queued"}


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ({"requests": [RECORD], "total": 3}, "total 3, 1 shown"),
        ({"requests": [RECORD], "next_cursor": "abc"}, "'next_cursor' marks a next page"),
        ({"requests": [RECORD], "has_more": True}, "'has_more' marks a next page"),
        ({"requests": [RECORD, RECORD], "page_size": 2}, "the page size page_size=2"),
    ],
)
def test_signs_of_a_page_of_more_are_read(body: dict[str, Any], why: str) -> None:
    assert why in (partial_list(body) or "")


@pytest.mark.parametrize(
    "body",
    [
        {"requests": [RECORD], "total": 1},
        {"requests": [RECORD], "has_more": False, "next": None},
        {"requests": [RECORD], "page_size": 50},
        [RECORD],
    ],
)
def test_a_whole_list_is_whole(body: Any) -> None:
    assert partial_list(body) is None


def _older_requests(sim: Simulator, count: int) -> None:
    for number in range(count):
        older = {**PAYLOAD.to_payload(), "prompt": f"Video1 an older take {number}"}
        sim.state.create(PAYLOAD.model_id, older, "org")


async def test_a_lost_submit_not_on_the_page_is_undecided_not_paid_again(
    make_simulator: Callable[..., Simulator],
) -> None:
    sim = make_simulator(list_page_limit=2)
    _older_requests(sim, 2)  # the page is full of the account's older requests
    sim.state.inject("submit", "drop_after_create")
    async with client_for(sim) as client:
        with pytest.raises(SubmitOutcomeUnknown, match=r"only part of the list \(total 3, 2 "):
            await client.submit(PAYLOAD)
    print(f"\none page of 2, total 3: submits {sim.stats.calls['submit']}, created "
          f"{sim.stats.created - 2}, lookups {sim.stats.calls['list']}")  # fmt: skip
    assert sim.stats.calls["submit"] == 1 and sim.stats.created == 3


async def test_a_lost_submit_on_the_page_is_found(
    make_simulator: Callable[..., Simulator],
) -> None:
    sim = make_simulator(list_page_limit=2)
    sim.state.inject("submit", "drop_after_create")
    async with client_for(sim) as client:
        request = await client.submit(PAYLOAD)
        listed = await client.request_list(PAYLOAD.model_id)
    assert request.request_id in sim.state.requests and sim.stats.created == 1
    assert listed.partial is None and [r.request_id for r in listed.requests] == [
        request.request_id
    ]


async def test_a_dropped_submit_on_a_partial_list_is_not_resubmitted(
    make_simulator: Callable[..., Simulator],
) -> None:
    # Cut before it was created, but the page cannot show that: still not sent again.
    sim = make_simulator(list_page_limit=1)
    _older_requests(sim, 2)
    sim.state.inject("submit", "drop")
    async with client_for(sim) as client:
        with pytest.raises(SubmitOutcomeUnknown):
            await client.submit(PAYLOAD)
    assert sim.stats.created == 2
