"""Scale-out: a real Prefect server, a process work pool, two workers, one GMI quota for all.

Two storyboards are deployed and triggered at once; a global concurrency limit of K slots
stands for the GMI quota. The simulator counts requests in flight: it must never see more
than K, and both storyboards must complete.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from uuid import UUID

import pytest

from prefect_gmicloud import GMICloudCredentials
from prefect_gmicloud.flows.storyboard import run_storyboard
from prefect_gmicloud.simulator import Simulator
from prefect_gmicloud.simulator.boards import synthetic_storyboard
from prefect_gmicloud.storage import S3Destination
from tests.reliability.boards import read_manifest
from tests.reliability.conftest import prefect_command

ROOT = Path(__file__).resolve().parents[2]
QUOTA = 3  # the GMI quota: requests in flight across every worker
SHOTS = 6  # per storyboard; each run alone would take 6 at once
POOL, LIMIT, BLOCK = "gmicloud-test", "gmi-quota-test", "gmicloud-workers-test"


@pytest.fixture
def workers(prefect_server: dict[str, str], tmp_path: Path) -> Iterator[list[Path]]:
    """Two process workers on the pool; their logs."""
    logs = [tmp_path / f"worker-{n}.log" for n in (1, 2)]
    started = []
    for number, log in enumerate(logs, 1):
        with log.open("w") as out:
            started.append(
                subprocess.Popen(
                    prefect_command(
                        "worker",
                        "start",
                        "--pool",
                        POOL,
                        "--type",
                        "process",
                        "--name",
                        f"worker-{number}",
                        "--limit",
                        "1",
                    ),
                    env=prefect_server,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    cwd=ROOT,
                )
            )
    yield logs
    for worker in started:
        worker.terminate()
    for worker in started:
        worker.wait(timeout=30)


async def deploy_and_run(env: dict[str, str], sim: Simulator, bucket: S3Destination) -> list[str]:
    """Create the pool, the quota and the block; deploy two storyboards; run both at once."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate, WorkPoolCreate
    from prefect.deployments.flow_runs import arun_deployment

    async with get_client() as prefect:
        await prefect.create_work_pool(WorkPoolCreate(name=POOL, type="process"))
        await prefect.create_global_concurrency_limit(
            GlobalConcurrencyLimitCreate(name=LIMIT, limit=QUOTA)
        )
    await GMICloudCredentials(api_key=sim.api_key, base_url=sim.base_url).save(BLOCK)
    source = await run_storyboard.afrom_source(
        str(ROOT), "prefect_gmicloud/flows/storyboard.py:run_storyboard"
    )
    runs = []
    for title in ("north", "south"):
        parameters = {
            "storyboard": synthetic_storyboard(SHOTS, title).model_dump(mode="json"),
            "storage": bucket.model_dump(mode="json"),
            "credentials": BLOCK,
            "max_concurrency": SHOTS,
            "concurrency_limit": LIMIT,
            "final_cut": False,
            "poll_interval": 0.2,
        }
        deployment_id: UUID = await source.adeploy(
            name=title, work_pool_name=POOL, parameters=parameters, print_next_steps=False
        )
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
        states = asyncio.run(deploy_and_run(prefect_server, sim, bucket))
    wall = time.monotonic() - started
    manifests = [asyncio.run(read_manifest(bucket, title)) for title in ("north", "south")]
    stored = sum(shot.status == "stored" for m in manifests for shot in m.shots)
    ran_on = {
        log.stem: sum(text in log.read_text() for text in ("north", "south")) for log in workers
    }

    print(
        f"\nworkers: 2 process workers, quota {QUOTA}, 2 storyboards x {SHOTS} shots; "
        f"states {states}; stored {stored}; simulator peak in flight {sim.stats.peak_active}; "
        f"created {sim.stats.created}; wall {wall:.1f} s; runs seen per worker {ran_on}"
    )
    assert states == ["COMPLETED", "COMPLETED"], [log.read_text()[-3000:] for log in workers]
    assert stored == 2 * SHOTS
    assert sim.stats.created == 2 * SHOTS and sim.stats.duplicate_submits == 0
    assert sim.stats.peak_active <= QUOTA
