"""Budgets in storyboard runs: the simulator, a real S3-protocol server and a real Prefect API."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from prefect_gmicloud.errors import BudgetExceeded, LimitUnusable, StoryboardIncomplete
from prefect_gmicloud.flows.storyboard import run_storyboard
from prefect_gmicloud.simulator import Simulator
from prefect_gmicloud.storage import S3Destination
from prefect_gmicloud.storyboard import Storyboard
from prefect_gmicloud.storyboard.options import StoryboardOptions
from tests.conftest import credentials_for

pytestmark = pytest.mark.usefixtures("prefect_api")


def shots(title: str, count: int, duration: int = 2) -> Storyboard:
    return Storyboard.parse(
        {
            "title": title,
            "characters": {"guest": {"image": "https://refs.example/guest.png"}},
            "defaults": {"model": "wan2.7-r2v", "duration": duration},
            "shots": [
                {"id": f"s{n}", "prompt": f"{{guest}} in {title}, take {n}"} for n in range(count)
            ],
        }
    )


def object_count(bucket: S3Destination) -> int:
    listing = bucket.s3_client().list_objects_v2(Bucket=bucket.bucket)
    count: int = listing.get("KeyCount", 0)
    return count


async def test_a_run_over_its_budget_sends_nothing_and_writes_nothing(
    sim: Simulator, bucket: S3Destination
) -> None:
    with pytest.raises(BudgetExceeded) as caught:
        await run_storyboard(
            shots("cafe", 8, duration=8),
            bucket,
            credentials_for(sim),
            options=StoryboardOptions(max_generated_seconds=50),
        )
    assert "this run would generate 64 s; max_generated_seconds is 50: 14 s over" in str(
        caught.value
    )
    assert sum(sim.stats.calls.values()) == 0
    assert object_count(bucket) == 0


async def test_max_cost_without_prices_is_refused_before_any_submit(
    sim: Simulator, bucket: S3Destination
) -> None:
    with pytest.raises(BudgetExceeded, match=r"max_cost is 5 but the cost is unknown"):
        await run_storyboard(
            shots("cafe", 2), bucket, credentials_for(sim), options=StoryboardOptions(max_cost=5)
        )
    assert sim.stats.calls["submit"] == 0 and object_count(bucket) == 0


async def test_shots_already_stored_are_not_counted(sim: Simulator, bucket: S3Destination) -> None:
    board = shots("cafe", 3)
    two = board.model_copy(update={"shots": board.shots[:2]})
    quick = StoryboardOptions(final_cut=False, poll_interval=0.05)
    await run_storyboard(two, bucket, credentials_for(sim), quick)
    capped = quick.model_copy(update={"max_generated_seconds": 2})
    result = await run_storyboard(board, bucket, credentials_for(sim), capped)
    assert (result.submitted, result.reused) == (1, 2)
    with pytest.raises(BudgetExceeded, match="would generate 6 s"):
        forced = capped.model_copy(update={"force": True})
        await run_storyboard(board, bucket, credentials_for(sim), forced)


async def create_budget(name: str, seconds: int) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate

    async with get_client() as prefect:
        # A negligible decay: Prefect rate limits need one; here nothing refills during the test.
        await prefect.create_global_concurrency_limit(
            GlobalConcurrencyLimitCreate(name=name, limit=seconds, slot_decay_per_second=1e-6)
        )


async def test_runs_sharing_a_budget_never_pass_it(
    make_simulator: Callable[..., Simulator], bucket: S3Destination
) -> None:
    from prefect.client.orchestration import get_client

    await create_budget("gmi-seconds-shared-test", 10)
    sim = make_simulator()
    options = StoryboardOptions(
        budget_limit="gmi-seconds-shared-test", budget_wait=5.0, final_cut=False,
        poll_interval=0.05,
    )  # fmt: skip
    runs = [
        run_storyboard(shots(title, 3), bucket, credentials_for(sim), options)
        for title in ("morning", "evening")
    ]
    outcomes = await asyncio.gather(*runs, return_exceptions=True)
    assert sim.stats.calls["submit"] == 5  # 5 shots of 2 s: the 10 s budget
    failed = [o for o in outcomes if isinstance(o, BaseException)]
    assert len(failed) == 1 and isinstance(failed[0], StoryboardIncomplete)
    assert "the budget 'gmi-seconds-shared-test' had not 2 s left" in str(failed[0])
    async with get_client() as prefect:
        limit = await prefect.read_global_concurrency_limit_by_name("gmi-seconds-shared-test")
    assert limit.active_slots == 10


async def test_a_missing_budget_limit_refuses_the_run_before_anything_is_claimed(
    sim: Simulator, bucket: S3Destination
) -> None:
    with pytest.raises(LimitUnusable) as caught:
        await run_storyboard(
            shots("cafe", 1),
            bucket,
            credentials_for(sim),
            options=StoryboardOptions(
                budget_limit="no-such-budget", final_cut=False, poll_interval=0.05
            ),
        )
    assert "budget_limit: the global concurrency limit 'no-such-budget' does not exist" in str(
        caught.value
    )
    assert "prefect gcl create no-such-budget --limit 3600 --slot-decay-per-second" in str(
        caught.value
    )
    assert sim.stats.calls["submit"] == 0 and object_count(bucket) == 0


async def test_a_missing_concurrency_limit_refuses_the_run_before_anything_is_claimed(
    sim: Simulator, bucket: S3Destination
) -> None:
    with pytest.raises(LimitUnusable, match="prefect gcl create no-such-quota --limit 4"):
        await run_storyboard(
            shots("cafe", 2),
            bucket,
            credentials_for(sim),
            options=StoryboardOptions(
                concurrency_limit="no-such-quota", final_cut=False, poll_interval=0.05
            ),
        )
    assert sim.stats.calls["submit"] == 0 and object_count(bucket) == 0


async def test_a_budget_without_slot_decay_refuses_the_run(
    sim: Simulator, bucket: S3Destination
) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate

    async with get_client() as prefect:
        await prefect.create_global_concurrency_limit(
            GlobalConcurrencyLimitCreate(name="budget-without-decay", limit=100)
        )
    with pytest.raises(LimitUnusable, match="'budget-without-decay' has no slot decay"):
        await run_storyboard(
            shots("cafe", 1),
            bucket,
            credentials_for(sim),
            options=StoryboardOptions(
                budget_limit="budget-without-decay", final_cut=False, poll_interval=0.05
            ),
        )
    assert sim.stats.calls["submit"] == 0
