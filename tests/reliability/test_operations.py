"""Faults that operations bring, with real processes: overlapping runs, SIGTERM, outages.

Each test runs the real CLI (``prefect-gmicloud storyboard run``) as a subprocess against the
session's Prefect API, the simulator and moto, does to it what an operator's week does, then
runs a recovery run and checks: no payload submitted twice, and every request the simulator
created is in the ledger.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import yaml

from prefect_gmicloud.simulator import Simulator
from prefect_gmicloud.simulator.boards import synthetic_storyboard
from prefect_gmicloud.storage import S3Destination
from tests.conftest import PrefectPlaces
from tests.processes import Processes
from tests.reliability.boards import (
    SECRET_KEY,
    ledger_entries,
    storyboard_command,
    unrecorded_paid_ids,
)
from tests.reliability.proxy import SwitchableProxy

# Subprocess runs, 90 s outages and a recovery run each.
pytestmark = pytest.mark.timeout(480)

SHOTS = 6
#: How long a server is taken away: longer than every retry budget on the way.
OUTAGE_SECONDS = 90.0


@dataclass
class Board:
    """A storyboard file and the environment its CLI runs in."""

    title: str
    file: Path
    env: dict[str, str]
    journal: Path

    def command(self, bucket: S3Destination, sim: Simulator, *extra: str) -> list[str]:
        return storyboard_command(self.file, bucket, sim, "--max-concurrency", "2", *extra)


@pytest.fixture
def board(tmp_path: Path, prefect_api: PrefectPlaces, request: pytest.FixtureRequest) -> Board:
    from prefect.settings import PREFECT_API_URL

    title = request.node.name.split("[")[0].removeprefix("test_")[:40].replace("_", "-")
    title += "-" + request.node.name.partition("[")[2].rstrip("]").replace("_", "-")
    title = title.strip("-")
    file = tmp_path / "board.yaml"
    data = synthetic_storyboard(SHOTS, title).model_dump(mode="json", exclude_defaults=True)
    file.write_text(yaml.safe_dump(data))
    journal = tmp_path / "journal.jsonl"
    env = {
        **os.environ,
        "GMI_TEST_KEY": SECRET_KEY,
        "PREFECT_API_URL": str(PREFECT_API_URL.value()),
        "PREFECT_GMICLOUD_LEASE_SECONDS": "6",
        "PREFECT_GMICLOUD_JOURNAL": str(journal),
    }
    return Board(title, file, env, journal)


def start(processes: Processes, command: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    """A CLI run in the background; the test's teardown stops its process group."""
    return processes.start(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def wait_until(condition: Callable[[], bool], process: subprocess.Popen[str], what: str) -> None:
    deadline = time.monotonic() + 120
    while not condition():
        if process.poll() is not None:
            raise AssertionError(f"the run ended before {what}:\n{process.communicate()[0]}")
        assert time.monotonic() < deadline, f"never {what}"
        time.sleep(0.05)


def recover(
    board: Board, bucket: S3Destination, sim: Simulator
) -> subprocess.CompletedProcess[str]:
    """The operator's recovery: the same command once more; it must store every shot."""
    done = subprocess.run(
        board.command(bucket, sim), env=board.env, capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def check_exactly_once(board: Board, bucket: S3Destination, sim: Simulator) -> None:
    entries = ledger_entries(bucket, board.title)
    assert sim.stats.duplicate_submits == 0
    assert unrecorded_paid_ids(sim, entries) == set()
    assert sorted(e.state for e in entries) == ["stored"] * SHOTS
    assert sim.stats.created == SHOTS


def test_two_runs_of_one_board_at_once_pay_once(
    make_simulator: Callable[..., Simulator],
    bucket: S3Destination,
    board: Board,
    processes: Processes,
) -> None:
    sim = make_simulator(api_key=SECRET_KEY, processing_seconds=3.0)
    command = board.command(bucket, sim)

    runs = [start(processes, command, board.env), start(processes, command, board.env)]
    outputs = [run.communicate(timeout=240)[0] for run in runs]

    print(
        f"\ntwo runs at once: exits {[r.returncode for r in runs]}, requests created "
        f"{sim.stats.created} for {SHOTS} shots, duplicates {sim.stats.duplicate_submits}"
    )
    assert [r.returncode for r in runs] == [0, 0], outputs
    check_exactly_once(board, bucket, sim)


@pytest.mark.parametrize("instant", ["mid-submit", "between-submits", "all-waiting"])
def test_sigterm_while_submitting_records_every_paid_id(
    make_simulator: Callable[..., Simulator],
    bucket: S3Destination,
    board: Board,
    instant: str,
    processes: Processes,
) -> None:
    sim = make_simulator(
        api_key=SECRET_KEY, queue_seconds=0.1, processing_seconds=4.0, slow_response_seconds=2.0
    )
    extra = ("--max-concurrency", str(SHOTS)) if instant == "all-waiting" else ()
    if instant == "mid-submit":
        # The first submit creates its request, then its answer takes 2 s to arrive.
        sim.state.inject("submit", "slow_after_create")
    created_at_signal = {"mid-submit": 1, "between-submits": 3, "all-waiting": SHOTS}[instant]
    run = start(processes, board.command(bucket, sim, *extra), board.env)
    wait_until(lambda: sim.stats.created >= created_at_signal, run, f"{instant}")

    run.send_signal(signal.SIGTERM)
    signalled = time.monotonic()
    output = run.communicate(timeout=60)[0]
    stopped_in = time.monotonic() - signalled
    created = sim.stats.created
    unrecorded = unrecorded_paid_ids(sim, ledger_entries(bucket, board.title))
    recover(board, bucket, sim)

    print(
        f"\nSIGTERM {instant}: exit {run.returncode} in {stopped_in:.1f}s with {created} "
        f"request(s) created, {len(unrecorded)} unrecorded; after recovery: created "
        f"{sim.stats.created}, duplicates {sim.stats.duplicate_submits}"
    )
    assert run.returncode != 0 and stopped_in < 30, output
    assert "requests left running" in output and "To collect them" in output, output
    assert "Traceback" not in output, output
    assert unrecorded == set(), output
    check_exactly_once(board, bucket, sim)


def test_sigterm_outside_paying_stops_in_one_line_and_the_same_command_finishes(
    make_simulator: Callable[..., Simulator],
    bucket: S3Destination,
    board: Board,
    processes: Processes,
) -> None:
    # Paused for review, every shot stored: Prefect's own SIGTERM handler is the one in place
    # (the paying stage installs the run's), as it is while the final cut is made.
    sim = make_simulator(api_key=SECRET_KEY, queue_seconds=0.1, processing_seconds=0.5)
    run = start(processes, board.command(bucket, sim, "--review"), board.env)
    api = board.env["PREFECT_API_URL"]
    paused = {"flow_runs": {"state": {"type": {"any_": ["PAUSED"]}}}}
    wait_until(
        lambda: bool(httpx.post(f"{api}/flow_runs/filter", json=paused, timeout=10).json()),
        run,
        "paused for review",
    )
    run.send_signal(signal.SIGTERM)
    output = run.communicate(timeout=60)[0]
    created = sim.stats.created
    again = recover(board, bucket, sim)

    print(f"\nSIGTERM in a review's pause: exit {run.returncode}; then {again.stdout[-160:]}")
    assert run.returncode == 128 + signal.SIGTERM, output
    assert "stopped by SIGTERM while no request was being paid for" in output, output
    assert "To finish (nothing is paid twice)" in output and "Traceback" not in output, output
    assert created == SHOTS and sim.stats.created == SHOTS  # the recovery paid nothing
    check_exactly_once(board, bucket, sim)


def test_an_s3_outage_while_submitting_loses_no_paid_id(
    make_simulator: Callable[..., Simulator],
    s3_endpoint: str,
    bucket: S3Destination,
    board: Board,
    processes: Processes,
) -> None:
    sim = make_simulator(
        api_key=SECRET_KEY, queue_seconds=0.1, processing_seconds=3.0, slow_response_seconds=2.0
    )
    # The second submit is answered 2 s after its request exists (the first goes alone: the
    # run's first submit of a model does): the storage goes away in between, so that paid id
    # cannot be recorded until it comes back.
    sim.state.inject("submit", "none", "slow_after_create")
    target = urlsplit(s3_endpoint)
    with SwitchableProxy(str(target.hostname), int(target.port or 80)) as proxy:
        through_proxy = bucket.model_copy(update={"endpoint_url": proxy.url})
        run = start(processes, board.command(through_proxy, sim), board.env)
        wait_until(lambda: sim.stats.created >= 2, run, "two requests were created")
        proxy.down()
        down_at = time.monotonic()
        journalled = 0
        while time.monotonic() - down_at < OUTAGE_SECONDS:
            if board.journal.exists():
                journalled = max(journalled, len(board.journal.read_text().splitlines()))
            time.sleep(0.5)
        created_during = sim.stats.created
        proxy.up()
        output = run.communicate(timeout=240)[0]
        recover(board, bucket, sim)

    print(
        f"\nS3 down {OUTAGE_SECONDS:.0f}s: {created_during} request(s) created by then, "
        f"{journalled} journalled; first run exit {run.returncode}; after recovery: created "
        f"{sim.stats.created}, duplicates {sim.stats.duplicate_submits}"
    )
    assert "Traceback" not in output, output
    assert journalled >= 1, output
    assert created_during == 2, "submits went on while a paid id could not be recorded"
    assert board.journal.read_text() == ""  # written into the ledger once S3 was back
    check_exactly_once(board, bucket, sim)


def test_a_prefect_api_outage_mid_run_loses_no_paid_id(
    make_simulator: Callable[..., Simulator],
    bucket: S3Destination,
    board: Board,
    processes: Processes,
) -> None:
    sim = make_simulator(api_key=SECRET_KEY, queue_seconds=0.1, processing_seconds=3.0)
    api = urlsplit(board.env["PREFECT_API_URL"])
    with SwitchableProxy(str(api.hostname), int(api.port or 80)) as proxy:
        env = {**board.env, "PREFECT_API_URL": f"{proxy.url}{api.path}"}
        run = start(processes, board.command(bucket, sim), env)
        wait_until(lambda: sim.stats.created >= 2, run, "two requests were created")
        proxy.down()
        time.sleep(OUTAGE_SECONDS)
        created_during = sim.stats.created
        proxy.up()
        output = run.communicate(timeout=240)[0]
    recover(board, bucket, sim)

    print(
        f"\nPrefect API down {OUTAGE_SECONDS:.0f}s: {created_during} request(s) created by "
        f"then; first run exit {run.returncode}; after recovery: created {sim.stats.created}, "
        f"duplicates {sim.stats.duplicate_submits}\n  first run's last words: "
        f"{output.strip().splitlines()[-1] if output.strip() else ''}"
    )
    check_exactly_once(board, bucket, sim)
