"""Scale-out: a real Prefect server, a process work pool, two workers, one GMI quota for all.

Two storyboards are deployed and triggered at once; a global concurrency limit of K slots
stands for the GMI quota. The simulator counts requests in flight: it must never see more
than K, and both storyboards must complete.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from uuid import UUID

import pytest

from prefect_gmicloud import GMICloudCredentials
from prefect_gmicloud.flows.storyboard import run_storyboard
from prefect_gmicloud.simulator import Simulator
from prefect_gmicloud.simulator.boards import synthetic_storyboard
from prefect_gmicloud.storage import S3Destination
from tests.reliability.boards import ledger_entries, read_manifest, unrecorded_paid_ids
from tests.reliability.conftest import ROOT, start_worker

# A real server, two workers and flow runs in subprocesses: minutes on a loaded 2-core machine.
pytestmark = pytest.mark.timeout(420)

QUOTA = 3  # the GMI quota: requests in flight across every worker
SHOTS = 6  # per storyboard; each run alone would take 6 at once
POOL, LIMIT, BLOCK = "gmicloud-test", "gmi-quota-test", "gmicloud-workers-test"
TITLES = ("north", "south")


@pytest.fixture
def workers(prefect_server: dict[str, str], tmp_path: Path) -> Iterator[list[Path]]:
    """Two process workers on the pool; their logs."""
    logs = [tmp_path / f"worker-{n}.log" for n in (1, 2)]
    with contextlib.ExitStack() as stack:
        for number, log in enumerate(logs, 1):
            stack.enter_context(start_worker(prefect_server, POOL, log, f"worker-{number}"))
        yield logs


async def deploy_and_run(sim: Simulator, bucket: S3Destination, titles: Sequence[str]) -> list[str]:
    """Create the pool, the quota and the block once; deploy one storyboard per title (a title
    given twice is deployed twice); run them all at once and wait for their final states."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate, WorkPoolCreate
    from prefect.deployments.flow_runs import arun_deployment
    from prefect.exceptions import ObjectAlreadyExists

    async with get_client() as prefect:
        with contextlib.suppress(ObjectAlreadyExists):
            await prefect.create_work_pool(WorkPoolCreate(name=POOL, type="process"))
            await prefect.create_global_concurrency_limit(
                GlobalConcurrencyLimitCreate(name=LIMIT, limit=QUOTA)
            )
    await GMICloudCredentials(api_key=sim.api_key, base_url=sim.base_url).save(
        BLOCK, overwrite=True
    )
    source = await run_storyboard.afrom_source(
        str(ROOT), "prefect_gmicloud/flows/storyboard.py:run_storyboard"
    )
    runs = []
    for number, title in enumerate(titles):
        parameters = {
            "storyboard": synthetic_storyboard(SHOTS, title).model_dump(mode="json"),
            "storage": bucket.model_dump(mode="json"),
            "credentials": BLOCK,
            "options": {
                "max_concurrency": SHOTS, "concurrency_limit": LIMIT, "final_cut": False,
                "poll_interval": 0.2,
            },
        }  # fmt: skip
        deployment_id: UUID = await source.adeploy(
            name=f"{title}-{number}", work_pool_name=POOL, parameters=parameters,
            print_next_steps=False,
        )  # fmt: skip
        run = await arun_deployment(deployment_id, timeout=0)
        runs.append(run.id)
    async with get_client() as prefect:
        deadline = time.monotonic() + 240
        while True:
            states = [(await prefect.read_flow_run(run_id)).state for run_id in runs]
            if all(state is not None and state.is_final() for state in states):
                return [state.type.value for state in states if state is not None]
            assert time.monotonic() < deadline, f"runs did not finish: {states}"
            await asyncio.sleep(1)


def test_two_workers_share_one_quota_and_both_storyboards_complete(
    prefect_server: dict[str, str],
    workers: list[Path],
    make_simulator: Callable[..., Simulator],
    bucket: S3Destination,
) -> None:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    sim = make_simulator(queue_seconds=0.1, processing_seconds=1.5)
    started = time.monotonic()
    with temporary_settings({PREFECT_API_URL: prefect_server["PREFECT_API_URL"]}):
        states = asyncio.run(deploy_and_run(sim, bucket, TITLES))
    wall = time.monotonic() - started
    manifests = [asyncio.run(read_manifest(bucket, title)) for title in TITLES]
    stored = sum(shot.status == "stored" for m in manifests for shot in m.shots)
    # Which worker takes which run is the scheduler's choice; that each run went through one
    # of the pool's workers is what the deployment guarantees.
    logs = {log.stem: log.read_text() for log in workers}
    ran_on = {title: [name for name, text in logs.items() if title in text] for title in TITLES}

    print(
        f"\nworkers: 2 process workers, quota {QUOTA}, 2 storyboards x {SHOTS} shots; "
        f"states {states}; stored {stored}; simulator peak in flight {sim.stats.peak_active}; "
        f"created {sim.stats.created}; wall {wall:.1f} s; workers seen per run {ran_on}"
    )
    assert states == ["COMPLETED", "COMPLETED"], [log.read_text()[-3000:] for log in workers]
    assert stored == 2 * SHOTS
    assert sim.stats.created == 2 * SHOTS and sim.stats.duplicate_submits == 0
    assert sim.stats.peak_active <= QUOTA
    assert all(ran_on[title] for title in TITLES), ran_on


def test_one_storyboard_started_twice_on_two_workers_is_paid_once(
    prefect_server: dict[str, str],
    workers: list[Path],
    make_simulator: Callable[..., Simulator],
    bucket: S3Destination,
) -> None:
    # The nightly schedule and a UI run of the same board, picked up by two workers at once.
    from prefect.settings import PREFECT_API_URL, temporary_settings

    sim = make_simulator(queue_seconds=0.1, processing_seconds=1.5)
    with temporary_settings({PREFECT_API_URL: prefect_server["PREFECT_API_URL"]}):
        states = asyncio.run(deploy_and_run(sim, bucket, ["twice", "twice"]))
    entries = ledger_entries(bucket, "twice")

    print(
        f"\nsame board on two workers at once: states {states}; created {sim.stats.created} "
        f"for {SHOTS} shots; duplicates {sim.stats.duplicate_submits}; paid ids missing from "
        f"the ledger {len(unrecorded_paid_ids(sim, entries))}"
    )
    assert states == ["COMPLETED", "COMPLETED"], [log.read_text()[-3000:] for log in workers]
    assert sim.stats.created == SHOTS and sim.stats.duplicate_submits == 0
    assert unrecorded_paid_ids(sim, entries) == set()
    assert sorted(e.state for e in entries) == ["stored"] * SHOTS
