"""GMI's clock is learned from its answers, and a lost submit is looked for on it."""

from __future__ import annotations

import time
from collections.abc import Callable
from email.utils import formatdate

import httpx
import pytest

from prefect_gmicloud.client.clock import GMIClock
from prefect_gmicloud.client.reconcile import WINDOW_MARGIN_SECONDS, window_start
from prefect_gmicloud.models import Wan27R2VPayload
from prefect_gmicloud.simulator import Simulator
from tests.conftest import R2V_PAYLOAD, client_for

PAYLOAD = Wan27R2VPayload.parse(R2V_PAYLOAD)


def test_an_answer_bounds_the_offset_by_its_stamp_and_round_trip() -> None:
    clock = GMIClock()
    assert clock.bounds() is None and clock.earliest(1000.0) is None
    clock.observe(stamp=1300.0, sent=1000.0, received=1000.5)
    bounds = clock.bounds()
    assert bounds is not None
    assert bounds.low == pytest.approx(298.5) and bounds.high == pytest.approx(301.0)
    assert clock.earliest(1000.0) == pytest.approx(1298.5)


def test_a_slow_answer_widens_the_bounds_downward_never_past_the_truth() -> None:
    clock = GMIClock()
    clock.observe(stamp=1300.0, sent=1000.0, received=1000.1)
    clock.observe(stamp=1320.0, sent=1000.0, received=1030.0)  # a 30 s answer
    bounds = clock.bounds()
    assert bounds is not None and bounds.low == pytest.approx(289.0)
    assert bounds.low <= 300.0 <= bounds.high


def test_the_date_header_is_read_and_a_bad_one_ignored() -> None:
    clock = GMIClock()
    clock.observe_date("not a date", 0.0, 1.0)
    clock.observe_date(None, 0.0, 1.0)
    assert clock.bounds() is None
    now = time.time()
    clock.observe_date(formatdate(now - 300, usegmt=True), now - 0.1, now)
    estimate = clock.bounds()
    assert estimate is not None and estimate.estimate == pytest.approx(-300.0, abs=1.5)


def test_the_window_is_placed_on_gmis_clock_and_on_ours_while_unknown() -> None:
    clock = GMIClock()
    assert window_start(clock, 5000.0) == 5000.0 - WINDOW_MARGIN_SECONDS
    clock.observe(stamp=4700.0, sent=5000.0, received=5000.0)  # GMI 5 minutes behind
    assert window_start(clock, 5000.0) == pytest.approx(4700.0 - 1.0 - WINDOW_MARGIN_SECONDS)


async def test_the_simulator_dates_its_answers_on_its_own_clock(
    make_simulator: Callable[..., Simulator],
) -> None:
    sim = make_simulator(clock_offset_seconds=-300.0)
    async with httpx.AsyncClient() as http:
        answer = await http.get(f"{sim.base_url}/models", headers={"Authorization": "x"})
    assert answer.headers.get_list("date") and len(answer.headers.get_list("date")) == 1
    async with client_for(sim, gmi_clock=GMIClock()) as client:
        request = await client.submit(PAYLOAD)
        bounds = client.gmi_clock.bounds()
    assert request.created_at is not None
    assert request.created_at.timestamp() == pytest.approx(time.time() - 300.0, abs=5)
    assert bounds is not None and bounds.estimate == pytest.approx(-300.0, abs=2)


@pytest.mark.parametrize("offset", [-600.0, -300.0, 300.0])
async def test_a_lost_submit_is_found_when_gmis_clock_is_minutes_off_ours(
    make_simulator: Callable[..., Simulator], offset: float
) -> None:
    # Nothing learned before the submit: its answer is lost, so the lookup's own list answer
    # is the first of GMI's clock this client sees.
    sim = make_simulator(clock_offset_seconds=offset)
    sim.state.inject("submit", "drop_after_create", "drop_after_create")
    async with client_for(sim, gmi_clock=GMIClock()) as client:
        request = await client.submit(PAYLOAD)
    print(f"\nGMI {offset:+.0f} s off: created {sim.stats.created}, submits "
          f"{sim.stats.calls['submit']}, duplicates {sim.stats.duplicate_submits}")  # fmt: skip
    assert request.request_id in sim.state.requests
    assert sim.stats.created == 1 and sim.stats.duplicate_submits == 0
    assert client.stats.reconciled == 1


async def test_an_identical_request_from_before_the_submit_is_not_taken_for_it(
    make_simulator: Callable[..., Simulator],
) -> None:
    # The same payload paid an hour ago (on GMI's clock, 5 min behind ours): not this submit's.
    sim = make_simulator(clock_offset_seconds=-300.0)
    older = sim.state.create(PAYLOAD.model_id, PAYLOAD.to_payload(), "org-sim")
    older.created_wall -= 3600
    sim.state.inject("submit", "drop")  # cut before it is created: the lookup must say "none"
    async with client_for(sim, gmi_clock=GMIClock()) as client:
        request = await client.submit(PAYLOAD)
    assert request.request_id != older.request_id
    assert sim.stats.created == 2
