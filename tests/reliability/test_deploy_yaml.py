"""deployments/prefect.yaml as a user runs it: `prefect deploy`, then a worker with no checkout.

A real ``prefect server start``; the work pool and global concurrency limit the README's
commands create; ``prefect deploy --prefect-file deployments/prefect.yaml --all`` run from a
directory that is not the repository; a process worker started in another such directory; and
both deployments run with their storage and storyboard overridden to point at moto and short
shots (the ``gmicloud`` block, the deployments' default, points at the simulator). Both runs
must complete: the module entrypoint resolves from the installed package, and there is no pull
step needing a variable or a checkout.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from prefect_gmicloud import GMICloudCredentials
from prefect_gmicloud.simulator import Simulator
from prefect_gmicloud.simulator.boards import synthetic_storyboard
from prefect_gmicloud.storage import S3Destination
from tests.processes import start_in_group, stop_group
from tests.reliability.boards import read_manifest
from tests.reliability.conftest import prefect_command

ROOT = Path(__file__).resolve().parents[2]
PREFECT_FILE = ROOT / "deployments" / "prefect.yaml"
SPEC: dict[str, Any] = yaml.safe_load(PREFECT_FILE.read_text(encoding="utf-8"))
POOL = SPEC["definitions"]["work_pool"]["name"]
BLOCK = SPEC["definitions"]["storyboard_parameters"]["credentials"]
LIMIT = SPEC["definitions"]["storyboard_parameters"]["options"]["concurrency_limit"]
FLOW = "gmicloud-storyboard"
SHOTS = 2


def prefect(env: dict[str, str], cwd: Path, *args: str) -> str:
    """Run a ``prefect`` command as a user would; its output, or a failure showing it."""
    done = subprocess.run(
        prefect_command(*args), env=env, cwd=cwd, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, f"prefect {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


async def create_pool_and_limit() -> None:
    """What the README's `prefect work-pool create` and `prefect gcl create` make."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate, WorkPoolCreate

    async with get_client() as client:
        await client.create_work_pool(WorkPoolCreate(name=POOL, type="process"))
        await client.create_global_concurrency_limit(
            GlobalConcurrencyLimitCreate(name=LIMIT, limit=4)
        )


@pytest.fixture
def worker(prefect_server: dict[str, str], tmp_path: Path) -> Iterator[Path]:
    """The pool and limit, and a process worker on the pool started in an empty directory.

    Yields the worker's log. The worker boots while the test deploys.
    """
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: prefect_server["PREFECT_API_URL"]}):
        asyncio.run(create_pool_and_limit())
    home = tmp_path / "worker"
    home.mkdir()
    log = tmp_path / "worker.log"
    with log.open("w") as out:
        process = start_in_group(
            prefect_command("worker", "start", "--pool", POOL, "--type", "process"),
            env=prefect_server, cwd=home, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        yield log
    finally:
        stop_group(process)


async def run_both(bucket: S3Destination) -> dict[str, str]:
    """Run each deployment with its storage and storyboard overridden; their final states."""
    from prefect.client.orchestration import get_client
    from prefect.deployments.flow_runs import arun_deployment

    runs = {}
    for deployment in SPEC["deployments"]:
        name = deployment["name"]
        parameters = {
            "storyboard": synthetic_storyboard(SHOTS, name).model_dump(mode="json"),
            "storage": bucket.model_dump(mode="json"),
            # Replaces the deployment's options object: the run keeps the ones it leaves out.
            "options": {"final_cut": False, "poll_interval": 0.2},
        }
        run = await arun_deployment(f"{FLOW}/{name}", parameters=parameters, timeout=0)
        runs[name] = run.id
    async with get_client() as client:
        deadline = time.monotonic() + 150
        while True:
            states = {name: (await client.read_flow_run(i)).state for name, i in runs.items()}
            if all(state is not None and state.is_final() for state in states.values()):
                await _kept_the_deployments_options(client, list(runs.values()))
                return {name: state.type.value for name, state in states.items() if state}
            assert time.monotonic() < deadline, f"runs did not finish: {states}"
            await asyncio.sleep(1)


async def _kept_the_deployments_options(client: Any, run_ids: list[Any]) -> None:
    """Each run, given options of its own, kept the deployment's quota and concurrency."""
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

    logs = await client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=run_ids)))
    said = [log.message for log in logs if "keep the deployment's values" in log.message]
    assert len(said) == len(run_ids), said
    assert all(m.endswith("concurrency_limit, max_concurrency") for m in said), said


@pytest.mark.timeout(300)
def test_prefect_yaml_deploys_and_both_deployments_run_on_a_worker_without_checkout(
    prefect_server: dict[str, str],
    worker: Path,
    tmp_path: Path,
    make_simulator: Callable[..., Simulator],
    bucket: S3Destination,
) -> None:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    sim = make_simulator(queue_seconds=0.1, processing_seconds=0.5)
    elsewhere = tmp_path / "deployer"
    elsewhere.mkdir()
    started = time.monotonic()
    deployed = prefect(
        prefect_server, elsewhere,
        "--no-prompt", "deploy", "--prefect-file", str(PREFECT_FILE), "--all",
    )  # fmt: skip
    deploy_seconds = time.monotonic() - started
    with temporary_settings({PREFECT_API_URL: prefect_server["PREFECT_API_URL"]}):
        GMICloudCredentials(api_key=sim.api_key, base_url=sim.base_url).save(BLOCK)
        states = asyncio.run(run_both(bucket))
    wall = time.monotonic() - started
    manifests = [asyncio.run(read_manifest(bucket, name)) for name in states]
    stored = sum(shot.status == "stored" for m in manifests for shot in m.shots)

    print(
        f"\ndeploy yaml: states {states}; stored {stored}; prefect deploy {deploy_seconds:.1f} s;"
        f" deploy + both runs {wall:.1f} s"
    )
    assert all(f"{FLOW}/{d['name']}" in deployed for d in SPEC["deployments"]), deployed
    assert set(states.values()) == {"COMPLETED"}, worker.read_text()[-4000:]
    assert stored == len(SPEC["deployments"]) * SHOTS
    assert sim.stats.duplicate_submits == 0
