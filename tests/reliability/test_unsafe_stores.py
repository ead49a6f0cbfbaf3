"""Stores that ignore conditional writes, with real processes: two CLI runs of one board at once.

Before a store is paid into it is made to prove its conditions; these stores fail the proof,
so both runs are refused before any request (on such a store both used to pay for every shot
and report success). With ``--board-lock`` they pay under a Prefect lock instead: once.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from prefect_gmicloud.ledger.store import Ledger
from prefect_gmicloud.simulator import Simulator
from prefect_gmicloud.simulator.boards import synthetic_storyboard
from prefect_gmicloud.storage import S3Destination, StorageLocation, resolve_storage
from tests.conftest import PrefectPlaces
from tests.processes import Processes
from tests.reliability.boards import SECRET_KEY, storyboard_command, unrecorded_paid_ids
from tests.stores import S3RVER_KEYS, condition_stripping_proxy, s3rver, s3rver_location

pytestmark = pytest.mark.timeout(480)

SHOTS = 6


@dataclass(frozen=True)
class Store:
    """Where the runs store, and how the test reads it back."""

    destination: S3Destination
    location: StorageLocation
    env: dict[str, str]


@pytest.fixture(params=["stripping-proxy", "s3rver"])
def unsafe_store(
    request: pytest.FixtureRequest, s3_endpoint: str, bucket: S3Destination
) -> Iterator[Store]:
    if request.param == "stripping-proxy":
        with condition_stripping_proxy(s3_endpoint) as endpoint:
            stripped = bucket.model_copy(update={"endpoint_url": endpoint})
            yield Store(stripped, resolve_storage(bucket), {})
    else:
        name = f"unsafe-{uuid.uuid4().hex[:8]}"
        with s3rver(name) as endpoint:
            destination = S3Destination(bucket=name, prefix="out", endpoint_url=endpoint)
            yield Store(destination, s3rver_location(endpoint, name), S3RVER_KEYS)


def run_twice_at_once(
    processes: Processes, store: Store, sim: Simulator, tmp_path: Path, *extra: str
) -> tuple[list[int], list[str]]:
    from prefect.settings import PREFECT_API_URL

    board = tmp_path / "board.yaml"
    data = synthetic_storyboard(SHOTS, "twice").model_dump(mode="json", exclude_defaults=True)
    board.write_text(yaml.safe_dump(data))
    env = {
        **os.environ, **store.env,
        "GMI_TEST_KEY": SECRET_KEY,
        "PREFECT_API_URL": str(PREFECT_API_URL.value()),
        "PREFECT_GMICLOUD_JOURNAL": str(tmp_path / "journal.jsonl"),
    }  # fmt: skip
    command = storyboard_command(board, store.destination, sim, "--max-concurrency", "2", *extra)
    runs = [
        processes.start(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=300)[0] for run in runs]
    return [run.returncode for run in runs], outputs


@pytest.mark.usefixtures("prefect_api")
def test_two_runs_on_a_store_that_ignores_conditions_are_refused_before_paying(
    make_simulator: Callable[..., Simulator],
    unsafe_store: Store,
    tmp_path: Path,
    processes: Processes,
) -> None:
    sim = make_simulator(api_key=SECRET_KEY, processing_seconds=2.0)
    exits, outputs = run_twice_at_once(processes, unsafe_store, sim, tmp_path)
    print(f"\nunsafe store, two runs: exits {exits}, requests created {sim.stats.created}")
    assert exits == [1, 1], outputs
    for output in outputs:
        assert "does not honour conditional writes" in output, output
        assert "--board-lock" in output, output
    # Reading GET /models is free; what must not happen is a submit.
    assert sim.stats.created == 0 and sim.stats.calls["submit"] == 0, sim.stats.calls


def test_with_the_board_lock_two_runs_pay_once(
    make_simulator: Callable[..., Simulator],
    unsafe_store: Store,
    tmp_path: Path,
    prefect_api: PrefectPlaces,
    processes: Processes,
) -> None:
    sim = make_simulator(api_key=SECRET_KEY, processing_seconds=2.0)
    exits, outputs = run_twice_at_once(processes, unsafe_store, sim, tmp_path, "--board-lock")
    location = unsafe_store.location
    entries = asyncio.run(Ledger(location, location.key("twice", "ledger")).entries())
    print(
        f"\nunsafe store, board lock, two runs: exits {exits}, requests created "
        f"{sim.stats.created} for {SHOTS} shots, duplicates {sim.stats.duplicate_submits}"
    )
    assert exits == [0, 0], outputs
    assert sim.stats.created == SHOTS and sim.stats.duplicate_submits == 0
    assert unrecorded_paid_ids(sim, entries) == set()
    assert sorted(entry.state for entry in entries) == ["stored"] * SHOTS
    assert any("paying under the board lock" in output for output in outputs)
