"""A storyboard process killed (SIGKILL) mid-generation, then run again: nothing is paid twice."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import yaml

from prefect_gmicloud.simulator import Simulator
from prefect_gmicloud.simulator.boards import synthetic_storyboard
from prefect_gmicloud.storage import S3Destination
from tests.conftest import PrefectPlaces
from tests.processes import Processes
from tests.reliability.boards import (
    SECRET_KEY,
    ledger_entries,
    read_manifest,
    sha256_of,
    storyboard_command,
    unrecorded_paid_ids,
)

SHOTS = 12


def recorded_request_ids(bucket: S3Destination, title: str) -> int:
    """How many shots the ledger in S3 holds a request id for."""
    return sum(1 for entry in ledger_entries(bucket, title) if entry.request_id)


def test_a_killed_run_resumes_its_requests_instead_of_paying_again(
    make_simulator: Callable[..., Simulator],
    bucket: S3Destination,
    prefect_api: PrefectPlaces,
    tmp_path: Path,
    processes: Processes,
) -> None:
    from prefect.settings import PREFECT_API_URL

    # Long enough processing that every request is still generating when the process dies.
    sim = make_simulator(api_key=SECRET_KEY, queue_seconds=0.1, processing_seconds=15.0)
    board_file = tmp_path / "board.yaml"
    board = synthetic_storyboard(SHOTS, "crash")
    board_file.write_text(yaml.safe_dump(board.model_dump(mode="json", exclude_defaults=True)))
    env = {
        **os.environ,
        "GMI_TEST_KEY": SECRET_KEY,
        "PREFECT_API_URL": PREFECT_API_URL.value(),
        # The killed run's claims expire this soon after its last heartbeat.
        "PREFECT_GMICLOUD_LEASE_SECONDS": "6",
    }
    command = storyboard_command(board_file, bucket, sim, "--max-concurrency", str(SHOTS))

    first = processes.start(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while recorded_request_ids(bucket, "crash") < SHOTS:
        assert first.poll() is None, first.communicate()[0].decode()
        assert time.monotonic() < deadline, "the first run never recorded every request"
        time.sleep(0.2)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    created_before = sim.stats.created
    now = sim.state.clock()
    unfinished = sum(r.status(now) in ("queued", "processing") for r in sim.state.requests.values())

    second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    manifest = asyncio.run(read_manifest(bucket, "crash"))

    print(
        f"\ncrash-resume: {SHOTS} shots; SIGKILL with {created_before} requests created, "
        f"{unfinished} still generating; after the second run: created {sim.stats.created}, "
        f"duplicates {sim.stats.duplicate_submits}, stored "
        f"{sum(s.status == 'stored' for s in manifest.shots)}, paid ids missing from the ledger "
        f"{len(unrecorded_paid_ids(sim, ledger_entries(bucket, 'crash')))}"
    )
    assert second.returncode == 0, second.stdout + second.stderr
    assert unfinished == SHOTS
    assert sim.stats.created == created_before == SHOTS  # resumed, not paid again
    assert sim.stats.duplicate_submits == 0
    assert unrecorded_paid_ids(sim, ledger_entries(bucket, "crash")) == set()
    for shot in manifest.shots:
        assert shot.status == "stored" and shot.video is not None, shot
        served = sha256_of(sim.served_file(shot.request_id or "", "video.mp4"))
        assert shot.video.sha256 == served
